//! Who is calling: the token first (header, then query parameter), then the
//! session cookie.

use http::{HeaderMap, Method, Uri};

use crate::backend;
use crate::credentials::{CookieValues, MAX_LOOKUPS, PresentedToken, presented_token};
use crate::identity::{AuthMethod, Identity};
use crate::layer::Config;
use crate::manager::SessionManager;
use crate::store::SessionStore;
use crate::token::{TokenContext, TokenVerdict, TokenVerifier};
use crate::tunnel::Tunnel;

/// Resolves a request on `tunnel`: `None` when it is not authenticated.
///
/// - With token auth enabled, a well-formed token is verified first; when the
///   verifier accepts it, the request is token-authenticated.
/// - A missing, malformed or refused token, or a verifier error, falls back to
///   the session cookie when session auth is enabled.
/// - The cookie authenticates when exactly one of its distinct values names a
///   live session and every lookup succeeded. Two live sessions (a cookie
///   planted by a sibling host beside the real one) authenticate nobody: a
///   planted cookie must never decide who the user is.
pub(crate) async fn resolve<V, St>(
    config: &Config<V, St>,
    tunnel: &Tunnel,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Identity>
where
    V: TokenVerifier,
    St: SessionStore,
{
    if let Some(identity) = token_identity(config, tunnel, method, uri, headers).await {
        return Some(identity);
    }
    session_identity(config.sessions.as_ref()?, headers).await
}

/// The identity a request's bearer token proves, if token auth is enabled
/// and the verifier accepts the token.
pub(crate) async fn token_identity<V, St>(
    config: &Config<V, St>,
    tunnel: &Tunnel,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Identity>
where
    V: TokenVerifier,
{
    let verifier = config.tokens.as_ref()?;
    let PresentedToken::Token(token, source) = presented_token(headers, uri.query()) else {
        return None;
    };
    let cx = TokenContext {
        tunnel,
        method,
        path: uri.path(),
        source,
    };
    match backend::call("token verifier", || verifier.verify(&token, cx)).await? {
        TokenVerdict::Accepted(user) => Some(Identity::new(user, AuthMethod::Token)),
        TokenVerdict::Refused => None,
    }
}

/// The identity the session cookie proves: exactly one of its distinct
/// values (at most [`MAX_LOOKUPS`]) names a live session, and every lookup
/// succeeded.
async fn session_identity<St: SessionStore>(
    sessions: &SessionManager<St>,
    headers: &HeaderMap,
) -> Option<Identity> {
    let candidates = match sessions.cookie_values::<MAX_LOOKUPS>(headers) {
        CookieValues::Candidates(candidates) => candidates,
        CookieValues::TooMany => return None,
    };
    let mut live = None;
    for id in candidates.ids() {
        // A store failure settles nothing: not authenticated.
        if let Some(user) =
            backend::call("session store (load)", || sessions.store().load(&id)).await?
        {
            if live.is_some() {
                return None;
            }
            live = Some(user);
        }
    }
    live.map(|user| Identity::new(user, AuthMethod::Session))
}
