//! The well-known layer composed with tower-http middleware (tracing,
//! compression, a timeout) in one `ServiceBuilder`, around an axum app.
//!
//! ```text
//! cargo run --example tower_http
//! curl -i --compressed http://127.0.0.1:3000/api/report
//! curl -i --compressed http://127.0.0.1:3000/.well-known/rstream/session -H 'Authorization: Bearer dev-token-change-me'
//! curl -i -X POST http://127.0.0.1:3000/.well-known/rstream/logout
//! ```
//!
//! `ADDR` sets the address to listen on (default `127.0.0.1:3000`; port 0
//! picks a free port). The tunnel is that address with an `http://` origin:
//! requests naming another host are forwarded to the app untouched.
//!
//! Request logs never hold a credential. tower-http's default request span
//! records the whole URI, and with it a `?rstream.token=…` query parameter;
//! `DefaultMakeSpan::include_headers(true)` would add `Authorization` and
//! `Cookie` (`HeaderValue::set_sensitive` does not hide a value from it), and
//! `DefaultOnResponse::include_headers(true)` a `Set-Cookie` with a session
//! id. So `request_span` records the method and the path only, never the
//! query or a header, and the other events keep tower-http's defaults, which
//! record neither. Copy it along with the rest.

use std::error::Error;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use rstream_well_known::{ConfigError, NoStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// The bearer token this example accepts. A fixed token is for local
/// development only: real apps plug in their own `TokenVerifier`.
pub const TOKEN: &str = "dev-token-change-me";

/// How long any request, well-known ones included, may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The log filter when `RUST_LOG` is unset: tower-http's request spans and
/// events at `debug`, everything else at `info`.
pub const DEFAULT_LOG_FILTER: &str = "info,tower_http=debug";

/// The layer for a server listening on `addr`, with bearer tokens only.
pub fn well_known(
    addr: SocketAddr,
) -> Result<WellKnownLayer<StaticTokenVerifier, NoStore>, ConfigError> {
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
        .build()
}

/// A report large enough to be worth compressing.
async fn report() -> String {
    let mut report = String::new();
    for day in 1..=100 {
        let _ = writeln!(report, "day {day:3}: 42 requests, 0 errors");
    }
    report
}

/// The tracing span of one request: its method, path and HTTP version.
///
/// Not the query: it may carry a bearer token (`?rstream.token=…`), which
/// would then be written to the log with every event of the request. Not the
/// headers either: `Authorization` and `Cookie` are credentials.
///
/// Its target and level are those of tower-http's default span, so that the
/// filters showing tower-http's request events (`tower_http=debug`) show the
/// span they happen in too.
pub fn request_span<B>(request: &Request<B>) -> Span {
    tracing::debug_span!(
        target: "tower_http::trace::make_span",
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

/// The app behind the middleware stack.
pub fn app(layer: WellKnownLayer<StaticTokenVerifier, NoStore>) -> Router {
    // Outermost first. Tracing sees every request (and logs its method and
    // path, never its query or headers: see `request_span`); the timeout also bounds the
    // layer's token and session lookups; compression applies to the layer's
    // JSON answers as to the app's; the well-known layer sits next to the
    // routes, so they never see a well-known request.
    let middleware = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            TIMEOUT,
        ))
        .layer(CompressionLayer::new())
        .layer(layer);
    Router::new()
        .route("/", get(|| async { "hello from axum and tower-http\n" }))
        .route("/api/report", get(report))
        .layer(middleware)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    // The real address, so that port 0 gives a tunnel on the chosen port.
    let addr = listener.local_addr()?;
    let app = app(well_known(addr)?);
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
