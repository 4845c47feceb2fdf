//! The well-known endpoints in front of a plain hyper 1 server.
//!
//! ```text
//! cargo run --example hyper
//! curl -i http://127.0.0.1:3000/.well-known/rstream/session -H 'Authorization: Bearer dev-token-change-me'
//! curl -i http://127.0.0.1:3000/
//! curl -i http://127.0.0.1:3000/me -H 'Authorization: Bearer dev-token-change-me'
//! ```
//!
//! `/me` greets the caller the layer resolved: identity is on for it, so
//! the layer puts a [`Caller`] in the request's extensions, which the
//! handler reads.
//!
//! `ADDR` sets the address to listen on (default `127.0.0.1:3000`; port 0
//! picks a free port). The tunnel is that address with an `http://` origin:
//! requests naming another host are forwarded to the app untouched.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rstream_well_known::{
    Caller, ConfigError, NoStore, Paths, StaticTokenVerifier, Tunnel, User, WellKnownLayer,
};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

/// The bearer token this example accepts. A fixed token is for local
/// development only: real apps plug in their own `TokenVerifier`.
pub const TOKEN: &str = "dev-token-change-me";

/// The layer for a server listening on `addr`, with bearer tokens only (an
/// API without browser sessions: logout is then always a no-op `204`).
pub fn well_known(
    addr: SocketAddr,
) -> Result<WellKnownLayer<StaticTokenVerifier, NoStore>, ConfigError> {
    let tunnel = Tunnel::new(&addr.to_string(), "workspace-id", "project-id")?
        .with_origin(&format!("http://{addr}"))?;
    WellKnownLayer::builder()
        .tunnel(tunnel)
        .with_token_verifier(
            StaticTokenVerifier::new().with_token(TOKEN, User::new("ci-bot").with_name("CI")),
        )
        // Resolve the caller for `/me` only: other routes cost nothing.
        .identity(Paths::prefix("/me"))
        .build()
}

/// The application: any tower service over hyper's request body.
async fn app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.uri().path() {
        "/" => Response::new(Full::from("hello from hyper\n")),
        "/me" => me(request.extensions().get::<Caller>()),
        _ => {
            let mut response = Response::new(Full::from("not found\n"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

/// Greets the caller, or answers `401` when nobody is signed in.
fn me(caller: Option<&Caller>) -> Response<Full<Bytes>> {
    // No `Caller` at all: the layer is not in front of this handler, or
    // identity is off for its path. A bug, not an anonymous visitor.
    let Some(caller) = caller else {
        let mut response = Response::new(Full::from("the caller was not resolved\n"));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return response;
    };
    match (caller.user(), caller.method()) {
        (Some(user), Some(method)) => Response::new(Full::from(format!(
            "hello, {} ({method})\n",
            user.name().unwrap_or(user.user_id())
        ))),
        _ => {
            let why = caller
                .unauthenticated()
                .map_or("unauthenticated", |why| why.reason());
            let mut response = Response::new(Full::from(format!("not signed in: {why}\n")));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// Accepts connections on `listener` forever, each served (HTTP/1.1 or h2c)
/// by the app behind `layer`.
pub async fn serve(
    listener: TcpListener,
    layer: WellKnownLayer<StaticTokenVerifier, NoStore>,
) -> std::io::Result<()> {
    let service = ServiceBuilder::new().layer(layer).service_fn(app);
    loop {
        let (stream, _) = listener.accept().await?;
        // hyper calls services through `&self`; the adapter clones ours per request.
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(error) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    // The real address, so that port 0 gives a tunnel on the chosen port.
    let addr = listener.local_addr()?;
    let layer = well_known(addr)?;
    println!("listening on http://{addr}");
    serve(listener, layer).await?;
    Ok(())
}
