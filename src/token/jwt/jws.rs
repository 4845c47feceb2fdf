//! [`SignedJwt`]: a compact JWS read and checked against a key set, the one
//! signature check behind [`JwtVerifier`](super::JwtVerifier) and the
//! OpenID Connect sign-in's ID tokens.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::Deserialize;

use super::{Algorithm, Claims, JwkSet};

/// A JWT in JWS compact form whose header was read and whose signature was
/// decoded, but not yet verified: [`verify`](Self::verify) checks it with a
/// [`JwkSet`] and hands back the [`Claims`].
///
/// This is the signature step of every JWT this crate accepts (bearer
/// tokens, ID tokens); the claim rules (times, issuer, audience, `nonce`,
/// …) belong to each kind of token and are checked on the claims after it.
/// A token of another kind (a logout token, say) is checked the same way:
/// [`parse`](Self::parse), look at [`typ`](Self::typ) and
/// [`algorithm`](Self::algorithm), [`verify`](Self::verify), then its own
/// claim rules.
///
/// ```
/// use rstream_well_known::jwt::{JwkSet, JwsRefusal, SignedJwt};
///
/// let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEifQ.";
/// assert_eq!(SignedJwt::parse(token).err(), Some(JwsRefusal::UnsupportedAlgorithm));
/// ```
pub struct SignedJwt<'t> {
    algorithm: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    /// `header.payload`, as sent: what the signature covers.
    signing_input: &'t str,
    payload: &'t str,
    signature: Vec<u8>,
}

impl fmt::Debug for SignedJwt<'_> {
    // The token is a credential: its header fields only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedJwt")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

impl<'t> SignedJwt<'t> {
    /// Reads `token`: three base64url parts (no padding) joined by `.`, a
    /// header that is a JSON object with distinct member names, no `crit`
    /// member (no extension is implemented), and an `alg` that is one of
    /// [`Algorithm`]'s, spelled exactly (`none` never is).
    ///
    /// # Errors
    ///
    /// [`JwsRefusal::UnsupportedAlgorithm`] for another `alg`,
    /// [`JwsRefusal::CriticalHeader`] for a `crit` member,
    /// [`JwsRefusal::Malformed`] for everything else.
    pub fn parse(token: &'t str) -> Result<Self, JwsRefusal> {
        #[derive(Deserialize)]
        struct Header {
            alg: String,
            #[serde(default)]
            kid: Option<String>,
            #[serde(default)]
            typ: Option<String>,
            #[serde(default)]
            crit: Option<serde::de::IgnoredAny>,
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(JwsRefusal::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(JwsRefusal::Malformed)?;
        if payload.contains('.') || header.is_empty() {
            return Err(JwsRefusal::Malformed);
        }
        let header = Base64UrlUnpadded::decode_vec(header).map_err(|_| JwsRefusal::Malformed)?;
        // Duplicate members are an error for a derived struct.
        let header: Header = serde_json::from_slice(&header).map_err(|_| JwsRefusal::Malformed)?;
        if header.crit.is_some() {
            return Err(JwsRefusal::CriticalHeader);
        }
        let algorithm =
            Algorithm::from_name(&header.alg).ok_or(JwsRefusal::UnsupportedAlgorithm)?;
        let signature =
            Base64UrlUnpadded::decode_vec(signature).map_err(|_| JwsRefusal::Malformed)?;
        Ok(Self {
            algorithm,
            kid: header.kid,
            typ: header.typ,
            signing_input,
            payload,
            signature,
        })
    }

    /// The header's `alg`.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The header's `kid`, when present.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's `typ`, when present (`JWT`, `logout+jwt`, …), as sent.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// Whether a key of `keys` verifies the signature (see [`JwkSet`] for
    /// which keys the `kid` selects; a key only checks tokens of its own
    /// algorithm).
    ///
    /// # Errors
    ///
    /// [`JwsRefusal::UnknownKey`] when `keys` holds no candidate key (an
    /// unknown `kid`, or no key of the token's algorithm): a key set
    /// fetched from a provider may be worth fetching again.
    /// [`JwsRefusal::InvalidSignature`] when candidates exist and none
    /// verifies the signature.
    pub fn verify_signature(&self, keys: &JwkSet) -> Result<(), JwsRefusal> {
        let mut candidates = keys.candidates(self.algorithm, self.kid()).peekable();
        if candidates.peek().is_none() {
            return Err(JwsRefusal::UnknownKey);
        }
        if candidates.any(|key| key.verifies(self.signing_input.as_bytes(), &self.signature)) {
            Ok(())
        } else {
            Err(JwsRefusal::InvalidSignature)
        }
    }

    /// The payload as [`Claims`], once the signature verified.
    fn claims_unverified(&self) -> Result<Claims, JwsRefusal> {
        Base64UrlUnpadded::decode_vec(self.payload)
            .ok()
            .and_then(|payload| serde_json::from_slice(&payload).ok())
            .ok_or(JwsRefusal::Malformed)
    }

    /// [`verify_signature`](Self::verify_signature), then the payload as
    /// [`Claims`]. No claim is checked: that is the caller's rules' job.
    ///
    /// # Errors
    ///
    /// As [`verify_signature`](Self::verify_signature), and
    /// [`JwsRefusal::Malformed`] for a payload that is not a JSON object
    /// with distinct claim names.
    pub fn verify(&self, keys: &JwkSet) -> Result<Claims, JwsRefusal> {
        self.verify_signature(keys)?;
        self.claims_unverified()
    }
}

/// Why a [`SignedJwt`] was refused before any claim was looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwsRefusal {
    /// Not a JWS in compact form, a header or payload that is not a JSON
    /// object with distinct member names.
    Malformed,
    /// An `alg` that is not one of [`Algorithm`]'s (`none` included).
    UnsupportedAlgorithm,
    /// A `crit` header member: no extension is implemented.
    CriticalHeader,
    /// No key of the set may check the token (its `kid` names none, or no
    /// key of its algorithm).
    UnknownKey,
    /// Keys may check it, and none verifies the signature.
    InvalidSignature,
}

impl JwsRefusal {
    /// A short name for logs: `malformed`, `unsupported_algorithm`,
    /// `critical_header`, `unknown_key`, `invalid_signature`.
    pub const fn as_str(self) -> &'static str {
        match self {
            JwsRefusal::Malformed => "malformed",
            JwsRefusal::UnsupportedAlgorithm => "unsupported_algorithm",
            JwsRefusal::CriticalHeader => "critical_header",
            JwsRefusal::UnknownKey => "unknown_key",
            JwsRefusal::InvalidSignature => "invalid_signature",
        }
    }
}

impl fmt::Display for JwsRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for JwsRefusal {}
