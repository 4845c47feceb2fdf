//! The session endpoint, from the outside: exact documents, headers, methods,
//! HEAD, hosts and tunnels.

use crate::common;

use common::*;
use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};

const UNAUTHENTICATED: &str = r#"{"auth":{"authenticated":false}}"#;

fn assert_json_headers(answer: &Answer) {
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        answer.header("content-length"),
        Some(answer.body.len().to_string().as_str())
    );
    assert_eq!(answer.header("clear-site-data"), None);
}

#[tokio::test]
async fn unauthenticated_is_exactly_the_spec_document() {
    let recorder = Recorder::default();
    let answer = send(&layer(), &recorder, get(SESSION).body(empty()).unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), UNAUTHENTICATED);
    assert_json_headers(&answer);
    assert_eq!(
        recorder.count(),
        0,
        "well-known requests are never forwarded"
    );
}

#[tokio::test]
async fn token_authenticated_document_has_the_spec_shape_and_order() {
    let recorder = Recorder::default();
    let request = get(SESSION)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let answer = send(&layer(), &recorder, request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.text(),
        concat!(
            r#"{"auth":{"authenticated":true,"method":"token-auth"},"#,
            r#""user":{"userId":"user-id","name":"Ada Lovelace","email":"ada@example.com","image":null},"#,
            r#""tunnel":{"host":"app.example.com","workspaceId":"workspace-id","projectId":"project-id"},"#,
            r#""policies":["token-auth","rstream-auth"]}"#
        )
    );
    assert_json_headers(&answer);
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn cookie_authenticated_document_names_rstream_auth_and_keeps_nulls() {
    let layer = layer();
    let cookie = sign_in(&layer, User::new("u-2")).await;
    let request = get(SESSION)
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(
        answer.json(),
        serde_json::json!({
            "auth": {"authenticated": true, "method": "rstream-auth"},
            "user": {"userId": "u-2", "name": null, "email": null, "image": null},
            "tunnel": {"host": "app.example.com", "workspaceId": "workspace-id", "projectId": "project-id"},
            "policies": ["token-auth", "rstream-auth"]
        })
    );
}

#[tokio::test]
async fn image_is_reported_when_known() {
    let layer = layer();
    let cookie = sign_in(&layer, ada().with_image("https://img.example.com/ada.png")).await;
    let answer = send(
        &layer,
        &Recorder::default(),
        get(SESSION).header("cookie", cookie).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(
        answer.json()["user"]["image"],
        "https://img.example.com/ada.png"
    );
}

#[tokio::test]
async fn head_mirrors_get_without_a_body() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    let variants: [(&str, Option<(&str, String)>); 3] = [
        ("anonymous", None),
        ("token", Some(("authorization", format!("Bearer {TOKEN}")))),
        ("cookie", Some(("cookie", cookie))),
    ];
    for (name, header) in variants {
        let build = |method: &str| {
            let mut builder = request(method, SESSION);
            if let Some((k, v)) = &header {
                builder = builder.header(*k, v);
            }
            builder.body(empty()).unwrap()
        };
        let get = send(&layer, &Recorder::default(), build("GET")).await;
        let head = send(&layer, &Recorder::default(), build("HEAD")).await;
        assert_eq!(head.status, get.status, "{name}");
        assert_eq!(head.headers, get.headers, "{name}");
        assert!(head.body.is_empty(), "{name}");
        assert!(!get.body.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let recorder = Recorder::default();
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PURGE",
    ] {
        let answer = send(
            &layer(),
            &recorder,
            request(method, SESSION).body(empty()).unwrap(),
        )
        .await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.header("allow"), Some("GET, HEAD"), "{method}");
        assert_eq!(
            answer.json(),
            serde_json::json!({"error": "method_not_allowed"})
        );
        assert_json_headers(&answer);
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn policies_list_enabled_mechanisms_then_the_apps() {
    let token_only = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .policy("ip-allowlist")
        .build()
        .unwrap();
    let request = || {
        get(SESSION)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .unwrap()
    };
    let answer = send(&token_only, &Recorder::default(), request()).await;
    assert_eq!(
        answer.json()["policies"],
        serde_json::json!(["token-auth", "ip-allowlist"])
    );

    let sessions_only = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    let cookie = sign_in(&sessions_only, ada()).await;
    let answer = send(
        &sessions_only,
        &Recorder::default(),
        get(SESSION).header("cookie", cookie).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(
        answer.json()["policies"],
        serde_json::json!(["rstream-auth"])
    );
    assert_eq!(sessions_only.policies(), ["rstream-auth"]);
}

#[tokio::test]
async fn invalid_policy_names_are_refused_at_build() {
    for name in ["", "has space", "token-auth", "rstream-auth", "dup"] {
        let result = WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_token_verifier(verifier())
            .with_session_store(MemoryStore::new())
            .policy("dup")
            .policy(name)
            .build();
        assert!(result.is_err(), "{name:?} should be refused");
    }
}

#[tokio::test]
async fn namespace_paths_that_are_not_endpoints_get_404_and_are_not_forwarded() {
    let recorder = Recorder::default();
    for path in [
        "/.well-known/rstream",
        "/.well-known/rstream/",
        "/.well-known/rstream/session/",
        "/.well-known/rstream/Session",
        "/.well-known/rstream/logout/",
        "/.well-known/rstream/other",
        "/.well-known/rstream/session/x",
        "/.well-known/rstream//session",
        "/%2Ewell-known/rstream/session",
        "/%2ewell-known/rstream/logout",
        "/.well-known/rstream/%73ession",
        "/.well-known%2Frstream%2Fsession",
        "//.well-known/rstream/session",
        "/./.well-known/rstream/session",
        "/foo/../.well-known/rstream/session",
        "/foo/%2E%2E/.well-known/rstream/logout",
        "/.well-known/./rstream/session",
    ] {
        for method in ["GET", "POST", "HEAD"] {
            let answer = send(
                &layer(),
                &recorder,
                request(method, path).body(empty()).unwrap(),
            )
            .await;
            assert_eq!(answer.status, 404, "{method} {path}");
            assert_eq!(answer.header("cache-control"), Some("no-store"));
            if method != "HEAD" {
                assert_eq!(
                    answer.json(),
                    serde_json::json!({"error": "not_found"}),
                    "{path}"
                );
            }
        }
    }
    assert_eq!(
        recorder.count(),
        0,
        "no spelling of a well-known path reaches the app"
    );
}

#[tokio::test]
async fn query_strings_do_not_change_the_endpoint() {
    let answer = send(
        &layer(),
        &Recorder::default(),
        get("/.well-known/rstream/session?x=1")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), UNAUTHENTICATED);
}

#[tokio::test]
async fn hosts_that_are_not_tunnels_are_forwarded_untouched() {
    for host in [
        "other.example.com",
        "app.example.com.evil",
        "evil-app.example.com",
        "app.example.com:80",
        "app.example.com:8443",
    ] {
        let recorder = Recorder::default();
        let request = http::Request::get(SESSION)
            .header("host", host)
            .body(empty())
            .unwrap();
        let answer = send(&layer(), &recorder, request).await;
        assert_eq!(answer.text(), "inner", "{host}");
        assert_eq!(recorder.last().uri.path(), SESSION);
    }
    // No host at all, or two of them: refused, not forwarded.
    let recorder = Recorder::default();
    let answer = send(
        &layer(),
        &recorder,
        http::Request::get(SESSION).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, 400, "HTTP/1.1 requires a host");
    let request = http::Request::get(SESSION)
        .header("host", HOST)
        .header("host", "other.example.com")
        .body(empty())
        .unwrap();
    assert_eq!(send(&layer(), &recorder, request).await.status, 400);
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn tunnel_hosts_match_case_insensitively_with_default_ports() {
    for host in [
        "APP.Example.COM",
        "app.example.com:443",
        "app.example.com:",
        "app.example.com.",
        "App.Example.Com.:443",
    ] {
        let recorder = Recorder::default();
        let request = http::Request::get(SESSION)
            .header("host", host)
            .body(empty())
            .unwrap();
        let answer = send(&layer(), &recorder, request).await;
        assert_eq!(answer.status, 200, "{host}");
        assert_eq!(answer.text(), UNAUTHENTICATED, "{host}");
        assert_eq!(recorder.count(), 0);
    }
}

#[tokio::test]
async fn the_uri_authority_is_the_host_for_http2_and_absolute_form() {
    let recorder = Recorder::default();
    let request = http::Request::get("https://app.example.com/.well-known/rstream/session")
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer(), &recorder, request).await.text(),
        UNAUTHENTICATED
    );
    // An authority for another host is that host's request.
    let request = http::Request::get("https://other.example.com/.well-known/rstream/session")
        .body(empty())
        .unwrap();
    assert_eq!(send(&layer(), &recorder, request).await.text(), "inner");
    // An authority and a Host that disagree are refused, not guessed at.
    let request = http::Request::get("https://other.example.com/.well-known/rstream/session")
        .header("host", HOST)
        .body(empty())
        .unwrap();
    assert_eq!(send(&layer(), &recorder, request).await.status, 400);
}

#[tokio::test]
async fn each_tunnel_reports_its_own_identifiers() {
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .tunnel(
            Tunnel::new("127.0.0.1:3000", "ws-local", "proj-local")
                .unwrap()
                .with_origin("http://127.0.0.1:3000")
                .unwrap(),
        )
        .with_token_verifier(verifier())
        .build()
        .unwrap();
    let request = http::Request::get(SESSION)
        .header("host", "127.0.0.1:3000")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(
        answer.json()["tunnel"],
        serde_json::json!({"host": "127.0.0.1:3000", "workspaceId": "ws-local", "projectId": "proj-local"})
    );
    // The same host on another port is not that tunnel.
    let request = http::Request::get(SESSION)
        .header("host", "127.0.0.1:3001")
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer, &Recorder::default(), request).await.text(),
        "inner"
    );
}

#[tokio::test]
async fn a_tunnel_resolver_serves_dynamic_hosts() {
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .tunnel_resolver(|host: &str, _port: Option<u16>| {
            let project = host.strip_suffix(".apps.example.net")?;
            Tunnel::new(host, "ws-dyn", project).ok()
        })
        .with_token_verifier(StaticTokenVerifier::new().with_token(TOKEN, ada()))
        .build()
        .unwrap();
    let request = http::Request::get(SESSION)
        .header("host", "Shop.apps.example.net")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.json()["tunnel"]["projectId"], "shop");
    assert_eq!(answer.json()["tunnel"]["host"], "shop.apps.example.net");
    let recorder = Recorder::default();
    let request = http::Request::get(SESSION)
        .header("host", "shop.example.org")
        .body(empty())
        .unwrap();
    assert_eq!(send(&layer, &recorder, request).await.text(), "inner");
}

#[tokio::test]
async fn configuration_mistakes_are_reported_at_build() {
    assert!(WellKnownLayer::builder().build().is_err(), "no tunnel");
    assert!(
        WellKnownLayer::builder()
            .tunnel(tunnel())
            .tunnel(tunnel())
            .build()
            .is_err(),
        "duplicate"
    );
    assert!(Tunnel::new("user@host", "w", "p").is_err());
    assert!(Tunnel::new("host/path", "w", "p").is_err());
    assert!(Tunnel::new("app.example.com.", "w", "p").is_err());
    assert!(tunnel().with_origin("ftp://app.example.com").is_err());
    assert!(tunnel().with_origin("https://app.example.com/").is_err());
    let bad_cookie = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_session_store(MemoryStore::new())
        .session_cookie(rstream_well_known::SessionCookie::new("__Host-s").secure(false))
        .build();
    assert!(bad_cookie.is_err());
}
