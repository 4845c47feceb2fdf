//! The configuration every clone of a layer and its services share. It sits
//! apart from the layer so that the request path (layer → service → endpoint
//! → resolver) only ever imports downwards.

use std::sync::Arc;

use crate::backend::BackendTimeout;
use crate::forward::Forwarding;
use crate::manager::SessionManager;
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
