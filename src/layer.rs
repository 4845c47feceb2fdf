//! [`WellKnownLayer`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::backend::BackendTimeout;
use crate::config::Config;
use crate::cookie::SessionCookie;
use crate::error::ConfigError;
use crate::identity::AuthMethod;
use crate::manager::{CookieHeaders, SessionManager};
use crate::service::WellKnownService;
use crate::store::MemoryStore;
use crate::store::SessionStore;
use crate::timer::Timer;
use crate::token::{StaticTokenVerifier, TokenVerifier};
use crate::tunnel::{Tunnel, TunnelResolver, Tunnels};

/// The tower layer that serves `/.well-known/rstream/session` and
/// `/.well-known/rstream/logout` on tunnel hosts and forwards every other
/// request to the service it wraps.
///
/// Built with [`WellKnownLayer::builder`]. Token auth is enabled by
/// configuring a [`TokenVerifier`], rstream Auth (the browser session cookie)
/// by configuring a [`SessionStore`]; with both, the token is checked first.
/// Cloning is cheap: the configuration sits behind an `Arc`.
///
/// ```
/// use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
///
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
///     .with_token_verifier(StaticTokenVerifier::new().with_token("s3cret", User::new("ci")))
///     .with_session_store(MemoryStore::new())
///     .build()?;
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
#[must_use]
pub struct WellKnownLayer<V = StaticTokenVerifier, St = MemoryStore> {
    config: Arc<Config<V, St>>,
}

impl<V, St> Clone for WellKnownLayer<V, St> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

impl<V, St> fmt::Debug for WellKnownLayer<V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WellKnownLayer")
            .field("tunnels", &self.config.tunnels)
            .field("token_auth", &self.config.tokens.is_some())
            .field("session_auth", &self.config.sessions.is_some())
            .field("policies", &self.config.policies)
            .finish()
    }
}

impl WellKnownLayer {
    /// Starts a configuration: no tunnel, no token auth, no session auth, the
    /// default [`SessionCookie`].
    pub fn builder() -> WellKnownBuilder {
        WellKnownBuilder {
            tunnels: Tunnels::default(),
            error: None,
            tokens: None,
            store: None,
            cookie: SessionCookie::default(),
            idle_timeout: None,
            timeout: None,
            policies: Vec::new(),
        }
    }
}

impl<V, St> WellKnownLayer<V, St> {
    /// Signs users in with this layer's store and cookie configuration, or
    /// `None` when session auth is not enabled.
    pub fn session_manager(&self) -> Option<SessionManager<St>> {
        self.config.sessions.clone()
    }

    /// The names listed in the session endpoint's `policies`.
    pub fn policies(&self) -> &[String] {
        &self.config.policies
    }
}

impl<S, V, St> Layer<S> for WellKnownLayer<V, St> {
    type Service = WellKnownService<S, V, St>;

    fn layer(&self, inner: S) -> Self::Service {
        WellKnownService::new(inner, Arc::clone(&self.config))
    }
}

/// Configures a [`WellKnownLayer`]; see [`WellKnownLayer::builder`].
///
/// Setters consume and return the builder. Mistakes are reported once, by
/// [`build`](WellKnownBuilder::build).
#[must_use]
pub struct WellKnownBuilder<V = StaticTokenVerifier, St = MemoryStore> {
    tunnels: Tunnels,
    error: Option<ConfigError>,
    tokens: Option<V>,
    store: Option<St>,
    cookie: SessionCookie,
    idle_timeout: Option<Duration>,
    timeout: Option<BackendTimeout>,
    policies: Vec<String>,
}

impl<V, St> fmt::Debug for WellKnownBuilder<V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WellKnownBuilder")
            .field("tunnels", &self.tunnels)
            .field("token_auth", &self.tokens.is_some())
            .field("session_auth", &self.store.is_some())
            .field("cookie", &self.cookie)
            .field("idle_timeout", &self.idle_timeout)
            .field(
                "backend_timeout",
                &self.timeout.as_ref().map(|t| t.duration),
            )
            .field("policies", &self.policies)
            .finish()
    }
}

impl<V, St> WellKnownBuilder<V, St> {
    /// Adds an active tunnel. A layer can serve several; two for the same
    /// host and port are an error.
    pub fn tunnel(mut self, tunnel: Tunnel) -> Self {
        if let Err(e) = self.tunnels.add(tunnel) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Sets a dynamic host → tunnel mapping, consulted when a request's host
    /// is not one of the configured tunnels.
    pub fn tunnel_resolver(mut self, resolver: impl TunnelResolver) -> Self {
        self.tunnels.set_resolver(Arc::new(resolver));
        self
    }

    /// Enables token auth with `verifier`.
    pub fn with_token_verifier<V2: TokenVerifier>(self, verifier: V2) -> WellKnownBuilder<V2, St> {
        WellKnownBuilder {
            tunnels: self.tunnels,
            error: self.error,
            tokens: Some(verifier),
            store: self.store,
            cookie: self.cookie,
            idle_timeout: self.idle_timeout,
            timeout: self.timeout,
            policies: self.policies,
        }
    }

    /// Enables rstream Auth (the browser session cookie) with `store`.
    pub fn with_session_store<St2: SessionStore>(self, store: St2) -> WellKnownBuilder<V, St2> {
        WellKnownBuilder {
            tunnels: self.tunnels,
            error: self.error,
            tokens: self.tokens,
            store: Some(store),
            cookie: self.cookie,
            idle_timeout: self.idle_timeout,
            timeout: self.timeout,
            policies: self.policies,
        }
    }

    /// Sets the session cookie configuration, used both to issue the cookie
    /// at sign-in and to clear it at logout.
    pub fn session_cookie(mut self, cookie: SessionCookie) -> Self {
        self.cookie = cookie;
        self
    }

    /// Ends sessions that go unused for `idle_timeout` (sliding expiry),
    /// besides the absolute lifetime (the cookie's
    /// [`max_age`](SessionCookie::max_age)), which nothing extends.
    ///
    /// Sign-in sets the idle deadline; each session endpoint answer that
    /// authenticates by the cookie moves it to `idle_timeout` from then, at
    /// most once per quarter of the idle timeout (see "Sessions" in the
    /// crate docs). Zero is refused by [`build`](WellKnownBuilder::build);
    /// a timeout longer than the lifetime has no effect.
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = Some(idle_timeout);
        self
    }

    /// Bounds the time a request waits for the token verifier and the
    /// session store, measured with `timer` (the layer depends on no
    /// runtime: with tokio, pass [`TokioTimer`](crate::TokioTimer), feature
    /// `tokio`).
    ///
    /// The bound is per request, for all its backend calls together (a
    /// logout's token check, lookups and revocations): a call still waiting
    /// when `timeout` has passed since the first call that had to wait is
    /// dropped and fails, and so does every later call of that request that
    /// does not answer at once. The failure answers apply: the session
    /// endpoint says not authenticated, logout answers `503`
    /// (`session_store_unavailable`) when a revocation did not complete, a
    /// sliding touch is skipped. The same bound applies to each call the
    /// [`SessionManager`] makes (sign-in, revoke-all, listing), which then
    /// fails with a `TimedOut` error. Zero is refused by
    /// [`build`](WellKnownBuilder::build).
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// use std::time::Duration;
    /// use rstream_well_known::{MemoryStore, TokioTimer, Tunnel, WellKnownLayer};
    ///
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .backend_timeout(Duration::from_secs(2), TokioTimer)
    ///     .build()?;
    /// # }
    /// # Ok::<(), rstream_well_known::ConfigError>(())
    /// ```
    pub fn backend_timeout(mut self, timeout: Duration, timer: impl Timer) -> Self {
        self.timeout = Some(BackendTimeout {
            duration: timeout,
            timer: Arc::new(timer),
        });
        self
    }

    /// Adds a policy name of the application's own to the session endpoint's
    /// `policies`, after the enabled mechanisms (`token-auth`, `rstream-auth`).
    /// Names are tokens of ASCII letters, digits, `-`, `_` and `.`, each
    /// listed once; the mechanism names themselves are reserved (they are
    /// listed exactly when the mechanism is enabled).
    pub fn policy(mut self, name: impl Into<String>) -> Self {
        self.policies.push(name.into());
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found: no tunnel and no resolver, a duplicate
    /// tunnel, an invalid session cookie (checked only when session auth is
    /// enabled), an idle or backend timeout of zero, or an invalid or
    /// repeated policy name.
    pub fn build(self) -> Result<WellKnownLayer<V, St>, ConfigError>
    where
        St: SessionStore,
    {
        if let Some(error) = self.error {
            return Err(error);
        }
        if self.tunnels.is_empty() {
            return Err(ConfigError::NoTunnels);
        }
        let mut policies = Vec::new();
        if self.tokens.is_some() {
            policies.push(AuthMethod::Token.as_str().to_owned());
        }
        if self.store.is_some() {
            policies.push(AuthMethod::Session.as_str().to_owned());
        }
        for name in self.policies {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            let reserved = [AuthMethod::Token, AuthMethod::Session]
                .iter()
                .any(|m| m.as_str() == name);
            if !valid || reserved || policies.contains(&name) {
                return Err(ConfigError::InvalidPolicy);
            }
            policies.push(name);
        }
        if self.idle_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::InvalidIdleTimeout);
        }
        if self.timeout.as_ref().is_some_and(|t| t.duration.is_zero()) {
            return Err(ConfigError::InvalidBackendTimeout);
        }
        let sessions = match self.store {
            Some(store) => Some(SessionManager::new(
                store,
                CookieHeaders::new(self.cookie)?,
                self.idle_timeout,
                self.timeout.clone(),
            )),
            None => None,
        };
        Ok(WellKnownLayer {
            config: Arc::new(Config {
                tunnels: self.tunnels,
                tokens: self.tokens,
                sessions,
                // Serialising strings cannot fail.
                policies_json: serde_json::to_string(&policies)
                    .unwrap_or_default()
                    .into_boxed_str(),
                policies,
                timeout: self.timeout,
            }),
        })
    }
}
