//! [`Session`]: a session as a store keeps it.

use std::time::{Duration, SystemTime};

use crate::identity::User;

/// A session as a store keeps it: the user and its deadlines.
///
/// Deadlines are wall-clock times ([`SystemTime`]), so that several
/// instances sharing one store agree on them.
///
/// - [`expires_at`](Session::expires_at) is the absolute end: nothing
///   extends a session past it.
/// - [`idle_expires_at`](Session::idle_expires_at), when set, is the idle
///   end: activity moves it later ([`SessionStore::touch`]), never past
///   `expires_at`.
///
/// The session loads strictly before its [`deadline`](Session::deadline),
/// the earlier of the two.
///
/// **Range.** Every time is clamped into 1970-01-01T00:00:00Z ..=
/// 9999-12-31T23:59:59Z (`UNIX_EPOCH` + [`MAX_SECS_SINCE_EPOCH`] seconds),
/// so that every store can keep it as an unsigned count of milliseconds
/// since the Unix epoch: a deadline later than that is that instant (a
/// session that outlives any deployment), an earlier one the epoch (a
/// session that never loads).
///
/// [`SessionStore::touch`]: crate::SessionStore::touch
/// [`MAX_SECS_SINCE_EPOCH`]: Session::MAX_SECS_SINCE_EPOCH
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rstream_well_known::{Session, User};
///
/// let now = SystemTime::now();
/// let session = Session::new(User::new("ada"), now, now + Duration::from_secs(8 * 3600))
///     .with_idle_expires_at(now + Duration::from_secs(1800));
/// assert_eq!(session.deadline(), now + Duration::from_secs(1800));
/// assert!(session.is_live_at(now));
/// assert!(!session.is_live_at(now + Duration::from_secs(1800)));
/// ```
#[derive(Clone)]
pub struct Session {
    user: User,
    created_at: SystemTime,
    expires_at: SystemTime,
    idle_expires_at: Option<SystemTime>,
    /// When one of the crate's own stores found the session live, the clock
    /// reading it took for that: the layer then checks the deadline
    /// at that reading instead of reading the clock again (a clock read
    /// costs tens of nanoseconds on every signed-in request). Not part of
    /// the session's value: equality and `Debug` ignore it, and only the
    /// crate sets it.
    live_at: Option<SystemTime>,
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        self.user == other.user
            && self.created_at == other.created_at
            && self.expires_at == other.expires_at
            && self.idle_expires_at == other.idle_expires_at
    }
}

impl Eq for Session {}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .finish()
    }
}

impl Session {
    /// The latest time a session keeps, in seconds after the Unix epoch:
    /// 9999-12-31T23:59:59Z.
    pub const MAX_SECS_SINCE_EPOCH: u64 = 253_402_300_799;

    /// A session of `user`, created at `created_at`, ending at `expires_at`,
    /// without an idle deadline. Times are clamped to the range described
    /// on [`Session`].
    pub fn new(user: User, created_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            user,
            created_at: clamp(created_at),
            expires_at: clamp(expires_at),
            idle_expires_at: None,
            live_at: None,
        }
    }

    /// Sets the idle deadline, clamped to [`expires_at`](Session::expires_at)
    /// (and to the range described on [`Session`]).
    #[must_use]
    pub fn with_idle_expires_at(mut self, at: SystemTime) -> Self {
        self.idle_expires_at = Some(clamp(at).min(self.expires_at));
        self
    }

    /// The session's user.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// Takes the user out of the session.
    pub fn into_user(self) -> User {
        self.user
    }

    /// When the session was created.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// The absolute end: the session never loads at or after it.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The idle end, when the session has an idle timeout; never later than
    /// [`expires_at`](Session::expires_at).
    pub fn idle_expires_at(&self) -> Option<SystemTime> {
        self.idle_expires_at
    }

    /// `min(expires_at, idle_expires_at)`: when the session stops loading.
    pub fn deadline(&self) -> SystemTime {
        match self.idle_expires_at {
            Some(idle) => idle.min(self.expires_at),
            None => self.expires_at,
        }
    }

    /// Whether the session is live at `now`: `now < deadline()`.
    pub fn is_live_at(&self, now: SystemTime) -> bool {
        now < self.deadline()
    }

    /// The session as the crate's store returns it when it found it live at
    /// `now` (a reading of the clock it took for that lookup).
    pub(crate) fn found_live_at(mut self, now: SystemTime) -> Self {
        self.live_at = Some(now);
        self
    }

    /// The session if it is live at a fresh reading of the clock, carrying
    /// that reading ([`found_live_at`](Self::found_live_at)): what the
    /// crate's stores that keep whole sessions return from a lookup.
    #[cfg(any(feature = "redis", feature = "tower-sessions-core-0_14"))]
    pub(crate) fn live_now(self) -> Option<Self> {
        let now = SystemTime::now();
        self.is_live_at(now).then(|| self.found_live_at(now))
    }

    /// The clock reading at which the crate's store found the session live,
    /// if it did: a reading taken for this very lookup, which the layer may
    /// use as "now" instead of reading the clock again.
    pub(crate) fn live_at(&self) -> Option<SystemTime> {
        self.live_at
    }
}

/// The latest time a session keeps (see [`Session`]).
pub(crate) fn latest() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(Session::MAX_SECS_SINCE_EPOCH)
}

/// `time` within the range a session keeps.
fn clamp(time: SystemTime) -> SystemTime {
    time.clamp(SystemTime::UNIX_EPOCH, latest())
}

/// `now + ttl`, saturated at the latest time a session keeps: a ttl too
/// large for the clock never panics.
pub(crate) fn after(now: SystemTime, ttl: Duration) -> SystemTime {
    now.checked_add(ttl).map_or_else(latest, clamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_clamped_and_the_earlier_one_counts() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let plain = Session::new(User::new("a"), now, now + hour);
        assert_eq!(plain.deadline(), now + hour);
        assert_eq!(plain.idle_expires_at(), None);

        // The idle deadline never passes the absolute one.
        let clamped = plain.clone().with_idle_expires_at(now + 2 * hour);
        assert_eq!(clamped.idle_expires_at(), Some(now + hour));
        assert_eq!(clamped.deadline(), now + hour);

        // Huge and pre-epoch times.
        let huge = Session::new(User::new("a"), now, after(now, Duration::MAX));
        assert_eq!(huge.expires_at(), latest());
        assert!(huge.is_live_at(now));
        let old = SystemTime::UNIX_EPOCH - hour;
        let ancient = Session::new(User::new("a"), old, old);
        assert_eq!(ancient.created_at(), SystemTime::UNIX_EPOCH);
        assert!(!ancient.is_live_at(now));

        // Zero ttl: dead at once.
        let zero = Session::new(User::new("a"), now, after(now, Duration::ZERO));
        assert!(!zero.is_live_at(now));
        assert_eq!(
            after(now, Duration::from_secs(u64::MAX)),
            latest(),
            "saturates"
        );
    }

    #[test]
    fn the_stores_clock_reading_is_not_part_of_the_session() {
        let now = SystemTime::now();
        let session = Session::new(User::new("a"), now, now + Duration::from_secs(60));
        let found = session.clone().found_live_at(now);
        assert_eq!(found.live_at(), Some(now));
        assert_eq!(session.live_at(), None);
        assert_eq!(found, session);
        assert_eq!(format!("{found:?}"), format!("{session:?}"));
    }
}
