//! [`JwksSource`]: keys fetched from a JWKS URL, cached, and refreshed in the
//! background (feature `jwks`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use super::{JwkSet, JwtError, KeyError};
use crate::backend;

/// Keys fetched from a JWKS URL (an identity provider's
/// `…/.well-known/jwks.json`), for [`JwtVerifier::from_jwks`](super::JwtVerifier::from_jwks).
///
/// - **Fetching.** [`build`](JwksBuilder::build) starts a background task on
///   the current tokio runtime that fetches the set at once, then every
///   [`refresh_interval`](JwksBuilder::refresh_interval) (10 minutes by
///   default). Each fetch is bounded by
///   [`fetch_timeout`](JwksBuilder::fetch_timeout) (5 seconds) and
///   [`max_size`](JwksBuilder::max_size) (512 KiB); it needs a `200` answer
///   with a JWK set document, read with [`JwkSet::from_public_json`] (so
///   published symmetric keys are never trusted). Redirects are not
///   followed. The task ends when the last clone of the source is dropped.
/// - **Failures keep the last good set.** A fetch that fails (time-out,
///   connection error, another status, a document that is not a JWK set)
///   changes nothing: the verifier keeps using the set it has, and the
///   task tries again after the [`cooldown`](JwksBuilder::cooldown)
///   (30 seconds). A document that *is* a JWK set replaces the set, even
///   when it holds no usable key: that is how a provider revokes keys.
/// - **Unknown `kid`.** A token whose `kid` names no key of the set makes
///   the verifier fetch the set again before it decides (a key rotation
///   reaches it with the first token of the new key), at most once per
///   cooldown; tokens with a known `kid` never wait, and concurrent requests
///   share one fetch. So made-up `kid`s cost the provider at most one fetch
///   per cooldown.
/// - **No set yet.** Until a first fetch succeeds, a verify tries a fetch
///   (once per cooldown), then returns [`JwtError::KeysUnavailable`]: the
///   layer treats the request like one with a failing verifier. Await
///   [`refresh`](Self::refresh) at start-up to fail fast instead.
///
/// HTTPS only (rustls with its `ring` provider, the Mozilla root
/// certificates from `webpki-roots` plus any given with
/// [`root_certificates_pem`](JwksBuilder::root_certificates_pem), HTTP/1.1),
/// unless [`allow_http`](JwksBuilder::allow_http) is set for a URL on a
/// trusted network. No proxy is used. Cloning is cheap and shares the cache.
///
/// ```no_run
/// use rstream_well_known::jwt::{JwksSource, JwtVerifier};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = JwksSource::builder("https://auth.example.com/.well-known/jwks.json").build()?;
/// keys.refresh().await?; // optional: fail at start-up when the provider is unreachable
/// let verifier = JwtVerifier::from_jwks(keys).issuer("https://auth.example.com").audience("orders-api");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwksSource {
    shared: Arc<Shared>,
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksSource")
            .field("keys", &self.keys().map(|set| set.len()))
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// Configures a [`JwksSource`]; see [`JwksSource::builder`].
#[derive(Debug)]
#[must_use]
pub struct JwksBuilder {
    url: String,
    options: Options,
    allow_http: bool,
    extra_roots: Vec<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct Options {
    refresh_interval: Duration,
    cooldown: Duration,
    fetch_timeout: Duration,
    max_size: usize,
}

impl JwksBuilder {
    /// How often the set is fetched while all is well (default 10 minutes).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.options.refresh_interval = interval;
        self
    }

    /// The least time between two fetches made for an unknown `kid` or a
    /// missing set, and the wait before the background task retries a
    /// failed fetch (default 30 seconds).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.options.cooldown = cooldown;
        self
    }

    /// How long one fetch may take, connection and body included (default 5
    /// seconds). A request that waits for a fetch (unknown `kid`, no set
    /// yet) waits at most this long.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.options.fetch_timeout = timeout;
        self
    }

    /// The largest JWK set document read, in bytes (default 512 KiB).
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.options.max_size = bytes;
        self
    }

    /// Allows an `http://` URL (default: `https://` only). Anyone on the
    /// path of a plain-HTTP fetch can substitute their own keys: use it only
    /// for a provider on loopback or a network you trust.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Also trusts the CA certificates in `pem` (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks), besides the Mozilla roots: for
    /// a provider whose certificate a private CA issued.
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(pem.into());
        self
    }

    /// Checks the URL and starts the background task that fetches and
    /// refreshes the set.
    ///
    /// # Errors
    ///
    /// [`JwksError::InvalidUrl`] for a URL that is not absolute `https://`
    /// (or `http://` when allowed), [`JwksError::NoRuntime`] outside a tokio
    /// runtime, [`JwksError::Tls`] when rustls cannot be set up or a root
    /// certificate given is not a PEM certificate.
    pub fn build(self) -> Result<JwksSource, JwksError> {
        let url: Uri = self.url.parse().map_err(|_| JwksError::InvalidUrl)?;
        let https = match url.scheme_str() {
            Some("https") => true,
            Some("http") if self.allow_http => false,
            _ => return Err(JwksError::InvalidUrl),
        };
        if url.host().is_none_or(str::is_empty) {
            return Err(JwksError::InvalidUrl);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| JwksError::NoRuntime)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for pem in &self.extra_roots {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            let mut added = 0;
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|_| JwksError::Tls)?;
                roots.add(certificate).map_err(|_| JwksError::Tls)?;
                added += 1;
            }
            if added == 0 {
                return Err(JwksError::Tls);
            }
        }
        // The provider is named, not taken from the process default, so that
        // another crate's choice of provider changes nothing here.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| JwksError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let connector = if https {
            connector.https_only()
        } else {
            connector.https_or_http()
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector.enable_http1().build());
        let shared = Arc::new(Shared {
            url,
            client,
            options: self.options,
            keys: RwLock::new(None),
            generation: AtomicU64::new(0),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            task: OnceLock::new(),
        });
        let task = runtime.spawn(refresh_in_background(Arc::downgrade(&shared)));
        let _ = shared.task.set(task.abort_handle());
        Ok(JwksSource { shared })
    }
}

impl JwksSource {
    /// Starts configuring a source for `url`.
    pub fn builder(url: impl Into<String>) -> JwksBuilder {
        JwksBuilder {
            url: url.into(),
            options: Options {
                refresh_interval: Duration::from_secs(600),
                cooldown: Duration::from_secs(30),
                fetch_timeout: Duration::from_secs(5),
                max_size: 512 * 1024,
            },
            allow_http: false,
            extra_roots: Vec::new(),
        }
    }

    /// The current key set, `None` until a fetch has succeeded.
    pub fn keys(&self) -> Option<Arc<JwkSet>> {
        self.shared.current()
    }

    /// Fetches the set now, whatever the cooldown, unless a fetch succeeded
    /// while this call waited for one already in flight.
    ///
    /// # Errors
    ///
    /// Why the fetch failed; the set in use is then unchanged.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let seen = self.shared.generation.load(Ordering::Acquire);
        let mut state = self.shared.fetch.lock().await;
        if self.shared.generation.load(Ordering::Acquire) != seen {
            return Ok(());
        }
        self.shared.fetch_locked(&mut state).await
    }

    /// The set to check a token with `kid` against: fetched again first
    /// when there is none yet or it has no key named `kid` (once per
    /// cooldown).
    pub(super) async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<JwkSet>, JwtError> {
        let shared = &self.shared;
        let seen = shared.generation.load(Ordering::Acquire);
        let current = shared.current();
        if let Some(set) = current.filter(|set| set.covers(kid)) {
            return Ok(set);
        }
        let mut state = shared.fetch.lock().await;
        if shared.generation.load(Ordering::Acquire) == seen {
            let cooled = state
                .last_attempt
                .is_none_or(|last| last.elapsed() >= shared.options.cooldown);
            if cooled {
                // A failure is logged and kept in `state`; the set in use stays.
                let _ = shared.fetch_locked(&mut state).await;
            }
        }
        let last_error = state.last_error.clone();
        drop(state);
        shared.current().ok_or(JwtError::KeysUnavailable(
            last_error.unwrap_or(JwksError::NotFetched),
        ))
    }
}

/// What every clone of a source shares.
struct Shared {
    url: Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    options: Options,
    keys: RwLock<Option<Arc<JwkSet>>>,
    /// Counts the fetches that succeeded.
    generation: AtomicU64,
    /// Held during a fetch: one fetch at a time.
    fetch: tokio::sync::Mutex<FetchState>,
    task: OnceLock<tokio::task::AbortHandle>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<JwksError>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

impl Shared {
    fn current(&self) -> Option<Arc<JwkSet>> {
        // A poisoned lock still holds a whole `Option<Arc<_>>`.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Fetches the set, the fetch lock held: on success it replaces the set.
    async fn fetch_locked(&self, state: &mut FetchState) -> Result<(), JwksError> {
        state.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(set));
                self.generation.fetch_add(1, Ordering::AcqRel);
                state.last_error = None;
                Ok(())
            }
            Err(error) => {
                backend::failure("JWKS source", &error);
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let request = Request::get(self.url.clone())
            .header(header::ACCEPT, "application/jwk-set+json, application/json")
            .body(Empty::new())
            .map_err(|_| JwksError::InvalidUrl)?;
        let fetch = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| JwksError::Transport(chain(&error)))?;
            if response.status() != StatusCode::OK {
                return Err(JwksError::Status(response.status().as_u16()));
            }
            let body = Limited::new(response.into_body(), self.options.max_size)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        JwksError::TooLarge
                    } else {
                        JwksError::Transport(chain(&*error))
                    }
                })?
                .to_bytes();
            JwkSet::from_public_json(&body).map_err(JwksError::Invalid)
        };
        tokio::time::timeout(self.options.fetch_timeout, fetch)
            .await
            .map_err(|_| JwksError::Timeout)?
    }
}

/// An error's text and its sources', joined.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Fetches the set at once, then every refresh interval (after a failure,
/// every cooldown), until the source is dropped.
async fn refresh_in_background(shared: Weak<Shared>) {
    loop {
        let wait = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let source = JwksSource { shared };
            let wait = match source.refresh().await {
                Ok(()) => source.shared.options.refresh_interval,
                Err(_) => source.shared.options.cooldown,
            };
            // Dropped before sleeping: a sleeping task keeps nothing alive.
            drop(source);
            wait
        };
        tokio::time::sleep(wait).await;
    }
}

/// Why a JWK set could not be fetched. `Display` never shows the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The URL is not an absolute `https://` URL (or `http://`, when
    /// allowed).
    InvalidUrl,
    /// [`JwksBuilder::build`] was called outside a tokio runtime.
    NoRuntime,
    /// rustls could not be set up with its `ring` provider, or a root
    /// certificate given is not a PEM certificate.
    Tls,
    /// No fetch has succeeded yet.
    NotFetched,
    /// The fetch took longer than the fetch timeout.
    Timeout,
    /// The connection or the transfer failed; the text says how.
    Transport(String),
    /// The server answered with this status instead of `200`.
    Status(u16),
    /// The document is larger than the size limit.
    TooLarge,
    /// The document is not a usable JWK set.
    Invalid(KeyError),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::InvalidUrl => f.write_str("the JWKS URL is not an absolute https URL"),
            JwksError::NoRuntime => f.write_str("a JWKS source needs a tokio runtime"),
            JwksError::Tls => f.write_str("TLS could not be set up"),
            JwksError::NotFetched => f.write_str("the JWK set has not been fetched yet"),
            JwksError::Timeout => f.write_str("fetching the JWK set timed out"),
            JwksError::Transport(why) => write!(f, "fetching the JWK set failed: {why}"),
            JwksError::Status(status) => write!(f, "the JWKS URL answered {status}"),
            JwksError::TooLarge => f.write_str("the JWK set document is too large"),
            JwksError::Invalid(error) => write!(f, "the JWKS URL served no valid JWK set: {error}"),
        }
    }
}

impl std::error::Error for JwksError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JwksError::Invalid(error) => Some(error),
            _ => None,
        }
    }
}
