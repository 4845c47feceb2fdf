//! Requiring authentication on forwarded requests, as rstream's edge does:
//! which paths, which answers (401, 403, 503, a sign-in redirect), and that
//! a refused request never reaches the application, however its path is
//! spelled.

use crate::common;

use common::*;
use http::header::LOCATION;
use http::{Request, StatusCode};
use rstream_well_known::{
    Caller, ConfigError, MemoryStore, Paths, StaticTokenVerifier, TokenContext, TokenVerdict,
    TokenVerifier, WellKnownBuilder, WellKnownLayer,
};
use serde_json::json;

/// Accepts `TOKEN`, calls `SCOPED` out of scope, fails on `BROKEN`.
#[derive(Clone)]
struct Scoped;

const SCOPED: &str = "scoped.0123";
const BROKEN: &str = "broken.0123";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

impl TokenVerifier for Scoped {
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

fn builder() -> WellKnownBuilder<Scoped, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(Scoped)
        .with_session_store(MemoryStore::new())
}

/// Everything but `/public` and `/login`, with a sign-in page.
fn guarded() -> WellKnownLayer<Scoped, MemoryStore> {
    builder()
        .require_authentication(
            Paths::all()
                .except_prefix("/public")
                .except_prefix("/login")
                .except_matching(|path| path == "/healthz"),
        )
        .sign_in_url("/login")
        .build()
        .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[track_caller]
fn assert_refused(answer: &Answer, status: u16, reason: &str, challenge: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json(), json!({ "error": reason }));
    assert_eq!(answer.header("www-authenticate"), challenge);
}

#[tokio::test]
async fn unauthenticated_requests_are_answered_by_the_layer_and_never_forwarded() {
    let layer = guarded();
    let recorder = Recorder::default();
    let cases: [(Option<&str>, u16, &str, Option<&str>); 5] = [
        (None, 401, "unauthenticated", Some("Bearer")),
        (
            Some("wrong"),
            401,
            "invalid_token",
            Some(r#"Bearer error="invalid_token""#),
        ),
        (
            Some(""),
            401,
            "invalid_token",
            Some(r#"Bearer error="invalid_token""#),
        ),
        (
            Some(SCOPED),
            403,
            "insufficient_scope",
            Some(r#"Bearer error="insufficient_scope""#),
        ),
        (Some(BROKEN), 503, "authentication_unavailable", None),
    ];
    for (token, status, reason, challenge) in cases {
        for method in ["GET", "POST", "DELETE", "OPTIONS"] {
            let mut request = request(method, "/api/orders?x=1");
            if let Some(token) = token {
                request = request.header("authorization", bearer(token));
            }
            let answer = send(&layer, &recorder, request.body(empty()).unwrap()).await;
            assert_refused(&answer, status, reason, challenge);
            if let Some(token) = token.filter(|t| !t.is_empty()) {
                assert!(!answer.everything().contains(token), "never echoed");
            }
        }
    }
    assert_eq!(recorder.count(), 0, "nothing reached the application");
}

#[tokio::test]
async fn head_gets_the_headers_of_get() {
    let layer = guarded();
    let recorder = Recorder::default();
    let get = send(&layer, &recorder, get("/api").body(empty()).unwrap()).await;
    let head = send(
        &layer,
        &recorder,
        request("HEAD", "/api").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(head.status, 401);
    assert_eq!(head.headers, get.headers);
    assert!(head.body.is_empty());
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn authenticated_requests_pass_with_their_caller() {
    let layer = guarded();
    let cookie = sign_in(&layer, ada()).await;
    let recorder = Recorder::default();
    let answer = send(
        &layer,
        &recorder,
        get("/api")
            .header("authorization", bearer(TOKEN))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (answer.status.as_u16(), answer.text()),
        (200, "inner".to_owned())
    );
    let answer = send(
        &layer,
        &recorder,
        request("POST", "/api?rstream.token=x")
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "a refused token, then the cookie");
    assert_eq!(
        recorder.last().uri,
        "/api",
        "the token parameter is stripped"
    );
    // A valid cookie beside an out-of-scope token passes too.
    let answer = send(
        &layer,
        &recorder,
        get("/api")
            .header("authorization", bearer(SCOPED))
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(recorder.count(), 3);
}

#[tokio::test]
async fn the_caller_reaches_handlers_of_guarded_paths() {
    let layer = guarded();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let handler = {
        let seen = seen.clone();
        tower::service_fn(
            move |request: Request<http_body_util::Full<bytes::Bytes>>| {
                *seen.lock().unwrap() = request.extensions().get::<Caller>().cloned();
                async { Ok::<_, std::convert::Infallible>(http::Response::new(empty())) }
            },
        )
    };
    use tower::{Layer, ServiceExt};
    let response = layer
        .layer(handler)
        .oneshot(
            get("/api")
                .header("authorization", bearer(TOKEN))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let caller = seen.lock().unwrap().clone().expect("a Caller");
    assert_eq!(caller.user(), Some(&ada()));
}

#[tokio::test]
async fn exemptions_hold_only_for_paths_that_cannot_leave_them() {
    let layer = guarded();
    let recorder = Recorder::default();
    for path in [
        "/public",
        "/public/",
        "/public/app.css",
        "/public/my%20photo.png",
        "/public/caf%C3%A9.html",
        "/login",
        "/login?return_to=/api",
        "/healthz",
    ] {
        let answer = send(&layer, &recorder, get(path).body(empty()).unwrap()).await;
        assert_eq!(answer.status, 200, "{path}");
    }
    assert_eq!(recorder.count(), 8);
    for path in [
        "/public/../api",
        "/public/..;/api",
        "/public/..%2Fapi",
        "/public/%2e%2e/api",
        "/public/%2E%2E/api",
        "/public/.%2e/api",
        "/public/%252e%252e/api",
        "/public/%u002e%u002e/api",
        "/public/%C0%AE%C0%AE/api",
        "/public/%EF%BC%8E%EF%BC%8E/api",
        "/public\\..\\api",
        "/public%5C..%5Capi",
        "/public%2F..%2Fapi",
        "/Public/app.css",
        "/PUBLIC",
        "/publicity",
        "//public/x",
        "/public./x",
        "/public;x/y",
        "/%70ublic/app.css",
        "/healthz/",
        "/%68ealthz",
        "/HEALTHZ",
        "/api",
        "/",
    ] {
        let answer = send(&layer, &recorder, get(path).body(empty()).unwrap()).await;
        assert_eq!(answer.status, 401, "{path}");
    }
    assert_eq!(recorder.count(), 8, "no spelling slipped through");
}

#[tokio::test]
async fn only_under_prefixes_every_spelling_of_the_prefix_is_guarded() {
    let layer = builder()
        .require_authentication(Paths::prefix("/admin").or_prefix("/api/v1"))
        .build()
        .unwrap();
    let recorder = Recorder::default();
    for path in [
        "/admin",
        "/admin/",
        "/admin/users",
        "/ADMIN/users",
        "/Admin",
        "/%61dmin/users",
        "/%2561dmin",
        "/x/../admin",
        "/x/..;/admin/users",
        "/x/%2e%2e/admin",
        "/x%2F..%2Fadmin",
        "/x\\..\\admin",
        "/admin;jsessionid=0/users",
        "/admin./users",
        "//host/admin/users",
        "/ａｄｍｉｎ/users",
        "/admin%3F/x",
        "/api/v1/orders",
        "/api%2Fv1/orders",
        "/API/V1",
    ] {
        let answer = send(&layer, &recorder, get(path).body(empty()).unwrap()).await;
        assert_eq!(answer.status, 401, "{path}");
    }
    assert_eq!(recorder.count(), 0);
    for path in [
        "/",
        "/administrator",
        "/x/admin",
        "/api/v2/orders",
        "/api",
        "/files/a%20b.pdf",
        "/static/..x/admin",
    ] {
        let answer = send(&layer, &recorder, get(path).body(empty()).unwrap()).await;
        assert_eq!(answer.status, 200, "{path}");
    }
}

#[tokio::test]
async fn predicates_see_plain_paths_and_anything_else_is_guarded() {
    let layer = builder()
        .require_authentication(Paths::matching(|path| path.starts_with("/admin/")))
        .build()
        .unwrap();
    let recorder = Recorder::default();
    for (path, status) in [
        ("/admin/x", 401),
        ("/public/x", 200),
        ("/admin", 200),
        // Not plain: the predicate is not asked, the path is guarded.
        ("/public/a%20b", 401),
        ("/x/../admin/x", 401),
    ] {
        let answer = send(&layer, &recorder, get(path).body(empty()).unwrap()).await;
        assert_eq!(answer.status, status, "{path}");
    }
}

#[tokio::test]
async fn browser_navigations_are_sent_to_sign_in_with_their_return_url() {
    let layer = guarded();
    let sessions = layer.session_manager();
    let recorder = Recorder::default();
    let navigate = |path: &str| get(path).header("accept", BROWSER_ACCEPT);

    let answer = send(
        &layer,
        &recorder,
        navigate("/orders/42?tab=items&rstream.token=wrong")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.json(), json!({"error": "sign_in_required"}));
    let location = answer.header(LOCATION.as_str()).unwrap().to_owned();
    assert_eq!(location, "/login?return_to=/orders/42%3Ftab%3Ditems");
    assert!(
        !answer.everything().contains("wrong"),
        "the token is not carried"
    );
    // What the sign-in handler gets back is a safe return URL.
    let back = location.split_once("return_to=").unwrap().1;
    let back = percent_decode(back);
    assert_eq!(
        sessions.safe_return_url(&back),
        Some("/orders/42?tab=items")
    );

    // HEAD navigations too, without a body.
    let head = send(
        &layer,
        &recorder,
        request("HEAD", "/orders")
            .header("accept", "text/html")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(head.status, StatusCode::SEE_OTHER);
    assert_eq!(head.header("location"), Some("/login?return_to=/orders"));
    assert!(head.body.is_empty());

    // An invalid token in a link: still a navigation to sign in.
    let answer = send(
        &layer,
        &recorder,
        navigate("/orders")
            .header("authorization", bearer("wrong"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn everything_but_a_navigation_gets_401_never_a_redirect() {
    let layer = guarded();
    let recorder = Recorder::default();
    let cases = [
        request("POST", "/orders").header("accept", BROWSER_ACCEPT),
        request("PUT", "/orders").header("accept", "text/html"),
        get("/orders").header("accept", "*/*"),
        get("/orders").header("accept", "application/json"),
        get("/orders").header("accept", "text/html;q=0"),
        get("/orders"),
        get("/socket")
            .header("accept", BROWSER_ACCEPT)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        get("/orders")
            .header("accept", BROWSER_ACCEPT)
            .header("connection", "upgrade"),
    ];
    for request in cases {
        let answer = send(&layer, &recorder, request.body(empty()).unwrap()).await;
        assert_refused(&answer, 401, "unauthenticated", Some("Bearer"));
        assert_eq!(answer.header("location"), None);
    }
    // Out of scope and failing backends are not fixed by signing in again.
    let answer = send(
        &layer,
        &recorder,
        get("/orders")
            .header("accept", BROWSER_ACCEPT)
            .header("authorization", bearer(SCOPED))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 403);

    // No rstream Auth (tokens only): no redirect. A sign-in URL there could
    // never be used, so the build refuses it.
    let tokens_only = || {
        WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_token_verifier(StaticTokenVerifier::new().with_token(TOKEN, ada()))
            .require_authentication(Paths::all().except_prefix("/login"))
    };
    assert_eq!(
        tokens_only().sign_in_url("/login").build().unwrap_err(),
        ConfigError::SignInWithoutStore
    );
    let tokens_only = tokens_only().build().unwrap();
    let answer = send(
        &tokens_only,
        &recorder,
        get("/orders")
            .header("accept", BROWSER_ACCEPT)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 401);
    // No sign-in URL: 401.
    let no_sign_in = builder()
        .require_authentication(Paths::all())
        .build()
        .unwrap();
    let answer = send(
        &no_sign_in,
        &recorder,
        get("/orders")
            .header("accept", BROWSER_ACCEPT)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn a_guarded_handshake_the_cookie_authenticates_must_come_from_the_tunnel_origin() {
    const SIBLING: &str = "https://sibling.example.com";
    let layer = guarded();
    let cookie = sign_in(&layer, ada()).await;
    let recorder = Recorder::default();
    let handshake = |path: &str, origin: &str| {
        get(path)
            .header("accept", BROWSER_ACCEPT)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("origin", origin)
            .header("cookie", &cookie)
            .body(empty())
            .unwrap()
    };
    let answer = send(&layer, &recorder, handshake("/socket", SIBLING)).await;
    assert_refused(&answer, 403, "origin_mismatch", None);
    assert_eq!(answer.header("location"), None, "never sent to sign in");
    assert_eq!(recorder.count(), 0, "never forwarded");

    let answer = send(&layer, &recorder, handshake("/socket", ORIGIN)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(recorder.count(), 1);
    // An exempt path is not the layer's business: nothing is checked.
    let answer = send(&layer, &recorder, handshake("/public/socket", SIBLING)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(recorder.count(), 2);
}

#[tokio::test]
async fn hosts_that_are_no_tunnel_cannot_be_authenticated() {
    let layer = guarded();
    let recorder = Recorder::default();
    let answer = send(
        &layer,
        &recorder,
        Request::get("/api")
            .header("host", "elsewhere.example")
            .header("authorization", bearer(TOKEN))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_refused(&answer, 401, "unknown_host", Some("Bearer"));
    let answer = send(
        &layer,
        &recorder,
        get("/api")
            .header("host", "other.example")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_refused(&answer, 400, "ambiguous_host", None);
    // Exempt paths are exempt on any host (health checks by address).
    let answer = send(
        &layer,
        &recorder,
        Request::get("/healthz")
            .header("host", "10.0.0.5:8080")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(recorder.count(), 1);
}

#[tokio::test]
async fn well_known_endpoints_are_unaffected_by_enforcement() {
    let layer = guarded();
    let recorder = Recorder::default();
    let answer = send(&layer, &recorder, get(SESSION).body(empty()).unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"auth": {"authenticated": false}}));
    let answer = send(&layer, &recorder, logout_request().body(empty()).unwrap()).await;
    assert_eq!(answer.status, 204);
}

#[test]
fn misconfigurations_are_refused_at_build() {
    let error = |builder: WellKnownBuilder<Scoped, MemoryStore>| builder.build().unwrap_err();
    assert_eq!(
        error(
            builder()
                .require_authentication(Paths::all())
                .sign_in_url("/login")
        ),
        ConfigError::SignInRequiresAuthentication("/login".to_owned())
    );
    assert_eq!(
        error(
            builder()
                .require_authentication(Paths::prefix("/app"))
                .sign_in_url("/APP/login?x=1")
        ),
        ConfigError::SignInRequiresAuthentication("/APP/login".to_owned())
    );
    for url in [
        "login",
        "//evil/login",
        "/\\evil",
        "https://app.example.com/login",
        "/a b",
    ] {
        assert_eq!(
            error(
                builder()
                    .require_authentication(Paths::prefix("/app"))
                    .sign_in_url(url)
            ),
            ConfigError::InvalidSignInUrl(url.to_owned()),
            "{url}"
        );
    }
    assert_eq!(
        error(
            builder()
                .require_authentication(Paths::prefix("/app"))
                .sign_in_url("/login")
                .sign_in_return_parameter("a&b")
        ),
        ConfigError::InvalidReturnParameter("a&b".to_owned())
    );
    assert_eq!(
        error(builder().require_authentication(Paths::all().except_prefix("/a%2Fb"))),
        ConfigError::InvalidPathPrefix("/a%2Fb".to_owned())
    );
    assert_eq!(
        error(builder().identity(Paths::prefix("no-slash"))),
        ConfigError::InvalidPathPrefix("no-slash".to_owned())
    );
    // Configurations that could never work.
    let bare = || WellKnownLayer::builder().tunnel(tunnel());
    assert_eq!(
        bare()
            .require_authentication(Paths::all())
            .build()
            .unwrap_err(),
        ConfigError::NoAuthentication("require_authentication")
    );
    assert_eq!(
        bare().identity(Paths::all()).build().unwrap_err(),
        ConfigError::NoAuthentication("identity")
    );
    let text = ConfigError::NoAuthentication("identity").to_string();
    assert!(
        text.contains("with_token_verifier or with_session_store"),
        "{text}"
    );
    // Either mechanism alone makes them work.
    assert!(
        bare()
            .with_token_verifier(Scoped)
            .require_authentication(Paths::all())
            .build()
            .is_ok()
    );
    assert!(
        bare()
            .with_session_store(MemoryStore::new())
            .identity(Paths::all())
            .build()
            .is_ok()
    );
    // A sign-in page with no store to keep a session in, or that no
    // refusal ever sends a browser to.
    assert_eq!(
        bare()
            .with_token_verifier(Scoped)
            .require_authentication(Paths::prefix("/app"))
            .sign_in_url("/login")
            .build()
            .unwrap_err(),
        ConfigError::SignInWithoutStore
    );
    assert_eq!(
        error(builder().sign_in_url("/login")),
        ConfigError::SignInWithoutEnforcement
    );
    assert_eq!(
        error(builder().identity(Paths::all()).sign_in_url("/login")),
        ConfigError::SignInWithoutEnforcement
    );
    let layer = builder()
        .require_authentication(Paths::all().except_prefix("/login"))
        .sign_in_url("/login?lang=en")
        .sign_in_return_parameter("next")
        .build();
    assert!(layer.is_ok());
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
