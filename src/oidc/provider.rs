//! The provider as discovery found it, and its key set: fetched through the
//! app's [`HttpClient`](crate::http_client::HttpClient) on the crate's one
//! fetch-and-refresh mechanism ([`Refresher`](crate::refresh::Refresher):
//! one fetch in flight, a cached result, a cooldown after each fetch, a
//! refetch for an unknown key id at most once per cooldown), with the one
//! key set fetch [`JwksSource`](crate::jwt::JwksSource) uses too.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret};

use super::id_token::{IdTokenRefusal, IdTokenVerifier};
use super::{Client, Endpoints, allowed_url, url};
use crate::SessionStore;
use crate::jwt::{Claims, JwkSet};
use crate::refresh::{KEY_SET_MAX_SIZE, Want, fetch_jwk_set};

/// What discovery found.
pub(super) struct Provider {
    pub(super) metadata: CoreProviderMetadata,
    pub(super) client: Client,
    pub(super) end_session: Option<String>,
    pub(super) iss_supported: bool,
}

/// Why the provider could not be used: its discovery document or key set
/// could not be fetched or is not acceptable. Names the URL and the cause
/// (never a secret: these are public documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    url: String,
    cause: String,
}

impl DiscoveryError {
    fn new(url: &str, cause: impl Into<String>) -> Self {
        Self {
            url: url.to_owned(),
            cause: cause.into(),
        }
    }

    /// The URL fetched: the discovery document's or the key set's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What went wrong: the HTTP client's error, the status, or what the
    /// document lacks.
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OpenID provider discovery failed: {}: {}",
            self.url, self.cause
        )
    }
}

impl std::error::Error for DiscoveryError {}

impl<St: SessionStore> Endpoints<St> {
    /// The provider: discovered on first use; a failed discovery is the
    /// answer until the key refresh interval has passed, and concurrent
    /// callers share one discovery.
    pub(super) async fn provider(&self) -> Result<Arc<Provider>, DiscoveryError> {
        let outcome = self
            .inner
            .provider
            .fitting(|_| true, || self.discover_now())
            .await;
        match (outcome.value, outcome.error) {
            (Some(provider), _) => Ok(provider),
            (None, Some(error)) => Err(error),
            (None, None) => Err(DiscoveryError::new(
                &self.discovery_url(),
                "not discovered yet",
            )),
        }
    }

    fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.inner.issuer.as_str().trim_end_matches('/')
        )
    }

    async fn discover_now(&self) -> Result<Provider, DiscoveryError> {
        #[derive(serde::Deserialize)]
        struct Extra {
            end_session_endpoint: Option<String>,
            #[serde(default)]
            authorization_response_iss_parameter_supported: bool,
        }
        let issuer = &self.inner.issuer;
        let url = self.discovery_url();
        let fail = |cause: String| DiscoveryError::new(&url, cause);
        let body = crate::http_client::get(&*self.inner.http, &url, "application/json")
            .await
            .map_err(|error| fail(error.to_string()))?;
        let not_metadata = |error: serde_json::Error| {
            fail(format!("not an OpenID provider metadata document: {error}"))
        };
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body).map_err(not_metadata)?;
        let extra: Extra = serde_json::from_slice(&body).map_err(not_metadata)?;
        if metadata.issuer() != issuer {
            return Err(fail(format!(
                "the document names the issuer {:?}, not {:?}",
                metadata.issuer().as_str(),
                issuer.as_str()
            )));
        }
        let base = issuer.url();
        let mut urls = vec![
            (
                "authorization_endpoint",
                metadata.authorization_endpoint().url(),
            ),
            ("jwks_uri", metadata.jwks_uri().url()),
        ];
        match metadata.token_endpoint() {
            Some(token) => urls.push(("token_endpoint", token.url())),
            None => return Err(fail("the document names no token_endpoint".to_owned())),
        }
        urls.extend(
            metadata
                .userinfo_endpoint()
                .map(|u| ("userinfo_endpoint", u.url())),
        );
        let not_https = |name: &str, url: &str| fail(format!("{name} {url:?} is not an https URL"));
        if let Some((name, url)) = urls.iter().find(|(_, u)| !allowed_url(u, base)) {
            return Err(not_https(name, url.as_str()));
        }
        let end_session = match extra.end_session_endpoint {
            Some(end) => {
                let parsed = url::Url::parse(&end).map_err(|error| {
                    fail(format!(
                        "end_session_endpoint {end:?} is not a URL: {error}"
                    ))
                })?;
                if !allowed_url(&parsed, base) {
                    return Err(not_https("end_session_endpoint", &end));
                }
                Some(end)
            }
            None => None,
        };
        // The key set now, whatever its cooldown: discovery fails when it
        // cannot be had.
        let jwks_uri = metadata.jwks_uri().url().as_str().to_owned();
        let keys = &self.inner.keys;
        let outcome = keys
            .refresh(keys.generation(), Want::Now, || self.fetch_keys(&jwks_uri))
            .await;
        if let Some(error) = outcome.error {
            return Err(error);
        }
        Ok(Provider {
            client: self.client(&metadata),
            metadata,
            end_session,
            iss_supported: extra.authorization_response_iss_parameter_supported,
        })
    }

    fn client(&self, metadata: &CoreProviderMetadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.inner.config.client_id.clone()),
            self.inner
                .config
                .client_secret
                .clone()
                .map(ClientSecret::new),
        )
    }

    async fn fetch_keys(&self, url: &str) -> Result<JwkSet, DiscoveryError> {
        fetch_jwk_set(&*self.inner.http, url, KEY_SET_MAX_SIZE)
            .await
            .map_err(|error| DiscoveryError::new(url, error.to_string()))
    }

    /// Checks the ID token with the provider's keys (see
    /// [`with_keys`](Self::with_keys)): the token's claims.
    pub(super) async fn check_id_token(
        &self,
        provider: &Provider,
        id_token: &str,
        access_token: &str,
        nonce: &str,
    ) -> Result<Claims, IdTokenRefusal> {
        let verifier =
            IdTokenVerifier::new(self.inner.issuer.as_str(), &self.inner.config.client_id)
                .leeway(self.inner.config.leeway);
        self.with_keys(provider, IdTokenRefusal::UnknownSigningKey, |keys| {
            verifier.verify(id_token, keys, nonce, Some(access_token), SystemTime::now())
        })
        .await
    }

    /// Runs `check` (an ID token's or a logout token's) with the provider's
    /// key set; when it answers `unknown` (no key for the token), fetches
    /// the set again on the rule every key set follows
    /// ([`Refresher::fitting`](crate::refresh::Refresher::fitting): at most
    /// once per key refresh interval, one fetch shared by concurrent
    /// callers), and runs it once more.
    pub(super) async fn with_keys<T, R: PartialEq>(
        &self,
        provider: &Provider,
        unknown: R,
        check: impl Fn(&JwkSet) -> Result<T, R>,
    ) -> Result<T, R> {
        let jwks_uri = provider.metadata.jwks_uri().url().as_str();
        let mut checked = None;
        let outcome = self
            .inner
            .keys
            .fitting(
                |set| {
                    let result = check(set);
                    let fits = !matches!(&result, Err(refusal) if *refusal == unknown);
                    checked = fits.then_some(result);
                    fits
                },
                || self.fetch_keys(jwks_uri),
            )
            .await;
        match (checked, outcome.value) {
            (Some(result), _) => result,
            (None, Some(fresh)) => check(&fresh),
            (None, None) => Err(unknown),
        }
    }
}
