//! [`JwksSource`]: keys fetched from a JWKS URL, cached, and refreshed in the
//! background (feature `jwks`).

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use http::{StatusCode, Uri};

use super::{JwkSet, JwtError, KeyError};
use crate::backend;
use crate::http_client::{GetError, HttpClient, HyperClient};
use crate::refresh::{KEY_SET_MAX_SIZE, KeySetError, Outcome, Refresher, Want, fetch_jwk_set};

/// Keys fetched from a JWKS URL (an identity provider's
/// `…/.well-known/jwks.json`), for [`JwtVerifier::from_jwks`](super::JwtVerifier::from_jwks).
///
/// - **Fetching.** [`build`](JwksBuilder::build) starts a background task on
///   the current tokio runtime that fetches the set at once, then
///   [`refresh_interval`](JwksBuilder::refresh_interval) (10 minutes by
///   default) after the last fetch that succeeded, whoever made it (a
///   successful refetch for an unknown `kid` restarts the interval). Each
///   fetch is bounded by [`fetch_timeout`](JwksBuilder::fetch_timeout) (5
///   seconds) and [`max_size`](JwksBuilder::max_size) (512 KiB); it needs
///   a `200` answer with a JWK set document, read with
///   [`JwkSet::from_public_json`] (so published symmetric keys are never
///   trusted). Redirects are not followed. The task ends when the last
///   clone of the source is dropped.
/// - **Failures keep the last good set.** A fetch that fails (time-out,
///   connection error, another status, a document that is not a JWK set)
///   changes nothing: the verifier keeps using the set it has, and the
///   task tries again the [`cooldown`](JwksBuilder::cooldown) (30 seconds)
///   after the failure, whoever's fetch it was. A document that *is* a JWK
///   set replaces the set, even when it holds no usable key: that is how a
///   provider revokes keys.
/// - **Unknown `kid`.** A token whose `kid` names no key of the set makes
///   the verifier fetch the set again before it decides (a key rotation
///   reaches it with the first token of the new key), unless the last fetch
///   ended less than the cooldown ago; tokens with a known `kid` never
///   wait. There is at most one fetch in flight: requests that need one
///   while it is under way wait for it and share its result, success or
///   failure. So made-up `kid`s cost the provider at most one fetch per
///   cooldown, whether it answers or not.
/// - **No set yet.** Until a first fetch succeeds, a verify tries a fetch
///   (under the same cooldown), then returns
///   [`JwtError::KeysUnavailable`]: the layer treats the request like one
///   with a failing verifier. Await [`refresh`](Self::refresh) at start-up
///   to fail fast instead.
///
/// HTTPS only, unless [`allow_http`](JwksBuilder::allow_http) is set for a
/// URL on a trusted network. Fetched through the crate's one
/// [`HttpClient`]: a [`HyperClient`] unless another is given with
/// [`http_client`](JwksBuilder::http_client) (for a private CA, give
/// `HyperClient::new()?.root_certificates_pem(pem)?`). Cloning is cheap and
/// shares the cache.
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
#[must_use]
pub struct JwksBuilder {
    url: String,
    options: Options,
    allow_http: bool,
    client: Option<Arc<dyn HttpClient>>,
}

impl fmt::Debug for JwksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksBuilder")
            .field("url", &self.url)
            .field("options", &self.options)
            .field("allow_http", &self.allow_http)
            .field("http_client", &self.client.as_ref().map(|_| ".."))
            .finish()
    }
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

    /// The least time from the end of one fetch to a fetch made for an
    /// unknown `kid` or a missing set, and the wait after a failed fetch
    /// before the background task tries again (default 30 seconds).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.options.cooldown = cooldown;
        self
    }

    /// How long one fetch may take, connection and body included (default 5
    /// seconds). A request that waits for a fetch (unknown `kid`, no set
    /// yet), its own or the one in flight, waits about this long at most.
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

    /// The client the set is fetched with (default: [`HyperClient::new`]).
    /// It must not follow redirects; the fetch timeout and the size limit
    /// apply to its answers too (a client's own limits may be lower:
    /// `HyperClient` reads at most 1 MiB).
    pub fn http_client(mut self, client: impl HttpClient) -> Self {
        self.client = Some(Arc::new(client));
        self
    }

    /// Checks the URL and starts the background task that fetches and
    /// refreshes the set.
    ///
    /// # Errors
    ///
    /// [`JwksError::InvalidUrl`] for a URL that is not absolute `https://`
    /// (or `http://` when allowed), [`JwksError::NoRuntime`] outside a tokio
    /// runtime, [`JwksError::Tls`] when no client was given and
    /// [`HyperClient::new`] fails.
    pub fn build(self) -> Result<JwksSource, JwksError> {
        let url: Uri = self.url.parse().map_err(|_| JwksError::InvalidUrl)?;
        match url.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_http => {}
            _ => return Err(JwksError::InvalidUrl),
        }
        if url.host().is_none_or(str::is_empty) {
            return Err(JwksError::InvalidUrl);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| JwksError::NoRuntime)?;
        let client = match self.client {
            Some(client) => client,
            None => Arc::new(HyperClient::new().map_err(|_| JwksError::Tls)?),
        };
        let shared = Arc::new(Shared {
            url: url.to_string(),
            client,
            keys: Refresher::new(self.options.cooldown),
            options: self.options,
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
                max_size: KEY_SET_MAX_SIZE,
            },
            allow_http: false,
            client: None,
        }
    }

    /// The current key set, `None` until a fetch has succeeded.
    pub fn keys(&self) -> Option<Arc<JwkSet>> {
        self.shared.keys.current()
    }

    /// Fetches the set now, whatever the cooldown. When a fetch is already
    /// in flight, waits for it instead and shares its result.
    ///
    /// # Errors
    ///
    /// Why the fetch failed; the set in use is then unchanged.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let seen = self.shared.keys.generation();
        match self.shared.refresh(seen, Want::Now).await.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The set to check a token with `kid` against: fetched again first
    /// when there is none yet or it has no key named `kid`, unless the
    /// cooldown holds it back.
    pub(super) async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<JwkSet>, JwtError> {
        // A failure is logged by the fetch; the set in use stays.
        let shared = &self.shared;
        let outcome = shared
            .keys
            .fitting(|set| set.covers(kid), || shared.fetch_logged())
            .await;
        outcome.value.ok_or(JwtError::KeysUnavailable(
            outcome.error.unwrap_or(JwksError::NotFetched),
        ))
    }
}

/// What every clone of a source shares.
struct Shared {
    /// The URL, checked.
    url: String,
    client: Arc<dyn HttpClient>,
    options: Options,
    /// The set, on the crate's one fetch-and-refresh mechanism.
    keys: Refresher<JwkSet, JwksError>,
    task: OnceLock<tokio::task::AbortHandle>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

impl Shared {
    /// Fetches the set through the refresher (`seen`: its generation when
    /// the caller looked at the set).
    async fn refresh(&self, seen: u64, want: Want) -> Outcome<JwkSet, JwksError> {
        self.keys.refresh(seen, want, || self.fetch_logged()).await
    }

    /// Fetches the set with the crate's one key set fetch, within the fetch
    /// timeout, logging a failure.
    async fn fetch_logged(&self) -> Result<JwkSet, JwksError> {
        let fetch = fetch_jwk_set(&*self.client, &self.url, self.options.max_size);
        let fetched = match tokio::time::timeout(self.options.fetch_timeout, fetch).await {
            Ok(fetched) => fetched.map_err(JwksError::from),
            Err(_) => Err(JwksError::Timeout),
        };
        if let Err(error) = &fetched {
            backend::failure("JWKS source", error);
        }
        fetched
    }
}

/// Fetches the set at once, then whenever the refresher says a fetch is due
/// (the refresh interval after a success, the cooldown after a failure,
/// whoever fetched), until the source is dropped.
async fn refresh_in_background(shared: Weak<Shared>) {
    loop {
        let wait = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let every = shared.options.refresh_interval;
            if shared.keys.due_in(every).is_zero() {
                let seen = shared.keys.generation();
                shared.refresh(seen, Want::Now).await;
            }
            // `shared` is dropped before sleeping: a sleeping task keeps
            // nothing alive.
            shared.keys.due_in(every)
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
    /// No client was given and [`HyperClient::new`] failed (rustls could
    /// not be set up).
    Tls,
    /// No fetch has succeeded yet.
    NotFetched,
    /// The fetch took longer than the fetch timeout.
    Timeout,
    /// The client got no answer (connection, TLS, the client's own time-out
    /// or size limit); the text says why.
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
            JwksError::InvalidUrl => {
                f.write_str("the JWKS URL is not an absolute https URL (http needs allow_http)")
            }
            JwksError::NoRuntime => {
                f.write_str("a JWKS source is built within a tokio runtime, and there is none")
            }
            JwksError::Tls => f.write_str("the HTTP client's TLS could not be set up"),
            JwksError::NotFetched => f.write_str("the JWK set has not been fetched yet"),
            JwksError::Timeout => {
                f.write_str("fetching the JWK set got no answer within the fetch timeout")
            }
            JwksError::Transport(why) => write!(f, "fetching the JWK set failed: {why}"),
            JwksError::Status(status) => match StatusCode::from_u16(*status) {
                Ok(status) => write!(f, "the JWKS URL answered {status} instead of 200 OK"),
                Err(_) => write!(f, "the JWKS URL answered {status} instead of 200 OK"),
            },
            JwksError::TooLarge => {
                f.write_str("the JWK set document is larger than the size limit")
            }
            JwksError::Invalid(error) => {
                write!(f, "the JWKS URL served no usable JWK set: {error}")
            }
        }
    }
}

impl From<KeySetError> for JwksError {
    fn from(error: KeySetError) -> Self {
        match error {
            KeySetError::Get(GetError::Url) => JwksError::InvalidUrl,
            KeySetError::Get(GetError::Transport(why)) => JwksError::Transport(why),
            KeySetError::Get(GetError::Status(status)) => JwksError::Status(status.as_u16()),
            KeySetError::TooLarge(_) => JwksError::TooLarge,
            KeySetError::Invalid(error) => JwksError::Invalid(error),
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
