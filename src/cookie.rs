//! The session cookie: one configuration used to issue it at sign-in and to
//! clear it at logout, and the [`SessionManager`] that sign-in code calls.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::HeaderValue;
use http::header::COOKIE;

use crate::error::ConfigError;
use crate::identity::User;
use crate::store::{SessionId, SessionStore, is_valid_id};
use crate::syntax::trim_ows;

/// The `SameSite` attribute of the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level cross-site navigations (the
    /// default: sign-in links from other sites keep working).
    #[default]
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

/// How the session cookie is named and scoped.
///
/// The defaults are the secure ones: name `rstream_session`, `Path=/`, no
/// `Domain` (host-only), `Secure`, `HttpOnly`, `SameSite=Lax`, and a lifetime
/// of 24 hours (the session in the store expires with it).
///
/// # Choosing the name
///
/// Prefer the `__Host-` prefix (for example `__Host-rstream-session`) whenever
/// the tunnel is served over HTTPS. Tunnels of different tenants often share
/// a parent domain, and a sibling host can set a cookie of the same name for
/// that parent domain ("cookie tossing"); the browser then sends both. A
/// `__Host-` cookie can only be set by the host itself, over HTTPS, with
/// `Path=/` and no `Domain`, so no sibling can plant one. The configuration
/// enforces those rules for such names (and `Secure` for `__Secure-` names).
/// Plain-HTTP local development (`http://localhost`) cannot use the prefix.
///
/// ```
/// use std::time::Duration;
/// use rstream_well_known::{SameSite, SessionCookie};
///
/// let cookie = SessionCookie::new("__Host-rstream-session")
///     .same_site(SameSite::Strict)
///     .max_age(Duration::from_secs(8 * 3600));
/// assert!(cookie.validate().is_ok());
/// assert!(cookie.clone().domain("example.com").validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCookie {
    name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    max_age: Duration,
}

impl Default for SessionCookie {
    fn default() -> Self {
        Self::new("rstream_session")
    }
}

impl SessionCookie {
    /// The secure defaults with the given cookie name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            max_age: Duration::from_secs(24 * 3600),
        }
    }

    /// Sets the cookie name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the `Path` attribute (default `/`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets the `Domain` attribute (default: none, a host-only cookie).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the `Secure` attribute (default `true`). Only turn it off for
    /// plain-HTTP local development.
    #[must_use]
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets the `HttpOnly` attribute (default `true`).
    #[must_use]
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets the `SameSite` attribute (default `Lax`).
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets how long the cookie, and the session behind it, live (default 24
    /// hours). Whole seconds count; it must be at least one second.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The cookie name.
    pub fn cookie_name(&self) -> &str {
        &self.name
    }

    /// The session lifetime.
    pub fn lifetime(&self) -> Duration {
        self.max_age
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSessionCookie`] when the name is not a cookie
    /// token, the path does not start with `/` or holds `;` or controls, the
    /// domain is not a host name, the max age is under a second, `SameSite=None`
    /// lacks `Secure`, a `__Secure-` name lacks `Secure`, or a `__Host-` name
    /// lacks `Secure`, has a `Domain`, or a path other than `/`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = ConfigError::InvalidSessionCookie;
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return Err(bad("the name must be a non-empty HTTP token"));
        }
        if !self.path.starts_with('/')
            || !self
                .path
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b';')
        {
            return Err(bad(
                "the path must start with '/' and hold no ';' or control bytes",
            ));
        }
        if let Some(domain) = &self.domain {
            let domain = domain.strip_prefix('.').unwrap_or(domain);
            if domain.is_empty()
                || !domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
            {
                return Err(bad("the domain must be a host name"));
            }
        }
        if self.max_age.as_secs() == 0 {
            return Err(bad("the max age must be at least one second"));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(bad("SameSite=None requires Secure"));
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err(bad("a __Secure- cookie requires Secure"));
        }
        if self.name.starts_with("__Host-")
            && (!self.secure || self.domain.is_some() || self.path != "/")
        {
            return Err(bad(
                "a __Host- cookie requires Secure, Path=/ and no Domain",
            ));
        }
        Ok(())
    }

    fn build<'c>(&'c self, value: &'c str) -> cookie::CookieBuilder<'c> {
        let mut builder = cookie::Cookie::build((self.name.as_str(), value))
            .path(self.path.as_str())
            .secure(self.secure)
            .http_only(self.http_only)
            .same_site(match self.same_site {
                SameSite::Strict => cookie::SameSite::Strict,
                SameSite::Lax => cookie::SameSite::Lax,
                SameSite::None => cookie::SameSite::None,
            });
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.as_str());
        }
        builder
    }

    /// The `Set-Cookie` value that issues `id`, marked sensitive (its `Debug`
    /// output hides it, and HTTP/2 never compresses it into a shared table).
    ///
    /// Returns `None` only for a configuration that [`validate`](Self::validate)
    /// refuses.
    pub fn issue(&self, id: &SessionId) -> Option<HeaderValue> {
        self.validate().ok()?;
        let secs = i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        let cookie = self
            .build(id.expose())
            .max_age(cookie::time::Duration::seconds(secs))
            .build();
        let mut value = HeaderValue::try_from(cookie.to_string()).ok()?;
        // It carries the session id: keep it out of `Debug` output and out of
        // HTTP/2 header compression tables.
        value.set_sensitive(true);
        Some(value)
    }

    /// The `Set-Cookie` value that removes the cookie: same name, path,
    /// domain, `Secure`, `HttpOnly` and `SameSite` as issued, an empty value,
    /// `Max-Age=0` and an `Expires` in the past.
    ///
    /// Returns `None` only for a configuration that [`validate`](Self::validate)
    /// refuses.
    pub fn removal(&self) -> Option<HeaderValue> {
        self.validate().ok()?;
        let cookie = self
            .build("")
            .max_age(cookie::time::Duration::ZERO)
            .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
            .build();
        HeaderValue::try_from(cookie.to_string()).ok()
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// At most this many distinct values of the session cookie are looked up in
/// the store for one request; more than that is treated as an attack and
/// authenticates nobody.
pub(crate) const MAX_COOKIE_CANDIDATES: usize = 4;

/// The values of the session cookie in a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CookieValues {
    /// Distinct, well-formed values, in the order sent (at most
    /// [`MAX_COOKIE_CANDIDATES`]). Empty when the cookie is absent or none of
    /// its values could be a session id.
    Candidates(Vec<SessionId>),
    /// More distinct values than [`MAX_COOKIE_CANDIDATES`].
    TooMany,
}

/// Reads every `Cookie` field (HTTP/2 sends one per cookie) and collects the
/// values of the cookie called `name`.
///
/// Parsing works on bytes, so a non-UTF-8 cookie elsewhere in the header does
/// not hide the session cookie. Values that cannot be session ids (empty,
/// too long, bytes outside RFC 6265 `cookie-octet`) are skipped; a value in
/// double quotes is unquoted.
pub(crate) fn session_cookie_values(headers: &HeaderMap, name: &str) -> CookieValues {
    let mut found: Vec<SessionId> = Vec::new();
    for field in headers.get_all(COOKIE) {
        for pair in field.as_bytes().split(|&b| b == b';') {
            let pair = trim_ows(pair);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if trim_ows(&pair[..eq]) != name.as_bytes() {
                continue;
            }
            let mut value = trim_ows(&pair[eq + 1..]);
            if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                value = &value[1..value.len() - 1];
            }
            if !is_valid_id(value) {
                continue;
            }
            // `is_valid_id` admits ASCII only, so this cannot fail.
            let Some(id) = std::str::from_utf8(value).ok().and_then(SessionId::new) else {
                continue;
            };
            if !found.contains(&id) {
                if found.len() == MAX_COOKIE_CANDIDATES {
                    return CookieValues::TooMany;
                }
                found.push(id);
            }
        }
    }
    CookieValues::Candidates(found)
}

/// Signs users in: creates a session in the store and issues the session
/// cookie with the layer's [`SessionCookie`] configuration, the same one
/// logout uses to clear it.
///
/// Get one from [`WellKnownLayer::session_manager`](crate::WellKnownLayer::session_manager)
/// and call it from your sign-in handler once the user proved who they are.
/// Every sign-in gets a fresh id from the store; an id presented by the client
/// is never reused, so a session cannot be fixed by an attacker.
///
/// ```
/// use rstream_well_known::{MemoryStore, SessionCookie, Tunnel, User, WellKnownLayer};
///
/// # futures::executor::block_on(async {
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
///     .with_session_store(MemoryStore::new())
///     .build()?;
/// let sessions = layer.session_manager().expect("sessions are enabled");
/// let signed_in = sessions.sign_in(User::new("ada")).await?;
/// let set_cookie = signed_in.set_cookie().to_str()?;
/// assert!(set_cookie.starts_with("rstream_session="));
/// assert!(set_cookie.contains("HttpOnly"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct SessionManager<St> {
    store: Arc<St>,
    cookie: Arc<CookieHeaders>,
}

/// The validated cookie configuration and its precomputed removal header.
#[derive(Debug)]
pub(crate) struct CookieHeaders {
    pub(crate) config: SessionCookie,
    pub(crate) removal: HeaderValue,
}

impl CookieHeaders {
    pub(crate) fn new(config: SessionCookie) -> Result<Self, ConfigError> {
        config.validate()?;
        let removal = config.removal().ok_or(ConfigError::InvalidSessionCookie(
            "the cookie does not form a valid header",
        ))?;
        Ok(Self { config, removal })
    }
}

impl<St> Clone for SessionManager<St> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            cookie: Arc::clone(&self.cookie),
        }
    }
}

impl<St> fmt::Debug for SessionManager<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("cookie", &self.cookie.config)
            .finish_non_exhaustive()
    }
}

/// A completed sign-in: the new session's id and the `Set-Cookie` header
/// value to send with the response.
#[derive(Debug, Clone)]
pub struct SignedIn {
    id: SessionId,
    set_cookie: HeaderValue,
}

impl SignedIn {
    /// The new session's id.
    pub fn session_id(&self) -> &SessionId {
        &self.id
    }

    /// The `Set-Cookie` value that issues the session cookie.
    pub fn set_cookie(&self) -> &HeaderValue {
        &self.set_cookie
    }

    /// Takes the `Set-Cookie` value.
    pub fn into_set_cookie(self) -> HeaderValue {
        self.set_cookie
    }
}

/// Why a sign-in failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignInError<E> {
    /// The store could not create the session.
    Store(E),
    /// The store returned an id that a cookie cannot carry.
    InvalidSessionId,
}

impl<E: fmt::Display> fmt::Display for SignInError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignInError::Store(e) => write!(f, "the session store failed: {e}"),
            SignInError::InvalidSessionId => {
                f.write_str("the session store returned an id a cookie cannot carry")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SignInError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignInError::Store(e) => Some(e),
            SignInError::InvalidSessionId => None,
        }
    }
}

impl<St: SessionStore> SessionManager<St> {
    pub(crate) fn new(store: St, cookie: CookieHeaders) -> Self {
        Self {
            store: Arc::new(store),
            cookie: Arc::new(cookie),
        }
    }

    /// Creates a fresh session for `user` (lasting the cookie's max age) and
    /// returns the cookie that carries it.
    ///
    /// # Errors
    ///
    /// [`SignInError::Store`] when the store fails; no cookie is issued then.
    pub async fn sign_in(&self, user: User) -> Result<SignedIn, SignInError<St::Error>> {
        let id = self
            .store
            .create(user, self.cookie.config.lifetime())
            .await
            .map_err(SignInError::Store)?;
        let set_cookie = self
            .cookie
            .config
            .issue(&id)
            .ok_or(SignInError::InvalidSessionId)?;
        Ok(SignedIn { id, set_cookie })
    }

    /// The `Set-Cookie` value that removes the session cookie, for
    /// applications that end sessions themselves (after revoking the session
    /// in the store).
    pub fn removal_cookie(&self) -> HeaderValue {
        self.cookie.removal.clone()
    }

    /// The cookie configuration.
    pub fn cookie(&self) -> &SessionCookie {
        &self.cookie.config
    }

    /// The session store.
    pub fn store(&self) -> &St {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for field in fields {
            map.append(COOKIE, HeaderValue::from_bytes(field).unwrap());
        }
        map
    }

    fn ids(values: &[&str]) -> CookieValues {
        CookieValues::Candidates(values.iter().map(|v| SessionId::new(v).unwrap()).collect())
    }

    #[test]
    fn finds_the_cookie_across_fields_and_pairs() {
        let h = headers(&[
            b"a=1; rstream_session=abc",
            b"other=\xff\xfe",
            b"rstream_session=abc",
        ]);
        assert_eq!(session_cookie_values(&h, "rstream_session"), ids(&["abc"]));
        let h = headers(&[b"x=1;rstream_session=\"q\";y", b"rstream_session=r"]);
        assert_eq!(
            session_cookie_values(&h, "rstream_session"),
            ids(&["q", "r"])
        );
    }

    #[test]
    fn skips_values_that_cannot_be_ids_and_caps_candidates() {
        let h = headers(&[b"rstream_session=; rstream_session=a b; rstream_session=\xc3\xa9"]);
        assert_eq!(session_cookie_values(&h, "rstream_session"), ids(&[]));
        let h = headers(&[b"s=1; s=2; s=3; s=4; s=5"]);
        assert_eq!(session_cookie_values(&h, "s"), CookieValues::TooMany);
        let h = headers(&[b"s=1; s=2; s=3; s=4; s=4"]);
        assert_eq!(session_cookie_values(&h, "s"), ids(&["1", "2", "3", "4"]));
    }

    #[test]
    fn removal_mirrors_issue_attributes() {
        let c = SessionCookie::new("sid")
            .domain("example.com")
            .path("/app")
            .same_site(SameSite::Strict);
        let id = SessionId::new("v").unwrap();
        let issued = c.issue(&id).unwrap();
        let removed = c.removal().unwrap();
        let issued = issued.to_str().unwrap();
        let removed = removed.to_str().unwrap();
        for attr in [
            "Path=/app",
            "Domain=example.com",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
        ] {
            assert!(issued.contains(attr), "{issued}");
            assert!(removed.contains(attr), "{removed}");
        }
        assert!(removed.starts_with("sid=;"), "{removed}");
        assert!(removed.contains("Max-Age=0"));
        assert!(removed.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"));
        assert!(issued.contains("Max-Age=86400"));
    }

    #[test]
    fn issued_cookies_are_sensitive() {
        let id = SessionId::new("secret-session-id").unwrap();
        let issued = SessionCookie::default().issue(&id).unwrap();
        assert!(issued.is_sensitive());
        assert!(!format!("{issued:?}").contains("secret-session-id"));
    }

    #[test]
    fn prefixed_names_are_enforced() {
        assert!(SessionCookie::new("__Host-s").validate().is_ok());
        assert!(
            SessionCookie::new("__Host-s")
                .secure(false)
                .validate()
                .is_err()
        );
        assert!(
            SessionCookie::new("__Host-s")
                .path("/a")
                .validate()
                .is_err()
        );
        assert!(
            SessionCookie::new("__Secure-s")
                .secure(false)
                .validate()
                .is_err()
        );
        assert!(
            SessionCookie::new("s")
                .same_site(SameSite::None)
                .secure(false)
                .validate()
                .is_err()
        );
        assert!(SessionCookie::new("a b").validate().is_err());
        assert!(
            SessionCookie::new("s")
                .max_age(Duration::from_millis(10))
                .validate()
                .is_err()
        );
    }
}
