//! [`OidcConfig`]: the provider, the client, the endpoints' prefix and the
//! limits, checked when the layer is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::IssuerUrl;

use super::backchannel::SeenTokens;
use super::flow::{FlowKey, FlowKeys};
use super::layer::{Backchannel, Inner, RevokeTagged};
use super::{HttpClient, OidcClaims, OidcConfigError, OidcLayer, UserRefused, url};
use crate::refresh::Refresher;
use crate::{RevokeAll, SessionManager, SessionStore, User, WellKnownBuilder};

/// The most pending sign-ins a browser may hold
/// ([`OidcConfig::max_pending_per_browser`]): each is a cookie, and
/// browsers and servers limit how many bytes of cookies a request carries.
pub(super) const MAX_PENDING_PER_BROWSER: usize = 16;

/// At most this many cookies of pending sign-ins are opened at a start (a
/// browser holds at most [`MAX_PENDING_PER_BROWSER`]; more were planted).
pub(super) const MAX_FLOW_COOKIES_READ: usize = 2 * MAX_PENDING_PER_BROWSER;

/// Maps the provider's claims to the user to sign in, or refuses.
pub(super) type MapUser = dyn Fn(&OidcClaims, User) -> Result<User, UserRefused> + Send + Sync;

/// The sign-in's configuration: the provider, the client, the endpoints'
/// prefix and the limits. Turn it, with the app's
/// [`WellKnownBuilder`], into one [`OidcLayer`] with [`layer`](Self::layer).
#[derive(Clone)]
pub struct OidcConfig {
    pub(super) issuer: String,
    pub(super) client_id: String,
    pub(super) client_secret: Option<String>,
    pub(super) prefix: String,
    pub(super) scopes: Vec<String>,
    pub(super) flow_ttl: Duration,
    pub(super) flow_keys: Vec<FlowKey>,
    pub(super) max_pending_per_browser: usize,
    pub(super) leeway: Duration,
    pub(super) key_refresh_interval: Duration,
    pub(super) namespace_user_ids: bool,
    pub(super) post_logout_path: String,
    pub(super) map_user: Option<Arc<MapUser>>,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .field("flow_ttl", &self.flow_ttl)
            .field("flow_keys", &self.flow_keys)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// A public client (no secret) of the provider at `issuer` (its
    /// discovery document is at `{issuer}/.well-known/openid-configuration`).
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            prefix: "/_rstream/oidc".to_owned(),
            scopes: vec!["profile".to_owned(), "email".to_owned()],
            flow_ttl: Duration::from_secs(600),
            flow_keys: Vec::new(),
            max_pending_per_browser: 8,
            leeway: Duration::from_secs(60),
            key_refresh_interval: Duration::from_secs(30),
            namespace_user_ids: false,
            post_logout_path: "/".to_owned(),
            map_user: None,
        }
    }

    /// A confidential client: the secret authenticates the code exchange
    /// (`client_secret_basic`).
    #[must_use]
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// The endpoints' prefix (`/_rstream/oidc`): starts with `/`, no
    /// trailing `/`, not under `/.well-known/`.
    #[must_use]
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The scopes asked for besides `openid` (`profile`, `email`).
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How long a started sign-in may take (10 minutes).
    #[must_use]
    pub fn flow_ttl(mut self, ttl: Duration) -> Self {
        self.flow_ttl = ttl;
        self
    }

    /// How many sign-ins one browser may have pending (8, at most 16): a
    /// new one drops its oldest. Each is a cookie of about 500 bytes (a
    /// long return path makes it longer, up to about 1.6 KB).
    #[must_use]
    pub fn max_pending_per_browser(mut self, max: usize) -> Self {
        self.max_pending_per_browser = max;
        self
    }

    /// The keys that seal pending sign-ins into the browser's cookies: the
    /// first seals, every one of them opens. Give every instance that may
    /// finish a sign-in the same keys.
    ///
    /// To rotate, put the new key first and keep the old one after it for
    /// at least [`flow_ttl`](Self::flow_ttl) (10 minutes); then drop it.
    /// Sign-ins in flight keep working throughout.
    ///
    /// Without keys, [`layer`](Self::layer) generates one at random: fine
    /// for one instance, but another instance cannot finish a sign-in this
    /// one started, and a restart ends the sign-ins in flight (their
    /// callbacks are refused with `flow_cookie_unknown_key`).
    ///
    /// ```
    /// use rstream_well_known::oidc::{FlowKey, OidcConfig};
    ///
    /// let current = FlowKey::from_hex(&"1f".repeat(32))?;
    /// let previous = FlowKey::from_hex(&"2e".repeat(32))?;
    /// let config = OidcConfig::new("https://login.example.com", "app")
    ///     .flow_keys([current, previous]);
    /// # Ok::<(), rstream_well_known::oidc::FlowKeyError>(())
    /// ```
    #[must_use]
    pub fn flow_keys(mut self, keys: impl IntoIterator<Item = FlowKey>) -> Self {
        self.flow_keys = keys.into_iter().collect();
        self
    }

    /// The clock skew allowed on the ID token's `exp` (60 seconds).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two key set fetches for an unknown key id,
    /// and how long a failed discovery is remembered before the next
    /// request tries again (30 seconds). Concurrent requests share one
    /// fetch: a provider that is down sees one discovery fetch per
    /// interval, however many sign-ins start.
    #[must_use]
    pub fn key_refresh_interval(mut self, interval: Duration) -> Self {
        self.key_refresh_interval = interval;
        self
    }

    /// User ids `{issuer}#{sub}` instead of `sub`, for apps that accept
    /// several providers.
    #[must_use]
    pub fn namespace_user_ids(mut self, namespace: bool) -> Self {
        self.namespace_user_ids = namespace;
        self
    }

    /// The path on the tunnel the provider sends the browser back to after
    /// sign-out (`/`); register `{tunnel origin}{path}` as a post-logout
    /// redirect URI at the provider.
    #[must_use]
    pub fn post_logout_path(mut self, path: impl Into<String>) -> Self {
        self.post_logout_path = path.into();
        self
    }

    /// Maps the provider's claims to the user to sign in, or refuses the
    /// user (`403` with the refusal's reason): allow-lists of domains or
    /// groups, roles from claims.
    ///
    /// ```
    /// use rstream_well_known::oidc::{OidcConfig, UserRefused};
    ///
    /// let config = OidcConfig::new("https://login.example.com", "app")
    ///     .map_user(|claims, user| {
    ///         let staff = claims.claim("groups").and_then(|g| g.as_array())
    ///             .is_some_and(|groups| groups.iter().any(|g| g == "staff"));
    ///         if staff { Ok(user.with_attribute("role", "staff")) }
    ///         else { Err(UserRefused::new("not_staff")) }
    ///     });
    /// ```
    #[must_use]
    pub fn map_user<F>(mut self, map: F) -> Self
    where
        F: Fn(&OidcClaims, User) -> Result<User, UserRefused> + Send + Sync + 'static,
    {
        self.map_user = Some(Arc::new(map));
        self
    }

    /// The start endpoint's path (`{prefix}/start`), where
    /// [`layer`](Self::layer) sends refused browser navigations, and where
    /// a sign-in link points (`?return_to=/path`).
    pub fn start_path(&self) -> String {
        format!("{}/start", self.prefix)
    }

    /// The sign-out endpoint's path (for the sign-out form's `action`).
    pub fn sign_out_path(&self) -> String {
        format!("{}/sign-out", self.prefix)
    }

    /// The callback path: register `{tunnel origin}{path}` as a redirect URI
    /// at the provider, for each tunnel.
    pub fn callback_path(&self) -> String {
        format!("{}/callback", self.prefix)
    }

    /// The back-channel logout endpoint's path: register
    /// `{tunnel origin}{path}` as the client's `backchannel_logout_uri` at
    /// the provider (with `backchannel_logout_session_required`), for a
    /// layer made with
    /// [`layer_with_backchannel_logout`](Self::layer_with_backchannel_logout).
    pub fn backchannel_logout_path(&self) -> String {
        format!("{}/backchannel-logout", self.prefix)
    }

    /// Sign-in with the back-channel logout endpoint too: the layer of
    /// [`layer`](Self::layer), that also answers
    /// `POST {prefix}/backchannel-logout`, where the provider ends sessions
    /// (OpenID Connect Back-Channel Logout 1.0; see the module
    /// documentation). Only for stores that can find sessions by the
    /// provider session they came from ([`RevokeAll`]): the endpoint ends
    /// them through the store, so on every instance that shares it. A store
    /// that cannot does not compile here.
    ///
    /// # Errors
    ///
    /// As [`layer`](Self::layer).
    pub fn layer_with_backchannel_logout<V, St: RevokeAll>(
        self,
        well_known: WellKnownBuilder<V, St>,
        http: impl HttpClient,
    ) -> Result<OidcLayer<V, St>, OidcConfigError> {
        self.layer_with(well_known, http, |sessions| {
            let manager = sessions.clone();
            let revoke: Box<RevokeTagged> = Box::new(move |tag: String| {
                let manager = manager.clone();
                Box::pin(async move { manager.revoke_tagged(&tag).await.map_err(drop) })
            });
            Some(Backchannel {
                revoke,
                seen: SeenTokens::new(),
            })
        })
    }

    /// The app's [`WellKnownLayer`](crate::WellKnownLayer), built from
    /// `well_known`, with this sign-in in front of it, as one layer: the
    /// sign-in endpoints are answered before the well-known layer sees the
    /// request (so that they stay reachable where authentication is
    /// required), and refused browser navigations are sent to the start
    /// endpoint, with the return path in `return_to` (unless
    /// [`WellKnownBuilder::sign_in_url`] names another sign-in page). The
    /// provider is called through `http`. Discovery happens on the first
    /// sign-in (call [`OidcLayer::discover`] to do it now).
    ///
    /// Handlers get the layer's [`SessionManager`](crate::SessionManager)
    /// from [`OidcLayer::session_manager`].
    ///
    /// ```
    /// # #[cfg(feature = "oidc-hyper")] {
    /// use rstream_well_known::http_client::HyperClient;
    /// use rstream_well_known::oidc::OidcConfig;
    /// use rstream_well_known::{MemoryStore, Paths, WellKnownLayer};
    ///
    /// let layer = OidcConfig::new("https://login.example.com", "app").layer(
    ///     WellKnownLayer::builder()
    ///         .development_tunnel(3000)
    ///         .with_session_store(MemoryStore::new())
    ///         .require_authentication(Paths::prefix("/account")),
    ///     HyperClient::new()?,
    /// )?;
    /// let sessions = layer.session_manager();
    /// # let _ = sessions;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`OidcConfigError::Setting`] for an issuer that is not an `https`
    /// URL (or a loopback `http` one), an empty client id, a bad prefix or
    /// post-logout path, a zero TTL, or a per-browser limit of 0 or over
    /// 16; [`OidcConfigError::WellKnown`] when `well_known` does not build.
    /// A builder without a session store does not compile (sign-in ends in a
    /// session):
    ///
    /// ```compile_fail
    /// # use rstream_well_known::http_client::HyperClient;
    /// # use rstream_well_known::oidc::OidcConfig;
    /// # use rstream_well_known::WellKnownLayer;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = WellKnownLayer::builder().development_tunnel(3000);
    /// let layer = OidcConfig::new("https://login.example.com", "app")
    ///     .layer(builder, HyperClient::new()?)?;
    /// # Ok(()) }
    /// ```
    pub fn layer<V, St: SessionStore>(
        self,
        well_known: WellKnownBuilder<V, St>,
        http: impl HttpClient,
    ) -> Result<OidcLayer<V, St>, OidcConfigError> {
        self.layer_with(well_known, http, |_| None)
    }

    fn layer_with<V, St: SessionStore>(
        self,
        well_known: WellKnownBuilder<V, St>,
        http: impl HttpClient,
        backchannel: impl FnOnce(&SessionManager<St>) -> Option<Backchannel>,
    ) -> Result<OidcLayer<V, St>, OidcConfigError> {
        let issuer =
            IssuerUrl::new(self.issuer.clone()).map_err(|_| OidcConfigError::Setting("issuer"))?;
        if !allowed_url(issuer.url(), issuer.url()) {
            return Err(OidcConfigError::Setting("issuer"));
        }
        if self.client_id.is_empty() {
            return Err(OidcConfigError::Setting("client_id"));
        }
        let prefix_ok = self.prefix.starts_with('/')
            && !self.prefix.ends_with('/')
            && !self.prefix.starts_with("/.well-known/")
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#' && b != b'%');
        if !prefix_ok {
            return Err(OidcConfigError::Setting("path_prefix"));
        }
        if self.flow_ttl.is_zero()
            || !(1..=MAX_PENDING_PER_BROWSER).contains(&self.max_pending_per_browser)
        {
            return Err(OidcConfigError::Setting("limits"));
        }
        let well_known = well_known
            .default_sign_in_url(self.start_path())
            .build()
            .map_err(OidcConfigError::WellKnown)?;
        let sessions = well_known.session_manager();
        if sessions.safe_return_url(&self.post_logout_path).is_none() {
            return Err(OidcConfigError::Setting("post_logout_path"));
        }
        let flow_keys = if self.flow_keys.is_empty() {
            FlowKeys::new(&[FlowKey::generate()])
        } else {
            FlowKeys::new(&self.flow_keys)
        };
        let inner = Inner {
            issuer,
            sessions: sessions.clone(),
            http: Arc::new(http),
            flow_keys,
            provider: Refresher::new(self.key_refresh_interval),
            keys: Refresher::new(self.key_refresh_interval),
            backchannel: backchannel(&sessions),
            config: self,
        };
        Ok(OidcLayer::new(well_known, sessions, inner))
    }
}

/// Whether `url` may be used with `issuer`: `https`, or `http` on a
/// loopback host when the issuer is such a loopback `http` URL too.
pub(super) fn allowed_url(url: &url::Url, issuer: &url::Url) -> bool {
    fn loopback(url: &url::Url) -> bool {
        matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    }
    match url.scheme() {
        "https" => true,
        "http" => loopback(url) && issuer.scheme() == "http" && loopback(issuer),
        _ => false,
    }
}
