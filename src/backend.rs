//! Calling the application's backends (token verifier, session store): a
//! failure or a panic inside one becomes "no answer", logged by component
//! and error text only, never with a token, a cookie or a session id.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Awaits a backend call. `None` when the backend returned an error or
/// panicked; both are logged.
pub(crate) async fn call<T, E, F>(component: &'static str, future: F) -> Option<T>
where
    F: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    match catch_panic(future).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            failure(component, &error);
            None
        }
        Err(Panicked) => {
            failure(component, &Panicked);
            None
        }
    }
}

/// Awaits `future`, turning a panic while it is polled into `Err(Panicked)`.
pub(crate) fn catch_panic<F: Future>(future: F) -> CatchPanic<F> {
    CatchPanic { future }
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
    pub(crate) struct CatchPanic<F> {
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
fn failure(component: &'static str, error: &dyn fmt::Display) {
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
        assert_eq!(block_on(call("t", async { Ok::<_, String>(7) })), Some(7));
        assert_eq!(block_on(call("t", async { Err::<u8, _>("down") })), None);
        let panicking = async {
            if true {
                panic!("inside a backend");
            }
            Ok::<u8, String>(1)
        };
        assert_eq!(block_on(call("t", panicking)), None);
    }
}
