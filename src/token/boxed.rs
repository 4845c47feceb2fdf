//! Sharing and boxing verifiers: `Arc<V>` is a verifier when `V` is, and
//! [`BoxTokenVerifier`] erases a verifier's type so that it can be chosen at
//! run time (from configuration, say).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{TokenContext, TokenVerdict, TokenVerifier};
use crate::store::BoxError;

/// A shared verifier verifies like the verifier it shares: one instance (with
/// its caches, its key set, its connection pool) can serve several layers.
impl<V: TokenVerifier> TokenVerifier for Arc<V> {
    type Error = V::Error;

    fn verify(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> impl Future<Output = Result<TokenVerdict, Self::Error>> + Send {
        (**self).verify(token, cx)
    }

    fn verify_now(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, Self::Error>> {
        (**self).verify_now(token, cx)
    }
}

/// The boxed future a [`BoxTokenVerifier`] returns.
type BoxVerdict<'a> = Pin<Box<dyn Future<Output = Result<TokenVerdict, BoxError>> + Send + 'a>>;

/// The object-safe form of [`TokenVerifier`], implemented for every verifier.
trait DynTokenVerifier: Send + Sync + 'static {
    fn verify_boxed<'a>(&'a self, token: &'a str, cx: TokenContext<'a>) -> BoxVerdict<'a>;
    fn verify_now_boxed(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, BoxError>>;
}

impl<V: TokenVerifier> DynTokenVerifier for V {
    fn verify_boxed<'a>(&'a self, token: &'a str, cx: TokenContext<'a>) -> BoxVerdict<'a> {
        let verdict = self.verify(token, cx);
        Box::pin(async move { verdict.await.map_err(boxed) })
    }

    fn verify_now_boxed(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, BoxError>> {
        self.verify_now(token, cx)
            .map(|verdict| verdict.map_err(boxed))
    }
}

/// Any [`TokenVerifier`], its type erased: for a verifier chosen at run time
/// (a static token list in development, JWTs in production, a
/// [`TokenVerifierChain`](crate::TokenVerifierChain) of both), so that the
/// layer's type does not depend on the choice.
///
/// [`verify_now`](TokenVerifier::verify_now) passes through without boxing
/// anything; otherwise each call boxes the verifier's future (one allocation
/// per verified token), and its error is boxed into a [`BoxError`](crate::BoxError) (the
/// boxed stores' error too) whose `Display` text is the verifier's own. Cloning is cheap: the verifier sits
/// behind an `Arc`.
///
/// ```
/// use rstream_well_known::{BoxTokenVerifier, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
///
/// fn verifier_from_config(kind: &str) -> BoxTokenVerifier {
///     match kind {
///         "static" => BoxTokenVerifier::new(StaticTokenVerifier::new().with_token("s3cret", User::new("ci"))),
///         _ => BoxTokenVerifier::new(StaticTokenVerifier::new()),
///     }
/// }
///
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
///     .with_token_verifier(verifier_from_config("static"))
///     .build()?;
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BoxTokenVerifier {
    inner: Arc<dyn DynTokenVerifier>,
    type_name: &'static str,
}

impl BoxTokenVerifier {
    /// Boxes `verifier`.
    pub fn new<V: TokenVerifier>(verifier: V) -> Self {
        Self {
            inner: Arc::new(verifier),
            type_name: std::any::type_name::<V>(),
        }
    }
}

impl fmt::Debug for BoxTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoxTokenVerifier")
            .field(&self.type_name)
            .finish()
    }
}

impl TokenVerifier for BoxTokenVerifier {
    type Error = BoxError;

    async fn verify(&self, token: &str, cx: TokenContext<'_>) -> Result<TokenVerdict, BoxError> {
        self.inner.verify_boxed(token, cx).await
    }

    /// The boxed verifier's own answer at once, when it has one.
    fn verify_now(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, BoxError>> {
        self.inner.verify_now_boxed(token, cx)
    }
}

/// A verifier's error, boxed (a boxed verifier's error is not boxed twice).
fn boxed<E: Error + Send + Sync + 'static>(error: E) -> BoxError {
    let error: Box<dyn Error + Send + Sync> = Box::new(error);
    match error.downcast::<BoxError>() {
        Ok(already) => *already,
        Err(other) => BoxError::from(other),
    }
}
