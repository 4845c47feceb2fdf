//! [`Session`]: a session as a store keeps it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::identity::User;

/// A session as a store keeps it: the user, its deadlines and its tags.
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
/// **Tags.** A session may carry up to [`MAX_TAGS`](Session::MAX_TAGS)
/// tags ([`with_tag`](Session::with_tag)): keys that stores implementing
/// [`RevokeAll`] index it under, so that
/// [`RevokeAll::revoke_tagged`] ends every session carrying one. The
/// OpenID Connect sign-in tags its sessions with the provider session and
/// the provider's user they came from, so that the provider's back-channel
/// logout can end them.
///
/// **Stored form.** [`encode`](Session::encode) and
/// [`decode`](Session::decode) turn a session into bytes and back, in one
/// versioned form that the crate's Redis and tower-sessions stores keep and
/// that a store of your own can keep too.
///
/// [`SessionStore::touch`]: crate::SessionStore::touch
/// [`MAX_SECS_SINCE_EPOCH`]: Session::MAX_SECS_SINCE_EPOCH
/// [`RevokeAll`]: crate::RevokeAll
/// [`RevokeAll::revoke_tagged`]: crate::RevokeAll::revoke_tagged
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
    tags: Tags,
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
            && self.tags().eq(other.tags())
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
            .field("tags", &self.tags.as_slice())
            .finish()
    }
}

impl Session {
    /// The latest time a session keeps, in seconds after the Unix epoch:
    /// 9999-12-31T23:59:59Z.
    pub const MAX_SECS_SINCE_EPOCH: u64 = 253_402_300_799;

    /// The most tags a session carries: 8.
    pub const MAX_TAGS: usize = 8;

    /// The longest tag a session carries, in bytes of UTF-8: 512.
    pub const MAX_TAG_LEN: usize = 512;

    /// A session of `user`, created at `created_at`, ending at `expires_at`,
    /// without an idle deadline. Times are clamped to the range described
    /// on [`Session`].
    pub fn new(user: User, created_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            user,
            created_at: clamp(created_at),
            expires_at: clamp(expires_at),
            idle_expires_at: None,
            tags: Tags::default(),
            live_at: None,
        }
    }

    /// Adds a tag: a key the session is indexed under by stores that
    /// implement [`RevokeAll`](crate::RevokeAll), so that
    /// [`RevokeAll::revoke_tagged`](crate::RevokeAll::revoke_tagged) ends
    /// every session carrying it (the OpenID Connect sign-in tags its
    /// sessions with the provider session and the provider's user they came
    /// from).
    ///
    /// A session carries at most [`MAX_TAGS`](Session::MAX_TAGS) (8) tags of
    /// at most [`MAX_TAG_LEN`](Session::MAX_TAG_LEN) (512) bytes each, so
    /// that every store can index them within a bounded cost. A tag the
    /// session already carries changes nothing (the session is found by it
    /// either way). A tag longer than the limit, or one beyond the eighth,
    /// is **not added**: check [`tags`](Session::tags) when building
    /// sessions yourself.
    /// [`SessionManager::sign_in_tagged`](crate::SessionManager::sign_in_tagged)
    /// refuses such tags before anything is stored
    /// ([`SignInError::TooManyTags`](crate::SignInError::TooManyTags),
    /// [`SignInError::TagTooLong`](crate::SignInError::TagTooLong)), since
    /// a session missing a tag would survive the revocation meant for it.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use rstream_well_known::{Session, User};
    ///
    /// let now = SystemTime::now();
    /// let session = Session::new(User::new("ada"), now, now + Duration::from_secs(3600))
    ///     .with_tag("sid:abc")
    ///     .with_tag("sub:ada")
    ///     .with_tag("sid:abc");
    /// assert_eq!(session.tags().collect::<Vec<_>>(), ["sid:abc", "sub:ada"]);
    /// ```
    #[must_use]
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if tag.len() <= Self::MAX_TAG_LEN
            && self.tags.len() < Self::MAX_TAGS
            && !self.tags().any(|had| had == tag)
        {
            self.tags.push(tag.into());
        }
        self
    }

    /// The session's tags, in the order they were added (see
    /// [`with_tag`](Session::with_tag)).
    pub fn tags(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.tags.as_slice().iter().map(|tag| &**tag)
    }

    /// The tags as shared texts, for a store's index to share them.
    pub(crate) fn shared_tags(&self) -> &[Arc<str>] {
        self.tags.as_slice()
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

    /// The session if it is live at a fresh reading of the clock (`None`
    /// when it is past its [`deadline`](Session::deadline)): what a store's
    /// [`load`](crate::SessionStore::load) returns for a session it found.
    ///
    /// The session carries that reading, and the layer checks the deadline
    /// at it instead of reading the clock again (a clock read costs tens of
    /// nanoseconds on every signed-in request). The reading is not part of
    /// the session's value: equality, `Debug` and [`encode`](Session::encode)
    /// ignore it. A store that returns a session without calling this is
    /// just as correct; the layer then reads the clock itself.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use rstream_well_known::{Session, User};
    ///
    /// let now = SystemTime::now();
    /// let live = Session::new(User::new("ada"), now, now + Duration::from_secs(60));
    /// assert!(live.live_now().is_some());
    /// let over = Session::new(User::new("ada"), now, now);
    /// assert!(over.live_now().is_none());
    /// ```
    #[must_use]
    pub fn live_now(self) -> Option<Self> {
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

/// # Stored form
///
/// One serialised form of a session, for every store that keeps whole
/// sessions: the crate's Redis store keeps it in the session's hash, the
/// tower-sessions adapter in the record's `data` map, and a store of your
/// own can keep it as it is (a column, a value, a file). It is a JSON
/// object (UTF-8):
///
/// ```text
/// {"v":1,"user":{…},"createdAt":…,"expiresAt":…,"idleExpiresAt":…,"tags":[…]}
/// ```
///
/// - `v`: the form's version, [`STORED_VERSION`](Session::STORED_VERSION);
/// - `user`: the [`User`] as it serialises (`userId`; `name`, `email` and
///   `image`, `null` when unknown; `attributes` when there are some);
/// - `createdAt`, `expiresAt`, `idleExpiresAt`: milliseconds since the Unix
///   epoch (times read back are the stored ones rounded down to the
///   millisecond, which every store keeps at least); `idleExpiresAt` only
///   for a session with an idle deadline;
/// - `tags`: the session's [tags](Session::with_tag) in order, only for a
///   session that has some.
///
/// **Versions.** A later crate version may add fields without changing
/// `v`: [`decode`](Session::decode) ignores fields it does not know, so
/// instances of two crate versions can share a store during a rolling
/// upgrade. A change that this version would misread raises `v`, and this
/// version refuses such a value
/// ([`SessionDecodeError::UnsupportedVersion`]) rather than guess; the
/// layer then treats the session as not there (the session endpoint
/// answers not authenticated) and never as another user.
///
/// **What it holds.** Everything [`load`](crate::SessionStore::load) must
/// give back, and nothing secret beyond the user's profile: never the
/// session id, which a store keeps only as a key, and preferably as a
/// digest of it (see [`SessionStore`](crate::SessionStore)). The clock
/// reading of [`live_now`](Session::live_now) is not part of it.
impl Session {
    /// The version of the [stored form](#stored-form) that
    /// [`encode`](Session::encode) writes and [`decode`](Session::decode)
    /// reads: 1.
    pub const STORED_VERSION: u64 = 1;

    /// The session in the [stored form](#stored-form), as JSON bytes.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use rstream_well_known::{Session, User};
    ///
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let session = Session::new(User::new("ada"), now, now + Duration::from_secs(3600))
    ///     .with_tag("sid:1");
    /// let bytes = session.encode();
    /// assert_eq!(
    ///     std::str::from_utf8(&bytes)?,
    ///     r#"{"v":1,"user":{"userId":"ada","name":null,"email":null,"image":null},"createdAt":1700000000000,"expiresAt":1700003600000,"tags":["sid:1"]}"#
    /// );
    /// assert_eq!(Session::decode(&bytes)?, session);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        // Strings, numbers and a JSON map: serialising cannot fail.
        serde_json::to_vec(&self.stored()).unwrap_or_default()
    }

    /// A session from its [stored form](#stored-form).
    ///
    /// # Errors
    ///
    /// [`SessionDecodeError::UnsupportedVersion`] for a value of another
    /// version, [`SessionDecodeError::Corrupt`] for bytes that are not a
    /// value of the form (an empty value, another encoding, a field of the
    /// wrong type). Neither panics nor yields another session; neither
    /// error's text quotes the value.
    ///
    /// ```
    /// use rstream_well_known::{Session, SessionDecodeError};
    ///
    /// assert_eq!(
    ///     Session::decode(br#"{"v":2,"anything":"else"}"#),
    ///     Err(SessionDecodeError::UnsupportedVersion(2))
    /// );
    /// assert_eq!(Session::decode(b"\x01\x01"), Err(SessionDecodeError::Corrupt));
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Self, SessionDecodeError> {
        from_stored(serde_json::from_slice(bytes), || {
            serde_json::from_slice::<Version>(bytes).ok()
        })
    }

    /// The stored form as a JSON value, for stores that keep JSON values
    /// (the tower-sessions adapter).
    #[cfg(feature = "tower-sessions-core-0_14")]
    pub(crate) fn encode_value(&self) -> serde_json::Value {
        serde_json::to_value(self.stored()).unwrap_or_default()
    }

    /// [`decode`](Session::decode) of a JSON value.
    #[cfg(feature = "tower-sessions-core-0_14")]
    pub(crate) fn decode_value(value: &serde_json::Value) -> Result<Self, SessionDecodeError> {
        from_stored(Stored::deserialize(value), || {
            Version::deserialize(value).ok()
        })
    }

    fn stored(&self) -> Stored<'_> {
        Stored {
            v: Self::STORED_VERSION,
            user: std::borrow::Cow::Borrowed(&self.user),
            created_at: millis(self.created_at),
            expires_at: millis(self.expires_at),
            idle_expires_at: self.idle_expires_at.map(millis),
            tags: self.tags().map(std::borrow::Cow::Borrowed).collect(),
        }
    }
}

/// The session as the [stored form](Session#stored-form) spells it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored<'a> {
    v: u64,
    user: std::borrow::Cow<'a, User>,
    created_at: u64,
    expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<std::borrow::Cow<'a, str>>,
}

/// The version of a value that is not a session of this version's form.
#[derive(Deserialize)]
struct Version {
    v: u64,
}

/// The session `parsed` holds, or why not: when it did not parse,
/// `version` tells a value of another version from one that is no value
/// of the form.
fn from_stored<E>(
    parsed: Result<Stored<'_>, E>,
    version: impl FnOnce() -> Option<Version>,
) -> Result<Session, SessionDecodeError> {
    let stored = match parsed {
        Ok(stored) if stored.v == Session::STORED_VERSION => stored,
        Ok(Stored { v, .. }) => return Err(SessionDecodeError::UnsupportedVersion(v)),
        // The parser's error is dropped: its text can quote the profile.
        Err(_) => {
            return Err(match version() {
                Some(Version { v }) if v != Session::STORED_VERSION => {
                    SessionDecodeError::UnsupportedVersion(v)
                }
                _ => SessionDecodeError::Corrupt,
            });
        }
    };
    let session = stored.tags.into_iter().fold(
        Session::new(
            stored.user.into_owned(),
            from_millis(stored.created_at),
            from_millis(stored.expires_at),
        ),
        Session::with_tag,
    );
    Ok(match stored.idle_expires_at {
        Some(idle) => session.with_idle_expires_at(from_millis(idle)),
        None => session,
    })
}

/// Why [`Session::decode`] refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionDecodeError {
    /// The value is of another version of the
    /// [stored form](Session#stored-form) (the number is its `v`), written
    /// by a crate version this one cannot read.
    UnsupportedVersion(u64),
    /// The value is not one of the stored form.
    Corrupt,
}

impl fmt::Display for SessionDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion(version) => write!(
                f,
                "a stored session has version {version}, which this crate version cannot read \
                 (it reads version {})",
                Session::STORED_VERSION
            ),
            Self::Corrupt => f.write_str("a stored session does not follow the stored form"),
        }
    }
}

impl std::error::Error for SessionDecodeError {}

/// Milliseconds since the Unix epoch (a session's times are within
/// 1970..=9999, so this fits).
pub(crate) fn millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The time `ms` milliseconds after the Unix epoch, at most the latest time
/// a session keeps.
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .map_or_else(latest, |at| at.min(latest()))
}

/// A session's tags: shared, so that the clone every lookup makes costs no
/// allocation; none (the common case) allocates nothing.
#[derive(Clone, Default)]
struct Tags(Option<Arc<[Arc<str>]>>);

impl Tags {
    fn as_slice(&self) -> &[Arc<str>] {
        self.0.as_deref().unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn push(&mut self, tag: Arc<str>) {
        let mut tags = self.as_slice().to_vec();
        tags.push(tag);
        self.0 = Some(tags.into());
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
    fn tags_are_bounded_and_kept_once_in_order() {
        let now = SystemTime::now();
        let plain = Session::new(User::new("a"), now, now + Duration::from_secs(60));
        let longest = "x".repeat(Session::MAX_TAG_LEN);
        let tagged = plain
            .clone()
            .with_tag("b")
            .with_tag("a")
            .with_tag("b")
            .with_tag(longest.clone())
            .with_tag(format!("{longest}x"));
        assert_eq!(tagged.tags().collect::<Vec<_>>(), ["b", "a", &longest]);
        assert_ne!(tagged, plain, "tags are part of the session");
        assert!(format!("{tagged:?}").contains("tags"));

        let full = (0..20).fold(plain, |session, n| session.with_tag(n.to_string()));
        assert_eq!(full.tags().len(), Session::MAX_TAGS);
        assert_eq!(full.tags().last(), Some("7"));
        // Clones share the tags.
        let clone = full.clone();
        assert!(std::ptr::eq(clone.shared_tags(), full.shared_tags()));
    }

    #[test]
    fn the_stored_form_round_trips_to_the_millisecond() {
        let now = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let user = User::new("ada")
            .with_name("Ada")
            .with_email("ada@example.com")
            .with_attribute("roles", serde_json::json!(["admin"]));
        let session = Session::new(user, now, now + Duration::from_secs(3600))
            .with_idle_expires_at(now + Duration::from_millis(1500))
            .with_tag("sid:1")
            .with_tag("sub:ü");
        let back = Session::decode(&session.encode()).unwrap();
        assert_eq!(back.user(), session.user());
        assert_eq!(back.tags().collect::<Vec<_>>(), ["sid:1", "sub:ü"]);
        let ms = |at: SystemTime| millis(at);
        assert_eq!(back.created_at(), from_millis(ms(now)));
        assert_eq!(ms(back.created_at()), 1_700_000_000_123);
        assert_eq!(ms(back.expires_at()), ms(session.expires_at()));
        assert_eq!(back.idle_expires_at().map(ms), Some(1_700_000_001_623));
        // Encoding what was decoded gives the same bytes.
        assert_eq!(back.encode(), session.encode());
        // The store's clock reading is not in it.
        assert_eq!(back.clone().found_live_at(now).encode(), back.encode());
    }

    #[test]
    fn the_stored_form_ignores_new_fields_and_refuses_other_versions() {
        // A whole millisecond: what the form keeps.
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let session = Session::new(User::new("ada"), now, now + Duration::from_secs(60));
        let mut value: serde_json::Value = serde_json::from_slice(&session.encode()).unwrap();
        value["device"] = "phone".into();
        let newer = serde_json::to_vec(&value).unwrap();
        assert_eq!(Session::decode(&newer), Ok(session.clone()));

        value["v"] = 7.into();
        let other = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            Session::decode(&other),
            Err(SessionDecodeError::UnsupportedVersion(7))
        );
        let error = Session::decode(br#"{"v":3,"user":"secret@example.com"}"#).unwrap_err();
        assert_eq!(error, SessionDecodeError::UnsupportedVersion(3));
        assert!(error.to_string().contains("version 3"), "{error}");
        for corrupt in [
            &br#"{"v":"1","user":{"userId":"a"},"createdAt":0,"expiresAt":0}"#[..],
            br#"{"v":1,"user":{"userId":"secret@example.com"},"createdAt":-1,"expiresAt":0}"#,
            br#"{"v":1,"user":{"userId":"a"},"createdAt":0,"expiresAt":0,"tags":"x"}"#,
            b"",
            b"\x01\x01\x00",
        ] {
            let error = Session::decode(corrupt).unwrap_err();
            assert_eq!(error, SessionDecodeError::Corrupt, "{corrupt:?}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        // Times past the range are clamped, not refused.
        let far =
            br#"{"v":1,"user":{"userId":"a"},"createdAt":0,"expiresAt":18446744073709551615}"#;
        assert_eq!(Session::decode(far).unwrap().expires_at(), latest());
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)) {
            let _ = Session::decode(&bytes);
        }
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
