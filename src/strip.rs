//! Credential hygiene: what the layer removes from a request before
//! forwarding it, so that handlers never see edge credentials.

use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Uri};

use crate::credentials::{CookieFinder, is_token_parameter};

/// `query` without its `rstream.token` parameters (every one, however its
/// name is spelled), every other byte kept: `None` when it has none. The
/// result is empty when nothing else was in the query.
pub(crate) fn without_token_parameter(query: &str) -> Option<String> {
    let is_token = |pair: &str| is_token_parameter(pair.split_once('=').map_or(pair, |(n, _)| n));
    if !query.split('&').any(is_token) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|pair| !is_token(pair)).collect();
    Some(kept.join("&"))
}

/// Removes the `rstream.token` parameter from `uri`'s query, keeping every
/// other byte of the query; a query left empty goes with its `?`.
pub(crate) fn strip_token_parameter(uri: &mut Uri) {
    let Some(kept) = uri.query().and_then(without_token_parameter) else {
        return;
    };
    let path = uri.path();
    let mut text = String::with_capacity(path.len() + 1 + kept.len());
    text.push_str(path);
    if !kept.is_empty() {
        text.push('?');
        text.push_str(&kept);
    }
    let path_len = path.len();
    let mut parts = std::mem::take(uri).into_parts();
    // A subset of a valid query stays valid; should it not, the whole query
    // goes, never the token with it.
    let text = Bytes::from(text);
    let path_and_query = PathAndQuery::from_maybe_shared(text.clone())
        .or_else(|_| PathAndQuery::from_maybe_shared(text.slice(..path_len)))
        .ok();
    parts.path_and_query = path_and_query;
    *uri = Uri::from_parts(parts).unwrap_or_default();
}

/// Whether an `Authorization` value has the `Bearer` scheme.
fn is_bearer(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(bytes.len());
    bytes[..end].eq_ignore_ascii_case(b"bearer")
}

/// Removes every `Authorization` field with the `Bearer` scheme; fields of
/// other schemes stay, in their order.
pub(crate) fn strip_bearer(headers: &mut HeaderMap) {
    if !headers.get_all(AUTHORIZATION).iter().any(is_bearer) {
        return;
    }
    let others: Vec<HeaderValue> = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter(|value| !is_bearer(value))
        .cloned()
        .collect();
    headers.remove(AUTHORIZATION);
    for value in others {
        headers.append(AUTHORIZATION, value);
    }
}

/// One `Cookie` field without the session cookie's pairs, the other pairs
/// byte for byte and in order (the first kept one without the whitespace
/// that followed a removed `;`): `None` when the field has no session pair,
/// `Some(empty)` when it had nothing else.
pub(crate) fn without_session_cookie(finder: &CookieFinder, field: &[u8]) -> Option<Vec<u8>> {
    let is_session = |pair: &[u8]| finder.value_of(pair).is_some();
    if !field.split(|&b| b == b';').any(is_session) {
        return None;
    }
    let kept: Vec<&[u8]> = field
        .split(|&b| b == b';')
        .filter(|pair| !is_session(pair))
        .collect();
    let kept = kept.join(&b';');
    let start = kept
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(kept.len());
    Some(kept[start..].to_vec())
}

/// Removes the session cookie from every `Cookie` field; other cookies stay
/// byte for byte, a field left without any cookie goes.
pub(crate) fn strip_session_cookie(headers: &mut HeaderMap, finder: &CookieFinder) {
    let changed = headers
        .get_all(COOKIE)
        .iter()
        .any(|field| without_session_cookie(finder, field.as_bytes()).is_some());
    if !changed {
        return;
    }
    let fields: Vec<HeaderValue> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(
            |field| match without_session_cookie(finder, field.as_bytes()) {
                None => Some(field.clone()),
                Some(kept) if kept.is_empty() => None,
                // Made of bytes of a valid value: valid.
                Some(kept) => HeaderValue::from_bytes(&kept).ok(),
            },
        )
        .collect();
    headers.remove(COOKIE);
    for field in fields {
        headers.append(COOKIE, field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("rstream.token".to_owned()),
            Just("rstream%2Etoken".to_owned()),
            Just("rstream%2etoken".to_owned()),
            Just("%72stream.token".to_owned()),
            Just("rstream.tokens".to_owned()),
            Just("xrstream.token".to_owned()),
            Just("rstream".to_owned()),
            Just(String::new()),
            "[a-z.+%0-9]{1,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop::option::of("[a-zA-Z0-9%+=./~_-]{0,8}")
    }

    /// `name` or `name=value`.
    fn pair() -> impl Strategy<Value = String> {
        (name(), value()).prop_map(|(name, value)| match value {
            Some(value) => format!("{name}={value}"),
            None => name,
        })
    }

    fn is_token(pair: &str) -> bool {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        matches!(
            name,
            "rstream.token" | "rstream%2Etoken" | "rstream%2etoken" | "%72stream.token"
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The token parameter goes; every other pair stays, byte for byte
        /// and in order, with the `&` between them.
        #[test]
        fn stripping_keeps_every_other_byte_of_the_query(pairs in prop::collection::vec(pair(), 1..8)) {
            let query = pairs.join("&");
            let kept: Vec<&str> = pairs.iter().map(String::as_str).filter(|p| !is_token(p)).collect();
            let stripped = without_token_parameter(&query);
            if kept.len() == pairs.len() {
                prop_assert_eq!(stripped, None);
            } else {
                prop_assert_eq!(stripped, Some(kept.join("&")));
            }
            // Through a URI: the path stays, the `?` goes with an empty query.
            let sent = format!("/p/a%2Fb?{query}");
            if let Ok(mut uri) = sent.parse::<Uri>() {
                strip_token_parameter(&mut uri);
                let expected = if kept.len() == pairs.len() {
                    sent.clone()
                } else if kept.join("&").is_empty() {
                    "/p/a%2Fb".to_owned()
                } else {
                    format!("/p/a%2Fb?{}", kept.join("&"))
                };
                prop_assert_eq!(uri.to_string(), expected);
            }
        }

        /// The session cookie goes; every other cookie stays, byte for byte
        /// and in order.
        #[test]
        fn stripping_the_session_cookie_keeps_every_other_cookie(
            pairs in prop::collection::vec(
                (prop::sample::select(vec!["s", "s2", "xs", "a", "theme", " s", "s "]), "[a-zA-Z0-9\"=_-]{0,6}"),
                1..6,
            ),
            separator in prop::sample::select(vec!["; ", ";", ";  "]),
        ) {
            let finder = CookieFinder::new("s");
            let texts: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
            let field = texts.join(separator);
            let is_session = |text: &str| text.trim_start().starts_with("s=") || text.trim_start().starts_with("s =");
            let kept: Vec<&str> = texts.iter().map(String::as_str).filter(|t| !is_session(t)).collect();
            let stripped = without_session_cookie(&finder, field.as_bytes());
            if kept.len() == texts.len() {
                prop_assert_eq!(stripped, None);
            } else {
                let stripped = String::from_utf8(stripped.unwrap()).unwrap();
                let expected = kept.join(separator);
                prop_assert_eq!(stripped, expected.trim_start());
            }
        }
    }

    #[test]
    fn bearer_fields_go_other_schemes_stay() {
        let mut headers = HeaderMap::new();
        headers.append(AUTHORIZATION, HeaderValue::from_static("Basic YTpi"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("bearer t"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Negotiate x"));
        strip_bearer(&mut headers);
        let left: Vec<_> = headers.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(left, ["Basic YTpi", "Negotiate x"]);
    }

    #[test]
    fn cookie_fields_left_empty_go() {
        let finder = CookieFinder::new("s");
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("s=1"));
        headers.append(COOKIE, HeaderValue::from_static("a=1; s=2; b=\"x y\""));
        headers.append(COOKIE, HeaderValue::from_static("c=3"));
        strip_session_cookie(&mut headers, &finder);
        let left: Vec<_> = headers.get_all(COOKIE).iter().collect();
        assert_eq!(left, ["a=1; b=\"x y\"", "c=3"]);
    }
}
