//! Where CORS middleware goes relative to the layer, and what each order
//! exposes (tower-http's `CorsLayer`).
//!
//! - **Outside** (`ServiceBuilder::new().layer(cors).layer(well_known)`):
//!   preflights are answered by `CorsLayer` before the layer sees them, so
//!   cross-origin clients can call guarded paths (their `401`s are readable
//!   too), and the session endpoint's answer is readable by the allowed
//!   origins. Logout still refuses them: its origin check is the layer's.
//! - **Inside** (`ServiceBuilder::new().layer(well_known).layer(cors)`): the
//!   layer's own answers (the endpoints, `401`, `403`, redirects) carry no
//!   CORS headers, so no other origin can read them; a preflight to a guarded
//!   path is refused (`401`: preflights carry no credentials) and so is one to
//!   a well-known path (`405`).

use crate::common;

use common::*;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD,
    ORIGIN as ORIGIN_HEADER,
};
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use rstream_well_known::{MemoryStore, Paths, WellKnownLayer};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::CorsLayer;

const OTHER: &str = "https://other.example";

fn well_known() -> WellKnownLayer {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .with_session_store(MemoryStore::new())
        .require_authentication(Paths::prefix("/api"))
        .build()
        .unwrap()
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(HeaderValue::from_static(OTHER))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([http::header::AUTHORIZATION, http::header::CONTENT_TYPE])
        .allow_credentials(true)
}

/// Sends `request` through `service`: status, CORS origin, body.
async fn call<S, B>(
    service: S,
    request: Request<http_body_util::Full<bytes::Bytes>>,
) -> (u16, Option<String>, String)
where
    S: tower::Service<Request<http_body_util::Full<bytes::Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let allowed = response
        .headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap().to_owned());
    if allowed.is_some() {
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, allowed, String::from_utf8_lossy(&body).into_owned())
}

fn preflight(path: &str) -> Request<http_body_util::Full<bytes::Bytes>> {
    request("OPTIONS", path)
        .header(ORIGIN_HEADER, OTHER)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(empty())
        .unwrap()
}

fn from_other(method: &str, path: &str) -> http::request::Builder {
    request(method, path).header(ORIGIN_HEADER, OTHER)
}

#[tokio::test]
async fn cors_outside_the_layer_opens_the_endpoints_and_guarded_paths_to_allowed_origins() {
    let well_known = well_known();
    let cookie = sign_in(&well_known, ada()).await;
    let recorder = Recorder::default();
    let service = || {
        ServiceBuilder::new()
            .layer(cors())
            .layer(well_known.clone())
            .service(recorder.clone())
    };
    // Preflights never reach the layer: cross-origin calls can happen.
    let (status, allowed, _) = call(service(), preflight("/api/orders")).await;
    assert_eq!((status, allowed.as_deref()), (200, Some(OTHER)));
    let (status, allowed, _) = call(service(), preflight(SESSION)).await;
    assert_eq!((status, allowed.as_deref()), (200, Some(OTHER)));
    // The layer's refusals are readable by the allowed origin...
    let (status, allowed, body) = call(
        service(),
        from_other("GET", "/api/orders").body(empty()).unwrap(),
    )
    .await;
    assert_eq!((status, allowed.as_deref()), (401, Some(OTHER)));
    assert_eq!(body, r#"{"error":"unauthenticated"}"#);
    // ... and so is who is signed in: the allowed origin sees the profile.
    let request = from_other("GET", SESSION)
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let (status, allowed, body) = call(service(), request).await;
    assert_eq!((status, allowed.as_deref()), (200, Some(OTHER)));
    assert!(body.contains(r#""userId":"user-id""#), "{body}");
    // Logout from that origin is still refused by the layer.
    let request = from_other("POST", LOGOUT)
        .header("content-type", "application/json")
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let (status, _, body) = call(service(), request).await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"error":"origin_mismatch"}"#)
    );
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn cors_inside_the_layer_keeps_the_layers_answers_same_origin() {
    let well_known = well_known();
    let cookie = sign_in(&well_known, ada()).await;
    let recorder = Recorder::default();
    let service = || {
        ServiceBuilder::new()
            .layer(well_known.clone())
            .layer(cors())
            .service(recorder.clone())
    };
    // Preflights meet the layer first: refused on guarded and well-known paths.
    let (status, allowed, _) = call(service(), preflight("/api/orders")).await;
    assert_eq!((status, allowed), (401, None));
    let (status, allowed, _) = call(service(), preflight(SESSION)).await;
    assert_eq!((status, allowed), (405, None));
    // The layer's answers carry no CORS header: other origins cannot read them.
    let request = from_other("GET", SESSION)
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let (status, allowed, _) = call(service(), request).await;
    assert_eq!((status, allowed), (200, None));
    let (status, allowed, _) = call(
        service(),
        from_other("GET", "/api/orders").body(empty()).unwrap(),
    )
    .await;
    assert_eq!((status, allowed), (401, None));
    // The application's own answers get CORS as configured.
    let (status, allowed, body) = call(
        service(),
        from_other("GET", "/public").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, allowed.as_deref(), body.as_str()),
        (200, Some(OTHER), "inner")
    );
    let request = from_other("GET", "/api/orders")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let (status, allowed, _) = call(service(), request).await;
    assert_eq!((status, allowed.as_deref()), (200, Some(OTHER)));
    let (status, allowed, _) = call(service(), preflight("/public")).await;
    assert_eq!((status, allowed.as_deref()), (200, Some(OTHER)));
}
