//! [`JwtVerifier`]: signed JSON Web Tokens (feature `jwt`), its keys
//! ([`JwtKey`], [`JwkSet`]) and, with feature `jwks`, keys fetched from a
//! JWKS URL ([`JwksSource`]).
//!
//! ```
//! use rstream_well_known::jwt::{JwtKey, JwtVerifier};
//! use rstream_well_known::{Tunnel, WellKnownLayer};
//!
//! let verifier = JwtVerifier::new(JwtKey::hs256(b"the engine's shared secret, 32+ bytes")?);
//! let layer = WellKnownLayer::builder()
//!     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
//!     .with_token_verifier(verifier)
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A token is accepted when all of these hold, checked in this order (the
//! first that fails refuses the token, and nothing after it is looked at):
//!
//! 1. It is at most [`JwtVerifier::max_token_len`] bytes long (8 KiB by
//!    default), checked before anything is decoded.
//! 2. It is a JWS in compact form: three base64url parts (no padding, no
//!    other characters) joined by `.`; a JWE (five parts) is refused. Its
//!    header is a JSON object with distinct member names and no `crit`
//!    member (this verifier implements no extension), and its `alg` is one
//!    of [`Algorithm`]'s, spelled exactly: `HS256`, `ES256`, `ES384`,
//!    `ES512`, `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512` or
//!    `EdDSA`. `alg: none` is refused. (Steps 2 and 3 are [`SignedJwt`]'s,
//!    the one signature check of bearer tokens and OpenID Connect ID
//!    tokens.)
//! 3. A configured key of that very algorithm verifies the signature (see
//!    [`JwkSet`] for which keys a `kid` selects). A key is bound to its
//!    algorithm when it is configured, so an `HS256` token is never checked
//!    against a public key, and a `kid` that names no key of the set (nor
//!    does any key without an id of that algorithm exist) refuses the token.
//! 4. The payload is a JSON object with distinct claim names.
//! 5. `exp` is present and a number, and the current time is before
//!    `exp + leeway`; `nbf`, when present, is a number and the current time
//!    is at or after `nbf − leeway` (the leeway is 30 seconds unless set
//!    with [`JwtVerifier::leeway`]). `iat` is not checked.
//! 6. When issuers are configured, `iss` is one of them.
//! 7. When audiences are configured, `aud` (a string or an array of
//!    strings) names one of them. A token that carries an `aud` is refused
//!    when no audience is configured: a token meant for another service is
//!    not meant for this one (RFC 7519, section 4.1.3).
//! 8. The user id claim (`sub` by default) is a non-empty string.
//! 9. The scope check, when one is set, allows the token for this
//!    request's tunnel, method, path and token source. A token it refuses
//!    is [`TokenVerdict::OutOfScope`]; every other refusal is
//!    [`TokenVerdict::Refused`].
//!
//! The user is then `sub` → `userId`, `name`, `email` and `picture` →
//! `image` (names configurable; a profile claim that is not a string is left
//! out), and every other claim, registered ones included (`iss`, `aud`,
//! `exp`, `scope`, …), becomes one of the user's
//! [attributes](crate::User::attribute).
//!
//! With feature `tracing`, a refusal's
//! reason (`expired`, `invalid_signature`, `unknown_key`, …) is logged at `debug`
//! level, never the token or any claim. The only errors are those of
//! keys that cannot be had ([`JwtError`]): a [`JwksSource`] that has not
//! fetched a key set yet, or a system clock set before 1970.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{TokenContext, TokenVerdict, TokenVerifier};

mod cache;
mod claims;
mod jwk;
mod jws;
mod key;
#[cfg(feature = "jwks")]
mod remote;

pub use claims::Claims;
pub use jwk::JwkSet;
pub use jws::{JwsRefusal, SignedJwt};
pub use key::{Algorithm, JwtKey, KeyError};
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use remote::{JwksBuilder, JwksError, JwksSource};

use cache::Cache;
use claims::ClaimNames;

/// A scope check: the verified claims and the request, `true` to allow.
type ScopeCheck = dyn Fn(&Claims, TokenContext<'_>) -> bool + Send + Sync;
/// A clock.
type Clock = dyn Fn() -> SystemTime + Send + Sync;

/// Where a verifier's keys come from.
#[derive(Clone, Debug)]
enum Keys {
    /// A set given at construction.
    Static(Arc<JwkSet>),
    /// A set fetched from a JWKS URL and refreshed.
    #[cfg(feature = "jwks")]
    Remote(JwksSource),
}

/// Verifies signed JSON Web Tokens and maps their claims to a [`User`](crate::User).
///
/// See the [module docs](self) for exactly what is checked, in which order.
/// Keys come from a [`JwkSet`] (raw keys or a JWK set document) or, with
/// feature `jwks`, from a [`JwksSource`] that fetches and refreshes a JWKS
/// URL. Cloning is cheap.
///
/// ```
/// use std::time::Duration;
/// use rstream_well_known::jwt::{JwtKey, JwtVerifier};
/// use rstream_well_known::{StaticTokenVerifier, TokenVerifierChain, TokenSource, Tunnel, User, WellKnownLayer};
///
/// let engine = JwtVerifier::new(JwtKey::hs256(b"the engine's shared secret, 32+ bytes")?)
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .leeway(Duration::from_secs(10))
///     // Tokens from URLs (`?rstream.token=`) only for reading.
///     .scope_check(|_claims, cx| cx.source() == TokenSource::Header || cx.method() == "GET");
///
/// // JWTs first, then static service tokens.
/// let verifier = TokenVerifierChain::new()
///     .verifier(engine)
///     .verifier(StaticTokenVerifier::new().with_token("ci-0b7d", User::new("ci-bot")));
///
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
///     .with_token_verifier(verifier)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    keys: Keys,
    issuers: Vec<Box<str>>,
    audiences: Vec<Box<str>>,
    leeway: Duration,
    max_token_len: usize,
    claims: ClaimNames,
    scope: Option<Arc<ScopeCheck>>,
    clock: Option<Arc<Clock>>,
    cache: Arc<Cache>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("max_token_len", &self.max_token_len)
            .field("claims", &self.claims)
            .field("scope_check", &self.scope.is_some())
            .field("cache_capacity", &self.cache.capacity())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// The default [`leeway`](Self::leeway): 30 seconds.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
    /// The default [`max_token_len`](Self::max_token_len): 8 KiB.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
    /// The default [`cache_capacity`](Self::cache_capacity): 512 tokens.
    pub const DEFAULT_CACHE_CAPACITY: usize = 512;

    /// A verifier trusting `keys`: a [`JwkSet`], or one [`JwtKey`].
    pub fn new(keys: impl Into<JwkSet>) -> Self {
        Self::with_keys(Keys::Static(Arc::new(keys.into())))
    }

    /// A verifier trusting the keys `source` fetches (feature `jwks`).
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn from_jwks(source: JwksSource) -> Self {
        Self::with_keys(Keys::Remote(source))
    }

    fn with_keys(keys: Keys) -> Self {
        Self {
            keys,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Self::DEFAULT_LEEWAY,
            max_token_len: Self::DEFAULT_MAX_TOKEN_LEN,
            claims: ClaimNames::default(),
            scope: None,
            clock: None,
            cache: Arc::new(Cache::new(Self::DEFAULT_CACHE_CAPACITY)),
        }
    }

    /// Accepts tokens whose `iss` is `issuer`. Call it again to accept
    /// several; with none, `iss` is not checked.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into().into_boxed_str());
        self
    }

    /// Accepts tokens whose `aud` names `audience`. Call it again to accept
    /// several; with none, tokens that carry an `aud` are refused.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into().into_boxed_str());
        self
    }

    /// How far `exp` and `nbf` may be off, for clocks that disagree a little
    /// (default [`DEFAULT_LEEWAY`](Self::DEFAULT_LEEWAY)).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest token looked at, in bytes (default
    /// [`DEFAULT_MAX_TOKEN_LEN`](Self::DEFAULT_MAX_TOKEN_LEN)); longer
    /// tokens are refused before anything is decoded.
    #[must_use]
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// The claim that holds the user id (default `sub`).
    #[must_use]
    pub fn user_id_claim(mut self, name: impl Into<String>) -> Self {
        self.claims.user_id = name.into().into_boxed_str();
        self
    }

    /// The claim that holds the display name (default `name`).
    #[must_use]
    pub fn name_claim(mut self, name: impl Into<String>) -> Self {
        self.claims.name = name.into().into_boxed_str();
        self
    }

    /// The claim that holds the email address (default `email`).
    #[must_use]
    pub fn email_claim(mut self, name: impl Into<String>) -> Self {
        self.claims.email = name.into().into_boxed_str();
        self
    }

    /// The claim that holds the picture URL (default `picture`).
    #[must_use]
    pub fn image_claim(mut self, name: impl Into<String>) -> Self {
        self.claims.image = name.into().into_boxed_str();
        self
    }

    /// Sets the scope check: given a valid token's claims and the request
    /// (tunnel, method, path, whether the token came from the header or the
    /// query), it returns `true` to accept the token or `false` to refuse it.
    /// It runs last, after every other check passed. A refused token is like
    /// any other refused token: the session endpoint then looks at the
    /// session cookie, and with none says "not authenticated".
    ///
    /// ```
    /// use rstream_well_known::jwt::{JwtKey, JwtVerifier};
    ///
    /// // Only tokens for this project, and only with the `session:read` scope.
    /// let verifier = JwtVerifier::new(JwtKey::hs256(b"the engine's shared secret, 32+ bytes")?)
    ///     .scope_check(|claims, cx| {
    ///         // A tunnel without a project id (`Tunnel::from_origin`) matches no token.
    ///         cx.tunnel().project_id().is_some_and(|project| claims.get_str("project") == Some(project))
    ///             && claims.scopes().any(|scope| scope == "session:read")
    ///     });
    /// # Ok::<(), rstream_well_known::jwt::KeyError>(())
    /// ```
    #[must_use]
    pub fn scope_check(
        mut self,
        check: impl Fn(&Claims, TokenContext<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.scope = Some(Arc::new(check));
        self
    }

    /// How many verified tokens to remember (default
    /// [`DEFAULT_CACHE_CAPACITY`](Self::DEFAULT_CACHE_CAPACITY); `0` turns
    /// the cache off).
    ///
    /// A token whose signature verified is remembered, with its claims, so
    /// that the next request with the same token skips the base64 and JSON
    /// decoding and the signature check: that is what ES512 costs (about a
    /// millisecond of CPU per token; see the README's figures). Everything
    /// else (`exp`, `nbf`, issuer, audience, the scope check, the user id)
    /// is checked on every request, cached or not. Only tokens with a valid
    /// signature are remembered, so nobody without a signing key can fill
    /// the cache; an entry counts only while the key set it was verified
    /// with is the verifier's (a [`JwksSource`] refresh that changes the
    /// set makes every entry stale), and expired entries are dropped first
    /// when the cache is full, then the oldest key set's, then any one. It
    /// holds at most `capacity` tokens of at most
    /// [`max_token_len`](Self::max_token_len) bytes each. Clones of a
    /// verifier share its cache; this setter gives the verifier a new one.
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = Arc::new(Cache::new(capacity));
        self
    }

    /// Replaces the system clock that `exp` and `nbf` are checked against:
    /// for tests, or a trusted time source.
    #[must_use]
    pub fn clock(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// The current time, in seconds since the Unix epoch.
    fn now(&self) -> Result<f64, JwtError> {
        let now = match &self.clock {
            Some(clock) => clock(),
            None => SystemTime::now(),
        };
        now.duration_since(SystemTime::UNIX_EPOCH)
            .map(|since| since.as_secs_f64())
            .map_err(|_| JwtError::Clock)
    }

    /// The whole check, with the refusal's reason: at once when the keys it
    /// needs are in memory, else after fetching them.
    async fn check(&self, token: &str, cx: TokenContext<'_>) -> Checked {
        let jws = match self.check_now(token, cx) {
            Now::Done(checked) => return checked,
            Now::NeedsKeys(jws) => jws,
        };
        let keys = match &self.keys {
            Keys::Static(keys) => Arc::clone(keys),
            #[cfg(feature = "jwks")]
            Keys::Remote(source) => source.keys_for(jws.kid()).await?,
        };
        self.check_signed(token, &jws, &keys, cx)
    }

    /// Steps 1 and 2 of the module docs, the cache, and the rest when the
    /// keys in memory cover the token: a static set always; a fetched set
    /// when it has the token's `kid` (or the token has none).
    fn check_now<'t>(&self, token: &'t str, cx: TokenContext<'_>) -> Now<'t> {
        if token.len() > self.max_token_len {
            return Now::Done(Ok(Err(Refusal::TooLarge)));
        }
        let current = match &self.keys {
            Keys::Static(keys) => Some(Arc::clone(keys)),
            #[cfg(feature = "jwks")]
            Keys::Remote(source) => source.keys(),
        };
        if let Some(claims) = current
            .as_ref()
            .and_then(|keys| self.cache.get(token, keys))
        {
            return Now::Done(
                self.now()
                    .map(|now| self.check_claims(Claims::clone(&claims), now, cx)),
            );
        }
        let jws = match SignedJwt::parse(token) {
            Ok(jws) => jws,
            Err(refusal) => return Now::Done(Ok(Err(Refusal::Jws(refusal)))),
        };
        match current {
            Some(keys) if matches!(self.keys, Keys::Static(_)) || keys.covers(jws.kid()) => {
                Now::Done(self.check_signed(token, &jws, &keys, cx))
            }
            _ => Now::NeedsKeys(jws),
        }
    }

    /// Steps 3 to 9 of the module docs, with `keys`.
    fn check_signed(
        &self,
        token: &str,
        jws: &SignedJwt<'_>,
        keys: &Arc<JwkSet>,
        cx: TokenContext<'_>,
    ) -> Checked {
        let claims = match jws.verify(keys) {
            Ok(claims) => claims,
            Err(refusal) => return Ok(Err(Refusal::Jws(refusal))),
        };
        let now = self.now()?;
        if let Some(Some(exp)) = claims.number("exp") {
            let expires = exp + self.leeway.as_secs_f64();
            if expires > now {
                let remembered = Arc::new(claims.clone());
                self.cache.insert(token, keys, remembered, expires, now);
            }
        }
        Ok(self.check_claims(claims, now, cx))
    }

    /// Steps 5 to 9 of the module docs.
    fn check_claims(
        &self,
        claims: Claims,
        now: f64,
        cx: TokenContext<'_>,
    ) -> Result<crate::User, Refusal> {
        let leeway = self.leeway.as_secs_f64();
        match claims.number("exp") {
            None => return Err(Refusal::Malformed),
            Some(None) => return Err(Refusal::NoExpiry),
            Some(Some(exp)) if now >= exp + leeway => return Err(Refusal::Expired),
            Some(Some(_)) => {}
        }
        match claims.number("nbf") {
            None => return Err(Refusal::Malformed),
            Some(Some(nbf)) if now + leeway < nbf => return Err(Refusal::NotYetValid),
            Some(_) => {}
        }
        if !self.issuers.is_empty() {
            let issuer = claims.issuer();
            if !self
                .issuers
                .iter()
                .any(|accepted| Some(&**accepted) == issuer)
            {
                return Err(Refusal::Issuer);
            }
        }
        if self.audiences.is_empty() {
            if claims.get("aud").is_some() {
                return Err(Refusal::Audience);
            }
        } else if claims.audience_matches(&self.audiences) != Some(true) {
            return Err(Refusal::Audience);
        }
        if let Some(scope) = &self.scope {
            if !scope(&claims, cx) {
                return Err(Refusal::Scope);
            }
        }
        self.claims.user(claims).ok_or(Refusal::NoSubject)
    }
}

/// What a check found: the user, why the token is refused, or why no
/// decision could be made.
type Checked = Result<Result<crate::User, Refusal>, JwtError>;

/// A check made with the keys in memory.
enum Now<'t> {
    Done(Checked),
    /// A fetched key set is needed first.
    NeedsKeys(SignedJwt<'t>),
}

/// The verdict for a check: a failed scope check is
/// [`OutOfScope`](TokenVerdict::OutOfScope), every other refusal
/// [`Refused`](TokenVerdict::Refused).
fn verdict(checked: Checked) -> Result<TokenVerdict, JwtError> {
    Ok(match checked? {
        Ok(user) => TokenVerdict::Accepted(user),
        Err(refusal) => {
            #[cfg(feature = "tracing")]
            tracing::debug!(reason = refusal.as_str(), "rstream-well-known: JWT refused");
            if refusal == Refusal::Scope {
                TokenVerdict::OutOfScope
            } else {
                TokenVerdict::Refused
            }
        }
    })
}

impl TokenVerifier for JwtVerifier {
    type Error = JwtError;

    async fn verify(&self, token: &str, cx: TokenContext<'_>) -> Result<TokenVerdict, JwtError> {
        verdict(self.check(token, cx).await)
    }

    /// Answers at once with static keys, and with a fetched set that has
    /// the token's key; `None` when a set must be fetched first.
    fn verify_now(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, JwtError>> {
        match self.check_now(token, cx) {
            Now::Done(checked) => Some(verdict(checked)),
            Now::NeedsKeys(_) => None,
        }
    }
}

/// Why a JWT verifier could not decide. `Display` never shows the token.
#[derive(Debug)]
#[non_exhaustive]
pub enum JwtError {
    /// The verifier's [`JwksSource`] has no key set: none could be fetched
    /// yet.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    KeysUnavailable(JwksError),
    /// The system clock is set before 1970: no expiry can be checked.
    Clock,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "jwks")]
            JwtError::KeysUnavailable(error) => write!(f, "no JWT key set is available: {error}"),
            JwtError::Clock => f.write_str("the system clock is set before 1970"),
        }
    }
}

impl std::error::Error for JwtError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "jwks")]
            JwtError::KeysUnavailable(error) => Some(error),
            JwtError::Clock => None,
        }
    }
}

/// Why a token was refused (logged at `debug` level with feature `tracing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    TooLarge,
    /// Refused before any claim was looked at.
    Jws(JwsRefusal),
    Malformed,
    NoExpiry,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    Scope,
    NoSubject,
}

impl Refusal {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn as_str(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Jws(refusal) => refusal.as_str(),
            Refusal::Malformed => "malformed",
            Refusal::NoExpiry => "no_expiry",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Issuer => "issuer",
            Refusal::Audience => "audience",
            Refusal::Scope => "scope",
            Refusal::NoSubject => "no_subject",
        }
    }
}

#[cfg(test)]
mod tests;
