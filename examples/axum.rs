//! The well-known endpoints in front of an axum app, and handlers that read
//! the caller with the crate's extractors (feature `axum`).
//!
//! ```text
//! cargo run --example axum --features axum
//! curl -i http://127.0.0.1:3000/.well-known/rstream/session
//! curl -i http://127.0.0.1:3000/.well-known/rstream/session -H 'Authorization: Bearer dev-token-change-me'
//! curl -i http://127.0.0.1:3000/api/hello
//! curl -i http://127.0.0.1:3000/api/me -H 'Authorization: Bearer dev-token-change-me'
//! ```
//!
//! `/` greets whoever is signed in (`Option<Authenticated>`); `/api/me`
//! requires a signed-in caller (`Authenticated`) and answers `401` with
//! `WWW-Authenticate: Bearer` otherwise.
//!
//! `ADDR` sets the address to listen on (default `127.0.0.1:3000`; port 0
//! picks a free port). The tunnel is that address with an `http://` origin,
//! so requests must name it in their `Host`: requests for any other host
//! (`localhost:3000` included) go to the app untouched, well-known paths too.

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use rstream_well_known::axum::Authenticated;
use rstream_well_known::{
    ConfigError, MemoryStore, Paths, SessionCookie, StaticTokenVerifier, Tunnel, User,
    WellKnownLayer,
};
use tokio::net::TcpListener;

/// The bearer token this example accepts. A fixed token is for local
/// development only: real apps plug in their own `TokenVerifier`.
pub const TOKEN: &str = "dev-token-change-me";

/// The layer for a server listening on `addr`: the tunnel is `addr` itself,
/// bearer tokens (`token-auth`) and browser sessions (`rstream-auth`) are on,
/// and the caller is resolved for every route.
pub fn well_known(addr: SocketAddr) -> Result<WellKnownLayer, ConfigError> {
    let tunnel = Tunnel::new(&addr.to_string(), "workspace-id", "project-id")?
        .with_origin(&format!("http://{addr}"))?;
    WellKnownLayer::builder()
        .tunnel(tunnel)
        .with_token_verifier(
            StaticTokenVerifier::new().with_token(
                TOKEN,
                User::new("user-id")
                    .with_name("Ada Lovelace")
                    .with_email("ada@example.com"),
            ),
        )
        // Sessions are created by your sign-in handler with
        // `layer.session_manager()` (see examples/demo.rs).
        .with_session_store(MemoryStore::new())
        // Plain HTTP: browsers drop `Secure` cookies there. Keep the default
        // (`Secure`) wherever the app is served over HTTPS.
        .session_cookie(SessionCookie::default().secure(false))
        // Who is calling, for the handlers (leave static files out with
        // `Paths::all().except_prefix("/static")`).
        .identity(Paths::all())
        .build()
}

/// Greets whoever is signed in, and anybody else.
async fn home(caller: Option<Authenticated>) -> String {
    match caller {
        Some(Authenticated(identity)) => {
            let user = identity.user();
            format!(
                "hello from axum, {}\n",
                user.name().unwrap_or(user.user_id())
            )
        }
        None => "hello from axum\n".to_owned(),
    }
}

/// Only for a signed-in caller: anybody else gets `401` (or `403` for a
/// valid token out of scope) before this runs.
async fn me(Authenticated(identity): Authenticated) -> String {
    format!(
        "hello, {} ({})\n",
        identity.user().user_id(),
        identity.method()
    )
}

/// The application's own routes; they never see a well-known request.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/api/hello", get(|| async { "hello, API\n" }))
        .route("/api/me", get(me))
}

/// The app behind the layer. Add the layer after the routes: axum's
/// `Router::layer` only wraps what is already there (and the fallback, which
/// is where unrouted well-known paths would go).
pub fn app(layer: WellKnownLayer) -> Router {
    routes().layer(layer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    // The real address, so that port 0 gives a tunnel on the chosen port.
    let addr = listener.local_addr()?;
    let app = app(well_known(addr)?);
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
