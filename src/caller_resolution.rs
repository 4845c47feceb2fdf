//! Who is calling: the token first (header, then query parameter), then the
//! session cookie.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use http::{Method, Uri};
use pin_project_lite::pin_project;

use crate::backend::{self, Deadline, Reached};
use crate::caller::Unauthenticated;
use crate::config::Config;
use crate::credentials::{CookieValues, PresentedToken};
use crate::identity::{AuthMethod, Identity};
use crate::store::{Session, SessionId, SessionStore};
use crate::token::{TokenContext, TokenVerdict, TokenVerifier};
use crate::tunnel::Tunnel;

/// The head of a well-known request, owned by the part of its answer that
/// awaits the backends.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
}

/// A request's credentials, read once from its head before anything is
/// awaited: a request that presents nothing is answered without waiting.
///
/// The token is borrowed from the request's header fields
/// ([`into_owned`](Found::into_owned) for the part of an answer that awaits).
#[derive(Debug)]
pub(crate) struct Found<'h, const N: usize> {
    /// The bearer token, when token auth is enabled.
    pub(crate) token: PresentedToken<'h>,
    /// At most `N` distinct session cookie values, when session auth is
    /// enabled.
    pub(crate) cookies: CookieValues<'h, N>,
}

impl<const N: usize> Found<'_, N> {
    /// The same credentials, owning the token's text.
    pub(crate) fn into_owned(self) -> Found<'static, N> {
        Found {
            token: self.token.into_owned(),
            cookies: self.cookies.into_owned(),
        }
    }

    /// Whether there is no token to verify and no cookie value at all.
    pub(crate) fn is_empty(&self) -> bool {
        !matches!(self.token, PresentedToken::Token(_)) && self.cookies.is_empty()
    }

    /// Why a request that [`is_empty`](Self::is_empty) is not
    /// authenticated: a malformed token counts as an invalid one.
    pub(crate) fn unauthenticated(&self) -> Unauthenticated {
        match self.token {
            PresentedToken::Malformed => Unauthenticated::InvalidToken,
            PresentedToken::Absent | PresentedToken::Token(_) => Unauthenticated::NoCredentials,
        }
    }
}

/// What resolving a request found: who is calling, or why nobody is.
#[derive(Debug)]
pub(crate) enum Resolution {
    Authenticated(Identity),
    Unauthenticated(Unauthenticated),
}

impl Resolution {
    /// The caller, when authenticated.
    pub(crate) fn identity(self) -> Option<Identity> {
        match self {
            Resolution::Authenticated(identity) => Some(identity),
            Resolution::Unauthenticated(_) => None,
        }
    }
}

/// How the resolution reaches the backends: by awaiting them ([`Awaiting`]),
/// or by asking for answers they have at once ([`AtOnce`]). Both run the one
/// resolution, [`resolve`]; a backend that cannot answer at once stops an
/// [`AtOnce`] run, which the caller then makes again, awaiting.
///
/// Every method's future gives the backend's [`Reached`] answer.
pub(crate) trait Reach {
    /// The verifier's verdict on `token`.
    fn verify<'d, 'a: 'd, V: TokenVerifier>(
        verifier: &'a V,
        token: &'a str,
        cx: TokenContext<'a>,
        deadline: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<TokenVerdict>> + Send + 'd;

    /// The store's session for `id`.
    fn load<'d, 'a: 'd, St: SessionStore>(
        store: &'a St,
        id: &'d SessionId,
        deadline: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<Option<Session>>> + Send + 'd;

    /// The store's touch of `id`'s idle deadline.
    fn touch<'d, 'a: 'd, St: SessionStore>(
        store: &'a St,
        id: &'d SessionId,
        at: SystemTime,
        deadline: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<()>> + Send + 'd;
}

/// Awaits the backends' futures, bounded by the request's deadline, panics
/// caught ([`backend::call`]).
pub(crate) struct Awaiting;

/// Asks the backends for answers they have at once
/// ([`TokenVerifier::verify_now`], [`SessionStore::load_now`]); the futures it
/// returns are ready when first polled. A touch always needs awaiting.
pub(crate) struct AtOnce;

impl Reach for Awaiting {
    fn verify<'d, 'a: 'd, V: TokenVerifier>(
        verifier: &'a V,
        token: &'a str,
        cx: TokenContext<'a>,
        deadline: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<TokenVerdict>> + Send + 'd {
        Answered {
            call: backend::call("token verifier", deadline, move || {
                verifier.verify(token, cx)
            }),
        }
    }

    fn load<'d, 'a: 'd, St: SessionStore>(
        store: &'a St,
        id: &'d SessionId,
        deadline: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<Option<Session>>> + Send + 'd {
        Answered {
            call: backend::call("session store (load)", deadline, move || store.load(id)),
        }
    }

    fn touch<'d, 'a: 'd, St: SessionStore>(
        store: &'a St,
        id: &'d SessionId,
        at: SystemTime,
        deadline: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<()>> + Send + 'd {
        Answered {
            call: backend::call("session store (touch)", deadline, move || {
                store.touch(id, at)
            }),
        }
    }
}

impl Reach for AtOnce {
    fn verify<'d, 'a: 'd, V: TokenVerifier>(
        verifier: &'a V,
        token: &'a str,
        cx: TokenContext<'a>,
        _: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<TokenVerdict>> + Send + 'd {
        std::future::ready(backend::now("token verifier", || {
            verifier.verify_now(token, cx)
        }))
    }

    fn load<'d, 'a: 'd, St: SessionStore>(
        store: &'a St,
        id: &'d SessionId,
        _: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<Option<Session>>> + Send + 'd {
        std::future::ready(backend::now("session store (load)", || store.load_now(id)))
    }

    fn touch<'d, 'a: 'd, St: SessionStore>(
        _: &'a St,
        _: &'d SessionId,
        _: SystemTime,
        _: &'d mut Deadline<'a>,
    ) -> impl Future<Output = Reached<()>> + Send + 'd {
        std::future::ready(Reached::NotNow)
    }
}

pin_project! {
    /// An awaited backend call, which always answers: never
    /// [`Reached::NotNow`].
    struct Answered<'d, 'a, F> {
        #[pin]
        call: backend::Call<'d, 'a, F>,
    }
}

impl<T, E, F> Future for Answered<'_, '_, F>
where
    E: std::fmt::Display,
    F: Future<Output = Result<T, E>>,
{
    type Output = Reached<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx).map(|answer| match answer {
            Some(value) => Reached::Got(value),
            None => Reached::Failed,
        })
    }
}

/// Resolves a request (`method`, `uri` and the credentials `found` in its
/// header fields) on `tunnel`: who is calling, or why nobody is; `None` when
/// a backend could not answer the way `R` reaches it (only with [`AtOnce`]).
///
/// - With token auth enabled, a well-formed token is verified first; when the
///   verifier accepts it, the request is token-authenticated.
/// - A missing, malformed, refused or out-of-scope token, or a verifier
///   error, falls back to the session cookie when session auth is enabled.
/// - With a backend timeout, all these calls share one deadline: a call
///   still waiting when it passes fails (and is dropped), like an error.
/// - The cookie authenticates when exactly one of its distinct values names a
///   live session (one the store returns and whose deadline is not past) and
///   every lookup succeeded. With an idle timeout, that session is then
///   touched when `SessionManager::touch_due` says so; a failed touch is
///   logged and changes nothing. Two live sessions (a cookie
///   planted by a sibling host beside the real one) authenticate nobody: a
///   planted cookie must never decide who the user is. Too many values
///   authenticate nobody either, without a lookup.
///
/// Why nobody is authenticated is the worst thing seen: a backend that could
/// not answer (the request might have been authenticated), else what became
/// of the token (out of scope, else invalid or malformed), else no
/// credential.
///
/// The session endpoint, the identity given to handlers and enforcement all
/// resolve through this one function.
///
/// Written flat, awaiting the backends' futures directly, and as a function
/// returning an `async move` block: this state is boxed once per request that
/// awaits its backends, and every nested `async fn` (which also keeps a
/// second copy of its arguments) would add to it.
#[allow(clippy::manual_async_fn)] // On purpose: see above.
pub(crate) fn resolve<'a, R, V, St, const N: usize>(
    config: &'a Config<V, St>,
    tunnel: &'a Tunnel,
    method: &'a Method,
    uri: &'a Uri,
    found: &'a Found<'_, N>,
) -> impl Future<Output = Option<Resolution>> + Send + 'a
where
    R: Reach,
    V: TokenVerifier,
    St: SessionStore,
{
    async move {
        // One deadline for every backend call of the request.
        let mut deadline = Deadline::new(config.timeout.as_ref());
        let mut why = found.unauthenticated();
        if let Some(verdict) =
            verify_token::<R, _, _, N>(config, tunnel, method, uri, found, &mut deadline)
        {
            why = match verdict.await {
                Reached::NotNow => return None,
                Reached::Got(TokenVerdict::Accepted(user)) => {
                    return Some(Resolution::Authenticated(Identity::new(
                        user,
                        AuthMethod::Token,
                    )));
                }
                Reached::Got(TokenVerdict::Refused) => Unauthenticated::InvalidToken,
                Reached::Got(TokenVerdict::OutOfScope) => Unauthenticated::InsufficientScope,
                Reached::Failed => Unauthenticated::Unavailable,
            };
        }
        let Some(sessions) = config.sessions.as_ref() else {
            return Some(Resolution::Unauthenticated(why));
        };
        // The live session, and which of the values named it.
        let mut live = None;
        // Read once, when a store first returns a session (or the reading
        // the crate's own store took to find it live).
        let mut now = None;
        for (index, id) in found.cookies.ids().enumerate() {
            let session = match R::load(sessions.store(), &id, &mut deadline).await {
                Reached::NotNow => return None,
                // A store failure settles nothing: not authenticated.
                Reached::Failed => {
                    return Some(Resolution::Unauthenticated(Unauthenticated::Unavailable));
                }
                Reached::Got(None) => continue,
                Reached::Got(Some(session)) => session,
            };
            // Past its deadline, a session authenticates nobody, whatever
            // the store says. The crate's own store says at which reading
            // of the clock it found the session live: that reading is now.
            let at = *now.get_or_insert_with(|| session.live_at().unwrap_or_else(SystemTime::now));
            if !session.is_live_at(at) {
                continue;
            }
            if live.is_some() {
                return Some(Resolution::Unauthenticated(why));
            }
            live = Some((index, session));
        }
        let Some((index, session)) = live else {
            return Some(Resolution::Unauthenticated(why));
        };
        // Sliding expiry: a throttled touch, whose failure changes nothing.
        if let Some(at) = now.and_then(|now| sessions.touch_due(&session, now)) {
            if let Some(id) = found.cookies.ids().nth(index) {
                // Its failure is logged; `NotNow`: only an awaiting
                // resolution touches.
                if let Reached::NotNow = R::touch(sessions.store(), &id, at, &mut deadline).await {
                    return None;
                }
            }
        }
        Some(Resolution::Authenticated(Identity::new(
            session.into_user(),
            AuthMethod::Session,
        )))
    }
}

/// The verifier's verdict on the request's bearer token, to await: `None`
/// when token auth is disabled or no well-formed token was presented.
pub(crate) fn verify_token<'d, 'a: 'd, R, V, St, const N: usize>(
    config: &'a Config<V, St>,
    tunnel: &'a Tunnel,
    method: &'a Method,
    uri: &'a Uri,
    found: &'a Found<'_, N>,
    deadline: &'d mut Deadline<'a>,
) -> Option<impl Future<Output = Reached<TokenVerdict>> + Send + 'd>
where
    R: Reach,
    V: TokenVerifier,
{
    let verifier = config.tokens.as_ref()?;
    let PresentedToken::Token(token) = &found.token else {
        return None;
    };
    let (token, source) = token.text(uri.query())?;
    let cx = TokenContext {
        tunnel,
        method,
        path: uri.path(),
        source,
    };
    Some(R::verify(verifier, token, cx, deadline))
}

/// [`resolve`], run at once ([`AtOnce`]) to completion in a single poll,
/// so that nothing is boxed: `None` when some backend must be awaited (the
/// caller then resolves again, [`Awaiting`]). The session endpoint and
/// forwarded requests both start here.
pub(crate) fn resolve_at_once<V, St, const N: usize>(
    config: &Config<V, St>,
    tunnel: &Tunnel,
    method: &Method,
    uri: &Uri,
    found: &Found<'_, N>,
) -> Option<Resolution>
where
    V: TokenVerifier,
    St: SessionStore,
{
    let resolution = pin!(resolve::<AtOnce, _, _, N>(
        config, tunnel, method, uri, found
    ));
    // Every future `AtOnce` awaits is ready: one poll finishes the block.
    match resolution.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(resolved) => resolved,
        Poll::Pending => None,
    }
}
