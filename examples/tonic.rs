//! The well-known endpoints on a tonic gRPC server, and a gRPC method that
//! greets the caller the layer resolved.
//!
//! ```text
//! cargo run --example tonic
//! curl -i http://127.0.0.1:3000/.well-known/rstream/session -H 'Authorization: Bearer dev-token-change-me'
//! grpc_health_probe -addr=127.0.0.1:3000
//! grpcurl -plaintext -H 'authorization: Bearer dev-token-change-me' -proto greeter.proto 127.0.0.1:3000 greeter.Greeter/SayHello
//! ```
//!
//! Two gRPC services: the standard health service (`tonic-health`) and
//! `greeter.Greeter`, whose one method, `SayHello`, greets the caller by
//! name. Its messages and service are written out here as tonic's code
//! generator would write them from this `greeter.proto`, so the example
//! needs no `protoc`:
//!
//! ```text
//! syntax = "proto3";
//! package greeter;
//! service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }
//! message HelloRequest {}
//! message HelloReply { string message = 1; }
//! ```
//!
//! The layer resolves the caller of every gRPC call (identity is on) from
//! the `authorization` metadata (`Bearer <token>`) and puts a
//! [`Caller`] in the request's extensions, which tonic hands to the method
//! as `request.extensions()`. gRPC calls otherwise pass through untouched;
//! the layer answers `/.well-known/rstream/*` on the tunnel host.
//!
//! `ADDR` sets the address to listen on (default `127.0.0.1:3000`; port 0
//! picks a free port). The tunnel is that address with an `http://` origin:
//! gRPC clients send it as the HTTP/2 `:authority`, plain HTTP clients as
//! `Host`.

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use rstream_well_known::{
    Caller, ConfigError, NoStore, Paths, StaticTokenVerifier, Tunnel, User, WellKnownLayer,
};
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// The bearer token this example accepts. A fixed token is for local
/// development only: real apps plug in their own `TokenVerifier`.
pub const TOKEN: &str = "dev-token-change-me";

/// The layer for a server listening on `addr`, with bearer tokens only and
/// the caller resolved for every gRPC call.
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
        .identity(Paths::prefix("/greeter.Greeter"))
        .build()
}

/// The messages of `greeter.proto`.
pub mod greeter {
    /// `SayHello`'s request: nothing, the caller is who matters.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HelloRequest {}

    /// `SayHello`'s reply.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HelloReply {
        /// The greeting.
        #[prost(string, tag = "1")]
        pub message: String,
    }
}

use greeter::{HelloReply, HelloRequest};

/// `SayHello`: greets the authenticated caller by name, or refuses the call
/// with `UNAUTHENTICATED` and the layer's reason.
pub async fn say_hello(request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
    // The layer puts a `Caller` in every request it resolved; none means it
    // is not in front of this service, a programming error.
    let Some(caller) = request.extensions().get::<Caller>() else {
        return Err(Status::internal("the caller was not resolved"));
    };
    match (caller.user(), caller.method()) {
        (Some(user), Some(method)) => Ok(Response::new(HelloReply {
            message: format!(
                "hello, {} ({method})",
                user.name().unwrap_or(user.user_id())
            ),
        })),
        _ => Err(Status::unauthenticated(
            caller
                .unauthenticated()
                .map_or("unauthenticated", |why| why.reason()),
        )),
    }
}

/// The `greeter.Greeter` service, routed as generated code routes it.
#[derive(Clone, Debug, Default)]
pub struct GreeterServer;

impl NamedService for GreeterServer {
    const NAME: &'static str = "greeter.Greeter";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<Body>> for GreeterServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match request.uri().path() {
            "/greeter.Greeter/SayHello" => Box::pin(async move {
                let mut grpc =
                    tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
                Ok(grpc.unary(tower::service_fn(say_hello), request).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// Serves the health and greeter services behind `layer` on `listener`
/// until the listener fails.
pub async fn serve(
    listener: TcpListener,
    layer: WellKnownLayer<StaticTokenVerifier, NoStore>,
) -> Result<(), tonic::transport::Error> {
    // Reports the whole server ("") as SERVING; keep the reporter to change that.
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        // gRPC needs HTTP/2; HTTP/1.1 is accepted too, so that browsers and
        // curl can reach the well-known endpoints.
        .accept_http1(true)
        .layer(layer)
        .add_service(health)
        .add_service(GreeterServer)
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
