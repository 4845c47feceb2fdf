//! What the layer adds to a request it forwards, counted in instructions.
//!
//! `pass_through_cost MODE N PATH` sends `N` requests for `PATH` (on the
//! tunnel host) through the bare inner service (`MODE` = `bare`) or through
//! the layer in front of it (`layered`). Run it under cachegrind for two
//! values of `N`; the difference of the two `I refs` totals divided by the
//! difference of the `N`s is the cost of one call, set-up excluded, and
//! `layered` minus `bare` is the layer's share:
//!
//! ```sh
//! cargo build --release --example pass_through_cost
//! for mode in bare layered; do for n in 100000 200000; do
//!   valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/examples/pass_through_cost $mode $n /api/users/42 2>&1 | grep 'I *refs'
//! done; done
//! ```
//!
//! Each iteration builds its request the same way in both modes (a parsed
//! URI and a `Host` header), so that work cancels out of the difference.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::HOST;
use http::{Request, Response};
use http_body_util::Empty;
use rstream_well_known::{Tunnel, WellKnownLayer};
use tower::{Layer, Service};

const HOST_NAME: &str = "app.example.com";

/// The application: answers at once, allocates nothing.
#[derive(Clone)]
struct Bare;

impl Service<Request<Empty<Bytes>>> for Bare {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Empty<Bytes>>) -> Self::Future {
        black_box(&request);
        ready(Ok(Response::new(Empty::new())))
    }
}

fn request(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header(HOST, HOST_NAME)
        .body(Empty::new())
        .expect("a valid request")
}

/// Calls `service` once, polls the future where it is (as a server does)
/// and drops the response.
fn call<S>(service: &mut S, path: &str)
where
    S: Service<Request<Empty<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let future = pin!(service.call(black_box(request(path))));
    let Poll::Ready(response) = future.poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the inner service answers at once");
    };
    black_box(response.expect("the inner service never fails"));
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: pass_through_cost bare|layered N PATH";
    let mode = args.next().expect(usage);
    let n: u64 = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let path = args.next().expect(usage);

    match mode.as_str() {
        "bare" => {
            let mut service = Bare;
            for _ in 0..n {
                call(&mut service, black_box(&path));
            }
        }
        "layered" => {
            let layer = WellKnownLayer::builder()
                .tunnel(Tunnel::new(HOST_NAME, "workspace-id", "project-id").expect("a tunnel"))
                .build()
                .expect("a valid configuration");
            let mut service = layer.layer(Bare);
            for _ in 0..n {
                call(&mut service, black_box(&path));
            }
        }
        _ => panic!("{usage}"),
    }
}
