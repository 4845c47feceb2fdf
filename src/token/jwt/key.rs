//! [`JwtKey`]: one verification key, bound to one [`Algorithm`].

use std::fmt;

use ed25519_dalek::pkcs8::DecodePublicKey as _;
use hmac::{KeyInit as _, Mac as _};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Sha256, Sha384, Sha512};

/// The signature algorithms a [`JwtVerifier`](super::JwtVerifier) knows,
/// by their JWS names (RFC 7518, RFC 8037): the ones OpenID Connect
/// providers sign ID tokens with, and HS256 for shared secrets.
///
/// `none` is not one of them, and never will be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `HS256`: HMAC with SHA-256 and a shared secret (what rstream's
    /// self-hosted engine signs with).
    Hs256,
    /// `ES256`: ECDSA on P-256 with SHA-256.
    Es256,
    /// `ES384`: ECDSA on P-384 with SHA-384.
    Es384,
    /// `ES512`: ECDSA on P-521 with SHA-512 (rstream application tokens).
    Es512,
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 to 8192 bits.
    Rs256,
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384, keys of 2048 to 8192 bits.
    Rs384,
    /// `RS512`: RSASSA-PKCS1-v1_5 with SHA-512, keys of 2048 to 8192 bits.
    Rs512,
    /// `PS256`: RSASSA-PSS with SHA-256 (MGF1 with SHA-256, a salt as long
    /// as the hash), keys of 2048 to 8192 bits.
    Ps256,
    /// `PS384`: RSASSA-PSS with SHA-384, keys of 2048 to 8192 bits.
    Ps384,
    /// `PS512`: RSASSA-PSS with SHA-512, keys of 2048 to 8192 bits.
    Ps512,
    /// `EdDSA` with Ed25519 (RFC 8037).
    EdDsa,
}

impl Algorithm {
    /// Every algorithm, `HS256` first.
    pub const ALL: [Algorithm; 11] = [
        Algorithm::Hs256,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::EdDsa,
    ];

    /// The JWS name: `HS256`, `ES256`, `ES384`, `ES512`, `RS256`, `RS384`,
    /// `RS512`, `PS256`, `PS384`, `PS512` or `EdDSA`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// Whether the algorithm checks a shared secret (`HS256`) rather than a
    /// public key's signature. A symmetric token proves only that its signer
    /// knows the secret: never accept one from a party that publishes its
    /// keys (an OpenID provider's ID tokens are checked with asymmetric
    /// algorithms only).
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::Hs256)
    }

    /// Whether this is an RSA algorithm (`RS*`, `PS*`).
    pub(super) const fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::Rs256
                | Algorithm::Rs384
                | Algorithm::Rs512
                | Algorithm::Ps256
                | Algorithm::Ps384
                | Algorithm::Ps512
        )
    }

    /// The algorithm a JWS `alg` names, compared exactly (JWS names are
    /// case-sensitive); `None` for `none` and every name not listed.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key was refused when it was configured.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret shorter than the hash output (32 bytes for `HS256`;
    /// RFC 7518, section 3.2).
    SecretTooShort,
    /// A PEM or DER public key that could not be read as a key for the
    /// algorithm it was given for (a P-256 key for `ES512`, a private key, a
    /// certificate, …).
    InvalidPublicKey,
    /// An RSA key smaller than 2048 bits or larger than 8192.
    RsaKeySize,
    /// The algorithm takes no key of this form (a PEM key for `HS256`: use
    /// [`JwtKey::hs256`]).
    WrongKeyForm,
    /// A JWK that is not a usable signature verification key; the text says
    /// why.
    InvalidJwk(&'static str),
    /// A JWK set that is not a JSON object with a `keys` array.
    InvalidJwkSet,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::SecretTooShort => {
                f.write_str("an HS256 secret must be at least 32 bytes long")
            }
            KeyError::InvalidPublicKey => {
                f.write_str("not a public key for the algorithm it was given for")
            }
            KeyError::RsaKeySize => f.write_str("RSA keys must be 2048 to 8192 bits long"),
            KeyError::WrongKeyForm => {
                f.write_str("this algorithm takes no key of this form (HS256 takes a secret)")
            }
            KeyError::InvalidJwk(why) => write!(f, "invalid JWK: {why}"),
            KeyError::InvalidJwkSet => {
                f.write_str("a JWK set must be a JSON object with a \"keys\" array")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// The smallest RSA modulus accepted, in bits.
pub(super) const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits.
pub(super) const RSA_MAX_BITS: usize = 8192;

/// Key material, one form per algorithm.
#[derive(Clone)]
pub(super) enum Material {
    Hs256(hmac::Hmac<Sha256>),
    Es256(p256::ecdsa::VerifyingKey),
    Es384(p384::ecdsa::VerifyingKey),
    Es512(p521::ecdsa::VerifyingKey),
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
    Rs384(rsa::pkcs1v15::VerifyingKey<Sha384>),
    Rs512(rsa::pkcs1v15::VerifyingKey<Sha512>),
    Ps256(rsa::pss::VerifyingKey<Sha256>),
    Ps384(rsa::pss::VerifyingKey<Sha384>),
    Ps512(rsa::pss::VerifyingKey<Sha512>),
    EdDsa(ed25519_dalek::VerifyingKey),
}

/// One key a [`JwtVerifier`](super::JwtVerifier) verifies signatures with,
/// bound to one [`Algorithm`] and optionally named by a key id (`kid`).
///
/// A key only ever verifies tokens of its own algorithm: a token whose
/// header says `HS256` is never checked against an `ES512` public key (the
/// classic key-confusion attack needs exactly that), and `alg: none` matches
/// no key. Public keys are read from PEM or DER (SubjectPublicKeyInfo, or
/// PKCS#1 for RSA) or from a JWK ([`JwkSet`](super::JwkSet)); secrets are
/// bytes. `Debug` never shows key material.
///
/// ```
/// use rstream_well_known::jwt::{Algorithm, JwtKey};
///
/// let secret = JwtKey::hs256(b"a shared secret of 32 bytes or more!")?.with_kid("engine-1");
/// assert_eq!(secret.algorithm(), Algorithm::Hs256);
/// assert_eq!(secret.kid(), Some("engine-1"));
///
/// let pem = "-----BEGIN PUBLIC KEY-----
/// MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
/// -----END PUBLIC KEY-----";
/// let eddsa = JwtKey::from_pem(Algorithm::EdDsa, pem)?;
/// assert_eq!(eddsa.kid(), None);
/// # Ok::<(), rstream_well_known::jwt::KeyError>(())
/// ```
#[derive(Clone)]
pub struct JwtKey {
    pub(super) material: Material,
    pub(super) kid: Option<Box<str>>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// An `HS256` secret. RFC 7518 requires at least as many bytes as the
    /// hash output: 32.
    ///
    /// # Errors
    ///
    /// [`KeyError::SecretTooShort`] for fewer than 32 bytes.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        if secret.len() < 32 {
            return Err(KeyError::SecretTooShort);
        }
        let mac =
            hmac::Hmac::<Sha256>::new_from_slice(secret).map_err(|_| KeyError::SecretTooShort)?;
        Ok(Self::with_material(Material::Hs256(mac)))
    }

    /// A public key for `algorithm` in PEM: `-----BEGIN PUBLIC KEY-----`
    /// (SubjectPublicKeyInfo) for every algorithm, or
    /// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1) for the RSA algorithms
    /// (`RS*`, `PS*`).
    ///
    /// # Errors
    ///
    /// [`KeyError::WrongKeyForm`] for `HS256`,
    /// [`KeyError::InvalidPublicKey`] when the text is not such a key for
    /// that algorithm, [`KeyError::RsaKeySize`] for an RSA key outside 2048 to
    /// 8192 bits.
    pub fn from_pem(algorithm: Algorithm, pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        let invalid = |_| KeyError::InvalidPublicKey;
        let material = match algorithm {
            Algorithm::Hs256 => return Err(KeyError::WrongKeyForm),
            Algorithm::Es256 => Material::Es256(
                p256::ecdsa::VerifyingKey::from_public_key_pem(pem).map_err(invalid)?,
            ),
            Algorithm::Es384 => Material::Es384(
                p384::ecdsa::VerifyingKey::from_public_key_pem(pem).map_err(invalid)?,
            ),
            Algorithm::Es512 => Material::Es512(
                p521::ecdsa::VerifyingKey::from_public_key_pem(pem).map_err(invalid)?,
            ),
            Algorithm::EdDsa => Material::EdDsa(
                ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(invalid)?,
            ),
            rsa_algorithm => {
                let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
                    rsa::PublicKey::from_pkcs1_pem(pem).map_err(|_| KeyError::InvalidPublicKey)?
                } else {
                    rsa::PublicKey::from_public_key_pem(pem).map_err(invalid)?
                };
                rsa_material(rsa_algorithm, key)?
            }
        };
        Ok(Self::with_material(material))
    }

    /// A public key for `algorithm` in DER: SubjectPublicKeyInfo for every
    /// algorithm, or PKCS#1 `RSAPublicKey` for the RSA algorithms.
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem).
    pub fn from_der(algorithm: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let invalid = |_| KeyError::InvalidPublicKey;
        let material = match algorithm {
            Algorithm::Hs256 => return Err(KeyError::WrongKeyForm),
            Algorithm::Es256 => Material::Es256(
                p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(invalid)?,
            ),
            Algorithm::Es384 => Material::Es384(
                p384::ecdsa::VerifyingKey::from_public_key_der(der).map_err(invalid)?,
            ),
            Algorithm::Es512 => Material::Es512(
                p521::ecdsa::VerifyingKey::from_public_key_der(der).map_err(invalid)?,
            ),
            Algorithm::EdDsa => Material::EdDsa(
                ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(invalid)?,
            ),
            rsa_algorithm => {
                let key = match rsa::PublicKey::from_public_key_der(der) {
                    Ok(key) => key,
                    Err(_) => rsa::PublicKey::from_pkcs1_der(der)
                        .map_err(|_| KeyError::InvalidPublicKey)?,
                };
                rsa_material(rsa_algorithm, key)?
            }
        };
        Ok(Self::with_material(material))
    }

    pub(super) fn with_material(material: Material) -> Self {
        Self {
            material,
            kid: None,
        }
    }

    /// Names the key: a token whose header carries a `kid` is only checked
    /// against the keys of that id (and against keys without an id).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into().into_boxed_str());
        self
    }

    /// The key id, when the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            Material::Hs256(_) => Algorithm::Hs256,
            Material::Es256(_) => Algorithm::Es256,
            Material::Es384(_) => Algorithm::Es384,
            Material::Es512(_) => Algorithm::Es512,
            Material::Rs256(_) => Algorithm::Rs256,
            Material::Rs384(_) => Algorithm::Rs384,
            Material::Rs512(_) => Algorithm::Rs512,
            Material::Ps256(_) => Algorithm::Ps256,
            Material::Ps384(_) => Algorithm::Ps384,
            Material::Ps512(_) => Algorithm::Ps512,
            Material::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// Whether `signature` is this key's signature of `message`. Signatures
    /// must have their algorithm's exact JWS form and length (ECDSA: `r ‖ s`,
    /// not DER); HMAC tags are compared in constant time; Ed25519 is
    /// verified strictly (no small-order keys, canonical `s`).
    pub(super) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(message);
                mac.verify_slice(signature).is_ok()
            }
            Material::Es256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Material::Es384(key) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Material::Es512(key) => p521::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Material::Rs256(key) => pkcs1v15_verifies(key, message, signature),
            Material::Rs384(key) => pkcs1v15_verifies(key, message, signature),
            Material::Rs512(key) => pkcs1v15_verifies(key, message, signature),
            Material::Ps256(key) => pss_verifies(key, message, signature),
            Material::Ps384(key) => pss_verifies(key, message, signature),
            Material::Ps512(key) => pss_verifies(key, message, signature),
            Material::EdDsa(key) => <&[u8; 64]>::try_from(signature).is_ok_and(|bytes| {
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(bytes))
                    .is_ok()
            }),
        }
    }
}

/// An RSA key for `algorithm` (one of `RS*`, `PS*`), once its size is
/// checked.
pub(super) fn rsa_material(
    algorithm: Algorithm,
    key: rsa::PublicKey,
) -> Result<Material, KeyError> {
    let bits = key.n().bit_width_vartime() as usize;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(KeyError::RsaKeySize);
    }
    Ok(match algorithm {
        Algorithm::Rs384 => Material::Rs384(rsa::pkcs1v15::VerifyingKey::new(key)),
        Algorithm::Rs512 => Material::Rs512(rsa::pkcs1v15::VerifyingKey::new(key)),
        Algorithm::Ps256 => Material::Ps256(rsa::pss::VerifyingKey::new(key)),
        Algorithm::Ps384 => Material::Ps384(rsa::pss::VerifyingKey::new(key)),
        Algorithm::Ps512 => Material::Ps512(rsa::pss::VerifyingKey::new(key)),
        Algorithm::Rs256 => Material::Rs256(rsa::pkcs1v15::VerifyingKey::new(key)),
        Algorithm::Hs256
        | Algorithm::Es256
        | Algorithm::Es384
        | Algorithm::Es512
        | Algorithm::EdDsa => {
            return Err(KeyError::WrongKeyForm);
        }
    })
}

/// Whether `signature` is a PKCS #1 v1.5 signature of `message` by `key`.
fn pkcs1v15_verifies<D>(
    key: &rsa::pkcs1v15::VerifyingKey<D>,
    message: &[u8],
    signature: &[u8],
) -> bool
where
    D: sha2::Digest + rsa::pkcs1v15::RsaSignatureAssociatedOid,
{
    rsa::pkcs1v15::Signature::try_from(signature)
        .is_ok_and(|signature| key.verify(message, &signature).is_ok())
}

/// Whether `signature` is a PSS signature of `message` by `key` (salt as
/// long as the hash, as RFC 7518 section 3.5 requires).
fn pss_verifies<D>(key: &rsa::pss::VerifyingKey<D>, message: &[u8], signature: &[u8]) -> bool
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    rsa::pss::Signature::try_from(signature)
        .is_ok_and(|signature| key.verify(message, &signature).is_ok())
}
