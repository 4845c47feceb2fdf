//! Pending sign-ins, sealed into cookies that travel with the browser: what
//! the start endpoint hands the callback, kept nowhere on the server.
//!
//! A pending sign-in is one cookie, named after its state, whose value is
//! the flow sealed with XChaCha20-Poly1305 under the first [`FlowKey`]:
//!
//! ```text
//! base64url( version (1) | key id (4) | length (2, big-endian) | nonce (24) | ciphertext | tag (16) )
//! ```
//!
//! The version, key id and length are authenticated with the cookie's name
//! as associated data, so a value moved under another name does not open.
//! The length is the whole sealed value's, so that a value cut short is told
//! apart from one that was changed.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use chacha20poly1305::aead::{AeadInOut as _, KeyInit as _};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The first byte of a sealed flow: the format's version.
const VERSION: u8 = 1;
/// Version, key id and length.
const HEADER_LEN: usize = 1 + 4 + 2;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The longest return path a flow carries: with it, a flow cookie stays
/// well under the 4,096 bytes browsers keep per cookie.
pub(crate) const MAX_RETURN_TO_LEN: usize = 1024;

/// A key that seals pending sign-ins into cookies: 32 bytes, for
/// XChaCha20-Poly1305.
///
/// Give every instance that may finish a sign-in the same keys
/// ([`OidcConfig::flow_keys`](super::OidcConfig::flow_keys)). Its `Debug`
/// output shows only the key's id (the first bytes of a SHA-256 digest of
/// the key), never the key.
///
/// ```
/// use rstream_well_known::oidc::FlowKey;
///
/// let key = FlowKey::from_hex(&"5a".repeat(32))?;
/// assert!(!format!("{key:?}").contains("5a5a"));
/// assert!(FlowKey::from_hex("not hex").is_err());
/// # Ok::<(), rstream_well_known::oidc::FlowKeyError>(())
/// ```
#[derive(Clone)]
pub struct FlowKey {
    key: [u8; 32],
}

impl FlowKey {
    /// A key of these 32 bytes (from a secret store, or 32 random bytes).
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A key of 32 random bytes from the operating system.
    ///
    /// # Panics
    ///
    /// When the operating system has no randomness to give (a predictable
    /// key must never be used).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random number generator failed");
        Self { key }
    }

    /// A key written as 64 hexadecimal digits (either case).
    ///
    /// # Errors
    ///
    /// [`FlowKeyError`] for anything else: another length, or a character
    /// that is not a hexadecimal digit.
    pub fn from_hex(hex: &str) -> Result<Self, FlowKeyError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(FlowKeyError::Length(hex.len()));
        }
        let mut key = [0u8; 32];
        if !crate::encoding::decode_hex(hex.as_bytes(), &mut key) {
            return Err(FlowKeyError::NotHex);
        }
        Ok(Self { key })
    }

    /// The key's id: the first four bytes of SHA-256 over a label and the
    /// key. Sealed flows carry it, so that a flow sealed with a key this
    /// instance lacks is told apart from a changed one.
    fn id(&self) -> [u8; 4] {
        let digest = Sha256::new()
            .chain_update(b"rstream-well-known oidc flow key id\0")
            .chain_update(self.key)
            .finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id();
        write!(
            f,
            "FlowKey {{ id: {:02x}{:02x}{:02x}{:02x}, key: <redacted> }}",
            id[0], id[1], id[2], id[3]
        )
    }
}

/// Why [`FlowKey::from_hex`] refused a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowKeyError {
    /// The key is not 64 characters long (this many, after trimming).
    Length(usize),
    /// A character is not a hexadecimal digit.
    NotHex,
}

impl fmt::Display for FlowKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowKeyError::Length(len) => write!(
                f,
                "a flow key is 64 hexadecimal digits (32 bytes), not {len} characters"
            ),
            FlowKeyError::NotHex => {
                f.write_str("a flow key is 64 hexadecimal digits (0-9, a-f), and this has others")
            }
        }
    }
}

impl std::error::Error for FlowKeyError {}

/// The keys that open pending sign-ins; the first also seals them.
#[derive(Clone)]
pub(crate) struct FlowKeys {
    keys: Vec<([u8; 4], XChaCha20Poly1305)>,
}

impl FlowKeys {
    /// `keys`, at least one.
    pub(crate) fn new(keys: &[FlowKey]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|key| (key.id(), XChaCha20Poly1305::new(&key.key.into())))
                .collect(),
        }
    }

    /// `flow` sealed under the first key, for the cookie `name`.
    pub(crate) fn seal(&self, name: &str, flow: &Pending) -> String {
        let (id, cipher) = &self.keys[0];
        let plaintext = serde_json::to_vec(flow).unwrap_or_default();
        let len = HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random number generator failed");
        let header = header(*id, len);
        let mut buffer = plaintext;
        // Only a buffer that cannot grow fails; a `Vec` grows.
        cipher
            .encrypt_in_place(&XNonce::from(nonce), &aad(&header, name), &mut buffer)
            .expect("sealing into a growable buffer");
        let mut sealed = Vec::with_capacity(len);
        sealed.extend_from_slice(&header);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buffer);
        Base64UrlUnpadded::encode_string(&sealed)
    }

    /// The flow sealed in `value`, the value of the cookie `name`.
    pub(crate) fn open(&self, name: &str, value: &[u8]) -> Result<Pending, OpenError> {
        let text = std::str::from_utf8(value).map_err(|_| OpenError::Malformed)?;
        let sealed = Base64UrlUnpadded::decode_vec(text).map_err(|_| {
            // Base64url that does not decode was cut at a length or a last
            // character a sealed value never has.
            let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
            if value.iter().all(|&b| alphabet(b)) {
                OpenError::Truncated
            } else {
                OpenError::Malformed
            }
        })?;
        let Some((head, rest)) = sealed.split_first_chunk::<HEADER_LEN>() else {
            return Err(OpenError::Truncated);
        };
        if head[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let declared = usize::from(u16::from_be_bytes([head[5], head[6]]));
        if sealed.len() < declared || sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(OpenError::Truncated);
        }
        let id = [head[1], head[2], head[3], head[4]];
        let Some((_, cipher)) = self.keys.iter().find(|(key_id, _)| *key_id == id) else {
            return Err(OpenError::UnknownKey);
        };
        if sealed.len() != declared {
            return Err(OpenError::Tampered);
        }
        let Some((nonce, ciphertext)) = rest.split_first_chunk::<NONCE_LEN>() else {
            return Err(OpenError::Truncated);
        };
        let mut buffer = ciphertext.to_vec();
        cipher
            .decrypt_in_place(&XNonce::from(*nonce), &aad(head, name), &mut buffer)
            .map_err(|_| OpenError::Tampered)?;
        // Sealed by this code: anything else was not.
        serde_json::from_slice(&buffer).map_err(|_| OpenError::Tampered)
    }
}

fn header(id: [u8; 4], len: usize) -> [u8; HEADER_LEN] {
    // A flow is far below 64 KiB (its return path is capped).
    let len = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    [VERSION, id[0], id[1], id[2], id[3], len[0], len[1]]
}

fn aad(header: &[u8; HEADER_LEN], name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + name.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Why a flow cookie did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Not a sealed flow at all: not base64url, or another format.
    Malformed,
    /// Shorter than it says it is, or than any sealed flow.
    Truncated,
    /// Sealed with a key this instance does not have.
    UnknownKey,
    /// Changed after it was sealed (or sealed for another cookie).
    Tampered,
}

impl OpenError {
    /// The reason answered for it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            OpenError::Malformed => "flow_cookie_malformed",
            OpenError::Truncated => "flow_cookie_truncated",
            OpenError::UnknownKey => "flow_cookie_unknown_key",
            OpenError::Tampered => "flow_cookie_tampered",
        }
    }
}

/// One sign-in between its start and its callback, as sealed.
#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The `state` sent to the provider.
    #[serde(rename = "s")]
    pub(crate) state: String,
    /// The PKCE code verifier.
    #[serde(rename = "v")]
    pub(crate) verifier: String,
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    /// Where the browser goes once signed in: a safe path.
    #[serde(rename = "r")]
    pub(crate) return_to: String,
    /// The origin of the tunnel the sign-in started on.
    #[serde(rename = "o")]
    pub(crate) origin: String,
    /// When the flow expires, in microseconds since the Unix epoch: fine
    /// enough to order the starts of one browser (the oldest goes first).
    #[serde(rename = "e")]
    pub(crate) expires_us: u64,
    /// The browser binding: the value of the binding cookie the browser
    /// held when the flow started.
    #[serde(rename = "b")]
    pub(crate) binding: String,
}

impl Pending {
    /// Whether the flow has expired at `now`.
    pub(crate) fn expired_at(&self, now: SystemTime) -> bool {
        micros(now) >= self.expires_us
    }
}

/// `at` in microseconds since the Unix epoch (0 before it).
pub(crate) fn micros(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// `ttl` from `now`, in microseconds since the Unix epoch.
pub(crate) fn expiry(now: SystemTime, ttl: Duration) -> u64 {
    micros(now).saturating_add(u64::try_from(ttl.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Pending {
        Pending {
            state: "s".repeat(43),
            verifier: "v".repeat(43),
            nonce: "n".repeat(43),
            return_to: "/orders?page=2".to_owned(),
            origin: "https://app.example.com".to_owned(),
            expires_us: expiry(SystemTime::now(), Duration::from_secs(600)),
            binding: "b".repeat(43),
        }
    }

    fn keys(bytes: &[u8]) -> FlowKeys {
        FlowKeys::new(
            &bytes
                .iter()
                .map(|b| FlowKey::new([*b; 32]))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_sealed_flow_opens_with_any_of_the_keys_under_its_name_only() {
        let sealed = keys(&[1]).seal("c", &flow());
        let opened = keys(&[2, 1]).open("c", sealed.as_bytes()).unwrap();
        assert_eq!(opened.return_to, "/orders?page=2");
        assert_eq!(opened.state, "s".repeat(43));
        assert_eq!(
            keys(&[1]).open("d", sealed.as_bytes()).err(),
            Some(OpenError::Tampered),
            "moved under another name"
        );
        assert_eq!(
            keys(&[2]).open("c", sealed.as_bytes()).err(),
            Some(OpenError::UnknownKey)
        );
        // Two seals of one flow differ (a fresh nonce each time).
        assert_ne!(sealed, keys(&[1]).seal("c", &flow()));
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let keys = keys(&[7]);
        let sealed = keys.seal("c", &flow());
        for cut in [1, 10, 30, sealed.len() / 2, sealed.len() - 1] {
            let err = keys.open("c", &sealed.as_bytes()[..sealed.len() - cut]);
            assert!(
                matches!(err, Err(OpenError::Truncated | OpenError::Malformed)),
                "cut {cut}: {:?}",
                err.err()
            );
        }
        // Every byte flipped, one at a time: never opens.
        let raw = Base64UrlUnpadded::decode_vec(&sealed).unwrap();
        for at in 0..raw.len() {
            let mut changed = raw.clone();
            changed[at] ^= 0x01;
            let value = Base64UrlUnpadded::encode_string(&changed);
            assert!(keys.open("c", value.as_bytes()).is_err(), "byte {at}");
        }
        let mut changed = raw.clone();
        let last = changed.len() - 1;
        changed[last] ^= 0x80;
        let value = Base64UrlUnpadded::encode_string(&changed);
        assert_eq!(
            keys.open("c", value.as_bytes()).err(),
            Some(OpenError::Tampered)
        );
        assert_eq!(
            keys.open("c", b"not base64!").err(),
            Some(OpenError::Malformed)
        );
        assert_eq!(keys.open("c", b"").err(), Some(OpenError::Truncated));
    }

    #[test]
    fn a_key_is_never_printed() {
        let key = FlowKey::new([0xab; 32]);
        let printed = format!("{key:?}");
        assert!(!printed.contains("abab"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn hex_keys_are_read_exactly() {
        let key = FlowKey::from_hex(&"0f".repeat(32)).unwrap();
        assert_eq!(key.key, [0x0f; 32]);
        let upper = FlowKey::from_hex(&"AB".repeat(32)).unwrap();
        assert_eq!(upper.key, [0xab; 32]);
        assert_eq!(
            FlowKey::from_hex(&"0f".repeat(31)).err(),
            Some(FlowKeyError::Length(62))
        );
        assert_eq!(
            FlowKey::from_hex(&"zz".repeat(32)).err(),
            Some(FlowKeyError::NotHex)
        );
        // Multi-byte characters never split a pair into a panic.
        assert!(FlowKey::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn flows_expire_at_their_deadline() {
        let now = SystemTime::now();
        let mut flow = flow();
        flow.expires_us = expiry(now, Duration::from_millis(10));
        assert!(!flow.expired_at(now));
        assert!(flow.expired_at(now + Duration::from_millis(10)));
    }
}
