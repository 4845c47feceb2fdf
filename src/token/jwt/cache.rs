//! The verified-token cache: a token whose signature was verified once is not
//! verified again while it is cached (ECDSA on P-521 costs about a
//! millisecond; a map look-up, a microsecond).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Claims, JwkSet};

/// Tokens whose signature verified, with their claims, by token text.
///
/// Only tokens with a valid signature get in, so nobody without a signing
/// key can fill it. An entry counts only while the key set it was verified
/// with is still the verifier's (a JWKS refresh that changes the set empties
/// it in effect), and it is dropped once its `exp` has passed. Everything
/// after the signature (times, issuer, audience, scope, user id) is checked
/// on every request, cached or not.
pub(super) struct Cache {
    capacity: usize,
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

struct Entry {
    claims: Arc<Claims>,
    /// The key set the signature was verified with.
    keys: Arc<JwkSet>,
    /// `exp`, in seconds since the epoch: past it (plus the leeway) the token
    /// is refused anyway.
    expires: f64,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The claims of `token` when it was verified with `keys`.
    pub(super) fn get(&self, token: &str, keys: &Arc<JwkSet>) -> Option<Arc<Claims>> {
        if self.capacity == 0 {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(token)?;
        Arc::ptr_eq(&entry.keys, keys).then(|| Arc::clone(&entry.claims))
    }

    /// Remembers that `token`'s signature verified with `keys`. When full,
    /// expired entries go first, then entries of an older key set, then any
    /// one entry.
    pub(super) fn insert(
        &self,
        token: &str,
        keys: &Arc<JwkSet>,
        claims: Arc<Claims>,
        expires: f64,
        now: f64,
    ) {
        if self.capacity == 0 || token.is_empty() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(token) {
            entries.retain(|_, entry| entry.expires > now && Arc::ptr_eq(&entry.keys, keys));
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            token.into(),
            Entry {
                claims,
                keys: Arc::clone(keys),
                expires,
            },
        );
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
