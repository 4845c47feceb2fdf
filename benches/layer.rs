//! What the layer costs.
//!
//! - `pass_through/bare` and `pass_through/layered`: the same inner service
//!   and the same ordinary request (`GET /api/users/42` on a tunnel host),
//!   without and with `WellKnownLayer` in front. Their ratio is the price of
//!   the layer on every request that is not a well-known one.
//! - `session_endpoint/*`: `GET /.well-known/rstream/session` unauthenticated,
//!   with a valid bearer token (`StaticTokenVerifier`), and with a valid
//!   session cookie (`MemoryStore`).
//!
//! The inner service and the built-in verifier and store are ready at once, so
//! futures are polled once with `now_or_never`: no runtime is measured. Each
//! request is built outside the timed routine (`iter_batched`), the same way
//! for every case, so only the service call (and dropping the request inside
//! it) is timed. Before timing, each case is run once and its answer checked,
//! so a broken configuration cannot produce a fast but meaningless figure.
//!
//! Run: `cargo bench --bench layer -- --warm-up-time 1 --measurement-time 3`.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, COOKIE, HOST, HeaderName, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

const HOST_NAME: &str = "app.example.com";
const TOKEN: &str = "bench-token-5f0c2a9e7d41";
const SESSION_PATH: &str = "/.well-known/rstream/session";

/// The application: answers every request at once with a small body.
fn inner_service(
    _request: Request<Full<Bytes>>,
) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(
        b"{\"id\":42}",
    )))))
}

/// A credential header: name and value.
type Credential<'a> = Option<(HeaderName, &'a str)>;

/// A request as a browser or API client would send it.
fn request(path: &str, credential: Credential<'_>) -> Request<Full<Bytes>> {
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
fn call_now<S, B>(service: &mut S, request: Request<B>) -> S::Response
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

/// The response's status and body, collected without a runtime.
fn status_and_body<B>(response: Response<B>) -> (StatusCode, Bytes)
where
    B: Body,
    B::Error: Debug,
{
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .expect("the body is ready at once")
        .expect("the body is readable")
        .to_bytes();
    (status, body)
}

fn layer() -> WellKnownLayer {
    WellKnownLayer::builder()
        .tunnel(Tunnel::new(HOST_NAME, "workspace-id", "project-id").expect("a valid tunnel"))
        .with_token_verifier(
            StaticTokenVerifier::new().with_token(
                TOKEN,
                User::new("user-id")
                    .with_name("Ada Lovelace")
                    .with_email("ada@example.com"),
            ),
        )
        .with_session_store(MemoryStore::new())
        .build()
        .expect("a valid configuration")
}

fn pass_through(c: &mut Criterion) {
    let mut bare = service_fn(inner_service);
    let mut layered = layer().layer(service_fn(inner_service));

    let path = "/api/users/42";
    assert_eq!(
        status_and_body(call_now(&mut bare, request(path, None))),
        (StatusCode::OK, Bytes::from_static(b"{\"id\":42}"))
    );
    assert_eq!(
        status_and_body(call_now(&mut layered, request(path, None))),
        (StatusCode::OK, Bytes::from_static(b"{\"id\":42}")),
        "the layer forwards an ordinary request untouched"
    );

    let mut group = c.benchmark_group("pass_through");
    group.bench_function("bare", |b| {
        b.iter_batched(
            || request(path, None),
            |request| call_now(&mut bare, black_box(request)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("layered", |b| {
        b.iter_batched(
            || request(path, None),
            |request| call_now(&mut layered, black_box(request)),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn session_endpoint(c: &mut Criterion) {
    let layer = layer();
    let signed_in = layer
        .session_manager()
        .expect("sessions are enabled")
        .sign_in(User::new("user-id").with_name("Ada Lovelace"))
        .now_or_never()
        .expect("the memory store is ready at once")
        .expect("sign-in succeeds");
    let cookie = format!(
        "theme=dark; __Host-rstream_session={}",
        signed_in.session_id().expose()
    );
    let bearer = format!("Bearer {TOKEN}");
    let mut service = layer.layer(service_fn(inner_service));

    // (name, credential, a piece of the expected answer)
    let cases: [(&str, Credential<'_>, &str); 3] = [
        (
            "unauthenticated",
            None,
            r#"{"auth":{"authenticated":false}}"#,
        ),
        (
            "bearer_token",
            Some((AUTHORIZATION, &bearer)),
            r#""method":"token-auth""#,
        ),
        (
            "session_cookie",
            Some((COOKIE, &cookie)),
            r#""method":"rstream-auth""#,
        ),
    ];

    let mut group = c.benchmark_group("session_endpoint");
    for (name, credential, expected) in cases {
        let (status, body) = status_and_body(call_now(
            &mut service,
            request(SESSION_PATH, credential.clone()),
        ));
        let body = String::from_utf8(body.to_vec()).expect("a JSON body");
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(body.contains(expected), "{name}: {body}");

        group.bench_function(name, |b| {
            b.iter_batched(
                || request(SESSION_PATH, credential.clone()),
                |request| call_now(&mut service, black_box(request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, pass_through, session_endpoint);
criterion_main!(benches);
