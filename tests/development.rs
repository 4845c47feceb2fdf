//! Local development: development tunnels on the loopback names with a
//! cookie that plain HTTP keeps, the warning that tells a well-known
//! request reached a host that is no tunnel, and the sign-in origin check.

use crate::common;

use common::*;
use http::Request;
use rstream_well_known::{
    ConfigError, MemoryStore, SessionCookie, StaticTokenVerifier, Tunnel, WellKnownLayer,
};

fn development() -> WellKnownLayer {
    WellKnownLayer::builder()
        .development_tunnel(3000)
        .with_token_verifier(StaticTokenVerifier::new().with_token(TOKEN, ada()))
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_loopback_names_are_tunnels_over_plain_http() {
    let layer = development();
    let recorder = Recorder::default();
    for host in [
        "localhost:3000",
        "127.0.0.1:3000",
        "[::1]:3000",
        "LOCALHOST:3000",
    ] {
        let request = Request::get(SESSION)
            .header("host", host)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .unwrap();
        let answer = send(&layer, &recorder, request).await;
        assert_eq!(answer.status, 200, "{host}");
        assert_eq!(answer.json()["tunnel"]["host"], host.to_ascii_lowercase());
        assert_eq!(answer.json()["tunnel"]["projectId"], "development");
    }
    // Another port is another server.
    let request = Request::get(SESSION)
        .header("host", "localhost:3001")
        .body(empty())
        .unwrap();
    assert_eq!(send(&layer, &recorder, request).await.text(), "inner");

    // The cookie is one plain HTTP keeps, and logout from the page works.
    let cookie = sign_in(&layer, ada()).await;
    assert!(cookie.starts_with("rstream_session="), "{cookie}");
    let set_cookie = layer
        .session_manager()
        .unwrap()
        .sign_in(ada())
        .await
        .unwrap()
        .into_set_cookie();
    assert!(!set_cookie.to_str().unwrap().contains("Secure"));
    let request = Request::post(LOGOUT)
        .header("host", "localhost:3000")
        .header("origin", "http://localhost:3000")
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &recorder, request).await;
    assert_eq!(answer.status, 204);
    assert!(
        answer
            .header("set-cookie")
            .unwrap()
            .starts_with("rstream_session=;")
    );
}

#[test]
fn development_tunnels_never_weaken_a_production_cookie() {
    let mixed = WellKnownLayer::builder()
        .development_tunnel(3000)
        .tunnel(tunnel())
        .with_session_store(MemoryStore::new())
        .build();
    assert_eq!(mixed.unwrap_err(), ConfigError::DevelopmentTunnelMixed);
    // Set explicitly, the cookie is the application's choice.
    let explicit = WellKnownLayer::builder()
        .development_tunnel(3000)
        .tunnel(tunnel())
        .session_cookie(SessionCookie::default())
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    let cookie = explicit
        .session_manager()
        .unwrap()
        .cookie()
        .cookie_name()
        .to_owned();
    assert_eq!(cookie, "__Host-rstream_session");
    assert_eq!(
        WellKnownLayer::builder()
            .development_tunnel(3000)
            .development_tunnel(3000)
            .build()
            .unwrap_err(),
        ConfigError::DuplicateTunnel
    );
}

#[tokio::test]
async fn a_well_known_request_for_a_host_that_is_no_tunnel_is_logged() {
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::new("app.example.com", "w", "p").unwrap())
        .build()
        .unwrap();
    let (captured, _guard) = Captured::install();
    let recorder = Recorder::default();
    for _ in 0..2 {
        let request = Request::get(SESSION)
            .header("host", "localhost:3000")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .unwrap();
        assert_eq!(send(&layer, &recorder, request).await.text(), "inner");
    }
    let log = captured.text();
    assert!(log.contains("is no tunnel of the layer"), "{log}");
    assert!(log.contains("localhost:3000"), "{log}");
    assert!(!log.contains(TOKEN), "no secret in the log");
}

#[test]
fn sign_in_handlers_refuse_cross_site_requests_like_logout() {
    let layer = development();
    let sessions = layer.session_manager().unwrap();
    let check = |headers: &[(&str, &str)]| {
        let mut request = Request::post("/demo/login").header("host", "localhost:3000");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        let by_request = sessions.check_origin(&request).map_err(|e| e.reason());
        let (parts, ()) = request.into_parts();
        assert_eq!(
            by_request,
            sessions.check_origin_parts(&parts).map_err(|e| e.reason())
        );
        by_request
    };
    assert_eq!(check(&[]), Ok(()));
    assert_eq!(check(&[("origin", "http://localhost:3000")]), Ok(()));
    assert_eq!(
        check(&[
            ("sec-fetch-site", "same-origin"),
            ("referer", "http://localhost:3000/?x")
        ]),
        Ok(())
    );
    assert_eq!(check(&[("sec-fetch-site", "none")]), Ok(()));
    assert_eq!(
        check(&[("origin", "http://evil.example")]),
        Err("origin_mismatch")
    );
    assert_eq!(
        check(&[("origin", "http://127.0.0.1:3000")]),
        Err("origin_mismatch")
    );
    assert_eq!(check(&[("origin", "null")]), Err("origin_mismatch"));
    assert_eq!(
        check(&[("referer", "http://localhost:3001/")]),
        Err("origin_mismatch")
    );
    assert_eq!(
        check(&[("sec-fetch-site", "same-site")]),
        Err("cross_origin_request")
    );
    assert_eq!(
        check(&[("sec-fetch-site", "cross-site")]),
        Err("cross_origin_request")
    );
    let elsewhere = Request::post("/login")
        .header("host", "evil.example")
        .body(())
        .unwrap();
    let refused = sessions.check_origin(&elsewhere).unwrap_err();
    assert_eq!(
        (refused.reason(), refused.status().as_u16()),
        ("unknown_host", 403)
    );
    let twice = Request::post("/login")
        .header("host", "localhost:3000")
        .header("host", "localhost:3000")
        .body(())
        .unwrap();
    let refused = sessions.check_origin(&twice).unwrap_err();
    assert_eq!(
        (refused.reason(), refused.status().as_u16()),
        ("ambiguous_host", 400)
    );
}

/// The README's axum example, as printed: asked on `localhost:3000` (what
/// `curl http://localhost:3000/…` sends), the endpoints answer.
#[tokio::test]
async fn the_readme_axum_example_answers_on_localhost() {
    use axum::{Router, routing::get};
    use tower::ServiceExt;

    let layer = WellKnownLayer::builder()
        .development_tunnel(3000)
        .with_token_verifier(StaticTokenVerifier::new().with_token(
            "change-me",
            rstream_well_known::User::new("ci-bot").with_name("CI"),
        ))
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(layer);
    for host in ["localhost:3000", "127.0.0.1:3000"] {
        let request = Request::get(SESSION)
            .header("host", host)
            .header("authorization", "Bearer change-me")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "{host}");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["auth"]["method"], "token-auth");
        assert_eq!(json["user"]["userId"], "ci-bot");
        assert_eq!(json["tunnel"]["host"], host);
    }
}
