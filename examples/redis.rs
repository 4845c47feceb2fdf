//! Sessions in Redis, shared by every instance of an axum app (feature
//! `redis`).
//!
//! ```text
//! redis-server --port 6379 &
//! ADDR=127.0.0.1:3001 cargo run --features redis --example redis &
//! ADDR=127.0.0.1:3002 cargo run --features redis --example redis &
//! # Sign in on one instance ...
//! curl -si -X POST http://127.0.0.1:3001/login | grep -i set-cookie
//! # ... the cookie works on the other:
//! curl -s http://127.0.0.1:3002/.well-known/rstream/session -H 'Cookie: rstream_session=<value>'
//! # Log out on either: the cookie fails on both.
//! curl -si -X POST http://127.0.0.1:3002/.well-known/rstream/logout -H 'Cookie: rstream_session=<value>'
//! # Or sign Ada out everywhere, every session on every instance:
//! curl -si -X POST http://127.0.0.1:3001/logout-everywhere
//! ```
//!
//! Environment: `REDIS_URL` (default `redis://127.0.0.1:6379/`), `ADDR`
//! (default `127.0.0.1:3000`; port 0 picks a free port). Each instance
//! answers for `127.0.0.1:<its port>` and `localhost:<its port>`; behind a
//! load balancer, every instance would name the one public host instead.
//!
//! The store is built lazily (`build`, not `connect`): the app starts even
//! while Redis is down, and its session calls fail fast (within the store's
//! timeout) until Redis is up: the session endpoint then says "not
//! authenticated", logout answers `503`, and `/login` answers `503`.

use std::error::Error;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rstream_well_known::{RedisStore, SessionCookie, SessionManager, Tunnel, User, WellKnownLayer};
use tokio::net::TcpListener;

type BoxError = Box<dyn Error + Send + Sync>;

/// The Redis store: keys under `example:session:`, every call bounded by a
/// second. Must run within a Tokio runtime.
///
/// # Errors
///
/// When the URL does not parse.
pub fn store(redis_url: &str) -> Result<RedisStore, BoxError> {
    Ok(RedisStore::builder(redis_url)
        .key_prefix("example:session:")
        .timeout(Duration::from_secs(1))
        .build()?)
}

/// The app on `port`: `POST /login` signs in Ada, `POST /logout-everywhere`
/// ends every session of hers, the layer answers the well-known endpoints.
///
/// # Errors
///
/// When the store or the layer configuration is refused.
pub fn app(redis_url: &str, port: u16) -> Result<Router, BoxError> {
    let mut builder = WellKnownLayer::builder();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        builder = builder.tunnel(
            Tunnel::new(&host, "workspace-id", "project-id")?
                .with_origin(&format!("http://{host}"))?,
        );
    }
    let layer = builder
        .with_session_store(store(redis_url)?)
        // Plain HTTP on loopback: keep the default (`Secure`) behind HTTPS.
        .session_cookie(SessionCookie::new("rstream_session").secure(false))
        .build()?;
    let sessions = layer.session_manager();
    Ok(Router::new()
        .route("/login", post(login))
        .route("/logout-everywhere", post(logout_everywhere))
        .with_state(sessions)
        .layer(layer))
}

/// Signs Ada in (a real handler checks credentials first).
async fn login(State(sessions): State<SessionManager<RedisStore>>) -> Response {
    match sessions
        .sign_in(User::new("ada").with_name("Ada Lovelace"))
        .await
    {
        Ok(signed_in) => (
            StatusCode::NO_CONTENT,
            [(SET_COOKIE, signed_in.into_set_cookie())],
        )
            .into_response(),
        Err(error) => {
            // The error names what failed, never a session id.
            eprintln!("sign-in failed: {error}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static("1"),
                )],
                "sign-in is unavailable, try again\n",
            )
                .into_response()
        }
    }
}

/// Ends every session of Ada, on every instance (a real handler takes the
/// user from its own authentication, and checks the caller may do this).
async fn logout_everywhere(State(sessions): State<SessionManager<RedisStore>>) -> Response {
    match sessions.revoke_all("ada").await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            eprintln!("sign-out everywhere failed: {error}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "sign-out everywhere is unavailable, try again\n",
            )
                .into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    let port = listener.local_addr()?.port();
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app(&redis_url, port)?).await?;
    Ok(())
}
