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
#[non_exhaustive]
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
    /// Describes a request to a verifier: its tunnel, method and path (as
    /// sent, percent-encoding kept, without the query) and where its token
    /// came from.
    ///
    /// The layer builds one for every token it verifies; this constructor
    /// is for calling a verifier yourself (a chain of verifiers, a test of
    /// your own verifier, a handler that checks a token for another
    /// request). To resolve a whole request the way the layer does, use
    /// [`WellKnownLayer::resolve`](crate::WellKnownLayer::resolve) instead.
    ///
    /// ```
    /// use http::Method;
    /// use rstream_well_known::{StaticTokenVerifier, TokenContext, TokenSource, TokenVerdict, TokenVerifier, Tunnel, User};
    ///
    /// # futures::executor::block_on(async {
    /// let tunnel = Tunnel::new("app.example.com", "ws", "proj")?;
    /// let verifier = StaticTokenVerifier::new().with_token("s3cret", User::new("ci"));
    /// let cx = TokenContext::new(&tunnel, &Method::GET, "/api/builds", TokenSource::Header);
    /// let verdict = verifier.verify("s3cret", cx).await?;
    /// assert_eq!(verdict, TokenVerdict::Accepted(User::new("ci")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new(tunnel: &'a Tunnel, method: &'a Method, path: &'a str, source: TokenSource) -> Self {
        Self {
            tunnel,
            method,
            path,
            source,
        }
    }

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
///
/// | verdict | session endpoint | a request that requires authentication |
/// | --- | --- | --- |
/// | `Accepted` | `token-auth` | forwarded |
/// | `Refused` | the cookie is tried | `401`, `WWW-Authenticate: Bearer error="invalid_token"` |
/// | `OutOfScope` | the cookie is tried | `403`, `WWW-Authenticate: Bearer error="insufficient_scope"` |
///
/// In both refusals the session cookie is tried next (the spec's fallback),
/// so a browser signed in through rstream Auth is not locked out by a stale
/// token in a link; the answers above are for requests the cookie does not
/// authenticate either.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenVerdict {
    /// The token is valid for this request and belongs to this user.
    Accepted(User),
    /// The token is invalid: unknown, expired, revoked, badly signed. A
    /// client should get a new token.
    Refused,
    /// The token is valid, but its scope does not cover this request's
    /// tunnel, project, method or path (RFC 6750's `insufficient_scope`). A
    /// client should not retry with the same token, nor throw it away.
    OutOfScope,
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

    /// [`verify`](TokenVerifier::verify)'s answer when the verifier has it
    /// at once (a table lookup, a signature check with keys in memory),
    /// without a future; `None` (the default) when it must be awaited.
    ///
    /// When every backend a request needs answers here, the layer answers the
    /// session endpoint without allocating or boxing a future. It must give
    /// the same answer as `verify`, and it must not block on I/O. When the
    /// verifier answers here but the store must then be awaited, the layer
    /// starts over with the futures, so one request may be verified twice:
    /// verification must not count or consume anything.
    ///
    /// What it buys, measured with `cargo bench --bench instructions --
    /// session` (instructions per request over a service sending the
    /// precomputed answer): a token caller costs about +1,450 when the
    /// verifier answers here and +2,790 when the same verifier is awaited,
    /// because the awaited path boxes the request's future and copies the
    /// token.
    fn verify_now(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, Self::Error>> {
        let _ = (token, cx);
        None
    }
}
