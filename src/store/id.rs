//! [`SessionId`]: the secret value of the session cookie.

use std::fmt;

/// The longest session id the layer accepts from a cookie, in bytes.
pub(crate) const MAX_SESSION_ID_LEN: usize = 256;

/// A session id: the secret value of the session cookie.
///
/// Ids are cookie-safe ASCII (RFC 6265 `cookie-octet`s), 1 to 256 bytes long.
/// `Debug` never prints the value, so ids can sit in structures that get
/// logged; [`SessionId::expose`] is the one way to read it. Ids of up to 64
/// bytes (those of [`SessionId::generate`] included) are stored inline, so
/// reading one from a cookie allocates nothing.
#[derive(Clone)]
pub struct SessionId(Repr);

/// How many bytes an id may have to be stored inline.
const INLINE: usize = 64;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl SessionId {
    /// A fresh id: 256 bits from the operating system's CSPRNG, as 64
    /// lower-case hex digits. Stores should mint ids with this.
    ///
    /// # Errors
    ///
    /// When the operating system's random source fails; a session must not be
    /// created with a weaker id.
    pub fn generate() -> Result<Self, std::io::Error> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        let mut bytes = [0u8; INLINE];
        crate::encoding::encode_hex(&random, &mut bytes);
        Ok(Self(Repr::Inline {
            len: INLINE as u8,
            bytes,
        }))
    }

    /// Wraps an id of a store's own format.
    ///
    /// Returns `None` when `value` is empty, longer than 256 bytes, or holds
    /// a byte a cookie value cannot carry (space, `"`, `,`, `;`, `\`,
    /// controls, non-ASCII).
    pub fn new(value: &str) -> Option<Self> {
        is_valid_id(value.as_bytes()).then(|| Self::from_valid(value.as_bytes()))
    }

    /// Wraps a value already checked with [`is_valid_id`] (so ASCII).
    pub(crate) fn from_valid(value: &[u8]) -> Self {
        // The length of generated ids: one copy, nothing to zero first.
        if let Ok(bytes) = <[u8; INLINE]>::try_from(value) {
            return Self(Repr::Inline {
                len: INLINE as u8,
                bytes,
            });
        }
        let mut bytes = [0u8; INLINE];
        match bytes.get_mut(..value.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(value);
                Self(Repr::Inline {
                    // At most 64.
                    len: value.len() as u8,
                    bytes,
                })
            }
            None => Self(Repr::Heap(
                String::from_utf8_lossy(value).into_owned().into_boxed_str(),
            )),
        }
    }

    /// The id itself. It is a secret: do not log it.
    pub fn expose(&self) -> &str {
        match &self.0 {
            // Only valid ids are stored, and they are ASCII.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(value) => value,
        }
    }

    /// The id's bytes (ASCII). A secret, like [`expose`](Self::expose).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(value) => value.as_bytes(),
        }
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SessionId {}

impl std::hash::Hash for SessionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes: the bytes, then a terminator.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

/// RFC 6265 `cookie-octet`s, 1 to [`MAX_SESSION_ID_LEN`] of them.
fn is_valid_id(value: &[u8]) -> bool {
    (1..=MAX_SESSION_ID_LEN).contains(&value.len()) && octet_run(value) == value.len()
}

/// How many bytes at the start of `bytes` are RFC 6265 `cookie-octet`s.
///
/// Sixteen bytes at a time: this runs on every request that carries the
/// session cookie. The test of a block is written so that the compiler
/// makes it a few vector instructions (comparisons and an OR across the
/// block); the block holding the first byte that fails is then looked at
/// byte by byte.
pub(crate) fn octet_run(bytes: &[u8]) -> usize {
    let mut blocks = bytes.chunks_exact(16);
    let mut at = 0;
    for block in &mut blocks {
        let mut bad = false;
        for &b in block {
            bad |= !is_octet(b);
        }
        if bad {
            return at + block.iter().take_while(|&&b| is_octet(b)).count();
        }
        at += 16;
    }
    at + blocks
        .remainder()
        .iter()
        .take_while(|&&b| is_octet(b))
        .count()
}

/// RFC 6265 `cookie-octet`: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`,
/// as arithmetic that maps onto vector instructions (a table lookup does
/// not): in 0x21 to 0x7E, and none of the four excluded bytes (one of the
/// XORs is zero exactly when it is one of them).
#[inline(always)]
fn is_octet(b: u8) -> bool {
    let excluded = (b ^ b'"').min(b ^ b',').min(b ^ b';').min(b ^ b'\\');
    (b.wrapping_sub(0x21) < 0x5e) & (excluded != 0)
}

/// RFC 6265 `cookie-octet`: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`, as
/// a table: what the tests check [`is_octet`] against.
#[cfg(test)]
static COOKIE_OCTETS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        table[b] = !matches!(b, 0x22 | 0x2c | 0x3b | 0x5c);
        b += 1;
    }
    table
};

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_long_hex_and_distinct() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "SessionId(..)");
    }

    proptest::proptest! {
        #[test]
        fn the_word_check_agrees_with_the_table(value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let expected = (1..=MAX_SESSION_ID_LEN).contains(&value.len())
                && value.iter().all(|&b| COOKIE_OCTETS[usize::from(b)]);
            proptest::prop_assert_eq!(is_valid_id(&value), expected);
        }

        #[test]
        fn the_octet_run_agrees_with_the_table(value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let expected = value.iter().take_while(|&&b| COOKIE_OCTETS[usize::from(b)]).count();
            proptest::prop_assert_eq!(octet_run(&value), expected);
        }

        #[test]
        fn cookie_safe_words_pass(value in "[!#-+\\--:<-\\[\\]-~]{1,40}") {
            proptest::prop_assert!(is_valid_id(value.as_bytes()));
        }
    }

    #[test]
    fn the_octet_run_stops_at_the_first_non_octet_wherever_it_is() {
        for b in 0..=255u8 {
            for at in 0..20 {
                let mut value = vec![b'a'; 20];
                value[at] = b;
                let expected = if COOKIE_OCTETS[usize::from(b)] {
                    20
                } else {
                    at
                };
                assert_eq!(octet_run(&value), expected, "byte {b:#04x} at {at}");
            }
        }
    }

    #[test]
    fn ids_must_be_cookie_safe() {
        for bad in [
            "",
            "a b",
            "a;b",
            "a,b",
            "a\"b",
            "a\\b",
            "é",
            &"x".repeat(257),
        ] {
            assert!(SessionId::new(bad).is_none(), "{bad:?}");
        }
        assert!(SessionId::new("abc-DEF_123.~!").is_some());
    }
}
