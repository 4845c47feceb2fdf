//! [`Refresher`]: one fetched value (a discovery document, a key set) shared
//! by every caller: at most one fetch in flight, whose result concurrent
//! callers wait for and share; the last good value cached; after any fetch,
//! a cooldown before the next one that is not forced. On std primitives and
//! wakers only, so that it runs on any executor.
//!
//! Its users: the sign-in's discovery and key set (`oidc`), and
//! `JwksSource` (`jwks`), whose background task also asks it when the next
//! periodic fetch is due ([`Refresher::due_in`]). Both key sets are fetched
//! by [`fetch_jwk_set`] and refetched for an unknown key id by
//! [`Refresher::fitting`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::http_client::{GetError, HttpClient, get};
use crate::jwt::{JwkSet, KeyError};

/// The largest key set document read by default, in bytes: 512 KiB (a set
/// is a few KiB).
pub(crate) const KEY_SET_MAX_SIZE: usize = 512 * 1024;

/// Why [`fetch_jwk_set`] got no key set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeySetError {
    /// No `200` answer.
    Get(GetError),
    /// The document is larger than the limit, in bytes.
    TooLarge(usize),
    /// The document is not a usable JWK set.
    Invalid(KeyError),
}

impl std::fmt::Display for KeySetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySetError::Get(error) => error.fmt(f),
            KeySetError::TooLarge(max) => write!(f, "the document is larger than {max} bytes"),
            KeySetError::Invalid(error) => write!(f, "not a usable JWK set: {error}"),
        }
    }
}

/// The one fetch of a key set: `GET url` through `client`, a `200` answer
/// of at most `max_size` bytes holding a JWK set document, read with
/// [`JwkSet::from_public_json`] (so published symmetric keys are never
/// trusted).
pub(crate) async fn fetch_jwk_set(
    client: &dyn HttpClient,
    url: &str,
    max_size: usize,
) -> Result<JwkSet, KeySetError> {
    let body = get(client, url, "application/jwk-set+json, application/json")
        .await
        .map_err(KeySetError::Get)?;
    if body.len() > max_size {
        return Err(KeySetError::TooLarge(max_size));
    }
    JwkSet::from_public_json(&body).map_err(KeySetError::Invalid)
}

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

    /// The value in use when `fits` takes it. Else (no value yet, or one
    /// that lacks what the caller needs: a key for the `kid` a token names)
    /// a fetch with `fetch`, held back by the cooldown and shared with the
    /// fetch in flight ([`Want::AfterCooldown`]): so made-up key ids cost
    /// the server at most one fetch per cooldown, answered or not. The rule
    /// of every cached document the crate fetches on demand: `JwksSource`'s
    /// key set, the sign-in's discovery document and key set.
    pub(crate) async fn fitting<F, Fut>(
        &self,
        fits: impl FnOnce(&T) -> bool,
        fetch: F,
    ) -> Outcome<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Read before the value: a fetch that ends in between is not made
        // again.
        let seen = self.generation();
        if let Some(value) = self.current().filter(|value| fits(value)) {
            return Outcome {
                value: Some(value),
                error: None,
            };
        }
        self.refresh(seen, Want::AfterCooldown, fetch).await
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
    use futures::executor::block_on;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_share_one_fetch_and_failures_cool_down() {
        let refresher = Refresher::<u32, &'static str>::new(Duration::from_millis(100));
        let fetches = AtomicUsize::new(0);
        let fetch = || counted::<u32>(&fetches, Err("down"));
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

    /// A fetch that counts itself and yields once (so that concurrent
    /// callers find it in flight) before answering `answer`.
    async fn counted<T>(
        fetches: &AtomicUsize,
        answer: Result<T, &'static str>,
    ) -> Result<T, &'static str> {
        fetches.fetch_add(1, Ordering::SeqCst);
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
        answer
    }

    #[test]
    fn a_value_that_lacks_a_key_id_is_refetched_at_most_once_per_cooldown() {
        // The rule both key sets follow (`JwksSource`, the sign-in's): a set
        // with the token's key id is used as it is; one without makes one
        // fetch, shared, and then none until the cooldown has passed.
        let refresher = Refresher::<Vec<&str>, &'static str>::new(Duration::from_millis(100));
        let fetches = AtomicUsize::new(0);
        let has = |kid: &'static str| move |set: &Vec<&str>| set.contains(&kid);
        let got =
            |outcome: Outcome<Vec<&'static str>, &'static str>| outcome.value.map(|v| v.to_vec());
        block_on(refresher.refresh(0, Want::Now, || async { Ok(vec!["k1"]) }));
        let outcome = block_on(refresher.fitting(has("k1"), || counted(&fetches, Ok(vec![]))));
        assert_eq!(
            (got(outcome), fetches.load(Ordering::SeqCst)),
            (Some(vec!["k1"]), 0)
        );
        // 20 unknown key ids at once, right after a fetch: the cooldown holds.
        let unknown =
            (0..20).map(|_| refresher.fitting(has("k2"), || counted(&fetches, Ok(vec!["k2"]))));
        block_on(futures::future::join_all(unknown));
        assert_eq!(fetches.load(Ordering::SeqCst), 0, "within the cooldown");
        std::thread::sleep(Duration::from_millis(120));
        let unknown = (0..20)
            .map(|_| refresher.fitting(has("k2"), || counted(&fetches, Ok(vec!["k1", "k2"]))));
        let outcomes = block_on(futures::future::join_all(unknown));
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch, shared");
        assert!(
            outcomes
                .into_iter()
                .all(|o| got(o) == Some(vec!["k1", "k2"]))
        );
        // A key id the new set lacks too: no fetch within the cooldown, and
        // the set in use is the answer.
        let outcome = block_on(refresher.fitting(has("k3"), || counted(&fetches, Ok(vec![]))));
        assert_eq!(
            (got(outcome), fetches.load(Ordering::SeqCst)),
            (Some(vec!["k1", "k2"]), 1)
        );
    }

    #[test]
    fn without_a_value_a_failed_fetch_is_the_answer_until_the_cooldown_ends() {
        // Discovery's rule: concurrent first uses share one fetch; its
        // failure is every caller's answer, and the next caller's within the
        // cooldown.
        let refresher = Refresher::<u32, &'static str>::new(Duration::from_millis(100));
        let fetches = AtomicUsize::new(0);
        let first = (0..20).map(|_| refresher.fitting(|_| true, || counted(&fetches, Err("down"))));
        let outcomes = block_on(futures::future::join_all(first));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(
            outcomes
                .iter()
                .all(|o| o.value.is_none() && o.error == Some("down"))
        );
        let outcome = block_on(refresher.fitting(|_| true, || counted(&fetches, Ok(1))));
        assert_eq!(
            (outcome.error, fetches.load(Ordering::SeqCst)),
            (Some("down"), 1)
        );
        std::thread::sleep(Duration::from_millis(120));
        let outcome = block_on(refresher.fitting(|_| true, || counted(&fetches, Ok(1))));
        assert_eq!(outcome.value.as_deref(), Some(&1));
        // Once had, the value is the answer: no fetch.
        let outcome = block_on(refresher.fitting(|_| true, || counted(&fetches, Ok(2))));
        assert_eq!(
            (outcome.value.as_deref(), fetches.load(Ordering::SeqCst)),
            (Some(&1), 2)
        );
    }

    /// A client that answers every request with `status` and `body`, and
    /// keeps the requests' `Accept` fields.
    struct Canned {
        status: u16,
        body: Vec<u8>,
        accepts: std::sync::Mutex<Vec<String>>,
    }

    impl HttpClient for Canned {
        fn send(&self, request: http::Request<Vec<u8>>) -> crate::http_client::HttpFuture<'_> {
            let accept = request.headers()[http::header::ACCEPT]
                .to_str()
                .unwrap()
                .to_owned();
            self.accepts.lock().unwrap().push(accept);
            let response = http::Response::builder()
                .status(self.status)
                .body(self.body.clone());
            Box::pin(async move { Ok(response.unwrap()) })
        }
    }

    #[test]
    fn a_key_set_is_a_200_answer_within_the_size_limit_holding_public_keys() {
        let canned = |status: u16, body: &str| Canned {
            status,
            body: body.as_bytes().to_vec(),
            accepts: std::sync::Mutex::default(),
        };
        let fetch =
            |client: &Canned, max| block_on(fetch_jwk_set(client, "https://idp.example/jwks", max));
        let ed = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let client = canned(200, ed);
        let set = fetch(&client, KEY_SET_MAX_SIZE).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(
            client.accepts.lock().unwrap()[0],
            "application/jwk-set+json, application/json"
        );
        let error = fetch(&client, ed.len() - 1).unwrap_err();
        assert_eq!(error, KeySetError::TooLarge(ed.len() - 1));
        assert_eq!(
            error.to_string(),
            format!("the document is larger than {} bytes", ed.len() - 1)
        );
        let error = fetch(&canned(404, ed), KEY_SET_MAX_SIZE).unwrap_err();
        assert_eq!(
            error.to_string(),
            "answered 404 Not Found instead of 200 OK"
        );
        let error = fetch(&canned(200, "<html>"), KEY_SET_MAX_SIZE).unwrap_err();
        assert!(matches!(error, KeySetError::Invalid(_)), "{error:?}");
        assert!(
            error.to_string().starts_with("not a usable JWK set: "),
            "{error}"
        );
        // A published symmetric key is never trusted.
        let hs = r#"{"keys":[{"kty":"oct","kid":"s","alg":"HS256","k":"c2VjcmV0"}]}"#;
        let set = fetch(&canned(200, hs), KEY_SET_MAX_SIZE).unwrap();
        assert!(set.is_empty());
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
