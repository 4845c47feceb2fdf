//! The framework examples, exercised as users run them: axum and tower-http
//! in-process with `oneshot`, hyper and tonic (and tower-http's request log)
//! on real loopback sockets (port 0). Each example is compiled here as a
//! module, so a change that breaks an example's behaviour fails these tests,
//! not just its build.

#[cfg(feature = "axum")]
#[allow(dead_code)]
#[path = "../examples/axum.rs"]
mod axum_example;
#[allow(dead_code)]
#[path = "../examples/hyper.rs"]
mod hyper_example;
#[allow(dead_code)]
#[path = "../examples/tonic.rs"]
mod tonic_example;
#[allow(dead_code)]
#[path = "../examples/tower_http.rs"]
mod tower_http_example;

use crate::common;

use std::io::Read;
use std::net::SocketAddr;
#[cfg(feature = "axum")]
use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, COOKIE, HOST,
};
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use common::Captured;

const SESSION: &str = "/.well-known/rstream/session";
const LOGOUT: &str = "/.well-known/rstream/logout";

/// The address the in-process tests pretend to listen on: nothing is bound,
/// it only names the tunnel (and so the `Host` requests must carry).
fn in_process_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3000))
}

fn get(path: &str, addr: SocketAddr) -> http::request::Builder {
    Request::get(path).header(HOST, addr.to_string())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn bytes_of<B>(response: Response<B>) -> (StatusCode, HeaderMap, Bytes)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("the body completes").to_bytes();
    (parts.status, parts.headers, bytes)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the body is JSON")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

/// The headers the spec requires on every session answer.
fn assert_session_headers(headers: &HeaderMap) {
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
}

/// A token-authenticated session document for the examples' token user.
fn assert_token_session(json: &Value, user_id: &str, addr: SocketAddr) {
    assert_eq!(
        json["auth"],
        json!({"authenticated": true, "method": "token-auth"})
    );
    assert_eq!(json["user"]["userId"], user_id);
    assert_eq!(json["tunnel"]["host"], addr.to_string());
    assert_eq!(json["tunnel"]["workspaceId"], "workspace-id");
    assert_eq!(json["tunnel"]["projectId"], "project-id");
}

/// A port-0 listener and the address it got.
async fn loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    (listener, addr)
}

/// A hyper client: HTTP/1.1, or HTTP/2 with prior knowledge (h2c, as gRPC
/// clients speak it). It sends the URI's authority as `Host` / `:authority`.
fn client(http2: bool) -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http()
}

async fn fetch(
    client: &Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, bearer(token));
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .expect("the server answers");
    bytes_of(response).await
}

// --- axum -------------------------------------------------------------------

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_session_without_credentials_is_exactly_unauthenticated() {
    let addr = in_process_addr();
    let app = axum_example::app(axum_example::well_known(addr).unwrap());
    let response = app
        .oneshot(get(SESSION, addr).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers, body) = bytes_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    assert_eq!(json_of(&body), json!({"auth": {"authenticated": false}}));
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_session_with_the_example_token_names_the_user() {
    let addr = in_process_addr();
    let app = axum_example::app(axum_example::well_known(addr).unwrap());
    let request = get(SESSION, addr)
        .header(AUTHORIZATION, bearer(axum_example::TOKEN))
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = bytes_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    let json = json_of(&body);
    assert_token_session(&json, "user-id", addr);
    assert_eq!(json["user"]["name"], "Ada Lovelace");
    assert_eq!(json["user"]["email"], "ada@example.com");
    assert_eq!(json["user"]["image"], Value::Null);
    assert_eq!(json["policies"], json!(["token-auth", "rstream-auth"]));
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_app_routes_still_answer() {
    let addr = in_process_addr();
    let app = axum_example::app(axum_example::well_known(addr).unwrap());
    for (path, expected) in [("/", "hello from axum\n"), ("/api/hello", "hello, API\n")] {
        let response = app
            .clone()
            .oneshot(get(path, addr).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, _, body) = bytes_of(response).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, expected, "{path}");
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_routes_never_see_well_known_requests() {
    let addr = in_process_addr();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = {
        let seen = Arc::clone(&seen);
        tower::util::MapRequestLayer::new(move |request: Request<Body>| {
            seen.lock().unwrap().push(request.uri().path().to_owned());
            request
        })
    };
    // The example's composition, with a recorder between the layer and the routes.
    let app = axum_example::routes()
        .layer(record)
        .layer(axum_example::well_known(addr).unwrap());

    let requests = [
        get(SESSION, addr).body(Body::empty()).unwrap(),
        Request::head(SESSION)
            .header(HOST, addr.to_string())
            .body(Body::empty())
            .unwrap(),
        Request::post(LOGOUT)
            .header(HOST, addr.to_string())
            .body(Body::empty())
            .unwrap(),
        get("/.well-known/rstream/other", addr)
            .body(Body::empty())
            .unwrap(),
        get("/api/hello", addr).body(Body::empty()).unwrap(),
    ];
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(app.clone().oneshot(request).await.unwrap().status());
    }
    assert_eq!(statuses, [200, 200, 204, 404, 200]);
    assert_eq!(*seen.lock().unwrap(), ["/api/hello"]);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_well_known_paths_for_another_host_reach_the_app() {
    // The tunnel is the listening address; `localhost` is another host, so
    // its well-known requests are the app's (which has no such route).
    let addr = in_process_addr();
    let app = axum_example::app(axum_example::well_known(addr).unwrap());
    let request = Request::get(SESSION)
        .header(HOST, "localhost:3000")
        .header(AUTHORIZATION, bearer(axum_example::TOKEN))
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get(CACHE_CONTROL).is_none());
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_handlers_read_the_caller_with_the_extractors() {
    let addr = in_process_addr();
    let app = axum_example::app(axum_example::well_known(addr).unwrap());
    let call = |path: &str, token: Option<&str>| {
        let mut request = get(path, addr);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, bearer(token));
        }
        let app = app.clone();
        let request = request.body(Body::empty()).unwrap();
        async move { bytes_of(app.oneshot(request).await.unwrap()).await }
    };

    let (status, _, body) = call("/", Some(axum_example::TOKEN)).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"hello from axum, Ada Lovelace\n"[..])
    );
    let (status, _, body) = call("/", Some("wrong")).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"hello from axum\n"[..])
    );

    let (status, _, body) = call("/api/me", Some(axum_example::TOKEN)).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"hello, user-id (token-auth)\n"[..])
    );

    let (status, headers, body) = call("/api/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(json_of(&body), json!({"error": "unauthenticated"}));

    let (status, headers, body) = call("/api/me", Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(json_of(&body), json!({"error": "invalid_token"}));
}

// --- hyper ------------------------------------------------------------------

#[tokio::test]
async fn hyper_server_answers_the_session_endpoint_and_forwards_the_rest() {
    let (listener, addr) = loopback().await;
    let layer = hyper_example::well_known(addr).unwrap();
    let server = tokio::spawn(hyper_example::serve(listener, layer));
    let http1 = client(false);

    let (status, headers, body) = fetch(&http1, addr, SESSION, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    assert_eq!(json_of(&body), json!({"auth": {"authenticated": false}}));

    let (status, headers, body) = fetch(&http1, addr, SESSION, Some(hyper_example::TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    let json = json_of(&body);
    assert_token_session(&json, "ci-bot", addr);
    assert_eq!(json["user"]["name"], "CI");
    assert_eq!(json["policies"], json!(["token-auth"]));

    let (status, headers, body) = fetch(&http1, addr, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "hello from hyper\n");
    assert!(
        headers.get(CACHE_CONTROL).is_none(),
        "app responses are not touched"
    );

    // The same server speaks h2c, where the host travels as `:authority`.
    let (status, headers, body) =
        fetch(&client(true), addr, SESSION, Some(hyper_example::TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    assert_token_session(&json_of(&body), "ci-bot", addr);

    // A handler reading the caller from the request's extensions.
    let (status, _, body) = fetch(&http1, addr, "/me", Some(hyper_example::TOKEN)).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"hello, CI (token-auth)\n"[..])
    );
    let (status, headers, body) = fetch(&http1, addr, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(body, "not signed in: unauthenticated\n");
    let (status, _, body) = fetch(&client(true), addr, "/me", Some("wrong")).await;
    assert_eq!(
        (status, &body[..]),
        (
            StatusCode::UNAUTHORIZED,
            &b"not signed in: invalid_token\n"[..]
        )
    );

    assert!(!server.is_finished(), "the accept loop keeps running");
    server.abort();
}

// --- tonic ------------------------------------------------------------------

#[tokio::test]
async fn tonic_grpc_calls_work_behind_the_layer_and_it_answers_the_session_endpoint() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let (listener, addr) = loopback().await;
    let layer = tonic_example::well_known(addr).unwrap();
    let server = tokio::spawn(tonic_example::serve(listener, layer));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the gRPC server");
    let mut health = HealthClient::new(channel);
    let reply = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("the health check succeeds through the layer")
        .into_inner();
    assert_eq!(reply.status(), ServingStatus::Serving);

    // The session endpoint on the same server, over HTTP/1.1 (browsers, curl)
    // and HTTP/2 (the protocol gRPC uses).
    for http2 in [false, true] {
        let (status, headers, body) =
            fetch(&client(http2), addr, SESSION, Some(tonic_example::TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "http2: {http2}");
        assert_session_headers(&headers);
        let json = json_of(&body);
        assert_token_session(&json, "ci-bot", addr);
        assert_eq!(json["policies"], json!(["token-auth"]));

        let (status, _, body) = fetch(&client(http2), addr, SESSION, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body), json!({"auth": {"authenticated": false}}));
    }

    server.abort();
}

#[tokio::test]
async fn tonic_grpc_method_greets_the_caller_the_layer_resolved() {
    use tonic_example::greeter::{HelloReply, HelloRequest};

    let (listener, addr) = loopback().await;
    let layer = tonic_example::well_known(addr).unwrap();
    let server = tokio::spawn(tonic_example::serve(listener, layer));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the gRPC server");

    let say_hello = |token: Option<&str>| {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        let mut request = tonic::Request::new(HelloRequest {});
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", bearer(token).parse().unwrap());
        }
        async move {
            grpc.ready().await.expect("the channel is ready");
            grpc.unary::<_, HelloReply, _>(
                request,
                http::uri::PathAndQuery::from_static("/greeter.Greeter/SayHello"),
                tonic_prost::ProstCodec::default(),
            )
            .await
        }
    };

    let reply = say_hello(Some(tonic_example::TOKEN))
        .await
        .expect("the call succeeds")
        .into_inner();
    assert_eq!(reply.message, "hello, CI (token-auth)");

    let refused = say_hello(None).await.expect_err("nobody is signed in");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert_eq!(refused.message(), "unauthenticated");
    let refused = say_hello(Some("wrong")).await.expect_err("a refused token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert_eq!(refused.message(), "invalid_token");

    server.abort();
}

// --- tower-http -------------------------------------------------------------

#[tokio::test]
async fn tower_http_compresses_app_routes() {
    let addr = in_process_addr();
    let app = tower_http_example::app(tower_http_example::well_known(addr).unwrap());

    let plain = app
        .clone()
        .oneshot(get("/api/report", addr).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers, plain) = bytes_of(plain).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(CONTENT_ENCODING).is_none());
    assert!(plain.len() > 1024, "the report is worth compressing");

    let request = get("/api/report", addr)
        .header(ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let (status, headers, gzipped) = bytes_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_ENCODING], "gzip");
    assert!(gzipped.len() < plain.len());
    assert_eq!(gunzip(&gzipped), plain);
}

#[tokio::test]
async fn tower_http_session_endpoint_keeps_its_answer_and_headers_under_compression() {
    let addr = in_process_addr();
    let app = tower_http_example::app(tower_http_example::well_known(addr).unwrap());
    let request = get(SESSION, addr)
        .header(ACCEPT_ENCODING, "gzip")
        .header(AUTHORIZATION, bearer(tower_http_example::TOKEN))
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = bytes_of(app.clone().oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    // The layer sits inside the compression layer: its JSON is compressed too.
    assert_eq!(headers[CONTENT_ENCODING], "gzip");
    let json = json_of(&gunzip(&body));
    assert_token_session(&json, "user-id", addr);
    assert_eq!(json["user"]["name"], "Ada Lovelace");

    let request = get(SESSION, addr).body(Body::empty()).unwrap();
    let (status, headers, body) = bytes_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_session_headers(&headers);
    assert_eq!(json_of(&body), json!({"auth": {"authenticated": false}}));
}

#[tokio::test]
async fn tower_http_logout_is_answered_with_204() {
    let addr = in_process_addr();
    let app = tower_http_example::app(tower_http_example::well_known(addr).unwrap());
    let request = Request::post(LOGOUT)
        .header(HOST, addr.to_string())
        .header(ACCEPT_ENCODING, "gzip")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = bytes_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(headers.get(CONTENT_ENCODING).is_none());
    assert!(body.is_empty());
}

/// The example served on a real loopback socket (as its `main` serves it)
/// while a subscriber with `filter` records this thread's log: the requests
/// carry credentials in every place a client puts them, and the log must
/// show the requests but none of the credentials.
///
/// The runtime is current-thread, so the server's and the client's tasks all
/// run on the test's thread and log to its scoped subscriber, not to another
/// test's.
async fn tower_http_log_has_no_credentials(filter: &str, span_events: FmtSpan) {
    // The example's token (accepted), a token it does not know, and a
    // session cookie value (the example has no session store, so it is
    // simply ignored; a log must not hold it all the same).
    const UNKNOWN_TOKEN: &str = "unknown-token-Zq7xW2";
    const SESSION_ID: &str = "session-id-Kp4vN9";
    let secrets = [tower_http_example::TOKEN, UNKNOWN_TOKEN, SESSION_ID];

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_span_events(span_events)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    let (listener, addr) = loopback().await;
    let app = tower_http_example::app(tower_http_example::well_known(addr).unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http1 = client(false);
    let send = async |method: http::Method, path: &str, headers: &[(HeaderName, String)]| {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = http1
            .request(request.body(Empty::new()).unwrap())
            .await
            .expect("the server answers");
        bytes_of(response).await
    };
    let token = tower_http_example::TOKEN;
    let cookie = format!("rstream_session={SESSION_ID}");

    // A query token, on the session endpoint: it authenticates the caller.
    let (status, _, body) = send(
        http::Method::GET,
        &format!("{SESSION}?rstream.token={token}"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_token_session(&json_of(&body), "user-id", addr);
    // ... on an app route, and under a percent-encoded parameter name.
    for path in [
        format!("/api/report?rstream.token={token}"),
        format!("/?a=1&rstream%2Etoken={UNKNOWN_TOKEN}&b=2"),
        format!("{SESSION}?rstream.token={UNKNOWN_TOKEN}"),
    ] {
        let (status, _, _) = send(http::Method::GET, &path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // A bearer token in the header.
    let (status, _, body) = send(
        http::Method::GET,
        SESSION,
        &[(AUTHORIZATION, bearer(token))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_token_session(&json_of(&body), "user-id", addr);
    // A session cookie, on the session endpoint, an app route and logout.
    for (method, path) in [
        (http::Method::GET, SESSION),
        (http::Method::GET, "/api/report"),
        (http::Method::POST, LOGOUT),
    ] {
        let (status, _, _) = send(method, path, &[(COOKIE, cookie.clone())]).await;
        assert!(status.is_success(), "{path}: {status}");
    }
    // Everything at once, with a token the example does not know.
    let (status, _, _) = send(
        http::Method::GET,
        &format!("/api/report?rstream.token={UNKNOWN_TOKEN}"),
        &[
            (AUTHORIZATION, bearer(UNKNOWN_TOKEN)),
            (COOKIE, cookie.clone()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    server.abort();
    drop(guard);

    let log = captured.text();
    for path in ["/api/report", SESSION, LOGOUT] {
        assert!(
            log.contains(path),
            "filter {filter}: the requests for {path} are not logged:\n{log}"
        );
    }
    let leaked: Vec<_> = secrets.iter().filter(|s| log.contains(**s)).collect();
    assert!(
        leaked.is_empty(),
        "filter {filter}: the log holds the credentials {leaked:?}:\n{log}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tower_http_request_log_holds_no_credentials_with_the_default_filter() {
    tower_http_log_has_no_credentials(tower_http_example::DEFAULT_LOG_FILTER, FmtSpan::NONE).await;
}

#[tokio::test(flavor = "current_thread")]
async fn tower_http_request_log_holds_no_credentials_at_trace_level() {
    tower_http_log_has_no_credentials("trace", FmtSpan::FULL).await;
}
