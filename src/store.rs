//! Browser sessions: the [`SessionStore`] trait and [`SessionId`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::identity::User;

/// The longest session id the layer accepts from a cookie, in bytes.
pub(crate) const MAX_SESSION_ID_LEN: usize = 256;

/// A session id: the secret value of the session cookie.
///
/// Ids are cookie-safe ASCII (RFC 6265 `cookie-octet`s), 1 to 256 bytes long.
/// `Debug` never prints the value, so ids can sit in structures that get
/// logged; [`SessionId::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(Box<str>);

impl SessionId {
    /// A fresh id: 256 bits from the operating system's CSPRNG, as 64
    /// lower-case hex digits. Stores should mint ids with this.
    ///
    /// # Errors
    ///
    /// When the operating system's random source fails; a session must not be
    /// created with a weaker id.
    pub fn generate() -> Result<Self, std::io::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        let mut hex = String::with_capacity(64);
        for byte in bytes {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Ok(Self(hex.into_boxed_str()))
    }

    /// Wraps an id of a store's own format.
    ///
    /// Returns `None` when `value` is empty, longer than 256 bytes, or holds
    /// a byte a cookie value cannot carry (space, `"`, `,`, `;`, `\`,
    /// controls, non-ASCII).
    pub fn new(value: &str) -> Option<Self> {
        is_valid_id(value.as_bytes()).then(|| Self(value.into()))
    }

    /// The id itself. It is a secret: do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// RFC 6265 `cookie-octet`s, 1 to [`MAX_SESSION_ID_LEN`] of them.
pub(crate) fn is_valid_id(value: &[u8]) -> bool {
    (1..=MAX_SESSION_ID_LEN).contains(&value.len())
        && value
            .iter()
            .all(|&b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// Where browser sessions live: created at sign-in, loaded on every
/// well-known request that carries the session cookie, revoked at logout.
///
/// Implementations must:
///
/// - mint ids with at least 128 bits from a CSPRNG ([`SessionId::generate`]
///   does) and never reuse or accept an id chosen by a client;
/// - not return a session from [`load`](SessionStore::load) once it expired;
/// - make [`revoke`](SessionStore::revoke) final and idempotent: a revoked id
///   never loads again, and revoking an unknown id succeeds.
///
/// Errors mean "the store could not answer". The layer never turns them into
/// a 500 and never lets them authenticate anyone; it logs their `Display`
/// text, which must not contain the session id.
///
/// The in-memory [`MemoryStore`](crate::MemoryStore) is the embedded default;
/// every store can run the crate's shared store test-suite.
pub trait SessionStore: Send + Sync + 'static {
    /// Why the store could not answer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Creates a session for `user` that expires after `ttl`, and returns its
    /// fresh id.
    fn create(
        &self,
        user: User,
        ttl: Duration,
    ) -> impl Future<Output = Result<SessionId, Self::Error>> + Send;

    /// The user of a live session, or `None` when the id is unknown, expired
    /// or revoked.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<User>, Self::Error>> + Send;

    /// Ends a session for good. Revoking an unknown id is not an error.
    fn revoke(&self, id: &SessionId) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_long_hex_and_distinct() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "SessionId(..)");
    }

    #[test]
    fn ids_must_be_cookie_safe() {
        for bad in [
            "",
            "a b",
            "a;b",
            "a,b",
            "a\"b",
            "a\\b",
            "é",
            &"x".repeat(257),
        ] {
            assert!(SessionId::new(bad).is_none(), "{bad:?}");
        }
        assert!(SessionId::new("abc-DEF_123.~!").is_some());
    }
}
