//! Return URLs after sign-in: which ones stay on the tunnel's origin. A leaf
//! module, used by the session manager, the layer's configuration and the
//! enforcement redirect alike.

/// The longest return URL a sign-in redirect carries, in bytes; a longer
/// original URL is left out of the redirect (the sign-in page then returns
/// to its default).
pub(crate) const MAX_RETURN_URL: usize = 2048;

/// `candidate` when it is a safe return URL: a path on the current origin
/// that no browser or server reads as leading anywhere else. See
/// [`SessionManager::safe_return_url`](crate::SessionManager::safe_return_url).
pub(crate) fn safe_return_url(candidate: &str) -> Option<&str> {
    let bytes = candidate.as_bytes();
    // Printable ASCII only: no space, tab, newline (browsers drop tabs and
    // newlines, so `/\t/evil` is `//evil`), control, DEL or raw non-ASCII,
    // and never a `\` (browsers read it as `/`).
    if bytes.len() > MAX_RETURN_URL
        || bytes.first() != Some(&b'/')
        || !bytes
            .iter()
            .all(|&b| (0x21..0x7F).contains(&b) && b != b'\\')
    {
        return None;
    }
    // The path, decoded as often as it decodes, must not start with two
    // separators (an authority to URL parsers) nor have a dot segment
    // (`/..//evil` resolves to `//evil`).
    let end = candidate.find(['?', '#']).unwrap_or(candidate.len());
    let decoded = decode_fully(&bytes[..end])?;
    if matches!(decoded.get(1), Some(b'/' | b'\\')) {
        return None;
    }
    let dot_segment = decoded
        .split(|&b| b == b'/' || b == b'\\')
        .any(|segment| matches!(segment, b"." | b".."));
    let decoded_controls = decoded.iter().any(|&b| b < 0x20 || b == 0x7F);
    (!dot_segment && !decoded_controls && !starts_with_lookalike(&decoded)).then_some(candidate)
}

/// Decodes `%HH` escapes until none is left; `None` after 8 rounds (a
/// legitimate URL needs one).
fn decode_fully(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut text = bytes.to_vec();
    for _ in 0..8 {
        if !text.contains(&b'%') {
            return Some(text);
        }
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        let mut changed = false;
        while i < text.len() {
            match crate::syntax::percent_escape(&text, i) {
                Some(b) if text[i] == b'%' => {
                    out.push(b);
                    i += 3;
                    changed = true;
                }
                _ => {
                    out.push(text[i]);
                    i += 1;
                }
            }
        }
        if !changed {
            return Some(out);
        }
        text = out;
    }
    None
}

/// Whether the decoded path's first character after its `/` is a
/// non-ASCII one: some software maps look-alikes (`／`, `＼`) to separators.
fn starts_with_lookalike(decoded: &[u8]) -> bool {
    decoded.get(1).is_some_and(|&b| b >= 0x80)
}
