//! [`SessionManager`]: what sign-in code calls to create a session and issue
//! its cookie.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use crate::backend::catch_panic;
use crate::cookie::SessionCookie;
use crate::credentials::CookieFinder;
use crate::error::ConfigError;
use crate::forward::safe_return_url;
use crate::identity::User;
use crate::store::{SessionId, SessionStore};

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
/// let sessions = layer.session_manager().expect("sessions are enabled");
/// let signed_in = sessions.sign_in(User::new("ada")).await?;
/// let set_cookie = signed_in.set_cookie().to_str()?;
/// assert!(set_cookie.starts_with("__Host-rstream_session="));
/// assert!(set_cookie.contains("HttpOnly"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct SessionManager<St> {
    store: Arc<St>,
    cookie: Arc<CookieHeaders>,
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
            cookie: Arc::clone(&self.cookie),
        }
    }
}

impl<St> fmt::Debug for SessionManager<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("cookie", &self.cookie.config)
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

/// Why a sign-in failed.
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
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SignInError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignInError::Store(e) => Some(e),
            SignInError::InvalidSessionId | SignInError::StorePanicked => None,
        }
    }
}

impl<St: SessionStore> SessionManager<St> {
    pub(crate) fn new(store: St, cookie: CookieHeaders) -> Self {
        Self {
            store: Arc::new(store),
            cookie: Arc::new(cookie),
        }
    }

    /// Creates a fresh session for `user` (lasting the cookie's max age) and
    /// returns the cookie that carries it.
    ///
    /// # Errors
    ///
    /// [`SignInError::Store`] when the store fails, and
    /// [`SignInError::StorePanicked`] when it panics; no cookie is issued then.
    pub async fn sign_in(&self, user: User) -> Result<SignedIn, SignInError<St::Error>> {
        let id = catch_panic(|| self.store.create(user, self.cookie.config.lifetime()))
            .await
            .map_err(|_| SignInError::StorePanicked)?
            .map_err(SignInError::Store)?;
        let set_cookie = self
            .cookie
            .config
            .issue(&id)
            .ok_or(SignInError::InvalidSessionId)?;
        Ok(SignedIn { id, set_cookie })
    }

    /// The `Set-Cookie` value that removes the session cookie, for
    /// applications that end sessions themselves (after revoking the session
    /// in the store).
    pub fn removal_cookie(&self) -> HeaderValue {
        self.cookie.removal.clone()
    }

    /// Finds the session cookie in a request's `Cookie` fields.
    pub(crate) fn cookie_finder(&self) -> &CookieFinder {
        &self.cookie.finder
    }

    /// The cookie configuration.
    pub fn cookie(&self) -> &SessionCookie {
        &self.cookie.config
    }

    /// The session store.
    pub fn store(&self) -> &St {
        &self.store
    }
}

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
    /// let sessions = layer.session_manager().expect("session auth is on");
    /// assert_eq!(sessions.safe_return_url("/orders?page=2"), Some("/orders?page=2"));
    /// assert_eq!(sessions.safe_return_url("//evil.example"), None);
    /// assert_eq!(sessions.safe_return_url(r"/\evil.example"), None);
    /// assert_eq!(sessions.safe_return_url("https://evil.example/"), None);
    /// # Ok::<(), rstream_well_known::ConfigError>(())
    /// ```
    pub fn safe_return_url<'a>(&self, candidate: &'a str) -> Option<&'a str> {
        safe_return_url(candidate)
    }
}
