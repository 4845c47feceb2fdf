//! The two endpoints, and the layer's error answers.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS,
};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use serde::Serialize;

use crate::backend;
use crate::credentials::{CookieValues, MAX_REVOCATIONS, session_cookie_values};
use crate::identity::Identity;
use crate::layer::Config;
use crate::origin::same_origin;
use crate::resolver::{resolve, token_identity};
use crate::store::SessionStore;
use crate::syntax::trim_ows;
use crate::token::TokenVerifier;
use crate::tunnel::Tunnel;

/// The answer type: the layer's own bytes (`None` for no body).
pub(crate) type Reply = Response<Option<Bytes>>;

/// Which well-known path a request is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Endpoint {
    Session,
    Logout,
    NotFound,
}

/// The session endpoint's answer when authentication cannot be resolved.
const UNAUTHENTICATED: &[u8] = br#"{"auth":{"authenticated":false}}"#;

/// Answers a well-known request on `tunnel`. A `HEAD` request gets the
/// status and headers a `GET` would get, without the body.
pub(crate) async fn answer<V, St, B>(
    config: Arc<Config<V, St>>,
    tunnel: Tunnel,
    endpoint: Endpoint,
    request: Request<B>,
) -> Reply
where
    V: TokenVerifier,
    St: SessionStore,
    B: Body,
{
    let (parts, body) = request.into_parts();
    let head = parts.method == Method::HEAD;
    let mut reply = match endpoint {
        Endpoint::NotFound => error(StatusCode::NOT_FOUND, "not_found"),
        Endpoint::Session => session(&config, &tunnel, &parts).await,
        Endpoint::Logout => logout(&config, &tunnel, parts, body).await,
    };
    if head {
        // Content-Length stays: it describes the body a GET would get.
        *reply.body_mut() = None;
    }
    reply
}

/// The `400` answer to a well-known request whose host is missing, repeated,
/// malformed or ambiguous; `HEAD` gets it without the body.
pub(crate) fn bad_request(method: &Method, reason: &'static str) -> Reply {
    let mut reply = error(StatusCode::BAD_REQUEST, reason);
    if method == Method::HEAD {
        *reply.body_mut() = None;
    }
    reply
}

async fn session<V, St>(config: &Config<V, St>, tunnel: &Tunnel, request: &Parts) -> Reply
where
    V: TokenVerifier,
    St: SessionStore,
{
    if !matches!(request.method, Method::GET | Method::HEAD) {
        return method_not_allowed("GET, HEAD");
    }
    let identity = resolve(
        config,
        tunnel,
        &request.method,
        &request.uri,
        &request.headers,
    )
    .await;
    let body = match identity {
        Some(identity) => session_document(&identity, tunnel, &config.policies),
        None => Bytes::from_static(UNAUTHENTICATED),
    };
    json(StatusCode::OK, body)
}

fn session_document(identity: &Identity, tunnel: &Tunnel, policies: &[String]) -> Bytes {
    #[derive(Serialize)]
    struct Document<'a> {
        auth: Auth,
        user: UserJson<'a>,
        tunnel: TunnelJson<'a>,
        policies: &'a [String],
    }
    #[derive(Serialize)]
    struct Auth {
        authenticated: bool,
        method: &'static str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct UserJson<'a> {
        user_id: &'a str,
        name: Option<&'a str>,
        email: Option<&'a str>,
        image: Option<&'a str>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TunnelJson<'a> {
        host: &'a str,
        workspace_id: &'a str,
        project_id: &'a str,
    }
    let user = identity.user();
    let document = Document {
        auth: Auth {
            authenticated: true,
            method: identity.method().as_str(),
        },
        user: UserJson {
            user_id: user.user_id(),
            name: user.name(),
            email: user.email(),
            image: user.image(),
        },
        tunnel: TunnelJson {
            host: tunnel.host(),
            workspace_id: tunnel.workspace_id(),
            project_id: tunnel.project_id(),
        },
        policies,
    };
    // Serialising borrowed strings cannot fail; were it to, the answer falls
    // back to "not authenticated" rather than to an error or a partial document.
    serde_json::to_vec(&document).map_or(Bytes::from_static(UNAUTHENTICATED), Bytes::from)
}

async fn logout<V, St, B>(config: &Config<V, St>, tunnel: &Tunnel, parts: Parts, body: B) -> Reply
where
    V: TokenVerifier,
    St: SessionStore,
    B: Body,
{
    if parts.method != Method::POST {
        return method_not_allowed("POST");
    }
    if let Err(reason) = same_origin(&parts.headers, tunnel.origin_ref()) {
        return error(StatusCode::FORBIDDEN, reason);
    }
    if let Err((status, reason)) = check_body(&parts.headers, &body) {
        return error(status, reason);
    }
    drop(body);
    // A token-authenticated logout is a no-op, whatever cookie comes with it.
    if token_identity(config, tunnel, &parts.method, &parts.uri, &parts.headers)
        .await
        .is_some()
    {
        return no_content(None);
    }
    let Some(sessions) = &config.sessions else {
        return no_content(None);
    };
    let ids = match session_cookie_values(
        &parts.headers,
        sessions.cookie().cookie_name(),
        MAX_REVOCATIONS,
    ) {
        CookieValues::Candidates(ids) => ids,
        // Revoking only some values could leave the real one working.
        CookieValues::TooMany => {
            return error(StatusCode::BAD_REQUEST, "too_many_session_cookies");
        }
    };
    // The request is authenticated through rstream Auth when any value names
    // a live session: the real cookie beside planted ones (cookie tossing)
    // included, which is why every value is revoked, not only "the" session.
    // A value the store could not look up may be live too.
    let mut signed_in = false;
    for id in &ids {
        match backend::call("session store (load)", sessions.store().load(id)).await {
            Some(None) => {}
            Some(Some(_)) | None => {
                signed_in = true;
                break;
            }
        }
    }
    if !signed_in {
        // Unauthenticated (no cookie, or only values of no live session).
        return no_content(None);
    }
    let mut all_revoked = true;
    for id in &ids {
        all_revoked &= backend::call("session store (revoke)", sessions.store().revoke(id))
            .await
            .is_some();
    }
    if all_revoked {
        no_content(Some(sessions.removal_cookie()))
    } else {
        // The old cookie could still work once the store recovers: do not
        // tell the browser it is signed out.
        error(StatusCode::SERVICE_UNAVAILABLE, "session_store_unavailable")
    }
}

/// The logout body rule, decided from the request's metadata alone so that
/// no body is ever waited for: a body declared as JSON (exactly one
/// `Content-Type` of media type `application/json`) is accepted unread; any
/// other body must be known to be empty (`Content-Length: 0`, or the end of
/// the stream already reached), else `415` when it is known to hold data and
/// `411` when its length is not declared.
fn check_body<B: Body>(headers: &HeaderMap, body: &B) -> Result<(), (StatusCode, &'static str)> {
    if is_json(headers) || body.is_end_stream() || body.size_hint().upper() == Some(0) {
        Ok(())
    } else if body.size_hint().lower() > 0 {
        Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"))
    } else {
        Err((StatusCode::LENGTH_REQUIRED, "length_required"))
    }
}

/// Whether the request declares exactly one `Content-Type` whose media type
/// is `application/json` (any letter case, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let media_type = value
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    trim_ows(media_type).eq_ignore_ascii_case(b"application/json")
}

fn base(status: StatusCode) -> Response<Option<Bytes>> {
    let mut response = Response::new(None);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(status: StatusCode, body: Bytes) -> Reply {
    let mut response = base(status);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *response.body_mut() = Some(body);
    response
}

/// An error answer: `{"error":"<reason>"}`, with a stable reason.
fn error(status: StatusCode, reason: &'static str) -> Reply {
    let body = format!(r#"{{"error":"{reason}"}}"#);
    json(status, Bytes::from(body))
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn no_content(set_cookie: Option<HeaderValue>) -> Reply {
    let mut response = base(StatusCode::NO_CONTENT);
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}
