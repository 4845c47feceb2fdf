//! Forwarded requests, when the layer does more than pass them through:
//! resolving the caller for the application's handlers ([`Caller`]),
//! refusing requests that require authentication, and removing edge
//! credentials before the request reaches the application.

use std::future::Future;
use std::sync::Arc;

use http::header::{ACCEPT, CONNECTION, HeaderValue, LOCATION, UPGRADE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode, Uri};

use crate::caller::{Caller, Unauthenticated};
use crate::caller_resolution::{Awaiting, Found, Head, Resolution, resolve, resolve_at_once};
use crate::config::{Config, Forwarding, SignIn, Strip};
use crate::credentials::MAX_LOOKUPS;
use crate::encoding::hex_digit_upper;
use crate::endpoint::{Reply, error, for_method, read_head};
use crate::future::PendingGate;
use crate::identity::AuthMethod;
use crate::origin::allowed_origin;
use crate::reply;
use crate::return_url::{MAX_RETURN_URL, safe_return_url};
use crate::store::SessionStore;
use crate::strip::{
    strip_bearer, strip_session_cookie, strip_token_parameter, without_token_parameter,
};
use crate::syntax::trim_ows;
use crate::token::TokenVerifier;
use crate::tunnel::{HostMatch, Tunnel};

/// What becomes of a forwarded request.
pub(crate) enum Gate<B, F> {
    /// Forward it now, as it is.
    Now(Request<B>),
    /// Answer it now.
    Refuse(Reply),
    /// Resolve its caller first.
    Later(PendingGate<F>),
}

/// What the layer does with a forwarded request's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Forward it (stripped of edge credentials, when configured).
    Pass,
    /// Resolve its caller first; `required`: refuse it if nobody is
    /// authenticated.
    Resolve { required: bool },
}

/// What the layer does with a forwarded request on `path`, decided from
/// the path alone (borrowed: the request is not moved for it).
pub(crate) fn plan(forwarding: &Forwarding, path: &str) -> Plan {
    let required = forwarding
        .required
        .as_ref()
        .is_some_and(|paths| paths.applies_to(path));
    if required
        || forwarding
            .identity
            .as_ref()
            .is_some_and(|paths| paths.applies_to(path))
    {
        Plan::Resolve { required }
    } else {
        Plan::Pass
    }
}

/// Decides what becomes of a request whose caller the layer resolves
/// ([`Plan::Resolve`]). `inner` gives the inner service (the one made
/// ready) for a resolution that must await its backends.
pub(crate) fn gate<V, St, B, S>(
    config: &Arc<Config<V, St>>,
    request: Request<B>,
    required: bool,
    inner: impl FnOnce() -> S,
) -> Gate<B, S::Future>
where
    V: TokenVerifier,
    St: SessionStore,
    B: Send + 'static,
    S: tower_service::Service<Request<B>> + Send + 'static,
{
    let (matched, found) = read_head::<_, _, MAX_LOOKUPS>(
        config,
        request.uri(),
        request.version(),
        request.headers(),
        true,
    );
    let tunnel = match matched {
        HostMatch::Tunnel(tunnel) => tunnel.into_owned(),
        HostMatch::None => {
            // `found` borrows the request's header fields: gone first.
            drop(found);
            return settle(
                config,
                request,
                None,
                Unauthenticated::UnknownHost,
                required,
            );
        }
        HostMatch::Invalid(reason) => {
            drop(found);
            let why = Unauthenticated::for_host_reason(reason);
            return settle(config, request, None, why, required);
        }
    };
    if found.is_empty() {
        let why = found.unauthenticated();
        drop(found);
        return settle(config, request, Some(tunnel), why, required);
    }
    if let Some(resolution) =
        resolve_at_once(config, &tunnel, request.method(), request.uri(), &found)
    {
        drop(found);
        return decide(config, request, Some(tunnel), resolution, required);
    }
    let found = found.into_owned();
    let service = inner();
    Gate::Later(Box::pin(pending(
        Arc::clone(config),
        request,
        tunnel,
        found,
        required,
        service,
    )))
}

/// A request nobody is authenticated for, decided without a backend.
fn settle<V, St, B, F>(
    config: &Config<V, St>,
    request: Request<B>,
    tunnel: Option<Tunnel>,
    why: Unauthenticated,
    required: bool,
) -> Gate<B, F>
where
    St: SessionStore,
{
    let resolution = Resolution::Unauthenticated(why);
    decide(config, request, tunnel, resolution, required)
}

/// What becomes of a request once its caller is known: refused (when
/// authentication is required and nobody is authenticated), or forwarded
/// now, with its [`Caller`] and without the stripped credentials.
fn decide<V, St, B, F>(
    config: &Config<V, St>,
    mut request: Request<B>,
    tunnel: Option<Tunnel>,
    resolution: Resolution,
    required: bool,
) -> Gate<B, F>
where
    St: SessionStore,
{
    let caller = match (resolution, tunnel) {
        (Resolution::Authenticated(identity), Some(tunnel)) => {
            Caller::authenticated(identity, tunnel)
        }
        // Only a tunnel's requests are ever resolved.
        (Resolution::Authenticated(_), None) => {
            Caller::anonymous(Unauthenticated::UnknownHost, None)
        }
        (Resolution::Unauthenticated(why), tunnel) => Caller::anonymous(why, tunnel),
    };
    if let (true, Some(why)) = (required, caller.unauthenticated()) {
        return Gate::Refuse(refusal(config, &request, why));
    }
    if let Err(reason) = check_upgrade_origin(config, &request, &caller) {
        let reply = for_method(request.method(), error(StatusCode::FORBIDDEN, reason));
        return Gate::Refuse(reply);
    }
    request.extensions_mut().insert(caller);
    strip(config, &mut request);
    Gate::Now(request)
}

/// The check that keeps pages of other origins from opening a WebSocket as
/// the user: an upgrade ([`is_upgrade`]) authenticated by the session
/// cookie must not come from a page of an origin other than the tunnel's
/// or one allowed by [`WellKnownBuilder::websocket_origin`]
/// (see [`allowed_origin`]); the error is the `403` reason. Tokens are no
/// ambient credential, and a request nobody is authenticated for carries
/// no user a page could borrow: neither is checked.
///
/// [`WellKnownBuilder::websocket_origin`]: crate::WellKnownBuilder::websocket_origin
fn check_upgrade_origin<V, St, B>(
    config: &Config<V, St>,
    request: &Request<B>,
    caller: &Caller,
) -> Result<(), &'static str> {
    let (Some(AuthMethod::Session), Some(tunnel), Some(forwarding)) =
        (caller.method(), caller.tunnel(), config.forwarding.as_ref())
    else {
        return Ok(());
    };
    if !is_upgrade(request.method(), request.headers()) {
        return Ok(());
    }
    allowed_origin(
        request.headers(),
        tunnel.origin_ref(),
        &forwarding.websocket_origins,
    )
}

/// Resolves the caller, awaiting the backends, then forwards the request
/// (with its [`Caller`]) or refuses it.
async fn pending<V, St, B, S>(
    config: Arc<Config<V, St>>,
    request: Request<B>,
    tunnel: Tunnel,
    found: Found<'static, MAX_LOOKUPS>,
    required: bool,
    mut service: S,
) -> Result<S::Future, Reply>
where
    V: TokenVerifier,
    St: SessionStore,
    S: tower_service::Service<Request<B>>,
{
    let resolution = resolve::<Awaiting, _, _, MAX_LOOKUPS>(
        &config,
        &tunnel,
        request.method(),
        request.uri(),
        &found,
    )
    .await
    // `Awaiting` always reaches its backends.
    .unwrap_or(Resolution::Unauthenticated(Unauthenticated::Unavailable));
    match decide::<_, _, _, S::Future>(&config, request, Some(tunnel), resolution, required) {
        Gate::Now(request) => Ok(service.call(request)),
        Gate::Refuse(reply) => Err(reply),
        // `decide` never defers.
        Gate::Later(_) => Err(unauthenticated_reply(Unauthenticated::Unavailable)),
    }
}

/// Removes the configured edge credentials from a request about to be
/// forwarded.
pub(crate) fn strip<V, St, B>(config: &Config<V, St>, request: &mut Request<B>)
where
    St: SessionStore,
{
    let Some(forwarding) = &config.forwarding else {
        return;
    };
    let Strip {
        authorization,
        session_cookie,
        ..
    } = forwarding.strip;
    if forwarding.strip.token_parameter(forwarding.resolving()) {
        strip_token_parameter(request.uri_mut());
    }
    if authorization {
        strip_bearer(request.headers_mut());
    }
    if session_cookie {
        if let Some(sessions) = &config.sessions {
            strip_session_cookie(request.headers_mut(), sessions.cookie_finder());
        }
    }
}

/// The answer to a request that requires authentication and is not
/// authenticated: a browser navigation is sent to sign in when it can be
/// (rstream Auth on, a sign-in URL configured, nobody signed in or an
/// invalid token), anything else gets the error answer of
/// [`Unauthenticated`]. `HEAD` gets the headers of `GET`.
pub(crate) fn refusal<V, St, B>(
    config: &Config<V, St>,
    request: &Request<B>,
    why: Unauthenticated,
) -> Reply {
    let sign_in = config
        .forwarding
        .as_ref()
        .and_then(|forwarding| forwarding.sign_in.as_ref());
    let reply = match sign_in {
        Some(sign_in)
            if config.sessions.is_some()
                && matches!(
                    why,
                    Unauthenticated::NoCredentials | Unauthenticated::InvalidToken
                )
                && is_navigation(request.method(), request.headers()) =>
        {
            redirect(sign_in, request.uri())
        }
        _ => unauthenticated_reply(why),
    };
    for_method(request.method(), reply)
}

/// The error answer for `why`: its status, `{"error":"<reason>"}`,
/// `Cache-Control: no-store` and, for `401` and `403`, its
/// `WWW-Authenticate` challenge.
pub(crate) fn unauthenticated_reply(why: Unauthenticated) -> Reply {
    let mut reply = error(why.status(), why.reason());
    if let Some(challenge) = why.challenge() {
        reply
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    reply
}

/// Whether a request is a browser navigation: `GET` or `HEAD`, not an
/// upgrade (an `Upgrade` field, `upgrade` in `Connection`, or `CONNECT`),
/// accepting `text/html` by name with a non-zero quality (`*/*` alone is
/// not enough: scripts send it).
///
/// The rule by which enforcement sends a refused request to the sign-in
/// page instead of answering `401`, and by which the OpenID Connect
/// sign-in shows a failure as a page instead of JSON; public for sign-in
/// layers built on this crate.
///
/// ```
/// use http::{HeaderMap, Method};
/// use rstream_well_known::is_navigation;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("accept", "text/html,application/xhtml+xml,*/*;q=0.8".parse()?);
/// assert!(is_navigation(&Method::GET, &headers));
/// assert!(!is_navigation(&Method::POST, &headers));
/// headers.insert("accept", "*/*".parse()?);
/// assert!(!is_navigation(&Method::GET, &headers));
/// # Ok::<(), http::header::InvalidHeaderValue>(())
/// ```
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && !is_upgrade(method, headers)
        && headers
            .get_all(ACCEPT)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .any(accepts_html)
}

/// Whether a request asks to leave HTTP for another protocol, a WebSocket
/// above all: an `Upgrade` field (any value), `upgrade` in a `Connection`
/// field (HTTP/1.1, RFC 9110, section 7.8), or the method `CONNECT`
/// (HTTP/2 and HTTP/3 carry a WebSocket in an extended `CONNECT`, RFC 8441
/// and RFC 9220, whose `:protocol` only the server's own types show).
/// Either HTTP/1.1 field is enough, whatever the other says, so that a
/// lenient server that upgrades on one of them is covered; a browser sends
/// them, and `CONNECT`, only to open a WebSocket (`fetch` may set neither).
pub(crate) fn is_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    *method == Method::CONNECT
        || headers.contains_key(UPGRADE)
        || headers.get_all(CONNECTION).iter().any(|value| {
            value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|token| trim_ows(token).eq_ignore_ascii_case(b"upgrade"))
        })
}

/// Whether one `Accept` element is `text/html` with a non-zero quality.
fn accepts_html(element: &[u8]) -> bool {
    let mut parts = element.split(|&b| b == b';');
    let media_range = trim_ows(parts.next().unwrap_or_default());
    if !media_range.eq_ignore_ascii_case(b"text/html") {
        return false;
    }
    for parameter in parts {
        let parameter = trim_ows(parameter);
        if let Some(value) = parameter
            .strip_prefix(b"q=")
            .or_else(|| parameter.strip_prefix(b"Q="))
        {
            let zero = value.iter().all(|&b| b == b'0' || b == b'.') && !value.is_empty();
            return !zero;
        }
    }
    true
}

/// `303 See Other` to the sign-in URL, carrying the request's path and
/// query (without the token parameter) as the return URL when it is a safe
/// one and not too long.
fn redirect(sign_in: &SignIn, uri: &Uri) -> Reply {
    let mut location = String::from(&*sign_in.url);
    if let Some(back) = return_url(uri) {
        location.push(if sign_in.url.contains('?') { '&' } else { '?' });
        location.push_str(&sign_in.parameter);
        location.push('=');
        percent_encode(&back, &mut location);
    }
    let mut reply = error(StatusCode::SEE_OTHER, reply::SIGN_IN_REQUIRED);
    if let Ok(location) = HeaderValue::try_from(location) {
        reply.headers_mut().insert(LOCATION, location);
    }
    reply
}

/// Where a browser sent to sign in comes back to: the request's path and
/// query, without the token parameter, when that is a safe return URL (see
/// [`safe_return_url`]) of at most [`MAX_RETURN_URL`] bytes.
fn return_url(uri: &Uri) -> Option<String> {
    let path = uri.path();
    let back = match uri.query() {
        None => path.to_owned(),
        Some(query) => match without_token_parameter(query) {
            Some(kept) if kept.is_empty() => path.to_owned(),
            Some(kept) => format!("{path}?{kept}"),
            None => format!("{path}?{query}"),
        },
    };
    (back.len() <= MAX_RETURN_URL && safe_return_url(&back).is_some()).then_some(back)
}

/// Percent-encodes `text` into `out`, all but RFC 3986 `unreserved` and `/`.
fn percent_encode(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(hex_digit_upper(b >> 4)));
            out.push(char::from(hex_digit_upper(b)));
        }
    }
}

/// Reports that a well-known request was forwarded because its host is no
/// tunnel (feature `tracing`): a `WARN` the first time in the process, then
/// `DEBUG`, with the host (a valid host, no secret). This is how a
/// misconfigured tunnel shows: the application's own `404` for
/// `/.well-known/rstream/session`.
pub(crate) fn note_not_a_tunnel<B>(request: &Request<B>) {
    #[cfg(feature = "tracing")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static WARNED: AtomicBool = AtomicBool::new(false);
        let host = match request.uri().authority() {
            Some(authority) => authority.as_str(),
            None => request
                .headers()
                .get(http::header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or_default(),
        };
        const MESSAGE: &str = "rstream-well-known: a request for /.well-known/rstream/ was forwarded to the application because its host is no tunnel of the layer; add the tunnel (WellKnownBuilder::tunnel, or development_tunnel for localhost) if the endpoints should answer there";
        if WARNED.swap(true, Ordering::Relaxed) {
            tracing::debug!(host, "{MESSAGE}");
        } else {
            tracing::warn!(host, "{MESSAGE}");
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = request;
}

/// Builds the [`Caller`] of a request head outside the layer, with the
/// code that answers the session endpoint.
pub(crate) fn resolve_head<V, St>(
    config: Arc<Config<V, St>>,
    method: &Method,
    uri: &Uri,
    version: http::Version,
    headers: &HeaderMap,
) -> impl Future<Output = Caller> + Send + 'static
where
    V: TokenVerifier,
    St: SessionStore,
{
    let (matched, found) = read_head::<_, _, MAX_LOOKUPS>(&config, uri, version, headers, true);
    // Owned: the future outlives the borrowed configuration and headers.
    let tunnel = match matched {
        HostMatch::Tunnel(tunnel) => Ok(tunnel.into_owned()),
        HostMatch::None => Err(Unauthenticated::UnknownHost),
        HostMatch::Invalid(reason) => Err(Unauthenticated::for_host_reason(reason)),
    };
    let found = found.into_owned();
    let head = Head {
        method: method.clone(),
        uri: uri.clone(),
    };
    async move {
        let tunnel = match tunnel {
            Ok(tunnel) => tunnel,
            Err(why) => return Caller::anonymous(why, None),
        };
        if found.is_empty() {
            return Caller::anonymous(found.unauthenticated(), Some(tunnel));
        }
        match resolve::<Awaiting, _, _, MAX_LOOKUPS>(
            &config,
            &tunnel,
            &head.method,
            &head.uri,
            &found,
        )
        .await
        .unwrap_or(Resolution::Unauthenticated(Unauthenticated::Unavailable))
        {
            Resolution::Authenticated(identity) => Caller::authenticated(identity, tunnel),
            Resolution::Unauthenticated(why) => Caller::anonymous(why, Some(tunnel)),
        }
    }
}

/// The body of a reply, for tests.
#[cfg(test)]
fn body(reply: &Reply) -> &[u8] {
    reply.body().as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigations_accept_html_by_name() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(is_navigation(
            &Method::GET,
            &headers(&[("accept", browser)])
        ));
        assert!(is_navigation(
            &Method::HEAD,
            &headers(&[("accept", "TEXT/HTML;level=1")])
        ));
        assert!(!is_navigation(
            &Method::POST,
            &headers(&[("accept", browser)])
        ));
        assert!(!is_navigation(&Method::GET, &headers(&[("accept", "*/*")])));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", "text/html;q=0")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", "text/html; q=0.000")])
        ));
        assert!(is_navigation(
            &Method::GET,
            &headers(&[("accept", "text/html;q=0.1")])
        ));
        assert!(!is_navigation(&Method::GET, &headers(&[])));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[
                ("accept", browser),
                ("upgrade", "websocket"),
                ("connection", "Upgrade")
            ])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", browser), ("connection", "keep-alive, upgrade")])
        ));
    }

    #[test]
    fn redirects_carry_the_return_url_without_the_token() {
        let sign_in = SignIn {
            url: "/login".into(),
            parameter: "return_to".into(),
        };
        let uri: Uri = "/a/b?x=1&rstream.token=secret&y=a%20b".parse().unwrap();
        let reply = redirect(&sign_in, &uri);
        assert_eq!(reply.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            reply.headers()[LOCATION],
            "/login?return_to=/a/b%3Fx%3D1%26y%3Da%2520b"
        );
        assert_eq!(body(&reply), br#"{"error":"sign_in_required"}"#);
        let sign_in = SignIn {
            url: "/login?lang=en".into(),
            parameter: "next".into(),
        };
        let reply = redirect(&sign_in, &"//evil.example/x".parse().unwrap());
        assert_eq!(reply.headers()[LOCATION], "/login?lang=en");
        let reply = redirect(&sign_in, &"/p?rstream.token=t".parse().unwrap());
        assert_eq!(reply.headers()[LOCATION], "/login?lang=en&next=/p");
    }
}
