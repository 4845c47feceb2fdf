//! Finding a request's credentials: the bearer token (the `Authorization`
//! header first, then the `rstream.token` query parameter) and the values of
//! the session cookie, in one pass over the request's header fields.

use std::borrow::Cow;
use std::ops::Range;

use http::header::{AUTHORIZATION, COOKIE, HOST};
use http::{HeaderMap, HeaderValue};

use crate::store::{MAX_SESSION_ID_LEN, SessionId, octet_run};
use crate::syntax::{HIGH_BITS, ONES, percent_escape, trim_ows, word_at};
use crate::token::TokenSource;

/// The query parameter that carries a token when a header cannot.
pub(crate) const TOKEN_QUERY_PARAMETER: &str = "rstream.token";

/// At most this many distinct values of the session cookie are looked up in
/// the store to authenticate one request; more than that is treated as an
/// attack and authenticates nobody.
pub(crate) const MAX_LOOKUPS: usize = 4;

/// At most this many distinct values of the session cookie are revoked by one
/// logout; a logout presenting more is refused rather than leave one working.
pub(crate) const MAX_REVOCATIONS: usize = 16;

/// What the layer reads from a well-known request's header fields, found in
/// one pass over them: the `Host` field, the bearer token and the session
/// cookie's values (at most `N` distinct ones). The token and the cookie's
/// values are borrowed from the header fields; `Found::into_owned` makes them
/// owned for the part of an answer that awaits the backends.
#[derive(Debug)]
pub(crate) struct Fields<'h, const N: usize> {
    /// The first `Host` field, and whether there were more.
    pub(crate) host: Option<&'h HeaderValue>,
    pub(crate) hosts_repeated: bool,
    /// The token, when token auth is enabled.
    pub(crate) token: PresentedToken<'h>,
    /// The session cookie's values, when session auth is enabled.
    pub(crate) cookies: CookieValues<'h, N>,
}

impl<'h, const N: usize> Fields<'h, N> {
    /// Reads `headers`, and `query` for the token. `tokens` says whether
    /// token auth is enabled, `cookie` finds the session cookie when session
    /// auth is.
    pub(crate) fn read(
        headers: &'h HeaderMap,
        query: Option<&str>,
        tokens: bool,
        cookie: Option<&CookieFinder>,
    ) -> Self {
        let mut host = None;
        let mut hosts_repeated = false;
        let mut bearer = Bearer::default();
        let mut cookies = Collect::<N>::default();
        for (name, value) in headers {
            if *name == HOST {
                hosts_repeated |= host.is_some();
                host.get_or_insert(value);
            } else if *name == AUTHORIZATION {
                if tokens {
                    bearer.see(value);
                }
            } else if *name == COOKIE {
                if let Some(finder) = cookie {
                    cookies.see(finder, value.as_bytes());
                }
            }
        }
        let token = match (tokens, bearer.finish()) {
            (false, _) => PresentedToken::Absent,
            (true, PresentedToken::Absent) => query.map_or(PresentedToken::Absent, query_token),
            (true, presented) => presented,
        };
        Self {
            host,
            hosts_repeated,
            token,
            cookies: cookies.finish(),
        }
    }
}

/// The token a request presents.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PresentedToken<'h> {
    /// No token at all.
    Absent,
    /// A token was presented but is malformed or ambiguous: it is not
    /// verified, and it counts as an invalid token.
    Malformed,
    /// A well-formed token.
    Token(Token<'h>),
}

impl PresentedToken<'_> {
    /// The same token, owning its text.
    pub(crate) fn into_owned(self) -> PresentedToken<'static> {
        match self {
            PresentedToken::Absent => PresentedToken::Absent,
            PresentedToken::Malformed => PresentedToken::Malformed,
            PresentedToken::Token(token) => PresentedToken::Token(token.into_owned()),
        }
    }
}

/// A well-formed token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Token<'h> {
    /// The token's text and where it came from: borrowed from the
    /// `Authorization` field, or form-decoded from the query parameter (or
    /// owned, once made so for an answer that awaits).
    Text(Cow<'h, str>, TokenSource),
    /// The `rstream.token` query parameter, needing no decoding: at `range`
    /// of the query.
    Query(Range<usize>),
}

impl Token<'_> {
    /// The token and where it came from, given the query it may be in.
    pub(crate) fn text<'a>(&'a self, query: Option<&'a str>) -> Option<(&'a str, TokenSource)> {
        match self {
            Token::Text(token, source) => Some((token, *source)),
            Token::Query(range) => Some((query?.get(range.clone())?, TokenSource::Query)),
        }
    }

    fn into_owned(self) -> Token<'static> {
        match self {
            Token::Text(token, source) => Token::Text(Cow::Owned(token.into_owned()), source),
            Token::Query(range) => Token::Query(range),
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
#[cfg(test)]
pub(crate) fn presented_token<'h>(
    headers: &'h HeaderMap,
    query: Option<&str>,
) -> PresentedToken<'h> {
    Fields::<0>::read(headers, query, true, None).token
}

/// The `Authorization` fields with the `Bearer` scheme, seen one by one.
#[derive(Default)]
struct Bearer<'h> {
    /// The first one's bytes after the scheme.
    first: Option<&'h [u8]>,
    repeated: bool,
}

/// `bearer`, as two little-endian words, for a comparison that ignores ASCII
/// letter case: `x | 0x20` is the lower-case letter exactly when `x` is that
/// letter in either case.
const BEAR: u32 = u32::from_le_bytes(*b"bear");
const ER: u16 = u16::from_le_bytes(*b"er");

impl<'h> Bearer<'h> {
    /// Notes one `Authorization` field when its scheme is `Bearer` (any
    /// letter case): the scheme, then the end of the field or a space or tab.
    #[inline]
    fn see(&mut self, value: &'h HeaderValue) {
        let bytes = value.as_bytes();
        let (Some(scheme), rest) = (bytes.first_chunk::<6>(), bytes.get(6..).unwrap_or_default())
        else {
            return;
        };
        let bear = u32::from_le_bytes([scheme[0], scheme[1], scheme[2], scheme[3]]) | 0x2020_2020;
        let er = u16::from_le_bytes([scheme[4], scheme[5]]) | 0x2020;
        if bear == BEAR && er == ER && matches!(rest.first(), None | Some(b' ' | b'\t')) {
            self.repeated |= self.first.is_some();
            self.first.get_or_insert(rest);
        }
    }

    /// The token of the one `Bearer` field: after one or more spaces, one
    /// `b64token`, then optional whitespace.
    fn finish(self) -> PresentedToken<'h> {
        let Some(rest) = self.first else {
            return PresentedToken::Absent;
        };
        if self.repeated {
            return PresentedToken::Malformed;
        }
        match b64token_after_spaces(rest) {
            Some(token) => {
                PresentedToken::Token(Token::Text(Cow::Borrowed(token), TokenSource::Header))
            }
            None => PresentedToken::Malformed,
        }
    }
}

/// What follows the `Bearer` scheme: `1*SP b64token *OWS`, and the token; RFC
/// 6750's `b64token` is `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/" ) *"="`. One pass, a table lookup per byte.
fn b64token_after_spaces(bytes: &[u8]) -> Option<&str> {
    let mut at = 0;
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    if at == 0 {
        return None;
    }
    let start = at;
    while at < bytes.len() && B64TOKEN[usize::from(bytes[at])] {
        at += 1;
    }
    if at == start {
        return None;
    }
    while at < bytes.len() && bytes[at] == b'=' {
        at += 1;
    }
    let end = at;
    while at < bytes.len() && matches!(bytes[at], b' ' | b'\t') {
        at += 1;
    }
    if at != bytes.len() {
        return None;
    }
    // ASCII, so this cannot fail.
    std::str::from_utf8(&bytes[start..end]).ok()
}

/// The bytes of a `b64token` before its padding.
static B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric()
            || matches!(b as u8, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

fn query_token(query: &str) -> PresentedToken<'static> {
    let mut found = None;
    let mut pair_start = 0;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value_start = pair_start + (pair.len() - value.len());
        pair_start += pair.len() + 1;
        if !is_token_parameter(name) {
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
        return PresentedToken::Token(Token::Query(value_start..value_start + raw.len()));
    }
    match form_decode(raw) {
        Some(token) if !token.is_empty() => {
            PresentedToken::Token(Token::Text(Cow::Owned(token), TokenSource::Query))
        }
        _ => PresentedToken::Malformed,
    }
}

/// Whether a query parameter's name, form-decoded, is `rstream.token`.
pub(crate) fn is_token_parameter(name: &str) -> bool {
    if name.contains(['%', '+']) {
        form_decode(name).as_deref() == Some(TOKEN_QUERY_PARAMETER)
    } else {
        name == TOKEN_QUERY_PARAMETER
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

/// The values of the session cookie in a request: at most `N` distinct,
/// well-formed ones, borrowed from its header fields (or owned, once made so
/// for an answer that awaits).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CookieValues<'h, const N: usize> {
    /// Distinct, well-formed values, in the order sent: the first (`None`
    /// when the cookie is absent or none of its values could be a session
    /// id), then the others. Almost every request has one, so only planted
    /// duplicates cost an allocation, and this stays small to move.
    Candidates(Option<Cow<'h, [u8]>>, Vec<Cow<'h, [u8]>>),
    /// More than `N` distinct values.
    TooMany,
}

impl<const N: usize> CookieValues<'_, N> {
    /// The values, as session ids; none when there are too many.
    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        let (first, rest) = match self {
            CookieValues::Candidates(first, rest) => (first.as_ref(), &rest[..]),
            CookieValues::TooMany => (None, &[][..]),
        };
        // Checked with `octet_run` when they were found.
        first
            .into_iter()
            .chain(rest)
            .map(|value| SessionId::from_valid(value))
    }

    /// Whether there is no value at all (too many is not none).
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, CookieValues::Candidates(None, _))
    }

    /// The same values, owned.
    pub(crate) fn into_owned(self) -> CookieValues<'static, N> {
        let own = |value: Cow<'_, [u8]>| Cow::Owned(value.into_owned());
        match self {
            CookieValues::Candidates(first, rest) => {
                CookieValues::Candidates(first.map(own), rest.into_iter().map(own).collect())
            }
            CookieValues::TooMany => CookieValues::TooMany,
        }
    }
}

/// Collects the session cookie's distinct values from `Cookie` fields.
struct Collect<'h, const N: usize> {
    values: [&'h [u8]; N],
    len: usize,
    too_many: bool,
}

impl<const N: usize> Default for Collect<'_, N> {
    fn default() -> Self {
        Self {
            values: [&[]; N],
            len: 0,
            too_many: false,
        }
    }
}

impl<'h, const N: usize> Collect<'h, N> {
    /// Reads one `Cookie` field (HTTP/2 sends one per cookie): its
    /// `;`-separated pairs whose name is the session cookie's. Values that
    /// cannot be session ids (empty, too long, bytes outside RFC 6265
    /// `cookie-octet`) are skipped.
    fn see(&mut self, finder: &CookieFinder, field: &'h [u8]) {
        let mut at = 0;
        while at < field.len() && !self.too_many {
            let (value, next) = finder.pair_at(field, at);
            at = next;
            let Some(value) = value else {
                continue;
            };
            if self.values[..self.len].contains(&value) {
                continue;
            }
            if self.len == N {
                self.too_many = true;
            } else {
                self.values[self.len] = value;
                self.len += 1;
            }
        }
    }

    fn finish(self) -> CookieValues<'h, N> {
        if self.too_many {
            return CookieValues::TooMany;
        }
        let values = &self.values[..self.len];
        let first = values.first().map(|value| Cow::Borrowed(*value));
        // Almost every request has one value: no allocation then.
        let rest = match values.get(1..) {
            Some(rest) if !rest.is_empty() => {
                rest.iter().map(|value| Cow::Borrowed(*value)).collect()
            }
            _ => Vec::new(),
        };
        CookieValues::Candidates(first, rest)
    }
}

/// At most this many `;`-separated pairs of a request's `Cookie` fields are
/// read by [`CookiePairs`]: a header of more pairs is read no further.
pub(crate) const MAX_COOKIE_PAIRS: usize = 256;

/// The longest cookie value [`CookiePairs`] yields: browsers keep at most
/// 4,096 bytes per cookie, name included.
pub(crate) const MAX_COOKIE_VALUE_LEN: usize = 4096;

/// The `name=value` pairs of a request's `Cookie` fields, in the order
/// sent, read by the rules the session cookie is read by, with fixed
/// bounds: the crate's one reader of cookies (besides the session cookie,
/// read in the same pass as the token), public for sign-in layers built on
/// this crate.
///
/// Pairs are separated by `;`; optional whitespace around names and values
/// is trimmed and a quoted value unquoted. A pair without `=`, with an
/// empty name, or whose value is longer than 4,096 bytes (what browsers
/// keep per cookie) or holds a byte outside RFC 6265 `cookie-octet` is
/// skipped. Reading stops after 256 pairs, so that a request cannot make a
/// reader do more work than that. One pass, no allocation. Names and values
/// are bytes, compared as sent (names are case-sensitive).
///
/// ```
/// use http::HeaderMap;
/// use rstream_well_known::CookiePairs;
///
/// let mut headers = HeaderMap::new();
/// headers.append("cookie", "a=1; flow=\"x\"; bad; a=2; a=1".parse()?);
/// let pairs: Vec<_> = CookiePairs::new(&headers).collect();
/// assert_eq!(pairs[1], (&b"flow"[..], &b"x"[..]));
/// assert_eq!(
///     CookiePairs::new(&headers).distinct_values("a", 2),
///     Some(vec![&b"1"[..], &b"2"[..]]),
/// );
/// assert_eq!(CookiePairs::new(&headers).distinct_values("a", 1), None);
/// # Ok::<(), http::header::InvalidHeaderValue>(())
/// ```
#[derive(Debug)]
pub struct CookiePairs<'h> {
    fields: http::header::ValueIter<'h, HeaderValue>,
    field: &'h [u8],
    at: usize,
    left: usize,
}

impl<'h> CookiePairs<'h> {
    /// The pairs of the `Cookie` fields of `headers`.
    pub fn new(headers: &'h HeaderMap) -> Self {
        Self {
            fields: headers.get_all(COOKIE).into_iter(),
            field: &[],
            at: 0,
            left: MAX_COOKIE_PAIRS,
        }
    }

    /// The distinct values of cookie `name` among the pairs, in the order
    /// sent, or `None` when there are more than `max`: a reader that
    /// expects one value refuses a request that carries several (a sibling
    /// host may plant cookies of the same name).
    pub fn distinct_values(self, name: &str, max: usize) -> Option<Vec<&'h [u8]>> {
        let mut values: Vec<&[u8]> = Vec::new();
        for (_, value) in self.filter(|(n, _)| *n == name.as_bytes()) {
            if values.contains(&value) {
                continue;
            }
            if values.len() == max {
                return None;
            }
            values.push(value);
        }
        Some(values)
    }
}

impl<'h> Iterator for CookiePairs<'h> {
    type Item = (&'h [u8], &'h [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.left == 0 {
                return None;
            }
            if self.at >= self.field.len() {
                self.field = self.fields.next()?.as_bytes();
                self.at = 0;
                continue;
            }
            let start = self.at;
            self.at = next_pair(self.field, start);
            self.left -= 1;
            let end = if self.field[self.at - 1] == b';' {
                self.at - 1
            } else {
                self.at
            };
            let pair = &self.field[start..end];
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let name = trim_ows(&pair[..eq]);
            let mut value = trim_ows(&pair[eq + 1..]);
            if let [b'"', inner @ .., b'"'] = value {
                value = inner;
            }
            if !name.is_empty()
                && value.len() <= MAX_COOKIE_VALUE_LEN
                && octet_run(value) == value.len()
            {
                return Some((name, value));
            }
        }
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

    /// The value of a `name=value` pair, trimmed and unquoted, when its name
    /// is the session cookie's. Parsing works on bytes, so a non-UTF-8
    /// cookie elsewhere in the header does not hide the session cookie.
    pub(crate) fn value_of<'p>(&self, pair: &'p [u8]) -> Option<&'p [u8]> {
        let rest = trim_ows(pair).strip_prefix(&*self.name)?;
        let mut value = trim_ows(trim_ows(rest).strip_prefix(b"=")?);
        if let [b'"', inner @ .., b'"'] = value {
            value = inner;
        }
        Some(value)
    }

    /// The pair of a `Cookie` field that starts at `at`: its value when its
    /// name is the session cookie's and the value could be a session id (what
    /// [`value_of`](Self::value_of) gives, checked with `is_valid_id`), and
    /// where the next pair starts. One pass over the pair, eight bytes at a
    /// time over the value.
    fn pair_at<'p>(&self, field: &'p [u8], mut at: usize) -> (Option<&'p [u8]>, usize) {
        at = skip_ows(field, at);
        let matched = has_prefix(field.get(at..).unwrap_or_default(), &self.name)
            .then_some(())
            .and_then(|()| {
                let mut at = skip_ows(field, at + self.name.len());
                if field.get(at) != Some(&b'=') {
                    return None;
                }
                at = skip_ows(field, at + 1);
                let quoted = field.get(at) == Some(&b'"');
                let start = at + usize::from(quoted);
                let end = start + octet_run(field.get(start..).unwrap_or_default());
                at = end;
                if quoted {
                    if field.get(at) != Some(&b'"') {
                        return None;
                    }
                    at += 1;
                }
                at = skip_ows(field, at);
                let value = &field[start..end];
                (matches!(field.get(at), None | Some(b';'))
                    && (1..=MAX_SESSION_ID_LEN).contains(&value.len()))
                .then_some((value, at))
            });
        match matched {
            Some((value, end)) => (Some(value), end + 1),
            None => (None, next_pair(field, at)),
        }
    }
}

/// Whether `bytes` starts with `prefix`, compared eight bytes at a time (a
/// cookie name is no secret: this may stop early).
#[inline]
fn has_prefix(bytes: &[u8], prefix: &[u8]) -> bool {
    let len = prefix.len();
    if bytes.len() < len {
        return false;
    }
    if len < 8 {
        return bytes[..len] == *prefix;
    }
    let mut at = 0;
    while at + 8 <= len {
        if word_at(bytes, at) != word_at(prefix, at) {
            return false;
        }
        at += 8;
    }
    // The last bytes, as the last eight (overlapping bytes already equal).
    at == len || word_at(bytes, len - 8) == word_at(prefix, len - 8)
}

/// The first index from `at` on that is not a space or a tab.
#[inline]
fn skip_ows(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// Where the pair after the one holding `at` starts: past the next `;`, or
/// the end. Eight bytes at a time.
fn next_pair(field: &[u8], mut at: usize) -> usize {
    const LOW_BITS: u64 = !HIGH_BITS;
    while let Some(word) = field.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        // A byte of `x` is zero exactly when the high bit of
        // `((x & 0x7F) + 0x7F) | x` is clear, byte by byte.
        let x = u64::from_le_bytes(*word) ^ (ONES * u64::from(b';'));
        let semicolons = !(((x & LOW_BITS) + LOW_BITS) | x) & HIGH_BITS;
        if semicolons != 0 {
            return at + (semicolons.trailing_zeros() / 8) as usize + 1;
        }
        at += 8;
    }
    match field
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b';'))
    {
        Some(i) => at + i + 1,
        None => field.len(),
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
        match presented_token(headers, query) {
            PresentedToken::Token(token) => token
                .text(query)
                .map(|(token, source)| (token.to_owned(), source)),
            _ => None,
        }
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
        let finder = CookieFinder::new(name);
        match Fields::<MAX_LOOKUPS>::read(headers, None, false, Some(&finder)).cookies {
            values @ CookieValues::Candidates(..) => Some(values.ids().collect()),
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

    /// The reading of a `Cookie` field before it was made one pass: split at
    /// every `;`, each pair trimmed and unquoted by `value_of`, values that
    /// are not 1 to 256 `cookie-octet`s skipped (checked here byte by byte,
    /// not with the crate's vectorised check), duplicates dropped, at most
    /// `N`.
    fn cookie_values_by_splitting<const N: usize>(
        fields: &[&[u8]],
        name: &str,
    ) -> Option<Vec<Vec<u8>>> {
        let finder = CookieFinder::new(name);
        let mut values: Vec<Vec<u8>> = Vec::new();
        for field in fields {
            for pair in field.split(|&b| b == b';') {
                let Some(value) = finder.value_of(pair) else {
                    continue;
                };
                // RFC 6265 `cookie-octet`s, spelled out here rather than
                // taken from the code under test.
                let id_like = (1..=256).contains(&value.len())
                    && value
                        .iter()
                        .all(|&b| (0x21..=0x7e).contains(&b) && !b"\",;\\".contains(&b));
                if !id_like || values.iter().any(|v| v == value) {
                    continue;
                }
                if values.len() == N {
                    return None;
                }
                values.push(value.to_vec());
            }
        }
        Some(values)
    }

    /// The token of one `Authorization` value before `Bearer` was parsed in
    /// one pass: the scheme up to the first space or tab, compared ignoring
    /// case, then exactly one space, more spaces, a `b64token` and trailing
    /// whitespace.
    fn bearer_by_parts(value: &[u8]) -> Option<Option<String>> {
        let scheme_end = value
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(value.len());
        if !value[..scheme_end].eq_ignore_ascii_case(b"bearer") {
            return None;
        }
        if value.get(scheme_end) != Some(&b' ') {
            return Some(None);
        }
        let mut start = scheme_end;
        while value.get(start) == Some(&b' ') {
            start += 1;
        }
        let mut end = value.len();
        while end > start && matches!(value[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let token = &value[start..end];
        let body = token.iter().position(|&b| b == b'=').unwrap_or(token.len());
        let valid = body > 0
            && token[..body].iter().all(|&b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            })
            && token[body..].iter().all(|&b| b == b'=');
        Some(valid.then(|| String::from_utf8_lossy(token).into_owned()))
    }

    /// Bytes that matter to both parsers, and a few that do not; all of them
    /// bytes a header field can carry (`HeaderValue` refuses DEL and
    /// controls, and a refused field would test nothing).
    fn header_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                Just(b's'),
                Just(b'i'),
                Just(b'd'),
                Just(b'='),
                Just(b';'),
                Just(b' '),
                Just(b'\t'),
                Just(b'"'),
                Just(b','),
                Just(b'\\'),
                Just(b'+'),
                Just(0x80_u8),
                Just(0x21_u8),
                Just(b'B'),
                Just(b'e'),
                Just(b'a'),
                Just(b'r'),
            ],
            0..48,
        )
    }

    /// Bytes of a cookie value, valid or not, that a header field can carry
    /// (no DEL or controls, which `HeaderValue` refuses: a field holding one
    /// would test nothing).
    fn cookie_value_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            proptest::sample::select(b"ab=;\" \t,\\+!~\x80".to_vec()),
            0..12,
        )
    }

    fn cookie_header(fields: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for field in fields {
            map.append(COOKIE, HeaderValue::from_str(field).unwrap());
        }
        map
    }

    #[test]
    fn every_pair_is_read_trimmed_and_unquoted_across_fields() {
        let map = cookie_header(&[
            "a=1; b = \"two\" ;c=3",
            " d=4;;noequals; =nameless; e=bad,value; f=",
        ]);
        let pairs: Vec<(&[u8], &[u8])> = CookiePairs::new(&map).collect();
        assert_eq!(
            pairs,
            [
                (&b"a"[..], &b"1"[..]),
                (b"b", b"two"),
                (b"c", b"3"),
                (b"d", b"4"),
                (b"f", b""),
            ]
        );
    }

    #[test]
    fn reading_is_bounded() {
        // Many pairs: only the first MAX_COOKIE_PAIRS are read.
        let many: String = (0..MAX_COOKIE_PAIRS + 50)
            .map(|i| format!("k{i}=v; "))
            .collect();
        let map = cookie_header(&[&many, "late=1"]);
        assert_eq!(CookiePairs::new(&map).count(), MAX_COOKIE_PAIRS);
        assert!(CookiePairs::new(&map).all(|(name, _)| name != b"late"));
        // A value longer than a browser keeps is skipped, not cut.
        let long = format!("big={}; small=1", "x".repeat(MAX_COOKIE_VALUE_LEN + 1));
        let map = cookie_header(&[&long]);
        assert_eq!(
            CookiePairs::new(&map).collect::<Vec<_>>(),
            [(&b"small"[..], &b"1"[..])]
        );
    }

    #[test]
    fn distinct_values_of_one_name_are_counted_once_and_capped() {
        let map = cookie_header(&["n=a; n=b; n=a", "other=a; n=c"]);
        assert_eq!(
            CookiePairs::new(&map).distinct_values("n", 3),
            Some(vec![&b"a"[..], b"b", b"c"])
        );
        assert_eq!(CookiePairs::new(&map).distinct_values("n", 2), None);
        assert_eq!(
            CookiePairs::new(&map).distinct_values("absent", 2),
            Some(vec![])
        );
        // Names are compared exactly.
        assert_eq!(CookiePairs::new(&map).distinct_values("N", 2), Some(vec![]));
    }

    #[test]
    fn a_flood_of_pairs_is_read_no_further_than_the_bound() {
        // A reader that collected every value and de-duplicated them pair
        // by pair would be quadratic in a field like this one.
        let field: String = (0..12_000)
            .map(|i| format!("rstream_oidc=v{i}; "))
            .collect();
        let map = cookie_header(&[&field]);
        assert_eq!(
            CookiePairs::new(&map).distinct_values("rstream_oidc", 8),
            None
        );
        assert_eq!(CookiePairs::new(&map).count(), MAX_COOKIE_PAIRS);
    }

    proptest::proptest! {
        #[test]
        fn one_pass_cookie_reading_agrees_with_splitting(
            noise in proptest::collection::vec(header_bytes(), 0..2),
            pairs in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["sid", " sid", "sid ", "\tsid", "sidx", "x"]),
                    proptest::sample::select(vec!["=", " = ", "=\t", ""]),
                    cookie_value_bytes(),
                    proptest::sample::select(vec!["; ", ";", " ;", ""]),
                ),
                1..6,
            ),
            long in 0usize..3,
        ) {
            // Fields of whole pairs, most of them named like the cookie,
            // beside fields of arbitrary bytes.
            let mut field = Vec::new();
            for (name, equals, value, separator) in &pairs {
                field.extend_from_slice(name.as_bytes());
                field.extend_from_slice(equals.as_bytes());
                field.extend_from_slice(value);
                field.extend_from_slice(separator.as_bytes());
            }
            let mut fields = noise;
            fields.push(field);
            // Sometimes a value longer than an id may be.
            if long > 0 {
                fields.push(format!("sid={}", "x".repeat(250 + long * 3)).into_bytes());
            }
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            let mut map = HeaderMap::new();
            for field in &refs {
                if let Ok(value) = HeaderValue::from_bytes(field) {
                    map.append(COOKIE, value);
                }
            }
            let kept: Vec<&[u8]> = map.get_all(COOKIE).iter().map(HeaderValue::as_bytes).collect();
            let finder = CookieFinder::new("sid");
            let read = match Fields::<4>::read(&map, None, false, Some(&finder)).cookies {
                values @ CookieValues::Candidates(..) => {
                    Some(values.ids().map(|id| id.expose().as_bytes().to_vec()).collect::<Vec<_>>())
                }
                CookieValues::TooMany => None,
            };
            proptest::prop_assert_eq!(&read, &cookie_values_by_splitting::<4>(&kept, "sid"));
            // The general reader finds the same values, by the same rules.
            let mut general: Vec<Vec<u8>> = Vec::new();
            let mut too_many = false;
            for (_, value) in CookiePairs::new(&map).filter(|(name, _)| *name == b"sid") {
                if (1..=MAX_SESSION_ID_LEN).contains(&value.len()) && !general.iter().any(|v| v == value) {
                    too_many |= general.len() == 4;
                    general.push(value.to_vec());
                }
            }
            proptest::prop_assert_eq!(read, (!too_many).then_some(general));
        }

        #[test]
        fn one_pass_bearer_parsing_agrees_with_the_parts(
            scheme in proptest::sample::select(vec!["Bearer", "bearer", "BEARER", "BeArEr", "Bearerx", "Bear", "Basic", ""]),
            rest in header_bytes(),
        ) {
            let mut value = scheme.as_bytes().to_vec();
            value.extend_from_slice(&rest);
            let Ok(header) = HeaderValue::from_bytes(&value) else {
                return Ok(());
            };
            let mut map = HeaderMap::new();
            map.append(AUTHORIZATION, header);
            let expected = match bearer_by_parts(&value) {
                None => PresentedToken::Absent,
                Some(None) => PresentedToken::Malformed,
                Some(Some(token)) => PresentedToken::Token(Token::Text(Cow::Owned(token), TokenSource::Header)),
            };
            proptest::prop_assert_eq!(presented_token(&map, None).into_owned(), expected);
        }
    }
}
