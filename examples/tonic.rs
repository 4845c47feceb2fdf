//! The well-known endpoints on a tonic gRPC server.
//!
//! ```text
//! cargo run --example tonic
//! curl -i http://127.0.0.1:3000/.well-known/rstream/session -H 'Authorization: Bearer dev-token-change-me'
//! grpc_health_probe -addr=127.0.0.1:3000
//! ```
//!
//! The gRPC service is the standard health service (`tonic-health`), so the
//! example needs no `protoc`. gRPC calls pass through the layer untouched;
//! the layer answers `/.well-known/rstream/*` on the tunnel host.
//!
//! `ADDR` sets the address to listen on (default `127.0.0.1:3000`; port 0
//! picks a free port). The tunnel is that address with an `http://` origin:
//! gRPC clients send it as the HTTP/2 `:authority`, plain HTTP clients as
//! `Host`.

use std::error::Error;
use std::net::SocketAddr;

use rstream_well_known::{ConfigError, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The bearer token this example accepts. A fixed token is for local
/// development only: real apps plug in their own `TokenVerifier`.
pub const TOKEN: &str = "dev-token-change-me";

/// The layer for a server listening on `addr`, with bearer tokens only.
pub fn well_known(addr: SocketAddr) -> Result<WellKnownLayer, ConfigError> {
    let tunnel = Tunnel::new(&addr.to_string(), "workspace-id", "project-id")?
        .with_origin(&format!("http://{addr}"))?;
    WellKnownLayer::builder()
        .tunnel(tunnel)
        .with_token_verifier(
            StaticTokenVerifier::new().with_token(TOKEN, User::new("ci-bot").with_name("CI")),
        )
        .build()
}

/// Serves the health service behind `layer` on `listener` until the
/// listener fails.
pub async fn serve(
    listener: TcpListener,
    layer: WellKnownLayer,
) -> Result<(), tonic::transport::Error> {
    // Reports the whole server ("") as SERVING; keep the reporter to change that.
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        // gRPC needs HTTP/2; HTTP/1.1 is accepted too, so that browsers and
        // curl can reach the well-known endpoints.
        .accept_http1(true)
        .layer(layer)
        .add_service(health)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await
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
