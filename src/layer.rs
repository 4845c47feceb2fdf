//! [`WellKnownLayer`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use http::Request;
use http::request::Parts;
use tower_layer::Layer;

use crate::backend::BackendTimeout;
use crate::caller::Caller;
use crate::config::Config;
use crate::config::{Forwarding, SignIn, Strip};
use crate::error::ConfigError;
use crate::forward::resolve_head;
use crate::identity::AuthMethod;
use crate::manager::{CookieHeaders, SessionManager};
use crate::origin::Origin;
use crate::paths::Paths;
use crate::return_url::safe_return_url;
use crate::service::WellKnownService;
use crate::session_cookie::SessionCookie;
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
///
/// The second type parameter is the session store, or [`NoStore`] for a
/// layer built without
/// [`with_session_store`](WellKnownBuilder::with_session_store): only a
/// layer with a store has a [`session_manager`](WellKnownLayer::session_manager).
#[must_use]
pub struct WellKnownLayer<V = StaticTokenVerifier, St: StoreSlot = MemoryStore> {
    config: Arc<Config<V, St::Store>>,
    /// The session manager, for a layer with a store.
    sessions: St::Manager,
}

/// The store type of a layer built without
/// [`with_session_store`](WellKnownBuilder::with_session_store): rstream
/// Auth (the session cookie) is off, and the layer has no
/// [`SessionManager`]. It is no [`SessionStore`], so
/// `WellKnownLayer<V, NoStore>` has no
/// [`session_manager`](WellKnownLayer::session_manager) method.
///
/// ```
/// use rstream_well_known::{NoStore, StaticTokenVerifier, Tunnel, WellKnownLayer};
///
/// let layer: WellKnownLayer<StaticTokenVerifier, NoStore> = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
///     .with_token_verifier(StaticTokenVerifier::new())
///     .build()?;
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
///
/// ```compile_fail
/// use rstream_well_known::{StaticTokenVerifier, Tunnel, WellKnownLayer};
///
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
///     .with_token_verifier(StaticTokenVerifier::new())
///     .build()?;
/// let sessions = layer.session_manager(); // no store, no session manager
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoStore;

/// What the store type parameter of [`WellKnownLayer`] and
/// [`WellKnownBuilder`] can be: any [`SessionStore`] (rstream Auth on), or
/// [`NoStore`] (off). Sealed: implemented for those and nothing else.
pub trait StoreSlot: sealed::Sealed + Sized + Send + Sync + 'static {
    /// The store the layer's services call: the store itself; for
    /// [`NoStore`], [`MemoryStore`], which is then never created nor
    /// called.
    type Store: SessionStore;
    /// What the layer keeps for [`WellKnownLayer::session_manager`].
    #[doc(hidden)]
    type Manager: Clone + Send + Sync + 'static;
    /// Whether the slot holds a store (rstream Auth is on).
    #[doc(hidden)]
    const ENABLED: bool;
    /// The layer's manager, made with `make` from the store, if any.
    #[doc(hidden)]
    fn into_manager<E>(
        self,
        make: impl FnOnce(Self::Store) -> Result<SessionManager<Self::Store>, E>,
    ) -> Result<Self::Manager, E>;
    /// The manager the layer's services use, if any.
    #[doc(hidden)]
    fn sessions(manager: &Self::Manager) -> Option<SessionManager<Self::Store>>;
}

impl<St: SessionStore> StoreSlot for St {
    type Store = St;
    type Manager = SessionManager<St>;
    const ENABLED: bool = true;
    fn into_manager<E>(
        self,
        make: impl FnOnce(St) -> Result<SessionManager<St>, E>,
    ) -> Result<SessionManager<St>, E> {
        make(self)
    }
    fn sessions(manager: &SessionManager<St>) -> Option<SessionManager<St>> {
        Some(manager.clone())
    }
}

impl StoreSlot for NoStore {
    type Store = MemoryStore;
    type Manager = NoStore;
    const ENABLED: bool = false;
    fn into_manager<E>(
        self,
        _: impl FnOnce(MemoryStore) -> Result<SessionManager<MemoryStore>, E>,
    ) -> Result<NoStore, E> {
        Ok(NoStore)
    }
    fn sessions(_: &NoStore) -> Option<SessionManager<MemoryStore>> {
        None
    }
}

mod sealed {
    /// Keeps [`StoreSlot`](super::StoreSlot) to the crate's two cases.
    #[allow(unreachable_pub)]
    pub trait Sealed {}
    impl<St: crate::store::SessionStore> Sealed for St {}
    impl Sealed for super::NoStore {}
}

impl<V, St: StoreSlot> Clone for WellKnownLayer<V, St> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            sessions: self.sessions.clone(),
        }
    }
}

impl<V, St: StoreSlot> fmt::Debug for WellKnownLayer<V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WellKnownLayer")
            .field("tunnels", &self.config.tunnels)
            .field("token_auth", &self.config.tokens.is_some())
            .field("session_auth", &St::ENABLED)
            .field("policies", &self.config.policies)
            .finish()
    }
}

impl WellKnownLayer {
    /// Starts a configuration: no tunnel, no token auth, no session auth, the
    /// default [`SessionCookie`].
    pub fn builder() -> WellKnownBuilder<StaticTokenVerifier, NoStore> {
        WellKnownBuilder {
            tunnels: Tunnels::default(),
            error: None,
            tokens: None,
            store: NoStore,
            cookie: None,
            idle_timeout: None,
            timeout: None,
            policies: Vec::new(),
            forwarding: ForwardingOptions::default(),
        }
    }
}

impl<V, St: SessionStore> WellKnownLayer<V, St> {
    /// Signs users in with this layer's store and cookie configuration.
    ///
    /// Only a layer with a session store has one: without
    /// [`with_session_store`](WellKnownBuilder::with_session_store), the
    /// layer's store type is [`NoStore`], which has no such method.
    pub fn session_manager(&self) -> SessionManager<St> {
        self.sessions.clone()
    }
}

impl<V, St: StoreSlot> WellKnownLayer<V, St> {
    /// The names listed in the session endpoint's `policies`.
    pub fn policies(&self) -> &[String] {
        &self.config.policies
    }

    /// Resolves who is calling `request`, outside the layer, with the code
    /// that answers the session endpoint (same host check, same precedence:
    /// the token, then the session cookie): for handlers mounted elsewhere,
    /// WebSocket handshakes, background checks.
    ///
    /// What is needed is read from the request at once; the future owns it
    /// and borrows nothing.
    ///
    /// Unlike the layer in front of a handler, this does not refuse a
    /// WebSocket handshake that the session cookie authenticates from a page
    /// of another origin (see "WebSockets" in the crate docs): check such a
    /// handshake with [`SessionManager::check_origin`] before upgrading.
    ///
    /// ```
    /// use http::Request;
    /// use rstream_well_known::{AuthMethod, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
    ///
    /// # futures::executor::block_on(async {
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_token_verifier(StaticTokenVerifier::new().with_token("s3cret", User::new("ci")))
    ///     .build()?;
    /// let request = Request::get("/socket?rstream.token=s3cret")
    ///     .header("host", "app.example.com")
    ///     .body(())?;
    /// let caller = layer.resolve(&request).await;
    /// assert_eq!(caller.method(), Some(AuthMethod::Token));
    /// assert_eq!(caller.user().map(|u| u.user_id()), Some("ci"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn resolve<B>(&self, request: &Request<B>) -> impl Future<Output = Caller> + Send + 'static
    where
        V: TokenVerifier,
    {
        resolve_head(
            Arc::clone(&self.config),
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
        )
    }

    /// [`resolve`](Self::resolve) for a request's [`Parts`] (what axum's
    /// `FromRequestParts` extractors get).
    pub fn resolve_parts(&self, parts: &Parts) -> impl Future<Output = Caller> + Send + 'static
    where
        V: TokenVerifier,
    {
        resolve_head(
            Arc::clone(&self.config),
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
        )
    }
}

impl<S, V, St: StoreSlot> Layer<S> for WellKnownLayer<V, St> {
    type Service = WellKnownService<S, V, St::Store>;

    fn layer(&self, inner: S) -> Self::Service {
        WellKnownService::new(inner, Arc::clone(&self.config))
    }
}

/// Configures a [`WellKnownLayer`]; see [`WellKnownLayer::builder`].
///
/// Setters consume and return the builder. Mistakes are reported once, by
/// [`build`](WellKnownBuilder::build).
///
/// Its store type is [`NoStore`] until
/// [`with_session_store`](Self::with_session_store) sets a store.
#[must_use]
pub struct WellKnownBuilder<V = StaticTokenVerifier, St = NoStore> {
    tunnels: Tunnels,
    error: Option<ConfigError>,
    tokens: Option<V>,
    /// The store, or [`NoStore`].
    store: St,
    /// Set with `session_cookie`; `None`: derived from the tunnels' schemes.
    cookie: Option<SessionCookie>,
    idle_timeout: Option<Duration>,
    timeout: Option<BackendTimeout>,
    policies: Vec<String>,
    forwarding: ForwardingOptions,
}

/// What the builder was told about forwarded requests.
#[derive(Debug)]
struct ForwardingOptions {
    identity: Option<Paths>,
    required: Option<Paths>,
    sign_in_url: Option<String>,
    /// A sign-in layer's page, used when no sign-in URL is set.
    default_sign_in_url: Option<String>,
    return_parameter: String,
    websocket_origins: Vec<Origin>,
    strip: Strip,
}

impl Default for ForwardingOptions {
    fn default() -> Self {
        Self {
            identity: None,
            required: None,
            sign_in_url: None,
            default_sign_in_url: None,
            return_parameter: "return_to".to_owned(),
            websocket_origins: Vec::new(),
            strip: Strip::default(),
        }
    }
}

impl ForwardingOptions {
    /// The forwarding configuration, `None` when every option is off.
    fn build(self) -> Result<Option<Forwarding>, ConfigError> {
        for paths in [&self.identity, &self.required].into_iter().flatten() {
            if let Some(error) = paths.error() {
                return Err(error.clone());
            }
        }
        let resolving = self.identity.is_some() || self.required.is_some();
        // The app's sign-in URL wins over a sign-in layer's page, which
        // reads `return_to`.
        let (sign_in_url, return_parameter) = match (self.sign_in_url, self.default_sign_in_url) {
            (None, Some(page)) => (Some(page), "return_to".to_owned()),
            (url, _) => (url, self.return_parameter),
        };
        let sign_in = match sign_in_url {
            None => None,
            Some(url) => {
                let parameter = &return_parameter;
                let valid_parameter = !parameter.is_empty()
                    && parameter
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                if safe_return_url(&url).is_none() {
                    return Err(ConfigError::InvalidSignInUrl(url));
                }
                if !valid_parameter {
                    return Err(ConfigError::InvalidReturnParameter(return_parameter));
                }
                let path = url.split(['?', '#']).next().unwrap_or_default();
                if self
                    .required
                    .as_ref()
                    .is_some_and(|paths| paths.applies_to(path))
                {
                    return Err(ConfigError::SignInRequiresAuthentication(path.to_owned()));
                }
                Some(SignIn {
                    url: url.into_boxed_str(),
                    parameter: return_parameter.into_boxed_str(),
                })
            }
        };
        if !resolving && !self.strip.any(resolving) {
            return Ok(None);
        }
        Ok(Some(Forwarding {
            identity: self.identity,
            required: self.required,
            sign_in,
            websocket_origins: self.websocket_origins.into_boxed_slice(),
            strip: self.strip,
        }))
    }
}

impl<V, St: StoreSlot> fmt::Debug for WellKnownBuilder<V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WellKnownBuilder")
            .field("tunnels", &self.tunnels)
            .field("token_auth", &self.tokens.is_some())
            .field("session_auth", &St::ENABLED)
            .field("cookie", &self.cookie)
            .field("idle_timeout", &self.idle_timeout)
            .field(
                "backend_timeout",
                &self.timeout.as_ref().map(|t| t.duration),
            )
            .field("policies", &self.policies)
            .field("forwarding", &self.forwarding)
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
            forwarding: self.forwarding,
        }
    }

    /// Enables rstream Auth (the browser session cookie) with `store`.
    ///
    /// The layer's store type is then `St2`, and the built layer has a
    /// [`session_manager`](WellKnownLayer::session_manager).
    pub fn with_session_store<St2: SessionStore>(self, store: St2) -> WellKnownBuilder<V, St2> {
        WellKnownBuilder {
            tunnels: self.tunnels,
            error: self.error,
            tokens: self.tokens,
            store,
            cookie: self.cookie,
            idle_timeout: self.idle_timeout,
            timeout: self.timeout,
            policies: self.policies,
            forwarding: self.forwarding,
        }
    }

    /// Sets the session cookie configuration, used both to issue the cookie
    /// at sign-in and to clear it at logout.
    ///
    /// Unless set, the cookie is [`SessionCookie::default`] with its
    /// `Secure` attribute (and so its name's `__Host-` prefix) following the
    /// configured tunnels' schemes, since browsers drop a `Secure` cookie
    /// set over plain HTTP on a host that is not loopback, and sign-in
    /// would then fail without a word:
    ///
    /// | configured tunnels | derived cookie |
    /// | --- | --- |
    /// | all `https` (or none: a resolver only) | `Secure`, `__Host-rstream_session` |
    /// | all plain `http`, loopback or not | not `Secure`, `rstream_session` |
    /// | `http` and `https` mixed | refused: [`ConfigError::MixedTunnelSchemes`] |
    ///
    /// Plain-HTTP loopback tunnels get no `Secure` either: Chromium and
    /// Firefox keep `Secure` and `__Host-` cookies on `http://localhost` and
    /// `http://127.0.0.1`, but not every browser does (Safari drops them).
    /// A mix is refused rather than guessed: either choice breaks one side.
    ///
    /// A cookie set here is used as set, with one refusal: a `Secure`
    /// cookie beside a plain-`http` tunnel whose host is not loopback
    /// ([`ConfigError::SecureCookieOnPlainHttp`]), a cookie no browser would
    /// keep there. A `Secure` cookie beside `http://localhost` is allowed.
    /// Tunnels a [resolver](Self::tunnel_resolver) returns are not known at
    /// build: a resolver that returns plain-`http` tunnels goes with a
    /// cookie set here.
    pub fn session_cookie(mut self, cookie: SessionCookie) -> Self {
        self.cookie = Some(cookie);
        self
    }

    /// Adds development tunnels for a server listening on `port` of this
    /// machine: `localhost:{port}`, `127.0.0.1:{port}` and `[::1]:{port}`,
    /// each with a plain `http://` origin, reported with workspace and
    /// project id `development`. Unless a session cookie is set with
    /// [`session_cookie`](Self::session_cookie), the cookie is then not
    /// `Secure`, as for every plain-HTTP tunnel, so its name is
    /// `rstream_session`.
    ///
    /// For local development only: serve production over HTTPS with
    /// [`tunnel`](Self::tunnel). `build` refuses development tunnels beside
    /// an `https` tunnel unless the cookie is set explicitly, so that a
    /// development setting cannot weaken a production cookie.
    ///
    /// ```
    /// use rstream_well_known::WellKnownLayer;
    ///
    /// let layer = WellKnownLayer::builder().development_tunnel(3000).build()?;
    /// # Ok::<(), rstream_well_known::ConfigError>(())
    /// ```
    pub fn development_tunnel(mut self, port: u16) -> Self {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let authority = format!("{host}:{port}");
            match Tunnel::new(&authority, "development", "development")
                .and_then(|tunnel| tunnel.with_origin(&format!("http://{authority}")))
            {
                Ok(tunnel) => self = self.tunnel(tunnel),
                Err(error) => {
                    self.error.get_or_insert(error);
                }
            }
        }
        self
    }

    /// Ends sessions that go unused for `idle_timeout` (sliding expiry),
    /// besides the absolute lifetime (the cookie's
    /// [`max_age`](SessionCookie::max_age)), which nothing extends.
    ///
    /// Sign-in sets the idle deadline; each session endpoint answer that
    /// authenticates by the cookie moves it to `idle_timeout` from then, at
    /// most once per quarter of the idle timeout (see
    /// [Sessions](crate::guide::rulings#sessions)). Zero is refused by [`build`](WellKnownBuilder::build);
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
    /// A store may bound its own calls too: the Redis store's
    /// `RedisStoreBuilder::timeout` (feature `redis`, default 2 seconds)
    /// bounds each command it sends to Redis, and each reconnection, which
    /// this bound cannot reach. Both stay: the store's bounds Redis
    /// wherever the store is used, this one bounds a request's backend
    /// calls together, the token verifier's included. Set this one longer
    /// than the store's (the store then fails first, with its own error in
    /// the log) or shorter to cap the whole request.
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

    /// Resolves the caller of forwarded requests on `paths` and puts a
    /// [`Caller`] in their extensions, for the application's handlers:
    /// the user and method when authenticated, else why nobody is (see
    /// [`Caller`]). Off by default: requests pass through untouched and no
    /// backend is asked about them.
    ///
    /// Resolution is the session endpoint's own (the token, then the
    /// session cookie), so handlers and `/.well-known/rstream/session`
    /// always agree. Paths outside `paths` cost nothing (no backend call,
    /// no allocation): leave static files out. Requests on paths that
    /// [require authentication](Self::require_authentication) are resolved
    /// too, whatever `paths` says.
    pub fn identity(mut self, paths: Paths) -> Self {
        self.forwarding.identity = Some(paths);
        self
    }

    /// Refuses forwarded requests on `paths` that are not authenticated,
    /// as rstream's edge does on a tunnel with token auth or rstream Auth
    /// on. A refused request is answered by the layer and never forwarded
    /// (see [`Unauthenticated`](crate::Unauthenticated) for the answers,
    /// and [`sign_in_url`](Self::sign_in_url) for browsers); an allowed one
    /// carries its [`Caller`].
    ///
    /// `Paths::all().except_prefix(…)` guards everything but some paths;
    /// `Paths::prefix(…)` only some. Paths are matched on the model that
    /// keeps well-known paths away from the application, so no spelling of
    /// a path (`%2F`, `..`, `;`, `\`, case, …) slips past (see [`Paths`]).
    /// Requests whose host is no tunnel are refused too (`401`,
    /// `unknown_host`): nothing can be checked for them.
    pub fn require_authentication(mut self, paths: Paths) -> Self {
        self.forwarding.required = Some(paths);
        self
    }

    /// Where browsers go to sign in: a refused browser navigation (`GET` or
    /// `HEAD` accepting `text/html`, not an upgrade) that presents no valid
    /// credential is redirected there (`303`), when rstream Auth is on,
    /// instead of getting `401`. The URL is a path on the tunnel origin
    /// (`/login`, `/login?lang=en`); the redirect adds the original path
    /// and query (without the `rstream.token` parameter) as the
    /// [return parameter](Self::sign_in_return_parameter), for the sign-in
    /// handler to check with [`SessionManager::safe_return_url`]. Other
    /// methods, upgrades and API clients always get `401`.
    ///
    /// The sign-in path must not itself require authentication: `build`
    /// refuses that loop.
    pub fn sign_in_url(mut self, url: impl Into<String>) -> Self {
        self.forwarding.sign_in_url = Some(url.into());
        self
    }

    /// The sign-in page of a sign-in layer built on this one, used when
    /// [`sign_in_url`](Self::sign_in_url) names none (in whichever order
    /// the two are called), with the return URL always in `return_to`
    /// ([`sign_in_return_parameter`](Self::sign_in_return_parameter) is the
    /// parameter of the page of `sign_in_url`). The same rules apply to
    /// it. [`OidcConfig::layer`](crate::oidc::OidcConfig::layer) sets its
    /// start endpoint here; an app sets its own page with `sign_in_url`.
    pub fn default_sign_in_url(mut self, url: impl Into<String>) -> Self {
        self.forwarding.default_sign_in_url = Some(url.into());
        self
    }

    /// The name of the query parameter that carries the return URL to the
    /// sign-in page (default `return_to`); letters, digits, `-`, `_`, `.`.
    pub fn sign_in_return_parameter(mut self, name: impl Into<String>) -> Self {
        self.forwarding.return_parameter = name.into();
        self
    }

    /// Allows pages of `origin` (`scheme://host[:port]`, as browsers send
    /// it in `Origin`) to open WebSockets authenticated by the session
    /// cookie, besides the tunnel's own origin; call it once per origin.
    ///
    /// On the paths where [identity](Self::identity) or
    /// [enforcement](Self::require_authentication) is on, an upgrade (a
    /// WebSocket handshake) that the session cookie authenticates is
    /// refused with `403` (`origin_mismatch`) when its `Origin` names
    /// neither the tunnel's origin nor one of these, so that a page of
    /// another origin of the same site (a sibling subdomain, another port),
    /// which the browser sends the cookie for, cannot open a socket as the
    /// user. By default only the tunnel's origin is allowed. Handshakes
    /// without `Origin` (non-browser clients) and handshakes authenticated
    /// by a token are not checked; see "WebSockets" in the crate docs.
    ///
    /// An origin that does not parse (a path after it, userinfo, `null`)
    /// makes [`build`](Self::build) fail with
    /// [`ConfigError::InvalidWebSocketOrigin`].
    ///
    /// ```
    /// use rstream_well_known::{MemoryStore, Paths, Tunnel, WellKnownLayer};
    ///
    /// let layer = WellKnownLayer::builder()
    ///     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
    ///     .with_session_store(MemoryStore::new())
    ///     .require_authentication(Paths::prefix("/live"))
    ///     // The admin console, served elsewhere, opens sockets here too.
    ///     .websocket_origin("https://admin.example.com")
    ///     .build()?;
    /// # Ok::<(), rstream_well_known::ConfigError>(())
    /// ```
    pub fn websocket_origin(mut self, origin: &str) -> Self {
        match Origin::parse(origin.trim()) {
            Some(origin) => self.forwarding.websocket_origins.push(origin),
            None => {
                self.error
                    .get_or_insert(ConfigError::InvalidWebSocketOrigin(origin.to_owned()));
            }
        }
        self
    }

    /// Whether the `rstream.token` query parameter is removed from the URI
    /// of every forwarded request, every other byte of the query kept (a
    /// query left empty goes with its `?`). On by default whenever
    /// [identity](Self::identity) or [enforcement](Self::require_authentication)
    /// is on, off otherwise: a token in a URL must not reach the
    /// application's handlers and logs.
    pub fn strip_token_parameter(mut self, strip: bool) -> Self {
        self.forwarding.strip.token_parameter = Some(strip);
        self
    }

    /// Whether `Authorization` fields with the `Bearer` scheme are removed
    /// from every forwarded request (other schemes stay). Off by default.
    pub fn strip_authorization(mut self, strip: bool) -> Self {
        self.forwarding.strip.authorization = strip;
        self
    }

    /// Whether the session cookie is removed from every forwarded request's
    /// `Cookie` fields; every other cookie stays, byte for byte. Off by
    /// default.
    pub fn strip_session_cookie(mut self, strip: bool) -> Self {
        self.forwarding.strip.session_cookie = strip;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found: no tunnel and no resolver, a duplicate
    /// tunnel, an invalid session cookie (checked only when session auth is
    /// enabled), a session cookie that the tunnels' schemes cannot carry
    /// (see [`session_cookie`](Self::session_cookie)), an idle or backend
    /// timeout of zero, an invalid or repeated policy name, an invalid path
    /// prefix, an invalid sign-in URL or one that requires authentication
    /// itself, an invalid WebSocket origin.
    ///
    /// A configuration that could never work is refused too:
    /// [identity](Self::identity) or
    /// [enforcement](Self::require_authentication) with neither a token
    /// verifier nor a session store ([`ConfigError::NoAuthentication`]: no
    /// request could be authenticated), and a sign-in page without a
    /// session store ([`ConfigError::SignInWithoutStore`]) or without any
    /// path requiring authentication
    /// ([`ConfigError::SignInWithoutEnforcement`]): no browser would ever be
    /// sent there.
    pub fn build(self) -> Result<WellKnownLayer<V, St>, ConfigError>
    where
        St: StoreSlot,
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
        if St::ENABLED {
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
            let reason = if !valid {
                "policy names are non-empty tokens of letters, digits, '-', '_' or '.'"
            } else if reserved {
                "the mechanism names are listed by the layer itself, exactly when the mechanism is enabled"
            } else if policies.contains(&name) {
                "it is listed already; list each name once"
            } else {
                policies.push(name);
                continue;
            };
            return Err(ConfigError::InvalidPolicy { name, reason });
        }
        if self.idle_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::InvalidIdleTimeout);
        }
        if self.timeout.as_ref().is_some_and(|t| t.duration.is_zero()) {
            return Err(ConfigError::InvalidBackendTimeout);
        }
        // Only a sign-in page the app names must have guarded paths to send
        // browsers from: a sign-in layer's default page serves its own
        // endpoints whether or not any path requires authentication.
        let sign_in = self.forwarding.sign_in_url.is_some();
        let required = self.forwarding.required.is_some();
        let identity = self.forwarding.identity.is_some();
        let forwarding = self.forwarding.build()?;
        if self.tokens.is_none() && !St::ENABLED {
            if required {
                return Err(ConfigError::NoAuthentication("require_authentication"));
            }
            if identity {
                return Err(ConfigError::NoAuthentication("identity"));
            }
        }
        if sign_in && !St::ENABLED {
            return Err(ConfigError::SignInWithoutStore);
        }
        if sign_in && !required {
            return Err(ConfigError::SignInWithoutEnforcement);
        }
        let tunnels = Arc::new(self.tunnels);
        // The cookie is checked only when there is a store to issue it.
        let manager = self.store.into_manager(|store| {
            let cookie = CookieHeaders::new(cookie_for_tunnels(self.cookie, &tunnels)?)?;
            Ok::<_, ConfigError>(
                SessionManager::new(store, cookie, self.idle_timeout, self.timeout.clone())
                    .with_tunnels(Arc::clone(&tunnels)),
            )
        })?;
        let sessions = St::sessions(&manager);
        Ok(WellKnownLayer {
            sessions: manager,
            config: Arc::new(Config {
                tunnels,
                tokens: self.tokens,
                sessions,
                // Serialising strings cannot fail.
                policies_json: Arc::from(serde_json::to_string(&policies).unwrap_or_default()),
                policies,
                forwarding,
                timeout: self.timeout,
            }),
        })
    }
}

/// The session cookie for these tunnels: the one set, unless it is `Secure`
/// beside a plain-`http` tunnel that is not loopback; else the default, with
/// `Secure` following the tunnels' schemes (see
/// [`WellKnownBuilder::session_cookie`]).
fn cookie_for_tunnels(
    set: Option<SessionCookie>,
    tunnels: &Tunnels,
) -> Result<SessionCookie, ConfigError> {
    let (plain, public_plain) = tunnels.first_plain_http();
    match set {
        Some(cookie) => match public_plain {
            Some(tunnel) if cookie.is_secure() => {
                Err(ConfigError::SecureCookieOnPlainHttp(tunnel.origin()))
            }
            _ => Ok(cookie),
        },
        None => match (plain, tunnels.first_https()) {
            (None, _) => Ok(SessionCookie::default()),
            (Some(_), None) => Ok(SessionCookie::default().secure(false)),
            (Some(http), Some(https)) => Err(ConfigError::MixedTunnelSchemes {
                http: http.origin(),
                https: https.origin(),
            }),
        },
    }
}
