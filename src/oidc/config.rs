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
use crate::identity::User;
use crate::manager::SessionManager;
use crate::refresh::Refresher;
use crate::store::{RevokeAll, SessionStore};

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
/// prefix and the limits. Turn it into an [`OidcLayer`] with
/// [`build`](Self::build).
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
    /// Without keys, [`build`](Self::build) generates one at random: fine
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

    /// The start endpoint's path, for
    /// [`WellKnownBuilder::sign_in_url`](crate::WellKnownBuilder::sign_in_url).
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
    /// layer built with
    /// [`build_with_backchannel_logout`](Self::build_with_backchannel_logout).
    pub fn backchannel_logout_path(&self) -> String {
        format!("{}/backchannel-logout", self.prefix)
    }

    /// The layer of [`build`](Self::build), with the back-channel logout
    /// endpoint too: `POST {prefix}/backchannel-logout`, where the provider
    /// ends sessions (OpenID Connect Back-Channel Logout 1.0; see the module
    /// documentation). Only for stores that can find sessions by the
    /// provider session they came from ([`RevokeAll`]): the endpoint ends
    /// them through the store, so on every instance that shares it. A store
    /// that cannot does not compile here.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub fn build_with_backchannel_logout<St: RevokeAll>(
        self,
        sessions: SessionManager<St>,
        http: impl HttpClient,
    ) -> Result<OidcLayer<St>, OidcConfigError> {
        let manager = sessions.clone();
        let revoke: Box<RevokeTagged> = Box::new(move |tag: String| {
            let manager = manager.clone();
            Box::pin(async move { manager.revoke_tagged(&tag).await.map_err(drop) })
        });
        self.build_with(
            sessions,
            http,
            Some(Backchannel {
                revoke,
                seen: SeenTokens::new(),
            }),
        )
    }

    /// The layer, signing users in through `sessions` (from
    /// [`WellKnownLayer::session_manager`](crate::WellKnownLayer::session_manager))
    /// and calling the provider through `http`. Discovery happens on the
    /// first sign-in (call [`OidcLayer::discover`] to do it now).
    ///
    /// # Errors
    ///
    /// [`OidcConfigError`] for an issuer that is not an `https` URL (or a
    /// loopback `http` one), an empty client id, a bad prefix or
    /// post-logout path, a zero TTL, or a per-browser limit of 0 or over 16.
    pub fn build<St: SessionStore>(
        self,
        sessions: SessionManager<St>,
        http: impl HttpClient,
    ) -> Result<OidcLayer<St>, OidcConfigError> {
        self.build_with(sessions, http, None)
    }

    fn build_with<St: SessionStore>(
        self,
        sessions: SessionManager<St>,
        http: impl HttpClient,
        backchannel: Option<Backchannel>,
    ) -> Result<OidcLayer<St>, OidcConfigError> {
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|_| OidcConfigError("issuer"))?;
        if !allowed_url(issuer.url(), issuer.url()) {
            return Err(OidcConfigError("issuer"));
        }
        if self.client_id.is_empty() {
            return Err(OidcConfigError("client_id"));
        }
        let prefix_ok = self.prefix.starts_with('/')
            && !self.prefix.ends_with('/')
            && !self.prefix.starts_with("/.well-known/")
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#' && b != b'%');
        if !prefix_ok {
            return Err(OidcConfigError("path_prefix"));
        }
        if crate::return_url::safe_return_url(&self.post_logout_path).is_none() {
            return Err(OidcConfigError("post_logout_path"));
        }
        if self.flow_ttl.is_zero()
            || !(1..=MAX_PENDING_PER_BROWSER).contains(&self.max_pending_per_browser)
        {
            return Err(OidcConfigError("limits"));
        }
        let flow_keys = if self.flow_keys.is_empty() {
            FlowKeys::new(&[FlowKey::generate()])
        } else {
            FlowKeys::new(&self.flow_keys)
        };
        Ok(OidcLayer {
            inner: Arc::new(Inner {
                issuer,
                sessions,
                http: Arc::new(http),
                flow_keys,
                provider: Refresher::new(self.key_refresh_interval),
                keys: Refresher::new(self.key_refresh_interval),
                backchannel,
                config: self,
            }),
        })
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
