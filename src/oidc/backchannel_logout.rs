//! The back-channel logout endpoint: the provider's logout token, checked,
//! ends sessions through the store.

use std::time::SystemTime;

use ::http::{Response, StatusCode};
use bytes::Bytes;

use super::backchannel::{LogoutTokenRefusal, LogoutTokenVerifier, sid_tag, sub_tag};
use super::response::no_store;
use super::{Endpoints, Failure, fail, url};
use crate::{SessionStore, reply};

impl<St: SessionStore> Endpoints<St> {
    /// Back-channel logout: the provider's logout token, checked, ends the
    /// sessions of its provider session (`sid`), else of its user (`sub`),
    /// through the store. Every failure is `400` (the specification's
    /// answer), with its reason.
    pub(super) async fn backchannel_logout(
        &self,
        form: Result<Vec<u8>, Failure>,
    ) -> Result<Response<Option<Bytes>>, Failure> {
        let refused = |reason: &'static str| fail(StatusCode::BAD_REQUEST, reason);
        let Some(backchannel) = &self.inner.backchannel else {
            return Err(fail(StatusCode::NOT_FOUND, "not_found"));
        };
        let form = form?;
        let token = url::form_urlencoded::parse(&form)
            .find(|(name, _)| name == "logout_token")
            .map(|(_, token)| token.into_owned())
            .ok_or(refused("missing_logout_token"))?;
        let provider = self.provider().await.map_err(|e| {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %e, "rstream-well-known: OpenID provider unavailable");
            let _ = e;
            refused("provider_unavailable")
        })?;
        let issuer = self.inner.issuer.as_str();
        let verifier = LogoutTokenVerifier::new(issuer, &self.inner.config.client_id)
            .leeway(self.inner.config.leeway);
        let now = SystemTime::now();
        let token = self
            .with_keys(&provider, LogoutTokenRefusal::UnknownSigningKey, |keys| {
                verifier.verify(&token, keys, now)
            })
            .await
            .map_err(|refusal| refused(refusal.reason()))?;
        if !backchannel.seen.first_time(&token, now) {
            return Err(refused(LogoutTokenRefusal::Replayed.reason()));
        }
        let tag = match (token.sid(), token.sub()) {
            (Some(sid), _) => sid_tag(issuer, sid),
            (None, Some(sub)) => sub_tag(issuer, sub),
            // The verifier refuses a token with neither.
            (None, None) => return Err(refused("missing_sid_and_sub")),
        };
        if (backchannel.revoke)(tag).await.is_err() {
            // The provider may send it again.
            backchannel.seen.forget(&token);
            return Err(refused(reply::SESSION_STORE_UNAVAILABLE));
        }
        no_store(Response::builder().status(StatusCode::OK))
            .body(None)
            .map_err(|_| refused("invalid_response"))
    }
}
