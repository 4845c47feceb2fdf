//! Who is calling: token first (header, then query), then the cookie, with
//! each mechanism enabled alone or both together.

use crate::common;

use std::sync::atomic::Ordering;

use common::*;
use rstream_well_known::{MemoryStore, TokenSource, WellKnownLayer};

fn both(verifier: RecordingVerifier) -> WellKnownLayer<RecordingVerifier, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier)
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap()
}

async fn who(
    layer: &WellKnownLayer<
        impl rstream_well_known::TokenVerifier,
        impl rstream_well_known::StoreSlot,
    >,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<String> {
    let mut builder = get(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    send(layer, &Recorder::default(), builder.body(empty()).unwrap())
        .await
        .authenticated_as()
}

#[tokio::test]
async fn header_token_is_used_and_the_verifier_sees_the_request() {
    let verifier = RecordingVerifier::default();
    let layer = both(verifier.clone());
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        who(&layer, SESSION, &[("authorization", &bearer)])
            .await
            .as_deref(),
        Some("token-auth")
    );
    assert_eq!(
        verifier.asked.lock().unwrap().as_slice(),
        [Asked {
            token: TOKEN.to_owned(),
            host: HOST.to_owned(),
            method: http::Method::GET,
            path: SESSION.to_owned(),
            source: TokenSource::Header,
        }]
    );
}

#[tokio::test]
async fn query_token_is_used_when_there_is_no_bearer_header() {
    let verifier = RecordingVerifier::default();
    let layer = both(verifier.clone());
    let path = format!("{SESSION}?a=1&rstream.token={TOKEN}");
    assert_eq!(who(&layer, &path, &[]).await.as_deref(), Some("token-auth"));
    // Basic auth is the application's, not a token: the query still counts.
    assert_eq!(
        who(&layer, &path, &[("authorization", "Basic dXNlcjpwYXNz")])
            .await
            .as_deref(),
        Some("token-auth")
    );
    let asked = verifier.asked.lock().unwrap();
    assert!(
        asked
            .iter()
            .all(|a| a.source == TokenSource::Query && a.token == TOKEN)
    );
    assert_eq!(asked.len(), 2);
}

#[tokio::test]
async fn percent_encoded_query_tokens_are_decoded() {
    let verifier = RecordingVerifier::default();
    let layer = both(verifier.clone());
    let encoded = TOKEN.replace('.', "%2E");
    let path = format!("{SESSION}?rstream%2Etoken={encoded}");
    assert_eq!(who(&layer, &path, &[]).await.as_deref(), Some("token-auth"));
}

#[tokio::test]
async fn the_header_wins_over_the_query_even_when_it_is_invalid() {
    let verifier = RecordingVerifier::default();
    let layer = both(verifier.clone());
    let path = format!("{SESSION}?rstream.token={TOKEN}");
    assert_eq!(
        who(&layer, &path, &[("authorization", "Bearer wrong")]).await,
        None
    );
    assert_eq!(
        who(&layer, &path, &[("authorization", "Bearer")]).await,
        None,
        "malformed bearer"
    );
    let asked = verifier.asked.lock().unwrap();
    assert_eq!(
        asked.len(),
        1,
        "the malformed header is not verified, the query is never read"
    );
    assert_eq!(asked[0].token, "wrong");
    assert_eq!(asked[0].source, TokenSource::Header);
}

#[tokio::test]
async fn invalid_token_falls_back_to_a_valid_cookie() {
    let layer = both(RecordingVerifier::default());
    let cookie = sign_in(&layer, ada()).await;
    for auth in ["Bearer wrong", "Bearer", "Bearer a b", "bearer \u{7f}"] {
        let Ok(value) = http::HeaderValue::from_str(auth) else {
            continue;
        };
        let request = get(SESSION)
            .header("authorization", value)
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(
            answer.authenticated_as().as_deref(),
            Some("rstream-auth"),
            "{auth}"
        );
    }
    let path = format!("{SESSION}?rstream.token=wrong");
    assert_eq!(
        who(&layer, &path, &[("cookie", &cookie)]).await.as_deref(),
        Some("rstream-auth")
    );
}

#[tokio::test]
async fn invalid_token_without_a_cookie_is_unauthenticated() {
    let layer = both(RecordingVerifier::default());
    assert_eq!(
        who(&layer, SESSION, &[("authorization", "Bearer wrong")]).await,
        None
    );
    assert_eq!(
        who(&layer, &format!("{SESSION}?rstream.token=wrong"), &[]).await,
        None
    );
}

#[tokio::test]
async fn a_failing_verifier_falls_back_to_the_cookie() {
    let verifier = RecordingVerifier::default();
    verifier.fail.store(true, Ordering::SeqCst);
    let layer = both(verifier);
    let cookie = sign_in(&layer, ada()).await;
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        who(
            &layer,
            SESSION,
            &[("authorization", &bearer), ("cookie", &cookie)]
        )
        .await
        .as_deref(),
        Some("rstream-auth")
    );
    let answer = send(
        &layer,
        &Recorder::default(),
        get(SESSION)
            .header("authorization", &bearer)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.authenticated_as(), None);
}

#[tokio::test]
async fn a_valid_token_wins_over_a_valid_cookie() {
    let layer = both(RecordingVerifier::default());
    let cookie = sign_in(&layer, rstream_well_known::User::new("cookie-user")).await;
    let bearer = format!("Bearer {TOKEN}");
    let request = get(SESSION)
        .header("authorization", &bearer)
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.json()["auth"]["method"], "token-auth");
    assert_eq!(answer.json()["user"]["userId"], "user-id");
}

#[tokio::test]
async fn token_auth_only_ignores_cookies() {
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .build()
        .unwrap();
    // No store: the layer's store type is `NoStore`, which has no session
    // manager (a call would not compile).
    let _: &WellKnownLayer<rstream_well_known::StaticTokenVerifier, rstream_well_known::NoStore> =
        &layer;
    assert_eq!(
        who(
            &layer,
            SESSION,
            &[("cookie", "__Host-rstream_session=anything")]
        )
        .await,
        None
    );
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        who(&layer, SESSION, &[("authorization", &bearer)])
            .await
            .as_deref(),
        Some("token-auth")
    );
}

#[tokio::test]
async fn session_auth_only_ignores_tokens() {
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        who(&layer, SESSION, &[("authorization", &bearer)]).await,
        None
    );
    assert_eq!(
        who(
            &layer,
            SESSION,
            &[("authorization", &bearer), ("cookie", &cookie)]
        )
        .await
        .as_deref(),
        Some("rstream-auth")
    );
}

#[tokio::test]
async fn no_mechanism_enabled_is_always_unauthenticated() {
    let layer = WellKnownLayer::builder().tunnel(tunnel()).build().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let answer = send(
        &layer,
        &Recorder::default(),
        get(SESSION)
            .header("authorization", bearer)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.text(), r#"{"auth":{"authenticated":false}}"#);
}

#[tokio::test]
async fn the_cookie_is_found_in_any_cookie_field() {
    let layer = layer();
    let cookie = sign_in(&layer, ada()).await;
    // HTTP/2 sends one field per cookie.
    let request = get(SESSION)
        .header("cookie", "theme=dark")
        .header("cookie", &cookie)
        .header("cookie", "lang=en")
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer, &Recorder::default(), request)
            .await
            .authenticated_as()
            .as_deref(),
        Some("rstream-auth")
    );
    let combined = format!("theme=dark; {cookie}; lang=en");
    assert_eq!(
        who(&layer, SESSION, &[("cookie", &combined)])
            .await
            .as_deref(),
        Some("rstream-auth")
    );
}

#[tokio::test]
async fn duplicate_session_cookies_authenticate_only_when_exactly_one_is_live() {
    let layer = layer();
    let ada_cookie = sign_in(&layer, ada()).await;
    let other_cookie = sign_in(&layer, rstream_well_known::User::new("mallory")).await;

    // A stale or garbage duplicate does not hide the live session.
    let stale = format!("__Host-rstream_session=0000; {ada_cookie}");
    assert_eq!(
        who(&layer, SESSION, &[("cookie", &stale)]).await.as_deref(),
        Some("rstream-auth")
    );
    // The same value twice is one session.
    let twice = format!("{ada_cookie}; {ada_cookie}");
    assert_eq!(
        who(&layer, SESSION, &[("cookie", &twice)]).await.as_deref(),
        Some("rstream-auth")
    );
    // Two live sessions: a planted cookie must not decide who the user is.
    // (What logout does with them is in tests/logout.rs, cookie tossing.)
    let planted = format!("{other_cookie}; {ada_cookie}");
    assert_eq!(who(&layer, SESSION, &[("cookie", &planted)]).await, None);
    // Too many values are not looked up at all.
    let many = format!(
        "__Host-rstream_session=1; __Host-rstream_session=2; __Host-rstream_session=3; __Host-rstream_session=4; {ada_cookie}"
    );
    assert_eq!(who(&layer, SESSION, &[("cookie", &many)]).await, None);
}

#[tokio::test]
async fn expired_sessions_do_not_authenticate() {
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    let store = layer.session_manager();
    let now = std::time::SystemTime::now();
    let id = rstream_well_known::SessionStore::create(
        store.store(),
        rstream_well_known::Session::new(ada(), now, now),
    )
    .await
    .unwrap();
    let cookie = format!("__Host-rstream_session={}", id.expose());
    assert_eq!(who(&layer, SESSION, &[("cookie", &cookie)]).await, None);
}

#[tokio::test]
async fn every_sign_in_gets_a_fresh_session() {
    let layer = layer();
    let first = sign_in(&layer, ada()).await;
    let second = sign_in(&layer, ada()).await;
    assert_ne!(first, second);
    assert!(cookie_value(&first).len() >= 32, "at least 128 bits");
    assert_eq!(
        who(&layer, SESSION, &[("cookie", &first)]).await.as_deref(),
        Some("rstream-auth")
    );
    assert_eq!(
        who(&layer, SESSION, &[("cookie", &second)])
            .await
            .as_deref(),
        Some("rstream-auth")
    );
}
