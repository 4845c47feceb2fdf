//! Stores chosen at run time: [`BoxSessionStore`] and [`BoxRevokeAllStore`],
//! one type for any store, and their error, [`BoxError`].

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use super::{RevokeAll, Session, SessionId, SessionStore};

/// The error of a boxed store: any store's error, boxed.
///
/// A newtype rather than `Box<dyn Error + Send + Sync>` itself, because that
/// type does not implement [`Error`], which [`SessionStore::Error`] requires.
/// Build one with [`BoxError::new`] or `From`, take the box back with
/// [`BoxError::into_inner`]. `Display` and [`source`](Error::source) are the
/// wrapped error's own.
pub struct BoxError(Box<dyn Error + Send + Sync>);

impl BoxError {
    /// Boxes `error`.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }

    /// The wrapped error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// Unwraps the error, to downcast it to the store's own error type.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync> {
        self.0
    }
}

impl From<Box<dyn Error + Send + Sync>> for BoxError {
    fn from(error: Box<dyn Error + Send + Sync>) -> Self {
        Self(error)
    }
}

impl fmt::Debug for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for BoxError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'a>>;

/// The object-safe form of [`SessionStore`].
trait DynStore: Send + Sync + 'static {
    fn dyn_create(&self, session: Session) -> BoxFuture<'_, SessionId>;
    fn dyn_load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Option<Session>>;
    fn dyn_touch<'a>(&'a self, id: &'a SessionId, at: SystemTime) -> BoxFuture<'a, ()>;
    fn dyn_revoke<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, ()>;
    fn dyn_load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, BoxError>>;
}

/// The object-safe form of [`RevokeAll`].
trait DynRevokeAll: DynStore {
    fn dyn_revoke_all<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, ()>;
    fn dyn_revoke_tagged<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, ()>;
}

/// An error of a store, boxed (a boxed store's error is not boxed twice).
fn boxed<E: Error + Send + Sync + 'static>(error: E) -> BoxError {
    let error: Box<dyn Error + Send + Sync> = Box::new(error);
    match error.downcast::<BoxError>() {
        Ok(already) => *already,
        Err(error) => BoxError(error),
    }
}

impl<S: SessionStore> DynStore for S {
    fn dyn_create(&self, session: Session) -> BoxFuture<'_, SessionId> {
        let future = SessionStore::create(self, session);
        Box::pin(async move { future.await.map_err(boxed) })
    }

    fn dyn_load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Option<Session>> {
        let future = SessionStore::load(self, id);
        Box::pin(async move { future.await.map_err(boxed) })
    }

    fn dyn_touch<'a>(&'a self, id: &'a SessionId, at: SystemTime) -> BoxFuture<'a, ()> {
        let future = SessionStore::touch(self, id, at);
        Box::pin(async move { future.await.map_err(boxed) })
    }

    fn dyn_revoke<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, ()> {
        let future = SessionStore::revoke(self, id);
        Box::pin(async move { future.await.map_err(boxed) })
    }

    fn dyn_load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, BoxError>> {
        SessionStore::load_now(self, id).map(|answer| answer.map_err(boxed))
    }
}

impl<S: RevokeAll> DynRevokeAll for S {
    fn dyn_revoke_all<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, ()> {
        let future = RevokeAll::revoke_all(self, user_id);
        Box::pin(async move { future.await.map_err(boxed) })
    }

    fn dyn_revoke_tagged<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, ()> {
        let future = RevokeAll::revoke_tagged(self, tag);
        Box::pin(async move { future.await.map_err(boxed) })
    }
}

/// Any [`SessionStore`], as one type: for a store chosen at run time (from
/// configuration, say), or to keep a store's type out of the layer's.
///
/// Each call boxes the store's future (one allocation) and its error
/// ([`BoxError`]). Cloning shares the store. For a store that can also
/// revoke all sessions of a user, [`BoxRevokeAllStore`] keeps that
/// capability in the type.
///
/// ```
/// use rstream_well_known::{BoxSessionStore, MemoryStore, Tunnel, WellKnownLayer};
///
/// # fn redis_store() -> MemoryStore { MemoryStore::new() }
/// let store = match std::env::var("SESSIONS").as_deref() {
///     Ok("redis") => BoxSessionStore::new(redis_store()),
///     _ => BoxSessionStore::new(MemoryStore::new()),
/// };
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
///     .with_session_store(store)
///     .build()?;
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BoxSessionStore(Arc<dyn DynStore>);

impl BoxSessionStore {
    /// Boxes `store`.
    pub fn new(store: impl SessionStore) -> Self {
        Self(Arc::new(store))
    }
}

impl fmt::Debug for BoxSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxSessionStore(..)")
    }
}

impl From<BoxRevokeAllStore> for BoxSessionStore {
    /// Forgets the revoke-all capability.
    fn from(store: BoxRevokeAllStore) -> Self {
        Self::new(store)
    }
}

/// `SessionStore` for a boxed store: every call passes to the boxed one.
macro_rules! boxed_session_store {
    ($boxed:ty) => {
        impl SessionStore for $boxed {
            type Error = BoxError;

            async fn create(&self, session: Session) -> Result<SessionId, BoxError> {
                self.0.dyn_create(session).await
            }

            async fn load(&self, id: &SessionId) -> Result<Option<Session>, BoxError> {
                self.0.dyn_load(id).await
            }

            async fn touch(
                &self,
                id: &SessionId,
                idle_expires_at: SystemTime,
            ) -> Result<(), BoxError> {
                self.0.dyn_touch(id, idle_expires_at).await
            }

            async fn revoke(&self, id: &SessionId) -> Result<(), BoxError> {
                self.0.dyn_revoke(id).await
            }

            fn load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, BoxError>> {
                self.0.dyn_load_now(id)
            }
        }
    };
}

boxed_session_store!(BoxSessionStore);

/// Any store that implements [`RevokeAll`], as one type that implements it
/// too (both [`revoke_all`](RevokeAll::revoke_all) and
/// [`revoke_tagged`](RevokeAll::revoke_tagged) pass to the boxed store);
/// otherwise like [`BoxSessionStore`] (into which it converts).
#[derive(Clone)]
pub struct BoxRevokeAllStore(Arc<dyn DynRevokeAll>);

impl BoxRevokeAllStore {
    /// Boxes `store`.
    pub fn new(store: impl RevokeAll) -> Self {
        Self(Arc::new(store))
    }
}

impl fmt::Debug for BoxRevokeAllStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxRevokeAllStore(..)")
    }
}

boxed_session_store!(BoxRevokeAllStore);

impl RevokeAll for BoxRevokeAllStore {
    async fn revoke_all(&self, user_id: &str) -> Result<(), BoxError> {
        self.0.dyn_revoke_all(user_id).await
    }

    async fn revoke_tagged(&self, tag: &str) -> Result<(), BoxError> {
        self.0.dyn_revoke_tagged(tag).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::executor::block_on;

    use super::*;
    use crate::identity::User;
    use crate::store::MemoryStore;

    #[test]
    fn boxed_stores_pass_calls_through_and_errors_are_not_boxed_twice() {
        let memory = MemoryStore::new();
        let store = BoxRevokeAllStore::new(memory.clone());
        let now = SystemTime::now();
        let session = Session::new(User::new("ada"), now, now + Duration::from_secs(60));
        let id = block_on(store.create(session.clone())).unwrap();
        assert_eq!(block_on(memory.load(&id)).unwrap(), Some(session.clone()));
        let plain = BoxSessionStore::from(store.clone());
        assert_eq!(block_on(plain.load(&id)).unwrap(), Some(session.clone()));
        block_on(store.revoke_all("ada")).unwrap();
        assert_eq!(block_on(plain.load(&id)).unwrap(), None);
        let tagged = block_on(store.create(session.with_tag("sid:1"))).unwrap();
        let other = block_on(store.create(Session::new(
            User::new("bob"),
            now,
            now + Duration::from_secs(60),
        )))
        .unwrap();
        block_on(store.revoke_tagged("sid:1")).unwrap();
        assert_eq!(block_on(memory.load(&tagged)).unwrap(), None);
        assert!(block_on(memory.load(&other)).unwrap().is_some());

        let inner = BoxError::new(std::io::Error::other("down"));
        let twice = boxed(inner);
        assert_eq!(twice.to_string(), "down");
        assert!(twice.into_inner().downcast::<std::io::Error>().is_ok());
        assert_eq!(format!("{plain:?}"), "BoxSessionStore(..)");
    }
}
