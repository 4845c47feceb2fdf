//! The contract every [`SessionStore`] must honour, as a public test suite
//! that any store's tests can run (feature `test-util`).
//!
//! Every built-in store runs it; a store of your own should too. Add the
//! crate with the feature, and tokio for the generated tests, as
//! dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! rstream-well-known = { version = "0.1", features = ["test-util"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! then, in a test file (`tests/my_store.rs`):
//!
//! ```ignore
//! use rstream_well_known::test_util;
//!
//! // One #[tokio::test] per check; the expression is evaluated in each test
//! // (in an async context: it may `.await`) and must give a store holding
//! // no session of another check.
//! test_util::session_store_suite!(MyStore::connect(&url()).await.unwrap());
//!
//! // For a store that implements RevokeAll and ListSessions:
//! mod revoke_all {
//!     rstream_well_known::test_util::revoke_all_suite!(super::MyStore::connect(&super::url()).await.unwrap());
//! }
//! mod list {
//!     rstream_well_known::test_util::list_sessions_suite!(super::MyStore::connect(&super::url()).await.unwrap());
//! }
//! ```
//!
//! The macros generate one `#[tokio::test]` (multi-threaded, two workers)
//! per check, so a failure names the check. Each check is also a public
//! `async fn` taking the store, for a bespoke harness or another runtime:
//! the checks themselves need no runtime (they run their concurrent calls
//! on one task and wait on a plain thread).
//!
//! What the suite expects of a store beyond the trait's documentation:
//! deadlines kept to the millisecond (times read back may differ from those
//! stored by up to a second), and a real clock (three checks wait about a
//! second for sessions to expire). [`bounded_session_store_suite!`] leaves
//! out the checks that keep more than four sessions at once, for stores
//! with a small size bound that evict.
//!
//! A runnable example, on the in-memory store:
//!
//! ```
//! use rstream_well_known::{MemoryStore, test_util};
//!
//! # futures::executor::block_on(async {
//! test_util::revoked_sessions_do_not_load(MemoryStore::new()).await;
//! test_util::revoke_all_ends_every_session_of_the_user_only(MemoryStore::new()).await;
//! test_util::revoke_tagged_ends_the_sessions_carrying_the_tag_only(MemoryStore::new()).await;
//! # });
//! ```

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use crate::identity::User;
use crate::store::{ListSessions, RevokeAll, Session, SessionDecodeError, SessionId, SessionStore};

/// Generates one `#[tokio::test]` per check of the store contract, each on a
/// store made by evaluating the expression (in an async context).
#[macro_export]
macro_rules! session_store_suite {
    ($make:expr) => {
        $crate::test_util::__checks!($make;
            create_then_load_round_trips_every_profile_field,
            ids_are_fresh_long_and_cookie_safe,
            unknown_ids_do_not_load,
            revoked_sessions_do_not_load,
            revoke_is_idempotent_and_unknown_ids_are_fine,
            zero_ttl_sessions_never_load,
            deadlines_in_the_past_never_load,
            huge_ttls_load,
            sessions_are_independent,
            concurrent_creates_never_overwrite,
            touch_moves_the_idle_deadline_within_bounds,
            touch_never_revives_a_session,
            a_touch_cut_off_anywhere_never_undoes_a_revoke,
            sessions_expire_when_their_time_comes,
            the_stored_form_keeps_what_the_store_gives_back,
        );
    };
}

/// The checks of [`session_store_suite!`] that never keep more than four
/// sessions in the store at once, for a store with a small size bound that
/// evicts older sessions to make room.
#[macro_export]
macro_rules! bounded_session_store_suite {
    ($make:expr) => {
        $crate::test_util::__checks!($make;
            create_then_load_round_trips_every_profile_field,
            ids_are_fresh_long_and_cookie_safe,
            unknown_ids_do_not_load,
            revoked_sessions_do_not_load,
            revoke_is_idempotent_and_unknown_ids_are_fine,
            zero_ttl_sessions_never_load,
            deadlines_in_the_past_never_load,
            huge_ttls_load,
            sessions_are_independent,
            touch_moves_the_idle_deadline_within_bounds,
            touch_never_revives_a_session,
            a_touch_cut_off_anywhere_never_undoes_a_revoke,
            sessions_expire_when_their_time_comes,
            the_stored_form_keeps_what_the_store_gives_back,
        );
    };
}

/// The checks of [`RevokeAll`] (revoke-all and revoke-tagged), for stores
/// that implement it.
#[macro_export]
macro_rules! revoke_all_suite {
    ($make:expr) => {
        $crate::test_util::__checks!($make;
            revoke_all_ends_every_session_of_the_user_only,
            revoke_all_ends_sessions_created_before_it_under_concurrent_creates,
            revoke_tagged_ends_the_sessions_carrying_the_tag_only,
            revoke_tagged_ends_sessions_created_before_it_under_concurrent_creates,
            expired_tagged_sessions_leave_their_tag_working,
        );
    };
}

/// The checks of [`ListSessions`], for stores that implement it.
#[macro_export]
macro_rules! list_sessions_suite {
    ($make:expr) => {
        $crate::test_util::__checks!($make;
            list_shows_the_live_sessions_of_one_user,
        );
    };
}

/// One test per check (used by the suite macros).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_checks {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = $make;
                $crate::test_util::$check(store).await;
            }
        )*
    };
}

#[doc(hidden)]
pub use crate::__store_checks as __checks;
#[doc(inline)]
pub use crate::{
    bounded_session_store_suite, list_sessions_suite, revoke_all_suite, session_store_suite,
};

/// The ttl of sessions that must stay live for a whole check.
const LIVE: Duration = Duration::from_secs(3600);

/// How far times read back may be from those stored.
const TOLERANCE: Duration = Duration::from_secs(1);

/// The window of the checks that wait for sessions to expire, and the wait.
const SHORT: Duration = Duration::from_millis(700);
const PAST_SHORT: Duration = Duration::from_millis(1200);

fn now() -> SystemTime {
    SystemTime::now()
}

/// A session of `user` from now, ending after `ttl` (saturating).
fn session(user: User, ttl: Duration) -> Session {
    let now = now();
    Session::new(user, now, crate::store::after(now, ttl))
}

fn assert_close(got: SystemTime, want: SystemTime, what: &str) {
    let difference = got
        .duration_since(want)
        .or_else(|_| want.duration_since(got))
        .unwrap_or_default();
    assert!(
        difference <= TOLERANCE,
        "{what}: read back {got:?}, stored {want:?}"
    );
}

/// `loaded` is `stored`, times within the tolerance.
fn assert_same_session(loaded: &Session, stored: &Session, what: &str) {
    assert_eq!(loaded.user(), stored.user(), "{what}: user");
    assert_close(loaded.created_at(), stored.created_at(), what);
    assert_close(loaded.expires_at(), stored.expires_at(), what);
    match (loaded.idle_expires_at(), stored.idle_expires_at()) {
        (Some(got), Some(want)) => assert_close(got, want, what),
        (None, None) => {}
        (got, want) => panic!("{what}: idle deadline {got:?}, stored {want:?}"),
    }
}

async fn must_load<S: SessionStore>(store: &S, id: &SessionId, what: &str) -> Session
where
    S::Error: Debug,
{
    store
        .load(id)
        .await
        .expect("load")
        .unwrap_or_else(|| panic!("{what}: did not load"))
}

async fn loads<S: SessionStore>(store: &S, id: &SessionId) -> bool
where
    S::Error: Debug,
{
    store.load(id).await.expect("load").is_some()
}

fn profiles() -> Vec<User> {
    vec![
        User::new("user-id")
            .with_name("Ada Lovelace")
            .with_email("ada@example.com")
            .with_image("https://example.com/ada.png"),
        // Unknown profile data must come back unknown, not as empty strings.
        User::new("only-an-id"),
        User::new("partial").with_email("partial@example.com"),
        User::new("partial-2")
            .with_name("Grace")
            .with_image("https://example.com/g.png"),
        // Data that a careless encoding (JSON, a delimiter-joined string)
        // would mangle.
        User::new("ü/\"quoted\";\n\u{1F600}")
            .with_name("")
            .with_email("a,b;c=d\\e")
            .with_image("data:image/png;base64,AAAA=="),
        // Application attributes travel with the user.
        User::new("with-attributes")
            .with_attribute("roles", serde_json::json!(["admin", "ops"]))
            .with_attribute("tenant", "t-1")
            .with_attribute("nested", serde_json::json!({"a": [1, 2.5, null, true]})),
    ]
}

/// A session as the store gives it back survives the crate's
/// [stored form](Session#stored-form) (which a store may keep it in)
/// whole: its user, its times to the millisecond, its idle deadline and
/// its tags in order; a value of another version of the form, or one that
/// is not of the form, is refused, never read as a session.
pub async fn the_stored_form_keeps_what_the_store_gives_back<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let tagged = session(profiles().swap_remove(0), LIVE)
        .with_idle_expires_at(now() + LIVE / 2)
        .with_tag("sid:https://idp.example/\u{0}1")
        .with_tag("sub:ü \"quoted\"")
        .with_tag("");
    let untagged = session(profiles().swap_remove(5), LIVE);
    for stored in [tagged, untagged] {
        let id = store.create(stored.clone()).await.expect("create");
        let loaded = must_load(&store, &id, "stored form").await;
        let bytes = loaded.encode();
        let back = Session::decode(&bytes).expect("the stored form decodes");
        assert_same_session(&back, &stored, "stored form");
        assert_eq!(
            back.tags().collect::<Vec<_>>(),
            stored.tags().collect::<Vec<_>>(),
            "stored form: tags, in order"
        );
        assert_eq!(back.encode(), bytes, "stored form: stable");

        // Another version is refused, whatever it holds.
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        value["v"] = (Session::STORED_VERSION + 1).into();
        value["user"] = "a future layout".into();
        assert_eq!(
            Session::decode(&serde_json::to_vec(&value).expect("JSON")),
            Err(SessionDecodeError::UnsupportedVersion(
                Session::STORED_VERSION + 1
            ))
        );
    }
    for garbage in [&b""[..], b"{}", b"\x01\x01", b"{\"v\":1}", b"[1]", b"null"] {
        assert_eq!(
            Session::decode(garbage),
            Err(SessionDecodeError::Corrupt),
            "{garbage:?}"
        );
    }
}

/// Every profile field and attribute comes back as it went in, `None`
/// included, and so do the session's times.
pub async fn create_then_load_round_trips_every_profile_field<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    for (n, user) in profiles().into_iter().enumerate() {
        let mut stored = session(user.clone(), LIVE);
        if n % 2 == 1 {
            stored = stored.with_idle_expires_at(now() + LIVE / 2);
        }
        let id = store.create(stored.clone()).await.expect("create");
        let loaded = must_load(&store, &id, &format!("{user:?}")).await;
        let back = loaded.user();
        assert_eq!(back.user_id(), user.user_id());
        assert_eq!(back.name(), user.name(), "name of {user:?}");
        assert_eq!(back.email(), user.email(), "email of {user:?}");
        assert_eq!(back.image(), user.image(), "image of {user:?}");
        assert_eq!(
            back.attributes(),
            user.attributes(),
            "attributes of {user:?}"
        );
        assert_same_session(&loaded, &stored, &format!("{user:?}"));
    }
}

/// Ids never repeat, are long enough to carry 128 bits, and fit in a cookie.
pub async fn ids_are_fresh_long_and_cookie_safe<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let mut seen = HashSet::new();
    for _ in 0..256 {
        // The same user every time: ids must not be derived from the user.
        let id = store
            .create(session(User::new("ada"), LIVE))
            .await
            .expect("create");
        let value = id.expose();
        // 128 bits need at least 22 characters even in base64.
        assert!(
            value.len() >= 22,
            "id of {} chars is too short",
            value.len()
        );
        assert_eq!(
            SessionId::new(value).as_ref(),
            Some(&id),
            "the id cannot be carried by a cookie"
        );
        assert!(seen.insert(value.to_owned()), "an id was handed out twice");
    }
}

/// An id the store never issued loads nothing, and is not an error.
pub async fn unknown_ids_do_not_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let issued = store
        .create(session(User::new("ada"), LIVE))
        .await
        .expect("create");
    let never_issued = SessionId::generate().expect("random id");
    let foreign_format = SessionId::new("x").expect("valid cookie value");
    // An issued id with one character changed.
    let mut near = issued.expose().to_owned();
    let last = near.pop().expect("non-empty id");
    near.push(if last == 'a' { 'b' } else { 'a' });
    let near = SessionId::new(&near).expect("valid cookie value");
    for id in [never_issued, foreign_format, near] {
        assert_eq!(store.load(&id).await.expect("load"), None);
    }
    assert!(loads(&store, &issued).await);
}

/// A revoked session never loads again.
pub async fn revoked_sessions_do_not_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let id = store
        .create(session(User::new("ada"), LIVE))
        .await
        .expect("create");
    assert!(loads(&store, &id).await);
    store.revoke(&id).await.expect("revoke");
    assert_eq!(store.load(&id).await.expect("load"), None);
    assert_eq!(store.load(&id).await.expect("load"), None, "second load");
}

/// Revoking twice, or revoking an id that was never issued, succeeds.
pub async fn revoke_is_idempotent_and_unknown_ids_are_fine<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let id = store
        .create(session(User::new("ada"), LIVE))
        .await
        .expect("create");
    store.revoke(&id).await.expect("first revoke");
    store.revoke(&id).await.expect("second revoke");
    assert_eq!(store.load(&id).await.expect("load"), None);

    let unknown = SessionId::generate().expect("random id");
    store
        .revoke(&unknown)
        .await
        .expect("revoking an unknown id");
    let foreign = SessionId::new("not-one-of-ours").expect("valid cookie value");
    store.revoke(&foreign).await.expect("revoking a foreign id");
}

/// A session created with a zero ttl is created (a fresh id) and never
/// loads; live sessions are not affected.
pub async fn zero_ttl_sessions_never_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let live = store
        .create(session(User::new("live"), LIVE))
        .await
        .expect("create");
    let expired = store
        .create(session(User::new("expired"), Duration::ZERO))
        .await
        .expect("create with a zero ttl");
    assert_ne!(live, expired);
    assert_eq!(store.load(&expired).await.expect("load"), None);
    assert_eq!(
        must_load(&store, &live, "live").await.user().user_id(),
        "live"
    );
    // Revoking or touching an expired session is still fine.
    store
        .touch(&expired, now() + LIVE)
        .await
        .expect("touch an expired session");
    assert_eq!(store.load(&expired).await.expect("load"), None);
    store
        .revoke(&expired)
        .await
        .expect("revoke an expired session");
}

/// Sessions whose deadlines are already past when they are created (an
/// absolute or an idle deadline, long ago or just now, even before the Unix
/// epoch) never load.
pub async fn deadlines_in_the_past_never_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let day = Duration::from_secs(24 * 3600);
    let past = [
        Session::new(User::new("a"), now - day, now - LIVE),
        Session::new(User::new("b"), now - day, now - Duration::from_millis(1)),
        Session::new(User::new("c"), now - day, now + LIVE).with_idle_expires_at(now - LIVE),
        Session::new(
            User::new("d"),
            SystemTime::UNIX_EPOCH - day,
            SystemTime::UNIX_EPOCH - day,
        ),
        Session::new(User::new("e"), now, SystemTime::UNIX_EPOCH),
    ];
    let live = store
        .create(session(User::new("live"), LIVE))
        .await
        .expect("create");
    for stored in past {
        let id = store
            .create(stored.clone())
            .await
            .unwrap_or_else(|e| panic!("create {stored:?}: {e:?}"));
        assert_eq!(store.load(&id).await.expect("load"), None, "{stored:?}");
    }
    assert!(loads(&store, &live).await);
}

/// A ttl of a year, and one too large for the clock (saturated by
/// [`Session`] to the year 9999), are accepted and the sessions load with
/// their deadlines.
pub async fn huge_ttls_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let year = Duration::from_secs(365 * 24 * 3600);
    for ttl in [year, Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let stored = session(User::new("ada"), ttl);
        let id = store.create(stored.clone()).await.expect("create");
        let loaded = must_load(&store, &id, &format!("ttl {ttl:?}")).await;
        assert_same_session(&loaded, &stored, &format!("ttl {ttl:?}"));
        // With an idle deadline as far.
        let stored = stored.clone().with_idle_expires_at(stored.expires_at());
        let id = store.create(stored.clone()).await.expect("create");
        let loaded = must_load(&store, &id, &format!("idle ttl {ttl:?}")).await;
        assert_same_session(&loaded, &stored, &format!("idle ttl {ttl:?}"));
    }
}

/// Sessions are separate: two sessions of the same user are two sessions,
/// and revoking one leaves the others.
pub async fn sessions_are_independent<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let ada = User::new("ada").with_name("Ada");
    let grace = User::new("grace").with_name("Grace");
    let laptop = store
        .create(session(ada.clone(), LIVE))
        .await
        .expect("create");
    let phone = store
        .create(session(ada.clone(), LIVE))
        .await
        .expect("create");
    let other = store
        .create(session(grace.clone(), LIVE))
        .await
        .expect("create");
    assert_ne!(laptop, phone, "a second sign-in must get a new id");

    store.revoke(&laptop).await.expect("revoke");
    assert_eq!(store.load(&laptop).await.expect("load"), None);
    assert_eq!(must_load(&store, &phone, "phone").await.user(), &ada);
    assert_eq!(must_load(&store, &other, "other").await.user(), &grace);
}

/// Creates in flight at once all get distinct ids and never overwrite one
/// another: every session loads its own user afterwards.
pub async fn concurrent_creates_never_overwrite<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    const TASKS: usize = 8;
    const PER_TASK: usize = 32;
    let tasks = (0..TASKS).map(|task| {
        let store = &store;
        async move {
            let mut ids = Vec::new();
            for n in 0..PER_TASK {
                let user = User::new(format!("user-{task}-{n}"));
                let id = store
                    .create(session(user.clone(), LIVE))
                    .await
                    .expect("create");
                ids.push((id, user));
            }
            ids
        }
    });
    let all: Vec<(SessionId, User)> = join_all(tasks.map(Box::pin).collect())
        .await
        .into_iter()
        .flatten()
        .collect();
    let distinct: HashSet<_> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        distinct.len(),
        TASKS * PER_TASK,
        "two creates got the same id"
    );
    for (id, user) in all {
        assert_eq!(must_load(&store, &id, "created").await.user(), &user);
    }
}

/// A touch moves a live session's idle deadline, never past its absolute
/// deadline, and leaves sessions without an idle deadline without one; an
/// unknown id is fine.
pub async fn touch_moves_the_idle_deadline_within_bounds<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let idle = Session::new(User::new("ada"), now, now + 4 * LIVE).with_idle_expires_at(now + LIVE);
    let id = store.create(idle.clone()).await.expect("create");
    store.touch(&id, now + 2 * LIVE).await.expect("touch");
    let loaded = must_load(&store, &id, "touched").await;
    assert_close(
        loaded.idle_expires_at().expect("still an idle deadline"),
        now + 2 * LIVE,
        "the moved idle deadline",
    );
    assert_close(loaded.expires_at(), now + 4 * LIVE, "the absolute deadline");

    // Never past the absolute deadline.
    store.touch(&id, now + 10 * LIVE).await.expect("touch");
    let loaded = must_load(&store, &id, "touched past its end").await;
    let moved = loaded.idle_expires_at().expect("still an idle deadline");
    assert!(moved <= loaded.expires_at(), "{moved:?} past {loaded:?}");
    assert_close(moved, now + 4 * LIVE, "clamped to the absolute deadline");

    // Without an idle deadline: none appears.
    let plain = store
        .create(session(User::new("grace"), LIVE))
        .await
        .expect("create");
    store.touch(&plain, now + 2 * LIVE).await.expect("touch");
    let loaded = must_load(&store, &plain, "plain").await;
    assert_eq!(loaded.idle_expires_at(), None);
    assert_close(loaded.expires_at(), now + LIVE, "untouched");

    let unknown = SessionId::generate().expect("random id");
    store
        .touch(&unknown, now + LIVE)
        .await
        .expect("touch an unknown id");
    assert_eq!(
        store.load(&unknown).await.expect("load"),
        None,
        "no session appeared"
    );
}

/// A touch never brings back a session that is revoked, idle-expired or
/// past its absolute deadline.
pub async fn touch_never_revives_a_session<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let day = Duration::from_secs(24 * 3600);
    let revoked = store
        .create(session(User::new("a"), LIVE).with_idle_expires_at(now + LIVE))
        .await
        .expect("create");
    store.revoke(&revoked).await.expect("revoke");
    let idle_expired = store
        .create(
            Session::new(User::new("b"), now - day, now + LIVE).with_idle_expires_at(now - LIVE),
        )
        .await
        .expect("create");
    let expired = store
        .create(
            Session::new(User::new("c"), now - day, now - LIVE).with_idle_expires_at(now - LIVE),
        )
        .await
        .expect("create");
    for (id, what) in [
        (&revoked, "revoked"),
        (&idle_expired, "idle-expired"),
        (&expired, "expired"),
    ] {
        store.touch(id, now + LIVE).await.expect("touch");
        assert_eq!(
            store.load(id).await.expect("load"),
            None,
            "{what} came back"
        );
    }
}

/// A touch in flight while its session is revoked never brings the session
/// back: not when it runs to the end, and not when it is dropped (as a
/// backend timeout drops it) at any point before, during or after the
/// revoke. Each touch is polled a few times, then the revoke runs with the
/// touch polled alongside it a few times more (or to the end), and the
/// touch is dropped.
pub async fn a_touch_cut_off_anywhere_never_undoes_a_revoke<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    for before in 0..4 {
        for alongside in (0..4).map(Some).chain([None]) {
            let now = now();
            let id = store
                .create(session(User::new("ada"), LIVE).with_idle_expires_at(now + LIVE / 2))
                .await
                .expect("create");
            let mut touch = Box::pin(store.touch(&id, now + LIVE));
            let finished = poll_times(&mut touch, before).await;
            let revoke = store.revoke(&id);
            if finished {
                revoke.await.expect("revoke");
            } else {
                RevokeBesideTouch {
                    revoke: Some(Box::pin(revoke)),
                    touch: Some(touch),
                    polls_left: alongside,
                }
                .await;
            }
            assert!(
                !loads(&store, &id).await,
                "a touch polled {before} times, then {} beside the revoke, brought the session back",
                alongside.map_or_else(|| "to the end".to_owned(), |n| format!("{n} times"))
            );
        }
    }
}

/// Runs a revoke to the end with a touch polled alongside it: at most
/// `polls_left` more times, the touch being dropped when they run out or the
/// revoke ends, or to the end (`None`).
struct RevokeBesideTouch<R, T> {
    revoke: Option<Pin<Box<R>>>,
    touch: Option<Pin<Box<T>>>,
    polls_left: Option<usize>,
}

impl<R, T, E, F> Future for RevokeBesideTouch<R, T>
where
    R: Future<Output = Result<(), E>>,
    T: Future<Output = Result<(), F>>,
    E: Debug,
    F: Debug,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(revoke) = &mut this.revoke {
            if let Poll::Ready(revoked) = revoke.as_mut().poll(cx) {
                revoked.expect("revoke");
                this.revoke = None;
            }
        }
        if let Some(touch) = &mut this.touch {
            if this.polls_left == Some(0) {
                this.touch = None;
            } else {
                this.polls_left = this.polls_left.map(|n| n - 1);
                if let Poll::Ready(touched) = touch.as_mut().poll(cx) {
                    touched.expect("touch");
                    this.touch = None;
                }
            }
        }
        if this.revoke.is_some() {
            return Poll::Pending;
        }
        if this.polls_left.is_some() {
            // Cut off: dropped as soon as the revoke is done.
            this.touch = None;
        }
        if this.touch.is_some() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Time passing ends sessions: at their absolute deadline, and at their
/// idle deadline unless a touch moved it. Waits a little over a second.
pub async fn sessions_expire_when_their_time_comes<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let absolute = store
        .create(Session::new(User::new("absolute"), now, now + SHORT))
        .await
        .expect("create");
    let idle = store
        .create(Session::new(User::new("idle"), now, now + LIVE).with_idle_expires_at(now + SHORT))
        .await
        .expect("create");
    let touched = store
        .create(
            Session::new(User::new("touched"), now, now + LIVE).with_idle_expires_at(now + SHORT),
        )
        .await
        .expect("create");
    let long = store
        .create(session(User::new("long"), LIVE))
        .await
        .expect("create");
    for id in [&absolute, &idle, &touched, &long] {
        assert!(loads(&store, id).await, "expired early");
    }
    store.touch(&touched, now + LIVE).await.expect("touch");

    sleep(PAST_SHORT).await;
    assert_eq!(
        store.load(&absolute).await.expect("load"),
        None,
        "past its absolute deadline"
    );
    assert_eq!(
        store.load(&idle).await.expect("load"),
        None,
        "past its idle deadline"
    );
    assert!(loads(&store, &touched).await, "the touch did not keep it");
    assert!(loads(&store, &long).await);
}

/// Revoke-all ends every session of one user, idle ones included, and no
/// other user's; a user without sessions is fine, and the user can sign in
/// again afterwards.
pub async fn revoke_all_ends_every_session_of_the_user_only<S: RevokeAll>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let ada = User::new("ada").with_name("Ada");
    let mut adas = Vec::new();
    for n in 0..3 {
        let mut stored = session(ada.clone(), LIVE);
        if n == 1 {
            stored = stored.with_idle_expires_at(now + LIVE / 2);
        }
        adas.push(store.create(stored).await.expect("create"));
    }
    // A user whose id starts like ada's.
    let adam = store
        .create(session(User::new("adam"), LIVE))
        .await
        .expect("create");
    let grace = store
        .create(session(User::new("grace"), LIVE))
        .await
        .expect("create");

    store.revoke_all("ada").await.expect("revoke all");
    for id in &adas {
        assert_eq!(
            store.load(id).await.expect("load"),
            None,
            "ada's session survived"
        );
    }
    assert!(loads(&store, &adam).await, "another user's session ended");
    assert!(loads(&store, &grace).await, "another user's session ended");

    store.revoke_all("ada").await.expect("revoke all again");
    store
        .revoke_all("nobody")
        .await
        .expect("revoke all of nobody");
    store
        .revoke_all("")
        .await
        .expect("revoke all of the empty id");

    let again = store
        .create(session(ada.clone(), LIVE))
        .await
        .expect("create");
    assert_eq!(
        must_load(&store, &again, "signed in again").await.user(),
        &ada
    );
}

/// Sessions that existed when revoke-all started never survive it, even
/// with creates for the same user in flight at the same time.
pub async fn revoke_all_ends_sessions_created_before_it_under_concurrent_creates<S: RevokeAll>(
    store: S,
) where
    S::Error: Debug,
{
    let mut before = Vec::new();
    for _ in 0..16 {
        before.push(
            store
                .create(session(User::new("ada"), LIVE))
                .await
                .expect("create"),
        );
    }
    let creates = async {
        let mut during = Vec::new();
        for _ in 0..16 {
            during.push(
                store
                    .create(session(User::new("ada"), LIVE))
                    .await
                    .expect("create"),
            );
        }
        during
    };
    let revoke = async {
        store.revoke_all("ada").await.expect("revoke all");
        Vec::new()
    };
    let during: Vec<SessionId> = join_all(vec![
        Box::pin(creates) as Pin<Box<dyn Future<Output = Vec<SessionId>> + Send + '_>>,
        Box::pin(revoke),
    ])
    .await
    .into_iter()
    .flatten()
    .collect();
    for id in &before {
        assert_eq!(
            store.load(id).await.expect("load"),
            None,
            "a session from before survived"
        );
    }
    // Those created concurrently may or may not have survived; none may
    // have been damaged.
    for id in &during {
        if let Some(loaded) = store.load(id).await.expect("load") {
            assert_eq!(loaded.user().user_id(), "ada");
        }
    }
}

/// Revoke-tagged ends the sessions carrying the tag, whatever their user
/// (here two users share it), idle ones and those with other tags too, and
/// no session without it: not the same user's untagged or otherwise tagged
/// ones. Sessions load with their tags, in order. A tag no session carries
/// (any longer) is fine, and the tag can be used again afterwards. Never
/// more than four sessions at once.
pub async fn revoke_tagged_ends_the_sessions_carrying_the_tag_only<S: RevokeAll>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let ada = User::new("ada").with_name("Ada");
    let both = session(ada.clone(), LIVE)
        .with_idle_expires_at(now + LIVE / 2)
        .with_tag("sid:1")
        .with_tag("sub:ada");
    let both = store.create(both).await.expect("create");
    let grace = store
        .create(session(User::new("grace"), LIVE).with_tag("sid:1"))
        .await
        .expect("create");
    let untagged = store
        .create(session(ada.clone(), LIVE))
        .await
        .expect("create");
    // A tag that starts like the other.
    let other = store
        .create(session(ada.clone(), LIVE).with_tag("sid:10"))
        .await
        .expect("create");
    assert_eq!(
        must_load(&store, &both, "two tags")
            .await
            .tags()
            .collect::<Vec<_>>(),
        ["sid:1", "sub:ada"],
        "the tags did not come back in order"
    );
    assert_eq!(
        must_load(&store, &untagged, "untagged").await.tags().len(),
        0
    );

    store.revoke_tagged("sid:1").await.expect("revoke tagged");
    assert!(!loads(&store, &both).await, "ada's tagged session survived");
    assert!(
        !loads(&store, &grace).await,
        "grace's tagged session survived"
    );
    assert!(
        loads(&store, &untagged).await,
        "an untagged session of the same user ended"
    );
    let survivor = must_load(&store, &other, "another tag's session").await;
    assert_eq!(survivor.tags().collect::<Vec<_>>(), ["sid:10"]);

    store.revoke_tagged("sid:1").await.expect("revoke again");
    store
        .revoke_tagged("sub:ada")
        .await
        .expect("revoke a tag whose sessions ended");
    store
        .revoke_tagged("never-used")
        .await
        .expect("revoke an unknown tag");
    store.revoke_tagged("").await.expect("revoke the empty tag");
    store.revoke_tagged("sid:10").await.expect("revoke tagged");
    assert!(
        !loads(&store, &other).await,
        "the other tag's session survived"
    );
    assert!(loads(&store, &untagged).await);

    let again = store
        .create(session(ada.clone(), LIVE).with_tag("sid:1"))
        .await
        .expect("create");
    assert!(loads(&store, &again).await, "the tag cannot be used again");
    store.revoke_tagged("sid:1").await.expect("revoke tagged");
    assert!(
        !loads(&store, &again).await,
        "a reused tag no longer revokes"
    );
    assert!(loads(&store, &untagged).await);
}

/// Sessions carrying the tag that existed when revoke-tagged started never
/// survive it, even with creates of tagged sessions in flight at the same
/// time.
pub async fn revoke_tagged_ends_sessions_created_before_it_under_concurrent_creates<S: RevokeAll>(
    store: S,
) where
    S::Error: Debug,
{
    let tagged = |n: usize| {
        let user = if n % 2 == 0 { "ada" } else { "grace" };
        session(User::new(user), LIVE).with_tag("sid:1")
    };
    let mut before = Vec::new();
    for n in 0..16 {
        before.push(store.create(tagged(n)).await.expect("create"));
    }
    let creates = async {
        let mut during = Vec::new();
        for n in 0..16 {
            during.push(store.create(tagged(n)).await.expect("create"));
        }
        during
    };
    let revoke = async {
        store.revoke_tagged("sid:1").await.expect("revoke tagged");
        Vec::new()
    };
    let during: Vec<SessionId> = join_all(vec![
        Box::pin(creates) as Pin<Box<dyn Future<Output = Vec<SessionId>> + Send + '_>>,
        Box::pin(revoke),
    ])
    .await
    .into_iter()
    .flatten()
    .collect();
    for id in &before {
        assert_eq!(
            store.load(id).await.expect("load"),
            None,
            "a tagged session from before survived"
        );
    }
    // Those created concurrently may or may not have survived; none may
    // have been damaged, and a second revocation ends them.
    for id in &during {
        if let Some(loaded) = store.load(id).await.expect("load") {
            assert_eq!(loaded.tags().collect::<Vec<_>>(), ["sid:1"]);
        }
    }
    store.revoke_tagged("sid:1").await.expect("revoke tagged");
    for id in &during {
        assert!(!loads(&store, id).await, "a tagged session survived");
    }
}

/// Tagged sessions that expire (absolute or idle deadline) leave their tag
/// working: revoking it still ends the live sessions carrying it, and new
/// sessions can carry it. (How the store cleans its index is its own
/// business; the store's own tests check it.) Waits a little over a second;
/// never more than four sessions at once.
pub async fn expired_tagged_sessions_leave_their_tag_working<S: RevokeAll>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let absolute = store
        .create(Session::new(User::new("ada"), now, now + SHORT).with_tag("sid:1"))
        .await
        .expect("create");
    let idle = store
        .create(
            Session::new(User::new("ada"), now, now + LIVE)
                .with_idle_expires_at(now + SHORT)
                .with_tag("sid:1"),
        )
        .await
        .expect("create");
    let live = store
        .create(session(User::new("grace"), LIVE).with_tag("sid:1"))
        .await
        .expect("create");
    sleep(PAST_SHORT).await;
    assert!(!loads(&store, &absolute).await);
    assert!(!loads(&store, &idle).await);
    assert!(loads(&store, &live).await);

    let fresh = store
        .create(session(User::new("ada"), LIVE).with_tag("sid:1"))
        .await
        .expect("create");
    store.revoke_tagged("sid:1").await.expect("revoke tagged");
    assert!(
        !loads(&store, &live).await,
        "a live tagged session survived"
    );
    assert!(
        !loads(&store, &fresh).await,
        "a new tagged session survived"
    );
    for id in [&absolute, &idle] {
        store.revoke(id).await.expect("revoke an expired session");
    }
}

/// Listing shows the live sessions of one user: not revoked or expired
/// ones, not other users'.
pub async fn list_shows_the_live_sessions_of_one_user<S: ListSessions>(store: S)
where
    S::Error: Debug,
{
    let now = now();
    let laptop = session(User::new("ada").with_name("Ada"), LIVE);
    let phone =
        session(User::new("ada").with_name("Ada"), 2 * LIVE).with_idle_expires_at(now + LIVE);
    store.create(laptop.clone()).await.expect("create");
    store.create(phone.clone()).await.expect("create");
    let revoked = store
        .create(session(User::new("ada"), LIVE))
        .await
        .expect("create");
    store.revoke(&revoked).await.expect("revoke");
    store
        .create(session(User::new("ada"), Duration::ZERO))
        .await
        .expect("create");
    store
        .create(
            Session::new(User::new("ada"), now - LIVE, now + LIVE).with_idle_expires_at(now - LIVE),
        )
        .await
        .expect("create");
    store
        .create(session(User::new("grace"), LIVE))
        .await
        .expect("create");

    let mut listed = store.list("ada").await.expect("list");
    listed.sort_by_key(Session::expires_at);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_same_session(&listed[0], &laptop, "laptop");
    assert_same_session(&listed[1], &phone, "phone");
    assert!(store.list("nobody").await.expect("list").is_empty());
    assert_eq!(store.list("grace").await.expect("list").len(), 1);
}

/// Waits `duration` on a plain thread, so that no runtime is needed.
pub async fn sleep(duration: Duration) {
    struct Sleep {
        shared: Arc<Mutex<(bool, Option<Waker>)>>,
    }
    impl Future for Sleep {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            if shared.0 {
                Poll::Ready(())
            } else {
                shared.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
    let shared = Arc::new(Mutex::new((false, None::<Waker>)));
    let done = Arc::clone(&shared);
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        done.0 = true;
        if let Some(waker) = done.1.take() {
            waker.wake();
        }
    });
    Sleep { shared }.await;
}

/// Polls `future` up to `times` times (never with a waker that wakes),
/// pausing a millisecond between polls so that its I/O can progress;
/// whether it finished.
async fn poll_times<F: Future + Unpin>(future: &mut F, times: usize) -> bool {
    for _ in 0..times {
        let polled = Pin::new(&mut *future).poll(&mut Context::from_waker(Waker::noop()));
        if polled.is_ready() {
            return true;
        }
        sleep(Duration::from_millis(1)).await;
    }
    false
}

/// Runs `futures` concurrently on the current task; their outputs, in order.
async fn join_all<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    struct JoinAll<F: Future> {
        futures: Vec<Option<F>>,
        outputs: Vec<Option<F::Output>>,
    }
    // The futures are `Unpin` and the outputs are never pinned.
    impl<F: Future> Unpin for JoinAll<F> {}
    impl<F: Future + Unpin> Future for JoinAll<F> {
        type Output = Vec<F::Output>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.get_mut();
            let mut pending = false;
            for (slot, output) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
                if let Some(future) = slot {
                    match Pin::new(future).poll(cx) {
                        Poll::Ready(value) => {
                            *output = Some(value);
                            *slot = None;
                        }
                        Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
            }
        }
    }
    let outputs = futures.iter().map(|_| None).collect();
    JoinAll {
        futures: futures.into_iter().map(Some).collect(),
        outputs,
    }
    .await
}
