//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the logout
//! token's checks ([`LogoutTokenVerifier`]), the tags that let the store
//! find a provider session's sessions, and the replay guard.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ::http::StatusCode;
use ::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use ::http::request::Parts;
use bytes::Buf as _;
use http_body::Body;
use serde_json::Value;

use super::{Failure, fail};
use crate::jwt::{JwkSet, JwsRefusal, SignedJwt};

/// The largest back-channel logout body read: a form holding one logout
/// token (a few hundred bytes to a few kilobytes).
pub(crate) const MAX_FORM_LEN: usize = 16 * 1024;

/// The body of a back-channel logout request: a form
/// (`application/x-www-form-urlencoded`, else `415`) of at most
/// [`MAX_FORM_LEN`] bytes (else `413`, refused from `Content-Length` before
/// anything is read when it declares more).
pub(crate) async fn read_form<B: Body>(parts: &Parts, body: B) -> Result<Vec<u8>, Failure> {
    let form = parts.headers.get(CONTENT_TYPE).is_some_and(|value| {
        value
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .is_some_and(|media| {
                media
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
            })
    });
    if !form {
        return Err(fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ));
    }
    let too_large = || fail(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_FORM_LEN as u64) {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut form = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| fail(StatusCode::BAD_REQUEST, "unreadable_body"))?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if form.len() + data.remaining() > MAX_FORM_LEN {
            return Err(too_large());
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            form.extend_from_slice(chunk);
            let read = chunk.len();
            data.advance(read);
        }
    }
    Ok(form)
}

/// The member of a logout token's `events` claim that makes it one.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Checks logout tokens (OpenID Connect Back-Channel Logout 1.0, section
/// 2.6) from one provider for one client: what
/// [`OidcLayer`](super::OidcLayer)'s back-channel endpoint runs on the
/// `logout_token` it receives, public for apps that receive logout tokens
/// another way.
///
/// [`verify`](Self::verify) accepts a token when all of these hold, in this
/// order (the first that fails is the [`LogoutTokenRefusal`]):
///
/// 1. It is a JWS in compact form whose `alg` is asymmetric (the ID token's
///    algorithms: `none` and `HS256` are refused).
/// 2. Its `typ`, when present, is `logout+jwt` (or
///    `application/logout+jwt`), in any letter case.
/// 3. A key of the provider's set of that algorithm verifies the signature,
///    through the same code that checks ID tokens.
/// 4. `iss` is the issuer, exactly; `aud` is the client id (a string, or
///    an array holding it).
/// 5. `iat` is a number, not later than now plus the leeway, and not older
///    than the [maximum age](Self::max_age) plus the leeway; `exp`, when
///    present, has not passed (with the leeway).
/// 6. `jti` is a non-empty string.
/// 7. `events` is an object whose member
///    [`BACKCHANNEL_LOGOUT_EVENT`] is an object.
/// 8. `sid` or `sub` (or both) is present, each a non-empty string.
/// 9. There is no `nonce` (which would make it an ID token).
///
/// Whether its `jti` was seen before is the caller's to check: the layer
/// keeps the `jti`s it accepted until [`LogoutToken::replayable_until`].
#[derive(Clone, Debug)]
pub struct LogoutTokenVerifier {
    issuer: String,
    client_id: String,
    leeway: Duration,
    max_age: Duration,
}

impl LogoutTokenVerifier {
    /// A verifier for logout tokens that `issuer` sends to `client_id`,
    /// with a leeway of 60 seconds and a maximum age of 5 minutes.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            leeway: Duration::from_secs(60),
            max_age: Duration::from_secs(300),
        }
    }

    /// The clock skew allowed on `iat` and `exp` (60 seconds).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How old a logout token may be, by its `iat` (5 minutes): an older
    /// one is refused, so that the `jti`s to remember are bounded in time.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Checks `token` with the provider's `keys` at time `now`; see the
    /// type's docs for the rules.
    ///
    /// # Errors
    ///
    /// The first rule the token breaks.
    pub fn verify(
        &self,
        token: &str,
        keys: &JwkSet,
        now: SystemTime,
    ) -> Result<LogoutToken, LogoutTokenRefusal> {
        let jws = SignedJwt::parse(token)?;
        if jws.algorithm().is_symmetric() {
            return Err(LogoutTokenRefusal::UnsupportedAlgorithm);
        }
        if let Some(typ) = jws.typ() {
            let typ = typ.to_ascii_lowercase();
            if typ != "logout+jwt" && typ != "application/logout+jwt" {
                return Err(LogoutTokenRefusal::WrongTokenType);
            }
        }
        let claims = jws.verify(keys)?;
        if claims.issuer() != Some(self.issuer.as_str()) {
            return Err(LogoutTokenRefusal::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.client_id,
            Some(Value::Array(auds)) => auds.iter().any(|aud| *aud == *self.client_id),
            _ => false,
        };
        if !audience_ok {
            return Err(LogoutTokenRefusal::Audience);
        }
        let number = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_f64)
                .filter(|n| n.is_finite())
        };
        let now_secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| LogoutTokenRefusal::IssuedAt)?
            .as_secs_f64();
        let leeway = self.leeway.as_secs_f64();
        let iat = number("iat").ok_or(LogoutTokenRefusal::IssuedAt)?;
        if iat > now_secs + leeway || iat < now_secs - self.max_age.as_secs_f64() - leeway {
            return Err(LogoutTokenRefusal::IssuedAt);
        }
        let exp = match claims.get("exp") {
            None => None,
            Some(_) => {
                let exp = number("exp").ok_or(LogoutTokenRefusal::Expired)?;
                if now_secs >= exp + leeway {
                    return Err(LogoutTokenRefusal::Expired);
                }
                Some(exp)
            }
        };
        let jti = claims
            .get_str("jti")
            .filter(|jti| !jti.is_empty())
            .ok_or(LogoutTokenRefusal::MissingJti)?
            .to_owned();
        let event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
        if !event.is_some_and(Value::is_object) {
            return Err(LogoutTokenRefusal::MissingEvent);
        }
        let string = |name: &str| -> Result<Option<String>, LogoutTokenRefusal> {
            match claims.get(name) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(LogoutTokenRefusal::MissingSubject),
            }
        };
        let (sid, sub) = (string("sid")?, string("sub")?);
        if sid.is_none() && sub.is_none() {
            return Err(LogoutTokenRefusal::MissingSubject);
        }
        if claims.get("nonce").is_some() {
            return Err(LogoutTokenRefusal::Nonce);
        }
        // Remembered as long as it could be accepted again.
        let until_secs = (iat + self.max_age.as_secs_f64()).max(exp.unwrap_or(0.0)) + leeway;
        let replayable_until = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs_f64(until_secs.clamp(0.0, 1e11)))
            .unwrap_or(now);
        Ok(LogoutToken {
            sid,
            sub,
            jti,
            replayable_until,
        })
    }
}

/// A logout token that passed [`LogoutTokenVerifier::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutToken {
    sid: Option<String>,
    sub: Option<String>,
    jti: String,
    replayable_until: SystemTime,
}

impl LogoutToken {
    /// The provider session that ended (`sid`), when given.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The user whose sessions end (`sub`), when given.
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// The token's id (`jti`): the same one twice is a replay.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// Until when the token would pass [`LogoutTokenVerifier::verify`]: how
    /// long its `jti` must be remembered to refuse a replay.
    pub fn replayable_until(&self) -> SystemTime {
        self.replayable_until
    }
}

/// Why a logout token was refused: the first rule of
/// [`LogoutTokenVerifier`] it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutTokenRefusal {
    /// Not a JWS in compact form, a `crit` header, or a payload that is not
    /// a JSON object.
    Malformed,
    /// An `alg` that is not accepted (`none`, `HS256`) or not implemented.
    UnsupportedAlgorithm,
    /// A `typ` other than `logout+jwt`.
    WrongTokenType,
    /// No key of the provider's set may check it.
    UnknownSigningKey,
    /// Keys may check it, and none verifies the signature.
    InvalidSignature,
    /// `iss` is not the issuer.
    Issuer,
    /// `aud` does not name the client.
    Audience,
    /// `iat` is missing, in the future, or too old.
    IssuedAt,
    /// `exp` has passed.
    Expired,
    /// No `jti`.
    MissingJti,
    /// No back-channel logout member in `events`.
    MissingEvent,
    /// Neither `sid` nor `sub` (or one that is not a non-empty string).
    MissingSubject,
    /// A `nonce`: logout tokens have none.
    Nonce,
    /// Its `jti` was accepted before.
    Replayed,
}

impl LogoutTokenRefusal {
    /// The reason the endpoint answers (`{"error":"<reason>"}`):
    /// `invalid_logout_token`, `unsupported_algorithm`,
    /// `invalid_token_type`, `unknown_signing_key`, `invalid_signature`,
    /// `invalid_logout_token_issuer`, `invalid_audience`, `invalid_iat`,
    /// `logout_token_expired`, `missing_jti`, `missing_logout_event`,
    /// `missing_sid_and_sub`, `nonce_not_allowed`, `logout_token_replayed`.
    pub const fn reason(self) -> &'static str {
        match self {
            LogoutTokenRefusal::Malformed => "invalid_logout_token",
            LogoutTokenRefusal::UnsupportedAlgorithm => "unsupported_algorithm",
            LogoutTokenRefusal::WrongTokenType => "invalid_token_type",
            LogoutTokenRefusal::UnknownSigningKey => "unknown_signing_key",
            LogoutTokenRefusal::InvalidSignature => "invalid_signature",
            LogoutTokenRefusal::Issuer => "invalid_logout_token_issuer",
            LogoutTokenRefusal::Audience => "invalid_audience",
            LogoutTokenRefusal::IssuedAt => "invalid_iat",
            LogoutTokenRefusal::Expired => "logout_token_expired",
            LogoutTokenRefusal::MissingJti => "missing_jti",
            LogoutTokenRefusal::MissingEvent => "missing_logout_event",
            LogoutTokenRefusal::MissingSubject => "missing_sid_and_sub",
            LogoutTokenRefusal::Nonce => "nonce_not_allowed",
            LogoutTokenRefusal::Replayed => "logout_token_replayed",
        }
    }
}

impl From<JwsRefusal> for LogoutTokenRefusal {
    fn from(refusal: JwsRefusal) -> Self {
        match refusal {
            JwsRefusal::UnsupportedAlgorithm => LogoutTokenRefusal::UnsupportedAlgorithm,
            JwsRefusal::UnknownKey => LogoutTokenRefusal::UnknownSigningKey,
            JwsRefusal::InvalidSignature => LogoutTokenRefusal::InvalidSignature,
            _ => LogoutTokenRefusal::Malformed,
        }
    }
}

impl fmt::Display for LogoutTokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for LogoutTokenRefusal {}

/// The tag of the sessions signed in through `issuer`'s session `sid`.
pub(crate) fn sid_tag(issuer: &str, sid: &str) -> String {
    format!("oidc-sid:{}:{issuer}{sid}", issuer.len())
}

/// The tag of the sessions of `issuer`'s user `sub`.
pub(crate) fn sub_tag(issuer: &str, sub: &str) -> String {
    format!("oidc-sub:{}:{issuer}{sub}", issuer.len())
}

/// The `jti`s of accepted logout tokens, each until its token could no
/// longer be accepted, at most [`SeenTokens::MAX`] of them.
pub(crate) struct SeenTokens {
    seen: Mutex<HashMap<String, SystemTime>>,
}

impl SeenTokens {
    /// Past this many remembered `jti`s (each a token the provider signed
    /// within the last few minutes), the one that expires first is
    /// forgotten first.
    pub(crate) const MAX: usize = 10_000;

    pub(crate) fn new() -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `token`'s `jti` was seen before (at `now`); remembers it when
    /// not.
    pub(crate) fn first_time(&self, token: &LogoutToken, now: SystemTime) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, until| *until > now);
        if seen.contains_key(&token.jti) {
            return false;
        }
        if seen.len() >= Self::MAX {
            if let Some(first) = seen
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(jti, _)| jti.clone())
            {
                seen.remove(&first);
            }
        }
        seen.insert(token.jti.clone(), token.replayable_until);
        true
    }

    /// Forgets `token`'s `jti` (its logout failed: the provider may retry).
    pub(crate) fn forget(&self, token: &LogoutToken) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token.jti);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(jti: &str, until: SystemTime) -> LogoutToken {
        LogoutToken {
            sid: Some("s".to_owned()),
            sub: None,
            jti: jti.to_owned(),
            replayable_until: until,
        }
    }

    #[test]
    fn a_jti_is_accepted_once_while_it_could_be_replayed() {
        let seen = SeenTokens::new();
        let now = SystemTime::now();
        let t = token("a", now + Duration::from_secs(60));
        assert!(seen.first_time(&t, now));
        assert!(!seen.first_time(&t, now + Duration::from_secs(30)));
        // Once the token itself would be refused, its jti is forgotten.
        assert!(seen.first_time(&t, now + Duration::from_secs(61)));
        // A failed logout forgets it, so the provider's retry goes through.
        seen.forget(&t);
        assert!(seen.first_time(&t, now + Duration::from_secs(61)));
    }

    #[test]
    fn tags_of_different_issuers_and_ids_never_meet() {
        assert_ne!(sid_tag("https://a", "b#c"), sid_tag("https://a#b", "c"));
        assert_ne!(sid_tag("https://a", "x"), sub_tag("https://a", "x"));
    }
}
