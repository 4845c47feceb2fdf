//! Interactive sign-in against any OpenID Connect provider, in-process
//! (feature `oidc`): what rstream Auth does at the edge, for apps that have
//! no edge in front of them.
//!
//! [`OidcLayer`] answers three endpoints under a path prefix
//! (`/_rstream/oidc` by default, outside `/.well-known/rstream/`, which is
//! the engine's) and forwards everything else:
//!
//! - `GET {prefix}/start?return_to=/path`: starts a sign-in and sends the
//!   browser to the provider;
//! - `GET {prefix}/callback`: the provider's redirect back; on success, a
//!   fresh rstream Auth session (the cookie the well-known endpoints read)
//!   and a redirect to the return path;
//! - `POST {prefix}/sign-out`: revokes the browser's sessions, clears the
//!   cookie and sends the browser to the provider's end-session endpoint
//!   when it has one. A `GET` never signs anyone out (`405`);
//! - `POST {prefix}/backchannel-logout`, when built with
//!   [`OidcConfig::build_with_backchannel_logout`]: the provider ends
//!   sessions (OpenID Connect Back-Channel Logout 1.0, below).
//!
//! Put it outside the [`WellKnownLayer`](crate::WellKnownLayer) (so that its
//! endpoints stay reachable when enforcement is on), and give the same
//! configuration to
//! [`WellKnownBuilder::oidc_sign_in`](crate::WellKnownBuilder::oidc_sign_in):
//! with enforcement on, refused browser navigations then go to the start
//! endpoint by default, and come back to the page they asked for.
//!
//! # Security rulings
//!
//! - Authorization code flow only, with PKCE `S256` and a `nonce` always.
//!   `state` is 256 random bits, and bound to the browser that started the
//!   flow: a `HttpOnly`, `SameSite=Lax` cookie (`__Host-rstream_oidc` on
//!   https tunnels, `rstream_oidc` on http ones) holds 256 random bits that
//!   the flow records and the callback compares in constant time, before the
//!   code is exchanged.
//! - **Nothing about a pending sign-in is kept on the server**: it travels
//!   with the browser, in a cookie of its own named after the binding cookie
//!   and the state's first 16 characters (`__Host-rstream_oidc_<tag>`),
//!   sealed with XChaCha20-Poly1305 under the first of
//!   [`OidcConfig::flow_keys`]: the state, the PKCE verifier, the nonce, the
//!   return path, the tunnel, the expiry and the browser binding. So any
//!   instance configured with the same keys finishes a sign-in another one
//!   started (no sticky routing), and a flood of starts fills nothing: a
//!   start without cookies keeps no state anywhere. Without configured keys
//!   a random key is generated at build: one instance only, and a restart
//!   ends the sign-ins in flight.
//! - The callback consumes its sign-in: every answer to it, success or
//!   refusal, removes the sign-in's cookie, so the same callback URL
//!   replayed in the same browser is refused (`400 unknown_state`), and so
//!   is one delivered to another browser (which holds no such cookie; one
//!   whose cookie was copied over fails the binding, `403
//!   browser_mismatch`). The authorization code itself is single-use at the
//!   provider, so even a copy of the cookie taken before the callback cannot
//!   sign in twice.
//! - A flow cookie that does not open is refused with what happened to it,
//!   `400` and one of `flow_cookie_malformed` (not a sealed flow),
//!   `flow_cookie_truncated` (cut short), `flow_cookie_tampered` (changed, or
//!   moved under another name) and `flow_cookie_unknown_key` (sealed with a
//!   key this instance lacks: another deployment, or a key rotated out); an
//!   expired one with `400 sign_in_expired`. None of them ever mints a
//!   session.
//! - Several tabs sign in in parallel, each with its own cookie. A browser
//!   holds at most [`OidcConfig::max_pending_per_browser`] (8, at most 16):
//!   a start drops the oldest, and every flow cookie that does not open, has
//!   expired or carries another binding. A flow cookie is about 500 bytes
//!   (the return path is kept only up to 1,024 bytes, else `/`), well within
//!   the 4,096 bytes browsers keep per cookie. A flow expires after
//!   [`OidcConfig::flow_ttl`] (10 minutes).
//! - The authorization response's `iss` (RFC 9207) must equal the issuer
//!   when present, and must be present when the provider advertises
//!   `authorization_response_iss_parameter_supported`.
//! - The ID token: signature by a key of the provider's JWKS with an
//!   asymmetric algorithm (RS256/384/512, PS256/384/512, ES256/384/512,
//!   EdDSA; never `none`, never HS*, even for confidential clients), `iss`,
//!   `aud` (the client id, and no other audience), `azp` (the client id when
//!   present, required with several audiences), `exp` with
//!   [`OidcConfig::leeway`] (60 s), `nonce`, and `at_hash` when present:
//!   [`IdTokenVerifier`], on the crate's JWT code (the `jwt` feature's
//!   [`SignedJwt`](crate::jwt::SignedJwt), as for bearer tokens), not on
//!   `openidconnect`'s. Each refusal names its reason
//!   ([`IdTokenRefusal::reason`]): an algorithm not accepted is
//!   `unsupported_algorithm`, not `invalid_signature`. A key id the cached
//!   key set lacks refetches the key set, at most once per
//!   [`OidcConfig::key_refresh_interval`] (30 s).
//! - The issuer, and every endpoint its discovery document names, must be
//!   `https`, except on a loopback issuer (`http://127.0.0.1:…`,
//!   `http://localhost:…`, for tests and development). The discovery
//!   document must name the configured issuer exactly.
//! - `redirect_uri` is the origin of the tunnel the request is for (as
//!   configured on the layer) plus `{prefix}/callback`: never built from
//!   `Host` beyond picking a configured tunnel, nor from forwarding headers.
//!   The callback must arrive on the tunnel its flow started on.
//! - The return path is checked with
//!   [`SessionManager::safe_return_url`]; anything else becomes `/`.
//! - A successful sign-in revokes every session the browser presented and
//!   always mints a fresh one (no session fixation). A callback presenting
//!   more session cookie values than the layer revokes (16) is refused,
//!   `400 too_many_session_cookies`, as logout refuses it.
//! - Claims: `sub` → user id (or `{issuer}#{sub}` with
//!   [`OidcConfig::namespace_user_ids`]), `name` (else `preferred_username`)
//!   → name, `email` only when `email_verified` is `true`, `picture` →
//!   image. When the ID token has none of `name`, `preferred_username`,
//!   `email` and `picture`, userinfo is fetched, and its `sub` must be the
//!   ID token's. [`OidcConfig::map_user`] lets the app change or refuse the
//!   user. The ID token is kept in the session's attributes under
//!   [`ID_TOKEN_ATTRIBUTE`], for the end-session endpoint's `id_token_hint`.
//! - Every failure is a `no-store` JSON answer `{"error":"<reason>"}`
//!   (400, 403, 405, 502 or 503; never 500). A browser navigation (a `GET`
//!   that accepts `text/html`) that fails at the start or the callback gets
//!   a small HTML page instead, with the same status: what happened, a link
//!   to start again, and the reason code; `no-store`, `Referrer-Policy:
//!   no-referrer` (the callback's URL holds the code), a
//!   `Content-Security-Policy` of `default-src 'none'`, everything it shows
//!   escaped, and no secret. Logs carry the reason and, for provider
//!   answers, the provider's error code: never a code, token, state, nonce
//!   or cookie.
//! - The response mode is `query`; `form_post` is not supported.
//!
//! # Back-channel logout
//!
//! When the user signs out at the provider, or an admin ends their session
//! there, the provider POSTs a logout token to the client's
//! `backchannel_logout_uri`. Register `{tunnel origin}{prefix}/backchannel-logout`
//! ([`OidcConfig::backchannel_logout_path`]) there, with
//! `backchannel_logout_session_required`, and build the layer with
//! [`OidcConfig::build_with_backchannel_logout`], which takes only stores
//! that can find sessions that way ([`RevokeAll`]: the memory and Redis
//! stores; a store that cannot does not compile there).
//!
//! - Every sign-in tags its session with the provider's user (`iss` and
//!   `sub`) and, when the ID token has a `sid`, the provider session
//!   ([`Session::with_tag`](crate::Session::with_tag)).
//! - The endpoint takes `application/x-www-form-urlencoded` only (else
//!   `415`), at most 16 KiB (else `413`), with a `logout_token` field. The
//!   token is checked by [`LogoutTokenVerifier`]: its signature with the
//!   provider's keys, through the key set and code that check ID tokens
//!   (a key id the set lacks refetches it, as for ID tokens); `iss` and
//!   `aud`; `iat` no later than now plus [`OidcConfig::leeway`] and no older
//!   than 5 minutes plus it; `exp`, when present; a `jti`; the back-channel
//!   logout member in `events`; `sid` and/or `sub`; no `nonce`; `typ`, when
//!   present, `logout+jwt`. A `jti` already accepted by this instance within
//!   the token's lifetime is refused (`logout_token_replayed`; a replay sent
//!   to another instance only ends the same sessions again).
//! - With `sid`: the sessions of that provider session end. With only
//!   `sub`: every session of that user from that provider. Through the
//!   store, so on every instance that shares it, at once.
//! - `200` with `Cache-Control: no-store` on success. Every failure is
//!   `400` `{"error":"<reason>"}` (the specification's answer), the reasons
//!   of [`LogoutTokenRefusal::reason`], `missing_logout_token`,
//!   `provider_unavailable` or `store_unavailable` (the provider may send
//!   it again: its `jti` is not kept then). Other methods get `405`.

mod backchannel;
mod flow;
mod id_token;
mod provider;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use ::http::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE,
};
use ::http::request::Parts;
use ::http::{HeaderValue, Method, Request, Response, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use bytes::Bytes;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::url;
use openidconnect::{
    AuthorizationCode, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    Scope, TokenResponse as _,
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;
use tower_layer::Layer;
use tower_service::Service;

pub use self::backchannel::{
    BACKCHANNEL_LOGOUT_EVENT, LogoutToken, LogoutTokenRefusal, LogoutTokenVerifier,
};
use self::backchannel::{SeenTokens, sid_tag, sub_tag};
pub use self::flow::{FlowKey, FlowKeyError};
use self::flow::{FlowKeys, MAX_RETURN_TO_LEN, Pending};
pub use self::id_token::{IdTokenRefusal, IdTokenVerifier};
pub use self::provider::DiscoveryError;
use self::provider::Provider;
use crate::ResponseBody;
use crate::future::ResponseFuture;
use crate::http_client::{HttpClient, HttpError, HttpFuture};
use crate::identity::User;
use crate::jwt::JwkSet;
use crate::manager::SessionManager;
use crate::refresh::Refresher;
use crate::store::{RevokeAll, SessionStore};

/// The session attribute that holds the ID token of an OpenID Connect
/// sign-in, sent as `id_token_hint` at sign-out.
pub const ID_TOKEN_ATTRIBUTE: &str = "oidcIdToken";

/// The most pending sign-ins a browser may hold
/// ([`OidcConfig::max_pending_per_browser`]): each is a cookie, and
/// browsers and servers limit how many bytes of cookies a request carries.
const MAX_PENDING_PER_BROWSER: usize = 16;

/// At most this many cookies of pending sign-ins are opened at a start (a
/// browser holds at most [`MAX_PENDING_PER_BROWSER`]; more were planted).
const MAX_FLOW_COOKIES_READ: usize = 2 * MAX_PENDING_PER_BROWSER;

/// The client as built from discovery.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Maps the provider's claims to the user to sign in, or refuses.
type MapUser = dyn Fn(&OidcClaims, User) -> Result<User, UserRefused> + Send + Sync;

/// The sign-in's configuration: the provider, the client, the endpoints'
/// prefix and the limits. Turn it into an [`OidcLayer`] with
/// [`build`](Self::build).
#[derive(Clone)]
pub struct OidcConfig {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    prefix: String,
    scopes: Vec<String>,
    flow_ttl: Duration,
    flow_keys: Vec<FlowKey>,
    max_pending_per_browser: usize,
    leeway: Duration,
    key_refresh_interval: Duration,
    namespace_user_ids: bool,
    post_logout_path: String,
    map_user: Option<Arc<MapUser>>,
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

/// Why [`OidcConfig::build`] refused: the setting named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OidcConfigError(&'static str);

impl fmt::Display for OidcConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid OpenID Connect setting: {}", self.0)
    }
}

impl std::error::Error for OidcConfigError {}

/// An app's refusal of a signed-in user ([`OidcConfig::map_user`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRefused(String);

impl UserRefused {
    /// A refusal with `reason`, shown to the browser as the error
    /// (`{"error":"<reason>"}`); characters other than ASCII letters,
    /// digits and `_` become `_`.
    pub fn new(reason: impl Into<String>) -> Self {
        let reason: String = reason
            .into()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        Self(if reason.is_empty() {
            "user_refused".to_owned()
        } else {
            reason
        })
    }
}

/// The provider's claims about the user: the verified ID token's and, when
/// fetched, userinfo's.
#[derive(Debug, Clone)]
pub struct OidcClaims {
    issuer: String,
    subject: String,
    id_token: Map<String, Value>,
    userinfo: Option<Map<String, Value>>,
}

impl OidcClaims {
    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// A claim: the ID token's, else userinfo's.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.id_token
            .get(name)
            .or_else(|| self.userinfo.as_ref().and_then(|u| u.get(name)))
    }

    /// The ID token's claims.
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        &self.id_token
    }

    /// Userinfo's claims, when fetched.
    pub fn userinfo_claims(&self) -> Option<&Map<String, Value>> {
        self.userinfo.as_ref()
    }

    /// The email, only when the provider says it is verified
    /// (`email_verified` is `true`).
    pub fn verified_email(&self) -> Option<&str> {
        let verified = self.claim("email_verified").and_then(Value::as_bool) == Some(true);
        verified
            .then(|| self.claim("email").and_then(Value::as_str))
            .flatten()
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.claim(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The default mapping: see the module documentation.
    fn user(&self, namespace: bool) -> User {
        let id = if namespace {
            format!("{}#{}", self.issuer, self.subject)
        } else {
            self.subject.clone()
        };
        let mut user = User::new(id);
        if let Some(name) = self
            .string("name")
            .or_else(|| self.string("preferred_username"))
        {
            user = user.with_name(name);
        }
        if let Some(email) = self.verified_email() {
            user = user.with_email(email);
        }
        if let Some(picture) = self.string("picture") {
            user = user.with_image(picture);
        }
        user
    }
}

struct Inner<St> {
    config: OidcConfig,
    issuer: IssuerUrl,
    sessions: SessionManager<St>,
    http: Arc<dyn HttpClient>,
    flow_keys: FlowKeys,
    /// The discovery document, fetched once (a failure is kept for the
    /// key refresh interval).
    provider: Refresher<Provider, DiscoveryError>,
    /// The provider's key set, fetched with discovery and again for an
    /// unknown key id (at most once per key refresh interval).
    keys: Refresher<JwkSet, DiscoveryError>,
    /// The back-channel logout endpoint, when on.
    backchannel: Option<Backchannel>,
}

/// Ends the sessions of a tag through the store (`RevokeAll::revoke_tagged`,
/// for the store type the layer was built with).
type RevokeTagged =
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<(), ()>> + Send>> + Send + Sync;

/// What the back-channel logout endpoint needs.
struct Backchannel {
    revoke: Box<RevokeTagged>,
    seen: SeenTokens,
}

/// The sign-in endpoints as a tower layer: see the [module
/// documentation](self).
pub struct OidcLayer<St> {
    inner: Arc<Inner<St>>,
}

impl<St> Clone for OidcLayer<St> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<St> fmt::Debug for OidcLayer<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcLayer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<S, St> Layer<S> for OidcLayer<St> {
    type Service = OidcService<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService {
            inner,
            oidc: self.clone(),
        }
    }
}

/// The service [`OidcLayer`] wraps around the app.
pub struct OidcService<S, St> {
    inner: S,
    oidc: OidcLayer<St>,
}

impl<S: Clone, St> Clone for OidcService<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            oidc: self.oidc.clone(),
        }
    }
}

impl<S: fmt::Debug, St> fmt::Debug for OidcService<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcService")
            .field("inner", &self.inner)
            .field("oidc", &self.oidc)
            .finish()
    }
}

#[derive(Clone, Copy)]
enum Endpoint {
    Start,
    Callback,
    SignOut,
    BackchannelLogout,
}

impl<S, St, ReqBody, ResBody> Service<Request<ReqBody>> for OidcService<S, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: 'static,
    St: SessionStore,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(endpoint) = self.oidc.route(request.uri().path()) else {
            return ResponseFuture::forward(self.inner.call(request));
        };
        let (parts, body) = request.into_parts();
        let oidc = self.oidc.clone();
        // A gate that never lets the request through: the endpoint's answer.
        ResponseFuture::gate(Box::pin(async move {
            // Only the back-channel logout reads a body (a small form).
            let form = match endpoint {
                Endpoint::BackchannelLogout if parts.method == Method::POST => {
                    Some(backchannel::read_form(&parts, body).await)
                }
                _ => None,
            };
            Err(oidc.answer(endpoint, parts, form).await)
        }))
    }
}

/// The user's client as `openidconnect` calls it.
struct Adapter<'a>(&'a dyn HttpClient);

impl<'c> openidconnect::AsyncHttpClient<'c> for Adapter<'_> {
    type Error = HttpError;
    type Future = HttpFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        self.0.send(request)
    }
}

/// A failure: its status and reason, and a cookie its answer sets (the
/// removal of a pending sign-in the callback consumed).
struct Failure {
    status: StatusCode,
    reason: Cow<'static, str>,
    set_cookie: Option<HeaderValue>,
}

fn fail(status: StatusCode, reason: &'static str) -> Failure {
    Failure {
        status,
        reason: Cow::Borrowed(reason),
        set_cookie: None,
    }
}

impl<St: SessionStore> OidcLayer<St> {
    fn route(&self, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix(self.inner.config.prefix.as_str())?;
        match rest {
            "/start" => Some(Endpoint::Start),
            "/callback" => Some(Endpoint::Callback),
            "/sign-out" => Some(Endpoint::SignOut),
            "/backchannel-logout" if self.inner.backchannel.is_some() => {
                Some(Endpoint::BackchannelLogout)
            }
            _ => None,
        }
    }

    /// Fetches the provider's discovery document and keys now, instead of
    /// on the first sign-in: to fail fast at startup.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] when the provider cannot be reached or its
    /// documents are not acceptable.
    pub async fn discover(&self) -> Result<(), DiscoveryError> {
        self.provider().await.map(drop)
    }

    /// The answer of `endpoint`; `form` is the body the back-channel logout
    /// read (or why it could not).
    async fn answer(
        &self,
        endpoint: Endpoint,
        parts: Parts,
        form: Option<Result<Vec<u8>, Failure>>,
    ) -> Response<Option<Bytes>> {
        let head = parts.method == Method::HEAD;
        let result = match (endpoint, &parts.method, form) {
            (Endpoint::Start, &Method::GET | &Method::HEAD, _) => self.start(&parts).await,
            (Endpoint::Callback, &Method::GET | &Method::HEAD, _) => self.callback(&parts).await,
            (Endpoint::SignOut, &Method::POST, _) => self.sign_out(&parts).await,
            (Endpoint::BackchannelLogout, &Method::POST, Some(form)) => {
                self.backchannel_logout(form).await
            }
            _ => Err(fail(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")),
        };
        match result {
            Ok(response) => response,
            Err(failure) => {
                #[cfg(feature = "tracing")]
                tracing::warn!(reason = %failure.reason, status = failure.status.as_u16(), "rstream-well-known: OpenID Connect sign-in refused");
                let page = matches!(endpoint, Endpoint::Start | Endpoint::Callback)
                    && crate::forward::is_navigation(&parts.method, &parts.headers);
                let mut response = if page {
                    // Start again where the failed attempt would have led:
                    // a start keeps its query, a callback starts afresh.
                    let retry = match (endpoint, parts.uri.query()) {
                        (Endpoint::Start, Some(query)) => {
                            format!("{}?{query}", self.inner.config.start_path())
                        }
                        _ => self.inner.config.start_path(),
                    };
                    error_page(&failure, head, &retry)
                } else {
                    error_response(&failure, head)
                };
                if let Some(cookie) = failure.set_cookie {
                    response.headers_mut().append(SET_COOKIE, cookie);
                }
                if failure.status == StatusCode::METHOD_NOT_ALLOWED {
                    let allow = match endpoint {
                        Endpoint::SignOut | Endpoint::BackchannelLogout => "POST",
                        _ => "GET, HEAD",
                    };
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                }
                response
            }
        }
    }

    fn redirect_uri(&self, origin: &str) -> Result<RedirectUrl, Failure> {
        RedirectUrl::new(format!("{origin}{}", self.inner.config.callback_path()))
            .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_redirect_uri"))
    }

    /// The name of the browser binding's cookie on a tunnel of `origin`;
    /// the cookies of pending sign-ins are named after it.
    fn binding_cookie_name(origin: &str) -> &'static str {
        if origin.starts_with("https:") {
            "__Host-rstream_oidc"
        } else {
            "rstream_oidc"
        }
    }

    /// The cookie that carries the pending sign-in of `state`: the binding
    /// cookie's name, `_`, and the state's first 16 characters (96 bits;
    /// the sealed state is compared whole).
    fn flow_cookie_name(origin: &str, state: &str) -> String {
        let tag: String = state
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .take(16)
            .collect();
        format!("{}_{tag}", Self::binding_cookie_name(origin))
    }

    /// The flow cookies a start drops: the browser's pending sign-ins that
    /// do not open, have expired or belong to another binding, and its
    /// oldest while it would hold more than allowed with the new one.
    fn stale_flows(
        &self,
        parts: &Parts,
        origin: &str,
        binding: &str,
        now: SystemTime,
    ) -> Vec<String> {
        let prefix = format!("{}_", Self::binding_cookie_name(origin));
        let mut stale = Vec::new();
        let mut live = Vec::new();
        let flows = crate::credentials::cookie_pairs(&parts.headers)
            // Only names this layer gives (16 base64url characters): another
            // name is not a flow cookie, and could not be removed by name.
            .filter(|(name, _)| {
                name.strip_prefix(prefix.as_bytes()).is_some_and(|tag| {
                    tag.len() == 16
                        && tag
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                })
            })
            .take(MAX_FLOW_COOKIES_READ);
        for (name, value) in flows {
            let name = String::from_utf8_lossy(name).into_owned();
            match self.inner.flow_keys.open(&name, value) {
                Ok(flow) if !flow.expired_at(now) && flow.binding == binding => {
                    live.push((flow.expires_us, name));
                }
                _ => stale.push(name),
            }
        }
        live.sort();
        let keep = self.inner.config.max_pending_per_browser - 1;
        let drop = live.len().saturating_sub(keep);
        stale.extend(live.into_iter().take(drop).map(|(_, name)| name));
        stale
    }

    async fn start(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let tunnel = self
            .inner
            .sessions
            .tunnel_of(parts)
            .map_err(|e| fail(e.status(), e.reason()))?;
        let origin = tunnel.origin();
        let return_to = query_param(parts.uri.query(), "return_to")
            .filter(|r| r.len() <= MAX_RETURN_TO_LEN)
            .and_then(|r| self.inner.sessions.safe_return_url(&r).map(str::to_owned))
            .unwrap_or_else(|| "/".to_owned());
        let provider = self.provider().await.map_err(|e| {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %e, "rstream-well-known: OpenID provider unavailable");
            let _ = e;
            fail(StatusCode::BAD_GATEWAY, "provider_unavailable")
        })?;
        let binding_name = Self::binding_cookie_name(&origin);
        let binding =
            match crate::credentials::cookie_values(&parts.headers, binding_name, 1).as_deref() {
                Some([one]) if one.len() == 43 => String::from_utf8_lossy(one).into_owned(),
                _ => random_token(),
            };
        let state = random_token();
        let nonce = random_token();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let redirect = self.redirect_uri(&origin)?;
        let state_for_url = state.clone();
        let nonce_for_url = nonce.clone();
        let mut request = provider
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect));
        for scope in &self.inner.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        let now = SystemTime::now();
        let ttl = self.inner.config.flow_ttl;
        let name = Self::flow_cookie_name(&origin, &state);
        let pending = Pending {
            state,
            verifier: verifier.secret().clone(),
            nonce,
            return_to,
            origin: origin.clone(),
            expires_us: flow::expiry(now, ttl),
            binding: binding.clone(),
        };
        let sealed = self.inner.flow_keys.seal(&name, &pending);
        let https = origin.starts_with("https:");
        let mut response = redirect_response(url.as_str())?;
        let headers = response.headers_mut();
        for stale in self.stale_flows(parts, &origin, &binding, now) {
            headers.append(SET_COOKIE, flow_cookie(&stale, "", https, None)?);
        }
        headers.append(
            SET_COOKIE,
            flow_cookie(binding_name, &binding, https, Some(ttl))?,
        );
        headers.append(SET_COOKIE, flow_cookie(&name, &sealed, https, Some(ttl))?);
        Ok(response)
    }

    /// The callback: the pending sign-in is consumed (its cookie removed)
    /// whatever the outcome.
    async fn callback(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let state = query_param(parts.uri.query(), "state")
            .ok_or(fail(StatusCode::BAD_REQUEST, "missing_state"))?;
        let tunnel = self
            .inner
            .sessions
            .tunnel_of(parts)
            .map_err(|e| fail(e.status(), e.reason()))?;
        let origin = tunnel.origin();
        let name = Self::flow_cookie_name(&origin, &state);
        let consumed = flow_cookie(&name, "", origin.starts_with("https:"), None)?;
        match self.finish(parts, &state, &name, &origin).await {
            Ok(mut response) => {
                response.headers_mut().append(SET_COOKIE, consumed);
                Ok(response)
            }
            Err(mut failure) => {
                failure.set_cookie = Some(consumed);
                Err(failure)
            }
        }
    }

    /// The pending sign-in of `state`, from its cookie `name`, checked
    /// against the browser and the tunnel (`origin`).
    fn pending(
        &self,
        parts: &Parts,
        state: &str,
        name: &str,
        origin: &str,
    ) -> Result<Pending, Failure> {
        let unknown = || fail(StatusCode::BAD_REQUEST, "unknown_state");
        let value = match crate::credentials::cookie_values(&parts.headers, name, 1).as_deref() {
            Some([]) => return Err(unknown()),
            Some([one]) => *one,
            // Two values under one name: one was planted.
            _ => return Err(fail(StatusCode::FORBIDDEN, "browser_mismatch")),
        };
        let flow = self
            .inner
            .flow_keys
            .open(name, value)
            .map_err(|e| fail(StatusCode::BAD_REQUEST, e.reason()))?;
        if !bool::from(flow.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(unknown());
        }
        if flow.expired_at(SystemTime::now()) {
            return Err(fail(StatusCode::BAD_REQUEST, "sign_in_expired"));
        }
        // The browser binding, before anything else is looked at.
        let binding_name = Self::binding_cookie_name(&flow.origin);
        let bound =
            match crate::credentials::cookie_values(&parts.headers, binding_name, 1).as_deref() {
                Some([one]) => bool::from(one.ct_eq(flow.binding.as_bytes())),
                Some([]) => return Err(fail(StatusCode::FORBIDDEN, "missing_browser_binding")),
                _ => false,
            };
        if !bound {
            return Err(fail(StatusCode::FORBIDDEN, "browser_mismatch"));
        }
        if flow.origin != origin {
            return Err(fail(StatusCode::FORBIDDEN, "tunnel_mismatch"));
        }
        Ok(flow)
    }

    /// The rest of the callback, once its pending sign-in's cookie is known.
    async fn finish(
        &self,
        parts: &Parts,
        state: &str,
        name: &str,
        origin: &str,
    ) -> Result<Response<Option<Bytes>>, Failure> {
        let query = parts.uri.query();
        let flow = self.pending(parts, state, name, origin)?;
        let provider = self
            .provider()
            .await
            .map_err(|_| fail(StatusCode::BAD_GATEWAY, "provider_unavailable"))?;
        // RFC 9207: the mix-up defence.
        match query_param(query, "iss") {
            Some(iss) if iss != self.inner.issuer.as_str() => {
                return Err(fail(StatusCode::BAD_REQUEST, "issuer_mismatch"));
            }
            None if provider.iss_supported => {
                return Err(fail(StatusCode::BAD_REQUEST, "missing_issuer"));
            }
            _ => {}
        }
        if let Some(error) = query_param(query, "error") {
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_lowercase() || *c == '_')
                .take(64)
                .collect();
            return Err(Failure {
                status: StatusCode::FORBIDDEN,
                reason: Cow::Owned(format!("provider_error_{code}")),
                set_cookie: None,
            });
        }
        let code =
            query_param(query, "code").ok_or(fail(StatusCode::BAD_REQUEST, "missing_code"))?;
        let redirect = self.redirect_uri(&flow.origin)?;
        let http = Adapter(&*self.inner.http);
        let token = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| fail(StatusCode::BAD_GATEWAY, "no_token_endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&http)
            .await
            .map_err(|e| {
                if let RequestTokenError::ServerResponse(answer) = &e {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %answer.error(), "rstream-well-known: the OpenID provider refused the code exchange");
                    let _ = answer;
                }
                fail(StatusCode::BAD_GATEWAY, "token_exchange_failed")
            })?;
        let id_token = token
            .id_token()
            .ok_or(fail(StatusCode::BAD_GATEWAY, "no_id_token"))?;
        let id_token_text = id_token.to_string();
        let id_claims = self
            .check_id_token(
                &provider,
                &id_token_text,
                token.access_token().secret(),
                &flow.nonce,
            )
            .await
            .map_err(|refusal| fail(StatusCode::BAD_GATEWAY, refusal.reason()))?;
        let mut claims = OidcClaims {
            issuer: self.inner.issuer.as_str().to_owned(),
            subject: id_claims.subject().unwrap_or_default().to_owned(),
            id_token: id_claims.as_map().clone(),
            userinfo: None,
        };
        let has_profile = ["name", "preferred_username", "email", "picture"]
            .iter()
            .any(|c| claims.id_token.contains_key(*c));
        if !has_profile {
            if let Some(endpoint) = provider.metadata.userinfo_endpoint() {
                claims.userinfo = Some(
                    self.userinfo(
                        endpoint.url().as_str(),
                        token.access_token().secret(),
                        &claims.subject,
                    )
                    .await?,
                );
            }
        }
        let mut user = claims.user(self.inner.config.namespace_user_ids);
        if let Some(map) = &self.inner.config.map_user {
            user = map(&claims, user).map_err(|refused| Failure {
                status: StatusCode::FORBIDDEN,
                reason: Cow::Owned(refused.0),
                set_cookie: None,
            })?;
        }
        let user = user.with_attribute(ID_TOKEN_ATTRIBUTE, id_token_text);
        // Session fixation: every session the browser presented ends. More
        // values than can be revoked are refused, as logout refuses them:
        // minting a session beside one that stays live is no sign-in.
        let sessions = &self.inner.sessions;
        let presented = sessions.presented_sessions(&parts.headers);
        if matches!(presented, crate::credentials::CookieValues::TooMany) {
            return Err(fail(StatusCode::BAD_REQUEST, "too_many_session_cookies"));
        }
        for id in presented.ids() {
            sessions
                .store_call(|| sessions.store().revoke(&id))
                .await
                .map_err(|_| fail(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"))?;
        }
        // The tags back-channel logout finds the session by: the provider's
        // user and, when the ID token names one, the provider session.
        let issuer = self.inner.issuer.as_str();
        let mut tags = vec![sub_tag(issuer, &claims.subject)];
        if let Some(sid) = id_claims.get_str("sid").filter(|sid| !sid.is_empty()) {
            tags.push(sid_tag(issuer, sid));
        }
        let signed_in = sessions
            .sign_in_tagged(user, tags)
            .await
            .map_err(|e| match e {
                crate::SignInError::ProfileTooLarge { .. } | crate::SignInError::EmptyUserId => {
                    fail(StatusCode::BAD_GATEWAY, "unusable_profile")
                }
                _ => fail(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            })?;
        let mut response = redirect_response(&flow.return_to)?;
        response
            .headers_mut()
            .append(SET_COOKIE, signed_in.into_set_cookie());
        Ok(response)
    }

    /// Back-channel logout: the provider's logout token, checked, ends the
    /// sessions of its provider session (`sid`), else of its user (`sub`),
    /// through the store. Every failure is `400` (the specification's
    /// answer), with its reason.
    async fn backchannel_logout(
        &self,
        form: Result<Vec<u8>, Failure>,
    ) -> Result<Response<Option<Bytes>>, Failure> {
        let refused = |reason: &'static str| fail(StatusCode::BAD_REQUEST, reason);
        let Some(backchannel) = &self.inner.backchannel else {
            return Err(fail(StatusCode::NOT_FOUND, "not_found"));
        };
        let form = form?;
        let token = url::form_urlencoded::parse(&form)
            .find(|(name, _)| name == "logout_token")
            .map(|(_, token)| token.into_owned())
            .ok_or(refused("missing_logout_token"))?;
        let provider = self.provider().await.map_err(|e| {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %e, "rstream-well-known: OpenID provider unavailable");
            let _ = e;
            refused("provider_unavailable")
        })?;
        let issuer = self.inner.issuer.as_str();
        let verifier = LogoutTokenVerifier::new(issuer, &self.inner.config.client_id)
            .leeway(self.inner.config.leeway);
        let now = SystemTime::now();
        let token = self
            .with_keys(&provider, LogoutTokenRefusal::UnknownSigningKey, |keys| {
                verifier.verify(&token, keys, now)
            })
            .await
            .map_err(|refusal| refused(refusal.reason()))?;
        if !backchannel.seen.first_time(&token, now) {
            return Err(refused(LogoutTokenRefusal::Replayed.reason()));
        }
        let tag = match (token.sid(), token.sub()) {
            (Some(sid), _) => sid_tag(issuer, sid),
            (None, Some(sub)) => sub_tag(issuer, sub),
            // The verifier refuses a token with neither.
            (None, None) => return Err(refused("missing_sid_and_sub")),
        };
        if (backchannel.revoke)(tag).await.is_err() {
            // The provider may send it again.
            backchannel.seen.forget(&token);
            return Err(refused("store_unavailable"));
        }
        no_store(Response::builder().status(StatusCode::OK))
            .body(None)
            .map_err(|_| refused("invalid_response"))
    }

    async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
        subject: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let failed = || fail(StatusCode::BAD_GATEWAY, "userinfo_failed");
        let request = Request::get(url)
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, format!("Bearer {access_token}"))
            .body(Vec::new())
            .map_err(|_| failed())?;
        let response = self.inner.http.send(request).await.map_err(|_| failed())?;
        if !response.status().is_success() {
            return Err(failed());
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(response.body()).map_err(|_| failed())?;
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(fail(StatusCode::BAD_GATEWAY, "userinfo_subject_mismatch"));
        }
        Ok(claims)
    }

    async fn sign_out(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let sessions = &self.inner.sessions;
        sessions
            .check_origin_parts(parts)
            .map_err(|e| fail(e.status(), e.reason()))?;
        let tunnel = sessions
            .tunnel_of(parts)
            .map_err(|e| fail(e.status(), e.reason()))?;
        let presented = sessions.presented_sessions(&parts.headers);
        if matches!(presented, crate::credentials::CookieValues::TooMany) {
            // As logout: revoking only some values could leave the real one
            // working.
            return Err(fail(StatusCode::BAD_REQUEST, "too_many_session_cookies"));
        }
        let mut hint = None;
        for id in presented.ids() {
            if let Ok(Some(session)) = sessions.store_call(|| sessions.store().load(&id)).await {
                if hint.is_none() {
                    hint = session
                        .user()
                        .attribute(ID_TOKEN_ATTRIBUTE)
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
            }
            sessions
                .store_call(|| sessions.store().revoke(&id))
                .await
                .map_err(|_| fail(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"))?;
        }
        let after = format!("{}{}", tunnel.origin(), self.inner.config.post_logout_path);
        let end_session = match self.provider().await {
            Ok(provider) => provider.end_session.clone(),
            Err(_) => None,
        };
        let location = match end_session {
            Some(end) => {
                let mut url = url::Url::parse(&end)
                    .map_err(|_| fail(StatusCode::BAD_GATEWAY, "bad_end_session"))?;
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("client_id", &self.inner.config.client_id);
                    query.append_pair("post_logout_redirect_uri", &after);
                    if let Some(hint) = &hint {
                        query.append_pair("id_token_hint", hint);
                    }
                }
                url.to_string()
            }
            None => self.inner.config.post_logout_path.clone(),
        };
        let mut response = redirect_response(&location)?;
        response
            .headers_mut()
            .append(SET_COOKIE, sessions.removal_cookie());
        Ok(response)
    }
}

/// Whether `url` may be used with `issuer`: `https`, or `http` on a
/// loopback host when the issuer is such a loopback `http` URL too.
fn allowed_url(url: &url::Url, issuer: &url::Url) -> bool {
    fn loopback(url: &url::Url) -> bool {
        matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    }
    match url.scheme() {
        "https" => true,
        "http" => loopback(url) && issuer.scheme() == "http" && loopback(issuer),
        _ => false,
    }
}

/// 256 random bits, base64url (43 characters).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // getrandom fails only where the OS has no randomness at all; a
    // predictable value must never be used, so that is a panic.
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    Base64UrlUnpadded::encode_string(&bytes)
}

/// The decoded value of query parameter `name` (the first one).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn no_store(builder: ::http::response::Builder) -> ::http::response::Builder {
    builder.header(CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn redirect_response(location: &str) -> Result<Response<Option<Bytes>>, Failure> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_location"))?;
    no_store(Response::builder().status(StatusCode::SEE_OTHER))
        .header(LOCATION, location)
        .body(None)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_location"))
}

/// A cookie of the sign-in (the browser binding, a pending sign-in): `Path=/`,
/// `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a top-level
/// navigation), `Secure` on https tunnels (whose names are `__Host-`), for
/// `max_age`, or its removal when `None`. Marked sensitive.
fn flow_cookie(
    name: &str,
    value: &str,
    https: bool,
    max_age: Option<Duration>,
) -> Result<HeaderValue, Failure> {
    let builder = cookie::Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(https);
    let cookie = match max_age {
        Some(ttl) => {
            let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
            builder
                .max_age(cookie::time::Duration::seconds(secs))
                .build()
        }
        None => builder
            .max_age(cookie::time::Duration::ZERO)
            .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
            .build(),
    };
    let mut value = HeaderValue::try_from(cookie.to_string())
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_cookie"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// What a failure means to a person, for the page a browser is shown.
fn explanation(failure: &Failure) -> &'static str {
    let reason = &*failure.reason;
    if reason.starts_with("provider_error_") {
        return "The sign-in provider did not sign you in.";
    }
    if reason.starts_with("flow_cookie_")
        || matches!(
            reason,
            "unknown_state"
                | "missing_state"
                | "browser_mismatch"
                | "missing_browser_binding"
                | "tunnel_mismatch"
        )
    {
        return "This sign-in was already used, was started in another browser, or could not be read.";
    }
    if reason == "sign_in_expired" {
        return "This sign-in took too long and expired.";
    }
    match failure.status {
        StatusCode::BAD_GATEWAY => {
            "The sign-in provider could not be reached, or its answer could not be used."
        }
        StatusCode::SERVICE_UNAVAILABLE => "Signing in is not possible right now.",
        StatusCode::FORBIDDEN => "You cannot sign in to this application with this account.",
        _ => "The sign-in could not be completed.",
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and
/// attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The failure as a small page for a browser navigation: what happened, a
/// link to `retry` (a path on the tunnel), the reason code. `no-store`, no
/// referrer (the callback's URL holds the code), and nothing it shows is
/// left unescaped.
fn error_page(failure: &Failure, head: bool, retry: &str) -> Response<Option<Bytes>> {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sign-in failed</title></head>\n<body><main><h1>Sign-in failed</h1>\n\
<p id=\"explanation\">{}</p>\n<p><a id=\"retry\" href=\"{}\">Try again</a></p>\n\
<p><small>Reason: <code id=\"reason\">{}</code></small></p></main></body></html>\n",
        escape_html(explanation(failure)),
        escape_html(retry),
        escape_html(&failure.reason),
    );
    let length = body.len();
    let mut response = Response::new((!head).then(|| Bytes::from(body)));
    *response.status_mut() = failure.status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        ::http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        ::http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        ::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if head {
        headers.insert(::http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

fn error_response(failure: &Failure, head: bool) -> Response<Option<Bytes>> {
    let body = serde_json::json!({ "error": failure.reason }).to_string();
    let mut response = Response::new((!head).then(|| Bytes::from(body)));
    *response.status_mut() = failure.status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_everything_they_show() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let failure = Failure {
            status: StatusCode::FORBIDDEN,
            reason: Cow::Borrowed("<script>"),
            set_cookie: None,
        };
        let page = error_page(&failure, false, "/start?a=\"b\"");
        let body = page.body().clone().unwrap();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&lt;script&gt;"), "{body}");
        assert!(body.contains(r#"href="/start?a=&quot;b&quot;""#), "{body}");
        // HEAD: the headers of GET, its length included, no body.
        let head = error_page(&failure, true, "/start");
        assert!(head.body().is_none());
        let get = error_page(&failure, false, "/start");
        assert_eq!(
            head.headers()[::http::header::CONTENT_LENGTH],
            get.body().as_ref().unwrap().len().to_string()
        );
    }
}
