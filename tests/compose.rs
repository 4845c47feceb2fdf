//! The layer composes like any tower middleware: it is Clone, Send and Sync
//! where tower needs it, works inside `ServiceBuilder` with tower-http
//! layers, behind axum's `Router::layer`, and with custom backends.

mod common;

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
