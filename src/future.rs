//! The response future of [`WellKnownService`](crate::WellKnownService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http::header::CONTENT_LENGTH;
use pin_project_lite::pin_project;

use crate::body::{OwnBody, ResponseBody};

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
        // Everything else, in one slot: a plain forward (the common case)
        // has two states to tell apart and nothing of the layer's to drop.
        Own { own: OwnSlot<F> },
    }
}

/// The layer's part of a [`ResponseFuture`]: the gate that awaits the
/// backends, then the answer; empty once the answer is sent.
struct OwnSlot<F>(Option<Own<F>>);

enum Own<F> {
    /// Whatever awaits the backends, boxed (only requests that present a
    /// credential a backend must be awaited for pay for it). An endpoint's
    /// answer is a gate that never lets the request through.
    Pending(PendingGate<F>),
    /// The layer's answer, known and ready to send.
    Ready(Response<OwnBody>),
}

impl<F> OwnSlot<F> {
    fn new(own: Own<F>) -> Self {
        Self(Some(own))
    }

    /// The answer, if that is what the slot holds (leaving it empty).
    #[inline]
    fn take_ready(&mut self) -> Option<Response<OwnBody>> {
        if !matches!(self.0, Some(Own::Ready(_))) {
            return None;
        }
        match self.0.take() {
            Some(Own::Ready(reply)) => Some(reply),
            _ => None,
        }
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
            state: State::Own {
                own: OwnSlot::new(Own::Ready(own_answer(reply))),
            },
        }
    }

    /// A layer's own answer to a request it does not forward, once `answer`
    /// has made it: for layers that wrap the [`WellKnownService`] and
    /// answer some requests themselves (the OpenID Connect sign-in does),
    /// with the same future and [`ResponseBody`] as the requests they pass
    /// on to it.
    ///
    /// The body is sent as given. A response whose body is `None` answers
    /// a `HEAD`: it sends no body and keeps its `Content-Length`, the
    /// length of the `GET` it stands for
    /// ([`reply::for_method`](crate::reply::for_method) makes it). The
    /// future is boxed, once per answer; forwarded requests pay nothing for
    /// it.
    ///
    /// [`WellKnownService`]: crate::WellKnownService
    ///
    /// ```
    /// use http::{Method, Response, StatusCode};
    /// use http_body_util::{BodyExt, Full};
    /// use bytes::Bytes;
    /// use rstream_well_known::{ResponseFuture, reply};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// type Inner = std::future::Ready<Result<Response<Full<Bytes>>, std::convert::Infallible>>;
    /// let future = ResponseFuture::<Inner>::answer(async {
    ///     reply::for_method(&Method::GET, reply::method_not_allowed("POST"))
    /// });
    /// let response = future.await?;
    /// assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    /// let body = response.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, r#"{"error":"method_not_allowed"}"#);
    /// # Ok(())
    /// # }
    /// ```
    pub fn answer<A>(answer: A) -> Self
    where
        A: Future<Output = Response<Option<Bytes>>> + Send + 'static,
        F: 'static,
    {
        Self::gate(Box::pin(async move { Err(answer.await) }))
    }

    pub(crate) fn gate(gate: PendingGate<F>) -> Self {
        Self {
            state: State::Own {
                own: OwnSlot::new(Own::Pending(gate)),
            },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Forward { .. } => "Forward",
            State::Own { own } => match &own.0 {
                Some(Own::Pending(_)) => "Pending",
                Some(Own::Ready(_)) => "Answer",
                None => "Done",
            },
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

/// The layer's own answer with its body as the response body will carry it.
/// An answer without a body that declares a `Content-Length` is a `HEAD`
/// answer standing for a `GET` body of that length.
fn own_answer(reply: Response<Option<Bytes>>) -> Response<OwnBody> {
    let declared = match reply.body() {
        Some(_) => None,
        None => reply
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok()),
    };
    match declared {
        Some(declared) => reply.map(|_| OwnBody::Head(declared)),
        None => reply.map(|data| OwnBody::Data(data.unwrap_or_default())),
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
        // Every response leaves from here, built in line: a forwarded
        // request's (the common case) and the layer's own answer, whose body
        // was prepared when the answer was made. The compiler then builds
        // the response where the caller wants it; a response that came out
        // of an out-of-line call would be built in a temporary and copied
        // (a call to `memcpy`: the response is larger than the inner one).
        // Whatever awaits a backend is out of line, and only ever turns the
        // state into one of these two.
        loop {
            match state.as_mut().project() {
                StateProj::Forward { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Own { own } => {
                    if let Some(reply) = own.take_ready() {
                        return Poll::Ready(Ok(reply.map(ResponseBody::from_own)));
                    }
                }
            }
            ready!(settle(state.as_mut(), cx));
        }
    }
}

/// Polls the gate of a [`ResponseFuture`] whose state holds one; once the
/// gate has decided, the state is `Forward` (the request was let through)
/// or holds the layer's answer.
///
/// # Panics
///
/// When the future has completed already.
#[inline(never)]
fn settle<F>(mut state: Pin<&mut State<F>>, cx: &mut Context<'_>) -> Poll<()> {
    let StateProj::Own { own: OwnSlot(slot) } = state.as_mut().project() else {
        return Poll::Ready(());
    };
    let Some(Own::Pending(pending)) = slot else {
        panic!("ResponseFuture polled after completion");
    };
    match ready!(pending.as_mut().poll(cx)) {
        Ok(future) => state.set(State::Forward { future }),
        Err(reply) => *slot = Some(Own::Ready(own_answer(reply))),
    }
    Poll::Ready(())
}

#[cfg(test)]
mod tests {
    use std::future::{Ready, ready};
    use std::sync::Arc;
    use std::task::Waker;

    use http::StatusCode;
    use http_body::Body as _;
    use http_body_util::{BodyExt, Full};

    use super::*;

    type Inner = Ready<Result<Response<Full<Bytes>>, std::convert::Infallible>>;

    fn poll(
        future: &mut Pin<Box<ResponseFuture<Inner>>>,
    ) -> Poll<Response<ResponseBody<Full<Bytes>>>> {
        let mut cx = Context::from_waker(Waker::noop());
        future
            .as_mut()
            .poll(&mut cx)
            .map(|result| result.unwrap_or_else(|never| match never {}))
    }

    fn inner(witness: &Arc<()>) -> Inner {
        let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
        response.extensions_mut().insert(Arc::clone(witness));
        ready(Ok(response))
    }

    fn answer(witness: &Arc<()>, body: Option<&'static [u8]>) -> Response<Option<Bytes>> {
        let mut reply = Response::new(body.map(Bytes::from_static));
        *reply.status_mut() = StatusCode::UNAUTHORIZED;
        reply.extensions_mut().insert(Arc::clone(witness));
        reply
    }

    /// A gate that is pending `waits` times, then decides.
    fn gate(
        waits: usize,
        decision: Result<Inner, Response<Option<Bytes>>>,
        witness: &Arc<()>,
    ) -> PendingGate<Inner> {
        let witness = Arc::clone(witness);
        let mut waits = waits;
        let mut decision = Some(decision);
        Box::pin(std::future::poll_fn(move |cx| {
            let _held = &witness;
            if waits > 0 {
                waits -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(decision.take().expect("the gate decides once"))
        }))
    }

    async fn body(response: Response<ResponseBody<Full<Bytes>>>) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_gate_that_waits_then_lets_the_request_through_answers_with_the_inner_response() {
        let witness = Arc::new(());
        let mut future = Box::pin(ResponseFuture::gate(gate(2, Ok(inner(&witness)), &witness)));
        assert!(poll(&mut future).is_pending());
        assert!(poll(&mut future).is_pending());
        let Poll::Ready(response) = poll(&mut future) else {
            panic!("the gate has decided");
        };
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "inner");
        drop(future);
        assert_eq!(Arc::strong_count(&witness), 1, "everything held is dropped");
    }

    #[tokio::test]
    async fn a_gate_that_refuses_answers_with_the_layers_bytes() {
        let witness = Arc::new(());
        let decision = Err(answer(&witness, Some(b"refused")));
        let mut future = Box::pin(ResponseFuture::gate(gate(1, decision, &witness)));
        assert!(poll(&mut future).is_pending());
        let Poll::Ready(response) = poll(&mut future) else {
            panic!("the gate has decided");
        };
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(response).await, "refused");
        drop(future);
        assert_eq!(Arc::strong_count(&witness), 1, "everything held is dropped");
    }

    #[test]
    fn a_head_answer_declares_the_length_of_the_get_it_mirrors_and_sends_nothing() {
        let witness = Arc::new(());
        let mut reply = answer(&witness, None);
        reply
            .headers_mut()
            .insert(CONTENT_LENGTH, http::HeaderValue::from_static("42"));
        let mut future = Box::pin(ResponseFuture::<Inner>::ready(reply));
        let Poll::Ready(response) = poll(&mut future) else {
            panic!("a ready answer is ready at once");
        };
        assert!(response.body().is_end_stream());
        assert_eq!(response.body().size_hint().upper(), Some(42));
        assert_eq!(response.body().size_hint().lower(), 0);
    }

    #[test]
    fn a_future_dropped_in_any_state_drops_everything_it_holds() {
        let witness = Arc::new(());
        type Make = fn(&Arc<()>) -> ResponseFuture<Inner>;
        let kinds: [Make; 4] = [
            |witness| ResponseFuture::forward(inner(witness)),
            |witness| ResponseFuture::ready(answer(witness, Some(b"answer"))),
            |witness| ResponseFuture::gate(gate(1, Ok(inner(witness)), witness)),
            |witness| ResponseFuture::gate(gate(1, Err(answer(witness, None)), witness)),
        ];
        for (kind, make) in kinds.iter().enumerate() {
            // Dropped unpolled, pending, or after completing.
            for polls in 0..3 {
                let mut future = Box::pin(make(&witness));
                for _ in 0..polls {
                    if poll(&mut future).is_ready() {
                        break;
                    }
                }
                drop(future);
                assert_eq!(
                    Arc::strong_count(&witness),
                    1,
                    "kind {kind}, dropped after {polls} poll(s)"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "polled after completion")]
    fn an_answer_polled_after_completion_panics() {
        let mut future = Box::pin(ResponseFuture::<Inner>::ready(Response::new(None)));
        assert!(poll(&mut future).is_ready());
        let _ = poll(&mut future);
    }

    #[test]
    fn debug_names_the_state() {
        let witness = Arc::new(());
        let mut future = Box::pin(ResponseFuture::<Inner>::ready(answer(&witness, None)));
        assert_eq!(
            format!("{future:?}"),
            r#"ResponseFuture { state: "Answer" }"#
        );
        assert!(poll(&mut future).is_ready());
        assert_eq!(format!("{future:?}"), r#"ResponseFuture { state: "Done" }"#);
        let future = ResponseFuture::gate(gate(1, Ok(inner(&witness)), &witness));
        assert_eq!(
            format!("{future:?}"),
            r#"ResponseFuture { state: "Pending" }"#
        );
        let future = ResponseFuture::forward(inner(&witness));
        assert_eq!(
            format!("{future:?}"),
            r#"ResponseFuture { state: "Forward" }"#
        );
    }
}
