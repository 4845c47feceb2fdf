//! The configuration every clone of a layer and its services share. It sits
//! apart from the layer so that the request path (layer → service → endpoint
//! → resolver) only ever imports downwards.

use std::fmt;
use std::sync::Arc;

use crate::backend::BackendTimeout;
use crate::manager::SessionManager;
use crate::origin::Origin;
use crate::paths::Paths;
use crate::tunnel::Tunnels;

/// What every clone of a layer and its services share.
pub(crate) struct Config<V, St> {
    /// Shared with the session manager, whose origin check finds the
    /// request's tunnel.
    pub(crate) tunnels: Arc<Tunnels>,
    /// Token auth is enabled when a verifier is configured.
    pub(crate) tokens: Option<V>,
    /// rstream Auth (the session cookie) is enabled when a store is configured.
    pub(crate) sessions: Option<SessionManager<St>>,
    /// `policies` of the session endpoint: enabled mechanisms, then the app's.
    pub(crate) policies: Vec<String>,
    /// `policies`, rendered as the session endpoint's JSON array.
    pub(crate) policies_json: Arc<str>,
    /// What happens to forwarded requests besides forwarding them: `None`
    /// when nothing does (identity, enforcement and stripping all off).
    pub(crate) forwarding: Option<Forwarding>,
    /// How long a request may wait for the backends, when bounded.
    pub(crate) timeout: Option<BackendTimeout>,
}

/// What the layer does to forwarded requests; absent when it does nothing
/// (every forwarded request then passes through untouched, at no cost).
pub(crate) struct Forwarding {
    /// Where the caller is resolved for handlers.
    pub(crate) identity: Option<Paths>,
    /// Where authentication is required.
    pub(crate) required: Option<Paths>,
    /// Where browser navigations that are refused are sent to sign in.
    pub(crate) sign_in: Option<SignIn>,
    /// The origins, besides the tunnel's, whose pages may open an upgrade
    /// authenticated by the session cookie.
    pub(crate) websocket_origins: Box<[Origin]>,
    pub(crate) strip: Strip,
}

impl Forwarding {
    /// Whether the caller is resolved anywhere (identity or enforcement).
    pub(crate) fn resolving(&self) -> bool {
        self.identity.is_some() || self.required.is_some()
    }
}

impl fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarding")
            .field("identity", &self.identity)
            .field("required", &self.required)
            .field("sign_in", &self.sign_in)
            .field("websocket_origins", &self.websocket_origins)
            .field("strip", &self.strip)
            .finish()
    }
}

/// The sign-in page: a path (and query) on the tunnel origin, and the
/// name of the parameter that carries the return URL.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    pub(crate) url: Box<str>,
    pub(crate) parameter: Box<str>,
}

/// Which edge credentials are removed before forwarding: what the
/// builder's `strip_*` setters say, kept as they said it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Strip {
    /// The `rstream.token` query parameter; `None` (not set): stripped
    /// when the layer resolves callers (identity or enforcement on).
    pub(crate) token_parameter: Option<bool>,
    /// `Authorization` fields with the `Bearer` scheme.
    pub(crate) authorization: bool,
    /// The session cookie's pairs in `Cookie` fields.
    pub(crate) session_cookie: bool,
}

impl Strip {
    /// Whether the token parameter is stripped, on a layer that resolves
    /// callers (`resolving`) or not.
    pub(crate) fn token_parameter(&self, resolving: bool) -> bool {
        self.token_parameter.unwrap_or(resolving)
    }

    /// Whether anything at all is stripped.
    pub(crate) fn any(&self, resolving: bool) -> bool {
        self.token_parameter(resolving) || self.authorization || self.session_cookie
    }
}
