//! Finding a request's credentials: the bearer token (the `Authorization`
//! header first, then the `rstream.token` query parameter) and the values of
//! the session cookie.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

use crate::store::{SessionId, is_valid_id};
use crate::syntax::{percent_escape, trim_end_ows, trim_ows};
use crate::token::TokenSource;

/// The query parameter that carries a token when a header cannot.
pub(crate) const TOKEN_QUERY_PARAMETER: &str = "rstream.token";

/// The token a request presents, borrowed from the request where it needs
/// no decoding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PresentedToken<'a> {
    /// No token at all.
    Absent,
    /// A token was presented but is malformed or ambiguous: it is not
    /// verified, and it counts as an invalid token.
    Malformed,
    /// A well-formed token, to verify.
    Token(Cow<'a, str>, TokenSource),
}

/// The request's token. The header is used when present: a request with a
/// `Bearer` authorization never has its query parameter read, even when the
/// header's token is malformed.
///
/// - `Authorization` with another scheme (`Basic`, …) is the application's
///   business and is not a token.
/// - More than one `Authorization` field with the `Bearer` scheme is
///   ambiguous, hence malformed; so is more than one `rstream.token` parameter.
/// - A `Bearer` credential must be one RFC 6750 `b64token` after one or more
///   spaces (`Bearer` without one, with an empty one, or with bytes outside
///   that grammar is malformed).
pub(crate) fn presented_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> PresentedToken<'a> {
    match header_token(headers) {
        PresentedToken::Absent => query.map_or(PresentedToken::Absent, query_token),
        presented => presented,
    }
}

fn header_token(headers: &HeaderMap) -> PresentedToken<'_> {
    let mut bearer = None;
    for value in headers.get_all(AUTHORIZATION) {
        let bytes = value.as_bytes();
        let scheme_end = bytes
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(bytes.len());
        if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
            continue;
        }
        if bearer.is_some() {
            return PresentedToken::Malformed;
        }
        bearer = Some(&bytes[scheme_end..]);
    }
    let Some(rest) = bearer else {
        return PresentedToken::Absent;
    };
    if rest.first() != Some(&b' ') {
        return PresentedToken::Malformed;
    }
    let mut token = rest;
    while let [b' ', tail @ ..] = token {
        token = tail;
    }
    let token = trim_end_ows(token);
    if !is_b64token(token) {
        return PresentedToken::Malformed;
    }
    match std::str::from_utf8(token) {
        Ok(token) => PresentedToken::Token(Cow::Borrowed(token), TokenSource::Header),
        Err(_) => PresentedToken::Malformed,
    }
}

/// RFC 6750: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.iter().position(|&b| b == b'=').unwrap_or(token.len());
    body_len > 0
        && token[..body_len].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        && token[body_len..].iter().all(|&b| b == b'=')
}

fn query_token(query: &str) -> PresentedToken<'_> {
    let mut found = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let is_token_name = if name.contains(['%', '+']) {
            form_decode(name).as_deref() == Some(TOKEN_QUERY_PARAMETER)
        } else {
            name == TOKEN_QUERY_PARAMETER
        };
        if !is_token_name {
            continue;
        }
        if found.is_some() {
            return PresentedToken::Malformed;
        }
        found = Some(value);
    }
    let Some(raw) = found else {
        return PresentedToken::Absent;
    };
    let token = if raw.contains(['%', '+']) {
        match form_decode(raw) {
            Some(token) => Cow::Owned(token),
            None => return PresentedToken::Malformed,
        }
    } else {
        Cow::Borrowed(raw)
    };
    if token.is_empty() {
        return PresentedToken::Malformed;
    }
    PresentedToken::Token(token, TokenSource::Query)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte. A `%` not followed by two hex digits, or a result that is not UTF-8,
/// is refused rather than guessed at.
fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(percent_escape(bytes, i)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// At most this many distinct values of the session cookie are looked up in
/// the store to authenticate one request; more than that is treated as an
/// attack and authenticates nobody.
pub(crate) const MAX_LOOKUPS: usize = 4;

/// At most this many distinct values of the session cookie are revoked by one
/// logout; a logout presenting more is refused rather than leave one working.
pub(crate) const MAX_REVOCATIONS: usize = 16;

/// The values of the session cookie in a request: at most `N` distinct,
/// well-formed ones, borrowed from the request's headers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CookieValues<'a, const N: usize> {
    /// Distinct, well-formed values, in the order sent. Empty when the
    /// cookie is absent or none of its values could be a session id.
    Candidates(Candidates<'a, N>),
    /// More than `N` distinct values.
    TooMany,
}

/// Up to `N` distinct session cookie values.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Candidates<'a, const N: usize> {
    values: [&'a [u8]; N],
    len: usize,
}

impl<'a, const N: usize> Candidates<'a, N> {
    /// The values, as session ids.
    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.values[..self.len]
            .iter()
            .map(|value| SessionId::from_valid(value))
    }
}

/// Finds the session cookie by name in `Cookie` fields.
#[derive(Debug)]
pub(crate) struct CookieFinder {
    name: Box<[u8]>,
}

impl CookieFinder {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.as_bytes().into(),
        }
    }

    /// Reads every `Cookie` field (HTTP/2 sends one per cookie) and collects
    /// the values of the session cookie, at most `N` distinct ones.
    ///
    /// Parsing works on bytes, so a non-UTF-8 cookie elsewhere in the header
    /// does not hide the session cookie. Values that cannot be session ids
    /// (empty, too long, bytes outside RFC 6265 `cookie-octet`) are skipped;
    /// a value in double quotes is unquoted.
    pub(crate) fn values<'h, const N: usize>(&self, headers: &'h HeaderMap) -> CookieValues<'h, N> {
        let mut found = Candidates {
            values: [&[][..]; N],
            len: 0,
        };
        for field in headers.get_all(COOKIE) {
            let field = field.as_bytes();
            let mut start = 0;
            while start < field.len() {
                let end = memchr::memchr(b';', &field[start..]).map_or(field.len(), |i| start + i);
                let pair = &field[start..end];
                start = end + 1;
                let Some(value) = self.value_of(pair) else {
                    continue;
                };
                if !is_valid_id(value) || found.values[..found.len].contains(&value) {
                    continue;
                }
                if found.len == N {
                    return CookieValues::TooMany;
                }
                found.values[found.len] = value;
                found.len += 1;
            }
        }
        CookieValues::Candidates(found)
    }

    /// The value of a `name=value` pair, trimmed and unquoted, when its name
    /// is the session cookie's.
    fn value_of<'p>(&self, pair: &'p [u8]) -> Option<&'p [u8]> {
        let pair = trim_ows(pair);
        let rest = pair.strip_prefix(&*self.name)?;
        let mut value = trim_ows(trim_ows(rest).strip_prefix(b"=")?);
        if let [b'"', inner @ .., b'"'] = value {
            value = inner;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn auth(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    fn token(t: &str, source: TokenSource) -> PresentedToken<'_> {
        PresentedToken::Token(Cow::Borrowed(t), source)
    }

    #[test]
    fn header_scheme_is_case_insensitive_and_wins_over_query() {
        for v in [
            &b"Bearer abc"[..],
            b"bearer abc",
            b"BEARER abc  ",
            b"Bearer   abc",
        ] {
            assert_eq!(
                presented_token(&auth(&[v]), Some("rstream.token=q")),
                token("abc", TokenSource::Header)
            );
        }
    }

    #[test]
    fn malformed_bearer_never_falls_to_the_query() {
        for v in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer\tabc",
            b"Bearer a b",
            b"Bearer a=b",
            b"Bearer \xff",
        ] {
            assert_eq!(
                presented_token(&auth(&[v]), Some("rstream.token=q")),
                PresentedToken::Malformed,
                "{v:?}"
            );
        }
        let two = auth(&[b"Bearer a", b"Bearer a"]);
        assert_eq!(presented_token(&two, None), PresentedToken::Malformed);
    }

    #[test]
    fn other_schemes_are_not_tokens() {
        let basic = auth(&[b"Basic dXNlcjpwYXNz"]);
        assert_eq!(presented_token(&basic, None), PresentedToken::Absent);
        assert_eq!(
            presented_token(&basic, Some("rstream.token=q")),
            token("q", TokenSource::Query)
        );
        let mixed = auth(&[b"Basic x", b"Bearer t"]);
        assert_eq!(
            presented_token(&mixed, None),
            token("t", TokenSource::Header)
        );
        assert_eq!(
            presented_token(&auth(&[b"Bearerabc"]), None),
            PresentedToken::Absent
        );
    }

    #[test]
    fn query_parameter_is_form_decoded() {
        let none = HeaderMap::new();
        let q = |s| presented_token(&none, Some(s));
        assert_eq!(
            q("a=1&rstream.token=a%2Bb%3D&c"),
            token("a+b=", TokenSource::Query)
        );
        assert_eq!(q("rstream%2Etoken=x"), token("x", TokenSource::Query));
        assert_eq!(q("rstream.token=a+b"), token("a b", TokenSource::Query));
        assert_eq!(q("rstream.token="), PresentedToken::Malformed);
        assert_eq!(q("rstream.token"), PresentedToken::Malformed);
        assert_eq!(q("rstream.token=%zz"), PresentedToken::Malformed);
        assert_eq!(q("rstream.token=%ff"), PresentedToken::Malformed);
        assert_eq!(
            q("rstream.token=a&rstream.token=a"),
            PresentedToken::Malformed
        );
        assert_eq!(
            q("rstream.tokens=a&xrstream.token=b"),
            PresentedToken::Absent
        );
        assert_eq!(q(""), PresentedToken::Absent);
    }

    fn cookies(fields: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for field in fields {
            map.append(COOKIE, HeaderValue::from_bytes(field).unwrap());
        }
        map
    }

    fn ids(values: &[&str]) -> Vec<SessionId> {
        values.iter().map(|v| SessionId::new(v).unwrap()).collect()
    }

    fn session_cookie_values(headers: &HeaderMap, name: &str) -> Option<Vec<SessionId>> {
        match CookieFinder::new(name).values::<MAX_LOOKUPS>(headers) {
            CookieValues::Candidates(found) => Some(found.ids().collect()),
            CookieValues::TooMany => None,
        }
    }

    #[test]
    fn finds_the_cookie_across_fields_and_pairs() {
        let h = cookies(&[
            b"a=1; rstream_session=abc",
            b"other=\xff\xfe",
            b"rstream_session=abc",
        ]);
        assert_eq!(
            session_cookie_values(&h, "rstream_session"),
            Some(ids(&["abc"]))
        );
        let h = cookies(&[b"x=1;rstream_session=\"q\";y", b"rstream_session=r"]);
        assert_eq!(
            session_cookie_values(&h, "rstream_session"),
            Some(ids(&["q", "r"]))
        );
    }

    #[test]
    fn skips_values_that_cannot_be_ids_and_caps_candidates() {
        let h = cookies(&[b"rstream_session=; rstream_session=a b; rstream_session=\xc3\xa9"]);
        assert_eq!(session_cookie_values(&h, "rstream_session"), Some(ids(&[])));
        let h = cookies(&[b"s=1; s=2; s=3; s=4; s=5"]);
        assert_eq!(session_cookie_values(&h, "s"), None);
        let h = cookies(&[b"s=1; s=2; s=3; s=4; s=4"]);
        assert_eq!(
            session_cookie_values(&h, "s"),
            Some(ids(&["1", "2", "3", "4"]))
        );
    }

    #[test]
    fn only_whole_names_at_the_start_of_a_pair_count() {
        let h = cookies(&[
            b"xrstream_session=1; rstream_session_2=2; a=rstream_session=3",
            b" rstream_session = 4 ;rstream_session\t=\t5",
        ]);
        assert_eq!(
            session_cookie_values(&h, "rstream_session"),
            Some(ids(&["4", "5"]))
        );
    }
}
