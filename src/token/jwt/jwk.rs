//! [`JwkSet`]: the keys a verifier trusts, read from a JWK set (RFC 7517) or
//! added one by one.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::Deserialize;

use super::key::{Algorithm, JwtKey, KeyError, Material, RSA_MAX_BITS, RSA_MIN_BITS, rsa_material};

/// The keys a [`JwtVerifier`](super::JwtVerifier) trusts: built from raw
/// keys ([`with_key`](Self::with_key)) or read from a JWK set document
/// ([`from_json`](Self::from_json)), the `{"keys":[…]}` an identity provider
/// publishes.
///
/// Reading a JWK set keeps each key that is usable for verifying
/// signatures and skips the others, so that a provider's set that also
/// holds encryption keys or keys of algorithms this crate does not verify
/// still works:
///
/// - skipped: keys whose `use` is not `sig`, whose `key_ops` leave out
///   `verify`, whose `kty`, `crv` or `alg` is not one of
///   [`Algorithm`]'s, and (from [`from_json`](Self::from_json) only when
///   asked, and always for keys fetched from a URL) symmetric `oct` keys;
/// - refused (an error for the whole set): a key of a known type whose
///   fields are malformed (a point not on its curve, a coordinate of the
///   wrong length, an RSA key under 2048 bits, an `alg` that contradicts the
///   key type), and a document that is not an object with a `keys` array.
///
/// A key without `alg` gets its type's algorithm: `EC` `P-256` → `ES256`,
/// `EC` `P-384` → `ES384`, `EC` `P-521` → `ES512`, `OKP` `Ed25519` →
/// `EdDSA`, `RSA` → `RS256`, `oct` → `HS256`. An RSA key verifies one
/// algorithm only: a provider that signs with `RS384`, `RS512` or `PS*`
/// names it in the key's `alg` (as providers do).
///
/// ```
/// use rstream_well_known::jwt::{Algorithm, JwkSet};
///
/// let set = JwkSet::from_json(r#"{"keys":[
///   {"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty":"EC","crv":"secp256k1","kid":"not-verified-here","x":"…","y":"…"}
/// ]}"#)?;
/// assert_eq!(set.len(), 1);
/// assert_eq!(set.keys()[0].algorithm(), Algorithm::EdDsa);
/// # Ok::<(), rstream_well_known::jwt::KeyError>(())
/// ```
#[derive(Clone, Default)]
pub struct JwkSet {
    keys: Vec<JwtKey>,
    skipped: usize,
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwkSet")
            .field("keys", &self.keys)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl From<JwtKey> for JwkSet {
    fn from(key: JwtKey) -> Self {
        Self::new().with_key(key)
    }
}

impl FromIterator<JwtKey> for JwkSet {
    fn from_iter<I: IntoIterator<Item = JwtKey>>(keys: I) -> Self {
        Self {
            keys: keys.into_iter().collect(),
            skipped: 0,
        }
    }
}

impl JwkSet {
    /// An empty set: a verifier with it refuses every token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`.
    #[must_use]
    pub fn with_key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Reads a JWK set document, symmetric (`oct`) keys included: use it for
    /// a set you configure yourself. See the type's docs for what is kept.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidJwkSet`] when the text is not a JSON object with a
    /// `keys` array, [`KeyError::InvalidJwk`] (or another [`KeyError`]) for
    /// a malformed key of a known type.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        Self::parse(json.as_bytes(), true)
    }

    /// Reads a JWK set document that anybody can read (one fetched from a
    /// URL): its symmetric `oct` keys are skipped, because a secret that is
    /// published is no secret, and a token signed with it proves nothing.
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json).
    pub fn from_public_json(json: &[u8]) -> Result<Self, KeyError> {
        Self::parse(json, false)
    }

    fn parse(json: &[u8], secrets: bool) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(json).map_err(|_| KeyError::InvalidJwkSet)?;
        let mut set = Self::new();
        for jwk in &document.keys {
            match parse_jwk(jwk, secrets)? {
                Some(key) => set.keys.push(key),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// The keys.
    pub fn keys(&self) -> &[JwtKey] {
        &self.keys
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the document were skipped as not usable here.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether the set can decide on a token with `kid`: it has a key of that
    /// id, or the token has none. A fetched set that cannot is fetched again
    /// first (see [`JwksSource`](super::JwksSource)).
    pub(super) fn covers(&self, kid: Option<&str>) -> bool {
        kid.is_none_or(|kid| self.keys.iter().any(|key| key.kid() == Some(kid)))
    }

    /// The keys a token of `algorithm` with the header's `kid` may be
    /// checked against: keys of that algorithm with that very id first, then
    /// keys of that algorithm without an id. Without a `kid` in the token,
    /// every key of that algorithm.
    pub(super) fn candidates<'a>(
        &'a self,
        algorithm: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a JwtKey> + 'a {
        let of_algorithm = move |key: &&JwtKey| key.algorithm() == algorithm;
        let named = self
            .keys
            .iter()
            .filter(of_algorithm)
            .filter(move |key| kid.is_some() && key.kid() == kid);
        let others = self
            .keys
            .iter()
            .filter(of_algorithm)
            .filter(move |key| kid.is_none() || key.kid().is_none());
        named.chain(others)
    }
}

/// One JWK: `Ok(None)` when it is to be skipped.
fn parse_jwk(jwk: &serde_json::Value, secrets: bool) -> Result<Option<JwtKey>, KeyError> {
    let object = jwk
        .as_object()
        .ok_or(KeyError::InvalidJwk("not a JSON object"))?;
    let text = |name: &str| -> Result<Option<&str>, KeyError> {
        match object.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(value)) => Ok(Some(value.as_str())),
            Some(_) => Err(KeyError::InvalidJwk(
                "a member that must be a string is not",
            )),
        }
    };
    if text("use")?.is_some_and(|usage| usage != "sig") {
        return Ok(None);
    }
    if let Some(ops) = object.get("key_ops") {
        let verify = ops
            .as_array()
            .ok_or(KeyError::InvalidJwk("key_ops is not an array"))?
            .iter()
            .any(|op| op == "verify");
        if !verify {
            return Ok(None);
        }
    }
    let Some(kty) = text("kty")? else {
        return Err(KeyError::InvalidJwk("no kty"));
    };
    let alg = match text("alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => return Ok(None),
        },
    };
    let bytes = |name: &str| -> Result<Vec<u8>, KeyError> {
        let value = text(name)?.ok_or(KeyError::InvalidJwk("a key parameter is missing"))?;
        Base64UrlUnpadded::decode_vec(value)
            .map_err(|_| KeyError::InvalidJwk("a key parameter is not base64url"))
    };
    let material = match kty {
        "EC" => {
            let (expected, size) = match text("crv")? {
                Some("P-256") => (Algorithm::Es256, 32),
                Some("P-384") => (Algorithm::Es384, 48),
                Some("P-521") => (Algorithm::Es512, 66),
                _ => return Ok(None),
            };
            if alg.is_some_and(|alg| alg != expected) {
                return Err(KeyError::InvalidJwk("alg does not match the curve"));
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != size || y.len() != size {
                return Err(KeyError::InvalidJwk("a coordinate has the wrong length"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let not_on_curve = |_| KeyError::InvalidJwk("the point is not on the curve");
            match expected {
                Algorithm::Es256 => Material::Es256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(not_on_curve)?,
                ),
                Algorithm::Es384 => Material::Es384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(not_on_curve)?,
                ),
                _ => Material::Es512(
                    p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(not_on_curve)?,
                ),
            }
        }
        "OKP" => {
            if text("crv")? != Some("Ed25519") {
                return Ok(None);
            }
            if alg.is_some_and(|alg| alg != Algorithm::EdDsa) {
                return Err(KeyError::InvalidJwk("alg does not match the curve"));
            }
            let x: [u8; 32] = bytes("x")?
                .try_into()
                .map_err(|_| KeyError::InvalidJwk("x has the wrong length"))?;
            Material::EdDsa(
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| KeyError::InvalidJwk("x is not an Ed25519 point"))?,
            )
        }
        "RSA" => {
            let algorithm = alg.unwrap_or(Algorithm::Rs256);
            if !algorithm.is_rsa() {
                return Err(KeyError::InvalidJwk("alg does not match the key type"));
            }
            let (n, e) = (bytes("n")?, bytes("e")?);
            // Sizes are checked before any arithmetic on the numbers.
            let n = strip_leading_zeros(&n);
            if n.len() * 8 > RSA_MAX_BITS || n.len() * 8 < RSA_MIN_BITS {
                return Err(KeyError::RsaKeySize);
            }
            let e = strip_leading_zeros(&e);
            if e.is_empty() || e.len() > 8 {
                return Err(KeyError::InvalidJwk("not a valid RSA public exponent"));
            }
            let key = rsa::PublicKey::new_with_size_limits(
                rsa::BoxedUint::from_be_slice_vartime(n),
                rsa::BoxedUint::from_be_slice_vartime(e),
                RSA_MIN_BITS..=RSA_MAX_BITS,
            )
            .map_err(|_| KeyError::InvalidJwk("not a valid RSA public key"))?;
            rsa_material(algorithm, key)?
        }
        "oct" => {
            if !secrets {
                return Ok(None);
            }
            if alg.is_some_and(|alg| alg != Algorithm::Hs256) {
                return Err(KeyError::InvalidJwk("alg does not match the key type"));
            }
            let mut key = JwtKey::hs256(bytes("k")?)?;
            key.kid = text("kid")?.map(Into::into);
            return Ok(Some(key));
        }
        _ => return Ok(None),
    };
    let mut key = JwtKey::with_material(material);
    key.kid = text("kid")?.map(Into::into);
    Ok(Some(key))
}

/// A big-endian number without its leading zero bytes.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}
