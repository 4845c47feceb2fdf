//! What the benches share: the layer's configuration, the application it
//! wraps, the requests they send, and calling a service without a runtime.
#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};

use bytes::Bytes;
use futures::FutureExt;
use http::header::{ACCEPT, ACCEPT_ENCODING, HOST, HeaderMap, HeaderName, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use rstream_well_known::{MemoryStore, Paths, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tower::{Service, ServiceExt};

pub const HOST_NAME: &str = "app.example.com";
pub const TOKEN: &str = "bench-token-5f0c2a9e7d41";
pub const APP_PATH: &str = "/api/users/42";
pub const SESSION_PATH: &str = "/.well-known/rstream/session";
pub const APP_BODY: &[u8] = b"{\"id\":42}";

/// The application: answers every request at once with a small body.
pub fn inner_service(
    _request: Request<Full<Bytes>>,
) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(APP_BODY)))))
}

/// The layer: one tunnel, a static token verifier and a memory store.
pub fn layer() -> WellKnownLayer {
    layer_with(None)
}

/// Where the benches' layers resolve the caller of forwarded requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Nowhere (the default).
    Off,
    /// Under `/account` only: `APP_PATH` is not resolved, but checked.
    Elsewhere,
    /// Everywhere.
    All,
}

/// [`layer`], with identity as given.
pub fn layer_with_identity(identity: Identity) -> WellKnownLayer {
    match identity {
        Identity::Off => layer_with(None),
        Identity::Elsewhere => layer_with(Some(Paths::prefix("/account"))),
        Identity::All => layer_with(Some(Paths::all())),
    }
}

fn layer_with(identity: Option<Paths>) -> WellKnownLayer {
    let builder = WellKnownLayer::builder()
        .tunnel(Tunnel::new(HOST_NAME, "workspace-id", "project-id").expect("a valid tunnel"))
        .with_token_verifier(
            StaticTokenVerifier::new().with_token(
                TOKEN,
                User::new("user-id")
                    .with_name("Ada Lovelace")
                    .with_email("ada@example.com"),
            ),
        )
        .with_session_store(MemoryStore::new());
    match identity {
        Some(paths) => builder.identity(paths),
        None => builder,
    }
    .build()
    .expect("a valid configuration")
}

/// Signs Ada in with `layer` and returns what a browser sends back: the
/// session cookie's `name=value` among another cookie.
pub fn signed_in_cookie(layer: &WellKnownLayer) -> String {
    let signed_in = layer
        .session_manager()
        .sign_in(User::new("user-id").with_name("Ada Lovelace"))
        .now_or_never()
        .expect("the memory store is ready at once")
        .expect("sign-in succeeds");
    let session = signed_in
        .set_cookie()
        .to_str()
        .expect("a visible cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    format!("theme=dark; {session}")
}

/// A credential header: name and value.
pub type Credential<'a> = Option<(HeaderName, &'a str)>;

/// A request as a browser or API client would send it.
pub fn request(path: &str, credential: Credential<'_>) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path)
        .header(HOST, HOST_NAME)
        .header(USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
        .header(ACCEPT, "application/json")
        .header(ACCEPT_ENCODING, "gzip, deflate, br");
    if let Some((name, value)) = credential {
        builder = builder.header(name, value);
    }
    builder.body(Full::default()).expect("a valid request")
}

/// Polls `poll_ready` and the call once each; panics if either is pending,
/// which would mean the bench measured something other than it claims.
pub fn call_now<S, B>(service: &mut S, request: Request<B>) -> S::Response
where
    S: Service<Request<B>>,
    S::Error: Debug,
{
    let ready = service
        .ready()
        .now_or_never()
        .expect("the service is ready at once")
        .expect("poll_ready succeeds");
    ready
        .call(request)
        .now_or_never()
        .expect("the response is ready at once")
        .expect("the call succeeds")
}

/// The response's status, headers and body, collected without a runtime.
pub fn collect<B>(response: Response<B>) -> (StatusCode, HeaderMap, Bytes)
where
    B: Body,
    B::Error: Debug,
{
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .now_or_never()
        .expect("the body is ready at once")
        .expect("the body is readable")
        .to_bytes();
    (parts.status, parts.headers, body)
}
