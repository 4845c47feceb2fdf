//! The HTTP client the OpenID Connect sign-in calls the provider with.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use http::{Request, Response};

/// What [`HttpClient::send`] returns.
pub type HttpFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<Vec<u8>>, HttpError>> + Send + 'a>>;

/// Sends the sign-in's requests to the provider: discovery, keys, the code
/// exchange and userinfo. The library stays free of an async runtime; bring
/// any client, or take [`HyperClient`](crate::oidc::HyperClient) (feature
/// `oidc-hyper`).
///
/// An implementation must not follow redirects, should bound the time a call
/// takes and the size of the body it reads, and must never log the request's
/// body or `Authorization` field (they carry the code, the client secret and
/// the access token).
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and reads the whole response.
    fn send(&self, request: Request<Vec<u8>>) -> HttpFuture<'_>;
}

/// Why an [`HttpClient`] call failed: no answer (connection, TLS, timeout,
/// a body too large). Its message must carry no secret.
pub struct HttpError(Box<dyn Error + Send + Sync>);

impl HttpError {
    /// An error with `source` as its cause.
    pub fn new(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(source.into())
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpError").field(&self.0).finish()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP request to the OpenID provider failed: {}", self.0)
    }
}

impl Error for HttpError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(feature = "oidc-hyper")]
pub use self::hyper_client::HyperClient;

#[cfg(feature = "oidc-hyper")]
mod hyper_client {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt as _, Full, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::{TokioExecutor, TokioTimer};

    use super::{HttpClient, HttpError, HttpFuture};

    /// The largest provider answer read, in bytes: 1 MiB (discovery
    /// documents and key sets are a few KiB).
    const MAX_BODY: usize = 1024 * 1024;

    /// An [`HttpClient`] on hyper (HTTP/1.1) with rustls and the webpki
    /// roots, on the current Tokio runtime: 10-second calls, answers up to
    /// 1 MiB, no redirects followed. Plain `http` is used only where the
    /// sign-in allows it (a loopback issuer, for tests and development).
    #[derive(Clone)]
    pub struct HyperClient {
        client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
        timeout: Duration,
    }

    impl std::fmt::Debug for HyperClient {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("HyperClient")
                .field("timeout", &self.timeout)
                .finish_non_exhaustive()
        }
    }

    impl HyperClient {
        /// A client with the webpki roots.
        ///
        /// # Errors
        ///
        /// [`HttpError`] when rustls cannot be set up.
        pub fn new() -> Result<Self, HttpError> {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(HttpError::new)?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .build();
            let client = Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .build(connector);
            Ok(Self {
                client,
                timeout: Duration::from_secs(10),
            })
        }

        /// How long one call may take (10 seconds by default).
        #[must_use]
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }
    }

    impl HttpClient for HyperClient {
        fn send(&self, request: Request<Vec<u8>>) -> HttpFuture<'_> {
            let request = request.map(|body| Full::new(Bytes::from(body)));
            Box::pin(async move {
                let call = async {
                    let response = self.client.request(request).await.map_err(HttpError::new)?;
                    let (parts, body) = response.into_parts();
                    let body = Limited::new(body, MAX_BODY)
                        .collect()
                        .await
                        .map_err(HttpError::new)?
                        .to_bytes();
                    Ok(Response::from_parts(parts, body.to_vec()))
                };
                tokio::time::timeout(self.timeout, call)
                    .await
                    .map_err(HttpError::new)?
            })
        }
    }
}
