//! Bearer tokens: the [`TokenVerifier`] trait, what a verifier sees, and
//! the built-in verifiers, one file each.

use std::future::Future;

use http::Method;

use crate::identity::User;
use crate::tunnel::Tunnel;

mod boxed;
mod chain;
#[cfg(feature = "jwt")]
pub mod jwt;
mod static_tokens;

pub use boxed::BoxTokenVerifier;
pub use chain::{TokenVerifierChain, TokenVerifierChainError};
pub use static_tokens::StaticTokenVerifier;

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
