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
    assert_eq!(
        mixed.unwrap_err(),
        ConfigError::MixedTunnelSchemes {
            http: "http://localhost:3000".to_owned(),
            https: ORIGIN.to_owned(),
        }
    );
    // Set explicitly, the cookie is the application's choice.
    let explicit = WellKnownLayer::builder()
        .development_tunnel(3000)
        .tunnel(tunnel())
        .session_cookie(SessionCookie::default())
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    let cookie = explicit.session_manager().cookie().cookie_name().to_owned();
    assert_eq!(cookie, "__Host-rstream_session");
    assert_eq!(
        WellKnownLayer::builder()
            .development_tunnel(3000)
            .development_tunnel(3000)
            .build()
            .unwrap_err(),
        ConfigError::DuplicateTunnel("localhost:3000".to_owned())
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
    let sessions = layer.session_manager();
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

/// The `Set-Cookie` a sign-in issues, and the one logout answers with, on a
/// layer with `tunnels` and the cookie `cookie` (derived when `None`).
async fn cookies_of(
    tunnels: &[Tunnel],
    cookie: Option<SessionCookie>,
) -> Result<(String, String), ConfigError> {
    let mut builder = WellKnownLayer::builder();
    for tunnel in tunnels {
        builder = builder.tunnel(tunnel.clone());
    }
    if let Some(cookie) = cookie {
        builder = builder.session_cookie(cookie);
    }
    let layer = builder.with_session_store(MemoryStore::new()).build()?;
    let issued = layer
        .session_manager()
        .sign_in(ada())
        .await
        .unwrap()
        .into_set_cookie();
    let issued = issued.to_str().unwrap().to_owned();
    let pair = issued.split(';').next().unwrap().to_owned();
    let first = &tunnels[0];
    let request = Request::post(LOGOUT)
        .header("host", first.host())
        .header("origin", first.origin())
        .header("cookie", pair)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, 204);
    let removed = answer.header("set-cookie").unwrap().to_owned();
    Ok((issued, removed))
}

fn is_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
}

#[tokio::test]
async fn the_derived_cookie_is_secure_exactly_when_the_tunnels_are_https() {
    let https = Tunnel::from_origin("https://app.example.com").unwrap();
    let public_http = Tunnel::from_origin("http://app.internal:8080").unwrap();
    let loopback_http = Tunnel::from_origin("http://127.0.0.1:3000").unwrap();
    let localhost_http = Tunnel::from_origin("http://localhost:3000").unwrap();

    // All https: Secure, with the __Host- prefix, on sign-in and logout.
    let (issued, removed) = cookies_of(std::slice::from_ref(&https), None)
        .await
        .unwrap();
    for cookie in [&issued, &removed] {
        assert!(cookie.starts_with("__Host-rstream_session="), "{cookie}");
        assert!(is_secure(cookie), "{cookie}");
    }

    // Plain http, on a host that is not loopback (browsers drop Secure
    // there) or on loopback (Safari drops it there too): no Secure, no
    // prefix.
    for tunnels in [
        vec![public_http.clone()],
        vec![loopback_http.clone()],
        vec![loopback_http.clone(), localhost_http.clone()],
    ] {
        let (issued, removed) = cookies_of(&tunnels, None).await.unwrap();
        for cookie in [&issued, &removed] {
            assert!(cookie.starts_with("rstream_session="), "{cookie}");
            assert!(!is_secure(cookie), "{cookie}");
        }
    }

    // Mixed: either choice breaks one side, so the build says so.
    for plain in [&public_http, &loopback_http] {
        let error = cookies_of(&[plain.clone(), https.clone()], None)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            ConfigError::MixedTunnelSchemes {
                http: plain.origin(),
                https: https.origin(),
            }
        );
        let text = error.to_string();
        assert!(
            text.contains(&plain.origin()) && text.contains("session_cookie"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_explicit_secure_cookie_on_a_public_plain_http_tunnel_is_refused() {
    let public_http = Tunnel::from_origin("http://app.internal:8080").unwrap();
    let loopback_http = Tunnel::from_origin("http://localhost:3000").unwrap();
    let https = Tunnel::from_origin("https://app.example.com").unwrap();

    let error = cookies_of(
        std::slice::from_ref(&public_http),
        Some(SessionCookie::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        ConfigError::SecureCookieOnPlainHttp("http://app.internal:8080".to_owned())
    );
    let text = error.to_string();
    assert!(text.contains("http://app.internal:8080"), "{text}");
    assert!(text.contains("browsers drop Secure cookies"), "{text}");
    // Beside an https tunnel too: the http one would still lose it.
    assert!(matches!(
        cookies_of(
            &[https.clone(), public_http.clone()],
            Some(SessionCookie::new("__Secure-s"))
        )
        .await,
        Err(ConfigError::SecureCookieOnPlainHttp(_))
    ));

    // Chromium keeps Secure and __Host- cookies on http://localhost: an
    // explicit Secure cookie there is the application's choice.
    let (issued, removed) = cookies_of(&[loopback_http], Some(SessionCookie::default()))
        .await
        .unwrap();
    for cookie in [&issued, &removed] {
        assert!(cookie.starts_with("__Host-rstream_session="), "{cookie}");
        assert!(is_secure(cookie), "{cookie}");
    }
    // And a cookie without Secure is allowed anywhere.
    let (issued, _) = cookies_of(
        &[public_http, https],
        Some(SessionCookie::default().secure(false)),
    )
    .await
    .unwrap();
    assert!(
        issued.starts_with("rstream_session=") && !is_secure(&issued),
        "{issued}"
    );
}

#[tokio::test]
async fn a_tunnel_from_one_origin_reports_null_ids() {
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::from_origin("http://app.internal:8080").unwrap())
        .tunnel(Tunnel::from_origin("HTTPS://Docs.Example.com:443").unwrap())
        .session_cookie(SessionCookie::default().secure(false))
        .with_token_verifier(StaticTokenVerifier::new().with_token(TOKEN, ada()))
        .build()
        .unwrap();
    let recorder = Recorder::default();
    for (host, reported) in [
        ("app.internal:8080", "app.internal:8080"),
        ("docs.example.com", "docs.example.com"),
    ] {
        let request = Request::get(SESSION)
            .header("host", host)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .unwrap();
        let answer = send(&layer, &recorder, request).await;
        let json = answer.json();
        assert_eq!(
            json["tunnel"],
            serde_json::json!({"host": reported, "workspaceId": null, "projectId": null}),
            "{host}"
        );
    }
    // Ids added to an origin's tunnel are reported.
    let tunnel = Tunnel::from_origin("https://app.example.com")
        .unwrap()
        .with_ids("ws", "proj")
        .unwrap();
    assert_eq!(
        (tunnel.workspace_id(), tunnel.project_id()),
        (Some("ws"), Some("proj"))
    );
    assert_eq!(tunnel, Tunnel::new(HOST, "ws", "proj").unwrap());
    for bad in [
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "ftp://app.example.com",
        "https://u@app.example.com",
        "https://app.example.com.",
    ] {
        let error = Tunnel::from_origin(bad).unwrap_err();
        assert_eq!(error, ConfigError::InvalidTunnelOrigin(bad.to_owned()));
        assert!(error.to_string().contains(bad), "{error}");
    }
}
