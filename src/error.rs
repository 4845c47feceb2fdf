//! Configuration errors.

use std::fmt;

/// Why a [`WellKnownLayer`](crate::WellKnownLayer), [`Tunnel`](crate::Tunnel)
/// or [`SessionCookie`](crate::SessionCookie) configuration was refused.
///
/// Configuration is checked once, when it is built, so that serving requests
/// never fails on it. A configuration that could never work (a setting that
/// no request could ever use, a cookie no browser would keep) is refused
/// too, rather than failing silently later. Each message says what is wrong,
/// why, and what to change; values it names are configuration (hosts,
/// origins, paths, policy names), never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The layer has no tunnel and no tunnel resolver: it would never answer.
    NoTunnels,
    /// Two tunnels were configured for the same host and port (given).
    DuplicateTunnel(String),
    /// A tunnel host (given) is not a plain `host[:port]` authority.
    InvalidTunnelHost(String),
    /// A tunnel origin (given) is not an `http` or `https` origin
    /// (`scheme://host[:port]`, nothing after it).
    InvalidTunnelOrigin(String),
    /// An origin given to
    /// [`WellKnownBuilder::websocket_origin`](crate::WellKnownBuilder::websocket_origin)
    /// (given) is not an origin as browsers send it (`scheme://host[:port]`,
    /// nothing after it; `null` is none).
    InvalidWebSocketOrigin(String),
    /// The session cookie configuration is inconsistent; the text says which
    /// rule it breaks.
    InvalidSessionCookie(&'static str),
    /// A policy name is refused.
    InvalidPolicy {
        /// The name, as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A path prefix given to [`Paths`](crate::Paths) breaks its rules; the
    /// prefix is given.
    InvalidPathPrefix(String),
    /// The sign-in URL (given) is not a path on the tunnel's origin (`/…`,
    /// no `//` or `\` at its start, printable ASCII).
    InvalidSignInUrl(String),
    /// The name of the sign-in URL's return parameter (given) is not a
    /// plain token of letters, digits, `-`, `_` and `.`.
    InvalidReturnParameter(String),
    /// The sign-in URL's path (given) requires authentication itself: every
    /// browser sent there would be sent there again.
    SignInRequiresAuthentication(String),
    /// A sign-in page is set
    /// ([`sign_in_url`](crate::WellKnownBuilder::sign_in_url) or
    /// `OidcConfig::layer`) but no session store: browsers are sent to sign in
    /// only when rstream Auth is on, and a sign-in needs a store to keep the
    /// session in.
    SignInWithoutStore,
    /// A sign-in page is set but no path
    /// [requires authentication](crate::WellKnownBuilder::require_authentication):
    /// no browser would ever be sent there.
    SignInWithoutEnforcement,
    /// [`require_authentication`](crate::WellKnownBuilder::require_authentication)
    /// or [`identity`](crate::WellKnownBuilder::identity) (named) is set, but
    /// the layer has neither a token verifier nor a session store: no request
    /// could ever be authenticated.
    NoAuthentication(&'static str),
    /// The session cookie was derived from the tunnels (not set with
    /// [`session_cookie`](crate::WellKnownBuilder::session_cookie)), and the
    /// configured tunnels mix plain `http` (one origin given) and `https`
    /// (another given): a `Secure` cookie is dropped by browsers on the
    /// first, a cookie without `Secure` weakens the second.
    MixedTunnelSchemes {
        /// A tunnel served over plain HTTP.
        http: String,
        /// A tunnel served over HTTPS.
        https: String,
    },
    /// The session cookie set with
    /// [`session_cookie`](crate::WellKnownBuilder::session_cookie) is
    /// `Secure`, and a tunnel (origin given) is plain `http` on a host that is
    /// not loopback: browsers drop `Secure` cookies there, so sign-in would
    /// fail silently.
    SecureCookieOnPlainHttp(String),
    /// The idle timeout is zero: every session would end at once.
    InvalidIdleTimeout,
    /// The backend timeout is zero: every backend call that does not answer
    /// at once would fail.
    InvalidBackendTimeout,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoTunnels => f.write_str(
                "no tunnel and no tunnel resolver configured, so the layer would never answer: add one with WellKnownBuilder::tunnel, development_tunnel or tunnel_resolver",
            ),
            ConfigError::DuplicateTunnel(host) => write!(
                f,
                "two tunnels are configured for host {host:?} on the same port: a request could not tell which one it is for; configure each host and port once"
            ),
            ConfigError::InvalidTunnelHost(host) => write!(
                f,
                "invalid tunnel host {host:?}: it must be a host name or IP literal with an optional port (no scheme, path or trailing dot)"
            ),
            ConfigError::InvalidTunnelOrigin(origin) => write!(
                f,
                "invalid tunnel origin {origin:?}: it must be http://host[:port] or https://host[:port] with nothing after it"
            ),
            ConfigError::InvalidWebSocketOrigin(origin) => write!(
                f,
                "invalid WebSocket origin {origin:?}: it must be scheme://host[:port] with nothing after it, as browsers send it in Origin"
            ),
            ConfigError::InvalidSessionCookie(rule) => {
                write!(f, "invalid session cookie configuration: {rule}")
            }
            ConfigError::InvalidPolicy { name, reason } => {
                write!(f, "invalid policy name {name:?}: {reason}")
            }
            ConfigError::InvalidPathPrefix(prefix) => write!(
                f,
                "invalid path prefix {prefix:?}: '/' then up to 8 segments of 1 to 32 letters, digits or -._~!$&'()*+,=@, none ending with '.'"
            ),
            ConfigError::InvalidSignInUrl(url) => write!(
                f,
                "invalid sign-in URL {url:?}: it must be a path on the tunnel origin ('/…', printable ASCII, not starting with '//' or '/\\'), so that the redirect cannot leave the tunnel"
            ),
            ConfigError::InvalidReturnParameter(name) => write!(
                f,
                "invalid sign-in return parameter {name:?}: it must be a non-empty name of letters, digits, '-', '_' or '.'"
            ),
            ConfigError::SignInRequiresAuthentication(path) => write!(
                f,
                "the sign-in URL's path {path:?} requires authentication itself, so every browser sent there would be sent there again: leave it out of require_authentication (Paths::except_prefix)"
            ),
            ConfigError::SignInWithoutStore => f.write_str(
                "a sign-in page is set but no session store: browsers are sent to sign in only when rstream Auth is on, and a sign-in keeps its session in the store; add with_session_store",
            ),
            ConfigError::SignInWithoutEnforcement => f.write_str(
                "a sign-in page is set but no path requires authentication, so no browser would ever be sent there: add require_authentication",
            ),
            ConfigError::NoAuthentication(setting) => write!(
                f,
                "{setting} is set but the layer has neither a token verifier nor a session store, so no request could ever be authenticated: add with_token_verifier or with_session_store"
            ),
            ConfigError::MixedTunnelSchemes { http, https } => write!(
                f,
                "tunnel {http} is plain http and tunnel {https} is https: browsers drop a Secure session cookie on the first, and a cookie without Secure weakens the second; serve both over https, or choose the cookie with WellKnownBuilder::session_cookie"
            ),
            ConfigError::SecureCookieOnPlainHttp(origin) => write!(
                f,
                "the session cookie is Secure but tunnel {origin} is plain http on a host that is not loopback: browsers drop Secure cookies there, so sign-in would fail silently; serve the tunnel over https, or set SessionCookie::secure(false)"
            ),
            ConfigError::InvalidIdleTimeout => f.write_str(
                "the idle timeout is zero, so every session would end at once: give it a positive duration",
            ),
            ConfigError::InvalidBackendTimeout => f.write_str(
                "the backend timeout is zero, so every backend call that does not answer at once would fail: give it a positive duration",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// An error's text and its sources', joined with `: `, for errors that keep
/// a transport's cause as text (a fetch of a discovery document or a key
/// set).
#[cfg(any(feature = "oidc", feature = "jwks"))]
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
