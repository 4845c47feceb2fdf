//! Who is calling: the token first (header, then query parameter), then the
//! session cookie.

use std::future::Future;
use std::time::SystemTime;

use http::{Method, Uri};

use crate::backend::{self, Deadline};
use crate::config::Config;
use crate::credentials::{CookieValues, PresentedToken};
use crate::identity::{AuthMethod, Identity};
use crate::store::SessionStore;
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

/// Resolves a request on `tunnel`: `None` when it is not authenticated.
///
/// - With token auth enabled, a well-formed token is verified first; when the
///   verifier accepts it, the request is token-authenticated.
/// - A missing, malformed or refused token, or a verifier error, falls back to
///   the session cookie when session auth is enabled.
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
/// Written flat, awaiting the backends' futures directly, and as a function
/// returning an `async move` block: this state is boxed once per request, and
/// every nested `async fn` (which also keeps a second copy of its arguments)
/// would add to it.
#[allow(clippy::manual_async_fn)] // On purpose: see above.
pub(crate) fn resolve<'a, V, St, const N: usize>(
    config: &'a Config<V, St>,
    tunnel: &'a Tunnel,
    head: &'a Head,
    found: &'a Found<N>,
) -> impl Future<Output = Option<Identity>> + Send + 'a
where
    V: TokenVerifier,
    St: SessionStore,
{
    async move {
        // One deadline for every backend call of the request.
        let mut deadline = Deadline::new(config.timeout.as_ref());
        if let Some(verdict) = verify_token(config, tunnel, head, found, &mut deadline) {
            if let Some(TokenVerdict::Accepted(user)) = verdict.await {
                return Some(Identity::new(user, AuthMethod::Token));
            }
        }
        let sessions = config.sessions.as_ref()?;
        let mut live = None;
        // Read once, when a store first returns a session.
        let mut now = None;
        for id in found.cookies.ids() {
            // A store failure settles nothing: not authenticated.
            let Some(session) = backend::call("session store (load)", &mut deadline, || {
                sessions.store().load(id)
            })
            .await?
            else {
                continue;
            };
            // Past its deadline, a session authenticates nobody, whatever
            // the store says.
            if !session.is_live_at(*now.get_or_insert_with(SystemTime::now)) {
                continue;
            }
            if live.is_some() {
                return None;
            }
            live = Some((id, session));
        }
        let (id, session) = live?;
        // Sliding expiry: a throttled touch, whose failure changes nothing.
        if let Some(at) = now.and_then(|now| sessions.touch_due(&session, now)) {
            let _ = backend::call("session store (touch)", &mut deadline, || {
                sessions.store().touch(id, at)
            })
            .await;
        }
        Some(Identity::new(session.into_user(), AuthMethod::Session))
    }
}

/// The verifier's verdict on the request's bearer token, to await: `None`
/// when token auth is disabled or no well-formed token was presented. The
/// verdict itself is `None` when the verifier failed.
pub(crate) fn verify_token<'a, V, St, const N: usize>(
    config: &'a Config<V, St>,
    tunnel: &'a Tunnel,
    head: &'a Head,
    found: &'a Found<N>,
    deadline: &mut Deadline<'a>,
) -> Option<impl Future<Output = Option<TokenVerdict>>>
where
    V: TokenVerifier,
{
    let verifier = config.tokens.as_ref()?;
    let PresentedToken::Token(token) = &found.token else {
        return None;
    };
    let (token, source) = token.text(head.uri.query())?;
    let cx = TokenContext {
        tunnel,
        method: &head.method,
        path: head.uri.path(),
        source,
    };
    Some(backend::call("token verifier", deadline, move || {
        verifier.verify(token, cx)
    }))
}
