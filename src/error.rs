//! Configuration errors.

use std::fmt;

/// Why a [`WellKnownLayer`](crate::WellKnownLayer), [`Tunnel`](crate::Tunnel)
/// or [`SessionCookie`](crate::SessionCookie) configuration was refused.
///
/// Configuration is checked once, when it is built, so that serving requests
/// never fails on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The layer has no tunnel and no tunnel resolver: it would never answer.
    NoTunnels,
    /// Two tunnels were configured for the same host and port.
    DuplicateTunnel,
    /// A tunnel host is not a plain `host[:port]` authority.
    InvalidTunnelHost,
    /// A tunnel origin is not an `http` or `https` origin
    /// (`scheme://host[:port]`, nothing after it).
    InvalidTunnelOrigin,
    /// An origin given to
    /// [`WellKnownBuilder::websocket_origin`](crate::WellKnownBuilder::websocket_origin)
    /// is not an origin as browsers send it (`scheme://host[:port]`, nothing
    /// after it; `null` is none).
    InvalidWebSocketOrigin,
    /// The session cookie configuration is inconsistent; the text says which
    /// rule it breaks.
    InvalidSessionCookie(&'static str),
    /// A policy name is empty, not a plain token, or repeats one already listed.
    InvalidPolicy,
    /// A path prefix given to [`Paths`](crate::Paths) breaks its rules; the
    /// prefix is given.
    InvalidPathPrefix(String),
    /// The sign-in URL is not a path on the tunnel's origin (`/…`, no `//`
    /// or `\` at its start, printable ASCII), or the return parameter's
    /// name is not a plain token.
    InvalidSignInUrl,
    /// The sign-in URL's path requires authentication itself: every browser
    /// sent there would be sent there again.
    SignInRequiresAuthentication,
    /// Development tunnels (plain `http` on loopback names) were mixed with
    /// tunnels served over `https` while the session cookie is the
    /// development default (not `Secure`): set the cookie explicitly.
    DevelopmentTunnelMixed,
    /// The idle timeout is zero: every session would end at once.
    InvalidIdleTimeout,
    /// The backend timeout is zero: every backend call that does not answer
    /// at once would fail.
    InvalidBackendTimeout,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoTunnels => f.write_str("no tunnel and no tunnel resolver configured"),
            ConfigError::DuplicateTunnel => {
                f.write_str("two tunnels are configured for the same host and port")
            }
            ConfigError::InvalidTunnelHost => {
                f.write_str("tunnel host must be a host name or IP literal with an optional port")
            }
            ConfigError::InvalidTunnelOrigin => {
                f.write_str("tunnel origin must be http(s)://host[:port] with nothing after it")
            }
            ConfigError::InvalidWebSocketOrigin => {
                f.write_str("a WebSocket origin must be scheme://host[:port] with nothing after it")
            }
            ConfigError::InvalidSessionCookie(rule) => {
                write!(f, "invalid session cookie configuration: {rule}")
            }
            ConfigError::InvalidPolicy => f.write_str(
                "policy names must be non-empty tokens of letters, digits, '-', '_' or '.', listed once",
            ),
            ConfigError::InvalidPathPrefix(prefix) => write!(
                f,
                "invalid path prefix {prefix:?}: '/' then up to 8 segments of 1 to 32 letters, digits or -._~!$&'()*+,=@, none ending with '.'"
            ),
            ConfigError::InvalidSignInUrl => f.write_str(
                "the sign-in URL must be a path on the tunnel origin ('/…', printable ASCII, not '//' or '/\\'), the return parameter a plain name",
            ),
            ConfigError::SignInRequiresAuthentication => {
                f.write_str("the sign-in URL's path requires authentication itself")
            }
            ConfigError::DevelopmentTunnelMixed => f.write_str(
                "development tunnels mixed with https tunnels: set the session cookie explicitly",
            ),
            ConfigError::InvalidIdleTimeout => f.write_str("the idle timeout must not be zero"),
            ConfigError::InvalidBackendTimeout => {
                f.write_str("the backend timeout must not be zero")
            }
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
