//! A reference for the pass-through figures: the least a middleware that may
//! answer a request itself adds to a forwarded one, whatever it checks. Its
//! future is the inner future or its own answer, and its body the inner body
//! or its own bytes, as the layer's are; it checks nothing that costs (a
//! `CONNECT` request gets its own answer) and has no configuration. Its call
//! and poll are `#[inline]`, as the layer's are. The layer's pass-through
//! figure above this one is what the layer's path check and configuration
//! cost.
//!
//! Shared by `benches/instructions.rs` (one service call) and
//! `examples/load.rs` (a whole server). Over a whole server, the layer's
//! figure above this one also holds what its configuration costs the server:
//! a server that clones the service for each request (hyper's `service_fn`
//! with `oneshot`, as `examples/load.rs` does, and as axum does) clones and
//! drops the layer's `Arc`'d configuration each time, where this stateless
//! middleware has nothing to clone.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{Either, Full};
use tower::Service;

/// The minimal middleware around `S`.
#[derive(Clone)]
pub struct Envelope<S>(pub S);

pin_project_lite::pin_project! {
    /// [`Envelope`]'s future: the inner service's, or its own answer.
    #[project = EnvelopeProj]
    pub enum EnvelopeFuture<F> {
        Forward { #[pin] future: F },
        Own { answer: Option<Response<Full<Bytes>>> },
    }
}

impl<F, B, E> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<B, Full<Bytes>>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EnvelopeProj::Forward { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Left))),
            EnvelopeProj::Own { answer } => {
                Poll::Ready(Ok(answer.take().unwrap_or_default().map(Either::Right)))
            }
        }
    }
}

impl<S, ReqBody, B> Service<Request<ReqBody>> for Envelope<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    type Response = Response<Either<B, Full<Bytes>>>;
    type Error = S::Error;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if request.method() == Method::CONNECT {
            return EnvelopeFuture::Own {
                answer: Some(Response::new(Full::new(Bytes::from_static(b"own")))),
            };
        }
        EnvelopeFuture::Forward {
            future: self.0.call(request),
        }
    }
}
