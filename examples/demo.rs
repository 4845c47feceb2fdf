//! A browser demo of the well-known endpoints, served by axum.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Then open the printed address: the page asks
//! `/.well-known/rstream/session` who is calling, offers to sign in as Ada
//! Lovelace (a browser session, `rstream-auth`) and logs out through
//! `/.well-known/rstream/logout`, exactly as an application behind rstream's
//! edge would. Automated clients use the printed token instead (`token-auth`).
//!
//! The tunnel is the demo's own address, reachable as `127.0.0.1:<port>` and
//! as `localhost:<port>` (each with its own origin for logout's check).
//!
//! Environment:
//!
//! - `DEMO_ADDR`: the address to listen on (default `127.0.0.1:3000`; port 0
//!   picks a free port). The tunnels are on the loopback names, so listen on
//!   a loopback or unspecified address.
//! - `DEMO_TOKEN`: the bearer token to accept (default: a random one per run).
//! - `DEMO_JWT_SECRET`: when set (32 bytes or more), HS256 JWTs signed with
//!   it are accepted too, besides the token: claims `sub` (the user id),
//!   `name`, `email`, `picture`, and `exp`, which is required.
//! - `REDIS_URL`: keep sessions in Redis instead of in memory (needs feature
//!   `redis`: `cargo run --features redis --example demo`). Two demos on two
//!   ports with the same `REDIS_URL` share sessions: sign in on one, and the
//!   other knows you; log out on either, and both forget you. Redis calls time
//!   out after a second, so an outage shows at once ("not authenticated",
//!   logout `503`, sign-in refused) and heals by itself when Redis is back.
//!
//! - `DEMO_OIDC_ISSUER`, `DEMO_OIDC_CLIENT_ID` (and `DEMO_OIDC_CLIENT_SECRET`
//!   for a confidential client): sign in with OpenID Connect through the
//!   layer's endpoints (`/_rstream/oidc/start`, `…/callback`,
//!   `…/sign-out`); needs feature `oidc-hyper`
//!   (`cargo run --features oidc-hyper --example demo`). Register
//!   `http://127.0.0.1:<port>/_rstream/oidc/callback` and
//!   `http://localhost:<port>/_rstream/oidc/callback` as redirect URIs, and
//!   `http://127.0.0.1:<port>/` and `http://localhost:<port>/` as
//!   post-logout redirect URIs, and
//!   `http://127.0.0.1:<port>/_rstream/oidc/backchannel-logout` as the
//!   back-channel logout URI (with `backchannel_logout_session_required`):
//!   a sign-out at the provider then ends the demo's session too. The page
//!   then offers "Sign in with OpenID Connect" beside the Ada button, and a
//!   sign-out that also ends the provider's session; a line before the
//!   store's says `openid connect: <issuer>`.
//! - `DEMO_OIDC_FLOW_KEY`: the key that seals pending sign-ins into the
//!   browser's cookies, 64 hexadecimal digits (32 bytes). Without it, each
//!   demo generates its own at startup, so only the demo that started a
//!   sign-in can finish it, and a restart ends the sign-ins in flight.
//! - `DEMO_PUBLIC_URL`: the origin browsers reach the demo at, e.g.
//!   `http://127.0.0.1:8080` for demos behind one load balancer: the tunnel
//!   is that origin instead of the demo's own loopback addresses (register
//!   `{DEMO_PUBLIC_URL}/_rstream/oidc/callback` and `{DEMO_PUBLIC_URL}/` at
//!   the provider). Several demos with the same `REDIS_URL`,
//!   `DEMO_OIDC_FLOW_KEY` and `DEMO_PUBLIC_URL` behind a round-robin proxy
//!   finish each other's sign-ins. A line before the store's then says
//!   `public url: <url>`.
//!
//! Besides the page, the demo shows what the layer hands to the
//! application's own handlers:
//!
//! - `GET /demo/whoami`: what its handler received, as JSON:
//!   `authenticated`, `method` (`token-auth`, `rstream-auth` or `null`),
//!   `userId` (or `null`) and `uri`, the path and query exactly as the
//!   handler saw them (the `rstream.token` parameter removed by the layer).
//! - `/demo/private/` and everything under it require authentication: a
//!   browser that is not signed in is sent to the page to sign in (and
//!   comes back after), anything else gets `401`; `GET /demo/private/hello`
//!   answers `{"userId":…}` for the caller.
//!
//! The first two lines on stdout are always
//! `listening on http://127.0.0.1:<port>` and `demo token: <token>`. After
//! the banner, a line says which session store is active:
//! `session store: memory` or `session store: redis (REDIS_URL)`, just after
//! a line that names the active token verifiers (`token verifiers: …`).

use std::error::Error;
use std::future::Future;
use std::io::Write;

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use rstream_well_known::jwt::{JwtKey, JwtVerifier};
use rstream_well_known::{
    AuthMethod, BoxRevokeAllStore, Caller, MemoryStore, Paths, SessionCookie, SessionId,
    SessionManager, StaticTokenVerifier, TokenVerifierChain, Tunnel, User, WellKnownBuilder,
    WellKnownLayer,
};
use tokio::net::TcpListener;

/// Where the demo listens unless `DEMO_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// The tunnel's `workspaceId`.
pub const WORKSPACE_ID: &str = "demo-workspace";
/// The tunnel's `projectId`.
pub const PROJECT_ID: &str = "demo-project";
/// The session cookie's name.
pub const COOKIE_NAME: &str = "rstream_session";

/// The page: plain HTML and a few lines of JavaScript, no external resources.
const PAGE: &str = include_str!("demo/index.html");

type BoxError = Box<dyn Error + Send + Sync>;

/// The user the demo's sign-in button signs in.
pub fn ada() -> User {
    User::new("user-ada")
        .with_name("Ada Lovelace")
        .with_email("ada@example.com")
}

/// The user the demo token authenticates.
pub fn token_user() -> User {
    User::new("demo-client").with_name("Demo API client")
}

/// The token to accept: `DEMO_TOKEN` when set (and non-empty), else a fresh
/// random one (256 bits, hex).
///
/// # Errors
///
/// When the given token cannot travel in an `Authorization: Bearer` header
/// (it must be an RFC 6750 `b64token`), or the random source fails.
pub fn demo_token(from_env: Option<String>) -> Result<String, BoxError> {
    match from_env.filter(|token| !token.is_empty()) {
        Some(token) if is_b64token(&token) => Ok(token),
        Some(_) => {
            Err("DEMO_TOKEN must be letters, digits and - . _ ~ + / (then = padding), so that it can travel in an Authorization: Bearer header".into())
        }
        None => Ok(SessionId::generate()?.expose().to_owned()),
    }
}

/// The bearer credentials the demo accepts: the static token, and HS256
/// JWTs when a secret is set. A `String` is the token alone.
#[derive(Clone, Debug)]
pub struct DemoTokens {
    /// The static token (`demo token: …`).
    pub token: String,
    /// The HS256 secret JWTs are checked with (`DEMO_JWT_SECRET`).
    pub jwt_secret: Option<String>,
}

impl From<String> for DemoTokens {
    fn from(token: String) -> Self {
        Self {
            token,
            jwt_secret: None,
        }
    }
}

impl DemoTokens {
    /// The verifiers: HS256 JWTs first when a secret is set, then the
    /// static token.
    ///
    /// # Errors
    ///
    /// When the secret is shorter than 32 bytes (RFC 7518's minimum for HS256).
    pub fn verifier(&self) -> Result<TokenVerifierChain, BoxError> {
        let mut chain = TokenVerifierChain::new();
        if let Some(secret) = &self.jwt_secret {
            let key = JwtKey::hs256(secret).map_err(|e| format!("DEMO_JWT_SECRET: {e}"))?;
            chain.push(JwtVerifier::new(key));
        }
        chain.push(StaticTokenVerifier::new().with_token(&self.token, token_user()));
        Ok(chain)
    }

    /// The line that says which verifiers are active.
    pub fn describe(&self) -> &'static str {
        if self.jwt_secret.is_some() {
            "token verifiers: HS256 JWTs (DEMO_JWT_SECRET), then the demo token\n"
        } else {
            "token verifiers: the demo token (set DEMO_JWT_SECRET to accept HS256 JWTs too)\n"
        }
    }
}

/// The JWT secret: `DEMO_JWT_SECRET` when set and non-empty.
pub fn jwt_secret(from_env: Option<String>) -> Option<String> {
    from_env.filter(|secret| !secret.is_empty())
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// What the demo prints first: the address and the token, one line each,
/// then how to try it.
pub fn banner(port: u16, token: &str) -> String {
    banner_for(port, token, None)
}

/// The banner of [`banner`], for a demo reached at `public_url`
/// (`DEMO_PUBLIC_URL`) when set: its first two lines stay, and the
/// addresses to open are the public ones (the demo's own address is not a
/// tunnel then).
pub fn banner_for(port: u16, token: &str, public_url: Option<&str>) -> String {
    let open = match public_url {
        Some(url) => {
            let url = url.strip_suffix('/').unwrap_or(url);
            format!(
                "Open {url}/ in a browser (through your load balancer), or:\n  \
                 curl -s {url}/.well-known/rstream/session -H 'Authorization: Bearer {token}'\n"
            )
        }
        None => format!(
            "Open http://127.0.0.1:{port}/ (or http://localhost:{port}/) in a browser, or:\n  \
             curl -s http://127.0.0.1:{port}/.well-known/rstream/session -H 'Authorization: Bearer {token}'\n"
        ),
    };
    format!("listening on http://127.0.0.1:{port}\ndemo token: {token}\n\n{open}")
}

/// The origins a request to the demo can come from.
fn origins(port: u16) -> [String; 2] {
    [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ]
}

/// The demo's session store, chosen at run time: in memory, or in Redis when
/// `redis_url` (the `REDIS_URL` variable) is set and not empty. Returns the
/// store and the line that says which one it is (never the URL, which may
/// hold a password).
///
/// Must be called within a Tokio runtime when `redis_url` is set.
///
/// # Errors
///
/// When the URL is refused, or the demo was built without feature `redis`.
pub fn session_store(redis_url: Option<String>) -> Result<(BoxRevokeAllStore, String), BoxError> {
    match redis_url.filter(|url| !url.is_empty()) {
        None => Ok((
            BoxRevokeAllStore::new(MemoryStore::new()),
            "session store: memory".to_owned(),
        )),
        Some(url) => redis_store(&url),
    }
}

#[cfg(feature = "redis")]
fn redis_store(url: &str) -> Result<(BoxRevokeAllStore, String), BoxError> {
    // Built lazily: the demo starts even while Redis is down. A short
    // timeout, so that an outage shows at once.
    let store = rstream_well_known::RedisStore::builder(url)
        .key_prefix("demo:session:")
        .timeout(std::time::Duration::from_secs(1))
        // The message never repeats the URL: it may hold a password.
        .build()
        .map_err(|e| format!("REDIS_URL: {e}"))?;
    Ok((
        BoxRevokeAllStore::new(store),
        "session store: redis (REDIS_URL)".to_owned(),
    ))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_url: &str) -> Result<(BoxRevokeAllStore, String), BoxError> {
    Err(
        "REDIS_URL is set, but the demo was built without feature `redis`: \
         cargo run --features redis --example demo"
            .into(),
    )
}

/// The layer: both loopback names as tunnels of one project, token auth with
/// `tokens`, and rstream Auth with an in-memory store.
///
/// # Errors
///
/// For a JWT secret that is too short, or a configuration the layer refuses.
pub fn layer(
    port: u16,
    tokens: &DemoTokens,
) -> Result<WellKnownLayer<TokenVerifierChain, BoxRevokeAllStore>, BoxError> {
    layer_with(port, tokens, BoxRevokeAllStore::new(MemoryStore::new()))
}

/// The layer of [`layer`], with rstream Auth on `store`.
///
/// # Errors
///
/// As [`layer`].
pub fn layer_with(
    port: u16,
    tokens: &DemoTokens,
    store: BoxRevokeAllStore,
) -> Result<WellKnownLayer<TokenVerifierChain, BoxRevokeAllStore>, BoxError> {
    layer_for(&tunnel_origins(port, None)?, tokens, store)
}

/// The tunnels' origins: `public_url` (`DEMO_PUBLIC_URL`) when set and not
/// empty, else the demo's own loopback addresses on `port`.
///
/// # Errors
///
/// When `public_url` is not an `http` or `https` origin (`scheme://host`
/// with an optional port, and nothing after it but an optional `/`).
pub fn tunnel_origins(port: u16, public_url: Option<&str>) -> Result<Vec<String>, BoxError> {
    let Some(url) = public_url.filter(|u| !u.is_empty()) else {
        return Ok(origins(port).to_vec());
    };
    let origin = url.strip_suffix('/').unwrap_or(url);
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .filter(|host| !host.is_empty() && !host.contains(['/', '?', '#', '@']))
        .ok_or_else(|| {
            format!(
                "DEMO_PUBLIC_URL must be an origin such as http://127.0.0.1:8080 \
                 (http or https, a host, an optional port, no path), not {url:?}"
            )
        })?;
    Tunnel::new(host, WORKSPACE_ID, PROJECT_ID)
        .and_then(|tunnel| tunnel.with_origin(origin))
        .map_err(|e| format!("DEMO_PUBLIC_URL {url:?}: {e}"))?;
    Ok(vec![origin.to_owned()])
}

/// The layer of [`layer_with`], on tunnels of these origins.
fn layer_for(
    origins: &[String],
    tokens: &DemoTokens,
    store: BoxRevokeAllStore,
) -> Result<WellKnownLayer<TokenVerifierChain, BoxRevokeAllStore>, BoxError> {
    Ok(builder_for(origins, tokens, store)?.build()?)
}

/// The configuration of [`layer_for`]'s layer.
fn builder_for(
    origins: &[String],
    tokens: &DemoTokens,
    store: BoxRevokeAllStore,
) -> Result<WellKnownBuilder<TokenVerifierChain, BoxRevokeAllStore>, BoxError> {
    let mut builder = WellKnownLayer::builder();
    for origin in origins {
        let host = origin
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        builder = builder.tunnel(Tunnel::new(host, WORKSPACE_ID, PROJECT_ID)?.with_origin(origin)?);
    }
    Ok(builder
        .with_token_verifier(tokens.verifier()?)
        .with_session_store(store)
        // The demo runs on plain HTTP, where browsers drop `Secure` cookies.
        // Keep the default (`Secure`) anywhere served over HTTPS. HttpOnly,
        // SameSite=Lax and Path=/ stay at their defaults.
        .session_cookie(SessionCookie::new(COOKIE_NAME).secure(false))
        // Who is calling, for the `/demo/whoami` handler.
        .identity(Paths::prefix("/demo/whoami"))
        // `/demo/private/` and everything under it, as rstream's edge guards
        // a tunnel; browsers go to the page to sign in.
        .require_authentication(Paths::prefix("/demo/private"))
        .sign_in_url("/"))
}

#[derive(Clone)]
struct Demo {
    sessions: SessionManager<BoxRevokeAllStore>,
    /// Whether the page offers OpenID Connect sign-in.
    oidc: bool,
}

/// The OpenID Connect client the demo signs in with, from
/// `DEMO_OIDC_ISSUER`, `DEMO_OIDC_CLIENT_ID` and `DEMO_OIDC_CLIENT_SECRET`.
#[derive(Clone, Debug)]
pub struct DemoOidc {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, for a confidential client.
    pub client_secret: Option<String>,
    /// The key that seals pending sign-ins (`DEMO_OIDC_FLOW_KEY`), 64
    /// hexadecimal digits; a random one per run when `None`.
    pub flow_key: Option<String>,
}

/// The OpenID Connect client, when `issuer` is set and not empty.
///
/// # Errors
///
/// When the issuer is set without a client id, or with a flow key that is
/// not 64 hexadecimal digits.
pub fn demo_oidc(
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    flow_key: Option<String>,
) -> Result<Option<DemoOidc>, BoxError> {
    let Some(issuer) = issuer.filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let client_id = client_id
        .filter(|c| !c.is_empty())
        .ok_or("DEMO_OIDC_ISSUER is set: set DEMO_OIDC_CLIENT_ID too")?;
    let flow_key = flow_key.filter(|k| !k.is_empty());
    if let Some(key) = &flow_key {
        let hex = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            return Err(format!(
                "DEMO_OIDC_FLOW_KEY must be 64 hexadecimal digits (32 bytes, e.g. from \
                 `openssl rand -hex 32`), not {} characters{}",
                key.len(),
                if key.len() == 64 {
                    " with other digits"
                } else {
                    ""
                }
            )
            .into());
        }
    }
    Ok(Some(DemoOidc {
        issuer,
        client_id,
        client_secret: client_secret.filter(|s| !s.is_empty()),
        flow_key,
    }))
}

/// The page's OpenID Connect controls, when it is configured.
const OIDC_SIGN_IN: &str = r#"<form id="oidc-form" method="get" action="/_rstream/oidc/start"><input type="hidden" id="oidc-return" name="return_to" value="/"><button id="oidc-login">Sign in with OpenID Connect</button></form>"#;
const OIDC_SIGN_OUT: &str = r#"<form method="post" action="/_rstream/oidc/sign-out"><button id="oidc-logout">Sign out here and at the provider</button></form>"#;

/// The demo application, wrapped in the layer: `GET /` serves the page,
/// `POST /demo/login` signs in Ada, and the layer answers the well-known
/// endpoints.
///
/// # Errors
///
/// As [`layer`].
pub fn app(port: u16, tokens: &DemoTokens) -> Result<Router, BoxError> {
    app_with(port, tokens, BoxRevokeAllStore::new(MemoryStore::new()))
}

/// The app of [`app`], with rstream Auth on `store`.
///
/// # Errors
///
/// As [`layer`].
pub fn app_with(
    port: u16,
    tokens: &DemoTokens,
    store: BoxRevokeAllStore,
) -> Result<Router, BoxError> {
    app_with_oidc(port, tokens, store, None)
}

/// The app of [`app_with`], with OpenID Connect sign-in when `oidc` is
/// given (feature `oidc-hyper`; must be called within a Tokio runtime then).
///
/// # Errors
///
/// As [`layer`], and for an OpenID Connect setting the layer refuses, or
/// `oidc` without feature `oidc-hyper`.
pub fn app_with_oidc(
    port: u16,
    tokens: &DemoTokens,
    store: BoxRevokeAllStore,
    oidc: Option<&DemoOidc>,
) -> Result<Router, BoxError> {
    app_for(&tunnel_origins(port, None)?, tokens, store, oidc)
}

/// The app of [`app_with_oidc`], on tunnels of these origins (see
/// [`tunnel_origins`]).
///
/// # Errors
///
/// As [`app_with_oidc`].
pub fn app_for(
    origins: &[String],
    tokens: &DemoTokens,
    store: BoxRevokeAllStore,
    oidc: Option<&DemoOidc>,
) -> Result<Router, BoxError> {
    let builder = builder_for(origins, tokens, store)?;
    let Some(oidc) = oidc else {
        let layer = builder.build()?;
        let sessions = layer.session_manager();
        return Ok(routes(sessions, false).layer(layer));
    };
    with_oidc(builder, oidc)
}

/// The demo's routes, signing in with `sessions`.
fn routes(sessions: SessionManager<BoxRevokeAllStore>, oidc: bool) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/demo/login", post(login))
        .route("/demo/whoami", get(whoami))
        .route("/demo/private/hello", get(private_hello))
        .with_state(Demo { sessions, oidc })
}

/// The demo's routes behind the layer of `builder` with OpenID Connect
/// sign-in in front of it: one layer, whose sign-in endpoints stay
/// reachable where authentication is required.
#[cfg(feature = "oidc-hyper")]
fn with_oidc(
    builder: WellKnownBuilder<TokenVerifierChain, BoxRevokeAllStore>,
    oidc: &DemoOidc,
) -> Result<Router, BoxError> {
    use rstream_well_known::http_client::HyperClient;
    use rstream_well_known::oidc::{FlowKey, OidcConfig};
    let mut config = OidcConfig::new(oidc.issuer.clone(), oidc.client_id.clone());
    if let Some(secret) = &oidc.client_secret {
        config = config.client_secret(secret.clone());
    }
    if let Some(key) = &oidc.flow_key {
        let key = FlowKey::from_hex(key).map_err(|e| format!("DEMO_OIDC_FLOW_KEY: {e}"))?;
        config = config.flow_keys([key]);
    }
    // The store ends sessions by provider session: the back-channel logout
    // endpoint is on (`/_rstream/oidc/backchannel-logout`).
    let client = HyperClient::new().map_err(|e| format!("the OpenID Connect HTTPS client: {e}"))?;
    let layer = config
        .layer_with_backchannel_logout(builder, client)
        .map_err(|e| format!("DEMO_OIDC_ISSUER: {e}"))?;
    Ok(routes(layer.session_manager(), true).layer(layer))
}

#[cfg(not(feature = "oidc-hyper"))]
fn with_oidc(
    _builder: WellKnownBuilder<TokenVerifierChain, BoxRevokeAllStore>,
    _oidc: &DemoOidc,
) -> Result<Router, BoxError> {
    Err(
        "DEMO_OIDC_ISSUER needs feature oidc-hyper: cargo run --features oidc-hyper --example demo"
            .into(),
    )
}

async fn page(State(demo): State<Demo>) -> Html<std::borrow::Cow<'static, str>> {
    if demo.oidc {
        Html(
            PAGE.replace("<!-- oidc-sign-in -->", OIDC_SIGN_IN)
                .replace("<!-- oidc-sign-out -->", OIDC_SIGN_OUT)
                .into(),
        )
    } else {
        Html(PAGE.into())
    }
}

/// Signs in Ada and sends the browser back to the page.
///
/// A real sign-in handler checks credentials (or completes an OAuth flow)
/// before calling `sign_in`. Like this one, it refuses cross-site posts, so
/// another site cannot sign a visitor into an account of its choosing.
async fn login(
    State(demo): State<Demo>,
    Query(query): Query<LoginQuery>,
    parts: Parts,
) -> Response {
    // The same cross-site rule as logout: fetch metadata, `Origin`, `Referer`.
    if let Err(refused) = demo.sessions.check_origin_parts(&parts) {
        return json_error(refused.status(), refused.reason());
    }
    // Back where the browser was sent from, if that is a path of this
    // origin; the page otherwise.
    let back = query
        .return_to
        .as_deref()
        .and_then(|url| demo.sessions.safe_return_url(url))
        .and_then(|url| HeaderValue::from_str(url).ok())
        .unwrap_or(HeaderValue::from_static("/"));
    match demo.sessions.sign_in(ada()).await {
        Ok(signed_in) => (
            StatusCode::SEE_OTHER,
            [
                (LOCATION, back),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (SET_COOKIE, signed_in.into_set_cookie()),
            ],
        )
            .into_response(),
        Err(error) => {
            eprintln!("sign-in failed: {error}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "sign-in is unavailable, try again\n",
            )
                .into_response()
        }
    }
}

/// The sign-in form's query: where to go back to after signing in.
#[derive(serde::Deserialize)]
struct LoginQuery {
    #[serde(default)]
    return_to: Option<String>,
}

/// `{"error":"<reason>"}`, not to be cached.
fn json_error(status: StatusCode, reason: &str) -> Response {
    let body = serde_json::json!({ "error": reason }).to_string();
    (
        status,
        [
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        ],
        body,
    )
        .into_response()
}

/// JSON of the handler's own view, not to be cached.
fn json(value: &serde_json::Value) -> Response {
    (
        [
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        ],
        value.to_string(),
    )
        .into_response()
}

/// What this handler received from the layer: who is calling, and the URI
/// as it reached the handler.
async fn whoami(caller: Option<Extension<Caller>>, uri: Uri) -> Response {
    // No `Caller`: the layer is not in front of this route (a bug).
    let Some(Extension(caller)) = caller else {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "caller_not_resolved");
    };
    json(&serde_json::json!({
        "authenticated": caller.is_authenticated(),
        "method": caller.method().map(AuthMethod::as_str),
        "userId": caller.user().map(User::user_id),
        "uri": uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()),
    }))
}

/// Only reached by authenticated callers: the layer refuses the others.
async fn private_hello(caller: Option<Extension<Caller>>) -> Response {
    match caller.as_ref().and_then(|Extension(caller)| caller.user()) {
        Some(user) => json(&serde_json::json!({ "userId": user.user_id() })),
        None => json_error(StatusCode::INTERNAL_SERVER_ERROR, "caller_not_resolved"),
    }
}

/// Serves the demo on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
///
/// # Errors
///
/// When the listener's address cannot be read or serving fails.
pub async fn serve(
    listener: TcpListener,
    tokens: impl Into<DemoTokens>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    serve_with(
        listener,
        tokens,
        BoxRevokeAllStore::new(MemoryStore::new()),
        shutdown,
    )
    .await
}

/// Serves the demo as [`serve`] does, with rstream Auth on `store`.
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_with(
    listener: TcpListener,
    tokens: impl Into<DemoTokens>,
    store: BoxRevokeAllStore,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    serve_with_oidc(listener, tokens, store, None, None, shutdown).await
}

/// Serves the demo as [`serve_with`] does, with OpenID Connect sign-in when
/// `oidc` is given.
///
/// # Errors
///
/// As [`serve`], and as [`app_for`] and [`tunnel_origins`].
pub async fn serve_with_oidc(
    listener: TcpListener,
    tokens: impl Into<DemoTokens>,
    store: BoxRevokeAllStore,
    oidc: Option<DemoOidc>,
    public_url: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let port = listener.local_addr()?.port();
    let origins = tunnel_origins(port, public_url.as_deref())?;
    let app = app_for(&origins, &tokens.into(), store, oidc.as_ref())?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Serves the demo on `listener`, sessions in `store`, until ctrl-c.
///
/// # Errors
///
/// As [`serve`].
pub async fn run(
    listener: TcpListener,
    tokens: DemoTokens,
    store: BoxRevokeAllStore,
) -> Result<(), BoxError> {
    run_with_oidc(listener, tokens, store, None, None).await
}

/// Serves the demo as [`run`] does, with OpenID Connect sign-in when `oidc`
/// is given.
///
/// # Errors
///
/// As [`serve_with_oidc`].
pub async fn run_with_oidc(
    listener: TcpListener,
    tokens: DemoTokens,
    store: BoxRevokeAllStore,
    oidc: Option<DemoOidc>,
    public_url: Option<String>,
) -> Result<(), BoxError> {
    serve_with_oidc(listener, tokens, store, oidc, public_url, async {
        // If the signal cannot be installed, serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
}

/// The environment variable `name`, `None` when it is not set.
///
/// # Errors
///
/// When it is set to bytes that are not UTF-8: the message names the
/// variable, never its value (it may be a secret).
fn env_var(name: &str) -> Result<Option<String>, BoxError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!(
            "{name} is set but is not valid UTF-8: give it a UTF-8 value, or unset it"
        )
        .into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr = env_var("DEMO_ADDR")?.unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let token = demo_token(env_var("DEMO_TOKEN")?)?;
    let tokens = DemoTokens {
        token: token.clone(),
        jwt_secret: jwt_secret(env_var("DEMO_JWT_SECRET")?),
    };
    // A bad secret stops the demo before it listens.
    tokens.verifier()?;
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let port = listener.local_addr()?.port();
    let (store, active_store) = session_store(env_var("REDIS_URL")?)?;
    let oidc = demo_oidc(
        env_var("DEMO_OIDC_ISSUER")?,
        env_var("DEMO_OIDC_CLIENT_ID")?,
        env_var("DEMO_OIDC_CLIENT_SECRET")?,
        env_var("DEMO_OIDC_FLOW_KEY")?,
    )?;
    let public_url = env_var("DEMO_PUBLIC_URL")?.filter(|u| !u.is_empty());
    // A bad public URL stops the demo before it prints its banner.
    tunnel_origins(port, public_url.as_deref())?;
    {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(banner_for(port, &token, public_url.as_deref()).as_bytes())?;
        // The store's line ends the banner (scripts read up to it).
        stdout.write_all(tokens.describe().as_bytes())?;
        if let Some(oidc) = &oidc {
            writeln!(stdout, "openid connect: {}", oidc.issuer)?;
        }
        if let Some(url) = &public_url {
            writeln!(stdout, "public url: {url}")?;
        }
        writeln!(stdout, "{active_store}")?;
        stdout.flush()?;
    }
    run_with_oidc(listener, tokens, store, oidc, public_url).await
}
