//! Origins: parsing `scheme://host[:port]`, the logout endpoint's
//! cross-origin check (fetch metadata, then `Origin` / `Referer`) against the
//! tunnel origin, and the `Origin` check of upgrades authenticated by the
//! session cookie.
//!
//! The parser is strict on purpose: anything a browser would not send in an
//! `Origin` header (userinfo, a path, an empty host, a port out of range)
//! does not parse, and a value that does not parse never matches.

use http::HeaderMap;
use http::header::{HeaderName, ORIGIN, REFERER};

/// A web origin: scheme, host and port, compared the way browsers compare them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    /// Lower-cased scheme.
    scheme: String,
    /// Lower-cased host; IPv6 literals keep their brackets.
    host: String,
    /// The port, explicit or the scheme's default.
    port: Option<u16>,
}

impl Origin {
    /// Parses an origin as it appears in an `Origin` header: nothing may
    /// follow the authority.
    pub(crate) fn parse(value: &str) -> Option<Origin> {
        let (origin, rest) = Self::parse_prefix(value)?;
        rest.is_empty().then_some(origin)
    }

    /// Parses the origin of an absolute URL (a `Referer`): the path, query and
    /// fragment after the authority are ignored.
    pub(crate) fn of_url(value: &str) -> Option<Origin> {
        let (origin, rest) = Self::parse_prefix(value)?;
        matches!(rest.as_bytes().first(), None | Some(b'/' | b'?' | b'#')).then_some(origin)
    }

    fn parse_prefix(value: &str) -> Option<(Origin, &str)> {
        let (scheme, rest) = value.split_once("://")?;
        let mut chars = scheme.bytes();
        if !chars.next()?.is_ascii_alphabetic()
            || !chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        let (host, port) = parse_authority(authority)?;
        let scheme = scheme.to_ascii_lowercase();
        let port = port.or_else(|| default_port(&scheme));
        Some((Origin { scheme, host, port }, rest))
    }

    /// The scheme, lower-cased.
    pub(crate) fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lower-cased.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The effective port.
    #[cfg(test)]
    pub(crate) fn port(&self) -> Option<u16> {
        self.port
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(port) if Some(port) != default_port(&self.scheme) => write!(f, ":{port}"),
            _ => Ok(()),
        }
    }
}

/// The default port of the schemes an origin can have here.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Splits `host[:port]` into a lower-cased host and an optional port; see
/// [`split_authority`].
pub(crate) fn parse_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = split_authority(authority)?;
    Some((host.to_ascii_lowercase(), port))
}

/// The bytes of a registered name: RFC 3986 `unreserved`, without `%`
/// escapes (`ALPHA / DIGIT / "-" / "." / "_" / "~"`).
pub(crate) static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] =
            (b as u8).is_ascii_alphanumeric() || matches!(b as u8, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

/// Splits `host[:port]` into the host, as written, and an optional port.
///
/// Userinfo, empty hosts, characters outside a registered name or an IP
/// literal, and ports that are not 1 to 5 digits fitting `u16` are refused.
/// An empty port (`host:`) means the default port (RFC 3986, section 6.2.3).
pub(crate) fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let close = after.find(']')?;
        let literal = &after[..close];
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return None;
        }
        let host = &authority[..close + 2];
        let rest = &authority[close + 2..];
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty()
        || !(host.starts_with('[') || host.bytes().all(|b| NAME_BYTES[usize::from(b)]))
    {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(digits) => {
            if digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse::<u16>().ok()?)
        }
    };
    Some((host, port))
}

/// The logout endpoint's cross-origin check; the error is the `403`
/// reason.
///
/// 1. Fetch metadata first: when the browser says where the request comes
///    from (`Sec-Fetch-Site`), only `same-origin` and `none` (the user typed
///    the address or used a bookmark) pass; `same-site`, `cross-site`, an
///    unknown or a repeated value fail with `cross_origin_request`. Browsers
///    send it on every request from a secure context, even where they omit
///    `Origin` and `Referer`.
/// 2. Then every `Origin` and `Referer` field present must name `expected`:
///    a field repeated, not valid ASCII, `null`, or of another scheme, host
///    or port fails with `origin_mismatch`.
///
/// A request with none of these headers passes: non-browser clients (scripts,
/// servers) send none of them, and the spec only constrains requests that
/// carry `Origin` or `Referer`.
pub(crate) fn same_origin(headers: &HeaderMap, expected: &Origin) -> Result<(), &'static str> {
    let mut sites = headers.get_all(SEC_FETCH_SITE).iter();
    if let Some(site) = sites.next() {
        let allowed = matches!(site.as_bytes(), b"same-origin" | b"none");
        if !allowed || sites.next().is_some() {
            return Err("cross_origin_request");
        }
    }
    let is_expected = |origin: &Origin| origin == expected;
    if check_field(headers, ORIGIN, Origin::parse, is_expected)
        && check_field(headers, REFERER, Origin::of_url, is_expected)
    {
        Ok(())
    } else {
        Err("origin_mismatch")
    }
}

/// The fetch metadata header naming the relation between the request's
/// initiator and its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The `Origin` check of an upgrade (a WebSocket handshake) authenticated
/// by the session cookie; the error is the `403` reason.
///
/// An `Origin` field, when present, must name `expected` (the tunnel
/// origin) or one of `allowed`: a field repeated, not valid ASCII, `null`
/// or of another origin fails with `origin_mismatch`. A request without
/// `Origin` passes: browsers always send it with a WebSocket handshake, and
/// non-browser clients carry no ambient credential a page could borrow.
/// Fetch metadata and `Referer` are not read: a browser sends no `Referer`
/// with a handshake, and an allowed origin of the same site would be
/// `Sec-Fetch-Site: same-site`.
pub(crate) fn allowed_origin(
    headers: &HeaderMap,
    expected: &Origin,
    allowed: &[Origin],
) -> Result<(), &'static str> {
    let is_allowed = |origin: &Origin| origin == expected || allowed.contains(origin);
    if check_field(headers, ORIGIN, Origin::parse, is_allowed) {
        Ok(())
    } else {
        Err("origin_mismatch")
    }
}

/// Whether the field `name` is absent, or present once with a value that
/// parses (with `parse`) to an origin `accept` takes.
fn check_field(
    headers: &HeaderMap,
    name: HeaderName,
    parse: fn(&str) -> Option<Origin>,
    accept: impl Fn(&Origin) -> bool,
) -> bool {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    value
        .to_str()
        .ok()
        .and_then(|value| parse(value.trim()))
        .is_some_and(|origin| accept(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(value: &str) -> Origin {
        Origin::parse(value).expect(value)
    }

    #[test]
    fn default_ports_are_normalised() {
        assert_eq!(
            origin("https://App.Example.com"),
            origin("https://app.example.com:443")
        );
        assert_eq!(origin("http://a.b:"), origin("http://a.b:80"));
        assert_ne!(origin("https://a.b"), origin("http://a.b"));
        assert_ne!(origin("https://a.b"), origin("https://a.b:8443"));
    }

    #[test]
    fn origin_header_refuses_what_browsers_never_send() {
        for bad in [
            "null",
            "",
            "https://",
            "https://a.b/",
            "https://user@a.b",
            "https://a.b:99999",
            "https://a.b:+80",
            "https://a b",
            "https://a.b:80:80",
            "://a.b",
            "1http://a.b",
            "https://[zz]",
            "https://[::1",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn referer_origin_ignores_path_query_and_fragment() {
        let expected = origin("https://a.b");
        for url in [
            "https://a.b/",
            "https://a.b/x?y#z",
            "https://a.b?q",
            "https://A.B:443/p",
        ] {
            assert_eq!(Origin::of_url(url).as_ref(), Some(&expected), "{url}");
        }
        assert_eq!(
            Origin::of_url("https://a.b.evil/x"),
            Some(origin("https://a.b.evil"))
        );
        assert_eq!(Origin::of_url("https://a.b@evil/x"), None);
    }

    #[test]
    fn ipv6_literals_keep_brackets() {
        let o = origin("http://[::1]:3000");
        assert_eq!(o.host(), "[::1]");
        assert_eq!(o.port(), Some(3000));
        assert_eq!(o.to_string(), "http://[::1]:3000");
    }
}
