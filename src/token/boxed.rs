//! Sharing and boxing verifiers: `Arc<V>` is a verifier when `V` is, and
//! [`BoxTokenVerifier`] erases a verifier's type so that it can be chosen at
//! run time (from configuration, say).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{TokenContext, TokenVerdict, TokenVerifier};

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
}

/// The boxed future a [`BoxTokenVerifier`] returns.
type BoxVerdict<'a> =
    Pin<Box<dyn Future<Output = Result<TokenVerdict, BoxTokenVerifierError>> + Send + 'a>>;

/// The object-safe form of [`TokenVerifier`], implemented for every verifier.
trait DynTokenVerifier: Send + Sync + 'static {
    fn verify_boxed<'a>(&'a self, token: &'a str, cx: TokenContext<'a>) -> BoxVerdict<'a>;
}

impl<V: TokenVerifier> DynTokenVerifier for V {
    fn verify_boxed<'a>(&'a self, token: &'a str, cx: TokenContext<'a>) -> BoxVerdict<'a> {
        let verdict = self.verify(token, cx);
        Box::pin(async move { verdict.await.map_err(BoxTokenVerifierError::new) })
    }
}

/// Any [`TokenVerifier`], its type erased: for a verifier chosen at run time
/// (a static token list in development, JWTs in production, a
/// [`TokenVerifierChain`](crate::TokenVerifierChain) of both), so that the
/// layer's type does not depend on the choice.
///
/// Each call boxes the verifier's future (one allocation per verified
/// token), and its error is boxed into a [`BoxTokenVerifierError`] whose
/// `Display` text is the verifier's own. Cloning is cheap: the verifier sits
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
    type Error = BoxTokenVerifierError;

    async fn verify(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Result<TokenVerdict, BoxTokenVerifierError> {
        self.inner.verify_boxed(token, cx).await
    }
}

/// The error of a [`BoxTokenVerifier`]: the boxed verifier's own error,
/// shown with its own `Display` text (which, like every verifier error, must
/// never contain the token).
pub struct BoxTokenVerifierError {
    inner: Box<dyn Error + Send + Sync + 'static>,
}

impl BoxTokenVerifierError {
    /// Boxes `error`.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self {
            inner: Box::new(error),
        }
    }

    /// The verifier's own error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// Takes the verifier's own error out.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync + 'static> {
        self.inner
    }
}

impl fmt::Debug for BoxTokenVerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for BoxTokenVerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// Transparent: the source is the verifier error's own source.
impl Error for BoxTokenVerifierError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner.source()
    }
}
