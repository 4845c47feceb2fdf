//! Hex and base64url: the one place the crate spells bytes as text and reads
//! them back.
//!
//! - Hex: lower-case digits for what the crate writes (session ids), either
//!   case read (flow keys, percent-escapes); upper-case digits for
//!   percent-encoding only, as RFC 3986 §2.1 recommends.
//! - base64url (unpadded, RFC 4648 §5): `base64ct`, constant-time, which
//!   the JWT code uses as well.

/// The digits, lower-case.
const LOWER: &[u8; 16] = b"0123456789abcdef";

/// The digits, upper-case.
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The lower-case hex digit of the low four bits of `nibble`.
pub(crate) fn hex_digit(nibble: u8) -> u8 {
    LOWER[usize::from(nibble & 0xf)]
}

/// The upper-case hex digit of the low four bits of `nibble`: for
/// percent-encoding (RFC 3986 §2.1: "should use uppercase").
pub(crate) fn hex_digit_upper(nibble: u8) -> u8 {
    UPPER[usize::from(nibble & 0xf)]
}

/// The value of one hex digit, either case.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Writes `bytes` as lower-case hex into `out`, two digits a byte; stops
/// where either ends (`out` is twice as long as `bytes` in every use).
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = hex_digit(byte >> 4);
        pair[1] = hex_digit(byte);
    }
}

/// Reads `text`, hex digits of either case, into exactly `out`: `false`
/// (and `out` unspecified) when `text` is not `2 * out.len()` hex digits.
#[cfg(feature = "oidc")]
pub(crate) fn decode_hex(text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != 2 * out.len() {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return false;
        };
        *byte = high << 4 | low;
    }
    true
}

/// `bytes` in unpadded base64url.
#[cfg(feature = "redis")]
pub(crate) fn base64url(bytes: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    Base64UrlUnpadded::encode_string(bytes)
}

/// Whether every character of `text` is of the base64url alphabet.
#[cfg(feature = "redis")]
pub(crate) fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_reads_either_case() {
        let bytes = [0x00, 0x0f, 0xa5, 0xff, 0x10];
        let mut text = [0u8; 10];
        encode_hex(&bytes, &mut text);
        assert_eq!(&text, b"000fa5ff10");
        #[cfg(feature = "oidc")]
        {
            let mut back = [0u8; 5];
            assert!(decode_hex(&text, &mut back));
            assert_eq!(back, bytes);
            assert!(decode_hex(b"000FA5FF10", &mut back));
            assert_eq!(back, bytes);
        }
        for b in 0..=255u8 {
            let expected = b.is_ascii_hexdigit().then(|| {
                u8::try_from(char::from(b).to_digit(16).unwrap_or_default()).unwrap_or_default()
            });
            assert_eq!(hex_value(b), expected, "{b:#04x}");
        }
        for nibble in 0..16 {
            assert_eq!(hex_value(hex_digit(nibble)), Some(nibble));
            assert_eq!(hex_value(hex_digit_upper(nibble)), Some(nibble));
            assert!(!hex_digit(nibble).is_ascii_uppercase());
            assert!(!hex_digit_upper(nibble).is_ascii_lowercase());
        }
    }

    #[cfg(feature = "oidc")]
    #[test]
    fn hex_of_another_length_or_alphabet_is_refused() {
        let mut out = [0u8; 2];
        for bad in [&b"abc"[..], b"abcdef", b"", b"zz00", b"0g00", b"00 0"] {
            assert!(!decode_hex(bad, &mut out), "{bad:?}");
        }
        // Multi-byte UTF-8 of the right byte length.
        assert!(!decode_hex("éé".as_bytes(), &mut out));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn base64url_matches_the_rfc_vectors() {
        for (input, output) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
        ] {
            assert_eq!(base64url(input), output);
            assert!(is_base64url(output));
        }
        assert!(!is_base64url("a+b"));
        assert!(!is_base64url("a/b="));
    }
}
