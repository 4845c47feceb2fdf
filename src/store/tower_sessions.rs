//! Any tower-sessions store as this crate's [`SessionStore`] (feature
//! `tower-sessions-core-0_14`): [`TowerSessionsStore`] and its error. The
//! design is documented on [`TowerSessionsStore`].

use std::collections::HashMap;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime};
use tower_sessions_core_0_14::SessionStore as TowerStore;
use tower_sessions_core_0_14::session::{Id, Record};
use tower_sessions_core_0_14::session_store::Error as TowerError;

use super::after;
use super::session::{from_millis, millis};
use super::{Session, SessionDecodeError, SessionId, SessionStore};

/// A tower-sessions store (any [`tower_sessions_core::SessionStore`] of
/// tower-sessions-core 0.14: its SQL, Redis and moka stores, its memory store,
/// a `CachingSessionStore`, one of your own) as this crate's
/// [`SessionStore`], so that an application that already keeps its sessions
/// there gets the well-known endpoints without a second session system
/// (feature `tower-sessions-core-0_14`).
///
/// [`tower_sessions_core::SessionStore`]: https://docs.rs/tower-sessions-core/0.14/tower_sessions_core/session_store/trait.SessionStore.html
///
/// ```
/// use rstream_well_known::{Tunnel, TowerSessionsStore, User, WellKnownLayer};
/// use tower_sessions::MemoryStore; // or SqliteStore, RedisStore, MokaStore, …
///
/// # futures::executor::block_on(async {
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
///     .with_session_store(TowerSessionsStore::new(MemoryStore::default()))
///     .build()?;
/// let sessions = layer.session_manager();
/// let signed_in = sessions.sign_in(User::new("ada")).await?;
/// assert!(signed_in.set_cookie().to_str()?.starts_with("__Host-rstream_session="));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// The feature is named after the version of tower-sessions-core whose trait
/// it adapts: 0.14, the version the published SQL (`tower-sessions-sqlx-store`
/// 0.15), Redis (`tower-sessions-redis-store` 0.16) and moka
/// (`tower-sessions-moka-store` 0.15) stores and `tower-sessions` 0.14 build
/// on. (`tower-sessions` 0.15 moved to tower-sessions-core 0.15, whose trait
/// is the same but a different type to the compiler; an adapter for it would
/// come as a feature of its own, beside this one.)
///
/// **Requirements.** Rust 1.85, like the rest of the crate, and whatever
/// runtime the wrapped store needs (the SQL and Redis stores need Tokio); the
/// adapter itself needs none.
///
/// # Records
///
/// A session is one tower-sessions [`Record`]:
///
/// - its `id` is the session's id XOR the ASCII bytes of `"rstream-session!"`
///   (see [Ids](#ids)): not the cookie's value, so that tower-sessions' own
///   layer, given the cookie's value as its cookie, finds nothing;
/// - its `data` map holds one entry, under the key
///   [`DATA_KEY`](TowerSessionsStore::DATA_KEY) (`"rstream_well_known.session"`),
///   whose value is the session in the crate's
///   [stored form](Session#stored-form), as a JSON object
///   (`{"v":1,"user":{…},"createdAt":…,…}`);
/// - its `expiry_date` is the session's [`deadline`](Session::deadline) as
///   the value spells it, to the millisecond, so that the store expires the
///   record by itself (Redis and moka expire it, SQL stores filter it out
///   and delete it with their `delete_expired`).
///
/// The deadlines that count are those in the value: a record whose `data`
/// has no entry under the key (a tower-sessions session of the application)
/// is not a session of this crate and never loads, whatever else it holds,
/// and a record loads only before the deadline in its value. It also loads
/// only while its `expiry_date` is exactly that deadline: tower-sessions'
/// own layer, whenever it saves a record it loaded, sets its own expiry
/// date, so a record that layer wrote back (after a logout deleted it, say)
/// never loads as a session again. The store must therefore give back the
/// `expiry_date` it was given, to the millisecond at least (the published
/// stores keep the whole record, to the nanosecond). The record's other
/// entries, if any, are kept as they are by [`touch`](SessionStore::touch).
///
/// **Versioning.** As the [stored form](Session#stored-form) says: a value
/// of another version is an error of kind
/// [`UnsupportedVersion`](TowerSessionsStoreErrorKind::UnsupportedVersion)
/// (the session endpoint answers not authenticated, nothing breaks), and a
/// value that does not decode at all one of kind
/// [`Corrupt`](TowerSessionsStoreErrorKind::Corrupt).
///
/// # Ids
///
/// tower-sessions ids ([`Id`]) are 128-bit numbers, spelled in its cookie as
/// 22 characters of unpadded base64url. This crate's [`SessionId`] is that
/// same spelling, which is cookie-safe: the cookie value is an id as
/// tower-sessions itself writes it, and the session's record is stored
/// under that id XOR the ASCII bytes of `"rstream-session!"` (its
/// tombstone, under the id XOR those of `"rstream-revoked!"`):
///
/// - [`create`](SessionStore::create) mints the id from 128 bits of the
///   operating system's random source and hands the record to the store's
///   own `create`. The published stores never knowingly overwrite there: they
///   look for the id first (Redis and SQLite atomically, with `SET NX` and
///   `INSERT OR ABORT`; the PostgreSQL, MySQL, moka and memory stores check,
///   then write) and take another random id when it is in use. The id
///   returned is the one the record was stored under, unmasked. A store
///   that leaves `create` to tower-sessions' default (a plain `save`)
///   cannot promise that; either way, two of n random 128-bit ids meet with a probability
///   of about n²/2¹²⁹: never, in practice.
/// - An id is never chosen by a client: a cookie value is only ever looked
///   up, and only in the one spelling tower-sessions gives the id (22
///   characters, canonical base64url); any other value (another length, a
///   non-canonical spelling, a foreign format) is unknown at once, without a
///   store call.
///
/// # What it cannot do
///
/// - **No sign-out everywhere, no revocation by tag, no listing.** The
///   tower-sessions trait has no way to find the records of one user or of
///   one [tag](Session::with_tag) (only create, save, load and delete by
///   id), so this store implements neither [`RevokeAll`](crate::RevokeAll)
///   nor [`ListSessions`](crate::ListSessions), and
///   [`SessionManager::revoke_all`](crate::SessionManager::revoke_all),
///   [`revoke_tagged`](crate::SessionManager::revoke_tagged) and
///   [`sessions_of`](crate::SessionManager::sessions_of) do not compile for
///   it (a session's tags are kept in its record all the same):
///
///   ```compile_fail
///   # use rstream_well_known::{Tunnel, TowerSessionsStore, WellKnownLayer};
///   # async fn f() {
///   let layer = WellKnownLayer::builder()
///       .tunnel(Tunnel::new("app.example.com", "ws", "proj").unwrap())
///       .with_session_store(TowerSessionsStore::new(tower_sessions::MemoryStore::default()))
///       .build()
///       .unwrap();
///   layer.session_manager().revoke_all("ada").await;
///   # }
///   ```
///
///   To end every session of a user, use a store that can
///   ([`MemoryStore`](crate::MemoryStore), or the Redis store).
/// - **No answers at once.** [`load_now`](SessionStore::load_now) keeps its
///   default (`None`): every tower-sessions call returns a boxed future, so
///   the session endpoint always awaits the store.
/// - **No atomic touch.** tower-sessions has no compare-and-set, so
///   [`touch`](SessionStore::touch) is a load and a save, and a save made
///   just after a concurrent [`revoke`](SessionStore::revoke) deleted the
///   record brings the record back, with this crate's expiry date. The
///   adapter keeps such a record from ever loading: revoking a session that
///   has an idle deadline first saves a marker record (a *tombstone*: id =
///   the session's id XOR the ASCII bytes of `"rstream-revoked!"`, `data` =
///   `{"rstream_well_known.revoked": true}`, `expiry_date` = a minute past
///   the session's absolute end, so that it outlives every version of the
///   record), then deletes the record; [`load`](SessionStore::load) of a
///   session with an idle deadline looks for the tombstone and answers
///   `None` (deleting the record again) when there is one, and so does a
///   touch after its save. A revoke or touch cut off at any point (a
///   backend timeout drops it) leaves the session revoked: either the
///   tombstone was saved, and the session never loads again, or nothing
///   was deleted yet. (Stores whose `save` only updates an existing record,
///   like `tower-sessions-redis-store`, cannot bring the record back at
///   all, and silently skip the tombstone.) Sessions without an idle
///   deadline are never touched and get no tombstone.
/// - **Records are not secret from the application's layer.** A client
///   that works out a record's id from its cookie (the XOR above) can make
///   tower-sessions' own layer load that record, write it back (it then
///   never loads as a session, see [Records](#records)) or delete it (ending
///   the session, as a logout would). It cannot make a record load that
///   this crate did not write last, nor read the record unless the
///   application shows its tower-sessions session's contents. The one
///   write-back the expiry date cannot tell apart is a touch's, which the
///   tombstone catches; deleting the tombstone through tower-sessions' layer
///   while a touch's save is in flight across the logout is the one way
///   left to bring a session back, and takes a race of one store round trip
///   that the client does not control.
///
/// # Beside tower-sessions' own layer
///
/// One store can back both this crate's sessions and the application's
/// tower-sessions sessions (`SessionManagerLayer`), on one app:
///
/// - **Cookies.** Each layer reads its own cookie: this crate's
///   [`SessionCookie`](crate::SessionCookie) (`__Host-rstream_session` by
///   default) and tower-sessions' (`id` by default). Keep the names
///   different. [`WellKnownBuilder::strip_session_cookie`](crate::WellKnownBuilder::strip_session_cookie)
///   removes only this crate's cookie from forwarded requests; the
///   tower-sessions cookie reaches the app untouched.
/// - **Layers.** Put the [`WellKnownLayer`](crate::WellKnownLayer) outside
///   (added last): it answers `/.well-known/rstream/*` itself, so those
///   requests never reach tower-sessions' layer, and everything else passes
///   through to it as before.
/// - **Records.** The two kinds of session are separate records in the same
///   store: signing in through the [`SessionManager`](crate::SessionManager)
///   creates one record, a tower-sessions session another; the well-known
///   logout deletes only the former (it never deletes a record without the
///   key, whatever cookie value it is given), and tower-sessions'
///   `Session::flush` only the latter. An application that wants one
///   sign-in and one sign-out for both does both itself: calls
///   [`sign_in`](crate::SessionManager::sign_in) in its tower-sessions login
///   handler, and clears its tower-sessions session where it sends the user
///   to the logout.
/// - **Crossed cookies.** A tower-sessions cookie value presented as this
///   crate's cookie names no record of this crate: not authenticated,
///   nothing changed. This crate's cookie value presented as tower-sessions'
///   cookie names no record either (this crate's records are stored under
///   another id, see [Ids](#ids)): tower-sessions starts a fresh session of
///   its own, under a new id, and this crate's session is untouched.
///
/// # Timeouts
///
/// The adapter adds no timeout of its own, and needs no runtime: it awaits
/// the store's futures wherever they are polled. The store runs on its own
/// runtime assumptions (the SQL and Redis stores need Tokio) with its own
/// limits (such as a pool's acquire timeout). To bound every call the layer
/// and the [`SessionManager`](crate::SessionManager) make, set
/// [`WellKnownBuilder::backend_timeout`](crate::WellKnownBuilder::backend_timeout):
/// a call still waiting then is dropped, and the documented answers apply
/// (session endpoint: not authenticated; logout: `503`; sign-in:
/// [`SignInError::TimedOut`](crate::SignInError::TimedOut)).
///
/// # Costs
///
/// Store calls per operation: sign-in, one `create`; the session endpoint,
/// one `load`, a second (of the tombstone) for a session with an idle
/// deadline, plus three calls (`load`, `save`, `load` of the tombstone)
/// when a sliding touch is due (at most once per quarter of the idle
/// timeout); a logout, the layer's `load` (one or two calls), then for each
/// cookie value the adapter's `load`, a `save` of the tombstone (for a
/// session with an idle deadline) and a `delete`. A revoked session found
/// saved back costs one `delete` more.
///
/// # Cleanup
///
/// Expired records, tombstones included, go the way the store's own expire:
/// by themselves in Redis and moka; in SQL stores they are filtered out at
/// once and deleted by the store's `ExpiredDeletion::delete_expired` (run
/// `continuously_delete_expired` as tower-sessions recommends, see
/// `examples/tower_sessions.rs`).
///
/// # Errors
///
/// A failing store call is a [`TowerSessionsStoreError`] of kind
/// [`Store`](TowerSessionsStoreErrorKind::Store) carrying the store's own
/// message, with any spelling of the session id in it replaced by
/// `<session id>`, so the layer's log never shows one.
pub struct TowerSessionsStore<S> {
    store: S,
}

impl<S: TowerStore> TowerSessionsStore<S> {
    /// The key of this crate's entry in a record's `data` map.
    pub const DATA_KEY: &'static str = "rstream_well_known.session";

    /// The key of a tombstone's entry in a record's `data` map (see
    /// [What it cannot do](TowerSessionsStore#what-it-cannot-do)).
    pub const TOMBSTONE_KEY: &'static str = "rstream_well_known.revoked";

    /// Wraps `store`. To share it with tower-sessions' own layer, give each a
    /// clone (the published stores are cheap to clone and share their
    /// connections).
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.store
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.store
    }
}

impl<S: Clone> Clone for TowerSessionsStore<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
        }
    }
}

impl<S> fmt::Debug for TowerSessionsStore<S> {
    /// Names the store's type only: a store's own `Debug` may show its
    /// connection settings, credentials included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TowerSessionsStore")
            .field("store", &std::any::type_name::<S>())
            .finish()
    }
}

/// XORed with a session's id, the id of its record: the ASCII bytes of
/// `"rstream-session!"`. Any fixed value other than zero (and other than
/// [`TOMBSTONE_MASK`]) would do; the record id of a random id is as random.
const RECORD_MASK: i128 = i128::from_be_bytes(*b"rstream-session!");

/// XORed with a session's id, the id of its tombstone: the ASCII bytes of
/// `"rstream-revoked!"`.
const TOMBSTONE_MASK: i128 = i128::from_be_bytes(*b"rstream-revoked!");

/// How long a tombstone outlives the session's absolute end: room for the
/// clocks of the instances and of the store to differ, and for stores that
/// round expiry dates down to the second.
const TOMBSTONE_GRACE: Duration = Duration::from_secs(60);

/// How tower-sessions spells an id: 22 characters of unpadded base64url.
const ID_LEN: usize = 22;

/// `at` as the record's expiry date.
fn expiry_date(at: SystemTime) -> OffsetDateTime {
    let nanos = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    i128::try_from(nanos)
        .ok()
        .and_then(|nanos| OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
        // Unreachable for a session's times (within 1970..=9999).
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc())
}

fn decode(value: &Value) -> Result<Session, TowerSessionsStoreError> {
    Session::decode_value(value).map_err(|error| {
        TowerSessionsStoreError::new(match error {
            SessionDecodeError::UnsupportedVersion(version) => {
                TowerSessionsStoreErrorKind::UnsupportedVersion(version)
            }
            SessionDecodeError::Corrupt => TowerSessionsStoreErrorKind::Corrupt,
        })
    })
}

/// An id spelled as tower-sessions spells it, on the stack.
struct IdText {
    bytes: [u8; ID_LEN],
    len: usize,
}

impl IdText {
    fn of(id: Id) -> Option<Self> {
        let mut text = Self {
            bytes: [0; ID_LEN],
            len: 0,
        };
        write!(text, "{id}").ok()?;
        (text.len == ID_LEN).then_some(text)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Write for IdText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The tower-sessions id a session id spells, when it spells one in the one
/// canonical way; `None` for any other value.
fn parse_id(id: &SessionId) -> Option<Id> {
    let value = id.expose();
    if value.len() != ID_LEN {
        return None;
    }
    let parsed: Id = value.parse().ok()?;
    let canonical = IdText::of(parsed)?;
    (canonical.as_bytes() == value.as_bytes()).then_some(parsed)
}

/// The session id of a tower-sessions id.
fn session_id(id: Id) -> Result<SessionId, TowerSessionsStoreError> {
    IdText::of(id)
        .and_then(|text| {
            std::str::from_utf8(text.as_bytes())
                .ok()
                .and_then(SessionId::new)
        })
        .ok_or_else(|| TowerSessionsStoreError::new(TowerSessionsStoreErrorKind::InvalidId))
}

/// A fresh id: 128 bits from the operating system's random source.
fn mint() -> Result<Id, TowerSessionsStoreError> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|error| TowerSessionsStoreError {
        kind: TowerSessionsStoreErrorKind::Random,
        source: Some(Box::new(std::io::Error::other(error))),
    })?;
    Ok(Id(i128::from_le_bytes(random)))
}

/// The id of the record that holds the session `id` (and back: the mask
/// undoes itself).
fn record_of(id: Id) -> Id {
    Id(id.0 ^ RECORD_MASK)
}

/// The id of the tombstone of the session `id`.
fn tombstone_of(id: Id) -> Id {
    Id(id.0 ^ TOMBSTONE_MASK)
}

/// The expiry date this crate writes on the record of `session`: its
/// deadline, to the millisecond, exactly as the value spells it. A record
/// whose expiry date is anything else was written by someone else.
fn stamp(session: &Session) -> OffsetDateTime {
    expiry_date(from_millis(millis(session.deadline())))
}

impl<S: TowerStore> TowerSessionsStore<S> {
    /// The session `id` as its record holds it, when the record is one this
    /// crate wrote: the record and its decoded session. A record without the
    /// key, or whose expiry date is not the [stamp](stamp) of its value
    /// (tower-sessions' own layer saved it), holds no session.
    async fn load_ours(
        &self,
        id: Id,
    ) -> Result<Option<(Record, Session)>, TowerSessionsStoreError> {
        let at = record_of(id);
        let Some(record) = self.store.load(&at).await.map_err(|e| store_error(e, id))? else {
            return Ok(None);
        };
        if record.id != at {
            return Ok(None);
        }
        let Some(value) = record.data.get(Self::DATA_KEY) else {
            return Ok(None);
        };
        let session = decode(value)?;
        if record.expiry_date != stamp(&session) {
            return Ok(None);
        }
        Ok(Some((record, session)))
    }

    /// Whether the session `id` was revoked (its tombstone exists); if so,
    /// deletes its record again, which a touch in flight during the revoke
    /// may have saved back.
    async fn revoked(&self, id: Id) -> Result<bool, TowerSessionsStoreError> {
        let tombstone = tombstone_of(id);
        let revoked = self
            .store
            .load(&tombstone)
            .await
            .map_err(|e| store_error(e, id))?
            .is_some_and(|record| {
                record.id == tombstone && record.data.contains_key(Self::TOMBSTONE_KEY)
            });
        if revoked {
            self.store
                .delete(&record_of(id))
                .await
                .map_err(|e| store_error(e, id))?;
        }
        Ok(revoked)
    }
}

impl<S: TowerStore> SessionStore for TowerSessionsStore<S> {
    type Error = TowerSessionsStoreError;

    async fn create(&self, session: Session) -> Result<SessionId, TowerSessionsStoreError> {
        let id = mint()?;
        if !session.is_live_at(SystemTime::now()) {
            // Dead on arrival (a zero ttl): not stored, the id never loads.
            return session_id(id);
        }
        let mut record = Record {
            id: record_of(id),
            data: HashMap::from([(Self::DATA_KEY.to_owned(), session.encode_value())]),
            expiry_date: stamp(&session),
        };
        // The store's `create` never overwrites, and may pick another id.
        self.store
            .create(&mut record)
            .await
            .map_err(|e| store_error(e, record_of(record.id)))?;
        session_id(record_of(record.id))
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Session>, TowerSessionsStoreError> {
        let Some(id) = parse_id(id) else {
            return Ok(None);
        };
        let Some((_, session)) = self.load_ours(id).await? else {
            return Ok(None);
        };
        // The reading travels with the session: the layer checks the
        // deadline at it instead of reading the clock again.
        let Some(session) = session.live_now() else {
            return Ok(None);
        };
        // A session that a touch could have saved back after its revoke
        // loads only without a tombstone.
        if session.idle_expires_at().is_some() && self.revoked(id).await? {
            return Ok(None);
        }
        Ok(Some(session))
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: SystemTime,
    ) -> Result<(), TowerSessionsStoreError> {
        let Some(id) = parse_id(id) else {
            return Ok(());
        };
        let Some((mut record, session)) = self.load_ours(id).await? else {
            return Ok(());
        };
        let Some(current) = session.idle_expires_at() else {
            return Ok(());
        };
        if !session.is_live_at(SystemTime::now()) {
            return Ok(());
        }
        let session = session.with_idle_expires_at(idle_expires_at);
        if session.idle_expires_at() <= Some(current) {
            // Never earlier: another instance may have moved it further.
            return Ok(());
        }
        record
            .data
            .insert(Self::DATA_KEY.to_owned(), session.encode_value());
        record.expiry_date = stamp(&session);
        self.store
            .save(&record)
            .await
            .map_err(|e| store_error(e, id))?;
        // A revoke that deleted the record between the load and the save
        // left a tombstone: the save brought the record back, delete it
        // again. (Cut off before this, the record stays until the next load
        // or touch deletes it; it never loads meanwhile: `load` checks the
        // tombstone too.)
        self.revoked(id).await?;
        Ok(())
    }

    async fn revoke(&self, id: &SessionId) -> Result<(), TowerSessionsStoreError> {
        let Some(id) = parse_id(id) else {
            return Ok(());
        };
        let at = record_of(id);
        let Some(record) = self.store.load(&at).await.map_err(|e| store_error(e, id))? else {
            return Ok(());
        };
        // Whoever saved it last: a record with the key is deleted.
        let Some(value) = record.data.get(Self::DATA_KEY).filter(|_| record.id == at) else {
            // Not a session of this crate: never deleted from here.
            return Ok(());
        };
        // A session that a concurrent touch could save back gets a tombstone
        // first, which outlives every version of the record (a value that
        // does not decode is deleted without one: it cannot load, so nothing
        // can touch it). Cut off between the two, the revoke has still
        // ended the session: the tombstone keeps it from loading.
        if let Ok(session) = decode(value) {
            if session.idle_expires_at().is_some() && SystemTime::now() < session.expires_at() {
                let tombstone = Record {
                    id: tombstone_of(id),
                    data: HashMap::from([(Self::TOMBSTONE_KEY.to_owned(), Value::Bool(true))]),
                    expiry_date: expiry_date(after(session.expires_at(), TOMBSTONE_GRACE)),
                };
                self.store
                    .save(&tombstone)
                    .await
                    .map_err(|e| store_error(e, id))?;
            }
        }
        self.store.delete(&at).await.map_err(|e| store_error(e, id))
    }
}

/// Why a [`TowerSessionsStore`] could not answer.
///
/// Its `Display` text names what failed and, for a failing store, the
/// store's own message with every spelling of the session id in it (the
/// cookie's base64url and the number) replaced by `<session id>`. The
/// store's error, so redacted, is the [`source`](Error::source).
#[derive(Debug)]
pub struct TowerSessionsStoreError {
    kind: TowerSessionsStoreErrorKind,
    source: Option<Box<dyn Error + Send + Sync>>,
}

/// What kind of failure a [`TowerSessionsStoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TowerSessionsStoreErrorKind {
    /// The tower-sessions store returned an error (its database or server
    /// failed, or it could not encode or decode a record).
    Store,
    /// A record's value under
    /// [`DATA_KEY`](TowerSessionsStore::DATA_KEY) is of a version of the
    /// [stored form](Session#stored-form) this crate version cannot read
    /// (the number is that version).
    UnsupportedVersion(u64),
    /// A record's value under [`DATA_KEY`](TowerSessionsStore::DATA_KEY)
    /// is not one of the [stored form](Session#stored-form).
    Corrupt,
    /// The operating system's random source failed: no id could be minted.
    Random,
    /// The store stored the record under an id that does not spell as a
    /// cookie value (tower-sessions' ids always do).
    InvalidId,
}

impl TowerSessionsStoreError {
    fn new(kind: TowerSessionsStoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TowerSessionsStoreErrorKind {
        self.kind
    }
}

/// A store's error, with the spellings of the session `id`, and of the ids
/// of its record and tombstone (from which the session id follows),
/// redacted from its message.
fn store_error(error: TowerError, id: Id) -> TowerSessionsStoreError {
    let redact = |message: String| {
        let mut message = message;
        for id in [id, record_of(id), tombstone_of(id)] {
            let number = id.0.to_string();
            let text = IdText::of(id);
            let text = text
                .as_ref()
                .and_then(|text| std::str::from_utf8(text.as_bytes()).ok());
            for spelling in [text, Some(number.as_str())].into_iter().flatten() {
                if message.contains(spelling) {
                    message = message.replace(spelling, "<session id>");
                }
            }
        }
        message
    };
    let redacted = match error {
        TowerError::Encode(message) => TowerError::Encode(redact(message)),
        TowerError::Decode(message) => TowerError::Decode(redact(message)),
        TowerError::Backend(message) => TowerError::Backend(redact(message)),
    };
    TowerSessionsStoreError {
        kind: TowerSessionsStoreErrorKind::Store,
        source: Some(Box::new(redacted)),
    }
}

impl fmt::Display for TowerSessionsStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TowerSessionsStoreErrorKind::Store => match &self.source {
                Some(source) => write!(f, "the tower-sessions store failed: {source}"),
                None => f.write_str("the tower-sessions store failed"),
            },
            TowerSessionsStoreErrorKind::UnsupportedVersion(version) => {
                SessionDecodeError::UnsupportedVersion(version).fmt(f)
            }
            TowerSessionsStoreErrorKind::Corrupt => SessionDecodeError::Corrupt.fmt(f),
            TowerSessionsStoreErrorKind::Random => {
                f.write_str("the operating system's random source failed")
            }
            TowerSessionsStoreErrorKind::InvalidId => {
                f.write_str("the store chose an id that a cookie cannot carry")
            }
        }
    }
}

impl Error for TowerSessionsStoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::User;
    use crate::store::session::latest;

    #[test]
    fn ids_spell_as_tower_sessions_spells_them_and_only_so() {
        for _ in 0..64 {
            let id = mint().unwrap();
            let ours = session_id(id).unwrap();
            assert_eq!(ours.expose(), id.to_string());
            assert_eq!(parse_id(&ours), Some(id));
        }
        let id = Id(0);
        assert_eq!(session_id(id).unwrap().expose(), "AAAAAAAAAAAAAAAAAAAAAA");
        for other in [
            // Non-canonical: the last character's unused bits set.
            "AAAAAAAAAAAAAAAAAAAAAB",
            // Padded, standard alphabet, too short, too long.
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "AAAAAAAAAAAAAAAAAAAA+A",
            "AAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA",
            "not-an-id",
        ] {
            let value = SessionId::new(other).unwrap();
            assert_eq!(parse_id(&value), None, "{other}");
        }
    }

    #[test]
    fn values_round_trip_and_other_versions_are_refused() {
        let now = SystemTime::now();
        let user = User::new("ada")
            .with_email("ada@example.com")
            .with_attribute("roles", serde_json::json!(["admin"]));
        let session = Session::new(user, now, now + Duration::from_secs(3600))
            .with_idle_expires_at(now + Duration::from_secs(600));
        let value = session.encode_value();
        assert_eq!(value["v"], 1);
        assert_eq!(value["user"]["userId"], "ada");
        assert_eq!(value["expiresAt"], millis(session.expires_at()));
        let back = decode(&value).unwrap();
        assert_eq!(back.user(), session.user());
        assert_eq!(millis(back.deadline()), millis(session.deadline()));

        // No idle deadline: no field.
        let plain = Session::new(User::new("b"), now, now + Duration::from_secs(1));
        let value = plain.encode_value();
        assert!(value.get("idleExpiresAt").is_none());
        assert_eq!(decode(&value).unwrap().idle_expires_at(), None);

        // Tags travel in order, in a field only a tagged session has.
        assert!(value.get("tags").is_none());
        let tagged = plain.clone().with_tag("sid:1").with_tag("sub:ada");
        let value = tagged.encode_value();
        assert_eq!(value["tags"], serde_json::json!(["sid:1", "sub:ada"]));
        assert_eq!(
            decode(&value).unwrap().tags().collect::<Vec<_>>(),
            ["sid:1", "sub:ada"]
        );
        let value = plain.encode_value();

        // Fields a later version adds are ignored.
        let mut newer = value.clone();
        newer["device"] = "phone".into();
        assert!(decode(&newer).is_ok());

        let mut v2 = value.clone();
        v2["v"] = 2.into();
        assert_eq!(
            decode(&v2).unwrap_err().kind(),
            TowerSessionsStoreErrorKind::UnsupportedVersion(2)
        );
        for corrupt in [
            serde_json::json!({"v": 1}),
            serde_json::json!({"user": {"userId": "a"}}),
            serde_json::json!("a string"),
            serde_json::json!({"v": 1, "user": {"userId": "secret@example.com"}, "createdAt": -1, "expiresAt": 0}),
        ] {
            let error = decode(&corrupt).unwrap_err();
            assert_eq!(error.kind(), TowerSessionsStoreErrorKind::Corrupt);
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn times_stay_in_range() {
        assert_eq!(from_millis(u64::MAX), latest());
        assert_eq!(millis(SystemTime::UNIX_EPOCH), 0);
        assert_eq!(
            expiry_date(latest()).unix_timestamp(),
            i64::try_from(Session::MAX_SECS_SINCE_EPOCH).unwrap()
        );
        assert_eq!(
            expiry_date(SystemTime::UNIX_EPOCH),
            OffsetDateTime::UNIX_EPOCH
        );
    }

    #[test]
    fn store_errors_never_show_the_session_id() {
        let id = mint().unwrap();
        // The session's id, or its record's or tombstone's, from which it
        // follows.
        for shown_id in [id, record_of(id), tombstone_of(id)] {
            store_errors_never_show(id, shown_id);
        }
    }

    fn store_errors_never_show(id: Id, shown_id: Id) {
        let text = shown_id.to_string();
        let number = shown_id.0.to_string();
        for error in [
            TowerError::Backend(format!("no row for {text} ({number})")),
            TowerError::Decode(format!("bad record {text}")),
            TowerError::Encode(format!("Id({number})")),
        ] {
            let error = store_error(error, id);
            let shown = error.to_string();
            assert!(
                !shown.contains(&text) && !shown.contains(&number),
                "{shown}"
            );
            assert!(shown.contains("<session id>"), "{shown}");
            let source = error.source().unwrap().to_string();
            assert!(
                !source.contains(&text) && !source.contains(&number),
                "{source}"
            );
            assert_eq!(error.kind(), TowerSessionsStoreErrorKind::Store);
        }
    }

    #[test]
    fn records_and_tombstones_are_elsewhere() {
        let id = mint().unwrap();
        assert_ne!(tombstone_of(id), id);
        assert_ne!(record_of(id), id);
        assert_ne!(record_of(id), tombstone_of(id));
        assert_eq!(tombstone_of(tombstone_of(id)), id);
        assert_eq!(record_of(record_of(id)), id);
    }

    #[test]
    fn the_stamp_is_the_deadline_as_the_value_keeps_it() {
        let now = SystemTime::now();
        let session = Session::new(User::new("ada"), now, now + Duration::from_secs(60))
            .with_idle_expires_at(now + Duration::from_millis(1500));
        let stored = decode(&session.encode_value()).unwrap();
        // Written from the session at hand and checked on the decoded one:
        // the same instant.
        assert_eq!(stamp(&session), stamp(&stored));
        assert_eq!(
            stamp(&session).unix_timestamp_nanos() % 1_000_000,
            0,
            "to the millisecond"
        );
        let deadline = session.deadline();
        assert!(stamp(&session) <= expiry_date(deadline));
        assert!(expiry_date(deadline) - stamp(&session) < time::Duration::milliseconds(1));
    }
}
