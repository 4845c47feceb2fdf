//! Which requests are the layer's: the path classification that runs on
//! every request, and so is kept to a prefix check on the common path.

use crate::credentials::hex_value;

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
/// decoded (into a temporary buffer) to be checked.
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

#[cold]
fn normalises_into_namespace(path: &[u8]) -> bool {
    let decoded = percent_decode(path);
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    matches!(segments.as_slice(), [b".well-known", b"rstream", ..])
}

/// Decodes every valid `%XX`; an invalid escape stays as it is.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                input.get(i + 1).copied().and_then(hex_value),
                input.get(i + 2).copied().and_then(hex_value),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
