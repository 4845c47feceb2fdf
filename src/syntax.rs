//! Small pieces of HTTP and URI grammar shared by the parsers.

use crate::encoding::hex_value;

/// `0x01` in every byte of a word: `ONES * c` is `c` in every byte.
pub(crate) const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// The high bit of every byte of a word.
pub(crate) const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);

/// The eight bytes of `bytes` from `at` on, as a little-endian word (the
/// byte at `at` lowest), for the scans that look at eight bytes at a time.
/// Panics if fewer than eight bytes are left: callers check first.
#[inline(always)]
pub(crate) fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Strips optional whitespace (spaces and tabs) from both ends.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let mut bytes = trim_end_ows(bytes);
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// Strips optional whitespace (spaces and tabs) from the end.
pub(crate) fn trim_end_ows(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The byte a percent-escape at `bytes[at]` stands for: `Some` only when a
/// `%` there is followed by two hex digits.
pub(crate) fn percent_escape(bytes: &[u8], at: usize) -> Option<u8> {
    match bytes.get(at..at + 3)? {
        [b'%', hi, lo] => Some(hex_value(*hi)? << 4 | hex_value(*lo)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_need_two_hex_digits() {
        assert_eq!(percent_escape(b"%2F", 0), Some(b'/'));
        assert_eq!(percent_escape(b"a%2e", 1), Some(b'.'));
        assert_eq!(percent_escape(b"%Ff", 0), Some(0xff));
        for bad in [&b"%2"[..], b"%zz", b"%g0", b"2F", b"%"] {
            assert_eq!(percent_escape(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn ows_is_spaces_and_tabs() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_end_ows(b" a \t"), b" a");
        assert_eq!(trim_ows(b" \t "), b"");
    }
}
