//! [`StaticTokenVerifier`]: a fixed set of tokens.

use std::convert::Infallible;
use std::fmt;

use subtle::{Choice, ConstantTimeEq};

use super::{TokenContext, TokenVerdict, TokenVerifier};
use crate::identity::User;
use crate::syntax::word_at;

/// A fixed set of tokens, each mapped to a user: the embedded default for
/// development, tests and small deployments.
///
/// Tokens are compared in constant time (with `subtle`) against every
/// configured token, so response timing does not reveal how much of a guess
/// was right; only the length of the configured tokens can be inferred.
///
/// ```
/// use rstream_well_known::{StaticTokenVerifier, User};
///
/// let verifier = StaticTokenVerifier::new()
///     .with_token("ci-token-0b7d", User::new("ci-bot").with_name("CI"));
/// assert_eq!(verifier.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct StaticTokenVerifier {
    tokens: Vec<(Box<[u8]>, User)>,
}

impl StaticTokenVerifier {
    /// A verifier that accepts no token yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as `user`. A token added twice keeps the last user.
    #[must_use]
    pub fn with_token(mut self, token: impl AsRef<[u8]>, user: User) -> Self {
        let token = token.as_ref();
        self.tokens.retain(|(known, _)| &**known != token);
        self.tokens.push((token.into(), user));
        self
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn verdict(&self, token: &str) -> TokenVerdict {
        match self.find(token.as_bytes()) {
            Some(user) => TokenVerdict::Accepted(user.clone()),
            None => TokenVerdict::Refused,
        }
    }

    fn find(&self, token: &[u8]) -> Option<&User> {
        let mut found = None;
        for (known, user) in &self.tokens {
            // No early exit: every configured token is compared.
            if bool::from(constant_time_eq(known, token)) {
                found = Some(user);
            }
        }
        found
    }
}

/// Compares two byte strings in time that depends on their lengths only:
/// the differences are folded eight bytes at a time into one word with no
/// branch on the data, and only that word is tested, in constant time.
fn constant_time_eq(a: &[u8], b: &[u8]) -> Choice {
    if a.len() != b.len() {
        return Choice::from(0);
    }
    let mut difference = 0u64;
    let mut at = 0;
    while at + 8 <= a.len() {
        difference |= word_at(a, at) ^ word_at(b, at);
        at += 8;
    }
    // The last bytes, as the last eight (overlapping words already
    // compared: comparing a byte twice changes nothing), or one at a time
    // for strings shorter than a word.
    if at < a.len() {
        if a.len() >= 8 {
            difference |= word_at(a, a.len() - 8) ^ word_at(b, a.len() - 8);
        } else {
            for (x, y) in a.iter().zip(b) {
                difference |= u64::from(x ^ y);
            }
        }
    }
    difference.ct_eq(&0)
}

impl fmt::Debug for StaticTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenVerifier")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl TokenVerifier for StaticTokenVerifier {
    type Error = Infallible;

    async fn verify(&self, token: &str, _cx: TokenContext<'_>) -> Result<TokenVerdict, Infallible> {
        Ok(self.verdict(token))
    }

    /// Always answers: the tokens are in memory.
    fn verify_now(
        &self,
        token: &str,
        _cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, Infallible>> {
        Some(Ok(self.verdict(token)))
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        #[test]
        fn the_word_comparison_is_equality(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
        ) {
            proptest::prop_assert_eq!(bool::from(super::constant_time_eq(&a, &b)), a == b);
            proptest::prop_assert!(bool::from(super::constant_time_eq(&a, &a)));
        }
    }
}
