//! The provider as discovery found it, and its key set: fetched through the
//! app's [`HttpClient`](super::HttpClient) on the crate's one
//! fetch-and-refresh mechanism ([`Refresher`](crate::refresh::Refresher):
//! one fetch in flight, a cached result, a cooldown after each fetch).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use ::http::Request;
use ::http::header::ACCEPT;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret};

use super::id_token::{IdTokenRefusal, IdTokenVerifier};
use super::{Client, Endpoints, allowed_url, url};
use crate::SessionStore;
use crate::jwt::{Claims, JwkSet};
use crate::refresh::Want;

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
        let providers = &self.inner.provider;
        let seen = providers.generation();
        if let Some(provider) = providers.current() {
            return Ok(provider);
        }
        let outcome = providers
            .refresh(seen, Want::AfterCooldown, || self.discover_now())
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

    async fn get_json(&self, url: &str) -> Result<Vec<u8>, DiscoveryError> {
        let request = Request::get(url)
            .header(ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| DiscoveryError::new(url, "not a valid request URL"))?;
        let response = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|error| DiscoveryError::new(url, crate::error::chain(&error)))?;
        if !response.status().is_success() {
            return Err(DiscoveryError::new(
                url,
                format!("answered {}", response.status().as_u16()),
            ));
        }
        Ok(response.into_body())
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
        let fail = |cause: &str| DiscoveryError::new(&url, cause);
        let body = self.get_json(&url).await?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
            .map_err(|_| fail("not an OpenID provider metadata document"))?;
        let extra: Extra = serde_json::from_slice(&body)
            .map_err(|_| fail("not an OpenID provider metadata document"))?;
        if metadata.issuer() != issuer {
            return Err(fail("the document names another issuer"));
        }
        let base = issuer.url();
        let mut urls = vec![
            metadata.authorization_endpoint().url(),
            metadata.jwks_uri().url(),
        ];
        urls.extend(metadata.token_endpoint().map(|u| u.url()));
        urls.extend(metadata.userinfo_endpoint().map(|u| u.url()));
        if metadata.token_endpoint().is_none() {
            return Err(fail("no token endpoint"));
        }
        let end_session = match extra.end_session_endpoint {
            Some(end) => {
                let parsed =
                    url::Url::parse(&end).map_err(|_| fail("end_session_endpoint is no URL"))?;
                if !allowed_url(&parsed, base) {
                    return Err(fail("an endpoint is not https"));
                }
                Some(end)
            }
            None => None,
        };
        if !urls.iter().all(|u| allowed_url(u, base)) {
            return Err(fail("an endpoint is not https"));
        }
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
        let body = self.get_json(url).await?;
        JwkSet::from_public_json(&body)
            .map_err(|error| DiscoveryError::new(url, crate::error::chain(&error)))
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
    /// the set again, at most once per key refresh interval and one fetch
    /// shared by concurrent callers, and runs it once more.
    pub(super) async fn with_keys<T, R: PartialEq>(
        &self,
        provider: &Provider,
        unknown: R,
        check: impl Fn(&JwkSet) -> Result<T, R>,
    ) -> Result<T, R> {
        let keys = &self.inner.keys;
        let seen = keys.generation();
        let current = keys.current().unwrap_or_default();
        match check(&current) {
            Err(refusal) if refusal == unknown => {
                let jwks_uri = provider.metadata.jwks_uri().url().as_str();
                let Some(fresh) = keys
                    .refresh(seen, Want::AfterCooldown, || self.fetch_keys(jwks_uri))
                    .await
                    .value
                else {
                    return Err(refusal);
                };
                check(&fresh)
            }
            outcome => outcome,
        }
    }
}
