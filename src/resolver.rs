//! Who is calling: the token first (header, then query parameter), then the
//! session cookie.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Uri};
use pin_project_lite::pin_project;

use crate::backend;
use crate::config::Config;
use crate::credentials::{CookieValues, PresentedToken};
use crate::identity::{AuthMethod, Identity, User};
use crate::store::{SessionId, SessionStore};
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
#[derive(Debug)]
pub(crate) struct Found<const N: usize> {
    /// The bearer token, when token auth is enabled.
    pub(crate) token: PresentedToken,
    /// At most `N` distinct session cookie values, when session auth is
    /// enabled.
    pub(crate) cookies: CookieValues<N>,
}

impl<const N: usize> Found<N> {
    /// Whether there is no token to verify and no cookie value at all.
    pub(crate) fn is_empty(&self) -> bool {
        !matches!(self.token, PresentedToken::Token(_)) && self.cookies.is_empty()
    }
}

/// How the resolution reaches the backends: by awaiting them ([`Awaiting`]),
/// or by asking for answers they have at once ([`AtOnce`]). Both run the one
/// resolution, [`resolve`]; a backend that cannot answer at once stops an
/// [`AtOnce`] run, which the caller then makes again, awaiting.
pub(crate) trait Reach {
    /// The verifier's verdict: `Some(None)` when it failed, `None` when it
    /// cannot answer this way.
    fn verify<'a, V: TokenVerifier>(
        verifier: &'a V,
        token: &'a str,
        cx: TokenContext<'a>,
    ) -> impl Future<Output = Option<Option<TokenVerdict>>> + Send + 'a;

    /// The store's answer for `id`: `Some(None)` when it failed, `None` when
    /// it cannot answer this way.
    fn load<'a, St: SessionStore>(
        store: &'a St,
        id: &'a SessionId,
    ) -> impl Future<Output = Option<Option<Option<User>>>> + Send + 'a;
}

/// Awaits the backends' futures (bounded, and panics caught, by
/// [`backend::call`]).
pub(crate) struct Awaiting;

/// Asks the backends for answers they have at once
/// ([`TokenVerifier::verify_now`], [`SessionStore::load_now`]); the futures it
/// returns are ready when first polled.
pub(crate) struct AtOnce;

impl Reach for Awaiting {
    fn verify<'a, V: TokenVerifier>(
        verifier: &'a V,
        token: &'a str,
        cx: TokenContext<'a>,
    ) -> impl Future<Output = Option<Option<TokenVerdict>>> + Send + 'a {
        Answered {
            call: backend::call("token verifier", move || verifier.verify(token, cx)),
        }
    }

    fn load<'a, St: SessionStore>(
        store: &'a St,
        id: &'a SessionId,
    ) -> impl Future<Output = Option<Option<Option<User>>>> + Send + 'a {
        Answered {
            call: backend::call("session store (load)", move || store.load(id)),
        }
    }
}

impl Reach for AtOnce {
    fn verify<'a, V: TokenVerifier>(
        verifier: &'a V,
        token: &'a str,
        cx: TokenContext<'a>,
    ) -> impl Future<Output = Option<Option<TokenVerdict>>> + Send + 'a {
        std::future::ready(backend::now("token verifier", || {
            verifier.verify_now(token, cx)
        }))
    }

    fn load<'a, St: SessionStore>(
        store: &'a St,
        id: &'a SessionId,
    ) -> impl Future<Output = Option<Option<Option<User>>>> + Send + 'a {
        std::future::ready(backend::now("session store (load)", || store.load_now(id)))
    }
}

pin_project! {
    /// An awaited backend call, which always answers.
    struct Answered<F> {
        #[pin]
        call: backend::Call<F>,
    }
}

impl<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>> Future for Answered<F> {
    type Output = Option<Option<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx).map(Some)
    }
}

/// Resolves a request (`method`, `uri` and the credentials `found` in its
/// header fields) on `tunnel`: `Some(None)` when it is not
/// authenticated, `None` when a backend could not answer the way `R` reaches
/// it (only with [`AtOnce`]).
///
/// - With token auth enabled, a well-formed token is verified first; when the
///   verifier accepts it, the request is token-authenticated.
/// - A missing, malformed or refused token, or a verifier error, falls back to
///   the session cookie when session auth is enabled.
/// - The cookie authenticates when exactly one of its distinct values names a
///   live session and every lookup succeeded. Two live sessions (a cookie
///   planted by a sibling host beside the real one) authenticate nobody: a
///   planted cookie must never decide who the user is. Too many values
///   authenticate nobody either, without a lookup.
///
/// Written flat, awaiting the backends' futures directly, and as a function
/// returning an `async move` block: this state is boxed once per request that
/// awaits its backends, and every nested `async fn` (which also keeps a
/// second copy of its arguments) would add to it.
pub(crate) fn resolve<'a, R, V, St, const N: usize>(
    config: &'a Config<V, St>,
    tunnel: &'a Tunnel,
    method: &'a Method,
    uri: &'a Uri,
    found: &'a Found<N>,
) -> impl Future<Output = Option<Option<Identity>>> + Send + 'a
where
    R: Reach,
    V: TokenVerifier,
    St: SessionStore,
{
    // The token's verdict is made ready to await before the block, so that
    // the block holds only what it needs across its awaits.
    let verdict = verify_token::<R, _, _, N>(config, tunnel, method, uri, found);
    async move {
        if let Some(verdict) = verdict {
            if let Some(TokenVerdict::Accepted(user)) = verdict.await? {
                return Some(Some(Identity::new(user, AuthMethod::Token)));
            }
        }
        let Some(sessions) = config.sessions.as_ref() else {
            return Some(None);
        };
        let mut live = None;
        for id in found.cookies.ids() {
            match R::load(sessions.store(), id).await? {
                // A store failure settles nothing: not authenticated.
                None => return Some(None),
                Some(None) => {}
                Some(Some(user)) => {
                    if live.is_some() {
                        return Some(None);
                    }
                    live = Some(user);
                }
            }
        }
        Some(live.map(|user| Identity::new(user, AuthMethod::Session)))
    }
}

/// The verifier's verdict on the request's bearer token, to await: `None`
/// when token auth is disabled or no well-formed token was presented. The
/// verdict is `Some(None)` when the verifier failed, and `None` when it
/// could not answer the way `R` reaches it.
pub(crate) fn verify_token<'a, R, V, St, const N: usize>(
    config: &'a Config<V, St>,
    tunnel: &'a Tunnel,
    method: &'a Method,
    uri: &'a Uri,
    found: &'a Found<N>,
) -> Option<impl Future<Output = Option<Option<TokenVerdict>>> + Send + 'a>
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
    Some(R::verify(verifier, token, cx))
}
