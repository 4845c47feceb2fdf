//! The contract every [`SessionStore`] must honour, as one suite that any
//! store's test file can run:
//!
//! ```ignore
//! mod store_suite;
//!
//! store_suite::session_store_suite!(MemoryStore::new());
//! // or, for a store that connects first:
//! store_suite::session_store_suite!(RedisStore::connect(&url()).await.unwrap());
//! ```
//!
//! The macro generates one `#[tokio::test]` per check, so a failure names
//! the check. The constructor expression is evaluated once per check, inside
//! the async test body (it may `.await`), and must give a fresh store or at
//! least one that does not hold sessions of other checks' ids.
//!
//! Each check is also a public `async fn` taking the store, for stores that
//! need a bespoke harness.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use rstream_well_known::{SessionId, SessionStore, User};

/// Generates one `#[tokio::test]` per check of the store contract, each on a
/// store made by evaluating `$make` (an expression, evaluated in an async
/// context).
macro_rules! session_store_suite {
    ($make:expr) => {
        $crate::store_suite::session_store_suite!(@checks $make;
            create_then_load_round_trips_every_profile_field,
            ids_are_fresh_long_and_cookie_safe,
            unknown_ids_do_not_load,
            revoked_sessions_do_not_load,
            revoke_is_idempotent_and_unknown_ids_are_fine,
            expired_sessions_do_not_load,
            long_lived_sessions_load,
            sessions_are_independent,
            concurrent_creates_get_distinct_ids,
        );
    };
    (@checks $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = $make;
                $crate::store_suite::$check(store).await;
            }
        )*
    };
}

pub(crate) use session_store_suite;

/// The checks of [`session_store_suite!`] that never need more than four
/// sessions to stay in the store at once, for a store with a small size
/// bound that evicts older sessions to make room (it leaves out
/// `concurrent_creates_get_distinct_ids`, which keeps 256):
///
/// ```ignore
/// store_suite::bounded_session_store_suite!(MemoryStore::new().with_max_sessions(4));
/// ```
#[allow(unused_macros)]
macro_rules! bounded_session_store_suite {
    ($make:expr) => {
        $crate::store_suite::session_store_suite!(@checks $make;
            create_then_load_round_trips_every_profile_field,
            ids_are_fresh_long_and_cookie_safe,
            unknown_ids_do_not_load,
            revoked_sessions_do_not_load,
            revoke_is_idempotent_and_unknown_ids_are_fine,
            expired_sessions_do_not_load,
            long_lived_sessions_load,
            sessions_are_independent,
        );
    };
}

#[allow(unused_imports)]
pub(crate) use bounded_session_store_suite;

/// The ttl used for sessions that must stay live for the whole check.
const LIVE: Duration = Duration::from_secs(3600);

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
    ]
}

/// Every profile field comes back as it went in, `None` included.
pub async fn create_then_load_round_trips_every_profile_field<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    for user in profiles() {
        let id = store.create(user.clone(), LIVE).await.expect("create");
        let loaded = store.load(&id).await.expect("load");
        let loaded = loaded.unwrap_or_else(|| panic!("{user:?} did not load"));
        assert_eq!(loaded.user_id(), user.user_id());
        assert_eq!(loaded.name(), user.name(), "name of {user:?}");
        assert_eq!(loaded.email(), user.email(), "email of {user:?}");
        assert_eq!(loaded.image(), user.image(), "image of {user:?}");
        assert_eq!(loaded, user);
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
        let id = store.create(User::new("ada"), LIVE).await.expect("create");
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
    let issued = store.create(User::new("ada"), LIVE).await.expect("create");
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
    assert!(store.load(&issued).await.expect("load").is_some());
}

/// A revoked session never loads again.
pub async fn revoked_sessions_do_not_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let id = store.create(User::new("ada"), LIVE).await.expect("create");
    assert!(store.load(&id).await.expect("load").is_some());
    store.revoke(&id).await.expect("revoke");
    assert_eq!(store.load(&id).await.expect("load"), None);
    assert_eq!(store.load(&id).await.expect("load"), None, "second load");
}

/// Revoking twice, or revoking an id that was never issued, succeeds.
pub async fn revoke_is_idempotent_and_unknown_ids_are_fine<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let id = store.create(User::new("ada"), LIVE).await.expect("create");
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

/// A session created with a zero ttl is expired at once, and its expiry does
/// not touch live sessions.
pub async fn expired_sessions_do_not_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let live = store.create(User::new("live"), LIVE).await.expect("create");
    let expired = store
        .create(User::new("expired"), Duration::ZERO)
        .await
        .expect("create with a zero ttl");
    assert_ne!(live, expired);
    assert_eq!(store.load(&expired).await.expect("load"), None);
    assert_eq!(
        store
            .load(&live)
            .await
            .expect("load")
            .map(|u| u.user_id().to_owned()),
        Some("live".to_owned())
    );
    // Revoking an expired session is still fine.
    store
        .revoke(&expired)
        .await
        .expect("revoke an expired session");
}

/// A ttl far in the future (a year) is accepted and the session loads.
pub async fn long_lived_sessions_load<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let year = Duration::from_secs(365 * 24 * 3600);
    let id = store.create(User::new("ada"), year).await.expect("create");
    assert_eq!(store.load(&id).await.expect("load"), Some(User::new("ada")));
}

/// Sessions are separate: two sessions of the same user are two sessions,
/// and revoking one leaves the others.
pub async fn sessions_are_independent<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    let ada = User::new("ada").with_name("Ada");
    let grace = User::new("grace").with_name("Grace");
    let laptop = store.create(ada.clone(), LIVE).await.expect("create");
    let phone = store.create(ada.clone(), LIVE).await.expect("create");
    let other = store.create(grace.clone(), LIVE).await.expect("create");
    assert_ne!(laptop, phone, "a second sign-in must get a new id");

    store.revoke(&laptop).await.expect("revoke");
    assert_eq!(store.load(&laptop).await.expect("load"), None);
    assert_eq!(store.load(&phone).await.expect("load"), Some(ada));
    assert_eq!(store.load(&other).await.expect("load"), Some(grace));
}

/// Creates racing on several tasks (and threads) all get distinct ids, and
/// every one of them loads its own user.
pub async fn concurrent_creates_get_distinct_ids<S: SessionStore>(store: S)
where
    S::Error: Debug,
{
    const TASKS: usize = 8;
    const PER_TASK: usize = 32;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..PER_TASK {
                let user = User::new(format!("user-{task}-{n}"));
                let id = store.create(user.clone(), LIVE).await.expect("create");
                ids.push((id, user));
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let distinct: HashSet<_> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        distinct.len(),
        TASKS * PER_TASK,
        "two tasks got the same id"
    );
    for (id, user) in all {
        assert_eq!(store.load(&id).await.expect("load"), Some(user));
    }
}
