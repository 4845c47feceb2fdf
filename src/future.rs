//! The response future of [`WellKnownService`](crate::WellKnownService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http::header::CONTENT_LENGTH;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;

/// Whatever awaits the backends, ending with the inner service's future (a
/// forwarded request was let through) or the layer's answer (it was refused,
/// or it was a well-known request, which is never let through). Boxed: only
/// requests that present a credential a backend must be awaited for pay for
/// it.
pub(crate) type PendingGate<F> =
    Pin<Box<dyn Future<Output = Result<F, Response<Option<Bytes>>>> + Send>>;

pin_project! {
    /// The future returned by [`WellKnownService`](crate::WellKnownService):
    /// either the inner service's response future (for requests the layer
    /// forwards) or the layer's own answer to a well-known request.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Forward { #[pin] future: F },
        // Whatever awaits the backends, in one boxed kind (an endpoint's
        // answer is a gate that never lets the request through), so that a
        // plain forward (the common case) has few states to tell apart and
        // little to drop.
        Pending { pending: PendingGate<F> },
        Ready { reply: Option<Response<Option<Bytes>>> },
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn forward(future: F) -> Self {
        Self {
            state: State::Forward { future },
        }
    }

    /// An answer known without waiting for anything: no allocation.
    pub(crate) fn ready(reply: Response<Option<Bytes>>) -> Self {
        Self {
            state: State::Ready { reply: Some(reply) },
        }
    }

    pub(crate) fn gate(gate: PendingGate<F>) -> Self {
        Self {
            state: State::Pending { pending: gate },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Forward { .. } => "Forward",
            State::Pending { .. } => "Pending",
            State::Ready { .. } => "Answer",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

/// The layer's own answer as a response. An answer without a body that
/// declares a `Content-Length` is a `HEAD` answer standing for a `GET` body of
/// that length.
fn own<B>(reply: Response<Option<Bytes>>) -> Response<ResponseBody<B>> {
    let declared = match reply.body() {
        Some(_) => None,
        None => reply
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok()),
    };
    match declared {
        Some(declared) => reply.map(|_| ResponseBody::head(declared)),
        None => reply.map(ResponseBody::own),
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        // A forwarded request's response is the common case: kept small
        // enough to be inlined into the server; the rest is out of line.
        if let StateProj::Forward { future } = state.as_mut().project() {
            let response = ready!(future.poll(cx))?;
            return Poll::Ready(Ok(response.map(ResponseBody::inner)));
        }
        poll_own(state, cx)
    }
}

/// [`ResponseFuture`]'s poll for everything but a plain forward: the
/// layer's answers, and the gate before a forward (which becomes one).
#[inline(never)]
fn poll_own<F, B, E>(
    mut state: Pin<&mut State<F>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<ResponseBody<B>>, E>>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    let future = match state.as_mut().project() {
        StateProj::Forward { future } => {
            let response = ready!(future.poll(cx))?;
            return Poll::Ready(Ok(response.map(ResponseBody::inner)));
        }
        StateProj::Pending { pending } => match ready!(pending.as_mut().poll(cx)) {
            Ok(future) => future,
            Err(reply) => return Poll::Ready(Ok(own(reply))),
        },
        StateProj::Ready { reply } => {
            let reply = reply
                .take()
                .expect("ResponseFuture polled after completion");
            return Poll::Ready(Ok(own(reply)));
        }
    };
    // The gate let the request through: from now on, the inner service's
    // future.
    state.set(State::Forward { future });
    let StateProj::Forward { future } = state.project() else {
        unreachable!("just set");
    };
    let response = ready!(future.poll(cx))?;
    Poll::Ready(Ok(response.map(ResponseBody::inner)))
}
