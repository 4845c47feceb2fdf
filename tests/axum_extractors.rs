//! The axum extractors (feature `axum`): required, optional, the whole
//! `Caller`, and the programming error of a route the layer did not
//! resolve.
#![cfg(feature = "axum")]

use crate::common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use rstream_well_known::axum::{Authenticated, CallerRejection};
use rstream_well_known::{
    Caller, MemoryStore, Paths, StaticTokenVerifier, TokenContext, TokenVerdict, TokenVerifier,
    Unauthenticated, WellKnownLayer,
};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Accepts `TOKEN`; `out-of-scope` is valid but out of scope.
#[derive(Clone)]
struct Scoped;

impl TokenVerifier for Scoped {
    type Error = Down;

    async fn verify(&self, token: &str, _: TokenContext<'_>) -> Result<TokenVerdict, Down> {
        Ok(match token {
            TOKEN => TokenVerdict::Accepted(ada()),
            "out-of-scope" => TokenVerdict::OutOfScope,
            _ => TokenVerdict::Refused,
        })
    }
}

fn routes() -> Router {
    Router::new()
        .route(
            "/required",
            get(|Authenticated(identity): Authenticated| async move {
                identity.user().user_id().to_owned()
            }),
        )
        .route(
            "/optional",
            get(|caller: Option<Authenticated>| async move {
                caller.map_or("nobody".to_owned(), |Authenticated(i)| {
                    i.user().user_id().to_owned()
                })
            }),
        )
        .route(
            "/caller",
            get(|caller: Caller| async move {
                format!(
                    "{:?} {:?} {:?}",
                    caller.method().map(|m| m.as_str()),
                    caller.unauthenticated().map(Unauthenticated::reason),
                    caller.tunnel().map(|t| t.host().to_owned())
                )
            }),
        )
}

fn layer(identity: Paths) -> WellKnownLayer<Scoped, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(Scoped)
        .with_session_store(MemoryStore::new())
        .identity(identity)
        .build()
        .unwrap()
}

async fn call(
    app: &Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, http::HeaderMap, String) {
    let mut request = Request::get(path).header("host", HOST);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn required_optional_and_the_whole_caller() {
    let app = routes().layer(layer(Paths::all()));
    assert_eq!(call(&app, "/required", Some(TOKEN)).await.2, "user-id");
    assert_eq!(call(&app, "/optional", Some(TOKEN)).await.2, "user-id");
    assert_eq!(call(&app, "/optional", None).await.2, "nobody");
    assert_eq!(call(&app, "/optional", Some("wrong")).await.2, "nobody");
    assert_eq!(
        call(&app, "/caller", Some(TOKEN)).await.2,
        r#"Some("token-auth") None Some("app.example.com")"#
    );
    assert_eq!(
        call(&app, "/caller", Some("out-of-scope")).await.2,
        r#"None Some("insufficient_scope") Some("app.example.com")"#
    );
}

#[tokio::test]
async fn the_required_extractor_answers_like_the_layer() {
    let app = routes().layer(layer(Paths::all()));
    for (token, status, challenge, reason) in [
        (None, 401, Some("Bearer"), "unauthenticated"),
        (
            Some("wrong"),
            401,
            Some(r#"Bearer error="invalid_token""#),
            "invalid_token",
        ),
        (
            Some("out-of-scope"),
            403,
            Some(r#"Bearer error="insufficient_scope""#),
            "insufficient_scope",
        ),
    ] {
        let (got, headers, body) = call(&app, "/required", token).await;
        assert_eq!(got, status, "{token:?}");
        assert_eq!(
            headers.get("www-authenticate").map(|v| v.to_str().unwrap()),
            challenge
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(json(&body), json!({"error": reason}));
        assert!(!body.contains("wrong"), "never echoes the token");
    }
}

#[tokio::test]
async fn a_route_the_layer_did_not_resolve_is_a_programming_error() {
    // No layer at all, and a layer with identity off for the path: 500
    // for every extractor, the optional one included.
    let without = routes();
    let elsewhere = routes().layer(layer(Paths::prefix("/api")));
    let plain = routes().layer(
        WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_token_verifier(StaticTokenVerifier::new().with_token(TOKEN, ada()))
            .build()
            .unwrap(),
    );
    for app in [&without, &elsewhere, &plain] {
        for path in ["/required", "/optional", "/caller"] {
            let (status, headers, body) = call(app, path, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            assert_eq!(headers["cache-control"], "no-store");
            assert_eq!(json(&body), json!({"error": "caller_not_resolved"}));
        }
    }
    assert!(
        CallerRejection::NotResolved
            .to_string()
            .contains("WellKnownBuilder::identity")
    );
}
