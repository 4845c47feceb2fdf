//! [`Caller`]: who is calling a forwarded request, as the layer resolved it
//! for the application's handlers.

use std::fmt;

use http::StatusCode;

use crate::identity::{AuthMethod, Identity, User};
use crate::reply;
use crate::tunnel::Tunnel;

/// Who is calling a request that the layer forwarded: put in the request's
/// extensions by [`WellKnownService`](crate::WellKnownService) on the paths
/// where identity is on ([`WellKnownBuilder::identity`](crate::WellKnownBuilder::identity))
/// and on every path that requires authentication
/// ([`WellKnownBuilder::require_authentication`](crate::WellKnownBuilder::require_authentication)).
///
/// It is resolved by the code that answers the session endpoint, with the
/// same precedence (the token first, then the session cookie), so a handler
/// and `/.well-known/rstream/session` always agree on who is calling.
///
/// - A `Caller` that [is authenticated](Caller::is_authenticated) carries
///   the [`Identity`]: the user and the method (`token-auth` or
///   `rstream-auth`).
/// - Otherwise it says *why* nobody is ([`Caller::unauthenticated`]).
/// - **No `Caller` at all** in a request's extensions means that the layer
///   did not resolve this request: it is not installed in front of the
///   handler, or identity is not on for this path. That is a programming
///   error, not an anonymous visitor; the crate's axum extractors answer it
///   with `500`.
///
/// [`Caller::tunnel`] is the tunnel the request was for (`None` when its
/// host is no tunnel: nobody is authenticated then).
///
/// Cloning is cheap (the user and the tunnel are shared behind `Arc`s).
///
/// ```
/// use http::Request;
/// use rstream_well_known::{AuthMethod, Caller};
///
/// fn greeting<B>(request: &Request<B>) -> String {
///     match request.extensions().get::<Caller>() {
///         Some(caller) => match caller.user() {
///             Some(user) => format!("hello, {}", user.name().unwrap_or(user.user_id())),
///             None => "hello, stranger".to_owned(),
///         },
///         None => panic!("WellKnownLayer with identity on must be in front of this handler"),
///     }
/// }
/// # let _ = greeting::<()>;
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    tunnel: Option<Tunnel>,
    state: State,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Authenticated(Identity),
    Unauthenticated(Unauthenticated),
}

impl Caller {
    /// An authenticated caller on `tunnel`. The layer makes these; the
    /// constructor is public for tests of handlers that read a `Caller`.
    pub fn authenticated(identity: Identity, tunnel: Tunnel) -> Self {
        Self {
            tunnel: Some(tunnel),
            state: State::Authenticated(identity),
        }
    }

    /// A caller nobody is authenticated as, and why; `tunnel` is `None` for
    /// a request whose host is no tunnel.
    pub fn anonymous(why: Unauthenticated, tunnel: Option<Tunnel>) -> Self {
        Self {
            tunnel,
            state: State::Unauthenticated(why),
        }
    }

    /// Whether the request is authenticated.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated(_))
    }

    /// The identity (user and method), when authenticated.
    pub fn identity(&self) -> Option<&Identity> {
        match &self.state {
            State::Authenticated(identity) => Some(identity),
            State::Unauthenticated(_) => None,
        }
    }

    /// Takes the identity, when authenticated.
    pub fn into_identity(self) -> Option<Identity> {
        match self.state {
            State::Authenticated(identity) => Some(identity),
            State::Unauthenticated(_) => None,
        }
    }

    /// The user, when authenticated.
    pub fn user(&self) -> Option<&User> {
        self.identity().map(Identity::user)
    }

    /// How the request was authenticated, when it was.
    pub fn method(&self) -> Option<AuthMethod> {
        self.identity().map(Identity::method)
    }

    /// The tunnel the request was for; `None` when its host is no tunnel
    /// (or is missing, repeated or malformed).
    pub fn tunnel(&self) -> Option<&Tunnel> {
        self.tunnel.as_ref()
    }

    /// Why nobody is authenticated; `None` when the request is
    /// authenticated.
    pub fn unauthenticated(&self) -> Option<Unauthenticated> {
        match self.state {
            State::Authenticated(_) => None,
            State::Unauthenticated(why) => Some(why),
        }
    }
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Caller");
        match &self.state {
            State::Authenticated(identity) => debug.field("identity", identity),
            State::Unauthenticated(why) => debug.field("unauthenticated", why),
        };
        debug
            .field("tunnel", &self.tunnel.as_ref().map(Tunnel::host))
            .finish()
    }
}

/// Why a request is not authenticated, and how a request that requires
/// authentication is answered for it.
///
/// | value | status | `WWW-Authenticate` | reason in the body |
/// | --- | --- | --- | --- |
/// | `NoCredentials` | `401` | `Bearer` | `unauthenticated` |
/// | `InvalidToken` | `401` | `Bearer error="invalid_token"` | `invalid_token` |
/// | `InsufficientScope` | `403` | `Bearer error="insufficient_scope"` | `insufficient_scope` |
/// | `Unavailable` | `503` | | `authentication_unavailable` |
/// | `UnknownHost` | `401` | `Bearer` | `unknown_host` |
/// | `InvalidHost` | `400` | | `invalid_host` |
/// | `AmbiguousHost` | `400` | | `ambiguous_host` |
///
/// The body is `{"error":"<reason>"}`, with `Cache-Control: no-store`, like
/// every error answer of the layer. A browser navigation that is
/// `NoCredentials` or `InvalidToken` is redirected to the sign-in URL
/// instead, when one is configured (see
/// [`WellKnownBuilder::sign_in_url`](crate::WellKnownBuilder::sign_in_url)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unauthenticated {
    /// No credential, or one that proves nothing: no token, no session
    /// cookie, a cookie of no live session (expired, signed out), or
    /// cookies naming two live sessions.
    NoCredentials,
    /// A bearer token was presented, and it is malformed or the verifier
    /// refused it ([`TokenVerdict::Refused`](crate::TokenVerdict::Refused)).
    InvalidToken,
    /// A valid bearer token whose scope does not cover this request
    /// ([`TokenVerdict::OutOfScope`](crate::TokenVerdict::OutOfScope)).
    InsufficientScope,
    /// The verifier or the session store failed (or panicked) and no other
    /// credential authenticated the request: it may have been
    /// authenticated, and is refused rather than let through.
    Unavailable,
    /// The request's host is not an active tunnel, so no credential can be
    /// checked for it.
    UnknownHost,
    /// The request's host is missing or malformed.
    InvalidHost,
    /// The request names its host twice, or two different hosts.
    AmbiguousHost,
}

impl Unauthenticated {
    /// The status of the answer to a request that requires authentication.
    pub fn status(self) -> StatusCode {
        match self {
            Unauthenticated::NoCredentials
            | Unauthenticated::InvalidToken
            | Unauthenticated::UnknownHost => StatusCode::UNAUTHORIZED,
            Unauthenticated::InsufficientScope => StatusCode::FORBIDDEN,
            Unauthenticated::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Unauthenticated::InvalidHost | Unauthenticated::AmbiguousHost => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    /// The stable reason in the answer's body (`{"error":"<reason>"}`).
    pub fn reason(self) -> &'static str {
        match self {
            Unauthenticated::NoCredentials => reply::UNAUTHENTICATED,
            Unauthenticated::InvalidToken => reply::INVALID_TOKEN,
            Unauthenticated::InsufficientScope => reply::INSUFFICIENT_SCOPE,
            Unauthenticated::Unavailable => reply::AUTHENTICATION_UNAVAILABLE,
            Unauthenticated::UnknownHost => reply::UNKNOWN_HOST,
            Unauthenticated::InvalidHost => reply::INVALID_HOST,
            Unauthenticated::AmbiguousHost => reply::AMBIGUOUS_HOST,
        }
    }

    /// The `WWW-Authenticate` challenge of the answer, if it has one
    /// (RFC 6750, section 3).
    pub fn challenge(self) -> Option<&'static str> {
        match self {
            Unauthenticated::NoCredentials | Unauthenticated::UnknownHost => Some("Bearer"),
            Unauthenticated::InvalidToken => Some(r#"Bearer error="invalid_token""#),
            Unauthenticated::InsufficientScope => Some(r#"Bearer error="insufficient_scope""#),
            Unauthenticated::Unavailable
            | Unauthenticated::InvalidHost
            | Unauthenticated::AmbiguousHost => None,
        }
    }

    /// The unauthenticated value for a host the layer could not match.
    pub(crate) fn for_host_reason(reason: &'static str) -> Self {
        if reason == reply::AMBIGUOUS_HOST {
            Unauthenticated::AmbiguousHost
        } else {
            Unauthenticated::InvalidHost
        }
    }
}

impl fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}
