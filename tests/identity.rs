//! The caller's identity in the application's handlers: what the layer puts
//! in a forwarded request's extensions, where, and that it always agrees
//! with the session endpoint.

use crate::common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use rstream_well_known::{
    AuthMethod, Caller, MemoryStore, Paths, TokenContext, TokenVerdict, TokenVerifier,
    Unauthenticated, User, WellKnownLayer,
};
use tower::{Layer, Service, ServiceExt};

/// What a handler received.
#[derive(Clone, Debug)]
struct Received {
    uri: Uri,
    headers: HeaderMap,
    caller: Option<Caller>,
}

/// A handler that records what it received and answers `200 app`.
#[derive(Clone, Default)]
struct Handler {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Handler {
    fn last(&self) -> Received {
        self.received
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the handler was called")
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl<B: Send + 'static> Service<Request<B>> for Handler {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.received.lock().unwrap().push(Received {
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            caller: request.extensions().get::<Caller>().cloned(),
        });
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"app")))))
    }
}

/// Accepts `TOKEN`, calls `SCOPED` valid but out of scope, fails on
/// `BROKEN`, refuses anything else.
#[derive(Clone, Default)]
struct ScopedVerifier;

const SCOPED: &str = "scoped-token.0123";
const BROKEN: &str = "broken-token.0123";

impl TokenVerifier for ScopedVerifier {
    type Error = Down;

    async fn verify(&self, token: &str, _: TokenContext<'_>) -> Result<TokenVerdict, Down> {
        match token {
            TOKEN => Ok(TokenVerdict::Accepted(ada())),
            SCOPED => Ok(TokenVerdict::OutOfScope),
            BROKEN => Err(Down),
            _ => Ok(TokenVerdict::Refused),
        }
    }
}

fn builder() -> rstream_well_known::WellKnownBuilder<ScopedVerifier, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(ScopedVerifier)
        .with_session_store(MemoryStore::new())
}

async fn through<V, St>(
    layer: &WellKnownLayer<V, St>,
    handler: &Handler,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Bytes)
where
    V: TokenVerifier,
    St: rstream_well_known::StoreSlot,
{
    let response = layer.layer(handler.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

/// The caller the handler saw for `request`.
async fn caller_of<V, St>(layer: &WellKnownLayer<V, St>, request: Request<Full<Bytes>>) -> Caller
where
    V: TokenVerifier,
    St: rstream_well_known::StoreSlot,
{
    let handler = Handler::default();
    let (status, _, body) = through(layer, &handler, request).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"app"[..]));
    handler.last().caller.expect("a Caller")
}

#[tokio::test]
async fn without_identity_handlers_see_no_caller_and_nothing_is_asked() {
    let verifier = RecordingVerifier::default();
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .build()
        .unwrap();
    let handler = Handler::default();
    let request = get("/api?rstream.token=x")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    through(&layer, &handler, request).await;
    let received = handler.last();
    assert!(received.caller.is_none(), "not installed ≠ not signed in");
    assert_eq!(received.uri, "/api?rstream.token=x", "untouched");
    assert!(verifier.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn handlers_get_the_user_the_method_and_the_tunnel() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let bearer = format!("Bearer {TOKEN}");

    let caller = caller_of(
        &layer,
        get("/api")
            .header("authorization", &bearer)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert!(caller.is_authenticated());
    assert_eq!(caller.method(), Some(AuthMethod::Token));
    assert_eq!(caller.user(), Some(&ada()));
    assert_eq!(caller.tunnel(), Some(&tunnel()));
    assert_eq!(caller.unauthenticated(), None);

    let query = format!("/ws?rstream.token={TOKEN}");
    let caller = caller_of(&layer, get(&query).body(empty()).unwrap()).await;
    assert_eq!(caller.method(), Some(AuthMethod::Token));

    let cookie = sign_in(&layer, User::new("browser-user")).await;
    let caller = caller_of(
        &layer,
        get("/page")
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(caller.method(), Some(AuthMethod::Session));
    assert_eq!(caller.user().map(User::user_id), Some("browser-user"));
}

#[tokio::test]
async fn nobody_signed_in_is_an_explicit_value_that_says_why() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let cases: [(Request<Full<Bytes>>, Unauthenticated, bool); 8] = [
        (
            get("/").body(empty()).unwrap(),
            Unauthenticated::NoCredentials,
            true,
        ),
        (
            get("/")
                .header("authorization", "Bearer wrong")
                .body(empty())
                .unwrap(),
            Unauthenticated::InvalidToken,
            true,
        ),
        (
            get("/")
                .header("authorization", "Bearer")
                .body(empty())
                .unwrap(),
            Unauthenticated::InvalidToken,
            true,
        ),
        (
            get("/?rstream.token=a&rstream.token=b")
                .body(empty())
                .unwrap(),
            Unauthenticated::InvalidToken,
            true,
        ),
        (
            get("/")
                .header("authorization", format!("Bearer {SCOPED}"))
                .body(empty())
                .unwrap(),
            Unauthenticated::InsufficientScope,
            true,
        ),
        (
            get("/")
                .header("authorization", format!("Bearer {BROKEN}"))
                .body(empty())
                .unwrap(),
            Unauthenticated::Unavailable,
            true,
        ),
        (
            get("/")
                .header("cookie", format!("{COOKIE_NAME}=stale"))
                .body(empty())
                .unwrap(),
            Unauthenticated::NoCredentials,
            true,
        ),
        (
            Request::get("/")
                .header("host", "elsewhere.example")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(empty())
                .unwrap(),
            Unauthenticated::UnknownHost,
            false,
        ),
    ];
    for (request, why, on_tunnel) in cases {
        let caller = caller_of(&layer, request).await;
        assert!(!caller.is_authenticated());
        assert_eq!(caller.identity(), None);
        assert_eq!(caller.unauthenticated(), Some(why));
        assert_eq!(caller.tunnel().is_some(), on_tunnel, "{why}");
    }
    let ambiguous = get("/").header("host", HOST).body(empty()).unwrap();
    assert_eq!(
        caller_of(&layer, ambiguous).await.unauthenticated(),
        Some(Unauthenticated::AmbiguousHost)
    );
}

#[tokio::test]
async fn a_valid_cookie_is_tried_after_a_refused_or_out_of_scope_token() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let cookie = sign_in(&layer, ada()).await;
    for token in ["wrong", SCOPED, BROKEN] {
        let request = get("/")
            .header("authorization", format!("Bearer {token}"))
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        assert_eq!(
            caller_of(&layer, request).await.method(),
            Some(AuthMethod::Session),
            "{token}"
        );
    }
}

/// Every combination of credentials: the handler's caller and the session
/// endpoint's answer are the same, because they are one resolution.
#[tokio::test]
async fn handlers_and_the_session_endpoint_always_agree() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let ada_cookie = sign_in(&layer, ada()).await;
    let bob_cookie = sign_in(&layer, User::new("bob")).await;
    let tokens = [
        None,
        Some(TOKEN),
        Some("wrong"),
        Some(SCOPED),
        Some(BROKEN),
        Some(""),
    ];
    let cookies = [
        None,
        Some(ada_cookie.clone()),
        Some(format!("{ada_cookie}; {bob_cookie}")),
        Some(format!("{COOKIE_NAME}=stale; {ada_cookie}")),
    ];
    for header in tokens {
        for query in [None, Some(TOKEN), Some("wrong")] {
            for cookie in &cookies {
                let request = |path: &str| {
                    let path = match query {
                        Some(token) => format!("{path}?rstream.token={token}"),
                        None => path.to_owned(),
                    };
                    let mut builder = get(&path);
                    if let Some(token) = header {
                        builder = builder.header("authorization", format!("Bearer {token}"));
                    }
                    if let Some(cookie) = cookie {
                        builder = builder.header("cookie", cookie);
                    }
                    builder.body(empty()).unwrap()
                };
                let caller = caller_of(&layer, request("/app")).await;
                let endpoint = send(&layer, &Recorder::default(), request(SESSION)).await;
                let json = endpoint.json();
                let case = format!("{header:?} {query:?} {cookie:?}");
                assert_eq!(
                    caller.method().map(AuthMethod::as_str),
                    json["auth"]["method"].as_str(),
                    "{case}"
                );
                assert_eq!(
                    caller.user().map(User::user_id),
                    json["user"]["userId"].as_str(),
                    "{case}"
                );
            }
        }
    }
}

#[tokio::test]
async fn identity_can_be_limited_to_some_paths_and_costs_nothing_elsewhere() {
    let verifier = RecordingVerifier::default();
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .identity(Paths::prefix("/api").or_prefix("/account"))
        .build()
        .unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let handler = Handler::default();
    for path in ["/static/app.js", "/", "/apis", "/x/api"] {
        let request = get(path)
            .header("authorization", &bearer)
            .body(empty())
            .unwrap();
        through(&layer, &handler, request).await;
        assert!(handler.last().caller.is_none(), "{path}");
    }
    assert!(
        verifier.asked.lock().unwrap().is_empty(),
        "no backend was asked"
    );
    for path in [
        "/api",
        "/api/orders",
        "/account/",
        "/API/x",
        "/%61pi/x",
        "/x/../api",
    ] {
        let request = get(path)
            .header("authorization", &bearer)
            .body(empty())
            .unwrap();
        through(&layer, &handler, request).await;
        assert_eq!(
            handler.last().caller.and_then(|c| c.method()),
            Some(AuthMethod::Token),
            "{path}"
        );
    }
    let exempt = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .identity(Paths::all().except_prefix("/static"))
        .build()
        .unwrap();
    let request = get("/static/app.js")
        .header("authorization", &bearer)
        .body(empty())
        .unwrap();
    through(&exempt, &handler, request).await;
    assert!(handler.last().caller.is_none());
    assert_eq!(handler.count(), 11);
}

#[tokio::test]
async fn the_token_parameter_is_stripped_by_default_keeping_the_rest_of_the_query() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let handler = Handler::default();
    for (sent, seen) in [
        (
            format!("/ws?a=1&rstream.token={TOKEN}&b=%2F+x"),
            "/ws?a=1&b=%2F+x",
        ),
        (format!("/ws?rstream.token={TOKEN}"), "/ws"),
        (format!("/ws?rstream%2Etoken={TOKEN}&&x"), "/ws?&x"),
        (
            "/ws?rstream.token=a&rstream.token=b&keep".to_owned(),
            "/ws?keep",
        ),
        (
            "/ws?rstream.tokens=keep".to_owned(),
            "/ws?rstream.tokens=keep",
        ),
    ] {
        through(&layer, &handler, get(&sent).body(empty()).unwrap()).await;
        assert_eq!(handler.last().uri, seen, "{sent}");
    }
    // The resolution saw the token before it was stripped.
    let request = get(&format!("/ws?x=1&rstream.token={TOKEN}"))
        .body(empty())
        .unwrap();
    assert_eq!(
        caller_of(&layer, request).await.method(),
        Some(AuthMethod::Token)
    );

    let keep = builder()
        .identity(Paths::all())
        .strip_token_parameter(false)
        .build()
        .unwrap();
    through(
        &keep,
        &handler,
        get("/ws?rstream.token=t").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(handler.last().uri, "/ws?rstream.token=t");
}

#[tokio::test]
async fn the_bearer_header_and_the_session_cookie_can_be_stripped() {
    let layer = builder()
        .identity(Paths::prefix("/api"))
        .strip_authorization(true)
        .strip_session_cookie(true)
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let handler = Handler::default();
    for path in ["/api/x", "/elsewhere"] {
        let request = get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .header("cookie", format!("theme=dark; {cookie}; lang=en"))
            .header("cookie", cookie.as_str())
            .header("cookie", "other=\"quoted value\"")
            .body(empty())
            .unwrap();
        through(&layer, &handler, request).await;
        let received = handler.last();
        let authorization: Vec<_> = received.headers.get_all("authorization").iter().collect();
        assert_eq!(authorization, ["Basic dXNlcjpwYXNz"], "{path}");
        let cookies: Vec<_> = received.headers.get_all("cookie").iter().collect();
        assert_eq!(
            cookies,
            ["theme=dark; lang=en", "other=\"quoted value\""],
            "{path}"
        );
    }
    assert_eq!(
        handler.received.lock().unwrap()[0]
            .caller
            .as_ref()
            .and_then(Caller::method),
        Some(AuthMethod::Token),
        "resolved before stripping"
    );
}

#[tokio::test]
async fn resolving_outside_the_layer_is_the_same_resolution() {
    let layer = builder().build().unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let request = get("/ws").header("cookie", &cookie).body(()).unwrap();
    let caller = layer.resolve(&request).await;
    assert_eq!(caller.method(), Some(AuthMethod::Session));
    let (parts, ()) = get(&format!("/ws?rstream.token={SCOPED}"))
        .body(())
        .unwrap()
        .into_parts();
    let caller = layer.resolve_parts(&parts).await;
    assert_eq!(
        caller.unauthenticated(),
        Some(Unauthenticated::InsufficientScope)
    );
    let elsewhere = Request::get("/")
        .header("host", "other.example")
        .body(())
        .unwrap();
    assert_eq!(
        layer.resolve(&elsewhere).await.unauthenticated(),
        Some(Unauthenticated::UnknownHost)
    );
    // The future owns what it needs.
    let future = layer.resolve(&get("/").body(()).unwrap());
    let handle = tokio::spawn(future);
    assert_eq!(
        handle.await.unwrap().unauthenticated(),
        Some(Unauthenticated::NoCredentials)
    );
}

#[tokio::test]
async fn backends_that_must_be_awaited_are_awaited_before_the_handler_runs() {
    let verifier = FaultyVerifier::new(verifier());
    let store = Faulty::new(MemoryStore::new());
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .with_session_store(store.clone())
        .identity(Paths::all())
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    verifier.set(Fault::Latency(std::time::Duration::from_millis(5)));
    store.set(
        StoreOp::Load,
        Fault::Latency(std::time::Duration::from_millis(5)),
    );
    let bearer = format!("Bearer {TOKEN}");
    let caller = caller_of(
        &layer,
        get("/")
            .header("authorization", &bearer)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(caller.method(), Some(AuthMethod::Token));
    let caller = caller_of(
        &layer,
        get("/").header("cookie", &cookie).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(caller.method(), Some(AuthMethod::Session));
    for fault in [Fault::Error, Fault::Panic] {
        verifier.set(fault);
        store.set(StoreOp::Load, fault);
        let request = get("/")
            .header("authorization", &bearer)
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let caller = caller_of(&layer, request).await;
        assert_eq!(
            caller.unauthenticated(),
            Some(Unauthenticated::Unavailable),
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn an_upgrade_the_cookie_authenticates_from_another_origin_never_reaches_the_handler() {
    const SIBLING: &str = "https://sibling.example.com";
    // A store that answers at once, and one that must be awaited.
    for store in [
        Faulty::new(MemoryStore::new()).answering_at_once(),
        Faulty::new(MemoryStore::new()),
    ] {
        let layer = WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_token_verifier(ScopedVerifier)
            .with_session_store(store)
            .identity(Paths::all())
            .build()
            .unwrap();
        let cookie = sign_in(&layer, ada()).await;
        let upgrade = |method: &str, fields: &[(&str, &str)]| {
            let mut request = request(method, "/live").header("cookie", &cookie);
            for (name, value) in fields {
                request = request.header(*name, *value);
            }
            request
        };
        let websocket = [("upgrade", "websocket"), ("connection", "Upgrade")];
        let refused = || {
            [
                upgrade("GET", &websocket).header("origin", SIBLING),
                upgrade("GET", &[("upgrade", "WebSocket")]).header("origin", SIBLING),
                upgrade("GET", &[("connection", "keep-alive, upgrade")]).header("origin", SIBLING),
                upgrade("GET", &websocket).header("origin", "null"),
                upgrade("GET", &websocket)
                    .header("origin", ORIGIN)
                    .header("origin", SIBLING),
                // HTTP/2's extended CONNECT (`:protocol` is the server's to see).
                upgrade("CONNECT", &[])
                    .version(http::Version::HTTP_2)
                    .header("origin", SIBLING),
            ]
        };
        for request in refused().map(|r| r.body(empty()).unwrap()) {
            let handler = Handler::default();
            let mut shown = request.headers().clone();
            shown.remove("cookie");
            let described = format!("{} {shown:?}", request.method());
            let (status, headers, body) = through(&layer, &handler, request).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{described}");
            assert_eq!(&body[..], br#"{"error":"origin_mismatch"}"#);
            assert_eq!(headers["cache-control"], "no-store");
            assert_eq!(headers["content-type"], "application/json");
            assert!(!headers.contains_key("www-authenticate"));
            assert!(!format!("{headers:?}{body:?}").contains(cookie_value(&cookie)));
            assert_eq!(handler.count(), 0, "{described}: never forwarded");
        }
        // Not upgrades, or from the tunnel's own pages: the handler sees Ada.
        for request in [
            upgrade("GET", &[]).header("origin", SIBLING),
            upgrade("POST", &[]).header("origin", SIBLING),
            upgrade("GET", &websocket).header("origin", ORIGIN),
            upgrade("CONNECT", &[])
                .version(http::Version::HTTP_2)
                .header("origin", ORIGIN),
        ] {
            let caller = caller_of(&layer, request.body(empty()).unwrap()).await;
            assert_eq!(caller.method(), Some(AuthMethod::Session));
        }
    }
}
