//! The in-memory [`SessionStore`]: the embedded default.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::identity::User;
use crate::store::{SessionId, SessionStore};

/// A process-local session store with expiry.
///
/// Sessions live in a map behind a mutex. Expired sessions never load, and
/// the store cleans up after itself without a background task: an expired
/// session is dropped when it is looked up, and every
/// [`sweep_interval`](MemoryStore::sweep_interval) (one minute by default) the
/// next `create` sweeps the whole map. Cloning the store shares the map.
///
/// Sessions do not survive a restart and are not shared between processes;
/// use a networked store for that.
///
/// ```
/// use std::time::Duration;
/// use rstream_well_known::{MemoryStore, SessionStore, User};
///
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// let id = store.create(User::new("ada"), Duration::from_secs(60)).await?;
/// assert_eq!(store.load(&id).await?.map(|u| u.user_id().to_owned()), Some("ada".into()));
/// store.revoke(&id).await?;
/// assert_eq!(store.load(&id).await?, None);
/// # Ok::<(), rstream_well_known::MemoryStoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    sweep_interval: Duration,
}

struct State {
    sessions: HashMap<SessionId, Entry>,
    /// When the next create sweeps; `None`: never by time (the interval is
    /// too large for the clock).
    next_sweep: Option<Instant>,
}

struct Entry {
    user: User,
    expires_at: Instant,
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
    /// An empty store that sweeps expired sessions every minute.
    pub fn new() -> Self {
        Self::with_sweep_interval(Duration::from_secs(60))
    }

    /// An empty store that sweeps expired sessions at most every `interval`.
    ///
    /// An interval too large for the clock (such as [`Duration::MAX`]) means
    /// "never sweep by time": expired sessions are then dropped only when
    /// looked up or by [`purge_expired`](MemoryStore::purge_expired).
    pub fn with_sweep_interval(interval: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    sessions: HashMap::new(),
                    next_sweep: Instant::now().checked_add(interval),
                }),
                sweep_interval: interval,
            }),
        }
    }

    /// How often the map is swept for expired sessions.
    pub fn sweep_interval(&self) -> Duration {
        self.shared.sweep_interval
    }

    /// How many sessions the map holds, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether the map holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every expired session now.
    pub fn purge_expired(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.sessions.retain(|_, entry| entry.expires_at > now);
        state.next_sweep = now.checked_add(self.shared.sweep_interval);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every update is a single insert or remove), so poisoning is ignored.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("sweep_interval", &self.shared.sweep_interval)
            .finish()
    }
}

impl SessionStore for MemoryStore {
    type Error = MemoryStoreError;

    async fn create(&self, user: User, ttl: Duration) -> Result<SessionId, MemoryStoreError> {
        let id = SessionId::generate().map_err(MemoryStoreError)?;
        let now = Instant::now();
        // A ttl too large for the clock means "as long as the clock goes".
        let expires_at = now
            .checked_add(ttl)
            .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
            .unwrap_or(now);
        let mut state = self.lock();
        if state.next_sweep.is_some_and(|next| now >= next) {
            state.sessions.retain(|_, entry| entry.expires_at > now);
            state.next_sweep = now.checked_add(self.shared.sweep_interval);
        }
        state
            .sessions
            .insert(id.clone(), Entry { user, expires_at });
        Ok(id)
    }

    async fn load(&self, id: &SessionId) -> Result<Option<User>, MemoryStoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        match state.sessions.get(id) {
            Some(entry) if entry.expires_at > now => Ok(Some(entry.user.clone())),
            Some(_) => {
                state.sessions.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn revoke(&self, id: &SessionId) -> Result<(), MemoryStoreError> {
        self.lock().sessions.remove(id);
        Ok(())
    }
}
