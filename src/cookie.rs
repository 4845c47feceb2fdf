//! The session cookie's configuration: one [`SessionCookie`] used to issue
//! the cookie at sign-in and to clear it at logout.

use std::time::Duration;

use http::HeaderValue;

use crate::error::ConfigError;
use crate::store::SessionId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
