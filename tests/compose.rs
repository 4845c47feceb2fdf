//! The layer composes like any tower middleware: it is Clone, Send and Sync
//! where tower needs it, works inside `ServiceBuilder` with tower-http
//! layers, behind axum's `Router::layer`, and with custom backends.

use crate::common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use rstream_well_known::{
    MemoryStore, ResponseBody, ResponseFuture, StaticTokenVerifier, WellKnownLayer,
    WellKnownService,
};
use tower::{ServiceBuilder, ServiceExt};

fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}
fn assert_send<T: Send>() {}

#[test]
fn layer_service_future_and_body_have_the_auto_traits_tower_needs() {
    assert_clone_send_sync::<WellKnownLayer>();
    assert_clone_send_sync::<WellKnownLayer<RecordingVerifier, FlakyStore>>();
    assert_clone_send_sync::<WellKnownService<Recorder>>();
    assert_clone_send_sync::<WellKnownService<axum::Router, StaticTokenVerifier, MemoryStore>>();
    assert_send::<
        ResponseFuture<std::future::Ready<Result<http::Response<Full<Bytes>>, Infallible>>>,
    >();
    assert_send::<ResponseBody<Full<Bytes>>>();
}

#[tokio::test]
async fn composes_in_a_service_builder_with_tower_http() {
    let service = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ))
        .layer(layer())
        .service(Recorder::default());
    let request = get(SESSION)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["auth"]["method"], "token-auth");

    let response = service
        .oneshot(get("/app").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "inner"
    );
}

#[tokio::test]
async fn works_as_an_axum_router_layer_with_custom_backends() {
    let verifier = RecordingVerifier::default();
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .with_session_store(FlakyStore::default())
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .route(
            SESSION,
            axum::routing::get(|| async { "the app must never answer this" }),
        )
        .layer(layer.clone());
    let cookie = sign_in(&layer, ada()).await;
    let request = get(SESSION)
        .header("cookie", &cookie)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["auth"]["method"], "rstream-auth");

    let response = app
        .oneshot(get("/").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "home"
    );
}

#[tokio::test]
async fn cloned_layers_share_sessions() {
    let layer = layer();
    let copy = layer.clone();
    let cookie = sign_in(&layer, ada()).await;
    let answer = send(
        &copy,
        &Recorder::default(),
        get(SESSION)
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
}

/// Behind tower-http's compression, `HEAD` gets exactly the headers `GET`
/// gets: the compressor sizes both by the same `Content-Length`.
#[tokio::test]
async fn head_and_get_agree_through_compression() {
    let service = ServiceBuilder::new()
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(layer())
        .service(Recorder::default());
    let mut answers = Vec::new();
    for method in ["GET", "HEAD"] {
        // Signed in and not: two sizes, one decision for GET and HEAD.
        for authorization in [Some(format!("Bearer {TOKEN}")), None] {
            let mut request = request(method, SESSION).header("accept-encoding", "gzip");
            if let Some(authorization) = &authorization {
                request = request.header("authorization", authorization);
            }
            let response = service
                .clone()
                .oneshot(request.body(empty()).unwrap())
                .await
                .unwrap();
            let headers = response.headers().clone();
            answers.push((method, authorization.is_some(), headers));
        }
    }
    for signed_in in [true, false] {
        let pick = |method: &str| {
            answers
                .iter()
                .find(|(m, s, _)| *m == method && *s == signed_in)
                .map(|(_, _, headers)| headers.clone())
                .unwrap()
        };
        let (get, head) = (pick("GET"), pick("HEAD"));
        assert_eq!(get, head, "signed in: {signed_in}");
        let encoding = get.get("content-encoding").map(|v| v.to_str().unwrap());
        if signed_in {
            assert_eq!(encoding, Some("gzip"));
            assert_eq!(get.get("vary").unwrap(), "accept-encoding");
            assert_eq!(get.get("content-length"), None);
        }
    }
}

/// A store that never answers holds the request until a timeout in front of
/// the layer ends it (the layer itself has no timer): tower-http's
/// `TimeoutLayer` answers instead, and nothing reaches the inner service.
#[tokio::test]
async fn a_timeout_in_front_ends_a_backend_that_never_answers() {
    #[derive(Clone)]
    struct Silent;
    impl rstream_well_known::SessionStore for Silent {
        type Error = Down;
        async fn create(
            &self,
            _: rstream_well_known::Session,
        ) -> Result<rstream_well_known::SessionId, Down> {
            std::future::pending().await
        }
        async fn load(
            &self,
            _: &rstream_well_known::SessionId,
        ) -> Result<Option<rstream_well_known::Session>, Down> {
            std::future::pending().await
        }
        async fn touch(
            &self,
            _: &rstream_well_known::SessionId,
            _: std::time::SystemTime,
        ) -> Result<(), Down> {
            std::future::pending().await
        }
        async fn revoke(&self, _: &rstream_well_known::SessionId) -> Result<(), Down> {
            std::future::pending().await
        }
    }
    let recorder = Recorder::default();
    let service = ServiceBuilder::new()
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(200),
        ))
        .layer(layer_with(Silent))
        .service(recorder.clone());
    for request in [
        get(SESSION).header("cookie", format!("{COOKIE_NAME}=some-session")),
        logout_request().header("cookie", format!("{COOKIE_NAME}=some-session")),
    ] {
        let response = service
            .clone()
            .oneshot(request.body(empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert!(response.headers().get("set-cookie").is_none());
    }
    assert_eq!(recorder.count(), 0);
}
