//! Bearer tokens: the [`TokenVerifier`] trait and the built-in
//! [`StaticTokenVerifier`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;

use http::Method;
use subtle::{Choice, ConstantTimeEq};

use crate::identity::User;
use crate::tunnel::Tunnel;

/// Where a request's token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Header,
    /// The `rstream.token` query parameter. Such tokens are visible in URLs
    /// (history, logs, `Referer`); a verifier may refuse them for tokens that
    /// should only ever travel in the header.
    Query,
}

/// What a verifier sees besides the token: a token can be valid and still be
/// refused for a request whose tunnel, method or path its scope does not cover.
#[derive(Clone, Copy, Debug)]
pub struct TokenContext<'a> {
    pub(crate) tunnel: &'a Tunnel,
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) source: TokenSource,
}

impl<'a> TokenContext<'a> {
    /// The tunnel the request is for.
    pub fn tunnel(&self) -> &'a Tunnel {
        self.tunnel
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request path, as sent (percent-encoding kept).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// Whether the token came from the header or the query parameter.
    pub fn source(&self) -> TokenSource {
        self.source
    }
}

/// A verifier's answer for a well-formed token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenVerdict {
    /// The token is valid for this request and belongs to this user.
    Accepted(User),
    /// The token is unknown, expired, or out of scope for this request.
    Refused,
}

/// Decides whether a bearer token authenticates a request.
///
/// Implement it for your token scheme (JWT validation, a lookup of hashed
/// personal access tokens, a call to an identity provider) and plug it in with
/// [`WellKnownBuilder::with_token_verifier`](crate::WellKnownBuilder::with_token_verifier).
///
/// The method is an `async fn` in spirit, returning a `Send` future so the
/// layer works on multi-threaded runtimes without boxing per call. An `Err`
/// means the verifier could not decide (a backend was down): the layer treats
/// it as "not authenticated by token", falls back to the session cookie when
/// sessions are enabled, and logs the error's `Display` text, so that text
/// must never contain the token.
///
/// ```
/// use rstream_well_known::{TokenContext, TokenSource, TokenVerdict, TokenVerifier, User};
///
/// /// Accepts one token, and only from the Authorization header.
/// struct HeaderOnly(String);
///
/// impl TokenVerifier for HeaderOnly {
///     type Error = std::convert::Infallible;
///
///     async fn verify(&self, token: &str, cx: TokenContext<'_>) -> Result<TokenVerdict, Self::Error> {
///         Ok(if cx.source() == TokenSource::Header && token == self.0 {
///             TokenVerdict::Accepted(User::new("robot"))
///         } else {
///             TokenVerdict::Refused
///         })
///     }
/// }
/// ```
pub trait TokenVerifier: Send + Sync + 'static {
    /// Why verification could not be completed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Verifies `token` for the request described by `cx`.
    fn verify(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> impl Future<Output = Result<TokenVerdict, Self::Error>> + Send;
}

/// A fixed set of tokens, each mapped to a user: the embedded default for
/// development, tests and small deployments.
///
/// Tokens are compared in constant time (with `subtle`) against every
/// configured token, so response timing does not reveal how much of a guess
/// was right; only the length of the configured tokens can be inferred.
///
/// ```
/// use rstream_well_known::{StaticTokenVerifier, User};
///
/// let verifier = StaticTokenVerifier::new()
///     .with_token("ci-token-0b7d", User::new("ci-bot").with_name("CI"));
/// assert_eq!(verifier.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct StaticTokenVerifier {
    tokens: Vec<(Box<[u8]>, User)>,
}

impl StaticTokenVerifier {
    /// A verifier that accepts no token yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as `user`. A token added twice keeps the last user.
    #[must_use]
    pub fn with_token(mut self, token: impl AsRef<[u8]>, user: User) -> Self {
        let token = token.as_ref();
        self.tokens.retain(|(known, _)| &**known != token);
        self.tokens.push((token.into(), user));
        self
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn find(&self, token: &[u8]) -> Option<&User> {
        let mut found = None;
        for (known, user) in &self.tokens {
            // No early exit: every configured token is compared.
            if bool::from(constant_time_eq(known, token)) {
                found = Some(user);
            }
        }
        found
    }
}

/// Compares two byte strings in time that depends on their lengths only:
/// the differences are folded eight bytes at a time into one word with no
/// branch on the data, and only that word is tested, in constant time.
fn constant_time_eq(a: &[u8], b: &[u8]) -> Choice {
    if a.len() != b.len() {
        return Choice::from(0);
    }
    let word = |chunk: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(bytes)
    };
    let mut difference = 0u64;
    for (x, y) in a.chunks(8).zip(b.chunks(8)) {
        difference |= word(x) ^ word(y);
    }
    difference.ct_eq(&0)
}

impl fmt::Debug for StaticTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenVerifier")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl TokenVerifier for StaticTokenVerifier {
    type Error = Infallible;

    async fn verify(&self, token: &str, _cx: TokenContext<'_>) -> Result<TokenVerdict, Infallible> {
        Ok(match self.find(token.as_bytes()) {
            Some(user) => TokenVerdict::Accepted(user.clone()),
            None => TokenVerdict::Refused,
        })
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        #[test]
        fn the_word_comparison_is_equality(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
        ) {
            proptest::prop_assert_eq!(bool::from(super::constant_time_eq(&a, &b)), a == b);
            proptest::prop_assert!(bool::from(super::constant_time_eq(&a, &a)));
        }
    }
}
