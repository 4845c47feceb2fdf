//! `examples/jwt.rs`, exercised in-process as users run it.
#![cfg(feature = "jwt")]

// The example itself, under its own name inside this test module.
#[allow(dead_code, clippy::module_inception)]
#[path = "../examples/jwt.rs"]
mod jwt_example;

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use rstream_well_known::{StaticTokenVerifier, TokenVerifierChain, User};
use serde_json::Value;
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:3001";
const SECRET: &str = "example-secret-of-at-least-32-bytes!";

async fn session(app: &axum::Router, uri: &str, token: Option<&str>) -> Value {
    let mut request = Request::get(uri).header("host", HOST);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

fn chain(issuer: Option<&str>, audience: Option<&str>) -> TokenVerifierChain {
    TokenVerifierChain::new()
        .verifier(jwt_example::hs256_verifier(SECRET, issuer, audience).unwrap())
        .verifier(StaticTokenVerifier::new().with_token("svc-token", User::new("service")))
}

#[tokio::test]
async fn the_printed_token_authenticates_and_the_scope_check_guards_urls() {
    let app = jwt_example::app(HOST, chain(None, None)).unwrap();
    let token = jwt_example::mint(SECRET, Duration::from_secs(60), None, None);
    let json = session(&app, "/.well-known/rstream/session", Some(&token)).await;
    assert_eq!(json["auth"]["method"], "token-auth");
    assert_eq!(json["user"]["userId"], "user-demo");
    assert_eq!(json["user"]["name"], "Demo User");
    // The same token in the URL lacks the `session:read` scope.
    let by_query = format!("/.well-known/rstream/session?rstream.token={token}");
    assert_eq!(
        session(&app, &by_query, None).await["auth"]["authenticated"],
        false
    );
    // The service token comes after the JWTs.
    assert_eq!(
        session(&app, "/.well-known/rstream/session", Some("svc-token")).await["user"]["userId"],
        "service"
    );
    // A token signed with another secret is refused.
    let other = jwt_example::mint(
        "another-secret-of-at-least-32-bytes!!",
        Duration::from_secs(60),
        None,
        None,
    );
    let json = session(&app, "/.well-known/rstream/session", Some(&other)).await;
    assert_eq!(json["auth"]["authenticated"], false);
}

#[tokio::test]
async fn issuer_and_audience_must_match_when_set() {
    let app = jwt_example::app(HOST, chain(Some("https://idp"), Some("api"))).unwrap();
    let good = jwt_example::mint(
        SECRET,
        Duration::from_secs(60),
        Some("https://idp"),
        Some("api"),
    );
    let bad = jwt_example::mint(
        SECRET,
        Duration::from_secs(60),
        Some("https://idp"),
        Some("other"),
    );
    assert_eq!(
        session(&app, "/.well-known/rstream/session", Some(&good)).await["auth"]["authenticated"],
        true
    );
    assert_eq!(
        session(&app, "/.well-known/rstream/session", Some(&bad)).await["auth"]["authenticated"],
        false
    );
    assert!(jwt_example::hs256_verifier("short", None, None).is_err());
}
