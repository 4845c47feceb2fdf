//! The in-memory [`SessionStore`]: the embedded default.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{ListSessions, RevokeAll, Session, SessionId, SessionStore};

/// How many expired sessions a `create` drops at most.
const SWEEP_BATCH: usize = 8;

/// How many sessions [`MemoryStore::purge_expired`],
/// [`MemoryStore::with_max_sessions`] and [`RevokeAll::revoke_all`] remove at
/// most per hold of the lock.
const PURGE_BATCH: usize = 1024;

/// A process-local session store with expiry, a size bound, and a per-user
/// index (so it implements [`RevokeAll`] and [`ListSessions`]).
///
/// Sessions live in a hash map behind a mutex, beside an index of the same
/// sessions ordered by deadline and an index by user. Cloning the store
/// shares them. Sessions do not survive a restart and are not shared between
/// processes; use a networked store for that.
///
/// **Expiry and cleanup.** A session never loads at or after its
/// [`deadline`](Session::deadline) (wall-clock time: the earlier of its
/// absolute and idle deadlines). The store cleans up after itself without a
/// background task and never scans the whole map: every
/// [`create`](SessionStore::create) first drops up to 8 expired sessions
/// from the front of the deadline index, and a lookup that finds an expired
/// session drops it. Every operation thus does a bounded amount of work under
/// the lock, however many sessions the store holds, and a lookup is a
/// hash-map lookup and a clone of the session (its user is shared, not
/// copied). Since each create adds one session and drops up to 8 expired
/// ones, expired sessions do not pile up while sessions are being created; a
/// burst that expires at once is cleared over the next creates (8 per
/// create), or at once by [`purge_expired`](MemoryStore::purge_expired). A
/// [`touch`](SessionStore::touch) moves the session in the deadline index
/// (a logarithmic step, no scan).
///
/// **Size bound.** The store holds at most
/// [`max_sessions`](MemoryStore::max_sessions) sessions
/// ([`DEFAULT_MAX_SESSIONS`](MemoryStore::DEFAULT_MAX_SESSIONS) unless set
/// with [`with_max_sessions`](MemoryStore::with_max_sessions)), expired ones
/// not yet dropped included. A `create` on a full store still succeeds: when
/// its sweep freed no room (there was no expired session left), it evicts the
/// live session whose deadline comes soonest, the oldest first among equals.
/// Expired sessions thus always go before any live one, and when every
/// session is created with the same lifetime (as
/// [`SessionManager`](crate::SessionManager) does) and no idle timeout, the
/// rule is first in, first out. An evicted user is signed out: the session
/// endpoint reports them unauthenticated and they sign in again.
///
/// The store evicts rather than refuse a `create`, because refusing would
/// turn the bound into a sign-in outage: once full, whether by a burst of
/// real users or by someone minting sessions, nobody could sign in until
/// sessions expire, up to a whole session lifetime later. Evicting the
/// session closest to its end costs its user the least remaining time.
/// Whoever can mint sessions pushes out one session per session minted on a
/// full store, always the one nearest its end, so signing everybody out
/// takes as many sign-ins as the store holds. The rule is predictable, and
/// it adds no bookkeeping to lookups (least recently used would). If your
/// application creates more than `max_sessions` sessions within one session
/// lifetime, sessions end early: raise the cap or use a networked store.
///
/// **Lifetimes.** A session whose deadline is already past when it is
/// created (a ttl of zero) is not stored: its id is returned and never
/// loads. A deadline too late for the clock is clamped by [`Session`] to
/// the year 9999: such a session does not expire by time in practice; it
/// ends when revoked, or when evicted, after every session that expires
/// sooner. No duration or time given to the store panics.
///
/// **Sign out everywhere.** [`revoke_all`](RevokeAll::revoke_all) takes the
/// user's sessions out of the per-user index at once (so sessions the user
/// creates from then on are not affected), then removes them in batches of
/// 1,024 per hold of the lock; when it returns, none of them loads.
/// [`revoke_tagged`](RevokeAll::revoke_tagged) does the same with the
/// sessions under one [tag](Session::with_tag), from an index by tag kept
/// beside the one by user (each session is under at most
/// [`Session::MAX_TAGS`] tags; an entry goes with the last session under
/// it, however that session ends).
/// [`list`](ListSessions::list) costs in proportion to the user's sessions.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rstream_well_known::{MemoryStore, RevokeAll, Session, SessionStore, User};
///
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// let now = SystemTime::now();
/// let laptop = store.create(Session::new(User::new("ada"), now, now + Duration::from_secs(60))).await?;
/// let phone = store.create(Session::new(User::new("ada"), now, now + Duration::from_secs(60))).await?;
/// let loaded = store.load(&laptop).await?.expect("live");
/// assert_eq!(loaded.user().user_id(), "ada");
/// store.revoke(&laptop).await?;
/// assert_eq!(store.load(&laptop).await?, None);
/// store.revoke_all("ada").await?;
/// assert_eq!(store.load(&phone).await?, None);
/// # Ok::<(), rstream_well_known::MemoryStoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
}

/// A session's place in the deadline index: its deadline, then the order of
/// creation among sessions with the same deadline (kept when a touch moves
/// the deadline).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Key {
    deadline: SystemTime,
    seq: u64,
}

impl Key {
    /// Whether the session is live at `now` (strictly before its deadline).
    fn is_live(self, now: SystemTime) -> bool {
        now < self.deadline
    }
}

struct Entry {
    session: Session,
    key: Key,
}

/// Hashes the session ids of the map.
///
/// Every id this store holds was minted by [`SessionId::generate`]: 256 bits
/// from the operating system's CSPRNG. Flooding a hash map with colliding
/// keys (HashDoS) takes keys the attacker chooses, and this store never
/// inserts one: a client's cookie value is only looked up, which costs one
/// probe whatever its hash. So the hash is the first and last eight bytes of
/// the id (64 random bits of a generated id) mixed with a per-store random
/// key, rather than SipHash over all of it, which was about a quarter of a
/// session lookup: ~290 instructions per cookie request (`cargo bench
/// --bench instructions -- session`: cookie callers +1,953 with it, +2,242
/// with the standard hasher).
#[derive(Clone)]
struct IdHashing {
    key: u64,
}

impl IdHashing {
    fn new() -> Self {
        let mut key = [0u8; 8];
        // Without a random source the key is fixed; collisions still need
        // inserted keys, which only `SessionId::generate` makes.
        let _ = getrandom::fill(&mut key);
        Self {
            key: u64::from_le_bytes(key),
        }
    }
}

impl BuildHasher for IdHashing {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.key }
    }
}

/// See [`IdHashing`].
struct IdHasher {
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let word = |part: &[u8]| {
            let mut word = [0u8; 8];
            word[..part.len()].copy_from_slice(part);
            u64::from_le_bytes(word)
        };
        let head = word(&bytes[..bytes.len().min(8)]);
        let tail = word(&bytes[bytes.len().saturating_sub(8)..]);
        self.mix(head ^ tail.rotate_left(29) ^ bytes.len() as u64);
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

impl IdHasher {
    fn mix(&mut self, value: u64) {
        // A multiply-xorshift round (the constant is 2^64 / golden ratio).
        let x = (self.state ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.state = x ^ (x >> 29);
    }
}

/// The ids of the sessions under one key of an index (a user, a tag). Most
/// users and tags have one session, which then costs no set of its own.
enum IndexIds {
    One(Arc<[u8]>),
    Many(HashSet<Arc<[u8]>, IdHashing>),
}

impl IndexIds {
    fn insert(&mut self, id: Arc<[u8]>, hashing: &IdHashing) {
        match self {
            IndexIds::One(first) => {
                let mut ids = HashSet::with_capacity_and_hasher(2, hashing.clone());
                ids.insert(Arc::clone(first));
                ids.insert(id);
                *self = IndexIds::Many(ids);
            }
            IndexIds::Many(ids) => {
                ids.insert(id);
            }
        }
    }

    /// Removes `id`; says whether no id is left.
    fn remove(&mut self, id: &[u8]) -> bool {
        match self {
            IndexIds::One(only) => **only == *id,
            IndexIds::Many(ids) => {
                ids.remove(id);
                ids.is_empty()
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<[u8]>> {
        let (one, many) = match self {
            IndexIds::One(id) => (Some(id), None),
            IndexIds::Many(ids) => (None, Some(ids.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    fn into_vec(self) -> Vec<Arc<[u8]>> {
        match self {
            IndexIds::One(id) => vec![id],
            IndexIds::Many(ids) => ids.into_iter().collect(),
        }
    }
}

/// The sessions. Invariant: `sessions` and `by_deadline` hold the same
/// sessions, each entry's `key` being its key in `by_deadline`; `by_user`
/// holds every session of `sessions` under its user's id, and `by_tag`
/// under each of its tags, except the sessions a running `revoke_all` or
/// `revoke_tagged` took out and is removing.
struct State {
    /// By id. The id's text is shared with the two indexes, so each is
    /// stored once.
    sessions: HashMap<Arc<[u8]>, Entry, IdHashing>,
    /// By deadline: its front is the next session to sweep or evict.
    by_deadline: BTreeMap<Key, Arc<[u8]>>,
    /// By user id: the ids of each user's sessions.
    by_user: HashMap<Box<str>, IndexIds>,
    /// By tag: the ids of the sessions carrying each tag (the tag's text is
    /// shared with the sessions).
    by_tag: HashMap<Arc<str>, IndexIds>,
    ids: IdHashing,
    next_seq: u64,
    max_sessions: usize,
    /// How many entries the current and the busiest hold of the lock looked
    /// at, for the tests that prove the work per operation is bounded.
    #[cfg(test)]
    work: Work,
}

#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
struct Work {
    this_hold: usize,
    most_in_one_hold: usize,
}

impl State {
    fn new(max_sessions: usize) -> Self {
        let ids = IdHashing::new();
        Self {
            sessions: HashMap::with_hasher(ids.clone()),
            by_deadline: BTreeMap::new(),
            by_user: HashMap::new(),
            by_tag: HashMap::new(),
            ids,
            next_seq: 0,
            max_sessions,
            #[cfg(test)]
            work: Work::default(),
        }
    }

    /// Counts one entry looked at (tests only).
    #[inline]
    fn examined(&mut self) {
        #[cfg(test)]
        {
            self.work.this_hold += 1;
            self.work.most_in_one_hold = self.work.most_in_one_hold.max(self.work.this_hold);
        }
    }

    fn get(&mut self, id: &[u8]) -> Option<&Entry> {
        self.examined();
        self.sessions.get(id)
    }

    /// Inserts a session under an id the map does not hold.
    fn insert(&mut self, id: Arc<[u8]>, session: Session) {
        self.examined();
        let key = Key {
            deadline: session.deadline(),
            seq: self.next_seq,
        };
        // 2^64 creates do not happen; wrapping keeps this free of panics.
        self.next_seq = self.next_seq.wrapping_add(1);
        self.by_deadline.insert(key, Arc::clone(&id));
        let user_id = session.user().user_id();
        match self.by_user.get_mut(user_id) {
            Some(ids) => ids.insert(Arc::clone(&id), &self.ids),
            None => {
                self.by_user
                    .insert(user_id.into(), IndexIds::One(Arc::clone(&id)));
            }
        }
        for tag in session.shared_tags() {
            match self.by_tag.get_mut(&**tag) {
                Some(ids) => ids.insert(Arc::clone(&id), &self.ids),
                None => {
                    self.by_tag
                        .insert(Arc::clone(tag), IndexIds::One(Arc::clone(&id)));
                }
            }
        }
        self.sessions.insert(id, Entry { session, key });
    }

    /// Takes `id` out of the index entries of `session` (its user's, its
    /// tags'), where it is.
    fn unindex(&mut self, session: &Session, id: &[u8]) {
        let user_id = session.user().user_id();
        if let Some(ids) = self.by_user.get_mut(user_id) {
            if ids.remove(id) {
                self.by_user.remove(user_id);
            }
        }
        for tag in session.tags() {
            if let Some(ids) = self.by_tag.get_mut(tag) {
                if ids.remove(id) {
                    self.by_tag.remove(tag);
                }
            }
        }
    }

    fn remove(&mut self, id: &[u8]) -> Option<Entry> {
        self.examined();
        let entry = self.sessions.remove(id)?;
        self.by_deadline.remove(&entry.key);
        self.unindex(&entry.session, id);
        Some(entry)
    }

    /// Removes the session at the front of the deadline index if `pred`
    /// holds for its key; says whether it did.
    fn pop_front_if(&mut self, pred: impl FnOnce(Key) -> bool) -> bool {
        self.examined();
        let Some(front) = self.by_deadline.first_entry() else {
            return false;
        };
        if !pred(*front.key()) {
            return false;
        }
        let id = front.remove();
        if let Some(entry) = self.sessions.remove(&id) {
            self.unindex(&entry.session, &id);
        }
        true
    }

    /// Drops up to `limit` expired sessions, soonest expired first; returns
    /// how many it dropped.
    fn sweep(&mut self, now: SystemTime, limit: usize) -> usize {
        let mut dropped = 0;
        while dropped < limit && self.pop_front_if(|key| !key.is_live(now)) {
            dropped += 1;
        }
        dropped
    }

    /// Drops up to `limit` sessions whose deadlines come soonest while the
    /// store holds more than `keep`; returns how many it dropped.
    fn evict_down_to(&mut self, keep: usize, limit: usize) -> usize {
        let mut dropped = 0;
        while dropped < limit && self.sessions.len() > keep && self.pop_front_if(|_| true) {
            dropped += 1;
        }
        dropped
    }

    /// Stores `session` under `id`, after the bounded sweep and eviction;
    /// `false` (nothing done) when `id` is taken.
    fn create(&mut self, id: Arc<[u8]>, session: Session, now: SystemTime) -> bool {
        // A hash probe like the insert's, not counted apart.
        if self.sessions.contains_key(&id) {
            return false;
        }
        self.sweep(now, SWEEP_BATCH);
        if !session.is_live_at(now) {
            // Dead on arrival (a zero ttl): not stored, its id never loads.
            return true;
        }
        // Room for one more: evicts at most one session (a store above its
        // cap is being shrunk by `with_max_sessions`, which evicts the rest).
        self.evict_down_to(self.max_sessions.saturating_sub(1), 1);
        self.insert(id, session);
        true
    }

    fn load(&mut self, id: &[u8], now: SystemTime) -> Option<Session> {
        match self.get(id) {
            Some(entry) if entry.key.is_live(now) => Some(entry.session.clone().found_live_at(now)),
            Some(_) => {
                self.remove(id);
                None
            }
            None => None,
        }
    }

    /// Moves a live session's idle deadline later, to `at` (clamped to its
    /// absolute deadline); drops the session if it is expired.
    fn touch(&mut self, id: &[u8], at: SystemTime, now: SystemTime) {
        let Some(entry) = self.get(id) else {
            return;
        };
        if !entry.key.is_live(now) {
            self.remove(id);
            return;
        }
        let Some(idle) = entry.session.idle_expires_at() else {
            return;
        };
        let moved = entry.session.clone().with_idle_expires_at(at);
        if moved.idle_expires_at() <= Some(idle) {
            return;
        }
        let Some(entry) = self.sessions.get_mut(id) else {
            return;
        };
        let old = entry.key;
        let key = Key {
            deadline: moved.deadline(),
            seq: old.seq,
        };
        entry.session = moved;
        entry.key = key;
        if let Some(id) = self.by_deadline.remove(&old) {
            self.by_deadline.insert(key, id);
        }
    }

    /// The live sessions of `user_id`.
    fn list(&mut self, user_id: &str, now: SystemTime) -> Vec<Session> {
        let Some(ids) = self.by_user.get(user_id) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| self.sessions.get(id))
            .filter(|entry| entry.key.is_live(now))
            .map(|entry| entry.session.clone())
            .collect()
    }
}

/// The memory store's only failure: the operating system's random source did
/// not produce a session id.
#[derive(Debug)]
pub struct MemoryStoreError(std::io::Error);

impl fmt::Display for MemoryStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not generate a session id: {}", self.0)
    }
}

impl std::error::Error for MemoryStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// How many sessions a store holds at most unless
    /// [`with_max_sessions`](MemoryStore::with_max_sessions) says otherwise:
    /// 100,000.
    ///
    /// A session with a short profile (a name and an email) takes about 550
    /// to 650 bytes, its deadlines and the per-user index included
    /// (measured over 10,000 sessions: 545 bytes allocated per session when
    /// they are all one user's, 630 when each has a user of its own), so a
    /// full store takes some 60 MB: a safety net for a development server or
    /// a single process, far above what one normally holds, yet small enough
    /// that filling it, by mistake or on purpose, harms nothing else in the
    /// process. Ten times as much would let a flood of sign-ins take 600 MB.
    /// A session's [tags](Session::with_tag) add their text (kept once,
    /// shared with the index by tag) and an index entry each: a few dozen
    /// bytes for the short tags of an OpenID Connect sign-in.
    pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

    /// An empty store holding at most
    /// [`DEFAULT_MAX_SESSIONS`](MemoryStore::DEFAULT_MAX_SESSIONS) sessions.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new(Self::DEFAULT_MAX_SESSIONS)),
            }),
        }
    }

    /// Sets how many sessions the store (and every clone of it) holds at
    /// most; `0` is taken as `1`.
    ///
    /// A create on a full store evicts the session whose deadline comes
    /// soonest (see
    /// [`MemoryStore`] for the rule and why). Lowering the cap of a store that
    /// holds more sessions evicts the excess now, by the same rule, in
    /// batches that each hold the lock briefly.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use rstream_well_known::{MemoryStore, Session, SessionStore, User};
    ///
    /// # futures::executor::block_on(async {
    /// let store = MemoryStore::new().with_max_sessions(2);
    /// let now = SystemTime::now();
    /// let hours = |n| Session::new(User::new("ada"), now, now + n * Duration::from_secs(3600));
    /// let first = store.create(hours(1)).await?;
    /// let second = store.create(hours(2)).await?;
    /// let third = store.create(hours(3)).await?;
    /// assert_eq!(store.len(), 2);
    /// assert_eq!(store.load(&first).await?, None, "the one expiring soonest was evicted");
    /// assert!(store.load(&second).await?.is_some());
    /// assert!(store.load(&third).await?.is_some());
    /// # Ok::<(), rstream_well_known::MemoryStoreError>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn with_max_sessions(self, max_sessions: usize) -> Self {
        let max_sessions = max_sessions.max(1);
        self.lock().max_sessions = max_sessions;
        loop {
            let mut state = self.lock();
            let keep = state.max_sessions;
            if state.evict_down_to(keep, PURGE_BATCH) < PURGE_BATCH {
                break;
            }
        }
        self
    }

    /// How many sessions the store holds at most.
    pub fn max_sessions(&self) -> usize {
        self.lock().max_sessions
    }

    /// How many sessions the store holds, expired ones not yet dropped
    /// included.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every expired session now.
    ///
    /// It takes time in proportion to the number of expired sessions, not
    /// of all sessions, and releases the lock after every 1,024 so that
    /// lookups are not held up. Stores rarely need it: creates drop expired
    /// sessions as they go.
    pub fn purge_expired(&self) {
        let now = SystemTime::now();
        while self.lock().sweep(now, PURGE_BATCH) == PURGE_BATCH {}
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code that can panic runs while the lock is held (only the
        // crate's own map updates, user clones and drops), so the two maps
        // cannot be left out of step and poisoning is ignored.
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(test)]
        let state = {
            let mut state = state;
            state.work.this_hold = 0;
            state
        };
        state
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("sessions", &state.sessions.len())
            .field("max_sessions", &state.max_sessions)
            .finish()
    }
}

impl SessionStore for MemoryStore {
    type Error = MemoryStoreError;

    async fn create(&self, session: Session) -> Result<SessionId, MemoryStoreError> {
        loop {
            let id = SessionId::generate().map_err(MemoryStoreError)?;
            let key = Arc::from(id.as_bytes());
            // Never overwrites: on a collision (which 256 random bits make
            // astronomically unlikely), a new id.
            if self.lock().create(key, session.clone(), SystemTime::now()) {
                return Ok(id);
            }
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Session>, MemoryStoreError> {
        let now = SystemTime::now();
        Ok(self.lock().load(id.as_bytes(), now))
    }

    /// Always answers: the lookup is a bounded piece of work under the lock.
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, MemoryStoreError>> {
        let now = SystemTime::now();
        Some(Ok(self.lock().load(id.as_bytes(), now)))
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: SystemTime,
    ) -> Result<(), MemoryStoreError> {
        let now = SystemTime::now();
        self.lock().touch(id.as_bytes(), idle_expires_at, now);
        Ok(())
    }

    async fn revoke(&self, id: &SessionId) -> Result<(), MemoryStoreError> {
        // The session is dropped after the lock is released.
        let revoked = self.lock().remove(id.as_bytes());
        drop(revoked);
        Ok(())
    }
}

impl MemoryStore {
    /// Removes the sessions `ids` names (those still there), in batches of
    /// [`PURGE_BATCH`] per hold of the lock.
    fn remove_all(&self, ids: IndexIds) {
        let ids = ids.into_vec();
        for batch in ids.chunks(PURGE_BATCH) {
            let mut removed = Vec::with_capacity(batch.len());
            {
                let mut state = self.lock();
                for id in batch {
                    removed.push(state.remove(id));
                }
            }
            // Dropped after the lock is released.
            drop(removed);
        }
    }
}

impl RevokeAll for MemoryStore {
    async fn revoke_all(&self, user_id: &str) -> Result<(), MemoryStoreError> {
        // Out of the index at once: sessions created from now on are not
        // the ones being revoked.
        let ids = self.lock().by_user.remove(user_id);
        if let Some(ids) = ids {
            self.remove_all(ids);
        }
        Ok(())
    }

    async fn revoke_tagged(&self, tag: &str) -> Result<(), MemoryStoreError> {
        // As revoke_all: out of the index at once, then removed in batches.
        let ids = self.lock().by_tag.remove(tag);
        if let Some(ids) = ids {
            self.remove_all(ids);
        }
        Ok(())
    }
}

impl ListSessions for MemoryStore {
    async fn list(&self, user_id: &str) -> Result<Vec<Session>, MemoryStoreError> {
        let now = SystemTime::now();
        Ok(self.lock().list(user_id, now))
    }
}

#[cfg(test)]
mod tests {
    //! The work each operation does under the lock is bounded, whatever the
    //! store holds: counted, not timed. Time is passed in explicitly.

    use std::thread;
    use std::time::Duration;

    use futures::executor::block_on;

    use super::*;
    use crate::identity::User;
    use crate::store::after;
    use crate::store::session::latest;

    const MANY: usize = 10_000;
    const HOUR: Duration = Duration::from_secs(3600);

    impl State {
        /// The invariant: map and indexes hold the same sessions, under the
        /// same keys.
        fn check(&self) {
            assert_eq!(self.sessions.len(), self.by_deadline.len());
            for (key, id) in &self.by_deadline {
                assert_eq!(self.sessions[id].key, *key);
                assert_eq!(key.deadline, self.sessions[id].session.deadline());
            }
            let indexed: usize = self.by_user.values().map(|ids| ids.iter().count()).sum();
            assert_eq!(indexed, self.sessions.len());
            for (user, ids) in &self.by_user {
                assert!(ids.iter().next().is_some());
                for id in ids.iter() {
                    assert_eq!(self.sessions[id].session.user().user_id(), &**user);
                }
            }
            let tagged: usize = self.by_tag.values().map(|ids| ids.iter().count()).sum();
            let tags: usize = self.sessions.values().map(|e| e.session.tags().len()).sum();
            assert_eq!(tagged, tags);
            for (tag, ids) in &self.by_tag {
                assert!(ids.iter().next().is_some());
                for id in ids.iter() {
                    assert!(self.sessions[id].session.tags().any(|t| t == &**tag));
                }
            }
        }

        fn create_at(&mut self, user: &str, ttl: Duration, now: SystemTime) -> Arc<[u8]> {
            let id: Arc<[u8]> = Arc::from(SessionId::generate().unwrap().as_bytes());
            let session = Session::new(User::new(user), now, after(now, ttl));
            assert!(self.create(Arc::clone(&id), session, now));
            id
        }

        /// Starts counting anew, as taking the lock does.
        fn new_hold(&mut self) {
            self.work = Work::default();
        }
    }

    /// A store holding `MANY` sessions that all expired at `t0` (so by any
    /// later reading of the clock), created without sweeping.
    fn expired_together(t0: SystemTime) -> MemoryStore {
        let store = MemoryStore::new();
        {
            let mut state = store.lock();
            for _ in 0..MANY {
                let id: Arc<[u8]> = Arc::from(SessionId::generate().unwrap().as_bytes());
                state.insert(id, Session::new(User::new("gone"), t0, t0));
            }
            state.check();
            state.new_hold();
        }
        store
    }

    #[test]
    fn a_create_drops_a_bounded_number_of_expired_sessions() {
        let t0 = SystemTime::now();
        let store = expired_together(t0);
        let later = t0 + Duration::from_secs(2);
        let mut state = store.lock();
        let mut live = Vec::new();
        let mut creates = 0;
        while state.sessions.len() > live.len() {
            let before = state.sessions.len();
            state.new_hold();
            live.push(state.create_at("live", HOUR, later));
            creates += 1;
            // Up to SWEEP_BATCH expired sessions, the live one that stops
            // the sweep, the insert.
            assert!(
                state.work.most_in_one_hold <= SWEEP_BATCH + 2,
                "{:?}",
                state.work
            );
            let expired_before = before + 1 - live.len();
            assert_eq!(
                state.sessions.len(),
                before + 1 - SWEEP_BATCH.min(expired_before),
                "a create dropped more or fewer than its batch"
            );
        }
        assert_eq!(creates, MANY.div_ceil(SWEEP_BATCH));
        state.check();
        for id in &live {
            assert!(state.load(id, later).is_some());
        }
    }

    #[test]
    fn loads_look_at_one_entry() {
        let t0 = SystemTime::now();
        let store = expired_together(t0);
        let mut state = store.lock();
        let live = state.create_at("live", HOUR, t0);
        let expired = state.create_at("gone", Duration::from_secs(1), t0);
        let later = t0 + Duration::from_secs(2);

        state.new_hold();
        assert_eq!(
            state.load(&live, later).map(Session::into_user),
            Some(User::new("live"))
        );
        assert_eq!(state.work.most_in_one_hold, 1);

        state.new_hold();
        assert_eq!(state.load(b"never-issued", later), None);
        assert_eq!(state.work.most_in_one_hold, 1);

        // An expired session found by a lookup is dropped: a second entry.
        state.new_hold();
        assert_eq!(state.load(&expired, later), None);
        assert_eq!(state.work.most_in_one_hold, 2);
        assert!(!state.sessions.contains_key(&expired));
        state.check();
    }

    #[test]
    fn a_create_on_a_full_store_evicts_one_session() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new().with_max_sessions(MANY);
        let mut state = store.lock();
        for n in 0..MANY {
            state.create_at("live", HOUR + Duration::from_secs(n as u64), t0);
        }
        state.new_hold();
        state.create_at("one more", 2 * HOUR, t0);
        // The live front that stops the sweep, the evicted one, the insert.
        assert_eq!(state.work.most_in_one_hold, 3);
        assert_eq!(state.sessions.len(), MANY);
        state.check();
    }

    #[test]
    fn purging_holds_the_lock_for_a_bounded_batch() {
        let t0 = SystemTime::now();
        let store = expired_together(t0);
        {
            let mut state = store.lock();
            state.create_at("live", HOUR, t0);
            state.new_hold();
        }
        store.purge_expired();
        let state = store.lock();
        assert_eq!(state.sessions.len(), 1);
        assert!(
            state.work.most_in_one_hold <= PURGE_BATCH + 1,
            "{:?}",
            state.work
        );
        state.check();
    }

    #[test]
    fn lowering_the_cap_evicts_in_bounded_batches() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new();
        {
            let mut state = store.lock();
            for n in 0..MANY {
                state.create_at("live", HOUR + Duration::from_secs(n as u64), t0);
            }
            state.new_hold();
        }
        let store = store.with_max_sessions(10);
        let state = store.lock();
        assert_eq!(state.sessions.len(), 10);
        assert!(
            state.work.most_in_one_hold <= PURGE_BATCH + 1,
            "{:?}",
            state.work
        );
        // The ten that expire last are kept.
        let kept: Vec<Key> = state.by_deadline.keys().copied().collect();
        assert!(
            kept.iter().all(|key| key.seq >= (MANY - 10) as u64),
            "{kept:?}"
        );
        state.check();
    }

    #[test]
    fn a_cap_of_zero_is_one_and_huge_lifetimes_sort_last() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new().with_max_sessions(0);
        assert_eq!(store.max_sessions(), 1);
        let mut state = store.lock();
        let forever = state.create_at("forever", Duration::MAX, t0);
        assert_eq!(state.sessions[&forever].key.deadline, latest());
        assert_eq!(
            state
                .load(&forever, t0 + 1000 * HOUR)
                .map(Session::into_user),
            Some(User::new("forever"))
        );
        let next = state.create_at("next", HOUR, t0);
        assert_eq!(state.sessions.len(), 1);
        assert!(state.sessions.contains_key(&next));
        state.check();
        drop(state);

        let store = MemoryStore::new().with_max_sessions(2);
        let mut state = store.lock();
        let forever = state.create_at("forever", Duration::MAX, t0);
        let soon = state.create_at("soon", HOUR, t0);
        let later = state.create_at("later", 2 * HOUR, t0);
        assert!(
            state.sessions.contains_key(&forever),
            "never-expiring went first"
        );
        assert!(!state.sessions.contains_key(&soon));
        assert!(state.sessions.contains_key(&later));
        let last = state.create_at("last", 3 * HOUR, t0);
        assert!(state.sessions.contains_key(&forever));
        assert!(state.sessions.contains_key(&last));
        state.check();
    }

    #[test]
    fn concurrent_use_of_a_tiny_store_keeps_the_index_in_step() {
        let store = MemoryStore::new().with_max_sessions(4);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                thread::spawn(move || {
                    for n in 0..500 {
                        let ttl = Duration::from_millis((t * 7 + n) % 5);
                        let now = SystemTime::now();
                        let user = User::new(format!("u{}", n % 3));
                        let session = Session::new(user, now, after(now, ttl))
                            .with_idle_expires_at(now + Duration::from_millis(n % 4))
                            .with_tag(format!("t{}", n % 5))
                            .with_tag("all");
                        let id = block_on(store.create(session)).unwrap();
                        let _ = block_on(store.load(&id)).unwrap();
                        block_on(store.touch(&id, now + Duration::from_millis(3))).unwrap();
                        if n % 3 == 0 {
                            block_on(store.revoke(&id)).unwrap();
                        }
                        if n % 50 == 0 {
                            block_on(store.revoke_all("u1")).unwrap();
                        }
                        if n % 40 == 0 {
                            block_on(store.revoke_tagged("t2")).unwrap();
                        }
                        assert!(store.len() <= 4);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        store.lock().check();
        store.purge_expired();
        store.lock().check();
    }

    #[test]
    fn a_touch_moves_the_session_in_the_index_and_never_revives() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new();
        let mut state = store.lock();
        let id: Arc<[u8]> = Arc::from(SessionId::generate().unwrap().as_bytes());
        let session =
            Session::new(User::new("ada"), t0, t0 + 4 * HOUR).with_idle_expires_at(t0 + HOUR);
        assert!(state.create(Arc::clone(&id), session, t0));
        let other = state.create_at("grace", 2 * HOUR, t0);

        state.new_hold();
        state.touch(&id, t0 + 3 * HOUR, t0 + HOUR / 2);
        assert_eq!(state.work.most_in_one_hold, 1, "one lookup, no scan");
        assert_eq!(state.sessions[&id].key.deadline, t0 + 3 * HOUR);
        // Never earlier, never past the absolute deadline.
        state.touch(&id, t0 + 2 * HOUR, t0 + HOUR / 2);
        assert_eq!(state.sessions[&id].key.deadline, t0 + 3 * HOUR);
        state.touch(&id, t0 + 9 * HOUR, t0 + HOUR / 2);
        assert_eq!(state.sessions[&id].key.deadline, t0 + 4 * HOUR);
        state.check();
        // The grace session now comes first in the index.
        assert_eq!(
            state.by_deadline.first_key_value().map(|(_, id)| id),
            Some(&other)
        );

        // A session without an idle deadline is left as it is.
        state.touch(&other, t0 + 3 * HOUR, t0);
        assert_eq!(state.sessions[&other].key.deadline, t0 + 2 * HOUR);

        // An expired session is dropped, not revived.
        state.touch(&other, t0 + 3 * HOUR, t0 + 2 * HOUR);
        assert!(!state.sessions.contains_key(&other));
        state.check();
    }

    #[test]
    fn the_tag_index_goes_with_its_sessions_however_they_end() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new().with_max_sessions(3);
        let tagged = |user: &str, ttl: Duration, tags: &[&str]| {
            tags.iter().fold(
                Session::new(User::new(user), t0, after(t0, ttl)),
                |session, tag| session.with_tag(*tag),
            )
        };
        let mut state = store.lock();
        let create = |state: &mut State, session: Session| {
            let id: Arc<[u8]> = Arc::from(SessionId::generate().unwrap().as_bytes());
            assert!(state.create(Arc::clone(&id), session, t0));
            id
        };
        // Expired, then swept by a create.
        let short = create(
            &mut state,
            tagged("ada", Duration::from_secs(1), &["a", "b"]),
        );
        let later = t0 + Duration::from_secs(2);
        assert_eq!(state.by_tag.len(), 2);
        state.check();
        assert!(state.create(
            Arc::from(SessionId::generate().unwrap().as_bytes()),
            tagged("bob", HOUR, &["b"]),
            later
        ));
        assert!(!state.sessions.contains_key(&short));
        assert!(!state.by_tag.contains_key("a"));
        assert_eq!(state.by_tag["b"].iter().count(), 1);
        state.check();
        // Revoked one by one, found expired by a lookup, evicted.
        let revoked = create(&mut state, tagged("ada", HOUR, &["c"]));
        state.remove(&revoked);
        assert!(!state.by_tag.contains_key("c"));
        let idle = create(
            &mut state,
            tagged("ada", HOUR, &["d"]).with_idle_expires_at(t0 + Duration::from_secs(1)),
        );
        assert_eq!(state.load(&idle, later), None);
        assert!(!state.by_tag.contains_key("d"));
        state.check();
        for n in 0..4 {
            create(
                &mut state,
                tagged("eve", HOUR + Duration::from_secs(n), &["e"]),
            );
        }
        assert_eq!(state.sessions.len(), 3);
        assert_eq!(
            state.by_tag["e"].iter().count(),
            3,
            "evictions left entries"
        );
        assert!(!state.by_tag.contains_key("b"));
        state.check();
    }

    #[test]
    fn revoke_tagged_holds_the_lock_for_bounded_batches_and_spares_others() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new();
        let (untagged, other) = {
            let mut state = store.lock();
            for n in 0..MANY {
                let id: Arc<[u8]> = Arc::from(SessionId::generate().unwrap().as_bytes());
                let user = User::new(if n % 2 == 0 { "ada" } else { "bob" });
                let session = Session::new(user, t0, t0 + HOUR).with_tag("sid:1");
                assert!(state.create(id, session, t0));
            }
            let untagged = state.create_at("ada", HOUR, t0);
            let other: Arc<[u8]> = Arc::from(SessionId::generate().unwrap().as_bytes());
            let session = Session::new(User::new("ada"), t0, t0 + HOUR).with_tag("sid:2");
            assert!(state.create(Arc::clone(&other), session, t0));
            state.check();
            state.new_hold();
            (untagged, other)
        };
        block_on(store.revoke_tagged("sid:1")).unwrap();
        let state = store.lock();
        assert!(
            state.work.most_in_one_hold <= PURGE_BATCH,
            "{:?}",
            state.work
        );
        assert_eq!(state.sessions.len(), 2);
        assert!(state.sessions.contains_key(&untagged));
        assert!(state.sessions.contains_key(&other));
        assert!(!state.by_tag.contains_key("sid:1"));
        assert_eq!(state.by_user["ada"].iter().count(), 2);
        assert!(!state.by_user.contains_key("bob"));
        state.check();
    }

    #[test]
    fn revoke_all_holds_the_lock_for_bounded_batches_and_spares_others() {
        let t0 = SystemTime::now();
        let store = MemoryStore::new();
        let grace = {
            let mut state = store.lock();
            for _ in 0..MANY {
                state.create_at("ada", HOUR, t0);
            }
            let grace = state.create_at("grace", HOUR, t0);
            state.new_hold();
            grace
        };
        block_on(store.revoke_all("ada")).unwrap();
        let state = store.lock();
        assert!(
            state.work.most_in_one_hold <= PURGE_BATCH,
            "{:?}",
            state.work
        );
        assert_eq!(state.sessions.len(), 1);
        assert!(state.sessions.contains_key(&grace));
        assert!(!state.by_user.contains_key("ada"));
        state.check();
    }
}
