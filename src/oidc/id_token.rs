//! [`IdTokenVerifier`]: an OpenID Connect ID token's signature and claims,
//! checked by the crate's JWT code ([`SignedJwt`]).

use std::fmt;
use std::time::{Duration, SystemTime};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde_json::Value;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use crate::jwt::{Algorithm, Claims, JwkSet, JwsRefusal, SignedJwt};

/// Checks ID tokens (OpenID Connect Core 1.0, section 3.1.3.7) from one
/// provider for one client: what [`OidcLayer`](super::OidcLayer) runs on
/// the token endpoint's answer, public for apps that receive ID tokens
/// another way.
///
/// [`verify`](Self::verify) accepts a token when all of these hold, in this
/// order (the first that fails is the [`IdTokenRefusal`]):
///
/// 1. It is a JWS in compact form ([`SignedJwt::parse`]) whose `alg` is
///    asymmetric: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
///    ES512 or EdDSA. `none` and `HS256` are refused, even for a
///    confidential client: a provider's key set is public.
/// 2. Its `typ`, when present, does not name another kind of JWT
///    (`logout+jwt`, `at+jwt`, any `…+jwt`), so that a token made for
///    another purpose is never taken for an ID token.
/// 3. A key of the provider's set of that algorithm verifies the signature
///    (a `kid` no key has is [`IdTokenRefusal::UnknownSigningKey`]: fetch
///    the set again, then retry).
/// 4. `iss` is the issuer, exactly.
/// 5. `aud` is the client id: a string, or an array holding only it.
/// 6. `azp`, when present, is the client id.
/// 7. `exp` is a number and now is before `exp + leeway`; `iat` is a
///    number (its value is not checked).
/// 8. `nonce` is the one the sign-in sent (compared in constant time).
/// 9. `at_hash`, when present and an access token is given, is the left
///    half of the access token's hash, base64url: SHA-256 for `*256`,
///    SHA-384 for `*384`, SHA-512 for `*512` and for `EdDSA` (Ed25519's
///    hash).
/// 10. `sub` is a non-empty string.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rstream_well_known::jwt::JwkSet;
/// use rstream_well_known::oidc::{IdTokenRefusal, IdTokenVerifier};
///
/// let verifier = IdTokenVerifier::new("https://login.example.com", "app")
///     .leeway(Duration::from_secs(60));
/// let keys = JwkSet::new(); // the provider's, from its jwks_uri
/// let refused = verifier.verify("not.a.token", &keys, "the-nonce", None, SystemTime::now());
/// assert_eq!(refused.unwrap_err(), IdTokenRefusal::Malformed);
/// ```
#[derive(Clone, Debug)]
pub struct IdTokenVerifier {
    issuer: String,
    client_id: String,
    leeway: Duration,
}

impl IdTokenVerifier {
    /// A verifier for ID tokens that `issuer` issues to `client_id`, with a
    /// leeway of 60 seconds.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            leeway: Duration::from_secs(60),
        }
    }

    /// The clock skew allowed on `exp` (60 seconds).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Checks `id_token` with the provider's `keys`, the `nonce` the
    /// sign-in sent and the `access_token` issued with it (for `at_hash`),
    /// at time `now`; see the type's docs for the rules. The claims when it
    /// passes.
    ///
    /// # Errors
    ///
    /// The first rule the token breaks.
    pub fn verify(
        &self,
        id_token: &str,
        keys: &JwkSet,
        nonce: &str,
        access_token: Option<&str>,
        now: SystemTime,
    ) -> Result<Claims, IdTokenRefusal> {
        let jws = SignedJwt::parse(id_token)?;
        if jws.algorithm().is_symmetric() {
            return Err(IdTokenRefusal::UnsupportedAlgorithm);
        }
        if jws
            .typ()
            .is_some_and(|typ| typ.to_ascii_lowercase().ends_with("+jwt"))
        {
            return Err(IdTokenRefusal::WrongTokenType);
        }
        let claims = jws.verify(keys)?;
        if claims.issuer() != Some(self.issuer.as_str()) {
            return Err(IdTokenRefusal::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.client_id,
            Some(Value::Array(auds)) => {
                matches!(auds.as_slice(), [Value::String(aud)] if *aud == self.client_id)
            }
            _ => false,
        };
        if !audience_ok {
            return Err(IdTokenRefusal::Audience);
        }
        match claims.get("azp") {
            None => {}
            Some(Value::String(azp)) if *azp == self.client_id => {}
            Some(_) => return Err(IdTokenRefusal::AuthorizedParty),
        }
        let number = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_f64)
                .filter(|n| n.is_finite())
        };
        let exp = number("exp").ok_or(IdTokenRefusal::Malformed)?;
        number("iat").ok_or(IdTokenRefusal::Malformed)?;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| IdTokenRefusal::Expired)?
            .as_secs_f64();
        if now >= exp + self.leeway.as_secs_f64() {
            return Err(IdTokenRefusal::Expired);
        }
        let nonce_ok = claims
            .get_str("nonce")
            .is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())));
        if !nonce_ok {
            return Err(IdTokenRefusal::Nonce);
        }
        if let (Some(expected), Some(access_token)) = (claims.get("at_hash"), access_token) {
            let actual = token_hash(jws.algorithm(), access_token);
            if expected.as_str() != Some(actual.as_str()) {
                return Err(IdTokenRefusal::AccessTokenHash);
            }
        }
        if claims.subject().is_none_or(str::is_empty) {
            return Err(IdTokenRefusal::Malformed);
        }
        Ok(claims)
    }
}

/// `at_hash` / `c_hash`: the left half of the token's hash with the hash of
/// the ID token's algorithm, base64url.
fn token_hash(algorithm: Algorithm, token: &str) -> String {
    let digest = match algorithm {
        Algorithm::Es384 | Algorithm::Rs384 | Algorithm::Ps384 => {
            sha2::Sha384::digest(token.as_bytes()).to_vec()
        }
        // Ed25519 hashes with SHA-512.
        Algorithm::Es512 | Algorithm::Rs512 | Algorithm::Ps512 | Algorithm::EdDsa => {
            sha2::Sha512::digest(token.as_bytes()).to_vec()
        }
        _ => sha2::Sha256::digest(token.as_bytes()).to_vec(),
    };
    Base64UrlUnpadded::encode_string(&digest[..digest.len() / 2])
}

/// Why an ID token was refused: the first rule of
/// [`IdTokenVerifier`] it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenRefusal {
    /// Not a JWS in compact form, a `crit` header, a payload that is not a
    /// JSON object, or a required claim (`exp`, `iat`, `sub`) missing.
    Malformed,
    /// An `alg` that is not accepted for ID tokens (`none`, `HS256`) or not
    /// implemented.
    UnsupportedAlgorithm,
    /// A `typ` naming another kind of JWT (`logout+jwt`, …).
    WrongTokenType,
    /// No key of the provider's set may check it (an unknown `kid`, or no
    /// key of its algorithm).
    UnknownSigningKey,
    /// Keys may check it, and none verifies the signature.
    InvalidSignature,
    /// `iss` is not the issuer.
    Issuer,
    /// `aud` is not the client id alone.
    Audience,
    /// `azp` is not the client id.
    AuthorizedParty,
    /// `exp + leeway` has passed.
    Expired,
    /// `nonce` is missing or not the one sent.
    Nonce,
    /// `at_hash` does not match the access token.
    AccessTokenHash,
}

impl IdTokenRefusal {
    /// The reason the sign-in answers (`{"error":"<reason>"}`):
    /// `invalid_id_token`, `unsupported_algorithm`, `invalid_token_type`,
    /// `unknown_signing_key`, `invalid_signature`,
    /// `invalid_id_token_issuer`, `invalid_audience`,
    /// `invalid_authorized_party`, `id_token_expired`, `invalid_nonce`,
    /// `invalid_at_hash`.
    pub const fn reason(self) -> &'static str {
        match self {
            IdTokenRefusal::Malformed => "invalid_id_token",
            IdTokenRefusal::UnsupportedAlgorithm => "unsupported_algorithm",
            IdTokenRefusal::WrongTokenType => "invalid_token_type",
            IdTokenRefusal::UnknownSigningKey => "unknown_signing_key",
            IdTokenRefusal::InvalidSignature => "invalid_signature",
            IdTokenRefusal::Issuer => "invalid_id_token_issuer",
            IdTokenRefusal::Audience => "invalid_audience",
            IdTokenRefusal::AuthorizedParty => "invalid_authorized_party",
            IdTokenRefusal::Expired => "id_token_expired",
            IdTokenRefusal::Nonce => "invalid_nonce",
            IdTokenRefusal::AccessTokenHash => "invalid_at_hash",
        }
    }
}

impl From<JwsRefusal> for IdTokenRefusal {
    fn from(refusal: JwsRefusal) -> Self {
        match refusal {
            JwsRefusal::UnsupportedAlgorithm => IdTokenRefusal::UnsupportedAlgorithm,
            JwsRefusal::UnknownKey => IdTokenRefusal::UnknownSigningKey,
            JwsRefusal::InvalidSignature => IdTokenRefusal::InvalidSignature,
            _ => IdTokenRefusal::Malformed,
        }
    }
}

impl fmt::Display for IdTokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for IdTokenRefusal {}
