//! Backends that fail, stall, hang or panic, outside-in: a request in through
//! the layer, the response out, and what the inner service saw. Each test
//! checks the answer the crate documents for the fault ("Failing backends",
//! "Logout", "Cookies" and "Error answers" in the crate docs).

use crate::common;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use rstream_well_known::{MemoryStore, SignInError, StaticTokenVerifier, WellKnownLayer};
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

/// The session endpoint's answer when nobody could be authenticated.
const UNAUTHENTICATED: &str = r#"{"auth":{"authenticated":false}}"#;

/// How long a backend stalls in the latency tests.
const DELAY: Duration = Duration::from_millis(150);

/// The timeout in front of the layer in the "never answers" tests, and the
/// status it answers with: one the layer itself never uses.
const DEADLINE: Duration = Duration::from_millis(200);
const TIMED_OUT: StatusCode = StatusCode::GATEWAY_TIMEOUT;

/// The faults that make a backend call end without an answer.
const FAILURES: [Fault; 2] = [Fault::Error, Fault::Panic];

type FaultyLayer = WellKnownLayer<FaultyVerifier<StaticTokenVerifier>, Faulty<MemoryStore>>;

/// A layer over a faulty verifier and a faulty store, and a second layer
/// over the same sessions whose store never fails.
struct Rig {
    layer: FaultyLayer,
    verifier: FaultyVerifier<StaticTokenVerifier>,
    store: Faulty<MemoryStore>,
    healthy: WellKnownLayer,
    inner: Recorder,
}

impl Rig {
    fn new() -> Self {
        Self::build(None, false)
    }

    /// A rig whose faulty backends also answer at once (`load_now`,
    /// `verify_now`), playing their faults there: the layer's path that
    /// boxes no future.
    fn at_once() -> Self {
        Self::build(None, true)
    }

    /// Both rigs: awaited backends, and backends answering at once.
    fn both() -> [(Self, &'static str); 2] {
        [(Self::new(), "awaited"), (Self::at_once(), "at once")]
    }

    /// A rig whose layer bounds its backend calls with `timeout` (tokio's
    /// timer).
    #[cfg(feature = "tokio")]
    fn with_timeout(timeout: Duration) -> Self {
        Self::build(Some(timeout), false)
    }

    fn build(timeout: Option<Duration>, at_once: bool) -> Self {
        let sessions = MemoryStore::new();
        let mut verifier = FaultyVerifier::new(common::verifier());
        let mut store = Faulty::new(sessions.clone());
        if at_once {
            verifier = verifier.answering_at_once();
            store = store.answering_at_once();
        }
        let builder = WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_token_verifier(verifier.clone())
            .with_session_store(store.clone());
        #[cfg(feature = "tokio")]
        let builder = match timeout {
            Some(timeout) => builder.backend_timeout(timeout, rstream_well_known::TokioTimer),
            None => builder,
        };
        #[cfg(not(feature = "tokio"))]
        assert!(timeout.is_none(), "timeouts need the tokio feature here");
        let layer = builder.build().unwrap();
        Self {
            layer,
            verifier,
            store,
            healthy: layer_with(sessions),
            inner: Recorder::default(),
        }
    }

    /// Signs `user` in (the store healthy) and returns the `Cookie` pair.
    async fn sign_in(&self, user: rstream_well_known::User) -> String {
        sign_in(&self.layer, user).await
    }

    /// Sends `request` through the faulty layer.
    async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let (layer, inner) = (self.layer.clone(), self.inner.clone());
        no_panic(async move { send(&layer, &inner, request).await }).await
    }

    /// Sends `request` through a tower-http `TimeoutLayer` in front of the
    /// faulty layer.
    async fn send_behind_timeout(&self, request: Request<Full<Bytes>>) -> Answer {
        let stack = ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(TIMED_OUT, DEADLINE))
            .layer(self.layer.clone());
        let inner = self.inner.clone();
        no_panic(async move { send(&stack, &inner, request).await }).await
    }

    /// Who the session endpoint says `cookie` belongs to, asked through the
    /// healthy layer: `Some("rstream-auth")` while the session is live.
    async fn healthy_view(&self, cookie: &str) -> Option<String> {
        let request = get(SESSION).header("cookie", cookie).body(empty()).unwrap();
        send(&self.healthy, &Recorder::default(), request)
            .await
            .authenticated_as()
    }
}

/// Runs `future` as its own task, so that a panic escaping the layer is
/// reported as such instead of unwinding through the test.
async fn no_panic<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    escaped(future)
        .await
        .unwrap_or_else(|e| panic!("a backend panic escaped the layer: {e}"))
}

/// `Err` (with the task's panic) when `future` panicked.
async fn escaped<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    tokio::spawn(future).await.map_err(|e| e.to_string())
}

fn session_with_cookie(cookie: &str) -> Request<Full<Bytes>> {
    get(SESSION).header("cookie", cookie).body(empty()).unwrap()
}

fn session_with_token(cookie: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = get(SESSION).header("authorization", format!("Bearer {TOKEN}"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(empty()).unwrap()
}

fn logout(cookie: &str) -> Request<Full<Bytes>> {
    logout_request()
        .header("cookie", cookie)
        .body(empty())
        .unwrap()
}

fn logout_with_token(cookie: &str) -> Request<Full<Bytes>> {
    logout_request()
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", cookie)
        .body(empty())
        .unwrap()
}

/// The documented "not authenticated" answer of the session endpoint,
/// showing nothing of the failure.
fn assert_unauthenticated(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{what}");
    assert_eq!(answer.body, UNAUTHENTICATED, "{what}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(answer.header("set-cookie"), None, "{what}");
    assert_no_internals(answer, what);
}

fn assert_no_internals(answer: &Answer, what: &str) {
    let everything = answer.everything();
    for internal in [INJECTED, PANIC_PAYLOAD, "panicked"] {
        assert!(
            !everything.contains(internal),
            "{what}: the answer shows {internal:?}"
        );
    }
}

/// A `204` that clears the session cookie: empty value, `Max-Age=0`.
fn assert_cleared(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{what}");
    assert!(answer.body.is_empty(), "{what}");
    let removal = answer
        .header("set-cookie")
        .unwrap_or_else(|| panic!("{what}: the cookie is not cleared"));
    assert!(
        removal.starts_with(&format!("{COOKIE_NAME}=;")),
        "{what}: {removal}"
    );
    assert!(removal.contains("Max-Age=0"), "{what}: {removal}");
}

/// The documented `503` of a logout whose revocation failed: the cookie
/// stays, so the user is never told they are signed out.
fn assert_store_unavailable(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(
        answer.json(),
        serde_json::json!({"error": "session_store_unavailable"}),
        "{what}"
    );
    assert_eq!(answer.header("set-cookie"), None, "{what}");
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{what}");
    assert_no_internals(answer, what);
}

// Session endpoint.

#[tokio::test]
async fn session_store_error_or_panic_answers_unauthenticated_for_a_cookie_caller() {
    for fault in FAILURES {
        for (rig, how) in Rig::both() {
            let cookie = rig.sign_in(ada()).await;
            rig.store.set(StoreOp::Load, fault);

            let answer = rig.send(session_with_cookie(&cookie)).await;
            assert_unauthenticated(&answer, &format!("{fault:?}, {how}"));
            assert_eq!(rig.store.calls(StoreOp::Load), 1, "{fault:?}, {how}");
            assert_eq!(rig.inner.count(), 0, "{fault:?}, {how}");

            // Nothing was lost: the session works again once the store
            // recovers.
            rig.store.heal();
            let answer = rig.send(session_with_cookie(&cookie)).await;
            assert_eq!(
                answer.authenticated_as().as_deref(),
                Some("rstream-auth"),
                "{fault:?}, {how}"
            );
        }
    }
}

#[tokio::test]
async fn session_verifier_error_or_panic_falls_back_to_the_cookie() {
    for fault in FAILURES {
        for (rig, how) in Rig::both() {
            let cookie = rig.sign_in(ada()).await;
            rig.verifier.set(fault);

            // With a live cookie: authenticated by the cookie.
            let answer = rig.send(session_with_token(Some(&cookie))).await;
            assert_eq!(answer.status, StatusCode::OK, "{fault:?}, {how}");
            assert_eq!(
                answer.authenticated_as().as_deref(),
                Some("rstream-auth"),
                "{fault:?}, {how}"
            );
            assert_eq!(
                answer.json()["user"]["userId"],
                "user-id",
                "{fault:?}, {how}"
            );
            assert_no_internals(&answer, &format!("{fault:?}, {how}"));

            // Without one: not authenticated, never 500.
            let answer = rig.send(session_with_token(None)).await;
            assert_unauthenticated(&answer, &format!("{fault:?}, {how}, no cookie"));

            assert_eq!(
                rig.verifier.calls(),
                2,
                "{fault:?}, {how}: the token was tried"
            );
            assert_eq!(rig.inner.count(), 0, "{fault:?}, {how}");
        }
    }
}

#[tokio::test]
async fn a_verifier_answering_at_once_beside_a_store_that_must_be_awaited() {
    // The verifier refuses at once, the store answers only awaited: the
    // layer starts over with futures and authenticates by the cookie; a
    // verifier that accepts at once needs no store at all.
    let rig = Rig::build(None, false);
    let verifier = FaultyVerifier::new(common::verifier()).answering_at_once();
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier.clone())
        .with_session_store(rig.store.clone())
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let refused = get(SESSION)
        .header("cookie", &cookie)
        .header("authorization", "Bearer not-a-known-token")
        .body(empty())
        .unwrap();
    let answer = send(&layer, &rig.inner, refused).await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    assert_eq!(rig.store.calls(StoreOp::Load), 1);

    let accepted = get(SESSION)
        .header("cookie", &cookie)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let answer = send(&layer, &rig.inner, accepted).await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("token-auth"));
    assert_eq!(rig.store.calls(StoreOp::Load), 1, "the token settled it");
    assert_eq!(rig.inner.count(), 0);
}

#[tokio::test]
async fn session_answers_correctly_after_a_slow_backend() {
    let rig = Rig::new();
    let cookie = rig.sign_in(ada()).await;

    rig.store.set(StoreOp::Load, Fault::Latency(DELAY));
    let started = Instant::now();
    let answer = rig.send(session_with_cookie(&cookie)).await;
    assert!(started.elapsed() >= DELAY, "the store was not waited for");
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    rig.store.heal();

    rig.verifier.set(Fault::Latency(DELAY));
    let started = Instant::now();
    let answer = rig.send(session_with_token(Some(&cookie))).await;
    assert!(
        started.elapsed() >= DELAY,
        "the verifier was not waited for"
    );
    assert_eq!(answer.authenticated_as().as_deref(), Some("token-auth"));
    assert_eq!(rig.inner.count(), 0);
}

#[tokio::test]
async fn session_held_by_a_backend_that_never_answers_is_ended_by_a_timeout_in_front() {
    // A cookie caller, the store hanging.
    let rig = Rig::new();
    let cookie = rig.sign_in(ada()).await;
    rig.store.set(StoreOp::Load, Fault::Never);
    let started = Instant::now();
    let answer = rig.send_behind_timeout(session_with_cookie(&cookie)).await;
    assert_eq!(answer.status, TIMED_OUT);
    assert!(started.elapsed() >= DEADLINE);
    assert_eq!(rig.store.calls(StoreOp::Load), 1);
    assert_eq!(rig.inner.count(), 0, "the inner service saw nothing");

    // A token caller, the verifier hanging: the cookie is never reached.
    let rig = Rig::new();
    let cookie = rig.sign_in(ada()).await;
    rig.verifier.set(Fault::Never);
    let answer = rig
        .send_behind_timeout(session_with_token(Some(&cookie)))
        .await;
    assert_eq!(answer.status, TIMED_OUT);
    assert_eq!(rig.verifier.calls(), 1);
    assert_eq!(rig.store.calls(StoreOp::Load), 0);
    assert_eq!(rig.inner.count(), 0, "the inner service saw nothing");
}

#[tokio::test]
async fn head_on_the_session_endpoint_with_a_failing_store_mirrors_get() {
    for fault in FAILURES {
        let rig = Rig::new();
        let cookie = rig.sign_in(ada()).await;
        rig.store.set(StoreOp::Load, fault);

        let got = rig.send(session_with_cookie(&cookie)).await;
        assert_unauthenticated(&got, &format!("GET, {fault:?}"));
        let head = rig
            .send(
                request("HEAD", SESSION)
                    .header("cookie", &cookie)
                    .body(empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(head.status, got.status, "{fault:?}");
        assert_eq!(head.headers, got.headers, "{fault:?}");
        assert_eq!(
            head.header("content-length"),
            Some(UNAUTHENTICATED.len().to_string().as_str()),
            "{fault:?}: HEAD declares the GET body's length"
        );
        assert!(head.body.is_empty(), "{fault:?}: HEAD has no body");
        assert_eq!(rig.inner.count(), 0, "{fault:?}");
    }
}

// Logout.

#[tokio::test]
async fn logout_revokes_every_cookie_value_when_the_store_cannot_load() {
    for fault in FAILURES {
        let rig = Rig::new();
        let own = rig.sign_in(ada()).await;
        // A second live session beside the user's own (cookie tossing).
        let planted = rig.sign_in(rstream_well_known::User::new("mallory")).await;
        rig.store.set(StoreOp::Load, fault);

        let answer = rig.send(logout(&format!("{planted}; {own}"))).await;
        assert_cleared(&answer, &format!("{fault:?}"));
        assert_eq!(
            rig.store.calls(StoreOp::Revoke),
            2,
            "{fault:?}: both values"
        );

        // Seen through a store that works, neither session loads any more.
        for cookie in [&own, &planted] {
            assert_eq!(rig.healthy_view(cookie).await, None, "{fault:?}");
        }
        assert_eq!(rig.inner.count(), 0, "{fault:?}");
    }
}

#[tokio::test]
async fn logout_answers_503_and_keeps_the_session_when_revoking_fails() {
    for fault in FAILURES {
        let rig = Rig::new();
        let cookie = rig.sign_in(ada()).await;
        rig.store.set(StoreOp::Revoke, fault);

        let answer = rig.send(logout(&cookie)).await;
        assert_store_unavailable(&answer, &format!("{fault:?}"));
        assert_eq!(rig.store.calls(StoreOp::Revoke), 1, "{fault:?}");
        assert_eq!(rig.inner.count(), 0, "{fault:?}");

        // The cookie the browser keeps still works once the store recovers,
        // which is why the user must not have been told otherwise.
        rig.store.heal();
        assert_eq!(
            rig.send(session_with_cookie(&cookie))
                .await
                .authenticated_as()
                .as_deref(),
            Some("rstream-auth"),
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn logout_held_by_a_backend_that_never_answers_is_ended_by_a_timeout_in_front() {
    for op in [StoreOp::Load, StoreOp::Revoke] {
        let rig = Rig::new();
        let cookie = rig.sign_in(ada()).await;
        rig.store.set(op, Fault::Never);
        let started = Instant::now();
        let answer = rig.send_behind_timeout(logout(&cookie)).await;
        assert_eq!(answer.status, TIMED_OUT, "{op:?}");
        assert!(started.elapsed() >= DEADLINE, "{op:?}");
        assert_eq!(answer.header("set-cookie"), None, "{op:?}");
        assert_eq!(rig.store.calls(op), 1, "{op:?}");
        assert_eq!(
            rig.inner.count(),
            0,
            "{op:?}: the inner service saw nothing"
        );
    }

    let rig = Rig::new();
    let cookie = rig.sign_in(ada()).await;
    rig.verifier.set(Fault::Never);
    let answer = rig.send_behind_timeout(logout_with_token(&cookie)).await;
    assert_eq!(answer.status, TIMED_OUT, "verifier");
    assert_eq!(answer.header("set-cookie"), None, "verifier");
    assert_eq!(rig.verifier.calls(), 1);
    assert_eq!(
        rig.inner.count(),
        0,
        "verifier: the inner service saw nothing"
    );
}

#[tokio::test]
async fn logout_answers_correctly_after_a_slow_store() {
    let rig = Rig::new();
    let cookie = rig.sign_in(ada()).await;
    rig.store.set(StoreOp::Load, Fault::Latency(DELAY));
    rig.store.set(StoreOp::Revoke, Fault::Latency(DELAY));
    let started = Instant::now();
    let answer = rig.send(logout(&cookie)).await;
    assert!(
        started.elapsed() >= DELAY * 2,
        "load and revoke were waited for"
    );
    assert_cleared(&answer, "slow store");
    assert_eq!(rig.healthy_view(&cookie).await, None);
}

#[tokio::test]
async fn logout_with_a_failing_verifier_and_a_live_cookie_signs_the_cookie_out() {
    // Healthy, a valid token makes logout a no-op for the cookie (documented).
    let rig = Rig::new();
    let cookie = rig.sign_in(ada()).await;
    let answer = rig.send(logout_with_token(&cookie)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.header("set-cookie"), None);
    assert_eq!(
        rig.healthy_view(&cookie).await.as_deref(),
        Some("rstream-auth")
    );

    // With the verifier failing, the token proves nothing: cookie logout.
    for fault in FAILURES {
        let rig = Rig::new();
        let cookie = rig.sign_in(ada()).await;
        rig.verifier.set(fault);
        let answer = rig.send(logout_with_token(&cookie)).await;
        assert_cleared(&answer, &format!("{fault:?}"));
        assert_eq!(rig.verifier.calls(), 1, "{fault:?}");
        assert_eq!(rig.healthy_view(&cookie).await, None, "{fault:?}");
        assert_eq!(rig.inner.count(), 0, "{fault:?}");
    }
}

// Sign-in.

#[tokio::test]
async fn sign_in_reports_a_failing_store_and_issues_no_cookie() {
    let rig = Rig::new();
    let manager = rig.layer.session_manager();
    rig.store.set(StoreOp::Create, Fault::Error);
    let result = no_panic(async move { manager.sign_in(ada()).await }).await;
    match result {
        Err(error @ SignInError::Store(FaultError::Injected)) => {
            assert_eq!(
                error.to_string(),
                format!("the session store failed: {INJECTED}")
            );
        }
        other => panic!("expected SignInError::Store, got {other:?}"),
    }
    assert_eq!(rig.store.calls(StoreOp::Create), 1);
}

#[tokio::test]
async fn sign_in_reports_a_panicking_store_and_issues_no_cookie() {
    let rig = Rig::new();
    let manager = rig.layer.session_manager();
    rig.store.set(StoreOp::Create, Fault::Panic);
    let result = no_panic(async move { manager.sign_in(ada()).await }).await;
    assert!(
        matches!(result, Err(SignInError::StorePanicked)),
        "expected SignInError::StorePanicked, got {result:?}"
    );
    assert_eq!(rig.store.calls(StoreOp::Create), 1);

    // The store is usable again afterwards.
    rig.store.heal();
    let cookie = rig.sign_in(ada()).await;
    assert_eq!(
        rig.healthy_view(&cookie).await.as_deref(),
        Some("rstream-auth")
    );
}

// Panics raised before the backend returns its future.
//
// `TokenVerifier::verify` and the `SessionStore` methods return
// `impl Future`, so a backend can panic in the call itself, before any future
// exists (a `fn` body that panics before its `async move` block). The docs
// promise that a panicking backend is treated like a failing one.

#[tokio::test]
async fn a_backend_that_panics_before_returning_its_future_never_escapes_the_layer() {
    /// Where the panic is raised, and the documented answer for it.
    enum Case {
        SessionLoad,
        SessionVerifier,
        LogoutLoad,
        LogoutRevoke,
    }
    let mut escaped_from = Vec::new();
    for case in [
        Case::SessionLoad,
        Case::SessionVerifier,
        Case::LogoutLoad,
        Case::LogoutRevoke,
    ] {
        let rig = Rig::new();
        let cookie = rig.sign_in(ada()).await;
        let (what, request) = match case {
            Case::SessionLoad => {
                rig.store.set(StoreOp::Load, Fault::PanicEagerly);
                ("session endpoint, store load", session_with_cookie(&cookie))
            }
            Case::SessionVerifier => {
                rig.verifier.set(Fault::PanicEagerly);
                (
                    "session endpoint, verifier",
                    session_with_token(Some(&cookie)),
                )
            }
            Case::LogoutLoad => {
                rig.store.set(StoreOp::Load, Fault::PanicEagerly);
                ("logout, store load", logout(&cookie))
            }
            Case::LogoutRevoke => {
                rig.store.set(StoreOp::Revoke, Fault::PanicEagerly);
                ("logout, store revoke", logout(&cookie))
            }
        };
        let (layer, inner) = (rig.layer.clone(), rig.inner.clone());
        let Ok(answer) = escaped(async move { send(&layer, &inner, request).await }).await else {
            escaped_from.push(what);
            continue;
        };
        match case {
            Case::SessionLoad => assert_unauthenticated(&answer, what),
            Case::SessionVerifier => {
                assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
            }
            Case::LogoutLoad => {
                assert_cleared(&answer, what);
                assert_eq!(rig.healthy_view(&cookie).await, None, "{what}");
            }
            Case::LogoutRevoke => assert_store_unavailable(&answer, what),
        }
        assert_eq!(rig.inner.count(), 0, "{what}");
    }
    assert!(
        escaped_from.is_empty(),
        "a backend panic escaped the layer from: {escaped_from:?}"
    );
}

#[tokio::test]
async fn sign_in_reports_a_store_that_panics_before_returning_its_future() {
    let rig = Rig::new();
    let manager = rig.layer.session_manager();
    rig.store.set(StoreOp::Create, Fault::PanicEagerly);
    let result = escaped(async move { manager.sign_in(ada()).await })
        .await
        .unwrap_or_else(|e| panic!("the panic escaped sign_in: {e}"));
    assert!(
        matches!(result, Err(SignInError::StorePanicked)),
        "expected SignInError::StorePanicked, got {result:?}"
    );
}

// The layer's own backend timeout (`backend_timeout`): a backend that never
// answers is dropped after the timeout, and the failure answers apply.
#[cfg(feature = "tokio")]
mod backend_timeout {
    use rstream_well_known::{Session, SessionStore, TokioTimer};

    use super::*;

    /// The backend timeout of these tests.
    const TIMEOUT: Duration = Duration::from_millis(150);

    /// Whether an answer came after the timeout, but not much later.
    fn assert_bounded(elapsed: Duration, what: &str) {
        assert!(
            elapsed >= TIMEOUT,
            "{what}: answered before the timeout ({elapsed:?})"
        );
        assert!(
            elapsed < TIMEOUT * 3,
            "{what}: held for {elapsed:?}, past the timeout"
        );
    }

    #[tokio::test]
    async fn with_a_backend_timeout_a_store_that_never_answers_means_not_authenticated() {
        let rig = Rig::with_timeout(TIMEOUT);
        let cookie = rig.sign_in(ada()).await;
        rig.store.set(StoreOp::Load, Fault::Never);
        let started = Instant::now();
        let answer = rig.send(session_with_cookie(&cookie)).await;
        assert_bounded(started.elapsed(), "session endpoint");
        assert_unauthenticated(&answer, "a hanging load");
        assert_eq!(rig.store.calls(StoreOp::Load), 1);
        assert_eq!(rig.inner.count(), 0);

        // HEAD mirrors GET.
        let head = rig
            .send(
                request("HEAD", SESSION)
                    .header("cookie", &cookie)
                    .body(empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(head.status, answer.status);
        assert_eq!(head.headers, answer.headers);
        assert!(head.body.is_empty());

        // Nothing was lost: once the store answers again, so does the session.
        rig.store.heal();
        assert_eq!(
            rig.send(session_with_cookie(&cookie))
                .await
                .authenticated_as()
                .as_deref(),
            Some("rstream-auth")
        );
    }

    #[tokio::test]
    async fn with_a_backend_timeout_a_verifier_that_never_answers_falls_back_to_the_cookie() {
        let rig = Rig::with_timeout(TIMEOUT);
        let cookie = rig.sign_in(ada()).await;
        rig.verifier.set(Fault::Never);
        let started = Instant::now();
        let answer = rig.send(session_with_token(Some(&cookie))).await;
        assert_bounded(started.elapsed(), "verifier");
        // The store answers at once, so the deadline that passed during the
        // verifier does not stop its lookup.
        assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));

        let started = Instant::now();
        let answer = rig.send(session_with_token(None)).await;
        assert_bounded(started.elapsed(), "verifier, no cookie");
        assert_unauthenticated(&answer, "a hanging verifier");
    }

    #[tokio::test]
    async fn with_a_backend_timeout_logout_answers_503_when_revoking_never_answers() {
        let rig = Rig::with_timeout(TIMEOUT);
        let cookie = rig.sign_in(ada()).await;
        rig.store.set(StoreOp::Revoke, Fault::Never);
        let started = Instant::now();
        let answer = rig.send(logout(&cookie)).await;
        assert_bounded(started.elapsed(), "logout");
        assert_store_unavailable(&answer, "a hanging revoke");
        assert_eq!(rig.inner.count(), 0);
        // The session was not ended, and the user was not told it was.
        rig.store.heal();
        assert_eq!(
            rig.healthy_view(&cookie).await.as_deref(),
            Some("rstream-auth")
        );
    }

    #[tokio::test]
    async fn with_a_backend_timeout_a_whole_logout_is_bounded_by_one_timeout() {
        // Load and revoke both hang: one timeout in all, not one per call.
        let rig = Rig::with_timeout(TIMEOUT);
        let own = rig.sign_in(ada()).await;
        let planted = rig.sign_in(rstream_well_known::User::new("mallory")).await;
        rig.verifier.set(Fault::Never);
        rig.store.set(StoreOp::Load, Fault::Never);
        rig.store.set(StoreOp::Revoke, Fault::Never);
        let started = Instant::now();
        let answer = rig
            .send(logout_with_token(&format!("{planted}; {own}")))
            .await;
        assert_bounded(started.elapsed(), "logout with every backend hanging");
        assert_store_unavailable(&answer, "every backend hanging");

        // A hanging load alone: logout revokes anyway (the store answers that),
        // and clears the cookie.
        let rig = Rig::with_timeout(TIMEOUT);
        let cookie = rig.sign_in(ada()).await;
        rig.store.set(StoreOp::Load, Fault::Never);
        let started = Instant::now();
        let answer = rig.send(logout(&cookie)).await;
        assert_bounded(started.elapsed(), "logout with a hanging load");
        assert_cleared(&answer, "a hanging load");
        assert_eq!(rig.healthy_view(&cookie).await, None);
    }

    #[tokio::test]
    async fn with_a_backend_timeout_a_hanging_touch_never_changes_the_answer() {
        let sessions = MemoryStore::new();
        let store = Faulty::new(sessions.clone());
        let layer = WellKnownLayer::builder()
            .tunnel(tunnel())
            .with_session_store(store.clone())
            .idle_timeout(Duration::from_secs(3600))
            .backend_timeout(TIMEOUT, TokioTimer)
            .build()
            .unwrap();
        let now = std::time::SystemTime::now();
        let hour = Duration::from_secs(3600);
        let id = sessions
            .create(
                Session::new(ada(), now - hour, now + 10 * hour)
                    .with_idle_expires_at(now + hour / 2),
            )
            .await
            .unwrap();
        store.set(StoreOp::Touch, Fault::Never);
        let cookie = format!("{COOKIE_NAME}={}", id.expose());
        let started = Instant::now();
        let answer = send(&layer, &Recorder::default(), session_with_cookie(&cookie)).await;
        assert_bounded(started.elapsed(), "a hanging touch");
        assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
        assert_eq!(answer.json()["user"]["userId"], "user-id");
        assert_eq!(store.calls(StoreOp::Touch), 1);
    }

    #[tokio::test]
    async fn with_a_backend_timeout_sign_in_reports_a_store_that_never_answers() {
        let rig = Rig::with_timeout(TIMEOUT);
        let manager = rig.layer.session_manager();
        rig.store.set(StoreOp::Create, Fault::Never);
        let started = Instant::now();
        let result = no_panic(async move { manager.sign_in(ada()).await }).await;
        assert_bounded(started.elapsed(), "sign-in");
        match result {
            Err(error @ SignInError::TimedOut) => assert_eq!(
                error.to_string(),
                "the session store did not answer within the backend timeout"
            ),
            other => panic!("expected SignInError::TimedOut, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_zero_backend_timeout_is_refused() {
        let error = WellKnownLayer::builder()
            .tunnel(tunnel())
            .backend_timeout(Duration::ZERO, TokioTimer)
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            rstream_well_known::ConfigError::InvalidBackendTimeout
        );
    }
}

// The log.

#[cfg(feature = "tracing")]
mod log {

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn panics_are_logged_by_component_without_secrets() {
        // The other tests of this binary make the layer log from other
        // threads, which have no subscriber. While exactly one `Dispatch` is
        // registered, tracing-core (0.1.36) computes a callsite's interest
        // from the default of whichever thread reaches it first, and caches
        // "never" when that is another test's thread (tokio-rs/tracing#3611).
        // A second live `Dispatch` makes it ask every registered one.
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

        let (captured, _guard) = Captured::install();

        let rig = Rig::new();
        let cookie = rig.sign_in(ada()).await;
        rig.verifier.set(Fault::Panic);
        rig.store.set(StoreOp::Load, Fault::Panic);
        rig.store.set(StoreOp::Revoke, Fault::Panic);

        // The current-thread runtime polls the spawned request on this thread,
        // where the subscriber is the default.
        let answer = rig.send(session_with_token(Some(&cookie))).await;
        assert_unauthenticated(&answer, "session");
        let answer = rig.send(logout_with_token(&cookie)).await;
        assert_store_unavailable(&answer, "logout");

        let log = captured.text();
        for component in [
            "token verifier",
            "session store (load)",
            "session store (revoke)",
        ] {
            assert!(
                log.lines()
                    .any(|line| line.contains(component) && line.contains("panicked")),
                "no line says the {component} panicked:\n{log}"
            );
        }
        for secret in [TOKEN, cookie_value(&cookie), PANIC_PAYLOAD] {
            assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
        }
    }
}
