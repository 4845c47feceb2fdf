//! Backend failures are logged (feature `tracing`), and the log never holds a
//! token, a cookie or a session id.
#![cfg(feature = "tracing")]

use crate::common;

use std::sync::atomic::Ordering;

use common::*;
use rstream_well_known::WellKnownLayer;

#[tokio::test(flavor = "current_thread")]
async fn failures_are_logged_without_secrets() {
    let (captured, _guard) = Captured::install();

    let verifier = RecordingVerifier::default();
    let store = FlakyStore::default();
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .with_session_store(store.clone())
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    verifier.fail.store(true, Ordering::SeqCst);
    store.fail_load.store(true, Ordering::SeqCst);
    store.fail_revoke.store(true, Ordering::SeqCst);

    let session = get(SESSION)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    assert_eq!(
        send(&layer, &Recorder::default(), session)
            .await
            .authenticated_as(),
        None
    );
    let logout = logout_request()
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    assert_eq!(send(&layer, &Recorder::default(), logout).await.status, 503);

    let log = captured.text();
    for component in [
        "token verifier",
        "session store (load)",
        "session store (revoke)",
    ] {
        assert!(
            log.contains(component),
            "{component} failure not logged:\n{log}"
        );
    }
    assert!(
        log.contains("backend down"),
        "the error text is logged:\n{log}"
    );
    assert!(
        !log.contains(TOKEN),
        "the token leaked into the log:\n{log}"
    );
    assert!(
        !log.contains(cookie_value(&cookie)),
        "the session id leaked into the log:\n{log}"
    );
}
