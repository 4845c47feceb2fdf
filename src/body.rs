//! The response body shared by the layer's own answers and the inner
//! service's responses.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of every response that leaves a
    /// [`WellKnownService`](crate::WellKnownService): either the layer's own
    /// bytes (a well-known endpoint's answer) or the inner service's body,
    /// passed through frame by frame.
    ///
    /// Its data is [`Bytes`] and its error is the inner body's error: the
    /// layer's own bytes cannot fail. `is_end_stream` and `size_hint` are
    /// forwarded, so servers can still send `Content-Length`.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // The layer's own bytes; empty once sent (or when there are none).
        Own { data: Bytes },
        // A `HEAD` answer's empty body, whose `Content-Length` declares
        // `declared` bytes: the body of the `GET` it stands for.
        Head { declared: u64 },
        Inner { #[pin] body: B },
    }
}

/// The body of one of the layer's own answers, before the inner body type
/// is known.
pub(crate) enum OwnBody {
    /// The answer's bytes.
    Data(Bytes),
    /// A `HEAD` answer's empty body, whose `Content-Length` declares this
    /// many bytes.
    Head(u64),
}

impl<B> ResponseBody<B> {
    /// The body of one of the layer's own answers.
    #[inline]
    pub(crate) fn from_own(own: OwnBody) -> Self {
        match own {
            OwnBody::Data(data) => Self {
                kind: Kind::Own { data },
            },
            OwnBody::Head(declared) => Self {
                kind: Kind::Head { declared },
            },
        }
    }

    #[inline]
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }
}

/// An empty body. Middleware that answers on its own with a default body
/// (tower-http's `TimeoutLayer`, for one) needs this.
impl<B> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::from_own(OwnBody::Data(Bytes::new()))
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Own { data } => f
                .debug_struct("ResponseBody::Own")
                .field("len", &data.len())
                .finish(),
            Kind::Head { .. } => f
                .debug_struct("ResponseBody::Own")
                .field("len", &0)
                .finish(),
            Kind::Inner { .. } => f.write_str("ResponseBody::Inner"),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Own { data } if !data.is_empty() => {
                Poll::Ready(Some(Ok(Frame::data(std::mem::take(data)))))
            }
            KindProj::Own { .. } | KindProj::Head { .. } => Poll::Ready(None),
            KindProj::Inner { body } => body.poll_frame(cx),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Own { data } => data.is_empty(),
            Kind::Head { .. } => true,
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Own { data } => SizeHint::with_exact(data.len() as u64),
            // A `HEAD` answer: nothing follows, but say no more than "at most
            // the declared length", so that middleware sizing the answer
            // (tower-http's compression predicate falls back to
            // `Content-Length` when the size hint is not exact) decides for
            // `HEAD` exactly as it does for the `GET` it mirrors.
            Kind::Head { declared } => {
                let mut hint = SizeHint::new();
                hint.set_upper(*declared);
                hint
            }
            Kind::Inner { body } => body.size_hint(),
        }
    }
}
