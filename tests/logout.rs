//! The logout endpoint, from the outside: methods, the cross-origin check,
//! content types, what is cleared and revoked, and failing stores.

use crate::common;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use common::*;
use http_body_util::{Full, StreamBody};
use rstream_well_known::{MemoryStore, SameSite, SessionCookie, WellKnownLayer};

async fn session_of(
    layer: &WellKnownLayer<
        impl rstream_well_known::TokenVerifier,
        impl rstream_well_known::StoreSlot,
    >,
    cookie: &str,
) -> Option<String> {
    let answer = send(
        layer,
        &Recorder::default(),
        get(SESSION).header("cookie", cookie).body(empty()).unwrap(),
    )
    .await;
    answer.authenticated_as()
}

/// The spec's browser logout call, carrying `cookie`.
async fn logout_with(
    layer: &WellKnownLayer<
        impl rstream_well_known::TokenVerifier,
        impl rstream_well_known::StoreSlot,
    >,
    cookie: &str,
) -> Answer {
    let request = logout_request()
        .header("cookie", cookie)
        .body(empty())
        .unwrap();
    send(layer, &Recorder::default(), request).await
}

/// A refused logout: `status` with `{"error": reason}`, nothing cleared, and
/// the session behind `cookie` still signed in.
async fn assert_refused(
    layer: &WellKnownLayer,
    answer: &Answer,
    cookie: &str,
    (status, reason): (u16, &str),
    context: &str,
) {
    assert_eq!(answer.status, status, "{context}");
    assert_eq!(
        answer.json(),
        serde_json::json!({ "error": reason }),
        "{context}"
    );
    assert_eq!(
        answer.header("cache-control"),
        Some("no-store"),
        "{context}"
    );
    assert_eq!(answer.header("set-cookie"), None, "{context}");
    assert_eq!(
        session_of(layer, cookie).await.as_deref(),
        Some("rstream-auth"),
        "{context}"
    );
}

fn assert_bare_204(answer: &Answer) {
    assert_eq!(answer.status, 204);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.body.is_empty());
    assert_eq!(answer.header("content-length"), None);
    assert_eq!(answer.header("clear-site-data"), None);
}

#[tokio::test]
async fn cookie_session_is_revoked_and_the_cookie_cleared() {
    let layer = layer();
    let recorder = Recorder::default();
    let cookie = sign_in(&layer, ada()).await;
    assert_eq!(
        session_of(&layer, &cookie).await.as_deref(),
        Some("rstream-auth")
    );

    let answer = send(
        &layer,
        &recorder,
        logout_request()
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_bare_204(&answer);
    let removal = answer.header("set-cookie").expect("the cookie is cleared");
    assert!(removal.starts_with("__Host-rstream_session=;"), "{removal}");
    for attribute in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=0",
        "Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        assert!(
            removal.contains(attribute),
            "{attribute} missing from {removal}"
        );
    }
    assert!(
        !removal.contains(cookie_value(&cookie)),
        "the old value is not echoed"
    );
    assert_eq!(recorder.count(), 0);

    // The old cookie value stops working everywhere.
    assert_eq!(session_of(&layer, &cookie).await, None);
    let again = send(
        &layer,
        &recorder,
        logout_request()
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_bare_204(&again);
    assert_eq!(
        again.header("set-cookie"),
        None,
        "an unknown session is unauthenticated: no-op"
    );
}

#[tokio::test]
async fn the_removal_cookie_mirrors_a_custom_configuration() {
    let configs = [
        SessionCookie::new("sid")
            .domain("example.com")
            .path("/.well-known/")
            .same_site(SameSite::Strict),
        SessionCookie::new("__Host-rstream-session"),
        SessionCookie::new("dev").secure(false).http_only(false),
    ];
    for config in configs {
        let layer = WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_session_store(MemoryStore::new())
            .session_cookie(config.clone())
            .build()
            .unwrap();
        let signed_in = layer.session_manager().sign_in(ada()).await.unwrap();
        let issued = signed_in.set_cookie().to_str().unwrap().to_owned();
        let pair = issued.split(';').next().unwrap();
        let answer = logout_with(&layer, pair).await;
        let removal = answer.header("set-cookie").expect("cleared").to_owned();
        let attributes = |v: &str| -> Vec<String> {
            let mut a: Vec<String> = v
                .split(';')
                .skip(1)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.starts_with("Max-Age") && !s.starts_with("Expires"))
                .collect();
            a.sort();
            a
        };
        assert_eq!(attributes(&issued), attributes(&removal), "{config:?}");
        assert!(removal.starts_with(&format!("{}=;", config.cookie_name())));
        assert!(removal.contains("Max-Age=0"));
    }
}

#[tokio::test]
async fn token_authenticated_logout_is_a_no_op_even_with_a_valid_cookie() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    let request = logout_request()
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_bare_204(&answer);
    assert_eq!(answer.header("set-cookie"), None);
    assert_eq!(
        session_of(&layer, &cookie).await.as_deref(),
        Some("rstream-auth"),
        "session kept"
    );

    let query = request_with_query_token(&cookie);
    let answer = send(&layer, &Recorder::default(), query).await;
    assert_eq!(answer.header("set-cookie"), None);
    assert_eq!(
        session_of(&layer, &cookie).await.as_deref(),
        Some("rstream-auth")
    );
}

fn request_with_query_token(cookie: &str) -> http::Request<Full<Bytes>> {
    request("POST", &format!("{LOGOUT}?rstream.token={TOKEN}"))
        .header("cookie", cookie)
        .body(empty())
        .unwrap()
}

#[tokio::test]
async fn unauthenticated_logout_is_a_no_op() {
    let answer = send(
        &layer(),
        &Recorder::default(),
        logout_request().body(empty()).unwrap(),
    )
    .await;
    assert_bare_204(&answer);
    assert_eq!(answer.header("set-cookie"), None);
    // With neither Origin nor Content-Type, an empty POST is accepted too.
    let answer = send(
        &layer(),
        &Recorder::default(),
        request("POST", LOGOUT).body(empty()).unwrap(),
    )
    .await;
    assert_bare_204(&answer);
}

#[tokio::test]
async fn other_methods_get_405_with_allow_post() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    for method in ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let answer = send(
            &layer,
            &Recorder::default(),
            request(method, LOGOUT)
                .header("cookie", &cookie)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.header("allow"), Some("POST"));
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert_eq!(answer.header("set-cookie"), None);
        if method == "HEAD" {
            assert!(answer.body.is_empty());
        } else {
            assert_eq!(
                answer.json(),
                serde_json::json!({"error": "method_not_allowed"})
            );
        }
    }
    assert_eq!(
        session_of(&layer, &cookie).await.as_deref(),
        Some("rstream-auth")
    );
}

#[tokio::test]
async fn json_content_types_are_accepted_in_any_case_with_parameters() {
    for content_type in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;charset=UTF-8",
    ] {
        let layer = layer();
        let cookie = sign_in(&layer, ada()).await;
        let request = request("POST", LOGOUT)
            .header("origin", ORIGIN)
            .header("content-type", content_type)
            .header("cookie", &cookie)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.status, 204, "{content_type}");
        assert!(answer.header("set-cookie").is_some(), "{content_type}");
    }
}

#[tokio::test]
async fn non_json_bodies_get_415_and_clear_nothing() {
    let cases: [(Option<&str>, &[u8]); 7] = [
        (Some("application/x-www-form-urlencoded"), b"a=b"),
        (Some("text/plain"), b"{}"),
        (Some("multipart/form-data; boundary=x"), b"--x--"),
        (Some("application/json-patch+json"), b"[]"),
        (Some("application/jsonx"), b"{}"),
        (Some("not a media type"), b"{}"),
        (None, b"{}"),
    ];
    for (content_type, body) in cases {
        let layer = layer();
        let cookie = sign_in(&layer, ada()).await;
        let mut builder = request("POST", LOGOUT)
            .header("origin", ORIGIN)
            .header("cookie", &cookie);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let answer = send(
            &layer,
            &Recorder::default(),
            builder.body(Full::new(Bytes::from_static(body))).unwrap(),
        )
        .await;
        let context = format!("{content_type:?}");
        assert_refused(
            &layer,
            &answer,
            &cookie,
            (415, "unsupported_media_type"),
            &context,
        )
        .await;
    }
    // Two Content-Type fields are ambiguous.
    let request = request("POST", LOGOUT)
        .header("content-type", "application/json")
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    assert_eq!(
        send(&layer(), &Recorder::default(), request).await.status,
        415
    );
}

#[tokio::test]
async fn empty_bodies_are_accepted_whatever_their_declared_type() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    let request = request("POST", LOGOUT)
        .header("content-type", "text/plain")
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").is_some());
}

type Chunks = StreamBody<
    futures::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, std::io::Error>>>,
>;

fn streamed(chunks: Vec<Result<&'static [u8], ()>>) -> Chunks {
    let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = chunks
        .into_iter()
        .map(|c| match c {
            Ok(bytes) => Ok(http_body::Frame::data(Bytes::from_static(bytes))),
            Err(()) => Err(std::io::Error::other("client went away")),
        })
        .collect();
    StreamBody::new(futures::stream::iter(frames))
}

async fn send_streamed(
    layer: &rstream_well_known::WellKnownLayer,
    cookie: &str,
    body: Chunks,
) -> Answer {
    let request = request("POST", LOGOUT)
        .header("cookie", cookie)
        .body(body)
        .unwrap();
    send(layer, &Recorder::default(), request).await
}

/// Bodies of undeclared length are judged by their headers, never read: a
/// JSON one is accepted unread (even one that would fail), any other is
/// `411`, even an empty one, and signs nobody out.
#[tokio::test]
async fn bodies_of_unknown_length_are_never_read() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    for chunks in [
        vec![Ok(&b""[..]), Ok(b"x")],
        vec![Err(())],
        vec![Ok(b""), Ok(b"")],
        vec![],
    ] {
        let answer = send_streamed(&layer, &cookie, streamed(chunks)).await;
        assert_eq!(answer.status, 411);
        assert_eq!(
            answer.json(),
            serde_json::json!({"error": "length_required"})
        );
        assert_eq!(
            session_of(&layer, &cookie).await.as_deref(),
            Some("rstream-auth")
        );
    }
    let request = request("POST", LOGOUT)
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body(streamed(vec![Err(())]))
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").is_some());
    assert_eq!(session_of(&layer, &cookie).await, None);
}

#[tokio::test]
async fn same_origin_requests_pass() {
    for (origin, referer) in [
        (Some("https://app.example.com"), None),
        (Some("https://APP.example.com:443"), None),
        (None, Some("https://app.example.com/settings?tab=1#x")),
        (
            Some("https://app.example.com"),
            Some("https://app.example.com/"),
        ),
    ] {
        let layer = layer();
        let cookie = sign_in(&layer, ada()).await;
        let mut builder = request("POST", LOGOUT).header("cookie", &cookie);
        if let Some(o) = origin {
            builder = builder.header("origin", o);
        }
        if let Some(r) = referer {
            builder = builder.header("referer", r);
        }
        let answer = send(&layer, &Recorder::default(), builder.body(empty()).unwrap()).await;
        assert_eq!(answer.status, 204, "{origin:?} {referer:?}");
        assert!(answer.header("set-cookie").is_some());
    }
}

#[tokio::test]
async fn cross_origin_requests_get_403_and_clear_nothing() {
    let mismatches: &[(&str, &[u8])] = &[
        ("origin", b"null"),
        ("origin", b"http://app.example.com"),
        ("origin", b"https://app.example.com:8443"),
        ("origin", b"https://evil.example.com"),
        ("origin", b"https://app.example.com.evil.com"),
        ("origin", b"https://evilapp.example.com"),
        ("origin", b"https://example.com"),
        ("origin", b"https://user@app.example.com"),
        ("origin", b"https://app.example.com@evil.com"),
        ("origin", b"https://app.example.com/"),
        ("origin", b"app.example.com"),
        ("origin", b""),
        ("origin", b"https://app.example.com."),
        ("origin", b"https://app.ex\xc3\xa4mple.com"),
        ("referer", b"https://evil.com/https://app.example.com/"),
        ("referer", b"https://app.example.com.evil.com/"),
        ("referer", b"https://app.example.com@evil.com/"),
        ("referer", b"https://evil.com@app.example.com/"),
        ("referer", b"http://app.example.com/"),
        ("referer", b"/relative/path"),
        ("referer", b"about:blank"),
    ];
    for (name, value) in mismatches {
        let layer = layer();
        let cookie = sign_in(&layer, ada()).await;
        let request = logout_request_without_origin()
            .header(*name, http::HeaderValue::from_bytes(value).unwrap())
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        let context = format!("{name}: {}", String::from_utf8_lossy(value));
        assert_refused(&layer, &answer, &cookie, (403, "origin_mismatch"), &context).await;
    }
}

fn logout_request_without_origin() -> http::request::Builder {
    request("POST", LOGOUT).header("content-type", "application/json")
}

#[tokio::test]
async fn both_origin_and_referer_must_match_and_neither_may_repeat() {
    let cases = [
        vec![("origin", ORIGIN), ("referer", "https://evil.com/")],
        vec![
            ("origin", "https://evil.com"),
            ("referer", "https://app.example.com/"),
        ],
        vec![("origin", ORIGIN), ("origin", ORIGIN)],
        vec![
            ("referer", "https://app.example.com/"),
            ("referer", "https://app.example.com/"),
        ],
    ];
    for headers in cases {
        let mut builder = logout_request_without_origin();
        for (k, v) in &headers {
            builder = builder.header(*k, *v);
        }
        let answer = send(
            &layer(),
            &Recorder::default(),
            builder.body(empty()).unwrap(),
        )
        .await;
        assert_eq!(answer.status, 403, "{headers:?}");
    }
}

#[tokio::test]
async fn forwarding_headers_never_change_the_expected_origin() {
    let request = logout_request_without_origin()
        .header("origin", "https://evil.com")
        .header("x-forwarded-host", "evil.com")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "host=evil.com;proto=https")
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer(), &Recorder::default(), request).await.status,
        403
    );
}

#[tokio::test]
async fn the_origin_check_follows_the_configured_origin() {
    let layer = WellKnownLayer::builder()
        .tunnel(
            rstream_well_known::Tunnel::new("localhost:3000", "w", "p")
                .unwrap()
                .with_origin("http://localhost:3000")
                .unwrap(),
        )
        .with_session_store(MemoryStore::new())
        .session_cookie(SessionCookie::default().secure(false))
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let send_with = |origin: &'static str| {
        http::Request::post(LOGOUT)
            .header("host", "localhost:3000")
            .header("origin", origin)
            .header("cookie", cookie.clone())
            .body(empty())
            .unwrap()
    };
    assert_eq!(
        send(
            &layer,
            &Recorder::default(),
            send_with("http://localhost:3001")
        )
        .await
        .status,
        403
    );
    assert_eq!(
        send(
            &layer,
            &Recorder::default(),
            send_with("https://localhost:3000")
        )
        .await
        .status,
        403
    );
    let answer = send(
        &layer,
        &Recorder::default(),
        send_with("http://localhost:3000"),
    )
    .await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").is_some());
}

#[tokio::test]
async fn a_store_that_cannot_load_still_gets_the_session_revoked() {
    let store = FlakyStore::default();
    let layer = layer_with(store.clone());
    let cookie = sign_in(&layer, ada()).await;
    store.fail_load.store(true, Ordering::SeqCst);

    // The session endpoint says "not authenticated", never 500.
    let answer = send(
        &layer,
        &Recorder::default(),
        get(SESSION)
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.authenticated_as(), None);
    assert!(
        !answer.everything().contains("backend down"),
        "internals are not leaked"
    );

    // Logout cannot tell whether the session is live: it revokes it anyway.
    let answer = logout_with(&layer, &cookie).await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").is_some());

    store.fail_load.store(false, Ordering::SeqCst);
    assert_eq!(
        session_of(&layer, &cookie).await,
        None,
        "the old cookie is dead after recovery"
    );
}

#[tokio::test]
async fn a_store_that_cannot_revoke_answers_503_and_keeps_the_cookie() {
    for fail_load in [false, true] {
        let store = FlakyStore::default();
        let layer = layer_with(store.clone());
        let cookie = sign_in(&layer, ada()).await;
        store.fail_revoke.store(true, Ordering::SeqCst);
        store.fail_load.store(fail_load, Ordering::SeqCst);
        let answer = logout_with(&layer, &cookie).await;
        assert_eq!(answer.status, 503, "fail_load={fail_load}");
        assert_eq!(
            answer.json(),
            serde_json::json!({"error": "session_store_unavailable"})
        );
        assert_eq!(
            answer.header("set-cookie"),
            None,
            "never told they are signed out"
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert!(!answer.everything().contains("backend down"));

        // Once the store recovers, a retry signs the user out for real.
        store.fail_revoke.store(false, Ordering::SeqCst);
        store.fail_load.store(false, Ordering::SeqCst);
        assert_eq!(
            session_of(&layer, &cookie).await.as_deref(),
            Some("rstream-auth")
        );
        let answer = logout_with(&layer, &cookie).await;
        assert_eq!(answer.status, 204);
        assert!(answer.header("set-cookie").is_some());
        assert_eq!(session_of(&layer, &cookie).await, None);
    }
}

#[tokio::test]
async fn layers_without_session_auth_answer_logout_with_a_bare_204() {
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .build()
        .unwrap();
    let answer = logout_with(&layer, "rstream_session=abc").await;
    assert_bare_204(&answer);
    assert_eq!(answer.header("set-cookie"), None);
}

/// Cookie tossing: a sibling host plants session cookies of the same name
/// beside the victim's. Logout revokes every value presented and clears the
/// cookie, so the victim's own cookie never works again afterwards.
#[tokio::test]
async fn planted_cookies_cannot_turn_logout_into_a_silent_no_op() {
    let junk = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("{COOKIE_NAME}=planted-junk-{i}"))
            .collect()
    };
    // (what, builds the planted cookies given the attacker's live session)
    type Planting = Box<dyn Fn(&str) -> Vec<String>>;
    let scenarios: Vec<(&str, Planting)> = vec![
        (
            "a live attacker session, planted first",
            Box::new(|live| vec![live.to_owned()]),
        ),
        ("four junk values", Box::new(move |_| junk(4))),
        (
            "fifteen junk values and a live one",
            Box::new(move |live| {
                let mut planted = junk(14);
                planted.push(live.to_owned());
                planted
            }),
        ),
    ];
    for (what, planted) in scenarios {
        // A cookie planted with a longer `Path` (say the logout path) comes
        // first in the browser's Cookie header; one planted for the parent
        // domain later: the layer must not depend on the order.
        for order in [true, false] {
            let layer = layer();
            let victim = sign_in(&layer, ada()).await;
            let attacker = sign_in(&layer, rstream_well_known::User::new("mallory")).await;
            let mut pairs = planted(&attacker);
            if order {
                pairs.push(victim.clone());
            } else {
                pairs.insert(0, victim.clone());
            }
            let answer = logout_with(&layer, &pairs.join("; ")).await;
            assert_eq!(answer.status, 204, "{what}");
            let removal = answer
                .header("set-cookie")
                .unwrap_or_else(|| panic!("{what}: not cleared"));
            assert!(
                removal.starts_with(&format!("{COOKIE_NAME}=;")),
                "{removal}"
            );
            assert_eq!(
                session_of(&layer, &victim).await,
                None,
                "{what}: the victim's cookie still works"
            );
            // Every planted value that was live is revoked too.
            for pair in planted(&attacker) {
                assert_eq!(session_of(&layer, &pair).await, None, "{what}");
            }
        }
    }
}

/// More distinct values than logout revokes (16) are refused with a reason,
/// and nothing is revoked or cleared: revoking only some could leave the
/// real one working.
#[tokio::test]
async fn too_many_session_cookies_are_refused_not_half_revoked() {
    let layer = layer();
    let victim = sign_in(&layer, ada()).await;
    let mut pairs: Vec<String> = (0..16)
        .map(|i| format!("{COOKIE_NAME}=planted-junk-{i}"))
        .collect();
    pairs.push(victim.clone());
    let answer = logout_with(&layer, &pairs.join("; ")).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        serde_json::json!({"error": "too_many_session_cookies"})
    );
    assert_eq!(answer.header("set-cookie"), None);
    assert!(!answer.everything().contains(cookie_value(&victim)));
    // The same value repeated is one value.
    let repeated = vec![victim.clone(); 40].join("; ");
    let answer = logout_with(&layer, &repeated).await;
    assert_eq!(answer.status, 204);
    assert_eq!(session_of(&layer, &victim).await, None);
}

/// Only values of no live session: the request is unauthenticated, and
/// logout is the spec's no-op.
#[tokio::test]
async fn stale_cookies_alone_are_a_no_op() {
    let layer = layer();
    let answer = logout_with(
        &layer,
        &format!("{COOKIE_NAME}=stale-1; {COOKIE_NAME}=stale-2"),
    )
    .await;
    assert_bare_204(&answer);
    assert_eq!(answer.header("set-cookie"), None);
}

/// Fetch metadata first (as Go's `CrossOriginProtection`), then `Origin`:
/// a browser says `same-site` or `cross-site` even when it sends neither
/// `Origin` nor `Referer`.
#[tokio::test]
async fn fetch_metadata_refuses_cross_origin_logouts() {
    for (site, expected) in [
        ("cross-site", 403),
        ("same-site", 403),
        ("CROSS-SITE", 403),
        ("something-new", 403),
        ("", 403),
        ("same-origin", 204),
        ("none", 204),
    ] {
        let layer = layer();
        let cookie = sign_in(&layer, ada()).await;
        let request = request("POST", LOGOUT)
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        if expected == 403 {
            let context = format!("Sec-Fetch-Site: {site}");
            assert_refused(
                &layer,
                &answer,
                &cookie,
                (403, "cross_origin_request"),
                &context,
            )
            .await;
        } else {
            assert_eq!(answer.status, expected, "Sec-Fetch-Site: {site}");
            assert_eq!(session_of(&layer, &cookie).await, None, "{site}");
        }
    }
    // Repeated metadata is ambiguous; same-origin metadata does not excuse a
    // foreign Origin; no metadata at all (a script, a server) still works.
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    for headers in [
        vec![
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "same-origin"),
        ],
        vec![
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example"),
        ],
    ] {
        let mut builder = request("POST", LOGOUT).header("cookie", &cookie);
        for (name, value) in headers.iter().copied() {
            builder = builder.header(name, value);
        }
        let answer = send(&layer, &Recorder::default(), builder.body(empty()).unwrap()).await;
        assert_eq!(answer.status, 403, "{headers:?}");
    }
    let request = request("POST", LOGOUT)
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").is_some());
}
