//! Minting JWTs in tests: test keys for every algorithm, their public halves
//! as JWKs and PEM, and tokens signed with them. Test-only keys: fixed bytes,
//! or the RSA key in `tests/fixtures/rsa_test_key.pem`.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use hmac::{KeyInit as _, Mac as _};
use p256::pkcs8::EncodePublicKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::Signer as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

/// The HS256 secret the tests share.
pub const SECRET: &[u8] = b"a test secret of at least 32 bytes, for HS256";
/// Another HS256 secret.
pub const OTHER_SECRET: &[u8] = b"another test secret of 32 bytes or more!";

/// A private key for one algorithm.
pub enum Signer {
    Hs256(Vec<u8>),
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
    Es512(p521::ecdsa::SigningKey),
    /// The RSA test key, for one of RS256/384/512, PS256/384/512.
    Rsa(&'static str, Box<rsa::PrivateKey>),
    EdDsa(ed25519_dalek::SigningKey),
}

impl Signer {
    pub fn hs256(secret: &[u8]) -> Self {
        Signer::Hs256(secret.to_vec())
    }

    /// An ES256 key from a seed byte (different seeds, different keys).
    pub fn es256(seed: u8) -> Self {
        Signer::Es256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }

    pub fn es384(seed: u8) -> Self {
        Signer::Es384(p384::ecdsa::SigningKey::from_slice(&[seed; 48]).unwrap())
    }

    pub fn es512(seed: u8) -> Self {
        let mut bytes = [seed; 66];
        bytes[0] = 0;
        Signer::Es512(p521::ecdsa::SigningKey::from_slice(&bytes).unwrap())
    }

    /// The 2048-bit RSA test key, for RS256.
    pub fn rs256() -> Self {
        Self::rsa("RS256")
    }

    /// The 2048-bit RSA test key, for `alg` (`RS256` … `PS512`).
    pub fn rsa(alg: &'static str) -> Self {
        assert!(
            ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"].contains(&alg),
            "{alg}"
        );
        let pem = include_str!("../fixtures/rsa_test_key.pem");
        Signer::Rsa(alg, Box::new(rsa::PrivateKey::from_pkcs8_pem(pem).unwrap()))
    }

    /// A signer for each asymmetric algorithm.
    pub fn asymmetric() -> Vec<Self> {
        let mut all = vec![
            Self::es256(3),
            Self::es384(3),
            Self::es512(3),
            Self::eddsa(3),
        ];
        for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
            all.push(Self::rsa(alg));
        }
        all
    }

    pub fn eddsa(seed: u8) -> Self {
        Signer::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    /// The algorithm's JWS name.
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Hs256(_) => "HS256",
            Signer::Es256(_) => "ES256",
            Signer::Es384(_) => "ES384",
            Signer::Es512(_) => "ES512",
            Signer::Rsa(alg, _) => alg,
            Signer::EdDsa(_) => "EdDSA",
        }
    }

    /// The JWS signature of `input`.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Signer::Hs256(secret) => hmac_sha256(secret, input),
            Signer::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            Signer::Es384(key) => {
                let signature: p384::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            Signer::Es512(key) => {
                let signature: p521::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            Signer::Rsa(alg, key) => {
                use rsa::{pkcs1v15, pss};
                use sha2::{Sha256, Sha384, Sha512};
                let key = (**key).clone();
                let signature: Box<[u8]> = match *alg {
                    "RS256" => pkcs1v15::SigningKey::<Sha256>::new(key).sign(input).into(),
                    "RS384" => pkcs1v15::SigningKey::<Sha384>::new(key).sign(input).into(),
                    "RS512" => pkcs1v15::SigningKey::<Sha512>::new(key).sign(input).into(),
                    "PS256" => pss::SigningKey::<Sha256>::new(key).sign(input).into(),
                    "PS384" => pss::SigningKey::<Sha384>::new(key).sign(input).into(),
                    _ => pss::SigningKey::<Sha512>::new(key).sign(input).into(),
                };
                signature.into_vec()
            }
            Signer::EdDsa(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(input).to_bytes().to_vec()
            }
        }
    }

    /// The public key as a JWK (the secret as an `oct` JWK for HS256).
    pub fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = match self {
            Signer::Hs256(secret) => json!({ "kty": "oct", "k": b64(secret) }),
            Signer::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                json!({ "kty": "EC", "crv": "P-256", "x": b64(&bytes[1..33]), "y": b64(&bytes[33..]) })
            }
            Signer::Es384(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                json!({ "kty": "EC", "crv": "P-384", "x": b64(&bytes[1..49]), "y": b64(&bytes[49..]) })
            }
            Signer::Es512(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                json!({ "kty": "EC", "crv": "P-521", "x": b64(&bytes[1..67]), "y": b64(&bytes[67..]) })
            }
            Signer::Rsa(alg, key) => {
                let n = key.n().to_be_bytes();
                let e = key.e().to_be_bytes();
                let mut jwk = json!({ "kty": "RSA", "n": b64(strip(&n)), "e": b64(strip(&e)) });
                // Only RS256 is an RSA key's algorithm without `alg`.
                if *alg != "RS256" {
                    jwk["alg"] = json!(alg);
                }
                jwk
            }
            Signer::EdDsa(key) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes()) })
            }
        };
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The public key in PEM (SubjectPublicKeyInfo); `None` for HS256.
    pub fn public_pem(&self) -> Option<String> {
        let line = p256::pkcs8::LineEnding::LF;
        Some(match self {
            Signer::Hs256(_) => return None,
            Signer::Es256(key) => key.verifying_key().to_public_key_pem(line).unwrap(),
            Signer::Es384(key) => key.verifying_key().to_public_key_pem(line).unwrap(),
            Signer::Es512(key) => key.verifying_key().to_public_key_pem(line).unwrap(),
            Signer::Rsa(_, key) => rsa::PublicKey::from(&**key)
                .to_public_key_pem(line)
                .unwrap(),
            Signer::EdDsa(key) => key.verifying_key().to_public_key_pem(line).unwrap(),
        })
    }

    /// The public key in DER (SubjectPublicKeyInfo); `None` for HS256.
    pub fn public_der(&self) -> Option<Vec<u8>> {
        Some(match self {
            Signer::Hs256(_) => return None,
            Signer::Es256(key) => key.verifying_key().to_public_key_der().unwrap().into_vec(),
            Signer::Es384(key) => key.verifying_key().to_public_key_der().unwrap().into_vec(),
            Signer::Es512(key) => key.verifying_key().to_public_key_der().unwrap().into_vec(),
            Signer::Rsa(_, key) => rsa::PublicKey::from(&**key)
                .to_public_key_der()
                .unwrap()
                .into_vec(),
            Signer::EdDsa(key) => key.verifying_key().to_public_key_der().unwrap().into_vec(),
        })
    }

    /// A token with `claims`, the header `{"alg":…,"typ":"JWT"}` plus `kid`.
    pub fn token(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({ "alg": self.alg(), "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        self.token_with_header(&header, claims)
    }

    /// A token with this exact header and claims, signed by this key.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_parts(
            &b64(header.to_string().as_bytes()),
            &b64(claims.to_string().as_bytes()),
        )
    }

    /// `header.payload.signature` for already encoded parts.
    pub fn sign_parts(&self, header: &str, payload: &str) -> String {
        let input = format!("{header}.{payload}");
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }
}

pub fn hmac_sha256(secret: &[u8], input: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

fn strip(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims for Ada, valid for five minutes.
pub fn ada_claims() -> Value {
    json!({
        "sub": "user-ada",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "picture": "https://example.com/ada.png",
        "exp": now() + 300,
    })
}

/// A JWK set document holding `jwks`.
pub fn jwk_set(jwks: &[Value]) -> String {
    json!({ "keys": jwks }).to_string()
}
