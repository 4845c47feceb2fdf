//! [`TokenVerifierChain`]: several verifiers tried in order.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::boxed::BoxTokenVerifier;
use super::{TokenContext, TokenVerdict, TokenVerifier};
use crate::backend;
use crate::store::BoxError;

/// Several verifiers tried in order: for example JWTs from your identity
/// provider, then static tokens for service accounts.
///
/// The rules, for one token:
///
/// - The first verifier that **accepts** the token decides: the request is
///   authenticated as the user it returns, and the verifiers after it are not
///   asked.
/// - A verifier that **refuses** the token, or finds it **out of scope**,
///   passes it on to the next one.
/// - A verifier that **fails** (returns an error, or panics) passes it on to
///   the next one too: a JWT verifier whose key server is down must not stop
///   a static service token from working. Its failure is never an answer in
///   itself: an error never turns into an accept.
/// - When no verifier accepts, the chain returns a
///   [`TokenVerifierChainError`] (naming each failure) if any verifier
///   failed, so the layer treats the request exactly as it treats a failing
///   verifier: logged, then "not authenticated by token" and on to the
///   session cookie. Otherwise it answers
///   [`OutOfScope`](TokenVerdict::OutOfScope) if some verifier found the
///   token valid but out of scope, and [`Refused`](TokenVerdict::Refused) if
///   all refused it.
/// - Failures that were passed over because a later verifier accepted are
///   logged (feature `tracing`) by their `Display` text, and otherwise
///   dropped.
/// - An empty chain refuses every token.
///
/// Verifiers are asked one after the other, never at the same time, so a
/// verifier later in the chain costs nothing for tokens an earlier one
/// accepts. Put the verifier that accepts most of your traffic first, and
/// one that makes network calls last. When every verifier asked has its
/// answer at once ([`verify_now`](TokenVerifier::verify_now)), so does the
/// chain; otherwise each call boxes the verifier's future (see
/// [`BoxTokenVerifier`]).
///
/// ```
/// use rstream_well_known::{StaticTokenVerifier, TokenVerifierChain, User};
///
/// let service_accounts = StaticTokenVerifier::new().with_token("ci-0b7d", User::new("ci-bot"));
/// let chain = TokenVerifierChain::new()
///     // .verifier(jwt_verifier)   // feature `jwt`: tried first
///     .verifier(service_accounts); // then static tokens
/// assert_eq!(chain.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TokenVerifierChain {
    verifiers: Vec<BoxTokenVerifier>,
}

impl TokenVerifierChain {
    /// An empty chain: it refuses every token until verifiers are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `verifier` at the end of the chain.
    #[must_use]
    pub fn verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.push(verifier);
        self
    }

    /// Adds `verifier` at the end of the chain, in place.
    pub fn push(&mut self, verifier: impl TokenVerifier) {
        self.push_boxed(BoxTokenVerifier::new(verifier));
    }

    /// Adds an already boxed verifier at the end of the chain, without boxing
    /// it again.
    fn push_boxed(&mut self, verifier: BoxTokenVerifier) {
        self.verifiers.push(verifier);
    }

    /// How many verifiers the chain holds.
    pub fn len(&self) -> usize {
        self.verifiers.len()
    }

    /// Whether the chain holds no verifier.
    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }
}

impl TokenVerifier for TokenVerifierChain {
    type Error = TokenVerifierChainError;

    async fn verify(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Result<TokenVerdict, TokenVerifierChainError> {
        let mut outcome = Outcome::default();
        for (index, verifier) in self.verifiers.iter().enumerate() {
            let answer = CatchUnwind {
                future: verifier.verify(token, cx),
            }
            .await;
            if let Some(accepted) = outcome.add(index, answer) {
                return Ok(accepted);
            }
        }
        outcome.finish()
    }

    /// Answers at once when every verifier asked answers at once.
    fn verify_now(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, TokenVerifierChainError>> {
        let mut outcome = Outcome::default();
        for (index, verifier) in self.verifiers.iter().enumerate() {
            let answer = match catch_unwind(AssertUnwindSafe(|| verifier.verify_now(token, cx))) {
                Ok(None) => return None,
                Ok(Some(answer)) => Ok(answer),
                Err(_) => Err(Panicked),
            };
            if let Some(accepted) = outcome.add(index, answer) {
                return Some(Ok(accepted));
            }
        }
        Some(outcome.finish())
    }
}

/// What the verifiers asked so far answered, short of an accept.
#[derive(Default)]
struct Outcome {
    out_of_scope: bool,
    failures: Vec<(usize, BoxError)>,
}

impl Outcome {
    /// Adds verifier `index`'s answer; the verdict to return at once when it
    /// accepted.
    fn add(
        &mut self,
        index: usize,
        answer: Result<Result<TokenVerdict, BoxError>, Panicked>,
    ) -> Option<TokenVerdict> {
        match answer {
            Ok(Ok(TokenVerdict::Accepted(user))) => {
                for (_, error) in &self.failures {
                    backend::failure("token verifier chain (passed over)", error);
                }
                return Some(TokenVerdict::Accepted(user));
            }
            Ok(Ok(TokenVerdict::Refused)) => {}
            Ok(Ok(TokenVerdict::OutOfScope)) => self.out_of_scope = true,
            Ok(Err(error)) => self.failures.push((index, error)),
            Err(Panicked) => self.failures.push((index, BoxError::new(Panicked))),
        }
        None
    }

    /// The chain's answer when nobody accepted.
    fn finish(self) -> Result<TokenVerdict, TokenVerifierChainError> {
        if !self.failures.is_empty() {
            Err(TokenVerifierChainError {
                failures: self.failures,
            })
        } else if self.out_of_scope {
            Ok(TokenVerdict::OutOfScope)
        } else {
            Ok(TokenVerdict::Refused)
        }
    }
}

/// No verifier of a [`TokenVerifierChain`] accepted the token and at least
/// one of them failed. `Display` names each failed verifier by its position
/// (from 0) and its error's text.
#[derive(Debug)]
pub struct TokenVerifierChainError {
    failures: Vec<(usize, BoxError)>,
}

impl TokenVerifierChainError {
    /// Each failed verifier's position in the chain (from 0) and its error,
    /// in chain order.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &BoxError)> {
        self.failures.iter().map(|(index, error)| (*index, error))
    }
}

impl fmt::Display for TokenVerifierChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no verifier of the chain accepted the token and ")?;
        for (n, (index, error)) in self.failures.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "verifier {index} failed: {error}")?;
        }
        Ok(())
    }
}

/// The source is the first failure.
impl Error for TokenVerifierChainError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.failures
            .first()
            .map(|(_, error)| error as &(dyn Error + 'static))
    }
}

/// A verifier of the chain panicked; the panic's payload is not kept (it
/// could hold anything, a token included).
#[derive(Debug)]
struct Panicked;

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the verifier panicked")
    }
}

impl Error for Panicked {}

pin_project! {
    /// Polls a verifier's future, turning a panic into `Err(Panicked)`; the
    /// future is dropped with this wrapper and never polled again. (A boxed
    /// verifier's call only makes its future when first polled, so a panic
    /// in the verifier's own `verify` is caught here too.)
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}
