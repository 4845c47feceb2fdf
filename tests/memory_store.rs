//! `MemoryStore`: the shared store suite, then what is particular to the
//! in-memory store (cleanup without a background task, the size bound,
//! shared clones). That each operation does bounded work under the lock is
//! proven by the unit tests in `src/store/memory.rs`, which count it.

use std::time::{Duration, SystemTime};

use crate::common;

use common::{Recorder, SESSION, empty, get, send};
use rstream_well_known::{
    MemoryStore, Session, SessionId, SessionStore, SignInError, SignedIn, StaticTokenVerifier,
    User, WellKnownLayer, test_util,
};

test_util::session_store_suite!(MemoryStore::new());

/// Sign out everywhere and listing: the store implements both.
mod capabilities {
    use super::*;

    test_util::revoke_all_suite!(MemoryStore::new());
    test_util::list_sessions_suite!(MemoryStore::new());
}

/// The store suite again, on a store that can hold four sessions: evicting
/// to make room must never break the contract for the sessions it keeps.
mod with_a_tiny_cap {
    use super::*;

    test_util::bounded_session_store_suite!(MemoryStore::new().with_max_sessions(4));
    test_util::revoke_all_suite!(MemoryStore::new().with_max_sessions(4));
}

/// A session of `user` from now, for `ttl` (saturating, as the session
/// manager computes it).
fn s(user: User, ttl: Duration) -> Session {
    let now = SystemTime::now();
    Session::new(
        user,
        now,
        now.checked_add(ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH + Duration::from_secs(Session::MAX_SECS_SINCE_EPOCH)),
    )
}

/// The user of a loaded session.
async fn user_of(store: &MemoryStore, id: &SessionId) -> Option<User> {
    store.load(id).await.unwrap().map(Session::into_user)
}

const LIVE: Duration = Duration::from_secs(3600);
const HOUR: Duration = LIVE;

/// How long the sessions of the sweeping tests live, and how long the tests
/// wait for them to expire. The sessions are created in microseconds, so
/// none expires before the wait.
const SHORT: Duration = Duration::from_millis(300);
const PAST_SHORT: Duration = Duration::from_millis(400);

async fn loads(store: &MemoryStore, id: &SessionId) -> bool {
    store.load(id).await.unwrap().is_some()
}

/// A session dead on arrival (a zero ttl) is not even stored.
#[tokio::test]
async fn a_zero_ttl_session_is_not_stored() {
    let store = MemoryStore::new();
    let gone = store
        .create(s(User::new("gone"), Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(store.len(), 0);
    assert_eq!(store.load(&gone).await.unwrap(), None);
}

#[tokio::test]
async fn a_create_drops_expired_sessions() {
    let store = MemoryStore::new();
    store.create(s(User::new("gone"), SHORT)).await.unwrap();
    assert_eq!(store.len(), 1);
    tokio::time::sleep(PAST_SHORT).await;

    let live = store.create(s(User::new("live"), LIVE)).await.unwrap();
    assert_eq!(
        store.len(),
        1,
        "the expired session was not dropped by create"
    );
    assert_eq!(user_of(&store, &live).await, Some(User::new("live")));
}

/// Expired sessions go without `purge_expired` and without a lookup: each
/// create drops up to eight of them, so twenty are gone after three creates,
/// and no create drops them all at once.
#[tokio::test]
async fn creates_drop_expired_sessions_a_few_at_a_time() {
    let store = MemoryStore::new();
    let mut live = vec![store.create(s(User::new("live"), LIVE)).await.unwrap()];
    let mut expiring = Vec::new();
    for n in 0..20 {
        let user = User::new(format!("short-{n}"));
        expiring.push(store.create(s(user, SHORT)).await.unwrap());
    }
    assert_eq!(store.len(), 21);
    tokio::time::sleep(PAST_SHORT).await;

    let mut lens = Vec::new();
    for _ in 0..4 {
        live.push(store.create(s(User::new("live"), LIVE)).await.unwrap());
        lens.push(store.len());
    }
    // 21 + 1 - 8, then 14 + 1 - 8, then 7 + 1 - 4 (the last expired ones),
    // then 4 + 1.
    assert_eq!(lens, [14, 7, 4, 5]);
    for id in &live {
        assert!(loads(&store, id).await);
    }
    for id in &expiring {
        assert!(!loads(&store, id).await);
    }
}

#[tokio::test]
async fn the_default_cap() {
    assert_eq!(MemoryStore::DEFAULT_MAX_SESSIONS, 100_000);
    assert_eq!(MemoryStore::new().max_sessions(), 100_000);
    assert_eq!(MemoryStore::default().max_sessions(), 100_000);
    assert_eq!(MemoryStore::new().with_max_sessions(7).max_sessions(), 7);
    assert_eq!(MemoryStore::new().with_max_sessions(0).max_sessions(), 1);
    assert_eq!(
        MemoryStore::new()
            .with_max_sessions(usize::MAX)
            .max_sessions(),
        usize::MAX
    );
}

/// n + 1 creates keep n sessions: the one evicted is the one that expires
/// soonest, whenever it was created, and the others all stay.
#[tokio::test]
async fn a_full_store_evicts_the_session_that_expires_soonest() {
    let store = MemoryStore::new().with_max_sessions(3);
    let three_hours = store.create(s(User::new("a"), 3 * HOUR)).await.unwrap();
    let one_hour = store.create(s(User::new("b"), HOUR)).await.unwrap();
    let two_hours = store.create(s(User::new("c"), 2 * HOUR)).await.unwrap();
    assert_eq!(store.len(), 3);

    let four_hours = store.create(s(User::new("d"), 4 * HOUR)).await.unwrap();
    assert_eq!(store.len(), 3);
    assert!(!loads(&store, &one_hour).await, "not the soonest evicted");
    for id in [&three_hours, &two_hours, &four_hours] {
        assert!(loads(&store, id).await, "a later session was evicted");
    }

    // A newcomer that expires soonest of all makes room by evicting the
    // soonest of the others, then is the next to go.
    let ninety_minutes = store
        .create(s(User::new("e"), HOUR + HOUR / 2))
        .await
        .unwrap();
    assert!(!loads(&store, &two_hours).await);
    let five_hours = store.create(s(User::new("f"), 5 * HOUR)).await.unwrap();
    assert!(!loads(&store, &ninety_minutes).await);
    for id in [&three_hours, &four_hours, &five_hours] {
        assert!(loads(&store, id).await);
    }
    assert_eq!(store.len(), 3);
}

/// With one lifetime for every session, as the session manager gives, the
/// rule is first in, first out.
#[tokio::test]
async fn with_one_lifetime_the_oldest_sessions_go_first() {
    let store = MemoryStore::new().with_max_sessions(3);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            store
                .create(s(User::new(format!("u{n}")), LIVE))
                .await
                .unwrap(),
        );
    }
    let mut kept = Vec::new();
    for id in &ids {
        kept.push(loads(&store, id).await);
    }
    assert_eq!(kept, [false, false, true, true, true]);
}

/// Room made by a logout or by expiry is used before any live session is
/// evicted.
#[tokio::test]
async fn a_full_store_uses_freed_room_first() {
    let store = MemoryStore::new().with_max_sessions(3);
    let a = store.create(s(User::new("a"), LIVE)).await.unwrap();
    let b = store.create(s(User::new("b"), LIVE)).await.unwrap();
    let c = store.create(s(User::new("c"), LIVE)).await.unwrap();
    store.revoke(&b).await.unwrap();
    let d = store.create(s(User::new("d"), LIVE)).await.unwrap();
    for id in [&a, &c, &d] {
        assert!(loads(&store, id).await, "evicted despite a revoked session");
    }

    let store = MemoryStore::new().with_max_sessions(3);
    let a = store.create(s(User::new("a"), 2 * HOUR)).await.unwrap();
    let short = store.create(s(User::new("short"), SHORT)).await.unwrap();
    let c = store.create(s(User::new("c"), HOUR)).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    let d = store.create(s(User::new("d"), 3 * HOUR)).await.unwrap();
    assert!(!loads(&store, &short).await);
    for id in [&a, &c, &d] {
        assert!(
            loads(&store, id).await,
            "evicted despite an expired session"
        );
    }
    assert_eq!(store.len(), 3);
}

/// Lowering the cap of a store that holds more evicts the excess at once,
/// by the same rule, for every clone.
#[tokio::test]
async fn lowering_the_cap_evicts_the_excess() {
    let store = MemoryStore::new();
    let clone = store.clone();
    let mut ids = Vec::new();
    for n in 1..=10u32 {
        ids.push(
            store
                .create(s(User::new(format!("u{n}")), n * HOUR))
                .await
                .unwrap(),
        );
    }
    let store = store.with_max_sessions(4);
    assert_eq!(clone.len(), 4);
    assert_eq!(clone.max_sessions(), 4);
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(loads(&clone, id).await, n >= 6, "session {n}");
    }
    assert_eq!(store.len(), 4);
}

#[tokio::test]
async fn purge_expired_removes_expired_sessions_only() {
    let store = MemoryStore::new();
    let a = store.create(s(User::new("a"), LIVE)).await.unwrap();
    let b = store.create(s(User::new("b"), LIVE)).await.unwrap();
    for n in 0..20 {
        store
            .create(s(User::new(format!("gone-{n}")), SHORT))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 22);
    tokio::time::sleep(PAST_SHORT).await;

    store.purge_expired();
    assert_eq!(store.len(), 2);
    assert_eq!(user_of(&store, &a).await, Some(User::new("a")));
    assert_eq!(user_of(&store, &b).await, Some(User::new("b")));

    store.purge_expired();
    assert_eq!(store.len(), 2, "a second purge removed a live session");
}

#[tokio::test]
async fn loading_an_expired_session_removes_it() {
    let store = MemoryStore::new();
    let live = store.create(s(User::new("live"), LIVE)).await.unwrap();
    let gone = store.create(s(User::new("gone"), SHORT)).await.unwrap();
    assert_eq!(store.len(), 2);
    tokio::time::sleep(PAST_SHORT).await;

    assert_eq!(store.load(&gone).await.unwrap(), None);
    assert_eq!(store.len(), 1);
    assert!(store.load(&live).await.unwrap().is_some());
    assert_eq!(store.len(), 1, "loading a live session removed it");
}

#[tokio::test]
async fn clones_share_the_sessions() {
    let store = MemoryStore::new();
    let clone = store.clone();
    assert!(clone.is_empty());

    let id = clone.create(s(User::new("ada"), LIVE)).await.unwrap();
    assert_eq!(store.len(), 1);
    assert!(!store.is_empty());
    assert_eq!(user_of(&store, &id).await, Some(User::new("ada")));

    store.revoke(&id).await.unwrap();
    assert_eq!(clone.load(&id).await.unwrap(), None);
    assert!(clone.is_empty());

    // The default store is a new, empty one, not a shared global.
    let other = MemoryStore::default();
    other.create(s(User::new("grace"), LIVE)).await.unwrap();
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn a_ttl_too_large_for_the_clock_is_accepted() {
    let store = MemoryStore::new();
    let id = store
        .create(s(User::new("ada"), Duration::MAX))
        .await
        .unwrap();
    assert_eq!(user_of(&store, &id).await, Some(User::new("ada")));
    store.purge_expired();
    assert_eq!(store.len(), 1);
}

/// A session that never expires by time is the last to be evicted.
#[tokio::test]
async fn a_never_expiring_session_is_evicted_last() {
    let store = MemoryStore::new().with_max_sessions(2);
    let forever = store
        .create(s(User::new("ada"), Duration::MAX))
        .await
        .unwrap();
    let year = Duration::from_secs(365 * 24 * 3600);
    let first = store.create(s(User::new("b"), year)).await.unwrap();
    let second = store.create(s(User::new("c"), year)).await.unwrap();
    assert!(loads(&store, &forever).await);
    assert!(!loads(&store, &first).await);
    assert!(loads(&store, &second).await);
}

#[tokio::test]
async fn debug_output_shows_no_session_id_or_profile() {
    let store = MemoryStore::new();
    let id = store
        .create(s(User::new("ada").with_email("ada@example.com"), LIVE))
        .await
        .unwrap();
    let debug = format!("{store:?}");
    assert!(debug.contains("sessions: 1"), "{debug}");
    assert!(!debug.contains(id.expose()), "{debug}");
    assert!(!debug.contains("ada@example.com"), "{debug}");
}

/// No duration panics: a ttl too large for the clock is accepted, and so is
/// zero.
#[tokio::test]
async fn huge_and_zero_durations_never_panic() {
    let store = MemoryStore::new();
    let forever = store
        .create(s(User::new("ada"), Duration::MAX))
        .await
        .unwrap();
    let gone = store
        .create(s(User::new("gone"), Duration::ZERO))
        .await
        .unwrap();
    let live = store.create(s(User::new("grace"), LIVE)).await.unwrap();
    assert_eq!(user_of(&store, &forever).await, Some(User::new("ada")));
    assert_eq!(store.load(&gone).await.unwrap(), None);
    assert_eq!(user_of(&store, &live).await, Some(User::new("grace")));
    store.purge_expired();
    assert_eq!(store.len(), 2);
    assert_eq!(store.max_sessions(), MemoryStore::DEFAULT_MAX_SESSIONS);
    assert!(format!("{store:?}").contains("sessions: 2"));
}

/// Whom the layer's session endpoint says a `Cookie` header value signs in,
/// if anyone.
async fn signed_in_as(
    layer: &WellKnownLayer<StaticTokenVerifier, MemoryStore>,
    cookie: &str,
) -> Option<String> {
    let answer = send(
        layer,
        &Recorder::default(),
        get(SESSION).header("cookie", cookie).body(empty()).unwrap(),
    )
    .await;
    let json = answer.json();
    if json["auth"]["authenticated"] != true {
        return None;
    }
    json["user"]["userId"].as_str().map(str::to_owned)
}

/// The `Cookie` header value a sign-in's `Set-Cookie` sets.
fn cookie_of(signed_in: &SignedIn) -> String {
    let set_cookie = signed_in.set_cookie().to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Sign-in with tags, then the back-channel logout's call: the sessions
/// carrying the tag stop working at the session endpoint, whoever their
/// user, and the others keep working.
#[tokio::test]
async fn sessions_signed_in_with_a_tag_end_together() {
    let store = MemoryStore::new();
    let layer = common::layer_with(store.clone());
    let sessions = layer.session_manager();
    let tags = |tags: &[&str]| tags.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    let laptop = sessions
        .sign_in_tagged(User::new("ada"), tags(&["sid:1", "sub:ada"]))
        .await
        .unwrap();
    let phone = sessions
        .sign_in_tagged(User::new("ada"), tags(&["sid:2", "sub:ada"]))
        .await
        .unwrap();
    let shared = sessions
        .sign_in_tagged(User::new("bob"), tags(&["sid:1"]))
        .await
        .unwrap();
    let plain = sessions.sign_in(User::new("ada")).await.unwrap();
    let stored = store.load(laptop.session_id()).await.unwrap().unwrap();
    assert_eq!(stored.tags().collect::<Vec<_>>(), ["sid:1", "sub:ada"]);
    for signed_in in [&laptop, &phone, &shared, &plain] {
        assert!(signed_in_as(&layer, &cookie_of(signed_in)).await.is_some());
    }

    sessions.revoke_tagged("sid:1").await.unwrap();
    assert_eq!(signed_in_as(&layer, &cookie_of(&laptop)).await, None);
    assert_eq!(signed_in_as(&layer, &cookie_of(&shared)).await, None);
    assert_eq!(
        signed_in_as(&layer, &cookie_of(&phone)).await.as_deref(),
        Some("ada")
    );

    sessions.revoke_tagged("sub:ada").await.unwrap();
    assert_eq!(signed_in_as(&layer, &cookie_of(&phone)).await, None);
    assert_eq!(
        signed_in_as(&layer, &cookie_of(&plain)).await.as_deref(),
        Some("ada")
    );
    sessions.revoke_tagged("sub:nobody").await.unwrap();
    assert_eq!(store.len(), 1);
}

/// A sign-in whose tags a session cannot carry all is refused before
/// anything is stored, without echoing the tag; a repeated tag is carried
/// once.
#[tokio::test]
async fn sign_in_refuses_tags_a_session_cannot_carry() {
    let store = MemoryStore::new();
    let layer = common::layer_with(store.clone());
    let sessions = layer.session_manager();

    let nine = (0..=Session::MAX_TAGS).map(|n| format!("tag-{n}"));
    let error = sessions
        .sign_in_tagged(User::new("ada"), nine)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SignInError::TooManyTags { limit: 8 }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("tag-"), "{error}");

    let secret = "s".repeat(Session::MAX_TAG_LEN + 1);
    let error = sessions
        .sign_in_tagged(User::new("ada"), [secret.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SignInError::TagTooLong {
                size: 513,
                limit: 512
            }
        ),
        "{error:?}"
    );
    assert!(!error.to_string().contains(&secret[..16]), "{error}");
    assert_eq!(store.len(), 0, "a refused sign-in stored a session");

    // Eight distinct tags, one of them repeated, the longest allowed.
    let longest = "l".repeat(Session::MAX_TAG_LEN);
    let mut tags: Vec<String> = (0..7).map(|n| format!("tag-{n}")).collect();
    tags.push("tag-0".to_owned());
    tags.push(longest.clone());
    let signed_in = sessions
        .sign_in_tagged(User::new("ada"), tags)
        .await
        .unwrap();
    let stored = store.load(signed_in.session_id()).await.unwrap().unwrap();
    assert_eq!(stored.tags().len(), 8);
    assert_eq!(stored.tags().last(), Some(longest.as_str()));
}
