//! The two endpoints, and the layer's error answers.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;

use crate::backend::{self, Deadline, Reached};
use crate::caller_resolution::{
    Awaiting, Found, Head, Resolution, resolve, resolve_at_once, verify_token,
};
use crate::config::Config;
use crate::credentials::{CookieValues, Fields, MAX_LOOKUPS, MAX_REVOCATIONS};
use crate::future::PendingGate;
use crate::identity::{AuthMethod, Identity};
use crate::origin::same_origin;
use crate::reply::{self, method_not_allowed, no_content};
pub(crate) use crate::reply::{error, for_method};
use crate::store::SessionStore;
use crate::syntax::trim_ows;
use crate::token::{TokenVerdict, TokenVerifier};
use crate::tunnel::{HostMatch, RequestHost, Tunnel};

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

/// An answer to a well-known request: known at once, or to be computed by
/// awaiting the verifier and the store.
pub(crate) enum Answer<F> {
    Ready(Reply),
    /// Boxed because it awaits the application's backends; it holds the
    /// request's method, URI and credentials, never its body. Typed as a
    /// gate that never lets the request through (to the inner service's
    /// future `F`), so that the response future has one boxed kind.
    Pending(PendingGate<F>),
}

/// The tunnel of a well-known request, or what becomes of a request whose
/// host is no tunnel (forwarded) or invalid (`400`). The credentials found,
/// which borrow the request's header fields, are dropped first.
macro_rules! tunnel_or_return {
    ($matched:expr, $found:ident, $request:ident) => {
        match $matched {
            HostMatch::Tunnel(tunnel) => tunnel,
            HostMatch::None => {
                drop($found);
                return Outcome::Forward($request);
            }
            HostMatch::Invalid(reason) => {
                drop($found);
                return Outcome::Answer(Answer::Ready(bad_request($request.method(), reason)));
            }
        }
    };
}

/// What becomes of a well-known request.
pub(crate) enum Outcome<B, F> {
    /// The layer answers it.
    Answer(Answer<F>),
    /// Its host is no tunnel: it is forwarded, untouched.
    Forward(Request<B>),
}

/// Answers a well-known request, or gives it back to be forwarded when its
/// host is no tunnel.
///
/// The request's header fields are read in one pass (host, token, session
/// cookie). Everything decided from the head alone (host, method,
/// cross-origin check, body rule, no credentials at all) is answered at
/// once; only the resolution of the caller is awaited. A `HEAD` request gets
/// the status and headers a `GET` would get, without the body.
#[inline(always)]
pub(crate) fn answer<V, St, B, F>(
    config: &Arc<Config<V, St>>,
    endpoint: Endpoint,
    request: Request<B>,
) -> Outcome<B, F>
where
    V: TokenVerifier,
    St: SessionStore,
    B: Body,
    F: 'static,
{
    let answer = match endpoint {
        Endpoint::NotFound => {
            let (matched, found) = on_tunnel::<_, _, _, 0>(config, &request, false);
            tunnel_or_return!(matched, found, request);
            Answer::Ready(for_method(
                request.method(),
                error(StatusCode::NOT_FOUND, reply::NOT_FOUND),
            ))
        }
        Endpoint::Session => {
            let (matched, found) = on_tunnel::<_, _, _, MAX_LOOKUPS>(config, &request, true);
            let tunnel = tunnel_or_return!(matched, found, request);
            let method = request.method();
            if !matches!(*method, Method::GET | Method::HEAD) {
                let reply = method_not_allowed("GET, HEAD");
                return Outcome::Answer(Answer::Ready(for_method(method, reply)));
            }
            if found.is_empty() {
                return Outcome::Answer(Answer::Ready(for_method(method, unauthenticated())));
            }
            // Answered from the request as it is, when the backends allow;
            // the method and URI are only taken out of it to be awaited.
            if let Some(resolved) = resolve_at_once(config, &tunnel, method, request.uri(), &found)
            {
                let reply = session_reply(config, &tunnel, method, resolved.identity());
                return Outcome::Answer(Answer::Ready(reply));
            }
            let found = found.into_owned();
            let (parts, body) = request.into_parts();
            drop(body);
            let head = Head {
                method: parts.method,
                uri: parts.uri,
            };
            let answer = session(Arc::clone(config), tunnel.into_owned(), head, found);
            Answer::Pending(Box::pin(async move { Err(answer.await) }))
        }
        Endpoint::Logout => {
            let (matched, found) = on_tunnel::<_, _, _, MAX_REVOCATIONS>(config, &request, true);
            let tunnel = tunnel_or_return!(matched, found, request);
            let found = found.into_owned();
            let (parts, body) = request.into_parts();
            if parts.method != Method::POST {
                let reply = method_not_allowed("POST");
                return Outcome::Answer(Answer::Ready(for_method(&parts.method, reply)));
            }
            if let Err(reason) = same_origin(&parts.headers, tunnel.origin_ref()) {
                return Outcome::Answer(Answer::Ready(error(StatusCode::FORBIDDEN, reason)));
            }
            if let Err((status, reason)) = check_body(&parts.headers, &body) {
                return Outcome::Answer(Answer::Ready(error(status, reason)));
            }
            drop(body);
            if found.is_empty() {
                // Unauthenticated: the spec's no-op.
                return Outcome::Answer(Answer::Ready(no_content(None)));
            }
            let head = Head {
                method: parts.method,
                uri: parts.uri,
            };
            let answer = logout(Arc::clone(config), tunnel.into_owned(), head, found);
            Answer::Pending(Box::pin(async move { Err(answer.await) }))
        }
    };
    Outcome::Answer(answer)
}

/// Reads a well-known request's header fields in one pass: which tunnel its
/// host names, and its credentials (at most `N` session cookie values; none
/// unless `credentials`).
fn on_tunnel<'c, 'r, V, St, B, const N: usize>(
    config: &'c Config<V, St>,
    request: &'r Request<B>,
    credentials: bool,
) -> (HostMatch<'c>, Found<'r, N>)
where
    St: SessionStore,
{
    read_head(
        config,
        request.uri(),
        request.version(),
        request.headers(),
        credentials,
    )
}

/// Reads a request head's header fields in one pass: which tunnel its host
/// names, and its credentials (at most `N` session cookie values; none
/// unless `credentials`). Well-known requests, forwarded requests whose
/// caller is resolved, and [`WellKnownLayer::resolve`](crate::WellKnownLayer::resolve)
/// all read requests through it.
pub(crate) fn read_head<'c, 'h, V, St, const N: usize>(
    config: &'c Config<V, St>,
    uri: &Uri,
    version: Version,
    headers: &'h HeaderMap,
    credentials: bool,
) -> (HostMatch<'c>, Found<'h, N>)
where
    St: SessionStore,
{
    let fields = Fields::<N>::read(
        headers,
        uri.query(),
        credentials && config.tokens.is_some(),
        match &config.sessions {
            Some(sessions) if credentials => Some(sessions.cookie_finder()),
            _ => None,
        },
    );
    let host = RequestHost {
        uri,
        version,
        field: fields.host,
        repeated: fields.hosts_repeated,
    };
    let found = Found {
        token: fields.token,
        cookies: fields.cookies,
    };
    (config.tunnels.for_request(&host), found)
}

/// The `400` answer to a well-known request whose host is missing, repeated,
/// malformed or ambiguous; `HEAD` gets it without the body.
pub(crate) fn bad_request(method: &Method, reason: &'static str) -> Reply {
    for_method(method, error(StatusCode::BAD_REQUEST, reason))
}

/// The session endpoint's answer, once the caller must be resolved.
///
/// A plain function returning an `async move` block rather than an
/// `async fn`: an `async fn` moves each argument into a second slot of its
/// state when it starts, and this state is boxed on every such request.
#[allow(clippy::manual_async_fn)] // On purpose: see above.
fn session<V, St>(
    config: Arc<Config<V, St>>,
    tunnel: Tunnel,
    head: Head,
    found: Found<'static, MAX_LOOKUPS>,
) -> impl Future<Output = Reply> + Send
where
    V: TokenVerifier,
    St: SessionStore,
{
    async move {
        let identity = resolve::<Awaiting, _, _, MAX_LOOKUPS>(
            &config,
            &tunnel,
            &head.method,
            &head.uri,
            &found,
        )
        .await
        .and_then(Resolution::identity);
        session_reply(&config, &tunnel, &head.method, identity)
    }
}

/// The session endpoint's answer for a resolved caller.
#[inline(always)]
fn session_reply<V, St>(
    config: &Config<V, St>,
    tunnel: &Tunnel,
    method: &Method,
    identity: Option<Identity>,
) -> Reply {
    let reply = match identity {
        Some(identity) => {
            let (body, headers) =
                identity
                    .user()
                    .document(identity.method(), tunnel, &config.policies_json, || {
                        let body = session_document(&identity, tunnel, &config.policies_json);
                        let headers = json_headers_for(body.len());
                        (body, headers)
                    });
            reply_with(StatusCode::OK, body, headers)
        }
        None => unauthenticated(),
    };
    for_method(method, reply)
}

/// The session endpoint's answer when authentication cannot be resolved.
fn unauthenticated() -> Reply {
    json(StatusCode::OK, Bytes::from_static(UNAUTHENTICATED))
}

/// The headers of every JSON answer, built once: cloning them is cheaper than
/// inserting them one by one. The length is a placeholder, replaced in place
/// (so the clone never grows); a body as long as the unauthenticated
/// document (the commonest answer) gets a set whose length is already right.
static JSON_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| json_headers(0));
static UNAUTHENTICATED_HEADERS: LazyLock<HeaderMap> =
    LazyLock::new(|| json_headers(UNAUTHENTICATED.len()));

fn json_headers(len: usize) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    // First, so that `json` finds it at once.
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers
}

/// The signed-in document, assembled from pieces rendered once: the user's
/// JSON (cached in the [`User`](crate::User)), the tunnel's (in the
/// [`Tunnel`]) and the policies' (in the layer's configuration). Byte for
/// byte what serialising the whole document would give.
fn session_document(identity: &Identity, tunnel: &Tunnel, policies: &str) -> Bytes {
    let head: &[u8] = match identity.method() {
        AuthMethod::Token => br#"{"auth":{"authenticated":true,"method":"token-auth"},"user":"#,
        AuthMethod::Session => br#"{"auth":{"authenticated":true,"method":"rstream-auth"},"user":"#,
    };
    let parts = [
        head,
        identity.user().json().as_bytes(),
        br#","tunnel":"#,
        tunnel.json().as_bytes(),
        br#","policies":"#,
        policies.as_bytes(),
        b"}",
    ];
    let mut document = Vec::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        document.extend_from_slice(part);
    }
    Bytes::from(document)
}

/// Logout, once the method, the cross-origin check and the body rule passed.
async fn logout<V, St>(
    config: Arc<Config<V, St>>,
    tunnel: Tunnel,
    head: Head,
    found: Found<'static, MAX_REVOCATIONS>,
) -> Reply
where
    V: TokenVerifier,
    St: SessionStore,
{
    // One deadline for every backend call of the request.
    let mut deadline = Deadline::new(config.timeout.as_ref());
    // A token-authenticated logout is a no-op, whatever cookie comes with it.
    if let Some(verdict) = verify_token::<Awaiting, _, _, MAX_REVOCATIONS>(
        &config,
        &tunnel,
        &head.method,
        &head.uri,
        &found,
        &mut deadline,
    ) {
        if let Reached::Got(TokenVerdict::Accepted(_)) = verdict.await {
            return no_content(None);
        }
    }
    let Some(sessions) = &config.sessions else {
        return no_content(None);
    };
    if matches!(found.cookies, CookieValues::TooMany) {
        // Revoking only some values could leave the real one working.
        return error(StatusCode::BAD_REQUEST, reply::TOO_MANY_SESSION_COOKIES);
    }
    // The request is authenticated through rstream Auth when any value names
    // a live session: the real cookie beside planted ones (cookie tossing)
    // included, which is why every value is revoked, not only "the" session.
    // A value the store could not look up may be live too.
    let mut signed_in = false;
    for id in found.cookies.ids() {
        match backend::call("session store (load)", &mut deadline, || {
            sessions.store().load(&id)
        })
        .await
        {
            Some(None) => {}
            // Past its deadline, a session is not live, whatever the store
            // says.
            Some(Some(session)) if !session.is_live_at(SystemTime::now()) => {}
            Some(Some(_)) | None => {
                signed_in = true;
                break;
            }
        }
    }
    if !signed_in {
        // Unauthenticated (only values of no live session).
        return no_content(None);
    }
    // Every value, even after a failure (one routine with sign-in and
    // sign-out: `SessionManager::revoke_sessions`).
    let revoked = sessions
        .revoke_ids(found.cookies.ids(), &mut deadline)
        .await;
    if revoked.is_ok() {
        no_content(Some(sessions.removal_cookie()))
    } else {
        // The old cookie could still work once the store recovers: do not
        // tell the browser it is signed out.
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            reply::SESSION_STORE_UNAVAILABLE,
        )
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
        Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reply::UNSUPPORTED_MEDIA_TYPE,
        ))
    } else {
        Err((StatusCode::LENGTH_REQUIRED, reply::LENGTH_REQUIRED))
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

fn json(status: StatusCode, body: Bytes) -> Reply {
    let headers = json_headers_for(body.len());
    reply_with(status, body, headers)
}

/// The header fields of a JSON answer whose body is `len` bytes long.
///
/// Cloned from prepared templates rather than built field by field: the
/// templates, with the map moved in by `reply_with`, are worth ~1,000
/// instructions per answer (`cargo bench --bench instructions -- session`:
/// a caller without a credential costs +737 with them, +1,759 with plain
/// header maps and no `mem::forget`).
fn json_headers_for(len: usize) -> HeaderMap {
    if len == UNAUTHENTICATED.len() {
        return UNAUTHENTICATED_HEADERS.clone();
    }
    let mut headers = JSON_HEADERS.clone();
    // The template's first entry, cheaper to reach than by a lookup.
    if let Some((_, length)) = headers.iter_mut().find(|(name, _)| *name == CONTENT_LENGTH) {
        *length = HeaderValue::from(len);
    }
    headers
}

/// An answer with `status`, `body` and the header fields `headers`.
fn reply_with(status: StatusCode, body: Bytes, mut headers: HeaderMap) -> Reply {
    let mut response = Response::new(Some(body));
    *response.status_mut() = status;
    std::mem::swap(response.headers_mut(), &mut headers);
    // `headers` is now the new response's own map, empty and without
    // capacity (`HeaderMap::new` documents that it does not allocate): there
    // is nothing to free, and forgetting it skips a drop that would only
    // look at its empty parts. A map with capacity is dropped as usual.
    // Worth ~80 instructions per answer (`cargo bench --bench instructions
    // -- session`: cookie callers +1,953 with it, +2,034 without).
    if headers.capacity() == 0 {
        std::mem::forget(headers);
    }
    response
}
