//! Which requests are the layer's: the path classification that runs on
//! every request, and so is kept to a prefix check on the common path.

use crate::syntax::percent_escape;

/// The well-known namespace the layer owns.
pub(crate) const NAMESPACE: &str = "/.well-known/rstream";

/// What the layer does with a request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not the layer's: forward to the inner service untouched.
    Forward,
    /// `/.well-known/rstream/session`.
    Session,
    /// `/.well-known/rstream/logout`.
    Logout,
    /// In the namespace, but not an endpoint: 404 from the layer.
    NotFound,
}

/// Classifies a request path.
///
/// The two endpoints are served at their literal paths only. Every other path
/// that is in the namespace (`/.well-known/rstream` itself or anything under
/// it) is answered 404 by the layer, and so is every path that *becomes* one
/// once percent-decoded (all octets, `%2F` included), with empty and `.`
/// segments dropped and `..` segments applied: inner services and the routers
/// in front of them differ in how they normalise paths, so no spelling of a
/// well-known path is ever forwarded. Case is significant (paths are
/// case-sensitive), and a trailing slash makes another path.
///
/// Cost on a path that is not the layer's: a prefix comparison and one scan
/// of the path for `%`, `//` and `/.`; only paths containing one of those are
/// walked once more, segment by segment. Nothing is allocated.
#[inline]
pub(crate) fn route(path: &str) -> Route {
    if let Some(rest) = path.strip_prefix(NAMESPACE) {
        match rest {
            "/session" => return Route::Session,
            "/logout" => return Route::Logout,
            _ if rest.is_empty() || rest.starts_with('/') => return Route::NotFound,
            _ => {}
        }
    }
    if needs_normalisation(path.as_bytes()) && normalises_into_namespace(path.as_bytes()) {
        Route::NotFound
    } else {
        Route::Forward
    }
}

#[inline]
fn needs_normalisation(path: &[u8]) -> bool {
    path.iter()
        .enumerate()
        .any(|(i, &b)| b == b'%' || (b == b'/' && matches!(path.get(i + 1), Some(b'/' | b'.'))))
}

/// Whether `path` lands in the namespace once normalised, without allocating:
/// segments are walked from the end, counting the `..` segments still to be
/// applied, so the survivors are known in one pass. Decoded `/` (`%2F`)
/// separates segments like `/` does; an escape can never straddle a
/// separator, so each segment can be decoded on its own, lazily.
#[cold]
fn normalises_into_namespace(path: &[u8]) -> bool {
    let mut pending_parents = 0usize;
    let mut first = None;
    let mut second = None;
    for segment in Segments::new(path) {
        if segment.is_empty() || decodes_to(segment, b".") {
            continue;
        }
        if decodes_to(segment, b"..") {
            pending_parents += 1;
        } else if pending_parents > 0 {
            pending_parents -= 1;
        } else {
            second = first;
            first = Some(segment);
        }
    }
    first.is_some_and(|s| decodes_to(s, b".well-known"))
        && second.is_some_and(|s| decodes_to(s, b"rstream"))
}

/// The raw segments of a path, last first; `/` and `%2F` (any case) separate.
struct Segments<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Segments<'a> {
    fn new(path: &'a [u8]) -> Self {
        Self { rest: Some(path) }
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut end = rest.len();
        while end > 0 {
            if rest[end - 1] == b'/' {
                self.rest = Some(&rest[..end - 1]);
                return Some(&rest[end..]);
            }
            if end >= 3
                && rest[end - 3] == b'%'
                && rest[end - 2] == b'2'
                && rest[end - 1] | 0x20 == b'f'
            {
                self.rest = Some(&rest[..end - 3]);
                return Some(&rest[end..]);
            }
            end -= 1;
        }
        self.rest = None;
        Some(rest)
    }
}

/// Whether `raw`, percent-decoded (invalid escapes kept as they are), is
/// `expected`.
fn decodes_to(raw: &[u8], expected: &[u8]) -> bool {
    let mut i = 0;
    let mut matched = 0;
    while i < raw.len() {
        let byte = match percent_escape(raw, i) {
            Some(byte) => {
                i += 3;
                byte
            }
            None => {
                i += 1;
                raw[i - 1]
            }
        };
        if expected.get(matched) != Some(&byte) {
            return false;
        }
        matched += 1;
    }
    matched == expected.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious, allocating normaliser the real one must agree with.
    fn reference(path: &str) -> bool {
        let bytes = path.as_bytes();
        let mut decoded = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if let Some(byte) = percent_escape(bytes, i) {
                decoded.push(byte);
                i += 3;
                continue;
            }
            decoded.push(bytes[i]);
            i += 1;
        }
        let mut stack: Vec<&[u8]> = Vec::new();
        for segment in decoded.split(|&b| b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => {
                    stack.pop();
                }
                s => stack.push(s),
            }
        }
        matches!(stack.as_slice(), [b".well-known", b"rstream", ..])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn agrees_with_the_reference_normaliser(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just("/"), proptest::prelude::Just("%2F"), proptest::prelude::Just("%2f"),
                    proptest::prelude::Just("."), proptest::prelude::Just(".."), proptest::prelude::Just("%2E"),
                    proptest::prelude::Just("%2e%2E"), proptest::prelude::Just(".well-known"),
                    proptest::prelude::Just("%2Ewell-known"), proptest::prelude::Just("rstream"),
                    proptest::prelude::Just("%72stream"), proptest::prelude::Just("session"),
                    proptest::prelude::Just("%"), proptest::prelude::Just("%2"), proptest::prelude::Just("a"),
                    proptest::prelude::Just("%%2F"),
                ],
                0..12,
            )
        ) {
            let path = format!("/{}", parts.concat());
            let expected = reference(&path);
            let routed = route(&path);
            if expected {
                proptest::prop_assert_ne!(routed, Route::Forward, "{}", path);
            } else if !path.starts_with("/.well-known/rstream/") && path != "/.well-known/rstream" {
                proptest::prop_assert_eq!(routed, Route::Forward, "{}", path);
            }
        }
    }

    #[test]
    fn endpoints_at_their_literal_paths() {
        assert_eq!(route("/.well-known/rstream/session"), Route::Session);
        assert_eq!(route("/.well-known/rstream/logout"), Route::Logout);
    }

    #[test]
    fn everything_else_in_the_namespace_is_not_found() {
        for path in [
            "/.well-known/rstream",
            "/.well-known/rstream/",
            "/.well-known/rstream/session/",
            "/.well-known/rstream/sessions",
            "/.well-known/rstream/other",
            "/.well-known/rstream//session",
            "/.well-known/rstream/../rstream/session",
            "/%2Ewell-known/rstream/session",
            "/.well-known/rstream/%73ession",
            "/.well-known%2Frstream%2Fsession",
            "/.well-known%2frstream/logout",
            "//.well-known/rstream/session",
            "/./.well-known/rstream/session",
            "/a/../.well-known/rstream/logout",
            "/.well-known/rstreamx/../rstream/session",
            "/../.well-known/rstream",
        ] {
            assert_eq!(route(path), Route::NotFound, "{path}");
        }
    }

    #[test]
    fn other_paths_are_forwarded() {
        for path in [
            "/",
            "*",
            "",
            "/api/users/42",
            "/.well-known/openid-configuration",
            "/.well-known/rstreamer",
            "/.WELL-KNOWN/rstream/session",
            "/.well-known/RSTREAM/session",
            "/x/.well-known/rstream/session",
            "/%252Ewell-known/rstream/session",
            "/.well-known/rstream/../../api",
            "/%zz/.well-known",
        ] {
            let expected = if path.starts_with("/.well-known/rstream/") {
                Route::NotFound
            } else {
                Route::Forward
            };
            assert_eq!(route(path), expected, "{path}");
        }
    }
}
