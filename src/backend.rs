//! Calling the application's backends (token verifier, session store): a
//! failure, a panic, or no answer before the deadline inside one becomes
//! "no answer", logged by component and error text only, never with a
//! token, a cookie or a session id.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::timer::Timer;

/// How long one request (or one call of the session manager) may wait for
/// backends, all its calls together, and the timer that measures it.
#[derive(Clone)]
pub(crate) struct BackendTimeout {
    pub(crate) duration: Duration,
    pub(crate) timer: Arc<dyn Timer>,
}

impl fmt::Debug for BackendTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendTimeout")
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The deadline of one request's backend calls: started by the first call
/// that does not answer at once, shared by the calls after it. Without a
/// timeout it never passes.
pub(crate) struct Deadline<'a> {
    timeout: Option<&'a BackendTimeout>,
    state: State,
}

enum State {
    NotStarted,
    Running(Sleep),
    Passed,
}

impl<'a> Deadline<'a> {
    pub(crate) fn new(timeout: Option<&'a BackendTimeout>) -> Self {
        Self {
            timeout,
            state: State::NotStarted,
        }
    }

    /// Whether the deadline has passed, registering `cx` to be woken when it
    /// does. Starts the timer on first use. A timer that panics counts as a
    /// deadline that passed.
    fn poll_passed(&mut self, cx: &mut Context<'_>) -> bool {
        if let State::NotStarted = self.state {
            let Some(timeout) = self.timeout else {
                return false;
            };
            match catch_unwind(AssertUnwindSafe(|| timeout.timer.sleep(timeout.duration))) {
                Ok(sleep) => self.state = State::Running(sleep),
                Err(_) => {
                    failure("backend timer", &TimerPanicked);
                    self.state = State::Passed;
                }
            }
        }
        let State::Running(sleep) = &mut self.state else {
            return matches!(self.state, State::Passed);
        };
        match catch_unwind(AssertUnwindSafe(|| sleep.as_mut().poll(cx))) {
            Ok(Poll::Pending) => false,
            Ok(Poll::Ready(())) => {
                self.state = State::Passed;
                true
            }
            Err(_) => {
                failure("backend timer", &TimerPanicked);
                self.state = State::Passed;
                true
            }
        }
    }
}

impl fmt::Debug for Deadline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::NotStarted => "not started",
            State::Running(_) => "running",
            State::Passed => "passed",
        };
        f.debug_struct("Deadline")
            .field("timeout", &self.timeout)
            .field("state", &state)
            .finish()
    }
}

/// Why a guarded backend call gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It panicked, making its future or while polled.
    Panicked,
    /// The deadline passed first; its future was dropped.
    TimedOut,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Panicked => "the backend panicked",
            Failure::TimedOut => "the backend did not answer before the deadline",
        })
    }
}

/// Makes a backend call with `make`, bounded by `deadline`; the returned
/// future gives `None` when the backend returned an error, panicked (making
/// the future or polling it) or did not answer before the deadline, each
/// logged. A named future, not an `async fn`, so that it adds nothing but
/// the backend's own future and a reference to the deadline to the state
/// that awaits it.
pub(crate) fn call<'d, 'a, T, E, F, Fut>(
    component: &'static str,
    deadline: &'d mut Deadline<'a>,
    make: F,
) -> Call<'d, 'a, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    Call {
        inner: guarded(deadline, make),
        component,
    }
}

pin_project! {
    /// The future of [`call`].
    pub(crate) struct Call<'d, 'a, F> {
        #[pin]
        inner: Guarded<'d, 'a, F>,
        component: &'static str,
    }
}

impl<T, E: fmt::Display, F: Future<Output = Result<T, E>>> Future for Call<'_, '_, F> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(value))) => Poll::Ready(Some(value)),
            Poll::Ready(Ok(Err(error))) => {
                failure(this.component, &error);
                Poll::Ready(None)
            }
            Poll::Ready(Err(why)) => {
                failure(this.component, &why);
                Poll::Ready(None)
            }
        }
    }
}

/// What a backend answered, as the resolution reached it.
#[derive(Debug)]
pub(crate) enum Reached<T> {
    /// It cannot answer this way: it must be awaited instead (only when
    /// asked for an answer at once).
    NotNow,
    /// It failed: an error, a panic or the deadline, logged already.
    Failed,
    /// Its answer.
    Got(T),
}

/// A backend's answer when it has one at once (`answer` returns `Some`),
/// else [`Reached::NotNow`]. Like [`call`], a failure or a panic is
/// [`Reached::Failed`], logged. No deadline applies: an answer at once does
/// not wait.
pub(crate) fn now<T, E: fmt::Display>(
    component: &'static str,
    answer: impl FnOnce() -> Option<Result<T, E>>,
) -> Reached<T> {
    match catch_unwind(AssertUnwindSafe(answer)) {
        Ok(None) => Reached::NotNow,
        Ok(Some(Ok(value))) => Reached::Got(value),
        Ok(Some(Err(error))) => {
            failure(component, &error);
            Reached::Failed
        }
        Err(_) => {
            failure(component, &Failure::Panicked);
            Reached::Failed
        }
    }
}

/// Makes a future with `make` and polls it until it completes, turning a
/// panic (in `make`, before any future exists, or while the future is
/// polled) into `Err(Panicked)` and a deadline that passes first into
/// `Err(TimedOut)`. The backend is polled before the deadline, so an answer
/// that is ready is never lost to a deadline that passed meanwhile.
pub(crate) fn guarded<'d, 'a, F, Fut>(
    deadline: &'d mut Deadline<'a>,
    make: F,
) -> Guarded<'d, 'a, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    Guarded {
        future: catch_unwind(AssertUnwindSafe(make)).ok(),
        deadline,
    }
}

pin_project! {
    /// The future of [`guarded`]. The backend's future is not polled again
    /// after it panicked or timed out: it is dropped at once, so no state it
    /// may have left half-updated is observed.
    pub(crate) struct Guarded<'d, 'a, F> {
        // `None`: making the future panicked, or it was dropped.
        #[pin]
        future: Option<F>,
        deadline: &'d mut Deadline<'a>,
    }
}

impl<F: Future> Future for Guarded<'_, '_, F> {
    type Output = Result<F::Output, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Failure::Panicked));
        };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => {
                if this.deadline.poll_passed(cx) {
                    this.future.set(None);
                    Poll::Ready(Err(Failure::TimedOut))
                } else {
                    Poll::Pending
                }
            }
            Err(_) => {
                this.future.set(None);
                Poll::Ready(Err(Failure::Panicked))
            }
        }
    }
}

/// The timer panicked.
#[derive(Debug)]
struct TimerPanicked;

impl fmt::Display for TimerPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the timer panicked (a tokio timer outside a tokio runtime?); taking the deadline as passed",
        )
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
    use std::sync::Mutex;
    use std::task::Waker;
    use std::time::Instant;

    use futures::executor::block_on;

    use super::*;

    /// A timer without a runtime: a thread per sleep.
    struct ThreadTimer;

    impl Timer for ThreadTimer {
        fn sleep(&self, duration: Duration) -> Sleep {
            let shared = Arc::new(Mutex::new((false, None::<Waker>)));
            let done = Arc::clone(&shared);
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let mut done = done.lock().unwrap();
                done.0 = true;
                if let Some(waker) = done.1.take() {
                    waker.wake();
                }
            });
            Box::pin(std::future::poll_fn(move |cx| {
                let mut shared = shared.lock().unwrap();
                if shared.0 {
                    Poll::Ready(())
                } else {
                    shared.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }))
        }
    }

    struct PanickingTimer;

    impl Timer for PanickingTimer {
        fn sleep(&self, _: Duration) -> Sleep {
            panic!("no runtime");
        }
    }

    fn timeout(duration: Duration, timer: impl Timer) -> BackendTimeout {
        BackendTimeout {
            duration,
            timer: Arc::new(timer),
        }
    }

    #[test]
    fn answers_at_once_errors_and_panics() {
        assert!(matches!(
            now("t", || Some(Ok::<_, String>(7))),
            Reached::Got(7)
        ));
        assert!(matches!(
            now("t", || None::<Result<u8, String>>),
            Reached::NotNow
        ));
        assert!(matches!(
            now("t", || Some(Err::<u8, _>("down"))),
            Reached::Failed
        ));
        #[allow(unreachable_code)]
        let panicking = || -> Option<Result<u8, String>> { panic!("inside a backend") };
        assert!(matches!(now("t", panicking), Reached::Failed));
    }

    #[test]
    fn values_errors_and_panics() {
        let mut none = Deadline::new(None);
        assert_eq!(
            block_on(call("t", &mut none, || async { Ok::<_, String>(7) })),
            Some(7)
        );
        assert_eq!(
            block_on(call("t", &mut none, || async { Err::<u8, _>("down") })),
            None
        );
        let panicking = || async {
            if true {
                panic!("inside a backend");
            }
            Ok::<u8, String>(1)
        };
        assert_eq!(block_on(call("t", &mut none, panicking)), None);
        #[allow(unreachable_code)]
        let panicking_early = || -> std::future::Ready<Result<u8, String>> {
            panic!("before any future");
        };
        assert_eq!(block_on(call("t", &mut none, panicking_early)), None);
    }

    #[test]
    fn one_deadline_bounds_every_call_of_a_request_without_a_runtime() {
        let limit = timeout(Duration::from_millis(100), ThreadTimer);
        let mut deadline = Deadline::new(Some(&limit));
        let started = Instant::now();
        let never = || std::future::pending::<Result<u8, String>>();
        assert_eq!(
            block_on(guarded(&mut deadline, never)).unwrap_err(),
            Failure::TimedOut
        );
        let first = started.elapsed();
        assert!(first >= Duration::from_millis(100), "{first:?}");
        // The next call of the same request gets no new time...
        assert_eq!(
            block_on(guarded(&mut deadline, never)).unwrap_err(),
            Failure::TimedOut
        );
        assert!(started.elapsed() < first + Duration::from_millis(50));
        // ...but an answer that is ready at once still counts.
        assert_eq!(
            block_on(call("t", &mut deadline, || async { Ok::<_, String>(3) })),
            Some(3)
        );
    }

    #[test]
    fn a_panicking_timer_fails_closed_and_an_answer_at_once_needs_no_timer() {
        let limit = timeout(Duration::from_secs(60), PanickingTimer);
        let mut deadline = Deadline::new(Some(&limit));
        assert_eq!(
            block_on(call("t", &mut deadline, || async { Ok::<_, String>(1) })),
            Some(1),
            "the timer is started only for a call that waits"
        );
        let never = || std::future::pending::<Result<u8, String>>();
        assert_eq!(block_on(call("t", &mut deadline, never)), None);
    }
}
