//! The well-known endpoints on a tower-sessions store that an axum app
//! already uses for its own sessions: one SQLite store behind both
//! tower-sessions' layer and this crate's (feature `tower-sessions-core-0_14`).
//!
//! ```text
//! cargo run --example tower_sessions --features tower-sessions-core-0_14,tokio
//! # The app's own session (tower-sessions, cookie `app_session`):
//! curl -si http://127.0.0.1:3000/visits | grep -i -e set-cookie -e visits
//! # Sign in (a real handler checks credentials first): two cookies, the
//! # well-known session (`rstream_session`) and the app's (`app_session`).
//! curl -si -X POST http://127.0.0.1:3000/login | grep -i set-cookie
//! curl -s http://127.0.0.1:3000/.well-known/rstream/session -H 'Cookie: rstream_session=<value>'
//! # Log out of the well-known session; the app's session goes on.
//! curl -si -X POST http://127.0.0.1:3000/.well-known/rstream/logout -H 'Cookie: rstream_session=<value>'
//! ```
//!
//! Environment: `DATABASE_URL` (default `sqlite::memory:`, a database that
//! lives as long as the process; `sqlite://sessions.db?mode=rwc` keeps
//! sessions in a file across restarts), `ADDR` (default `127.0.0.1:3000`;
//! port 0 picks a free port). The app answers for `127.0.0.1:<port>` and
//! `localhost:<port>`.

use std::error::Error;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rstream_well_known::{
    SessionCookie, SessionManager, TokioTimer, TowerSessionsStore, Tunnel, User, WellKnownLayer,
};
use tokio::net::TcpListener;
use tower_sessions::{ExpiredDeletion, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;
use tower_sessions_sqlx_store::sqlx::sqlite::SqlitePoolOptions;

type BoxError = Box<dyn Error + Send + Sync>;

/// The store both layers use, over the SQLite database at `url`, with its
/// table created.
///
/// An in-memory database (`sqlite::memory:`) exists once per connection,
/// so it gets a pool of one connection that is never closed; a file gets
/// the default pool.
///
/// # Errors
///
/// When the database cannot be opened or the table created.
pub async fn store(url: &str) -> Result<SqliteStore, BoxError> {
    let options = if url.contains(":memory:") || url.contains("mode=memory") {
        SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new()
    };
    let store = SqliteStore::new(options.connect(url).await?);
    store.migrate().await?;
    Ok(store)
}

/// The app on `port`, with `store` behind both layers:
///
/// - `POST /login` signs Ada in: a well-known session (this crate's
///   [`SessionManager`], cookie `rstream_session`) and a note in the app's
///   own tower-sessions session (cookie `app_session`);
/// - `GET /visits` counts the visits of the app's session (tower-sessions
///   only);
/// - the well-known layer answers `/.well-known/rstream/session` and
///   `/logout` from the same store, with a 30-minute idle timeout, and bounds
///   every store call by 2 seconds.
///
/// # Errors
///
/// When the layer configuration is refused.
pub fn app(store: SqliteStore, port: u16) -> Result<Router, BoxError> {
    let mut builder = WellKnownLayer::builder();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        builder = builder.tunnel(
            Tunnel::new(&host, "workspace-id", "project-id")?
                .with_origin(&format!("http://{host}"))?,
        );
    }
    let well_known = builder
        .with_session_store(TowerSessionsStore::new(store.clone()))
        // Plain HTTP on loopback: keep the default (`Secure`, and the
        // `__Host-` name) behind HTTPS.
        .session_cookie(SessionCookie::new("rstream_session").secure(false))
        .idle_timeout(Duration::from_secs(30 * 60))
        // tower-sessions stores have no timeout of their own: the layer's
        // bounds every call it and the session manager make.
        .backend_timeout(Duration::from_secs(2), TokioTimer)
        .build()?;
    let sessions = well_known.session_manager();
    // The app's own sessions: another cookie name, the same store.
    let app_sessions = SessionManagerLayer::new(store)
        .with_name("app_session")
        .with_secure(false);
    Ok(Router::new()
        .route("/login", post(login))
        .route("/visits", get(visits))
        .with_state(sessions)
        .layer(app_sessions)
        // Outermost: it answers the well-known paths before tower-sessions'
        // layer sees them.
        .layer(well_known))
}

/// Signs Ada in, in both session systems.
async fn login(
    State(sessions): State<SessionManager<TowerSessionsStore<SqliteStore>>>,
    app_session: Session,
) -> Response {
    let signed_in = match sessions
        .sign_in(User::new("ada").with_name("Ada Lovelace"))
        .await
    {
        Ok(signed_in) => signed_in,
        Err(error) => {
            // The error names what failed, never a session id.
            eprintln!("sign-in failed: {error}");
            return (StatusCode::SERVICE_UNAVAILABLE, "sign-in is unavailable\n").into_response();
        }
    };
    // tower-sessions adds its own cookie once its session changed.
    if let Err(error) = app_session.insert("signed_in_as", "ada").await {
        eprintln!("the app session failed: {error}");
        return (StatusCode::SERVICE_UNAVAILABLE, "sign-in is unavailable\n").into_response();
    }
    (
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, signed_in.into_set_cookie())],
    )
        .into_response()
}

/// Counts this browser's visits, in the app's tower-sessions session.
async fn visits(app_session: Session) -> Response {
    let count = async {
        let count = app_session.get::<u64>("visits").await?.unwrap_or(0) + 1;
        app_session.insert("visits", count).await?;
        Ok::<_, tower_sessions::session::Error>(count)
    };
    match count.await {
        Ok(count) => format!("visits: {count}\n").into_response(),
        Err(error) => {
            eprintln!("the app session failed: {error}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let store = store(&url).await?;
    // SQL stores keep expired records until deleted: both kinds of session.
    tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(Duration::from_secs(60)),
    );
    let listener = TcpListener::bind(&addr).await?;
    let port = listener.local_addr()?.port();
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app(store, port)?).await?;
    Ok(())
}
