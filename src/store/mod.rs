//! Browser sessions: the [`SessionStore`] trait and its capabilities
//! ([`RevokeAll`], [`ListSessions`]), [`Session`], [`SessionId`], the boxed
//! form for stores chosen at run time, and the built-in stores.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

mod boxed;
mod id;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod session;
#[cfg(feature = "tower-sessions-core-0_14")]
mod tower_sessions;

#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder, RedisStoreError, RedisStoreErrorKind};
#[cfg(feature = "tower-sessions-core-0_14")]
pub use self::tower_sessions::{
    TowerSessionsStore, TowerSessionsStoreError, TowerSessionsStoreErrorKind,
};
pub use boxed::{BoxError, BoxRevokeAllStore, BoxSessionStore};
pub use id::SessionId;
pub(crate) use id::{MAX_SESSION_ID_LEN, octet_run};
pub use memory::{MemoryStore, MemoryStoreError};
pub(crate) use session::after;
pub use session::{Session, SessionDecodeError};

/// Where browser sessions live: created at sign-in, loaded on every
/// well-known request that carries the session cookie, touched when an idle
/// timeout slides, revoked at logout.
///
/// Implementations must:
///
/// - mint ids with at least 128 bits from a CSPRNG ([`SessionId::generate`]
///   does), never reuse or accept an id chosen by a client, and never
///   overwrite an existing session with a new one;
/// - not return a session from [`load`](SessionStore::load) at or after its
///   [`deadline`](Session::deadline) (the layer checks it too, so a store
///   that returns one by mistake authenticates nobody);
/// - make [`revoke`](SessionStore::revoke) final and idempotent: a revoked id
///   never loads again, and revoking an unknown id succeeds;
/// - keep every deadline to at least the millisecond, and accept any
///   [`Session`] (its times are already clamped into a range every store can
///   encode, its [tags](Session::with_tag) bounded in number and length);
/// - give the session back from [`load`](SessionStore::load) as it was
///   created: its user, its times and its tags, in order (a store that
///   implements [`RevokeAll`] also finds sessions by tag).
///
/// **Session ids are never stored raw.** An id is the cookie's value: anyone
/// who reads it can act as the user. A store keeps a session under a key
/// that does not give the id back (a digest: SHA-256 of the id is as
/// unique as the id), keeps the id in no value, and never puts it in an
/// error's text, so that whoever reads the store, its backups, replicas or
/// logs learns no cookie. The shipped stores:
///
/// - the Redis store keys each session by `base64url(SHA-256(id))`, and
///   its indexes by digests of the user id and of the tags (see its
///   "Keys");
/// - [`MemoryStore`] keeps ids only in the process's own memory, which
///   holds them anyway while it serves a request, and nowhere else;
/// - the tower-sessions adapter is bound by tower-sessions' trait, which
///   keys records by a 128-bit id that the store may itself replace on a
///   collision, so it cannot key by a digest: it keys by the id XOR a fixed
///   mask, which keeps tower-sessions' own layer from loading the record by
///   the cookie's value, but does give the id back to whoever reads record
///   ids. Protect that store as you would the cookies.
///
/// A store that keeps whole sessions can keep them in the crate's
/// [stored form](Session#stored-form), which holds no id.
///
/// Errors mean "the store could not answer". The layer never turns them into
/// a 500 and never lets them authenticate anyone; it logs their `Display`
/// text, which must not contain the session id.
///
/// A store that can end all sessions of a user, or all sessions carrying a
/// [tag](Session::with_tag), implements [`RevokeAll`]; one
/// that can list them cheaply, [`ListSessions`]. `Arc<S>` is a store when `S`
/// is, and [`BoxSessionStore`] turns any store into one type for stores
/// chosen at run time. The in-memory [`MemoryStore`] is the embedded
/// default. Every store can run the crate's shared store suite (feature
/// `test-util`, module `test_util`).
pub trait SessionStore: Send + Sync + 'static {
    /// Why the store could not answer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores `session` under a fresh id and returns the id.
    ///
    /// The id comes from [`SessionId::generate`] or an equivalent source;
    /// an existing session is never overwritten (a store retries on the
    /// astronomically unlikely collision). A session whose deadline is
    /// already past (a zero ttl) need not be stored: the call still
    /// succeeds with a fresh id, which never loads.
    fn create(
        &self,
        session: Session,
    ) -> impl Future<Output = Result<SessionId, Self::Error>> + Send;

    /// The session, or `None` when the id is unknown, revoked, or the
    /// session is past its [`deadline`](Session::deadline).
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, Self::Error>> + Send;

    /// Moves a live session's idle deadline to `idle_expires_at`, clamped to
    /// its [`expires_at`](Session::expires_at).
    ///
    /// It never revives a session that is expired or revoked, and leaves a
    /// session without an idle deadline as it is. An unknown id is `Ok` and
    /// has no effect. The layer calls it only for sessions that have an idle
    /// deadline, and only to move it later; a store may keep a later
    /// deadline it already has (two instances touching at once).
    fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Ends a session for good. Idempotent; revoking an unknown id is not
    /// an error.
    fn revoke(&self, id: &SessionId) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// [`load`](SessionStore::load)'s answer when the store has it at once
    /// (an in-memory store does), without a future; `None` (the default)
    /// when it must be awaited.
    ///
    /// When every backend a request needs answers here, the layer answers the
    /// session endpoint without allocating or boxing a future. It must give
    /// the same answer as `load`, and it must not block: a store that would
    /// wait for I/O or a contended lock returns `None`.
    ///
    /// What it buys, measured with `cargo bench --bench instructions --
    /// session` (instructions per request over a service sending the
    /// precomputed answer): a cookie caller costs about +1,950 when the
    /// store answers here and +3,300 when the same store is awaited.
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, Self::Error>> {
        let _ = id;
        None
    }
}

/// Stores that can find sessions other than by id, and end them all: every
/// session of one user ("sign out everywhere"), or every session carrying
/// one [tag](Session::with_tag) (the OpenID Connect sign-in's back-channel
/// logout: the sessions of one provider session, or of one provider user).
///
/// A store that cannot does not implement it, so
/// [`SessionManager::revoke_all`](crate::SessionManager::revoke_all) and
/// [`SessionManager::revoke_tagged`](crate::SessionManager::revoke_tagged)
/// do not compile for it: the capability shows in the type, not at run
/// time.
///
/// **Implementing it.** Besides what [`SessionStore`] asks, a store keeps
/// two indexes beside its sessions: by user id, and by tag (a session
/// carries at most [`Session::MAX_TAGS`] tags of at most
/// [`Session::MAX_TAG_LEN`] bytes, so a create adds a bounded number of
/// entries). It must
///
/// - index a session under its user and each of its tags no later than its
///   [`create`](SessionStore::create) returns, so that a revocation that
///   starts after the create finished finds it;
/// - end exactly the sessions that match: a session of another user, or
///   without the tag, is never ended (an index keyed by a digest must
///   not let two users or two tags collide);
/// - keep the indexes clean: entries of sessions that expired or were
///   revoked go at some point (when the session's deadline passes, or on a
///   later write), so that they do not grow without bound;
/// - give [`load`](SessionStore::load) back the session's tags, in the
///   order they were added.
///
/// The shared store suite's `revoke_all_suite!` (feature `test-util`,
/// module `test_util`) checks both methods.
pub trait RevokeAll: SessionStore {
    /// Ends every session of `user_id` that exists when the call starts. A
    /// session of that user created concurrently may survive only if its
    /// create finished after this call started. A user without sessions is
    /// `Ok`.
    fn revoke_all(&self, user_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Ends every session carrying `tag` (see [`Session::with_tag`]) that
    /// exists when the call starts, whatever its user. A session carrying
    /// it created concurrently may survive only if its create finished
    /// after this call started. A tag no session carries is `Ok`. Sessions
    /// without the tag, the user's others included, are not affected.
    fn revoke_tagged(&self, tag: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Stores that can list a user's live sessions cheaply (without a scan of
/// every session).
pub trait ListSessions: SessionStore {
    /// The live sessions of `user_id`, in no particular order; empty for a
    /// user without sessions.
    fn list(&self, user_id: &str)
    -> impl Future<Output = Result<Vec<Session>, Self::Error>> + Send;
}

impl<S: SessionStore> SessionStore for Arc<S> {
    type Error = S::Error;

    fn create(&self, session: Session) -> impl Future<Output = Result<SessionId, S::Error>> + Send {
        (**self).create(session)
    }

    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, S::Error>> + Send {
        (**self).load(id)
    }

    fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: SystemTime,
    ) -> impl Future<Output = Result<(), S::Error>> + Send {
        (**self).touch(id, idle_expires_at)
    }

    fn revoke(&self, id: &SessionId) -> impl Future<Output = Result<(), S::Error>> + Send {
        (**self).revoke(id)
    }

    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, S::Error>> {
        (**self).load_now(id)
    }
}

impl<S: RevokeAll> RevokeAll for Arc<S> {
    fn revoke_all(&self, user_id: &str) -> impl Future<Output = Result<(), S::Error>> + Send {
        (**self).revoke_all(user_id)
    }

    fn revoke_tagged(&self, tag: &str) -> impl Future<Output = Result<(), S::Error>> + Send {
        (**self).revoke_tagged(tag)
    }
}

impl<S: ListSessions> ListSessions for Arc<S> {
    fn list(&self, user_id: &str) -> impl Future<Output = Result<Vec<Session>, S::Error>> + Send {
        (**self).list(user_id)
    }
}
