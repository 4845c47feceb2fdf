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
    /// The session cookie configuration is inconsistent; the text says which
    /// rule it breaks.
    InvalidSessionCookie(&'static str),
    /// A policy name is empty, not a plain token, or repeats one already listed.
    InvalidPolicy,
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
            ConfigError::InvalidSessionCookie(rule) => {
                write!(f, "invalid session cookie configuration: {rule}")
            }
            ConfigError::InvalidPolicy => f.write_str(
                "policy names must be non-empty tokens of letters, digits, '-', '_' or '.', listed once",
            ),
            ConfigError::InvalidIdleTimeout => f.write_str("the idle timeout must not be zero"),
            ConfigError::InvalidBackendTimeout => {
                f.write_str("the backend timeout must not be zero")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
