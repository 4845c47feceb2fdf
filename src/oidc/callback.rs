//! The callback endpoint: the pending sign-in opened and checked, the code
//! exchanged, the ID token verified, the user signed in.

use std::borrow::Cow;
use std::time::SystemTime;

use ::http::header::{ACCEPT, AUTHORIZATION, SET_COOKIE};
use ::http::request::Parts;
use ::http::{Request, Response, StatusCode};
use bytes::Bytes;
use openidconnect::{
    AuthorizationCode, OAuth2TokenResponse as _, PkceCodeVerifier, RequestTokenError,
    TokenResponse as _,
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::backchannel::{sid_tag, sub_tag};
use super::flow::Pending;
use super::layer::query_param;
use super::response::{flow_cookie, redirect_response};
use super::{
    Endpoints, Failure, HttpClient, HttpError, HttpFuture, ID_TOKEN_ATTRIBUTE, OidcClaims, fail,
};
use crate::{CookiePairs, SessionStore, reply};

/// The user's client as `openidconnect` calls it.
struct Adapter<'a>(&'a dyn HttpClient);

impl<'c> openidconnect::AsyncHttpClient<'c> for Adapter<'_> {
    type Error = HttpError;
    type Future = HttpFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        self.0.send(request)
    }
}
impl<St: SessionStore> Endpoints<St> {
    /// The callback: the pending sign-in is consumed (its cookie removed)
    /// whatever the outcome.
    pub(super) async fn callback(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let state = query_param(parts.uri.query(), "state")
            .ok_or(fail(StatusCode::BAD_REQUEST, "missing_state"))?;
        let tunnel = self.inner.sessions.tunnel_of(parts)?;
        let origin = tunnel.origin();
        let name = Self::flow_cookie_name(&origin, &state);
        let consumed = flow_cookie(&name, "", origin.starts_with("https:"), None)?;
        match self.finish(parts, &state, &name, &origin).await {
            Ok(mut response) => {
                response.headers_mut().append(SET_COOKIE, consumed);
                Ok(response)
            }
            Err(mut failure) => {
                failure.set_cookie = Some(consumed);
                Err(failure)
            }
        }
    }

    /// The pending sign-in of `state`, from its cookie `name`, checked
    /// against the browser and the tunnel (`origin`).
    pub(super) fn pending(
        &self,
        parts: &Parts,
        state: &str,
        name: &str,
        origin: &str,
    ) -> Result<Pending, Failure> {
        let unknown = || fail(StatusCode::BAD_REQUEST, "unknown_state");
        let value = match CookiePairs::new(&parts.headers)
            .distinct_values(name, 1)
            .as_deref()
        {
            Some([]) => return Err(unknown()),
            Some([one]) => *one,
            // Two values under one name: one was planted.
            _ => return Err(fail(StatusCode::FORBIDDEN, "browser_mismatch")),
        };
        let flow = self
            .inner
            .flow_keys
            .open(name, value)
            .map_err(|e| fail(StatusCode::BAD_REQUEST, e.reason()))?;
        if !bool::from(flow.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(unknown());
        }
        if flow.expired_at(SystemTime::now()) {
            return Err(fail(StatusCode::BAD_REQUEST, "sign_in_expired"));
        }
        // The browser binding, before anything else is looked at.
        let binding_name = Self::binding_cookie_name(&flow.origin);
        let bound = match CookiePairs::new(&parts.headers)
            .distinct_values(binding_name, 1)
            .as_deref()
        {
            Some([one]) => bool::from(one.ct_eq(flow.binding.as_bytes())),
            Some([]) => return Err(fail(StatusCode::FORBIDDEN, "missing_browser_binding")),
            _ => false,
        };
        if !bound {
            return Err(fail(StatusCode::FORBIDDEN, "browser_mismatch"));
        }
        if flow.origin != origin {
            return Err(fail(StatusCode::FORBIDDEN, "tunnel_mismatch"));
        }
        Ok(flow)
    }

    /// The rest of the callback, once its pending sign-in's cookie is known.
    pub(super) async fn finish(
        &self,
        parts: &Parts,
        state: &str,
        name: &str,
        origin: &str,
    ) -> Result<Response<Option<Bytes>>, Failure> {
        let query = parts.uri.query();
        let flow = self.pending(parts, state, name, origin)?;
        let provider = self
            .provider()
            .await
            .map_err(|_| fail(StatusCode::BAD_GATEWAY, "provider_unavailable"))?;
        // RFC 9207: the mix-up defence.
        match query_param(query, "iss") {
            Some(iss) if iss != self.inner.issuer.as_str() => {
                return Err(fail(StatusCode::BAD_REQUEST, "issuer_mismatch"));
            }
            None if provider.iss_supported => {
                return Err(fail(StatusCode::BAD_REQUEST, "missing_issuer"));
            }
            _ => {}
        }
        if let Some(error) = query_param(query, "error") {
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_lowercase() || *c == '_')
                .take(64)
                .collect();
            return Err(Failure {
                status: StatusCode::FORBIDDEN,
                reason: Cow::Owned(format!("provider_error_{code}")),
                set_cookie: None,
            });
        }
        let code =
            query_param(query, "code").ok_or(fail(StatusCode::BAD_REQUEST, "missing_code"))?;
        let redirect = self.redirect_uri(&flow.origin)?;
        let http = Adapter(&*self.inner.http);
        let token = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| fail(StatusCode::BAD_GATEWAY, "no_token_endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&http)
            .await
            .map_err(|e| {
                if let RequestTokenError::ServerResponse(answer) = &e {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %answer.error(), "rstream-well-known: the OpenID provider refused the code exchange");
                    let _ = answer;
                }
                fail(StatusCode::BAD_GATEWAY, "token_exchange_failed")
            })?;
        let id_token = token
            .id_token()
            .ok_or(fail(StatusCode::BAD_GATEWAY, "no_id_token"))?;
        let id_token_text = id_token.to_string();
        let id_claims = self
            .check_id_token(
                &provider,
                &id_token_text,
                token.access_token().secret(),
                &flow.nonce,
            )
            .await
            .map_err(|refusal| fail(StatusCode::BAD_GATEWAY, refusal.reason()))?;
        let mut claims = OidcClaims {
            issuer: self.inner.issuer.as_str().to_owned(),
            subject: id_claims.subject().unwrap_or_default().to_owned(),
            id_token: id_claims.as_map().clone(),
            userinfo: None,
        };
        let has_profile = ["name", "preferred_username", "email", "picture"]
            .iter()
            .any(|c| claims.id_token.contains_key(*c));
        if !has_profile {
            if let Some(endpoint) = provider.metadata.userinfo_endpoint() {
                claims.userinfo = Some(
                    self.userinfo(
                        endpoint.url().as_str(),
                        token.access_token().secret(),
                        &claims.subject,
                    )
                    .await?,
                );
            }
        }
        let mut user = claims.user(self.inner.config.namespace_user_ids);
        if let Some(map) = &self.inner.config.map_user {
            user = map(&claims, user).map_err(|refused| Failure {
                status: StatusCode::FORBIDDEN,
                reason: Cow::Owned(refused.0),
                set_cookie: None,
            })?;
        }
        let user = user.with_attribute(ID_TOKEN_ATTRIBUTE, id_token_text);
        // Session fixation: every session the browser presented ends. More
        // values than can be revoked are refused, as logout refuses them:
        // minting a session beside one that stays live is no sign-in.
        let sessions = &self.inner.sessions;
        let presented = sessions.presented_sessions(&parts.headers).ok_or(fail(
            StatusCode::BAD_REQUEST,
            reply::TOO_MANY_SESSION_COOKIES,
        ))?;
        // Every one is tried; any failure refuses the sign-in.
        sessions.revoke_sessions(&presented).await.map_err(|_| {
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                reply::SESSION_STORE_UNAVAILABLE,
            )
        })?;
        // The tags back-channel logout finds the session by: the provider's
        // user and, when the ID token names one, the provider session.
        let issuer = self.inner.issuer.as_str();
        let mut tags = vec![sub_tag(issuer, &claims.subject)];
        if let Some(sid) = id_claims.get_str("sid").filter(|sid| !sid.is_empty()) {
            tags.push(sid_tag(issuer, sid));
        }
        let signed_in = sessions
            .sign_in_tagged(user, tags)
            .await
            .map_err(|e| match e {
                crate::SignInError::ProfileTooLarge { .. } | crate::SignInError::EmptyUserId => {
                    fail(StatusCode::BAD_GATEWAY, "unusable_profile")
                }
                _ => fail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    reply::SESSION_STORE_UNAVAILABLE,
                ),
            })?;
        let mut response = redirect_response(&flow.return_to)?;
        response
            .headers_mut()
            .append(SET_COOKIE, signed_in.into_set_cookie());
        Ok(response)
    }

    pub(super) async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
        subject: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let failed = || fail(StatusCode::BAD_GATEWAY, "userinfo_failed");
        let request = Request::get(url)
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, format!("Bearer {access_token}"))
            .body(Vec::new())
            .map_err(|_| failed())?;
        let response = self.inner.http.send(request).await.map_err(|_| failed())?;
        if !response.status().is_success() {
            return Err(failed());
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(response.body()).map_err(|_| failed())?;
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(fail(StatusCode::BAD_GATEWAY, "userinfo_subject_mismatch"));
        }
        Ok(claims)
    }
}
