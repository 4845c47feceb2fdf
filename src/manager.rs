//! [`SessionManager`]: what sign-in code calls to create a session and issue
//! its cookie.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::HOST;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, StatusCode};

use crate::backend::{self, BackendTimeout, Deadline, Failure, guarded};
use crate::credentials::{CookieFinder, CookieValues, Fields, MAX_REVOCATIONS};
use crate::error::ConfigError;
use crate::identity::User;
use crate::origin::same_origin;
use crate::return_url::safe_return_url;
use crate::session_cookie::SessionCookie;
use crate::store::{ListSessions, RevokeAll, Session, SessionId, SessionStore, after};
use crate::tunnel::{HostMatch, RequestHost, Tunnels};

/// The largest profile [`SessionManager::sign_in`] stores, in bytes of the
/// user's JSON (`userId`, `name`, `email`, `image` and the attributes, as
/// [`User`] serialises): 16 KiB.
///
/// A profile is copied into every session and, minus the attributes, into
/// every session endpoint answer; 16 KiB is far above any real profile (a
/// few hundred bytes, a few KiB with roles and claims) and keeps a store
/// entry well within what every store accepts in one value.
pub const MAX_PROFILE_BYTES: usize = 16 * 1024;

/// Signs users in: creates a session in the store and issues the session
/// cookie with the layer's [`SessionCookie`] configuration, the same one
/// logout uses to clear it.
///
/// Get one from [`WellKnownLayer::session_manager`](crate::WellKnownLayer::session_manager)
/// and call it from your sign-in handler once the user proved who they are.
/// Every sign-in gets a fresh id from the store; an id presented by the client
/// is never reused, so a session cannot be fixed by an attacker.
///
/// ```
/// use rstream_well_known::{MemoryStore, SessionCookie, Tunnel, User, WellKnownLayer};
///
/// # futures::executor::block_on(async {
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
///     .with_session_store(MemoryStore::new())
///     .build()?;
/// let sessions = layer.session_manager();
/// let signed_in = sessions.sign_in(User::new("ada")).await?;
/// let set_cookie = signed_in.set_cookie().to_str()?;
/// assert!(set_cookie.starts_with("__Host-rstream_session="));
/// assert!(set_cookie.contains("HttpOnly"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct SessionManager<St> {
    store: Arc<St>,
    shared: Arc<Shared>,
}

/// The session settings every clone of a manager shares.
#[derive(Debug)]
struct Shared {
    cookie: CookieHeaders,
    /// The idle timeout, when sessions slide.
    idle_timeout: Option<Duration>,
    /// How much of the idle window may be left before a use extends it: a
    /// touch happens once a quarter of the idle timeout has passed since the
    /// last extension.
    touch_when_left: Duration,
    /// How long one call may wait for the store, when bounded.
    timeout: Option<BackendTimeout>,
    /// The layer's tunnels, for [`SessionManager::check_origin`].
    tunnels: Arc<Tunnels>,
}

/// The validated cookie configuration and its precomputed removal header.
#[derive(Debug)]
pub(crate) struct CookieHeaders {
    pub(crate) config: SessionCookie,
    pub(crate) removal: HeaderValue,
    /// Finds the cookie's values in a request's `Cookie` fields.
    finder: CookieFinder,
}

impl CookieHeaders {
    pub(crate) fn new(config: SessionCookie) -> Result<Self, ConfigError> {
        config.validate()?;
        let removal = config.removal().ok_or(ConfigError::InvalidSessionCookie(
            "the cookie does not form a valid header",
        ))?;
        let finder = CookieFinder::new(config.cookie_name());
        Ok(Self {
            config,
            removal,
            finder,
        })
    }
}

impl<St> Clone for SessionManager<St> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<St> fmt::Debug for SessionManager<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("cookie", &self.shared.cookie.config)
            .field("idle_timeout", &self.shared.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// A completed sign-in: the new session's id and the `Set-Cookie` header
/// value to send with the response.
#[derive(Debug, Clone)]
pub struct SignedIn {
    id: SessionId,
    set_cookie: HeaderValue,
}

impl SignedIn {
    /// The new session's id.
    pub fn session_id(&self) -> &SessionId {
        &self.id
    }

    /// The `Set-Cookie` value that issues the session cookie.
    pub fn set_cookie(&self) -> &HeaderValue {
        &self.set_cookie
    }

    /// Takes the `Set-Cookie` value.
    pub fn into_set_cookie(self) -> HeaderValue {
        self.set_cookie
    }
}

/// Why a sign-in failed. No cookie is issued then.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignInError<E> {
    /// The store could not create the session.
    Store(E),
    /// The store returned an id that a cookie cannot carry.
    InvalidSessionId,
    /// The store panicked while creating the session (the panic was caught;
    /// no session was issued).
    StorePanicked,
    /// The store did not answer within the backend timeout
    /// ([`WellKnownBuilder::backend_timeout`](crate::WellKnownBuilder::backend_timeout));
    /// the call was dropped. A session may or may not have been stored; its
    /// id was never issued, so it is never used.
    TimedOut,
    /// The user's id is empty: a session must name someone (the session
    /// endpoint's `userId` is never empty). Nothing was stored.
    EmptyUserId,
    /// The user's profile, as JSON, is larger than
    /// [`MAX_PROFILE_BYTES`](crate::MAX_PROFILE_BYTES). Nothing was stored.
    ProfileTooLarge {
        /// The profile's size, in bytes of JSON.
        size: usize,
        /// The largest size accepted.
        limit: usize,
    },
    /// [`sign_in_tagged`](SessionManager::sign_in_tagged) was given more
    /// distinct tags than a session carries
    /// ([`Session::MAX_TAGS`]). Nothing was stored.
    TooManyTags {
        /// The most distinct tags a session carries.
        limit: usize,
    },
    /// [`sign_in_tagged`](SessionManager::sign_in_tagged) was given a tag
    /// longer than a session keeps ([`Session::MAX_TAG_LEN`]). Nothing was
    /// stored.
    TagTooLong {
        /// The tag's length, in bytes of UTF-8.
        size: usize,
        /// The longest tag accepted.
        limit: usize,
    },
}

impl<E: fmt::Display> fmt::Display for SignInError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignInError::Store(e) => write!(f, "the session store failed: {e}"),
            SignInError::InvalidSessionId => {
                f.write_str("the session store returned an id a cookie cannot carry")
            }
            SignInError::StorePanicked => {
                f.write_str("the session store panicked while creating the session")
            }
            SignInError::TimedOut => {
                f.write_str("the session store did not answer within the backend timeout")
            }
            SignInError::EmptyUserId => f.write_str("the user id is empty"),
            SignInError::ProfileTooLarge { size, limit } => write!(
                f,
                "the user profile takes {size} bytes, more than the {limit} a session keeps"
            ),
            SignInError::TooManyTags { limit } => {
                write!(f, "more than the {limit} distinct tags a session carries")
            }
            SignInError::TagTooLong { size, limit } => write!(
                f,
                "a session tag takes {size} bytes, more than the {limit} a session keeps"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SignInError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignInError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a store call made through the [`SessionManager`]
/// ([`revoke_all`](SessionManager::revoke_all),
/// [`revoke_tagged`](SessionManager::revoke_tagged),
/// [`sessions_of`](SessionManager::sessions_of)) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreCallError<E> {
    /// The store returned an error.
    Store(E),
    /// The store panicked (the panic was caught).
    Panicked,
    /// The store did not answer within the backend timeout; the call was
    /// dropped.
    TimedOut,
}

impl<E: fmt::Display> fmt::Display for StoreCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreCallError::Store(e) => write!(f, "the session store failed: {e}"),
            StoreCallError::Panicked => f.write_str("the session store panicked"),
            StoreCallError::TimedOut => {
                f.write_str("the session store did not answer within the backend timeout")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StoreCallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreCallError::Store(e) => Some(e),
            StoreCallError::Panicked | StoreCallError::TimedOut => None,
        }
    }
}

/// The size of `user`'s JSON, counted without building it.
fn profile_size(user: &User) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail; a user is always serialisable.
    let _ = serde_json::to_writer(&mut count, user);
    count.0
}

impl<St: SessionStore> SessionManager<St> {
    pub(crate) fn new(
        store: St,
        cookie: CookieHeaders,
        idle_timeout: Option<Duration>,
        timeout: Option<BackendTimeout>,
    ) -> Self {
        let touch_when_left = idle_timeout.map_or(Duration::ZERO, |idle| idle - idle / 4);
        Self {
            store: Arc::new(store),
            shared: Arc::new(Shared {
                cookie,
                idle_timeout,
                touch_when_left,
                timeout,
                tunnels: Arc::default(),
            }),
        }
    }

    /// The manager of a layer with these tunnels (for
    /// [`check_origin`](Self::check_origin)).
    pub(crate) fn with_tunnels(mut self, tunnels: Arc<Tunnels>) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.tunnels = tunnels,
            // Never shared yet when the layer is built.
            None => debug_assert!(false, "a new manager is not shared"),
        }
        self
    }

    /// Calls the store through `make`, catching panics and bounded by the
    /// backend timeout.
    pub(crate) async fn store_call<T, F, Fut>(
        &self,
        make: F,
    ) -> Result<T, StoreCallError<St::Error>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, St::Error>>,
    {
        let mut deadline = Deadline::new(self.shared.timeout.as_ref());
        match guarded(&mut deadline, make).await {
            Ok(result) => result.map_err(StoreCallError::Store),
            Err(Failure::Panicked) => Err(StoreCallError::Panicked),
            Err(Failure::TimedOut) => Err(StoreCallError::TimedOut),
        }
    }

    /// Creates a fresh session for `user` and returns the cookie that
    /// carries it.
    ///
    /// The session ends at the latest after the absolute lifetime (the
    /// cookie's [`max_age`](SessionCookie::max_age)) and, with an idle
    /// timeout ([`WellKnownBuilder::idle_timeout`](crate::WellKnownBuilder::idle_timeout)),
    /// once it has not been used for that long. Both deadlines are computed
    /// here, from the wall clock; a lifetime too large for the clock
    /// saturates (see [`Session`]).
    ///
    /// # Errors
    ///
    /// [`SignInError::EmptyUserId`] for a user whose id is empty,
    /// [`SignInError::ProfileTooLarge`] for a profile larger than
    /// [`MAX_PROFILE_BYTES`] (both before the store is called),
    /// [`SignInError::Store`] when the store fails,
    /// [`SignInError::StorePanicked`] when it panics, and
    /// [`SignInError::TimedOut`] when it does not answer within the backend
    /// timeout; no cookie is issued then.
    pub async fn sign_in(&self, user: User) -> Result<SignedIn, SignInError<St::Error>> {
        self.sign_in_tagged(user, []).await
    }

    /// As [`sign_in`](Self::sign_in), the session carrying `tags` (see
    /// [`Session::with_tag`]), so that
    /// [`revoke_tagged`](Self::revoke_tagged) ends it with every other
    /// session carrying one of them. The OpenID Connect sign-in tags its
    /// sessions with the provider session and the provider's user they came
    /// from.
    ///
    /// A tag given twice is carried once. Tags are never logged nor echoed
    /// in errors.
    ///
    /// ```
    /// use rstream_well_known::{MemoryStore, Tunnel, User, WellKnownLayer};
    ///
    /// # futures::executor::block_on(async {
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .build()?;
    /// let sessions = layer.session_manager();
    /// let laptop = sessions.sign_in_tagged(User::new("ada"), ["sid:1".to_owned()]).await?;
    /// let phone = sessions.sign_in_tagged(User::new("ada"), ["sid:2".to_owned()]).await?;
    /// sessions.revoke_tagged("sid:1").await?;
    /// let left = sessions.sessions_of("ada").await?;
    /// assert_eq!(left.len(), 1);
    /// assert_eq!(left[0].tags().collect::<Vec<_>>(), ["sid:2"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`sign_in`](Self::sign_in), and, before the store is called,
    /// [`SignInError::TooManyTags`] for more than [`Session::MAX_TAGS`]
    /// distinct tags and [`SignInError::TagTooLong`] for a tag longer than
    /// [`Session::MAX_TAG_LEN`] bytes: a session that silently lacked a tag
    /// would survive the revocation meant for it.
    pub async fn sign_in_tagged(
        &self,
        user: User,
        tags: impl IntoIterator<Item = String>,
    ) -> Result<SignedIn, SignInError<St::Error>> {
        if user.user_id().is_empty() {
            return Err(SignInError::EmptyUserId);
        }
        let size = profile_size(&user);
        if size > MAX_PROFILE_BYTES {
            return Err(SignInError::ProfileTooLarge {
                size,
                limit: MAX_PROFILE_BYTES,
            });
        }
        let mut session = self.new_session(user, SystemTime::now());
        for tag in tags {
            if tag.len() > Session::MAX_TAG_LEN {
                return Err(SignInError::TagTooLong {
                    size: tag.len(),
                    limit: Session::MAX_TAG_LEN,
                });
            }
            if session.tags().len() == Session::MAX_TAGS && !session.tags().any(|had| had == tag) {
                return Err(SignInError::TooManyTags {
                    limit: Session::MAX_TAGS,
                });
            }
            session = session.with_tag(tag);
        }
        let id = self
            .store_call(|| self.store.create(session))
            .await
            .map_err(|e| match e {
                StoreCallError::Store(e) => SignInError::Store(e),
                StoreCallError::Panicked => SignInError::StorePanicked,
                StoreCallError::TimedOut => SignInError::TimedOut,
            })?;
        let set_cookie = self
            .shared
            .cookie
            .config
            .issue(&id)
            .ok_or(SignInError::InvalidSessionId)?;
        Ok(SignedIn { id, set_cookie })
    }

    /// A session of `user` starting at `now`, with this manager's
    /// deadlines.
    fn new_session(&self, user: User, now: SystemTime) -> Session {
        let session = Session::new(user, now, after(now, self.shared.cookie.config.lifetime()));
        match self.shared.idle_timeout {
            Some(idle) => session.with_idle_expires_at(after(now, idle)),
            None => session,
        }
    }

    /// When a use of `session` at `now` should move its idle deadline, the
    /// new deadline: only for a session with an idle deadline, on a layer
    /// with an idle timeout, once a quarter of the idle timeout has passed
    /// since the last extension, and when the deadline would move later
    /// (not past the absolute end).
    pub(crate) fn touch_due(&self, session: &Session, now: SystemTime) -> Option<SystemTime> {
        let idle = self.shared.idle_timeout?;
        let current = session.idle_expires_at()?;
        let left = current.duration_since(now).unwrap_or(Duration::ZERO);
        if left > self.shared.touch_when_left {
            return None;
        }
        let target = after(now, idle).min(session.expires_at());
        (target > current).then_some(target)
    }

    /// The idle timeout, when sessions slide.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.shared.idle_timeout
    }

    /// The `Set-Cookie` value that removes the session cookie, for
    /// applications that end sessions themselves (after revoking the session
    /// in the store).
    pub fn removal_cookie(&self) -> HeaderValue {
        self.shared.cookie.removal.clone()
    }

    /// Finds the session cookie in a request's `Cookie` fields.
    pub(crate) fn cookie_finder(&self) -> &CookieFinder {
        &self.shared.cookie.finder
    }

    /// The cookie configuration.
    pub fn cookie(&self) -> &SessionCookie {
        &self.shared.cookie.config
    }

    /// The session store.
    pub fn store(&self) -> &St {
        &self.store
    }
}

/// Why [`SessionManager::check_origin`] refused a request: it may come
/// from another site, or its host is not a tunnel the check can compare
/// with. Its [`status`](Self::status) and [`reason`](Self::reason) make
/// the answer (`{"error":"<reason>"}`, `no-store`), as logout's refusals do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossOriginRequest {
    reason: &'static str,
}

impl CrossOriginRequest {
    /// `403` for a request from another origin or for a host that is no
    /// tunnel, `400` for a missing, repeated or ambiguous host.
    pub fn status(self) -> StatusCode {
        match self.reason {
            "invalid_host" | "ambiguous_host" => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The stable reason: `cross_origin_request` (fetch metadata says
    /// another site or origin), `origin_mismatch` (`Origin` or `Referer`
    /// names another origin), `unknown_host` (the host is no tunnel),
    /// `invalid_host` or `ambiguous_host`.
    pub fn reason(self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for CrossOriginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request refused as cross-origin: {}", self.reason)
    }
}

impl std::error::Error for CrossOriginRequest {}

impl<St> SessionManager<St> {
    /// `candidate` when a sign-in handler may send the browser there after
    /// signing in: a path on the current origin (the tunnel origin the
    /// sign-in page is served on) that no browser or server reads as
    /// leading anywhere else; `None` otherwise, and the handler then uses a
    /// default (`/`).
    ///
    /// The layer's sign-in redirect (see
    /// [`WellKnownBuilder::sign_in_url`](crate::WellKnownBuilder::sign_in_url))
    /// carries such a path as its return parameter, but the parameter comes
    /// back from the browser, where anyone can write it: check it before
    /// redirecting to it, or the sign-in page is an open redirect.
    ///
    /// A safe return URL starts with `/`, is printable ASCII without `\`
    /// (no space, tab, newline or other control: browsers drop tabs and
    /// newlines, so `/%09/evil` sent raw would be `//evil`), is at most 2,048 bytes,
    /// and its path, percent-decoded as often as it decodes, neither starts
    /// with two separators (`//evil`, `/\evil`, `/%2F/evil`, `/%5Cevil`,
    /// `/%252F/evil`), nor with a non-ASCII character (`/%EF%BC%8Fevil`,
    /// a fullwidth solidus), nor has a `.` or `..` segment (`/..//evil`),
    /// nor a control character. Absolute URLs (`https://…`, even of this
    /// origin, `https://app@evil`) and scheme-relative ones are refused:
    /// the layer never sends one, and a path needs no origin.
    ///
    /// ```
    /// use rstream_well_known::{MemoryStore, Tunnel, WellKnownLayer};
    ///
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .build()?;
    /// let sessions = layer.session_manager();
    /// assert_eq!(sessions.safe_return_url("/orders?page=2"), Some("/orders?page=2"));
    /// assert_eq!(sessions.safe_return_url("//evil.example"), None);
    /// assert_eq!(sessions.safe_return_url(r"/\evil.example"), None);
    /// assert_eq!(sessions.safe_return_url("https://evil.example/"), None);
    /// # Ok::<(), rstream_well_known::ConfigError>(())
    /// ```
    pub fn safe_return_url<'a>(&self, candidate: &'a str) -> Option<&'a str> {
        safe_return_url(candidate)
    }

    /// Refuses a request that may come from another site, with the rule
    /// logout uses ([the ruling](crate::guide::rulings#the-logout-endpoint)): fetch metadata first (a
    /// `Sec-Fetch-Site` other than `same-origin` or `none`), then `Origin`
    /// and `Referer`, which, when present, must both name the origin of the
    /// tunnel the request is for. A sign-in handler calls it before
    /// [`sign_in`](Self::sign_in), so that no other site can sign a visitor
    /// into an account of its choosing (login cross-site request forgery).
    ///
    /// The request's tunnel is found from its host as the layer finds it: a
    /// host that is no tunnel of the layer (`unknown_host`), or a missing,
    /// repeated or ambiguous one, is refused. Requests without fetch
    /// metadata, `Origin` or `Referer` (scripts, servers) pass.
    ///
    /// ```
    /// use http::Request;
    /// use rstream_well_known::{MemoryStore, Tunnel, WellKnownLayer};
    ///
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .build()?;
    /// let sessions = layer.session_manager();
    /// let same_site = Request::post("/login")
    ///     .header("host", "app.example.com")
    ///     .header("origin", "https://app.example.com")
    ///     .body(())?;
    /// assert!(sessions.check_origin(&same_site).is_ok());
    /// let forged = Request::post("/login")
    ///     .header("host", "app.example.com")
    ///     .header("origin", "https://evil.example")
    ///     .body(())?;
    /// assert_eq!(sessions.check_origin(&forged).unwrap_err().reason(), "origin_mismatch");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CrossOriginRequest`] with the reason.
    pub fn check_origin<B>(&self, request: &Request<B>) -> Result<(), CrossOriginRequest> {
        self.check_origin_of(request.uri(), request.version(), request.headers())
    }

    /// [`check_origin`](Self::check_origin) for a request's [`Parts`].
    ///
    /// # Errors
    ///
    /// [`CrossOriginRequest`] with the reason.
    pub fn check_origin_parts(&self, parts: &Parts) -> Result<(), CrossOriginRequest> {
        self.check_origin_of(&parts.uri, parts.version, &parts.headers)
    }

    fn check_origin_of(
        &self,
        uri: &http::Uri,
        version: http::Version,
        headers: &HeaderMap,
    ) -> Result<(), CrossOriginRequest> {
        let mut hosts = headers.get_all(HOST).iter();
        let field = hosts.next();
        let host = RequestHost {
            uri,
            version,
            field,
            repeated: hosts.next().is_some(),
        };
        let tunnel = match self.shared.tunnels.for_request(&host) {
            HostMatch::Tunnel(tunnel) => tunnel,
            HostMatch::None => {
                return Err(CrossOriginRequest {
                    reason: "unknown_host",
                });
            }
            HostMatch::Invalid(reason) => return Err(CrossOriginRequest { reason }),
        };
        same_origin(headers, tunnel.origin_ref()).map_err(|reason| CrossOriginRequest { reason })
    }
}

impl<St: RevokeAll> SessionManager<St> {
    /// Signs `user_id` out everywhere: ends every session of that user that
    /// exists when the call starts (see [`RevokeAll`]). Their cookies stop
    /// working on every instance that shares the store; the browsers keep
    /// them until they expire or the user signs out (logout then clears
    /// them). Only for stores that implement [`RevokeAll`].
    ///
    /// ```
    /// use rstream_well_known::{MemoryStore, Tunnel, User, WellKnownLayer};
    ///
    /// # futures::executor::block_on(async {
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .build()?;
    /// let sessions = layer.session_manager();
    /// let laptop = sessions.sign_in(User::new("ada")).await?;
    /// let phone = sessions.sign_in(User::new("ada")).await?;
    /// assert_eq!(sessions.sessions_of("ada").await?.len(), 2);
    /// sessions.revoke_all("ada").await?;
    /// assert!(sessions.sessions_of("ada").await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreCallError`] when the store fails, panics or does not answer
    /// within the backend timeout; sessions may then have survived: try
    /// again.
    pub async fn revoke_all(&self, user_id: &str) -> Result<(), StoreCallError<St::Error>> {
        self.store_call(|| self.store.revoke_all(user_id)).await
    }

    /// Ends every session carrying `tag` (see
    /// [`sign_in_tagged`](Self::sign_in_tagged)) that exists when the call
    /// starts, whatever its user (see [`RevokeAll::revoke_tagged`]). As
    /// with [`revoke_all`](Self::revoke_all), their cookies stop working on
    /// every instance that shares the store. A tag no session carries is
    /// `Ok`. Only for stores that implement [`RevokeAll`].
    ///
    /// # Errors
    ///
    /// [`StoreCallError`] when the store fails, panics or does not answer
    /// within the backend timeout; sessions may then have survived: try
    /// again.
    pub async fn revoke_tagged(&self, tag: &str) -> Result<(), StoreCallError<St::Error>> {
        self.store_call(|| self.store.revoke_tagged(tag)).await
    }
}

impl<St: ListSessions> SessionManager<St> {
    /// The live sessions of `user_id` (for a "your devices" page), in no
    /// particular order. Only for stores that implement [`ListSessions`].
    ///
    /// # Errors
    ///
    /// [`StoreCallError`] when the store fails, panics or does not answer
    /// within the backend timeout.
    pub async fn sessions_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<Session>, StoreCallError<St::Error>> {
        self.store_call(|| self.store.list(user_id)).await
    }
}

/// The sign-in kit: what a sign-in endpoint needs to offer the protections
/// the layer's own endpoints offer, on the public API (the crate's OpenID
/// Connect sign-in is built on it alone). With
/// [`check_origin`](Self::check_origin), [`safe_return_url`](Self::safe_return_url),
/// [`sign_in`](Self::sign_in) and [`sign_in_tagged`](Self::sign_in_tagged).
impl<St: SessionStore> SessionManager<St> {
    /// The tunnel a request is for, found from its host as the layer finds
    /// it: build URLs the browser comes back to (a redirect URI, a
    /// post-logout URL) from its [`origin`](crate::Tunnel::origin), never
    /// from `Host` or forwarding headers.
    ///
    /// ```
    /// use http::Request;
    /// use rstream_well_known::{MemoryStore, Tunnel, WellKnownLayer};
    ///
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .build()?;
    /// let sessions = layer.session_manager();
    /// let (parts, ()) = Request::get("/login").header("host", "app.example.com").body(())?.into_parts();
    /// assert_eq!(sessions.tunnel_of(&parts)?.origin(), "https://app.example.com");
    /// let (parts, ()) = Request::get("/login").header("host", "evil.example").body(())?.into_parts();
    /// assert_eq!(sessions.tunnel_of(&parts).unwrap_err().reason(), "unknown_host");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CrossOriginRequest`] for a host that is no tunnel of the layer
    /// (`unknown_host`, `403`), or a missing, repeated or ambiguous one
    /// (`400`).
    pub fn tunnel_of(&self, parts: &Parts) -> Result<crate::Tunnel, CrossOriginRequest> {
        let mut hosts = parts.headers.get_all(HOST).iter();
        let field = hosts.next();
        let host = RequestHost {
            uri: &parts.uri,
            version: parts.version,
            field,
            repeated: hosts.next().is_some(),
        };
        match self.shared.tunnels.for_request(&host) {
            HostMatch::Tunnel(tunnel) => Ok(tunnel.into_owned()),
            HostMatch::None => Err(CrossOriginRequest {
                reason: "unknown_host",
            }),
            HostMatch::Invalid(reason) => Err(CrossOriginRequest { reason }),
        }
    }

    /// The ids of the sessions a request presents: every distinct
    /// well-formed value of the session cookie, the real one beside any a
    /// sibling site planted (cookie tossing), as logout reads them. `None`
    /// when it presents more than the layer revokes (16): revoking only some
    /// could leave the real one working, so refuse the request then
    /// (`400 too_many_session_cookies`, as logout does).
    pub fn presented_sessions(&self, headers: &HeaderMap) -> Option<Vec<SessionId>> {
        let cookies =
            Fields::<MAX_REVOCATIONS>::read(headers, None, false, Some(&self.shared.cookie.finder))
                .cookies;
        match cookies {
            CookieValues::TooMany => None,
            cookies => Some(cookies.ids().collect()),
        }
    }

    /// Revokes every session of `ids` (from
    /// [`presented_sessions`](Self::presented_sessions)): what a sign-in
    /// does before minting a fresh session (no session fixation), and what
    /// a sign-out does. Logout revokes through this same routine.
    ///
    /// Every id is tried, even after a failure, within one backend timeout
    /// for them all; the call fails when any revocation failed. A browser
    /// must then not be told it is signed out, nor be signed in (the old
    /// session could still work once the store recovers): answer `503
    /// session_store_unavailable`.
    ///
    /// # Errors
    ///
    /// The first [`StoreCallError`] met, once every id was tried; each
    /// failure is logged (feature `tracing`), without the id.
    pub async fn revoke_sessions(
        &self,
        ids: &[SessionId],
    ) -> Result<(), StoreCallError<St::Error>> {
        let mut deadline = Deadline::new(self.shared.timeout.as_ref());
        self.revoke_ids(ids.iter().cloned(), &mut deadline).await
    }

    /// The session of `id` as the store has it (`None` when it has none),
    /// through the same guards as every call the layer makes: a panic is
    /// caught, and the backend timeout applies. Liveness is not checked:
    /// see [`Session::is_live_at`].
    ///
    /// # Errors
    ///
    /// [`StoreCallError`] when the store fails, panics or does not answer
    /// within the backend timeout.
    pub async fn load_session(
        &self,
        id: &SessionId,
    ) -> Result<Option<Session>, StoreCallError<St::Error>> {
        self.store_call(|| self.store.load(id)).await
    }

    /// [`revoke_sessions`](Self::revoke_sessions) within `deadline`.
    pub(crate) async fn revoke_ids(
        &self,
        ids: impl IntoIterator<Item = SessionId>,
        deadline: &mut Deadline<'_>,
    ) -> Result<(), StoreCallError<St::Error>> {
        let mut first_failure = None;
        for id in ids {
            let failure = match guarded(deadline, || self.store.revoke(&id)).await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => {
                    backend::failure("session store (revoke)", &e);
                    StoreCallError::Store(e)
                }
                Err(why) => {
                    backend::failure("session store (revoke)", &why);
                    match why {
                        Failure::Panicked => StoreCallError::Panicked,
                        Failure::TimedOut => StoreCallError::TimedOut,
                    }
                }
            };
            first_failure.get_or_insert(failure);
        }
        first_failure.map_or(Ok(()), Err)
    }
}
