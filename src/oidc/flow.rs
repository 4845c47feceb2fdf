//! Pending sign-ins: what the start endpoint remembers for the callback.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::{Nonce, PkceCodeVerifier};
use subtle::ConstantTimeEq as _;

/// One sign-in between its start and its callback.
pub(crate) struct Pending {
    /// The browser binding: the value of the binding cookie that browser
    /// holds.
    pub(crate) binding: String,
    pub(crate) nonce: Nonce,
    pub(crate) verifier: PkceCodeVerifier,
    /// Where the browser goes once signed in: a safe path.
    pub(crate) return_to: String,
    /// The origin of the tunnel the sign-in started on.
    pub(crate) origin: String,
    pub(crate) started: Instant,
}

/// Why a pending sign-in could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeError {
    /// No pending sign-in has this state: never issued, already used, or
    /// dropped (expired and swept, or evicted).
    Unknown,
    /// It expired.
    Expired,
}

/// The pending sign-ins of this process, by state.
pub(crate) struct Flows {
    pending: Mutex<HashMap<String, Pending>>,
    ttl: Duration,
    per_browser: usize,
    total: usize,
}

impl Flows {
    pub(crate) fn new(ttl: Duration, per_browser: usize, total: usize) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            ttl,
            per_browser,
            total,
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Remembers `flow` under `state`. Expired flows are swept first; a
    /// browser with as many pending flows as allowed loses its oldest one.
    /// `false` when the process holds as many as allowed in total.
    pub(crate) fn insert(&self, state: String, flow: Pending) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        pending.retain(|_, f| now.duration_since(f.started) < self.ttl);
        let mine: Vec<(&String, Instant)> = pending
            .iter()
            .filter(|(_, f)| bool::from(f.binding.as_bytes().ct_eq(flow.binding.as_bytes())))
            .map(|(state, f)| (state, f.started))
            .collect();
        if mine.len() >= self.per_browser {
            let oldest = mine
                .iter()
                .min_by_key(|(_, started)| *started)
                .map(|(state, _)| (*state).clone());
            if let Some(oldest) = oldest {
                pending.remove(&oldest);
            }
        } else if pending.len() >= self.total {
            return false;
        }
        pending.insert(state, flow);
        true
    }

    /// Takes the flow of `state` out: a state is used once, whatever
    /// happens next.
    pub(crate) fn take(&self, state: &str) -> Result<Pending, TakeError> {
        let flow = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(state)
            .ok_or(TakeError::Unknown)?;
        if flow.started.elapsed() >= self.ttl {
            return Err(TakeError::Expired);
        }
        Ok(flow)
    }

    /// How many flows are pending (expired ones not yet swept included).
    pub(crate) fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(binding: &str) -> Pending {
        Pending {
            binding: binding.to_owned(),
            nonce: Nonce::new("n".to_owned()),
            verifier: PkceCodeVerifier::new("v".repeat(43)),
            return_to: "/".to_owned(),
            origin: "https://app.example.com".to_owned(),
            started: Instant::now(),
        }
    }

    #[test]
    fn a_state_is_taken_once() {
        let flows = Flows::new(Duration::from_secs(60), 4, 100);
        assert!(flows.insert("s1".into(), flow("b")));
        assert!(flows.take("s1").is_ok());
        assert_eq!(flows.take("s1").err(), Some(TakeError::Unknown));
    }

    #[test]
    fn a_browser_keeps_its_newest_flows_and_the_total_is_capped() {
        let flows = Flows::new(Duration::from_secs(60), 2, 3);
        assert!(flows.insert("a1".into(), flow("a")));
        std::thread::sleep(Duration::from_millis(2));
        assert!(flows.insert("a2".into(), flow("a")));
        std::thread::sleep(Duration::from_millis(2));
        assert!(flows.insert("a3".into(), flow("a")));
        assert_eq!(flows.take("a1").err(), Some(TakeError::Unknown));
        assert_eq!(flows.len(), 2);
        assert!(flows.insert("b1".into(), flow("b")));
        assert!(
            !flows.insert("c1".into(), flow("c")),
            "the total cap refuses"
        );
        assert!(flows.take("a2").is_ok() && flows.take("a3").is_ok());
    }

    #[test]
    fn flows_expire() {
        let flows = Flows::new(Duration::from_millis(5), 4, 100);
        assert!(flows.insert("s".into(), flow("b")));
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(flows.take("s").err(), Some(TakeError::Expired));
    }
}
