//! Who is calling: the token first (header, then query parameter), then the
//! session cookie.

use http::{HeaderMap, Method, Uri};

use crate::credentials::{CookieValues, session_cookie_values};
use crate::credentials::{PresentedToken, presented_token};
use crate::identity::{AuthMethod, Identity};
use crate::layer::Config;
use crate::log::backend_failure;
use crate::store::{SessionId, SessionStore};
use crate::token::{TokenContext, TokenVerdict, TokenVerifier};
use crate::tunnel::Tunnel;

/// The outcome of resolving a request.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// Authenticated. `session` is the session's id when the cookie did it.
    Authenticated {
        identity: Identity,
        session: Option<SessionId>,
    },
    /// Not authenticated. `unsettled` lists the session cookie's values when
    /// the store failed to load one of them: the request may have been a live
    /// session, so logout must still revoke them.
    Unauthenticated { unsettled: Vec<SessionId> },
}

/// Resolves a request on `tunnel`.
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
) -> Resolution
where
    V: TokenVerifier,
    St: SessionStore,
{
    if let Some(verifier) = &config.tokens {
        if let PresentedToken::Token(token, source) = presented_token(headers, uri.query()) {
            let cx = TokenContext {
                tunnel,
                method,
                path: uri.path(),
                source,
            };
            match verifier.verify(&token, cx).await {
                Ok(TokenVerdict::Accepted(user)) => {
                    return Resolution::Authenticated {
                        identity: Identity::new(user, AuthMethod::Token),
                        session: None,
                    };
                }
                Ok(TokenVerdict::Refused) => {}
                Err(error) => backend_failure("token verifier", &error),
            }
        }
    }
    let unauthenticated = Resolution::Unauthenticated {
        unsettled: Vec::new(),
    };
    let Some(sessions) = &config.sessions else {
        return unauthenticated;
    };
    let ids = match session_cookie_values(headers, sessions.cookie().cookie_name()) {
        CookieValues::Candidates(ids) => ids,
        CookieValues::TooMany => return unauthenticated,
    };
    let mut live = None;
    let mut live_count = 0;
    let mut store_failed = false;
    for id in &ids {
        match sessions.store().load(id).await {
            Ok(Some(user)) => {
                live_count += 1;
                live.get_or_insert((user, id.clone()));
            }
            Ok(None) => {}
            Err(error) => {
                backend_failure("session store (load)", &error);
                store_failed = true;
            }
        }
    }
    match live {
        Some((user, id)) if live_count == 1 && !store_failed => Resolution::Authenticated {
            identity: Identity::new(user, AuthMethod::Session),
            session: Some(id),
        },
        _ if store_failed => Resolution::Unauthenticated { unsettled: ids },
        _ => unauthenticated,
    }
}
