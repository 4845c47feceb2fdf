//! [`Refresher`]: one fetched value (a discovery document, a key set) shared
//! by every caller: at most one fetch in flight, whose result concurrent
//! callers wait for and share; the last good value cached; after any fetch,
//! a cooldown before the next one that is not forced. On std primitives and
//! wakers only, so that it runs on any executor.
//!
//! Its users: the sign-in's discovery and key set (`oidc`), and
//! `JwksSource` (`jwks`), whose background task also asks it when the next
//! periodic fetch is due ([`Refresher::due_in`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A fetched value and how it is refreshed; see the module docs.
pub(crate) struct Refresher<T, E> {
    cooldown: Duration,
    state: Mutex<State<T, E>>,
}

struct State<T, E> {
    value: Option<Arc<T>>,
    /// Counts the fetches that succeeded.
    generation: u64,
    /// Counts the fetches that ended (succeeded or failed).
    finished: u64,
    /// When the last fetch ended.
    last_end: Option<Instant>,
    /// The last fetch's error, when it failed.
    last_error: Option<E>,
    in_flight: bool,
    waiters: Vec<Waker>,
}

/// When [`Refresher::refresh`] fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Unless the last fetch ended less than the cooldown ago.
    AfterCooldown,
    /// Whatever the cooldown.
    Now,
}

/// What a [`Refresher::refresh`] call found: the value in use, and the error
/// of the fetch it made or waited for, or of the last fetch when the
/// cooldown kept it from fetching.
pub(crate) struct Outcome<T, E> {
    pub(crate) value: Option<Arc<T>>,
    pub(crate) error: Option<E>,
}

impl<T, E: Clone> Refresher<T, E> {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self {
            cooldown,
            state: Mutex::new(State {
                value: None,
                generation: 0,
                finished: 0,
                last_end: None,
                last_error: None,
                in_flight: false,
                waiters: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        // A poisoned lock still holds a whole state: every field is written
        // in one step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value in use, `None` until a fetch succeeded.
    pub(crate) fn current(&self) -> Option<Arc<T>> {
        self.lock().value.clone()
    }

    /// Counts the fetches that succeeded: read it before looking at the
    /// value, and pass it to [`refresh`](Self::refresh).
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// How long until the next fetch of a caller that keeps the value
    /// fresh: `every` after the last fetch if it succeeded, the cooldown if
    /// it failed, counted from its end whoever made it; nothing before the
    /// first fetch.
    // Only `JwksSource` refreshes periodically.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn due_in(&self, every: Duration) -> Duration {
        let state = self.lock();
        let pause = if state.last_error.is_some() {
            self.cooldown
        } else {
            every
        };
        state
            .last_end
            .map_or(Duration::ZERO, |end| pause.saturating_sub(end.elapsed()))
    }

    /// Fetches with `fetch`, unless a fetch succeeded since the caller read
    /// `seen` ([`generation`](Self::generation)), or (with
    /// [`Want::AfterCooldown`]) the last fetch ended less than the cooldown
    /// ago. A fetch already in flight is waited for and its result shared.
    /// A fetch whose caller goes away before it ends counts for nothing: a
    /// waiting caller fetches instead.
    pub(crate) async fn refresh<F, Fut>(&self, seen: u64, want: Want, fetch: F) -> Outcome<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let finished_at_entry = self.lock().finished;
        let mut flight = loop {
            {
                let state = self.lock();
                if state.generation != seen {
                    return Outcome {
                        value: state.value.clone(),
                        error: None,
                    };
                }
                if !state.in_flight {
                    let waited_for_one = state.finished != finished_at_entry;
                    let cooling = want == Want::AfterCooldown
                        && state
                            .last_end
                            .is_some_and(|end| end.elapsed() < self.cooldown);
                    if waited_for_one || cooling {
                        return Outcome {
                            value: state.value.clone(),
                            error: state.last_error.clone(),
                        };
                    }
                }
            }
            if let Some(flight) = self.take_off() {
                break flight;
            }
            Wait { refresher: self }.await;
        };
        let result = fetch().await;
        flight.land(result)
    }

    /// Marks a fetch in flight, unless one is.
    fn take_off(&self) -> Option<Flight<'_, T, E>> {
        let mut state = self.lock();
        if state.in_flight {
            return None;
        }
        state.in_flight = true;
        Some(Flight {
            refresher: self,
            landed: false,
        })
    }
}

/// The fetch in flight: ends it, with a result or abandoned, and wakes the
/// waiters.
struct Flight<'a, T, E: Clone> {
    refresher: &'a Refresher<T, E>,
    landed: bool,
}

impl<T, E: Clone> Flight<'_, T, E> {
    fn land(&mut self, result: Result<T, E>) -> Outcome<T, E> {
        let mut state = self.refresher.lock();
        state.finished += 1;
        state.last_end = Some(Instant::now());
        let error = match result {
            Ok(value) => {
                state.value = Some(Arc::new(value));
                state.generation += 1;
                state.last_error = None;
                None
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                Some(error)
            }
        };
        self.landed = true;
        state.in_flight = false;
        let value = state.value.clone();
        for waiter in state.waiters.drain(..) {
            waiter.wake();
        }
        Outcome { value, error }
    }
}

impl<T, E: Clone> Drop for Flight<'_, T, E> {
    fn drop(&mut self) {
        if !self.landed {
            let mut state = self.refresher.lock();
            state.in_flight = false;
            for waiter in state.waiters.drain(..) {
                waiter.wake();
            }
        }
    }
}

/// Ready once no fetch is in flight.
struct Wait<'a, T, E> {
    refresher: &'a Refresher<T, E>,
}

impl<T, E: Clone> Future for Wait<'_, T, E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.refresher.lock();
        if !state.in_flight {
            return Poll::Ready(());
        }
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_share_one_fetch_and_failures_cool_down() {
        let refresher = Refresher::<u32, &'static str>::new(Duration::from_millis(100));
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            // Yield once, so that the others find it in flight.
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
            Err("down")
        };
        let calls = (0..50).map(|_| refresher.refresh(0, Want::AfterCooldown, fetch));
        let outcomes = futures::executor::block_on(futures::future::join_all(calls));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(
            outcomes
                .iter()
                .all(|o| o.error == Some("down") && o.value.is_none())
        );
        // Within the cooldown: the failure, no fetch.
        let outcome = futures::executor::block_on(refresher.refresh(0, Want::AfterCooldown, fetch));
        assert_eq!(
            (outcome.error, fetches.load(Ordering::SeqCst)),
            (Some("down"), 1)
        );
        std::thread::sleep(Duration::from_millis(120));
        let ok = || async { Ok(7) };
        let outcome = futures::executor::block_on(refresher.refresh(0, Want::AfterCooldown, ok));
        assert_eq!(outcome.value.as_deref(), Some(&7));
        assert_eq!(refresher.generation(), 1);
    }

    #[test]
    fn a_periodic_fetch_is_due_every_interval_and_a_cooldown_after_a_failure() {
        let refresher = Refresher::<u32, ()>::new(Duration::from_secs(30));
        let every = Duration::from_secs(600);
        assert_eq!(refresher.due_in(every), Duration::ZERO, "never fetched");
        futures::executor::block_on(refresher.refresh(0, Want::Now, || async { Ok(1) }));
        let due = refresher.due_in(every);
        assert!(due > Duration::from_secs(300) && due <= every, "{due:?}");
        futures::executor::block_on(refresher.refresh(1, Want::Now, || async { Err(()) }));
        let due = refresher.due_in(every);
        assert!(
            due > Duration::from_secs(15) && due <= Duration::from_secs(30),
            "{due:?}"
        );
        // The set fetched before the failure is still the one in use.
        assert_eq!(refresher.current().as_deref(), Some(&1));
    }

    #[test]
    fn an_abandoned_fetch_lets_a_waiter_fetch() {
        let refresher = Refresher::<u32, ()>::new(Duration::from_secs(60));
        let mut first = Box::pin(refresher.refresh(0, Want::Now, std::future::pending));
        let waker = futures::task::noop_waker();
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let mut second = Box::pin(refresher.refresh(0, Want::Now, || async { Ok(1) }));
        assert!(
            second
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(first);
        let outcome = futures::executor::block_on(second);
        assert_eq!(outcome.value.as_deref(), Some(&1));
    }
}
