//! Finding a request's credentials: the bearer token (the `Authorization`
//! header first, then the `rstream.token` query parameter) and the values of
//! the session cookie.

use std::ops::Range;

use http::header::{AUTHORIZATION, COOKIE, HeaderName};
use http::{HeaderMap, HeaderValue};

use crate::store::{SessionId, is_valid_id};
use crate::syntax::{percent_escape, trim_end_ows};
use crate::token::TokenSource;

/// The query parameter that carries a token when a header cannot.
pub(crate) const TOKEN_QUERY_PARAMETER: &str = "rstream.token";

/// Where a credential sits in a request's head: bytes `start..end` of the
/// `field`-th field of a header (or of the query). Positions rather than
/// borrowed slices, so that what awaits a backend owns the head itself and
/// holds only these few numbers besides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At {
    field: u32,
    start: u32,
    end: u32,
}

impl At {
    const NOWHERE: At = At {
        field: 0,
        start: 0,
        end: 0,
    };

    fn new(field: usize, range: Range<usize>) -> Option<Self> {
        Some(Self {
            field: u32::try_from(field).ok()?,
            start: u32::try_from(range.start).ok()?,
            end: u32::try_from(range.end).ok()?,
        })
    }

    fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The bytes in the `name` fields of `headers`.
    fn in_header<'h>(&self, headers: &'h HeaderMap, name: HeaderName) -> Option<&'h [u8]> {
        let field = headers.get_all(name).iter().nth(self.field as usize)?;
        field.as_bytes().get(self.range())
    }
}

/// The token a request presents.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PresentedToken {
    /// No token at all.
    Absent,
    /// A token was presented but is malformed or ambiguous: it is not
    /// verified, and it counts as an invalid token.
    Malformed,
    /// A well-formed token in an `Authorization` field.
    Header(At),
    /// A well-formed `rstream.token` query parameter needing no decoding, in
    /// the query.
    Query(At),
    /// A well-formed `rstream.token` query parameter, form-decoded.
    Decoded(String),
}

impl PresentedToken {
    /// Whether a well-formed token was found.
    pub(crate) fn is_token(&self) -> bool {
        matches!(
            self,
            PresentedToken::Header(_) | PresentedToken::Query(_) | PresentedToken::Decoded(_)
        )
    }

    /// The token and where it came from, given the request head it was found
    /// in; `None` when there is no well-formed token.
    pub(crate) fn text<'a>(
        &'a self,
        headers: &'a HeaderMap,
        query: Option<&'a str>,
    ) -> Option<(&'a str, TokenSource)> {
        match self {
            PresentedToken::Absent | PresentedToken::Malformed => None,
            PresentedToken::Header(at) => {
                // Checked to be a `b64token` (ASCII) when it was found.
                let token = std::str::from_utf8(at.in_header(headers, AUTHORIZATION)?).ok()?;
                Some((token, TokenSource::Header))
            }
            PresentedToken::Query(at) => Some((query?.get(at.range())?, TokenSource::Query)),
            PresentedToken::Decoded(token) => Some((token, TokenSource::Query)),
        }
    }
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
pub(crate) fn presented_token(headers: &HeaderMap, query: Option<&str>) -> PresentedToken {
    match header_token(headers) {
        PresentedToken::Absent => query.map_or(PresentedToken::Absent, query_token),
        presented => presented,
    }
}

fn header_token(headers: &HeaderMap) -> PresentedToken {
    let mut bearer: Option<(usize, &HeaderValue, usize)> = None;
    for (field, value) in headers.get_all(AUTHORIZATION).iter().enumerate() {
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
        bearer = Some((field, value, scheme_end));
    }
    let Some((field, value, scheme_end)) = bearer else {
        return PresentedToken::Absent;
    };
    let bytes = value.as_bytes();
    if bytes.get(scheme_end) != Some(&b' ') {
        return PresentedToken::Malformed;
    }
    let mut start = scheme_end;
    while bytes.get(start) == Some(&b' ') {
        start += 1;
    }
    let end = start + trim_end_ows(&bytes[start..]).len();
    if !is_b64token(&bytes[start..end]) {
        return PresentedToken::Malformed;
    }
    At::new(field, start..end).map_or(PresentedToken::Malformed, PresentedToken::Header)
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

fn query_token(query: &str) -> PresentedToken {
    let mut found = None;
    let mut pair_start = 0;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value_start = pair_start + (pair.len() - value.len());
        pair_start += pair.len() + 1;
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
        found = Some((value, value_start));
    }
    let Some((raw, value_start)) = found else {
        return PresentedToken::Absent;
    };
    if raw.is_empty() {
        return PresentedToken::Malformed;
    }
    if !raw.contains(['%', '+']) {
        let at = At::new(0, value_start..value_start + raw.len());
        return at.map_or(PresentedToken::Malformed, PresentedToken::Query);
    }
    match form_decode(raw) {
        Some(token) if !token.is_empty() => PresentedToken::Decoded(token),
        _ => PresentedToken::Malformed,
    }
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
/// well-formed ones.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CookieValues<const N: usize> {
    /// Distinct, well-formed values, in the order sent. Empty when the
    /// cookie is absent or none of its values could be a session id.
    Candidates(Candidates<N>),
    /// More than `N` distinct values.
    TooMany,
}

/// Where up to `N` distinct session cookie values are in the `Cookie`
/// fields.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Candidates<const N: usize> {
    at: [At; N],
    len: usize,
}

impl<const N: usize> Candidates<N> {
    /// No value.
    pub(crate) const EMPTY: Self = Self {
        at: [At::NOWHERE; N],
        len: 0,
    };

    /// Whether there is no value.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values, as session ids, given the headers they were found in.
    pub(crate) fn ids<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> impl Iterator<Item = SessionId> + 'h {
        self.at[..self.len]
            .iter()
            .filter_map(|at| at.in_header(headers, COOKIE))
            .map(SessionId::from_valid)
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
    pub(crate) fn values<const N: usize>(&self, headers: &HeaderMap) -> CookieValues<N> {
        let mut found = Candidates::EMPTY;
        // The values found so far, to tell distinct ones apart.
        let mut seen: [&[u8]; N] = [&[]; N];
        for (index, field) in headers.get_all(COOKIE).iter().enumerate() {
            let field = field.as_bytes();
            let mut start = 0;
            while start < field.len() {
                let end = memchr::memchr(b';', &field[start..]).map_or(field.len(), |i| start + i);
                let pair = start..end;
                start = end + 1;
                let Some(value) = self.value_of(field, pair) else {
                    continue;
                };
                let bytes = &field[value.clone()];
                if !is_valid_id(bytes) || seen[..found.len].contains(&bytes) {
                    continue;
                }
                if found.len == N {
                    return CookieValues::TooMany;
                }
                let Some(at) = At::new(index, value) else {
                    continue;
                };
                seen[found.len] = bytes;
                found.at[found.len] = at;
                found.len += 1;
            }
        }
        CookieValues::Candidates(found)
    }

    /// Where the value of the `name=value` pair at `pair` in `field` is,
    /// trimmed and unquoted, when its name is the session cookie's.
    fn value_of(&self, field: &[u8], pair: Range<usize>) -> Option<Range<usize>> {
        let is_ows = |b: u8| b == b' ' || b == b'\t';
        let (mut start, mut end) = (pair.start, pair.end);
        while start < end && is_ows(field[start]) {
            start += 1;
        }
        if !field[start..end].starts_with(&self.name) {
            return None;
        }
        start += self.name.len();
        while start < end && is_ows(field[start]) {
            start += 1;
        }
        if start == end || field[start] != b'=' {
            return None;
        }
        start += 1;
        while start < end && is_ows(field[start]) {
            start += 1;
        }
        while end > start && is_ows(field[end - 1]) {
            end -= 1;
        }
        if end - start >= 2 && field[start] == b'"' && field[end - 1] == b'"' {
            start += 1;
            end -= 1;
        }
        Some(start..end)
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

    fn token(t: &str, source: TokenSource) -> Option<(String, TokenSource)> {
        Some((t.to_owned(), source))
    }

    /// The token `presented_token` finds, as text.
    fn token_in(headers: &HeaderMap, query: Option<&str>) -> Option<(String, TokenSource)> {
        presented_token(headers, query)
            .text(headers, query)
            .map(|(token, source)| (token.to_owned(), source))
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
                token_in(&auth(&[v]), Some("rstream.token=q")),
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
            token_in(&basic, Some("rstream.token=q")),
            token("q", TokenSource::Query)
        );
        let mixed = auth(&[b"Basic x", b"Bearer t"]);
        assert_eq!(token_in(&mixed, None), token("t", TokenSource::Header));
        assert_eq!(
            presented_token(&auth(&[b"Bearerabc"]), None),
            PresentedToken::Absent
        );
    }

    #[test]
    fn query_parameter_is_form_decoded() {
        let none = HeaderMap::new();
        let q = |s| presented_token(&none, Some(s));
        let qt = |s| token_in(&none, Some(s));
        assert_eq!(
            qt("a=1&rstream.token=a%2Bb%3D&c"),
            token("a+b=", TokenSource::Query)
        );
        assert_eq!(qt("rstream%2Etoken=x"), token("x", TokenSource::Query));
        assert_eq!(qt("rstream.token=a+b"), token("a b", TokenSource::Query));
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
            CookieValues::Candidates(found) => Some(found.ids(headers).collect()),
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
