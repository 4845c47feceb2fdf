//! The session model through the layer: the rulings of sign-in (empty user
//! id, oversized profile, huge lifetimes, zero idle timeout), sliding expiry
//! (which answers touch the session, how often, and that a failing touch
//! changes no answer), deadlines checked by the layer itself, and "sign out
//! everywhere". See "Sessions" in the crate docs.

use crate::common;

use std::time::{Duration, SystemTime};

use common::*;
use rstream_well_known::{
    ConfigError, MAX_PROFILE_BYTES, MemoryStore, RevokeAll, Session, SessionCookie, SessionId,
    SessionStore, SignInError, User, WellKnownLayer,
};

/// Who the session endpoint says `cookie` belongs to.
async fn who<St: SessionStore>(
    layer: &WellKnownLayer<rstream_well_known::StaticTokenVerifier, St>,
    cookie: &str,
) -> Option<String> {
    let request = get(SESSION).header("cookie", cookie).body(empty()).unwrap();
    let answer = send(layer, &Recorder::default(), request).await;
    assert_eq!(
        answer.header("set-cookie"),
        None,
        "the session endpoint sets no cookie"
    );
    answer.authenticated_as()
}

fn session_id(cookie: &str) -> SessionId {
    SessionId::new(cookie_value(cookie)).unwrap()
}

fn idle_layer<St: SessionStore>(
    store: St,
    idle: Duration,
) -> WellKnownLayer<rstream_well_known::StaticTokenVerifier, St> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .with_session_store(store)
        .idle_timeout(idle)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_empty_user_id_is_refused_at_sign_in_and_nothing_is_stored() {
    let store = MemoryStore::new();
    let layer = layer_with(store.clone());
    let result = layer.session_manager().sign_in(User::new("")).await;
    assert!(
        matches!(result, Err(SignInError::EmptyUserId)),
        "{result:?}"
    );
    assert_eq!(result.unwrap_err().to_string(), "the user id is empty");
    assert!(store.is_empty());
}

#[tokio::test]
async fn an_oversized_profile_is_refused_at_sign_in_and_the_limit_is_inclusive() {
    let store = MemoryStore::new();
    let layer = layer_with(store.clone());
    let manager = layer.session_manager();
    // {"userId":"a","name":"…","email":null,"image":null}
    let overhead = r#"{"userId":"a","name":"","email":null,"image":null}"#.len();
    let at_limit = User::new("a").with_name("x".repeat(MAX_PROFILE_BYTES - overhead));
    assert_eq!(
        serde_json::to_string(&at_limit).unwrap().len(),
        MAX_PROFILE_BYTES
    );
    let signed_in = manager.sign_in(at_limit.clone()).await.unwrap();
    assert_eq!(
        store
            .load(signed_in.session_id())
            .await
            .unwrap()
            .map(Session::into_user),
        Some(at_limit)
    );

    // One byte more, in the name or in the attributes (which count too).
    for user in [
        User::new("a").with_name("x".repeat(MAX_PROFILE_BYTES - overhead + 1)),
        User::new("a").with_attribute("blob", "x".repeat(MAX_PROFILE_BYTES)),
    ] {
        match manager.sign_in(user).await {
            Err(SignInError::ProfileTooLarge { size, limit }) => {
                assert!(size > limit);
                assert_eq!(limit, MAX_PROFILE_BYTES);
            }
            other => panic!("expected ProfileTooLarge, got {other:?}"),
        }
    }
    assert_eq!(store.len(), 1, "nothing more was stored");
}

#[tokio::test]
async fn a_huge_lifetime_saturates_and_a_zero_one_is_refused() {
    let store = MemoryStore::new();
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_session_store(store.clone())
        .session_cookie(SessionCookie::default().max_age(Duration::MAX))
        .idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    let signed_in = layer.session_manager().sign_in(ada()).await.unwrap();
    let set_cookie = signed_in.set_cookie().to_str().unwrap().to_owned();
    assert!(set_cookie.contains("Max-Age="), "{set_cookie}");
    let session = store.load(signed_in.session_id()).await.unwrap().unwrap();
    let latest = SystemTime::UNIX_EPOCH + Duration::from_secs(Session::MAX_SECS_SINCE_EPOCH);
    assert_eq!(session.expires_at(), latest);
    assert_eq!(session.idle_expires_at(), Some(latest));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let layer = layer_with(store);
    assert_eq!(who(&layer, &cookie).await.as_deref(), Some("rstream-auth"));

    for (builder, expected) in [
        (
            WellKnownLayer::builder()
                .tunnel(tunnel())
                .with_session_store(MemoryStore::new())
                .session_cookie(SessionCookie::default().max_age(Duration::ZERO)),
            ConfigError::InvalidSessionCookie("the max age must be at least one second"),
        ),
        (
            WellKnownLayer::builder()
                .tunnel(tunnel())
                .with_session_store(MemoryStore::new())
                .idle_timeout(Duration::ZERO),
            ConfigError::InvalidIdleTimeout,
        ),
    ] {
        assert_eq!(builder.build().unwrap_err(), expected);
    }
}

#[tokio::test]
async fn sign_in_computes_both_deadlines() {
    let store = MemoryStore::new();
    let idle = Duration::from_secs(600);
    let layer = WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_session_store(store.clone())
        .session_cookie(SessionCookie::default().max_age(Duration::from_secs(3600)))
        .idle_timeout(idle)
        .build()
        .unwrap();
    let before = SystemTime::now();
    let signed_in = layer.session_manager().sign_in(ada()).await.unwrap();
    let after = SystemTime::now();
    let session = store.load(signed_in.session_id()).await.unwrap().unwrap();
    assert!(before <= session.created_at() && session.created_at() <= after);
    assert_eq!(
        session.expires_at(),
        session.created_at() + Duration::from_secs(3600)
    );
    assert_eq!(session.idle_expires_at(), Some(session.created_at() + idle));
    assert_eq!(layer.session_manager().idle_timeout(), Some(idle));
}

/// A store that returns every session it holds, expired or not: the layer
/// checks the deadline itself.
#[derive(Clone, Default)]
struct Careless(
    MemoryStore,
    std::sync::Arc<std::sync::Mutex<Vec<(SessionId, Session)>>>,
);

impl SessionStore for Careless {
    type Error = rstream_well_known::MemoryStoreError;

    async fn create(&self, session: Session) -> Result<SessionId, Self::Error> {
        let id = SessionId::generate().unwrap();
        self.1.lock().unwrap().push((id.clone(), session));
        Ok(id)
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Session>, Self::Error> {
        Ok(self
            .1
            .lock()
            .unwrap()
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, session)| session.clone()))
    }

    async fn touch(&self, id: &SessionId, at: SystemTime) -> Result<(), Self::Error> {
        self.0.touch(id, at).await
    }

    async fn revoke(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.1.lock().unwrap().retain(|(known, _)| known != id);
        Ok(())
    }
}

#[tokio::test]
async fn a_session_past_its_deadline_never_authenticates_even_if_the_store_returns_it() {
    let store = Careless::default();
    let layer = layer_with(store.clone());
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let cases = [
        Session::new(ada(), now - hour, now - Duration::from_millis(1)),
        Session::new(ada(), now - hour, now + hour)
            .with_idle_expires_at(now - Duration::from_millis(1)),
    ];
    for session in cases {
        let id = store.create(session.clone()).await.unwrap();
        let cookie = format!("{COOKIE_NAME}={}", id.expose());
        assert_eq!(who(&layer, &cookie).await, None, "{session:?}");
        // Logout sees no live session either: a bare 204, nothing cleared.
        let request = logout_request()
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.status, http::StatusCode::NO_CONTENT);
        assert_eq!(answer.header("set-cookie"), None);
    }
    // The same store's live session does authenticate.
    let id = store
        .create(Session::new(ada(), now, now + hour))
        .await
        .unwrap();
    let cookie = format!("{COOKIE_NAME}={}", id.expose());
    assert_eq!(who(&layer, &cookie).await.as_deref(), Some("rstream-auth"));
}

#[tokio::test]
async fn use_slides_an_idle_session_and_disuse_ends_it() {
    const IDLE: Duration = Duration::from_millis(400);
    let store = Faulty::new(MemoryStore::new());
    let layer = idle_layer(store.clone(), IDLE);
    let cookie = sign_in(&layer, ada()).await;
    let id = session_id(&cookie);

    // Used every 150 ms for well over the idle timeout: it stays.
    let started = SystemTime::now();
    while started.elapsed().unwrap() < 3 * IDLE {
        assert_eq!(who(&layer, &cookie).await.as_deref(), Some("rstream-auth"));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let touches = store.calls(StoreOp::Touch);
    assert!(touches >= 3, "{touches} touches kept it alive");
    let session = store.inner().load(&id).await.unwrap().unwrap();
    assert!(session.idle_expires_at().unwrap() > started + 2 * IDLE);

    // Unused for longer than the idle timeout: it ends.
    tokio::time::sleep(IDLE + Duration::from_millis(100)).await;
    assert_eq!(who(&layer, &cookie).await, None);
}

#[tokio::test]
async fn touches_are_throttled_to_one_per_quarter_of_the_idle_timeout() {
    let store = Faulty::new(MemoryStore::new());
    let layer = idle_layer(store.clone(), Duration::from_secs(3600));
    let cookie = sign_in(&layer, ada()).await;
    for _ in 0..20 {
        assert_eq!(who(&layer, &cookie).await.as_deref(), Some("rstream-auth"));
    }
    assert_eq!(
        store.calls(StoreOp::Touch),
        0,
        "a fresh session is not touched"
    );

    // A session three quarters of whose idle window are left is touched
    // once, then not again.
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let id = store
        .inner()
        .create(
            Session::new(ada(), now - hour / 4, now + 10 * hour)
                .with_idle_expires_at(now + hour * 3 / 4),
        )
        .await
        .unwrap();
    let cookie = format!("{COOKIE_NAME}={}", id.expose());
    for _ in 0..20 {
        assert_eq!(who(&layer, &cookie).await.as_deref(), Some("rstream-auth"));
    }
    assert_eq!(store.calls(StoreOp::Touch), 1);
    let moved = store.inner().load(&id).await.unwrap().unwrap();
    assert!(moved.idle_expires_at().unwrap() >= now + hour);

    // A session at its absolute end is not touched (there is nothing to
    // extend), and a layer without an idle timeout touches nothing.
    let id = store
        .inner()
        .create(
            Session::new(ada(), now - hour, now + hour / 2).with_idle_expires_at(now + hour / 2),
        )
        .await
        .unwrap();
    let cookie = format!("{COOKIE_NAME}={}", id.expose());
    assert_eq!(who(&layer, &cookie).await.as_deref(), Some("rstream-auth"));
    assert_eq!(store.calls(StoreOp::Touch), 1);
    let plain = layer_with(store.clone());
    let id = store
        .inner()
        .create(Session::new(ada(), now - hour, now + hour).with_idle_expires_at(now + hour / 8))
        .await
        .unwrap();
    let cookie = format!("{COOKIE_NAME}={}", id.expose());
    assert_eq!(who(&plain, &cookie).await.as_deref(), Some("rstream-auth"));
    assert_eq!(store.calls(StoreOp::Touch), 1);
}

#[tokio::test]
async fn only_the_authenticated_session_answer_touches() {
    let store = Faulty::new(MemoryStore::new());
    let layer = idle_layer(store.clone(), Duration::from_secs(3600));
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let due =
        || Session::new(ada(), now - hour, now + 10 * hour).with_idle_expires_at(now + hour / 2);
    let id = store.inner().create(due()).await.unwrap();
    let cookie = format!("{COOKIE_NAME}={}", id.expose());

    // A token-authenticated answer does not touch the cookie's session.
    let request = get(SESSION)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("token-auth"));
    assert_eq!(store.calls(StoreOp::Touch), 0);

    // Two live sessions authenticate nobody, and touch nothing.
    let other = store.inner().create(due()).await.unwrap();
    let both = format!("{cookie}; {COOKIE_NAME}={}", other.expose());
    assert_eq!(who(&layer, &both).await, None);
    assert_eq!(store.calls(StoreOp::Touch), 0);

    // Logout revokes; it does not touch.
    let request = logout_request()
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, http::StatusCode::NO_CONTENT);
    assert_eq!(store.calls(StoreOp::Touch), 0);
}

#[tokio::test]
async fn a_failing_or_panicking_touch_changes_no_answer() {
    for fault in [Fault::Error, Fault::Panic, Fault::PanicEagerly] {
        let store = Faulty::new(MemoryStore::new());
        let layer = idle_layer(store.clone(), Duration::from_secs(3600));
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let id = store
            .inner()
            .create(
                Session::new(ada(), now - hour, now + 10 * hour)
                    .with_idle_expires_at(now + hour / 2),
            )
            .await
            .unwrap();
        let cookie = format!("{COOKIE_NAME}={}", id.expose());
        store.set(StoreOp::Touch, fault);
        let request = get(SESSION)
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let (layer2, inner) = (layer.clone(), Recorder::default());
        let answer = tokio::spawn(async move { send(&layer2, &inner, request).await })
            .await
            .unwrap_or_else(|e| panic!("{fault:?} escaped: {e}"));
        assert_eq!(
            answer.authenticated_as().as_deref(),
            Some("rstream-auth"),
            "{fault:?}"
        );
        assert_eq!(answer.json()["user"]["userId"], "user-id", "{fault:?}");
        assert_eq!(store.calls(StoreOp::Touch), 1, "{fault:?}");
        let session = store.inner().load(&id).await.unwrap().unwrap();
        assert_eq!(
            session.idle_expires_at(),
            Some(now + hour / 2),
            "{fault:?}: unchanged"
        );
    }
}

#[tokio::test]
async fn revoke_all_signs_a_user_out_everywhere_and_lists_show_it() {
    let store = MemoryStore::new();
    let layer = layer_with(store.clone());
    let other_instance = layer_with(store.clone());
    let manager = layer.session_manager();
    let laptop = sign_in(&layer, ada()).await;
    let phone = sign_in(&other_instance, ada()).await;
    let grace = sign_in(&layer, User::new("grace")).await;
    assert_eq!(manager.sessions_of("user-id").await.unwrap().len(), 2);

    manager.revoke_all("user-id").await.unwrap();
    for cookie in [&laptop, &phone] {
        assert_eq!(who(&layer, cookie).await, None);
        assert_eq!(who(&other_instance, cookie).await, None);
    }
    assert_eq!(who(&layer, &grace).await.as_deref(), Some("rstream-auth"));
    assert!(manager.sessions_of("user-id").await.unwrap().is_empty());
    let listed = manager.sessions_of("grace").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user().user_id(), "grace");

    // Through a boxed store too: the capability stays in the type.
    let boxed = rstream_well_known::BoxRevokeAllStore::new(store.clone());
    let layer = layer_with(boxed.clone());
    let cookie = sign_in(&layer, ada()).await;
    layer.session_manager().revoke_all("user-id").await.unwrap();
    assert_eq!(who(&layer, &cookie).await, None);
    boxed.revoke_all("nobody").await.unwrap();
}
