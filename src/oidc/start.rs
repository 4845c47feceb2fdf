//! The start endpoint: a new pending sign-in, sealed into the browser's
//! cookies, and the redirect to the provider.

use std::borrow::Cow;
use std::time::SystemTime;

use ::http::header::SET_COOKIE;
use ::http::request::Parts;
use ::http::{Response, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use bytes::Bytes;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, Scope};

use super::config::MAX_FLOW_COOKIES_READ;
use super::flow::{self, MAX_RETURN_TO_LEN, Pending};
use super::layer::query_param;
use super::response::{flow_cookie, redirect_response};
use super::{Endpoints, Failure, fail};
use crate::{CookiePairs, SessionStore};

impl<St: SessionStore> Endpoints<St> {
    /// The name of the browser binding's cookie on a tunnel of `origin`;
    /// the cookies of pending sign-ins are named after it.
    pub(super) fn binding_cookie_name(origin: &str) -> &'static str {
        if origin.starts_with("https:") {
            "__Host-rstream_oidc"
        } else {
            "rstream_oidc"
        }
    }

    /// The cookie that carries the pending sign-in of `state`: the binding
    /// cookie's name, `_`, and the state's first 16 characters (96 bits;
    /// the sealed state is compared whole).
    pub(super) fn flow_cookie_name(origin: &str, state: &str) -> String {
        let tag: String = state
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .take(16)
            .collect();
        format!("{}_{tag}", Self::binding_cookie_name(origin))
    }

    /// The flow cookies a start drops: the browser's pending sign-ins that
    /// do not open, have expired or belong to another binding, and its
    /// oldest while it would hold more than allowed with the new one.
    pub(super) fn stale_flows(
        &self,
        parts: &Parts,
        origin: &str,
        binding: &str,
        now: SystemTime,
    ) -> Vec<String> {
        let prefix = format!("{}_", Self::binding_cookie_name(origin));
        let mut stale = Vec::new();
        let mut live = Vec::new();
        let flows = CookiePairs::new(&parts.headers)
            // Only names this layer gives (16 base64url characters): another
            // name is not a flow cookie, and could not be removed by name.
            .filter(|(name, _)| {
                name.strip_prefix(prefix.as_bytes()).is_some_and(|tag| {
                    tag.len() == 16
                        && tag
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                })
            })
            .take(MAX_FLOW_COOKIES_READ);
        for (name, value) in flows {
            let name = String::from_utf8_lossy(name).into_owned();
            match self.inner.flow_keys.open(&name, value) {
                Ok(flow) if !flow.expired_at(now) && flow.binding == binding => {
                    live.push((flow.expires_us, name));
                }
                _ => stale.push(name),
            }
        }
        live.sort();
        let keep = self.inner.config.max_pending_per_browser - 1;
        let drop = live.len().saturating_sub(keep);
        stale.extend(live.into_iter().take(drop).map(|(_, name)| name));
        stale
    }

    pub(super) async fn start(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let tunnel = self.inner.sessions.tunnel_of(parts)?;
        let origin = tunnel.origin();
        let return_to = query_param(parts.uri.query(), "return_to")
            .filter(|r| r.len() <= MAX_RETURN_TO_LEN)
            .and_then(|r| self.inner.sessions.safe_return_url(&r).map(str::to_owned))
            .unwrap_or_else(|| "/".to_owned());
        let provider = self.provider().await.map_err(|e| {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %e, "rstream-well-known: OpenID provider unavailable");
            let _ = e;
            fail(StatusCode::BAD_GATEWAY, "provider_unavailable")
        })?;
        let binding_name = Self::binding_cookie_name(&origin);
        let binding = match CookiePairs::new(&parts.headers)
            .distinct_values(binding_name, 1)
            .as_deref()
        {
            Some([one]) if one.len() == 43 => String::from_utf8_lossy(one).into_owned(),
            _ => random_token(),
        };
        let state = random_token();
        let nonce = random_token();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let redirect = self.redirect_uri(&origin)?;
        let state_for_url = state.clone();
        let nonce_for_url = nonce.clone();
        let mut request = provider
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect));
        for scope in &self.inner.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        let now = SystemTime::now();
        let ttl = self.inner.config.flow_ttl;
        let name = Self::flow_cookie_name(&origin, &state);
        let pending = Pending {
            state,
            verifier: verifier.secret().clone(),
            nonce,
            return_to,
            origin: origin.clone(),
            expires_us: flow::expiry(now, ttl),
            binding: binding.clone(),
        };
        let sealed = self.inner.flow_keys.seal(&name, &pending);
        let https = origin.starts_with("https:");
        let mut response = redirect_response(url.as_str())?;
        let headers = response.headers_mut();
        for stale in self.stale_flows(parts, &origin, &binding, now) {
            headers.append(SET_COOKIE, flow_cookie(&stale, "", https, None)?);
        }
        headers.append(
            SET_COOKIE,
            flow_cookie(binding_name, &binding, https, Some(ttl))?,
        );
        headers.append(SET_COOKIE, flow_cookie(&name, &sealed, https, Some(ttl))?);
        Ok(response)
    }
}

/// 256 random bits, base64url (43 characters).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // getrandom fails only where the OS has no randomness at all; a
    // predictable value must never be used, so that is a panic.
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    Base64UrlUnpadded::encode_string(&bytes)
}
