//! [`Timer`]: how the layer waits, without depending on a runtime, and
//! [`TokioTimer`] (feature `tokio`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Sleeps for the layer, so that it can bound the time spent waiting for a
/// token verifier or a session store
/// ([`WellKnownBuilder::backend_timeout`](crate::WellKnownBuilder::backend_timeout))
/// without depending on an async runtime.
///
/// The layer calls [`sleep`](Timer::sleep) only when a backend call did not
/// answer at once, from within the request's task, and polls the returned
/// future until it completes or the call answers; it never polls it again
/// after it completed. With tokio, use [`TokioTimer`] (feature `tokio`);
/// any other runtime's sleep fits the same way:
///
/// ```
/// use std::{future::Future, pin::Pin, time::Duration};
/// use rstream_well_known::Timer;
///
/// /// A timer on a runtime of your own.
/// struct MyTimer;
///
/// impl Timer for MyTimer {
///     fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
///         # async fn my_runtime_sleep(_: Duration) {}
///         Box::pin(my_runtime_sleep(duration))
///     }
/// }
/// ```
///
/// A timer that panics is taken as a deadline that passed (the backend call
/// fails, closed), and logged.
pub trait Timer: Send + Sync + 'static {
    /// A future that completes once `duration` has passed.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// The [`Timer`] of the tokio runtime: `tokio::time::sleep` (feature
/// `tokio`).
///
/// Like every tokio timer, it must run inside a tokio runtime with the time
/// driver enabled (what `#[tokio::main]` builds); elsewhere it panics, which
/// the layer takes as a deadline that passed.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTimer;

#[cfg(feature = "tokio")]
impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}
