//! The session cookie's configuration: one [`SessionCookie`] used to issue
//! the cookie at sign-in and to clear it at logout.

use std::time::Duration;

use http::HeaderValue;

use crate::error::ConfigError;
use crate::store::SessionId;

/// The `SameSite` attribute of the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
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
/// The defaults are the secure ones: `Path=/`, no `Domain` (host-only),
/// `Secure`, `HttpOnly`, `SameSite=Lax`, a lifetime of 24 hours (the session
/// in the store expires with it), and a name chosen from those attributes
/// unless you set one (see below).
///
/// # Choosing the name
///
/// Tunnels of different tenants often share a parent domain, and a sibling
/// host can set a cookie of the same name for that parent domain ("cookie
/// tossing"); the browser then sends both. A `__Host-` cookie can only be set
/// by the host itself, over HTTPS, with `Path=/` and no `Domain`, so no
/// sibling can plant one.
///
/// So unless [`new`](SessionCookie::new) or [`name`](SessionCookie::name)
/// sets a name, the name follows the other attributes, when the cookie is
/// issued and when it is read:
///
/// | attributes | name |
/// | --- | --- |
/// | `Secure`, `Path=/`, no `Domain` (the defaults) | `__Host-rstream_session` |
/// | `Secure` with a `Domain` or another path | `__Secure-rstream_session` |
/// | not `Secure` (plain-HTTP local development) | `rstream_session` |
///
/// An explicit name is used as given; the configuration enforces the
/// prefixes' rules for such names (`__Host-`: `Secure`, `Path=/`, no
/// `Domain`; `__Secure-`: `Secure`).
///
/// # Choosing the path
///
/// The cookie must reach both well-known endpoints, so its path must cover
/// `/.well-known/rstream/` (RFC 6265 path matching): `/` (the default, which
/// also lets the application's own handlers see it), `/.well-known`,
/// `/.well-known/`, `/.well-known/rstream` or `/.well-known/rstream/`. Any
/// other path would hide the cookie from the session endpoint and from
/// logout, and is refused.
///
/// ```
/// use std::time::Duration;
/// use rstream_well_known::{MemoryStore, SameSite, SessionCookie, Tunnel, WellKnownLayer};
///
/// assert_eq!(SessionCookie::default().cookie_name(), "__Host-rstream_session");
/// assert_eq!(SessionCookie::default().secure(false).cookie_name(), "rstream_session");
///
/// // Checked when the layer is built: a `__Host-` cookie with a domain, or
/// // a path that hides it from the well-known endpoints, is refused.
/// let with = |cookie: SessionCookie| {
///     WellKnownLayer::builder()
///         .tunnel(Tunnel::from_origin("https://app.example.com").unwrap())
///         .with_session_store(MemoryStore::new())
///         .session_cookie(cookie)
///         .build()
/// };
/// let cookie = SessionCookie::new("__Host-app-session")
///     .same_site(SameSite::Strict)
///     .max_age(Duration::from_secs(8 * 3600));
/// assert!(with(cookie.clone()).is_ok());
/// assert!(with(cookie.domain("example.com")).is_err());
/// assert!(with(SessionCookie::default().path("/app")).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCookie {
    /// `None`: derived from the other attributes.
    name: Option<String>,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    max_age: Duration,
}

/// The base of the name derived from the attributes.
const DEFAULT_NAME: &str = "rstream_session";

/// The paths that reach the well-known endpoints.
const ENDPOINT_PATHS: [&str; 2] = [
    "/.well-known/rstream/session",
    "/.well-known/rstream/logout",
];

impl Default for SessionCookie {
    /// The secure defaults, with the name derived from the attributes
    /// (`__Host-rstream_session` as long as they stay the defaults).
    fn default() -> Self {
        Self {
            name: None,
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

impl SessionCookie {
    /// The secure defaults with the given cookie name, used as given.
    pub fn new(name: impl Into<String>) -> Self {
        Self::default().name(name)
    }

    /// Sets the cookie name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
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

    /// The cookie name: the one set, or the one derived from the attributes
    /// (see [Choosing the name](SessionCookie#choosing-the-name)).
    pub fn cookie_name(&self) -> &str {
        match &self.name {
            Some(name) => name,
            None if !self.secure => DEFAULT_NAME,
            None if self.path == "/" && self.domain.is_none() => "__Host-rstream_session",
            None => "__Secure-rstream_session",
        }
    }

    /// The session lifetime.
    pub(crate) fn lifetime(&self) -> Duration {
        self.max_age
    }

    /// Whether the cookie is `Secure`.
    pub(crate) fn is_secure(&self) -> bool {
        self.secure
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSessionCookie`] when the name is not a cookie
    /// token, the path does not start with `/` or holds `;` or controls, or
    /// does not cover `/.well-known/rstream/`, the domain is not a host name, the max age is under a second, `SameSite=None`
    /// lacks `Secure`, a `__Secure-` name lacks `Secure`, or a `__Host-` name
    /// lacks `Secure`, has a `Domain`, or a path other than `/`.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = ConfigError::InvalidSessionCookie;
        let name = self.cookie_name();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
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
        if !ENDPOINT_PATHS
            .iter()
            .all(|endpoint| path_matches(&self.path, endpoint))
        {
            return Err(bad(
                "the path must cover /.well-known/rstream/ (for example '/'), or the endpoints never see the cookie",
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
        if name.starts_with("__Secure-") && !self.secure {
            return Err(bad("a __Secure- cookie requires Secure"));
        }
        if name.starts_with("__Host-")
            && (!self.secure || self.domain.is_some() || self.path != "/")
        {
            return Err(bad(
                "a __Host- cookie requires Secure, Path=/ and no Domain",
            ));
        }
        Ok(())
    }

    fn build<'c>(&'c self, value: &'c str) -> cookie::CookieBuilder<'c> {
        let mut builder = cookie::Cookie::build((self.cookie_name(), value))
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
    /// Returns `None` only for a configuration that the layer refuses at build.
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
    /// Returns `None` only for a configuration that the layer refuses at build.
    pub(crate) fn removal(&self) -> Option<HeaderValue> {
        self.validate().ok()?;
        let cookie = self
            .build("")
            .max_age(cookie::time::Duration::ZERO)
            .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
            .build();
        HeaderValue::try_from(cookie.to_string()).ok()
    }
}

/// RFC 6265, section 5.1.4: whether a cookie with `cookie_path` is sent with
/// a request for `request_path`.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    match request_path.strip_prefix(cookie_path) {
        Some(rest) => rest.is_empty() || cookie_path.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_mirrors_issue_attributes() {
        let c = SessionCookie::new("sid")
            .domain("example.com")
            .path("/.well-known")
            .same_site(SameSite::Strict);
        let id = SessionId::new("v").unwrap();
        let issued = c.issue(&id).unwrap();
        let removed = c.removal().unwrap();
        let issued = issued.to_str().unwrap();
        let removed = removed.to_str().unwrap();
        for attr in [
            "Path=/.well-known",
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
    fn the_path_must_reach_both_endpoints() {
        for good in [
            "/",
            "/.well-known",
            "/.well-known/",
            "/.well-known/rstream",
            "/.well-known/rstream/",
        ] {
            let cookie = SessionCookie::new("s").path(good);
            assert!(cookie.validate().is_ok(), "{good}");
        }
        for bad in [
            "/app",
            "/.well",
            "/.well-known/rs",
            "/.well-known/rstream/session",
            "/.well-known/rstream/logout",
            "/.well-known/rstreamx",
            "/.WELL-KNOWN/",
        ] {
            let cookie = SessionCookie::new("s").path(bad);
            assert!(
                matches!(cookie.validate(), Err(ConfigError::InvalidSessionCookie(_))),
                "{bad}"
            );
            assert!(cookie.issue(&SessionId::new("v").unwrap()).is_none());
        }
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
        // A derived name follows the attributes, so it always validates.
        assert!(
            SessionCookie::default()
                .path("/.well-known/")
                .validate()
                .is_ok()
        );
        assert_eq!(
            SessionCookie::default().domain("example.com").cookie_name(),
            "__Secure-rstream_session"
        );
        assert!(
            SessionCookie::new("s")
                .max_age(Duration::from_millis(10))
                .validate()
                .is_err()
        );
    }
}
