//! `MemoryStore`: the shared store suite, then what is particular to the
//! in-memory store (cleanup without a background task, shared clones).

mod store_suite;

use std::time::Duration;

use rstream_well_known::{MemoryStore, SessionStore, User};

store_suite::session_store_suite!(MemoryStore::new());

/// The store suite again, on a store that sweeps on every create: sweeping
/// must never remove a live session.
mod sweeping_on_every_create {
    use super::*;

    store_suite::session_store_suite!(MemoryStore::with_sweep_interval(Duration::ZERO));
}

const LIVE: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_due_sweep_on_create_drops_expired_sessions() {
    let store = MemoryStore::with_sweep_interval(Duration::ZERO);
    assert_eq!(store.sweep_interval(), Duration::ZERO);
    store
        .create(User::new("gone"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(store.len(), 1);

    let live = store.create(User::new("live"), LIVE).await.unwrap();
    assert_eq!(
        store.len(),
        1,
        "the expired session was not swept by create"
    );
    assert_eq!(store.load(&live).await.unwrap(), Some(User::new("live")));
}

#[tokio::test]
async fn no_sweep_before_the_interval() {
    let store = MemoryStore::new();
    assert_eq!(store.sweep_interval(), Duration::from_secs(60));
    store
        .create(User::new("gone"), Duration::ZERO)
        .await
        .unwrap();
    store.create(User::new("live"), LIVE).await.unwrap();
    // The expired session stays in the map until a sweep or a lookup, but
    // it never loads (checked by the suite).
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn purge_expired_removes_expired_sessions_only() {
    let store = MemoryStore::new();
    for n in 0..3 {
        store
            .create(User::new(format!("gone-{n}")), Duration::ZERO)
            .await
            .unwrap();
    }
    let a = store.create(User::new("a"), LIVE).await.unwrap();
    let b = store.create(User::new("b"), LIVE).await.unwrap();
    assert_eq!(store.len(), 5);

    store.purge_expired();
    assert_eq!(store.len(), 2);
    assert_eq!(store.load(&a).await.unwrap(), Some(User::new("a")));
    assert_eq!(store.load(&b).await.unwrap(), Some(User::new("b")));

    store.purge_expired();
    assert_eq!(store.len(), 2, "a second purge removed a live session");
}

#[tokio::test]
async fn loading_an_expired_session_removes_it() {
    let store = MemoryStore::new();
    let live = store.create(User::new("live"), LIVE).await.unwrap();
    let gone = store
        .create(User::new("gone"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(store.len(), 2);

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

    let id = clone.create(User::new("ada"), LIVE).await.unwrap();
    assert_eq!(store.len(), 1);
    assert!(!store.is_empty());
    assert_eq!(store.load(&id).await.unwrap(), Some(User::new("ada")));

    store.revoke(&id).await.unwrap();
    assert_eq!(clone.load(&id).await.unwrap(), None);
    assert!(clone.is_empty());

    // The default store is a new, empty one, not a shared global.
    let other = MemoryStore::default();
    other.create(User::new("grace"), LIVE).await.unwrap();
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn a_ttl_too_large_for_the_clock_is_accepted() {
    let store = MemoryStore::new();
    let id = store.create(User::new("ada"), Duration::MAX).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap(), Some(User::new("ada")));
    store.purge_expired();
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn debug_output_shows_no_session_id_or_profile() {
    let store = MemoryStore::new();
    let id = store
        .create(User::new("ada").with_email("ada@example.com"), LIVE)
        .await
        .unwrap();
    let debug = format!("{store:?}");
    assert!(debug.contains("sessions: 1"), "{debug}");
    assert!(!debug.contains(id.expose()), "{debug}");
    assert!(!debug.contains("ada@example.com"), "{debug}");
}

/// No configuration value panics: a sweep interval or a ttl too large for
/// the clock is accepted, and so is zero.
#[tokio::test]
async fn huge_and_zero_durations_never_panic() {
    for interval in [Duration::MAX, Duration::ZERO, Duration::from_secs(u64::MAX)] {
        let store = MemoryStore::with_sweep_interval(interval);
        assert_eq!(store.sweep_interval(), interval);
        let forever = store.create(User::new("ada"), Duration::MAX).await.unwrap();
        let gone = store
            .create(User::new("gone"), Duration::ZERO)
            .await
            .unwrap();
        let live = store.create(User::new("grace"), LIVE).await.unwrap();
        assert_eq!(store.load(&forever).await.unwrap(), Some(User::new("ada")));
        assert_eq!(store.load(&gone).await.unwrap(), None);
        assert_eq!(store.load(&live).await.unwrap(), Some(User::new("grace")));
        store.purge_expired();
        assert_eq!(store.len(), 2, "{interval:?}");
        assert!(format!("{store:?}").contains("sessions: 2"));
    }
}
