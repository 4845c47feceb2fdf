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
//!   when it has one. A `GET` never signs anyone out (`405`).
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
//!   `state` is 256 random bits, used once (taken out before anything else
//!   is checked), and bound to the browser that started the flow: a
//!   `HttpOnly`, `SameSite=Lax` cookie (`__Host-rstream_oidc` on https
//!   tunnels) holds 256 random bits that the flow records and the callback
//!   compares in constant time, before the code is exchanged. Several tabs
//!   share the cookie, so parallel sign-ins work. A browser holds at most
//!   [`OidcConfig::max_pending_per_browser`] pending flows (its oldest is
//!   dropped), the process at most [`OidcConfig::max_pending`] (then `503`);
//!   a flow expires after [`OidcConfig::flow_ttl`] (10 minutes).
//! - Pending flows live in the memory of the process that started them:
//!   several instances behind a load balancer need the callback routed to
//!   the same instance (sticky sessions). A shared flow store is not there
//!   yet.
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
//!   (400, 403, 405, 502 or 503; never 500). Logs carry the reason and, for
//!   provider answers, the provider's error code: never a code, token,
//!   state, nonce or cookie.
//! - The response mode is `query`; `form_post` is not supported.

mod flow;
mod http;
mod id_token;
mod provider;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::http::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use ::http::request::Parts;
use ::http::{HeaderValue, Method, Request, Response, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use bytes::Bytes;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::url;
use openidconnect::{
    AuthorizationCode, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope,
    TokenResponse as _,
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;
use tower_layer::Layer;
use tower_service::Service;

use self::flow::{Flows, Pending, TakeError};
#[cfg(feature = "oidc-hyper")]
pub use self::http::HyperClient;
pub use self::http::{HttpClient, HttpError, HttpFuture};
pub use self::id_token::{IdTokenRefusal, IdTokenVerifier};
pub use self::provider::DiscoveryError;
use self::provider::Provider;
use crate::ResponseBody;
use crate::future::ResponseFuture;
use crate::identity::User;
use crate::jwt::JwkSet;
use crate::manager::SessionManager;
use crate::refresh::Refresher;
use crate::store::SessionStore;

/// The session attribute that holds the ID token of an OpenID Connect
/// sign-in, sent as `id_token_hint` at sign-out.
pub const ID_TOKEN_ATTRIBUTE: &str = "oidcIdToken";

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
    max_pending_per_browser: usize,
    max_pending: usize,
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
            max_pending_per_browser: 8,
            max_pending: 10_000,
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

    /// How many sign-ins one browser may have pending (8): a new one drops
    /// its oldest.
    #[must_use]
    pub fn max_pending_per_browser(mut self, max: usize) -> Self {
        self.max_pending_per_browser = max;
        self
    }

    /// How many sign-ins the process may have pending (10,000): past it,
    /// starts are refused with `503`.
    #[must_use]
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
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

    /// The layer, signing users in through `sessions` (from
    /// [`WellKnownLayer::session_manager`](crate::WellKnownLayer::session_manager))
    /// and calling the provider through `http`. Discovery happens on the
    /// first sign-in (call [`OidcLayer::discover`] to do it now).
    ///
    /// # Errors
    ///
    /// [`OidcConfigError`] for an issuer that is not an `https` URL (or a
    /// loopback `http` one), an empty client id, a bad prefix or
    /// post-logout path, a zero TTL or limit.
    pub fn build<St: SessionStore>(
        self,
        sessions: SessionManager<St>,
        http: impl HttpClient,
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
        if self.flow_ttl.is_zero() || self.max_pending == 0 || self.max_pending_per_browser == 0 {
            return Err(OidcConfigError("limits"));
        }
        let flows = Flows::new(
            self.flow_ttl,
            self.max_pending_per_browser,
            self.max_pending,
        );
        Ok(OidcLayer {
            inner: Arc::new(Inner {
                issuer,
                sessions,
                http: Arc::new(http),
                flows,
                provider: Refresher::new(self.key_refresh_interval),
                keys: Refresher::new(self.key_refresh_interval),
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
    flows: Flows,
    /// The discovery document, fetched once (a failure is kept for the
    /// key refresh interval).
    provider: Refresher<Provider, DiscoveryError>,
    /// The provider's key set, fetched with discovery and again for an
    /// unknown key id (at most once per key refresh interval).
    keys: Refresher<JwkSet, DiscoveryError>,
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
}

impl<S, St, ReqBody, ResBody> Service<Request<ReqBody>> for OidcService<S, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: 'static,
    St: SessionStore,
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
        let (parts, _body) = request.into_parts();
        let oidc = self.oidc.clone();
        // A gate that never lets the request through: the endpoint's answer.
        ResponseFuture::gate(Box::pin(
            async move { Err(oidc.answer(endpoint, parts).await) },
        ))
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

/// A failure: its status and reason.
struct Failure {
    status: StatusCode,
    reason: Cow<'static, str>,
}

fn fail(status: StatusCode, reason: &'static str) -> Failure {
    Failure {
        status,
        reason: Cow::Borrowed(reason),
    }
}

impl<St: SessionStore> OidcLayer<St> {
    fn route(&self, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix(self.inner.config.prefix.as_str())?;
        match rest {
            "/start" => Some(Endpoint::Start),
            "/callback" => Some(Endpoint::Callback),
            "/sign-out" => Some(Endpoint::SignOut),
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

    /// How many sign-ins are pending in this process.
    pub fn pending_sign_ins(&self) -> usize {
        self.inner.flows.len()
    }

    async fn answer(&self, endpoint: Endpoint, parts: Parts) -> Response<Option<Bytes>> {
        let head = parts.method == Method::HEAD;
        let result = match (endpoint, &parts.method) {
            (Endpoint::Start, &Method::GET | &Method::HEAD) => self.start(&parts).await,
            (Endpoint::Callback, &Method::GET | &Method::HEAD) => self.callback(&parts).await,
            (Endpoint::SignOut, &Method::POST) => self.sign_out(&parts).await,
            (Endpoint::SignOut, _) => {
                Err(fail(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"))
            }
            _ => Err(fail(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")),
        };
        match result {
            Ok(response) => response,
            Err(failure) => {
                #[cfg(feature = "tracing")]
                tracing::warn!(reason = %failure.reason, status = failure.status.as_u16(), "rstream-well-known: OpenID Connect sign-in refused");
                let mut response = error_response(&failure, head);
                if failure.status == StatusCode::METHOD_NOT_ALLOWED {
                    let allow = match endpoint {
                        Endpoint::SignOut => "POST",
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

    fn binding_cookie_name(origin: &str) -> &'static str {
        if origin.starts_with("https:") {
            "__Host-rstream_oidc"
        } else {
            "rstream_oidc"
        }
    }

    async fn start(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let tunnel = self
            .inner
            .sessions
            .tunnel_of(parts)
            .map_err(|e| fail(e.status(), e.reason()))?;
        let origin = tunnel.origin();
        let return_to = query_param(parts.uri.query(), "return_to")
            .and_then(|r| self.inner.sessions.safe_return_url(&r).map(str::to_owned))
            .unwrap_or_else(|| "/".to_owned());
        let provider = self.provider().await.map_err(|e| {
            #[cfg(feature = "tracing")]
            tracing::warn!(error = %e, "rstream-well-known: OpenID provider unavailable");
            let _ = e;
            fail(StatusCode::BAD_GATEWAY, "provider_unavailable")
        })?;
        let cookie_name = Self::binding_cookie_name(&origin);
        let binding = match binding_values(parts, cookie_name).as_slice() {
            [one] if one.len() == 43 => one.clone(),
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
        let pending = Pending {
            binding: binding.clone(),
            nonce: Nonce::new(nonce),
            verifier,
            return_to,
            origin: origin.clone(),
            started: Instant::now(),
        };
        if !self.inner.flows.insert(state, pending) {
            return Err(fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_pending_sign_ins",
            ));
        }
        let secure = if origin.starts_with("https:") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{cookie_name}={binding}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.inner.flows.ttl().as_secs().max(1)
        );
        let mut response = redirect_response(url.as_str())?;
        response.headers_mut().append(
            SET_COOKIE,
            HeaderValue::from_str(&cookie)
                .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_cookie"))?,
        );
        Ok(response)
    }

    async fn callback(&self, parts: &Parts) -> Result<Response<Option<Bytes>>, Failure> {
        let query = parts.uri.query();
        let state =
            query_param(query, "state").ok_or(fail(StatusCode::BAD_REQUEST, "missing_state"))?;
        let flow = self.inner.flows.take(&state).map_err(|e| match e {
            TakeError::Unknown => fail(StatusCode::BAD_REQUEST, "unknown_state"),
            TakeError::Expired => fail(StatusCode::BAD_REQUEST, "sign_in_expired"),
        })?;
        // The browser binding, before anything else is looked at.
        let cookie_name = Self::binding_cookie_name(&flow.origin);
        let bound = match binding_values(parts, cookie_name).as_slice() {
            [one] => bool::from(one.as_bytes().ct_eq(flow.binding.as_bytes())),
            [] => return Err(fail(StatusCode::FORBIDDEN, "missing_browser_binding")),
            _ => false,
        };
        if !bound {
            return Err(fail(StatusCode::FORBIDDEN, "browser_mismatch"));
        }
        let tunnel = self
            .inner
            .sessions
            .tunnel_of(parts)
            .map_err(|e| fail(e.status(), e.reason()))?;
        if tunnel.origin() != flow.origin {
            return Err(fail(StatusCode::FORBIDDEN, "tunnel_mismatch"));
        }
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
            .set_pkce_verifier(flow.verifier)
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
                flow.nonce.secret(),
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
        let signed_in = sessions.sign_in(user).await.map_err(|e| match e {
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

/// The values of cookie `name` in the request.
fn binding_values(parts: &Parts, name: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for field in parts.headers.get_all(COOKIE) {
        let Ok(field) = field.to_str() else { continue };
        for pair in field.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == name && !values.iter().any(|x| x == v) {
                    values.push(v.to_owned());
                }
            }
        }
    }
    values
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

fn error_response(failure: &Failure, head: bool) -> Response<Option<Bytes>> {
    let body = serde_json::json!({ "error": failure.reason }).to_string();
    let mut response = Response::new((!head).then(|| Bytes::from(body)));
    *response.status_mut() = failure.status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
