//! The one HTTP client the crate calls other servers with: a JWKS URL
//! ([`JwksSource`](crate::jwt::JwksSource), feature `jwks`) and an OpenID
//! provider's discovery document, key set, token and userinfo endpoints
//! ([`OidcLayer`](crate::oidc::OidcLayer), feature `oidc`).
//!
//! Bring any client through [`HttpClient`] (a one-method trait, so the
//! library stays free of an async runtime), or take [`HyperClient`] (feature
//! `hyper-client`, enabled by `jwks` and `oidc-hyper`).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

#[cfg(any(feature = "oidc", feature = "jwks"))]
use http::StatusCode;
#[cfg(any(feature = "oidc", feature = "jwks"))]
use http::header::ACCEPT;
use http::{Request, Response};

/// What [`HttpClient::send`] returns.
pub type HttpFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<Vec<u8>>, HttpError>> + Send + 'a>>;

/// Sends the crate's requests to other servers: a JWKS URL's key set, and
/// the sign-in's discovery, keys, code exchange and userinfo. Bring any
/// client, or take [`HyperClient`] (feature `hyper-client`).
///
/// An implementation must not follow redirects, should bound the time a call
/// takes and the size of the body it reads, and must never log the request's
/// body or `Authorization` field (they carry the code, the client secret and
/// the access token). Plain `http` URLs reach it only where their user allows
/// them (`JwksBuilder::allow_http`, a loopback issuer).
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and reads the whole response.
    fn send(&self, request: Request<Vec<u8>>) -> HttpFuture<'_>;
}

/// Why an [`HttpClient`] call got no answer: connection, TLS, time-out, a
/// body too large. Its message (the cause's, and its sources') says why, and
/// must carry no secret.
pub struct HttpError(Box<dyn Error + Send + Sync>);

impl HttpError {
    /// An error with `source` as its cause (an error, or a message).
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
        self.0.fmt(f)
    }
}

/// Transparent: `Display` is the cause's own text, `source` the cause's
/// source, so that a chain of sources names each cause once.
impl Error for HttpError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// Why [`get`] got no document.
#[cfg(any(feature = "oidc", feature = "jwks"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GetError {
    /// The URL cannot be put in a request.
    Url,
    /// No answer; the client's error and its sources, as text.
    Transport(String),
    /// An answer other than `200`.
    Status(StatusCode),
}

#[cfg(any(feature = "oidc", feature = "jwks"))]
impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Url => f.write_str("not a URL a request can be sent to"),
            GetError::Transport(why) => f.write_str(why),
            GetError::Status(status) => write!(f, "answered {status} instead of 200 OK"),
        }
    }
}

/// The one fetch of a public document (a discovery document, a key set):
/// `GET url` with `Accept: accept`, the body of a `200` answer.
#[cfg(any(feature = "oidc", feature = "jwks"))]
pub(crate) async fn get(
    client: &dyn HttpClient,
    url: &str,
    accept: &'static str,
) -> Result<Vec<u8>, GetError> {
    let request = Request::get(url)
        .header(ACCEPT, accept)
        .body(Vec::new())
        .map_err(|_| GetError::Url)?;
    let response = client
        .send(request)
        .await
        .map_err(|error| GetError::Transport(crate::error::chain(&error)))?;
    if response.status() != StatusCode::OK {
        return Err(GetError::Status(response.status()));
    }
    Ok(response.into_body())
}

#[cfg(feature = "hyper-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper-client")))]
pub use self::hyper_client::HyperClient;

#[cfg(feature = "hyper-client")]
mod hyper_client {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt as _, Full, Limited};
    use hyper_rustls::HttpsConnector;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    use rustls::RootCertStore;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    use super::{HttpClient, HttpError, HttpFuture};

    /// The largest answer read, in bytes: 1 MiB (discovery documents and
    /// key sets are a few KiB).
    const MAX_BODY: usize = 1024 * 1024;

    /// An [`HttpClient`] on hyper (HTTP/1.1) with rustls, on the current
    /// Tokio runtime: 10-second calls, answers up to 1 MiB, no redirects
    /// followed, no proxy.
    ///
    /// TLS: rustls with its `aws-lc-rs` provider, named rather than taken
    /// from the process default (so that another crate's choice changes
    /// nothing here), and the Mozilla roots of `webpki-roots` plus any given
    /// with [`root_certificates_pem`](Self::root_certificates_pem). It sends
    /// plain `http` too: its users allow that only where it is safe (a
    /// loopback issuer, `JwksBuilder::allow_http`).
    #[derive(Clone)]
    pub struct HyperClient {
        client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
        roots: RootCertStore,
        timeout: Duration,
    }

    impl std::fmt::Debug for HyperClient {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("HyperClient")
                .field("roots", &self.roots.len())
                .field("timeout", &self.timeout)
                .finish_non_exhaustive()
        }
    }

    impl HyperClient {
        /// A client trusting the Mozilla roots.
        ///
        /// # Errors
        ///
        /// [`HttpError`] when rustls cannot be set up.
        pub fn new() -> Result<Self, HttpError> {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Ok(Self {
                client: connect(roots.clone())?,
                roots,
                timeout: Duration::from_secs(10),
            })
        }

        /// How long one call may take, connection and body included (10
        /// seconds by default).
        #[must_use]
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }

        /// Also trusts the CA certificates in `pem` (one or more
        /// `-----BEGIN CERTIFICATE-----` blocks), besides the Mozilla roots:
        /// for a server whose certificate a private CA issued.
        ///
        /// # Errors
        ///
        /// [`HttpError`] when `pem` holds no certificate or one that is not
        /// a usable CA certificate.
        pub fn root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, HttpError> {
            let mut added = 0;
            for certificate in CertificateDer::pem_slice_iter(pem.as_ref()) {
                let certificate = certificate.map_err(|error| {
                    HttpError::new(format!("a root certificate is not PEM: {error}"))
                })?;
                self.roots.add(certificate).map_err(|error| {
                    HttpError::new(format!("a root certificate is not usable: {error}"))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(HttpError::new(
                    "no PEM certificate among the root certificates",
                ));
            }
            self.client = connect(self.roots.clone())?;
            Ok(self)
        }
    }

    /// The hyper client trusting `roots`.
    fn connect(
        roots: RootCertStore,
    ) -> Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, HttpError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| HttpError::new(format!("TLS cannot be set up: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector))
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
                        .map_err(|error| {
                            if error.is::<http_body_util::LengthLimitError>() {
                                HttpError::new(format!("the body is larger than {MAX_BODY} bytes"))
                            } else {
                                HttpError::new(error)
                            }
                        })?
                        .to_bytes();
                    Ok(Response::from_parts(parts, body.to_vec()))
                };
                tokio::time::timeout(self.timeout, call)
                    .await
                    .map_err(|_| HttpError::new(format!("no answer within {:?}", self.timeout)))?
            })
        }
    }
}
