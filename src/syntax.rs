//! Small pieces of HTTP and URI grammar shared by the parsers.

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

/// The value of one hex digit.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
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
