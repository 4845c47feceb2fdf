//! The sign-out endpoint: the browser's sessions revoked, its cookie
//! cleared, and the redirect to the provider's end-session endpoint.

use ::http::header::SET_COOKIE;
use ::http::request::Parts;
use ::http::{Response, StatusCode};
use bytes::Bytes;
use serde_json::Value;

use super::response::redirect_response;
use super::{Endpoints, Failure, ID_TOKEN_ATTRIBUTE, fail, url};
use crate::{SessionStore, reply};

impl<St: SessionStore> Endpoints<St> {
    pub(super) async fn sign_out(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let sessions = &self.inner.sessions;
        sessions.check_origin_parts(parts)?;
        let tunnel = sessions.tunnel_of(parts)?;
        // As logout: revoking only some values could leave the real one
        // working.
        let presented = sessions.presented_sessions(&parts.headers).ok_or(fail(
            StatusCode::BAD_REQUEST,
            reply::TOO_MANY_SESSION_COOKIES,
        ))?;
        let mut hint = None;
        for id in &presented {
            if hint.is_some() {
                break;
            }
            if let Ok(Some(session)) = sessions.load_session(id).await {
                hint = session
                    .user()
                    .attribute(ID_TOKEN_ATTRIBUTE)
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        sessions.revoke_sessions(&presented).await.map_err(|_| {
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                reply::SESSION_STORE_UNAVAILABLE,
            )
        })?;
        let after = format!("{}{}", tunnel.origin(), self.inner.config.post_logout_path);
        let end_session = match self.provider().await {
            Ok(provider) => provider.end_session.clone(),
            Err(_) => None,
        };
        let location = match end_session {
            Some(end) => {
                let mut url = url::Url::parse(&end)
                    .map_err(|_| fail(StatusCode::BAD_GATEWAY, "bad_end_session"))?;
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("client_id", &self.inner.config.client_id);
                    query.append_pair("post_logout_redirect_uri", &after);
                    if let Some(hint) = &hint {
                        query.append_pair("id_token_hint", hint);
                    }
                }
                url.to_string()
            }
            None => self.inner.config.post_logout_path.clone(),
        };
        let mut response = redirect_response(&location)?;
        response
            .headers_mut()
            .append(SET_COOKIE, sessions.removal_cookie());
        Ok(response)
    }
}
