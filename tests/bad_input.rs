//! Hostile and malformed input: every request gets a clear answer, nothing
//! panics, nothing is cleared by mistake, and no secret is echoed.

use crate::common;

use bytes::Bytes;
use common::*;
use http::HeaderValue;
use http_body_util::Full;

#[tokio::test]
async fn malformed_authorization_headers_are_not_tokens() {
    let layer = layer();
    let cases: &[&[u8]] = &[
        b"Bearer",
        b"Bearer ",
        b"Bearer\tvalid-token.0123",
        b"Bearer valid-token.0123 extra",
        b"Bearer valid-token.0123,",
        b"Bearer \"valid-token.0123\"",
        b"Bearer=valid-token.0123",
        b"Bearervalid-token.0123",
        b"Token valid-token.0123",
        b"valid-token.0123",
        b"Bearer \xffvalid-token.0123",
        b"Bearer valid-token.0123\xc3\xa9",
        b"Bearer ==",
    ];
    for value in cases {
        let request = get(SESSION)
            .header("authorization", HeaderValue::from_bytes(value).unwrap())
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.status, 200, "{value:?}");
        assert_eq!(
            answer.authenticated_as(),
            None,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

#[tokio::test]
async fn repeated_bearer_headers_are_ambiguous_even_if_both_are_valid() {
    let bearer = format!("Bearer {TOKEN}");
    let request = get(SESSION)
        .header("authorization", &bearer)
        .header("authorization", &bearer)
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer(), &Recorder::default(), request)
            .await
            .authenticated_as(),
        None
    );
    // A Basic field beside the Bearer one is the application's business.
    let request = get(SESSION)
        .header("authorization", "Basic eDp5")
        .header("authorization", &bearer)
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer(), &Recorder::default(), request)
            .await
            .authenticated_as()
            .as_deref(),
        Some("token-auth")
    );
}

#[tokio::test]
async fn odd_query_encodings_get_a_clear_answer() {
    let layer = layer();
    for query in [
        "rstream.token=%",
        "rstream.token=%2",
        "rstream.token=%zz",
        "rstream.token=%ff%fe",
        "rstream.token=",
        "rstream.token",
        "rstream.token=a&rstream.token=b",
        &format!("rstream.token={TOKEN}&rstream.token={TOKEN}"),
        "&&&=&=",
        "rstream.token=%00",
        "rstream.token=valid-token%2E0123%",
    ] {
        let request = get(&format!("{SESSION}?{query}")).body(empty()).unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.status, 200, "{query}");
        assert_eq!(answer.authenticated_as(), None, "{query}");
    }
}

#[tokio::test]
async fn non_ascii_and_odd_cookie_headers_do_not_break_resolution() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    let raw = format!("a=\u{e9}t\u{e9}; {cookie}; b").into_bytes();
    let request = get(SESSION)
        .header("cookie", HeaderValue::from_bytes(b"\xff\xfe=\x80").unwrap())
        .header("cookie", HeaderValue::from_bytes(&raw).unwrap())
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer, &Recorder::default(), request)
            .await
            .authenticated_as()
            .as_deref(),
        Some("rstream-auth")
    );
    for junk in [
        &b"__Host-rstream_session"[..],
        b"__Host-rstream_session=",
        b";;;",
        b"=",
        b"__Host-rstream_session=\"",
        b"__Host-rstream_session=a\xffb",
    ] {
        let request = get(SESSION)
            .header("cookie", HeaderValue::from_bytes(junk).unwrap())
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.authenticated_as(), None);
    }
}

#[tokio::test]
async fn huge_headers_get_ordinary_answers() {
    let layer = layer();
    let huge_token = "a".repeat(256 * 1024);
    let huge_cookie = format!("__Host-rstream_session={}", "b".repeat(256 * 1024));
    let request = get(SESSION)
        .header("authorization", format!("Bearer {huge_token}"))
        .header("cookie", &huge_cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.authenticated_as(), None);
    assert!(answer.body.len() < 100);

    let request = logout_request()
        .header(
            "referer",
            format!("https://app.example.com/{}", "p".repeat(64 * 1024)),
        )
        .header("cookie", &huge_cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("set-cookie"), None);

    let many_cookies: String = (0..10_000).map(|i| format!("c{i}=v; ")).collect();
    let request = get(SESSION)
        .header("cookie", many_cookies)
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer, &Recorder::default(), request).await.status,
        200
    );
}

#[tokio::test]
async fn no_answer_ever_echoes_a_credential() {
    let layer = layer();
    let secret_token = "s3cr3t-t0ken-never-echoed";
    let secret_cookie = "c00kie-value-never-echoed";
    let cookie = format!("__Host-rstream_session={secret_cookie}");
    let live = sign_in(&layer, ada()).await;
    let requests = [
        ("GET", SESSION, None),
        ("HEAD", SESSION, None),
        ("POST", SESSION, None),
        ("POST", LOGOUT, None),
        ("POST", LOGOUT, Some("https://evil.com")),
        ("GET", LOGOUT, None),
        ("GET", "/.well-known/rstream/nope", None),
    ];
    for (method, path, origin) in requests {
        for auth_cookie in [&cookie, &live] {
            let mut builder = request(method, &format!("{path}?rstream.token={secret_token}x"))
                .header("authorization", format!("Bearer {secret_token}"))
                .header("cookie", auth_cookie.as_str());
            if let Some(origin) = origin {
                builder = builder.header("origin", origin);
            }
            let answer = send(
                &layer,
                &Recorder::default(),
                builder.body(Full::new(Bytes::from_static(b"x"))).unwrap(),
            )
            .await;
            let everything = answer.everything();
            assert!(
                !everything.contains(secret_token),
                "{method} {path}: {everything}"
            );
            assert!(
                !everything.contains(secret_cookie),
                "{method} {path}: {everything}"
            );
            assert!(
                !everything.contains(cookie_value(&live)),
                "{method} {path}: {everything}"
            );
        }
    }
}

/// A well-known request whose host is malformed is answered `400` and never
/// forwarded: the inner service would read its tunnel host from `Host`.
#[tokio::test]
async fn bad_hosts_on_well_known_paths_are_refused() {
    for host in [
        &b"app.example.com:99999"[..],
        b"app.example.com:abc",
        b"user@app.example.com",
        b"user:pass@app.example.com",
        b"app.example.com/x",
        b"",
        b"app.ex\xe4mple.com",
        b"[::1",
        b"app.example.com:443:443",
        b"app.example.com..",
        b"app..example.com",
        b".app.example.com",
        b".",
    ] {
        for method in ["GET", "HEAD", "POST"] {
            let recorder = Recorder::default();
            let request = http::Request::builder()
                .method(method)
                .uri(SESSION)
                .header("host", HeaderValue::from_bytes(host).unwrap())
                .body(empty())
                .unwrap();
            let answer = send(&layer(), &recorder, request).await;
            let shown = String::from_utf8_lossy(host);
            assert_eq!(answer.status, 400, "{method} {shown:?}");
            assert_eq!(recorder.count(), 0, "{method} {shown:?} reached the app");
            assert_eq!(answer.header("cache-control"), Some("no-store"));
            if method == "HEAD" {
                assert!(answer.body.is_empty());
            } else {
                assert_eq!(answer.json(), serde_json::json!({"error": "invalid_host"}));
            }
        }
    }
}

/// Hosts that could name two different tunnels (RFC 9112, section 3.2; RFC
/// 9113, section 8.3.1) are refused on well-known paths.
#[tokio::test]
async fn ambiguous_hosts_on_well_known_paths_are_refused() {
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        // Two Host fields, even identical ones.
        ("two identical fields", SESSION, vec![HOST, HOST]),
        ("two fields", LOGOUT, vec![HOST, "other.example.com"]),
        // A target authority that differs from Host.
        (
            "absolute target for another host",
            "http://other.example.com/.well-known/rstream/session",
            vec![HOST],
        ),
        (
            "absolute target for the tunnel, Host elsewhere",
            "https://app.example.com/.well-known/rstream/session",
            vec!["other.example.com"],
        ),
        (
            "another port",
            "https://app.example.com:8443/.well-known/rstream/session",
            vec![HOST],
        ),
    ];
    for (what, target, hosts) in cases {
        let recorder = Recorder::default();
        let mut request = http::Request::get(target);
        for host in hosts {
            request = request.header("host", host);
        }
        let answer = send(&layer(), &recorder, request.body(empty()).unwrap()).await;
        assert_eq!(answer.status, 400, "{what}");
        assert_eq!(
            answer.json(),
            serde_json::json!({"error": "ambiguous_host"}),
            "{what}"
        );
        assert_eq!(recorder.count(), 0, "{what} reached the app");
    }
}

#[tokio::test]
async fn userinfo_in_the_target_is_refused() {
    for target in [
        "https://user@app.example.com/.well-known/rstream/session",
        "https://user:pw@app.example.com/.well-known/rstream/logout",
    ] {
        for host in [None, Some(HOST)] {
            let recorder = Recorder::default();
            let mut request = http::Request::get(target);
            if let Some(host) = host {
                request = request.header("host", host);
            }
            let answer = send(&layer(), &recorder, request.body(empty()).unwrap()).await;
            assert_eq!(answer.status, 400, "{target} {host:?}");
            assert_eq!(answer.json(), serde_json::json!({"error": "invalid_host"}));
            assert_eq!(recorder.count(), 0);
        }
    }
}

#[tokio::test]
async fn hosts_that_agree_are_one_host() {
    for (target, host) in [
        (
            "https://app.example.com/.well-known/rstream/session",
            Some(HOST),
        ),
        (
            "https://APP.example.com:443/.well-known/rstream/session",
            Some("app.example.com."),
        ),
        ("https://app.example.com./.well-known/rstream/session", None),
        ("/.well-known/rstream/session", Some("App.Example.Com.")),
    ] {
        let recorder = Recorder::default();
        let mut request = http::Request::get(target);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let answer = send(&layer(), &recorder, request.body(empty()).unwrap()).await;
        assert_eq!(answer.status, 200, "{target} {host:?}");
        assert_eq!(answer.json()["auth"]["authenticated"], false);
    }
}

/// HTTP/1.1 requires a host; HTTP/1.0 does not, and such a request names no
/// tunnel, so it is forwarded like any request for another host.
#[tokio::test]
async fn a_missing_host_is_refused_in_http_1_1_only() {
    let recorder = Recorder::default();
    let request = http::Request::get(SESSION).body(empty()).unwrap();
    let answer = send(&layer(), &recorder, request).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json(), serde_json::json!({"error": "invalid_host"}));
    assert_eq!(recorder.count(), 0);

    let request = http::Request::get(SESSION)
        .version(http::Version::HTTP_10)
        .body(empty())
        .unwrap();
    let answer = send(&layer(), &recorder, request).await;
    assert_eq!(answer.text(), "inner");

    // Other paths are none of the layer's business, whatever their host.
    for hosts in [vec![], vec![HOST, HOST], vec!["user@x"]] {
        let mut request = http::Request::get("/api");
        for host in hosts {
            request = request.header("host", host);
        }
        let answer = send(&layer(), &recorder, request.body(empty()).unwrap()).await;
        assert_eq!(answer.text(), "inner");
    }
}
