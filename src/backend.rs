//! Calling the application's backends (token verifier, session store): a
//! failure or a panic inside one becomes "no answer", logged by component
//! and error text only, never with a token, a cookie or a session id.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Makes a backend call with `make`; the returned future gives `None` when
/// the backend returned an error or panicked (making the future or polling
/// it), both logged. A named future, not an `async fn`, so that it adds
/// nothing but the backend's own future to the state that awaits it.
pub(crate) fn call<T, E, F, Fut>(component: &'static str, make: F) -> Call<Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let future = catch_unwind(AssertUnwindSafe(make)).ok();
    Call { component, future }
}

pin_project! {
    /// The future of [`call`].
    pub(crate) struct Call<F> {
        component: &'static str,
        // `None`: making the future panicked.
        #[pin]
        future: Option<F>,
    }
}

impl<T, E: fmt::Display, F: Future<Output = Result<T, E>>> Future for Call<F> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            failure(this.component, &Panicked);
            return Poll::Ready(None);
        };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => Poll::Ready(Some(value)),
            Ok(Poll::Ready(Err(error))) => {
                failure(this.component, &error);
                Poll::Ready(None)
            }
            Err(_) => {
                // Never polled again: dropped now, whatever state it is in.
                this.future.set(None);
                failure(this.component, &Panicked);
                Poll::Ready(None)
            }
        }
    }
}

/// Makes a future with `make` and awaits it, turning a panic (in `make`,
/// before any future exists, or while the future is polled) into
/// `Err(Panicked)`.
pub(crate) async fn catch_panic<F, Fut>(make: F) -> Result<Fut::Output, Panicked>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let future = catch_unwind(AssertUnwindSafe(make)).map_err(|_| Panicked)?;
    CatchPanic { future }.await
}

/// A backend panicked while it was polled.
#[derive(Debug)]
pub(crate) struct Panicked;

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the backend panicked")
    }
}

pin_project! {
    /// Polls `future`, turning a panic into `Err(Panicked)`. The future is not
    /// polled again after it panicked: it is dropped with this wrapper, so no
    /// state it may have left half-updated is observed.
    struct CatchPanic<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}

/// Reports that a verifier or store could not answer.
pub(crate) fn failure(component: &'static str, error: &dyn fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(component, error = %error, "rstream-well-known: backend failed; treating the request as not authenticated by it");
    #[cfg(not(feature = "tracing"))]
    let _ = (component, error);
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn values_errors_and_panics() {
        assert_eq!(
            block_on(call("t", || async { Ok::<_, String>(7) })),
            Some(7)
        );
        assert_eq!(block_on(call("t", || async { Err::<u8, _>("down") })), None);
        let panicking = || async {
            if true {
                panic!("inside a backend");
            }
            Ok::<u8, String>(1)
        };
        assert_eq!(block_on(call("t", panicking)), None);
        #[allow(unreachable_code)]
        let panicking_early = || -> std::future::Ready<Result<u8, String>> {
            panic!("before any future");
        };
        assert_eq!(block_on(call("t", panicking_early)), None);
    }
}
