//! Property tests of the layer as a whole: what it answers, what it forwards
//! untouched, and what it never leaks, over generated requests.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::executor::block_on;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tower::{Layer, ServiceExt, service_fn};
use unicode_normalization::UnicodeNormalization;

const HOST_NAME: &str = "app.example.com";
const TOKEN: &str = "the-valid-token.0123";
const COOKIE_NAME: &str = "__Host-rstream_session";

/// A value of our own put in the request's extensions, to see it arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Marker(u64);

/// What the inner service received.
#[derive(Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    marker: Option<Marker>,
    body: Bytes,
}

/// What came back to the client.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

fn layer() -> WellKnownLayer {
    WellKnownLayer::builder()
        .tunnel(Tunnel::new(HOST_NAME, "workspace-id", "project-id").unwrap())
        .with_token_verifier(
            StaticTokenVerifier::new().with_token(
                TOKEN,
                User::new("user-id")
                    .with_name("Ada Lovelace")
                    .with_email("ada@example.com"),
            ),
        )
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap()
}

/// The inner service's own response, so that it can be recognised when it
/// comes back: status 200, a marker header (twice, to check multiplicity and
/// order), and the request body echoed after a prefix.
fn inner_response(request_body: &[u8]) -> (Vec<(HeaderName, HeaderValue)>, Bytes) {
    let headers = vec![
        (
            HeaderName::from_static("x-inner"),
            HeaderValue::from_static("1"),
        ),
        (
            HeaderName::from_static("x-inner"),
            HeaderValue::from_static("2"),
        ),
    ];
    let mut body = b"inner:".to_vec();
    body.extend_from_slice(request_body);
    (headers, Bytes::from(body))
}

/// Sends `request` through `layer` in front of a recording inner service.
/// Returns the answer and what the inner service saw (if it was called).
fn send(layer: &WellKnownLayer, request: Request<Full<Bytes>>) -> (Answer, Vec<Seen>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let inner = service_fn(move |request: Request<Full<Bytes>>| {
        let recorder = Arc::clone(&recorder);
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let (headers, echo) = inner_response(&body);
            recorder.lock().unwrap().push(Seen {
                method: parts.method,
                uri: parts.uri,
                headers: header_list(&parts.headers),
                marker: parts.extensions.get::<Marker>().cloned(),
                body,
            });
            let mut response = Response::new(Full::new(echo));
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            Ok::<_, Infallible>(response)
        }
    });
    let response = block_on(layer.layer(inner).oneshot(request)).expect("the layer never fails");
    let (parts, body) = response.into_parts();
    let body = block_on(body.collect())
        .expect("bodies cannot fail")
        .to_bytes();
    let answer = Answer {
        status: parts.status,
        headers: header_list(&parts.headers),
        body,
    };
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (answer, seen)
}

/// A header map as the list a client or server would see: names and values
/// in order, repeats included.
fn header_list(headers: &http::HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// The test's own reading of the path model in the crate docs
// ---------------------------------------------------------------------------

#[path = "reference/readings.rs"]
mod readings;
use readings::{characters, decode_fully, hex_digit, some_reading_is_well_known, utf8_bytes};

/// The model of the crate docs: some reading of `path` (the path cut before
/// a decoded `?`, `#` or NUL included, and the path as sent, letter case
/// aside) is `/.well-known/rstream` or under it.
fn normalises_into_namespace(path: &str) -> bool {
    let chars = characters(&decode_fully(path));
    let cut_before = chars
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| matches!(c, Some(b'?' | b'#' | 0)))
        .map(|(i, _)| i);
    literally_in_namespace(path)
        || some_reading_is_well_known(&chars, true)
        || cut_before
            .into_iter()
            .any(|i| some_reading_is_well_known(&chars[..i], false))
}

/// The namespace as sent, letter case aside: `/.well-known/rstream` itself
/// or anything under it.
fn literally_in_namespace(path: &str) -> bool {
    let namespace = "/.well-known/rstream";
    path.get(..namespace.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(namespace))
        && matches!(path.as_bytes().get(namespace.len()), None | Some(b'/'))
}

// ---------------------------------------------------------------------------
// Some servers' own readings, each the way its documentation describes it,
// none of them the model. Whatever any of them puts in the namespace must
// not be forwarded.
// ---------------------------------------------------------------------------

/// Percent-decodes `%HH` once (`%uHHHH` too when `wide`), leaving `%2F`
/// and `%5C` encoded when `keep_slashes`.
fn decode_once(bytes: &[u8], wide: bool, keep_slashes: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at = |k: usize| bytes.get(i + k).copied();
        if at(0) == Some(b'%') {
            if let (Some(h), Some(l)) = (at(1).and_then(hex_digit), at(2).and_then(hex_digit)) {
                let byte = (h * 16 + l) as u8;
                if !(keep_slashes && matches!(byte, b'/' | b'\\')) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
            if wide && matches!(at(1), Some(b'u' | b'U')) {
                let digits: Option<Vec<u32>> = (2..6).map(|k| at(k).and_then(hex_digit)).collect();
                if let Some(digits) = digits {
                    let cp = digits.iter().fold(0, |value, d| value * 16 + d);
                    out.extend(utf8_bytes(cp));
                    i += 6;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `.` and `..` resolved over `segments` (empty ones dropped unless
/// `keep_empty`, as URL parsers keep them).
fn resolve<'a>(segments: impl IntoIterator<Item = &'a [u8]>, keep_empty: bool) -> Vec<Vec<u8>> {
    let mut stack: Vec<Vec<u8>> = Vec::new();
    for segment in segments {
        match segment {
            b"." => {}
            b"" if !keep_empty => {}
            b".." => {
                stack.pop();
            }
            other => stack.push(other.to_vec()),
        }
    }
    stack
}

fn is_namespace(segments: &[Vec<u8>], any_case: bool) -> bool {
    let eq = |a: &[u8], b: &str| {
        if any_case {
            a.eq_ignore_ascii_case(b.as_bytes())
        } else {
            a == b.as_bytes()
        }
    };
    segments.len() >= 2 && eq(&segments[0], ".well-known") && eq(&segments[1], "rstream")
}

/// `segment` up to its first `stop`.
fn cut_at(segment: &[u8], stop: u8) -> &[u8] {
    let end = segment.iter().position(|&b| b == stop);
    &segment[..end.unwrap_or(segment.len())]
}

fn slash_split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'/')
}

/// The servers that would route `path` into the namespace.
fn servers_reading_it_as_well_known(path: &str) -> Vec<&'static str> {
    let sent = path.as_bytes();
    let mut found = Vec::new();
    let mut check = |name: &'static str, segments: Vec<Vec<u8>>, any_case: bool| {
        if is_namespace(&segments, any_case) {
            found.push(name);
        }
    };

    // A router that normalises nothing, case-insensitively.
    let literal = slash_split(sent).skip(1).map(<[u8]>::to_vec).collect();
    check("literal", literal, true);
    // nginx: decode once (`%2F` too), merge slashes, resolve dots.
    let nginx = decode_once(sent, false, false);
    check("nginx", resolve(slash_split(&nginx), false), false);
    // Two decoders in a row (a proxy and an app that both decode).
    let twice = decode_once(&nginx, false, false);
    check(
        "double decoding",
        resolve(slash_split(&twice), false),
        false,
    );
    // Apache with `AllowEncodedSlashes NoDecode`: `%2F` stays, dots resolve.
    let apache = decode_once(sent, false, true);
    check("apache", resolve(slash_split(&apache), false), false);
    // Tomcat: `;parameters` cut from each segment as sent, then decoded,
    // then dots resolved.
    let tomcat: Vec<Vec<u8>> = slash_split(sent)
        .map(|segment| decode_once(cut_at(segment, b';'), false, true))
        .collect();
    let tomcat = resolve(tomcat.iter().map(Vec::as_slice), false);
    check("tomcat", tomcat, false);
    // Jetty-like: decoded first, then `;parameters` cut.
    let jetty = resolve(
        slash_split(&nginx).map(|segment| cut_at(segment, b';')),
        false,
    );
    check("jetty", jetty, false);
    // IIS on Windows: `%u` escapes, `\` separates, NTFS streams and
    // trailing dots and spaces dropped, any case.
    let iis = decode_once(sent, true, false);
    let iis = iis.split(|&b| b == b'/' || b == b'\\').map(|segment| {
        let mut segment = cut_at(segment, b':');
        if segment != b"." && segment != b".." {
            while let [rest @ .., b'.' | b' '] = segment {
                segment = rest;
            }
        }
        segment
    });
    check("iis", resolve(iis, false), true);
    // URL parsers (WHATWG): `\` separates, empty segments stay, `%2e` is a
    // dot in a dot segment, and `//host/…` names a host.
    let url: Vec<u8> = sent
        .iter()
        .map(|&b| if b == b'\\' { b'/' } else { b })
        .collect();
    let url_segments = |bytes: &[u8]| {
        let mut stack: Vec<Vec<u8>> = Vec::new();
        for segment in slash_split(bytes).skip(1) {
            match segment.to_ascii_lowercase().as_slice() {
                b"." | b"%2e" => {}
                b".." | b".%2e" | b"%2e." | b"%2e%2e" => {
                    stack.pop();
                }
                _ => stack.push(decode_once(segment, false, false)),
            }
        }
        stack
    };
    check("url", url_segments(&url), false);
    if let Some(after_slashes) = url.strip_prefix(b"//") {
        let after_host = cut_at(after_slashes, b'/').len();
        check(
            "url with a host",
            url_segments(&after_slashes[after_host..]),
            false,
        );
    }
    // Servers that fold Unicode (NFKC) after decoding.
    if let Ok(text) = String::from_utf8(nginx) {
        let folded: String = text.nfkc().collect();
        check(
            "nfkc",
            resolve(slash_split(folded.as_bytes()), false),
            false,
        );
    }
    found
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

fn method() -> impl Strategy<Value = Method> {
    let endpoint_methods = prop::sample::select(vec!["GET", "HEAD", "POST"]);
    let any_method = prop::sample::select(vec![
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND",
        "M-SEARCH", "get", "post", "X_CUSTOM", "BREW",
    ]);
    prop_oneof![2 => endpoint_methods, 1 => any_method]
        .prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap())
}

/// Spells the characters of `word` as `how` says, one at a time (the low
/// three bits of `how[i % 16]`): as they are, with another letter case,
/// percent-encoded (upper- or lower-case hex), encoded twice, as a fullwidth
/// character (raw or encoded), as an overlong UTF-8 sequence, or as an IIS
/// `%u` escape. Every spelling keeps the path a valid URI.
fn spell(word: &str, how: &[u8; 16]) -> String {
    let mut out = String::new();
    let encode = |out: &mut String, c: char, prefix: &str, lower: bool| {
        let mut buf = [0; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            if lower {
                out.push_str(&format!("{prefix}{b:02x}"));
            } else {
                out.push_str(&format!("{prefix}{b:02X}"));
            }
        }
    };
    for (i, c) in word.chars().enumerate() {
        let fullwidth = ('!'..='~')
            .contains(&c)
            .then(|| char::from_u32(0xFF01 + u32::from(c) - 0x21).unwrap());
        match (how[i % 16] & 7, fullwidth) {
            (1, _) if c.is_ascii_alphabetic() => out.push(char::from(c as u8 ^ 0x20)),
            (2, _) => encode(&mut out, c, "%", false),
            (3, _) => encode(&mut out, c, "%", true),
            (4, _) => encode(&mut out, c, "%25", false),
            (5, Some(wide)) => out.push(wide),
            (6, Some(wide)) => encode(&mut out, wide, "%", false),
            (6, None) if c.is_ascii() => out.push_str(&format!("%C0%{:02X}", 0x80 | c as u8)),
            (7, _) if c.is_ascii() => out.push_str(&format!("%u{:04x}", u32::from(c))),
            _ if matches!(c, ' ' | '?' | '#') => encode(&mut out, c, "%", false),
            _ => out.push(c),
        }
    }
    out
}

/// A path segment, before spelling. Random ones use only `pchar`s, so every
/// generated path is a valid URI path.
fn raw_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ".well-known", "rstream", "session", "logout", ".", "..", "", "api",
            ".WELL-KNOWN", "RSTREAM", "rstreamer", "other", "..;", ".;", "...", ".. ",
            ".well-known.", "rstream ", ".well-known;x=1", "rstream::$DATA", "rﬆream",
            "．．", "‥", "?", "x?y", "%",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z0-9._~!$&'()*+,;=:@-]{1,8}",
    ]
}

/// `segment`, spelled at random when `mangle` is set.
fn spelled(segment: impl Strategy<Value = String>, mangle: bool) -> impl Strategy<Value = String> {
    let how = if mangle {
        prop_oneof![Just([0u8; 16]), any::<[u8; 16]>()].boxed()
    } else {
        Just([0u8; 16]).boxed()
    };
    (segment, how).prop_map(|(segment, how)| spell(&segment, &how))
}

/// `/`, or, when `mangle` is set, sometimes another separator: doubled,
/// encoded (once or twice), a backslash, overlong or fullwidth.
fn separator(mangle: bool) -> impl Strategy<Value = &'static str> {
    if mangle {
        prop_oneof![
            6 => Just("/"),
            1 => Just("//"),
            1 => prop::sample::select(vec![
                "%2F", "%2f", "\\", "%5C", "%5c", "%C0%AF", "／", "%EF%BC%8F", "%252F", "%u002f",
            ]),
        ]
        .boxed()
    } else {
        Just("/").boxed()
    }
}

/// A request path: one of the two endpoints exactly (a third of the time,
/// to exercise their answers), or a prefix that often spells (or climbs
/// into) a well-known path followed by random segments. Half of those are
/// plain; in the other half, segments are percent-encoded at random and
/// joined by random separators.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => prop::sample::select(vec!["/.well-known/rstream/session", "/.well-known/rstream/logout"])
            .prop_map(str::to_owned),
        2 => any::<bool>().prop_flat_map(path_with),
    ]
}

fn path_with(mangle: bool) -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        vec![],
        vec![".well-known", "rstream"],
        vec![".well-known", "rstream", "session"],
        vec![".well-known", "rstream", "logout"],
        vec!["api", "..", ".well-known", "rstream", "session"],
        vec![".", ".well-known", "rstream", "logout"],
        vec![".well-known", "other", "..", "rstream", "session"],
        vec![".well-known", "rstream", "session", "..", "logout"],
    ])
    .prop_flat_map(move |prefix| {
        prefix
            .into_iter()
            .map(|segment| (separator(mangle), spelled(Just(segment.to_owned()), mangle)))
            .collect::<Vec<_>>()
    });
    let rest = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec((separator(mangle), spelled(raw_segment(), mangle)), 1..5),
    ];
    let trailing_slash = prop::bool::weighted(0.2);
    // Sometimes what a URL parser takes for a host.
    let authority = prop::sample::select(vec!["", "", "", "//evil", "/\\evil"]);
    (prefix, rest, trailing_slash, authority).prop_map(
        |(prefix, rest, trailing_slash, authority)| {
            let mut path = authority.to_owned();
            for (separator, segment) in prefix.into_iter().chain(rest) {
                path.push_str(separator);
                path.push_str(&segment);
            }
            if !path.starts_with('/') {
                // An origin-form target starts with `/`, whatever follows.
                path.insert(0, '/');
            }
            if trailing_slash && !path.ends_with('/') {
                path.push('/');
            }
            path
        },
    )
}

/// An optional query string (without the `?`).
fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[A-Za-z0-9._~!$'()*+,;:@/?=&-]{0,20}",
        "[A-Za-z0-9._~-]{0,20}".prop_map(|token| format!("rstream.token={token}")),
        Just(format!("rstream.token={TOKEN}")),
        "(%[0-9A-Fa-f]{2}|[a-z=&]){0,10}",
    ])
}

/// A header value: visible ASCII, spaces, tabs and obs-text bytes, often
/// after a prefix that makes it look like a credential or an origin.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    let byte = prop_oneof![
        8 => 0x21u8..=0x7e,
        1 => Just(b' '),
        1 => Just(b'\t'),
        2 => 0x80u8..=0xff,
    ];
    let prefix = prop::sample::select(vec![
        "",
        "Bearer ",
        "bearer  ",
        "Basic ",
        "__Host-rstream_session=",
        "a=b; __Host-rstream_session=",
        "application/json",
        "text/plain",
        "https://app.example.com",
        "https://app.example.com/page",
        "http://app.example.com",
        "null",
    ]);
    (prefix, prop::collection::vec(byte, 0..24)).prop_map(|(prefix, bytes)| {
        let mut value = prefix.as_bytes().to_vec();
        value.extend(bytes);
        HeaderValue::from_bytes(&value).expect("visible ASCII, SP, HTAB and obs-text are valid")
    })
}

/// Any header except `host` (set by each property on purpose).
fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "authorization", "cookie", "origin", "referer", "content-type", "accept",
            "x-forwarded-host", "forwarded",
        ])
        .prop_map(HeaderName::from_static),
        1 => "[a-z][a-z0-9-]{0,12}"
            .prop_filter("host is set by the test", |name| name != "host")
            .prop_map(|name| HeaderName::from_bytes(name.as_bytes()).unwrap()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(HeaderName, HeaderValue)>> {
    prop::collection::vec((header_name(), header_value()), 0..8)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(Vec::new()), prop::collection::vec(any::<u8>(), 1..64)]
}

/// A host (authority) that is not the tunnel's: other names, the tunnel's
/// name on another port, and names that merely contain it.
fn other_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}(:[1-9][0-9]{0,3})?"
            .prop_filter("not the tunnel", |h| h != HOST_NAME
                && h != "app.example.com:443"),
        (1u16..=u16::MAX)
            .prop_filter("not the tunnel's port", |p| *p != 443)
            .prop_map(|port| format!("{HOST_NAME}:{port}")),
        prop::sample::select(vec![
            "sub.app.example.com",
            "app.example.com.evil.test",
            "example.com",
            "app-example.com",
            "127.0.0.1",
            "[::1]:443",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Builds a request; `authority` turns the target into absolute form.
fn build(
    method: &Method,
    authority: Option<&str>,
    path_and_query: &str,
    headers: &[(HeaderName, HeaderValue)],
    marker: u64,
    body: &[u8],
) -> Request<Full<Bytes>> {
    let uri = match authority {
        Some(authority) => format!("https://{authority}{path_and_query}"),
        None => path_and_query.to_owned(),
    };
    let uri = Uri::try_from(uri.as_str()).unwrap_or_else(|e| panic!("generated {uri:?}: {e}"));
    let mut request = Request::new(Full::new(Bytes::copy_from_slice(body)));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    for (name, value) in headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    request.extensions_mut().insert(Marker(marker));
    request
}

fn path_and_query(path: &str, query: Option<&str>) -> String {
    match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

/// A request as it was sent, to compare with what the inner service saw.
struct Sent<'a> {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    marker: u64,
    body: &'a [u8],
}

impl<'a> Sent<'a> {
    fn of(request: &Request<Full<Bytes>>, body: &'a [u8]) -> Self {
        Sent {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: header_list(request.headers()),
            marker: request.extensions().get::<Marker>().expect("marked").0,
            body,
        }
    }
}

/// The request arrived exactly as it was sent, and the inner service's
/// response came back exactly as it left.
fn assert_forwarded_untouched(
    sent: &Sent<'_>,
    answer: &Answer,
    seen: &[Seen],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        seen.len(),
        1,
        "the inner service was not called exactly once"
    );
    let seen = &seen[0];
    prop_assert_eq!(&seen.method, &sent.method);
    prop_assert_eq!(&seen.uri, &sent.uri);
    prop_assert_eq!(
        seen.uri.path_and_query().map(|pq| pq.as_str()),
        sent.uri.path_and_query().map(|pq| pq.as_str())
    );
    prop_assert_eq!(&seen.headers, &sent.headers);
    prop_assert_eq!(&seen.marker, &Some(Marker(sent.marker)));
    prop_assert_eq!(&seen.body[..], sent.body);

    let (inner_headers, inner_body) = inner_response(sent.body);
    prop_assert_eq!(answer.status, StatusCode::OK);
    prop_assert_eq!(&answer.headers, &inner_headers);
    prop_assert_eq!(&answer.body, &inner_body);
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 384,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// On the tunnel host, any request gets an answer without a panic; the
    /// layer answers exactly the paths in the namespace (as sent, or in some
    /// reading of the model) with one of its statuses and `no-store`, and
    /// forwards every other request untouched.
    #[test]
    fn the_layer_answers_its_namespace_and_forwards_the_rest(
        method in method(),
        path in path(),
        query in query(),
        mut headers in headers(),
        body in body(),
        marker in any::<u64>(),
    ) {
        headers.insert(0, (HOST, HeaderValue::from_static(HOST_NAME)));
        let target = path_and_query(&path, query.as_deref());
        let request = build(&method, None, &target, &headers, marker, &body);
        let sent = Sent::of(&request, &body);
        let (answer, seen) = send(&layer(), request);

        if normalises_into_namespace(&path) || literally_in_namespace(&path) {
            prop_assert!(seen.is_empty(), "{} {} reached the inner service", method, target);
            prop_assert!(
                [200u16, 204, 400, 403, 404, 405, 415].contains(&answer.status.as_u16()),
                "{} {} got {}", method, target, answer.status
            );
            prop_assert_eq!(
                answer.header(&CACHE_CONTROL).map(HeaderValue::as_bytes),
                Some(&b"no-store"[..]),
                "{} {}", method, target
            );
            prop_assert!(answer.header(&HeaderName::from_static("x-inner")).is_none());
            if answer.status != StatusCode::NO_CONTENT && method != Method::HEAD {
                prop_assert_eq!(
                    answer.header(&CONTENT_TYPE).map(HeaderValue::as_bytes),
                    Some(&b"application/json"[..])
                );
                let json: serde_json::Value = serde_json::from_slice(&answer.body)
                    .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
                prop_assert!(json.is_object());
            } else {
                prop_assert!(answer.body.is_empty());
            }
        } else {
            assert_forwarded_untouched(&sent, &answer, &seen)?;
        }
    }

    /// What some server would route into the namespace (nginx, Apache,
    /// Tomcat, Jetty, IIS, URL parsers, two decoders in a row, Unicode
    /// folding, a router that normalises nothing) is never forwarded, and
    /// the model agrees that it is in the namespace.
    #[test]
    fn no_server_reading_of_the_namespace_is_forwarded(
        method in method(),
        path in path(),
        mut headers in headers(),
        marker in any::<u64>(),
    ) {
        let servers = servers_reading_it_as_well_known(&path);
        prop_assert!(
            servers.is_empty() || normalises_into_namespace(&path),
            "{} is in the namespace for {:?}, not in the model", path, servers
        );
        headers.insert(0, (HOST, HeaderValue::from_static(HOST_NAME)));
        let request = build(&method, None, &path, &headers, marker, &[]);
        let (_, seen) = send(&layer(), request);
        prop_assert!(
            servers.is_empty() || seen.is_empty(),
            "{} reached the inner service; {:?} route it into the namespace", path, servers
        );
    }

    /// Paths outside the namespace reach the inner service byte-for-byte:
    /// method, target, every header in order (credentials included), the
    /// extensions and the body; and its response comes back as it was.
    #[test]
    fn other_paths_are_forwarded_untouched(
        method in method(),
        prefix in prop::sample::select(vec![
            "/", "/api", "/api/v1/users", "/.well-known/other", "/.well-known/rstreamer",
            "/.well-known/openid-configuration", "/x/.well-known/rstream", "/rstream/session",
            "/x/%2E%2E/y/.well-known/rstream", "/.well-known;/other", "/files/a;b", "/a\\b",
            "/caf%C3%A9", "/café", "/ｆｕｌｌ", "/.WELL-KNOWN/openid-configuration",
        ]),
        rest in prop::collection::vec("[A-Za-z0-9._~!$&'()*+,;=:@-]{1,8}", 0..4),
        query in query(),
        mut headers in headers(),
        body in body(),
        marker in any::<u64>(),
    ) {
        let mut path = prefix.to_owned();
        for segment in rest {
            if !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(&segment);
        }
        // Random segments such as `..` could climb into the namespace; those
        // paths are the first property's business.
        prop_assume!(!normalises_into_namespace(&path) && !literally_in_namespace(&path));
        headers.insert(0, (HOST, HeaderValue::from_static(HOST_NAME)));
        let target = path_and_query(&path, query.as_deref());
        let request = build(&method, None, &target, &headers, marker, &body);
        let sent = Sent::of(&request, &body);
        let (answer, seen) = send(&layer(), request);
        assert_forwarded_untouched(&sent, &answer, &seen)?;
    }

    /// Well-known paths on a host that is not a tunnel are not the layer's:
    /// another host or port in `Host`, or an absolute-form target naming
    /// another authority (alone, or with the same `Host`).
    #[test]
    fn well_known_paths_on_other_hosts_are_forwarded_untouched(
        method in method(),
        endpoint in prop::sample::select(vec![
            "/.well-known/rstream/session",
            "/.well-known/rstream/logout",
            "/.well-known/rstream/other",
            "/.well-known/rstream",
            "/.well-known/rstream/%73ession",
            "/.well-known%2Frstream%2Flogout",
        ]),
        query in query(),
        host in other_host(),
        how in 0..4u8,
        mut headers in headers(),
        body in body(),
        marker in any::<u64>(),
    ) {
        let authority = match how {
            // Host: <other host>
            0 => {
                headers.insert(0, (HOST, HeaderValue::from_str(&host).unwrap()));
                None
            }
            // https://<other host>/... with no Host (HTTP/2's :authority).
            1 => Some(host.as_str()),
            // https://<other host>/... with the same Host.
            _ => {
                headers.insert(0, (HOST, HeaderValue::from_str(&host).unwrap()));
                Some(host.as_str())
            }
        };
        let target = path_and_query(endpoint, query.as_deref());
        let request = build(&method, authority, &target, &headers, marker, &body);
        let sent = Sent::of(&request, &body);
        let (answer, seen) = send(&layer(), request);
        assert_forwarded_untouched(&sent, &answer, &seen)?;
    }

    /// A well-known request whose host is ambiguous or missing is answered
    /// `400` and never forwarded, whatever else it carries: an absolute-form
    /// target naming another authority than `Host`, no host at all, or a
    /// repeated `Host` (even the tunnel, twice).
    #[test]
    fn well_known_paths_with_ambiguous_hosts_are_refused(
        method in method(),
        endpoint in prop::sample::select(vec![
            "/.well-known/rstream/session",
            "/.well-known/rstream/logout",
            "/.well-known/rstream/other",
            "/.well-known%2Frstream%2Flogout",
        ]),
        query in query(),
        host in other_host(),
        how in 0..4u8,
        mut headers in headers(),
        body in body(),
        marker in any::<u64>(),
    ) {
        let tunnel = HeaderValue::from_static(HOST_NAME);
        let authority = match how {
            // https://<other host>/... with Host: <the tunnel>
            0 => {
                headers.insert(0, (HOST, tunnel));
                Some(host.as_str())
            }
            // https://<the tunnel>/... with Host: <other host>
            1 => {
                headers.insert(0, (HOST, HeaderValue::from_str(&host).unwrap()));
                Some(HOST_NAME)
            }
            // No host at all.
            2 => None,
            // Host: <the tunnel>, twice.
            _ => {
                headers.insert(0, (HOST, tunnel.clone()));
                headers.push((HOST, tunnel));
                None
            }
        };
        let target = path_and_query(endpoint, query.as_deref());
        let request = build(&method, authority, &target, &headers, marker, &body);
        let (answer, seen) = send(&layer(), request);
        prop_assert!(seen.is_empty(), "{} {} reached the inner service", method, target);
        prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        prop_assert!(answer
            .headers
            .iter()
            .any(|(name, value)| name == http::header::CACHE_CONTROL && value == "no-store"));
    }

    /// The session endpoint never echoes a credential: not the bearer token
    /// (header or query), valid or not, and not the session cookie, live or
    /// not. And it reports the method the precedence rules give.
    #[test]
    fn the_session_endpoint_never_echoes_credentials(
        head in any::<bool>(),
        header_token in prop::option::of(prop_oneof![
            3 => "[A-Za-z0-9._~+/-]{16,40}=*",
            1 => Just(TOKEN.to_owned()),
        ]),
        query_token in prop::option::of(prop_oneof![
            3 => "[A-Za-z0-9._~-]{16,40}",
            1 => Just(TOKEN.to_owned()),
        ]),
        cookie in prop::option::of(prop_oneof![
            "[A-Za-z0-9!#$%&'()*+./:<=>?@^_`{|}~-]{16,40}".prop_map(Some),
            Just(None), // a live session, signed in below
        ]),
    ) {
        let layer = layer();
        let mut secrets = Vec::new();
        let mut headers = vec![(HOST, HeaderValue::from_static(HOST_NAME))];
        if let Some(token) = &header_token {
            headers.push((
                http::header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            ));
            secrets.push(token.clone());
        }
        let live_cookie = matches!(cookie, Some(None));
        if let Some(cookie) = cookie {
            let value = match cookie {
                Some(random) => random,
                None => {
                    let sessions = layer.session_manager();
                    let signed_in = block_on(sessions.sign_in(User::new("cookie-user"))).unwrap();
                    signed_in.session_id().expose().to_owned()
                }
            };
            headers.push((
                http::header::COOKIE,
                HeaderValue::from_str(&format!("theme=dark; {COOKIE_NAME}={value}")).unwrap(),
            ));
            secrets.push(value);
        }
        let mut target = "/.well-known/rstream/session".to_owned();
        if let Some(token) = &query_token {
            target.push_str("?rstream.token=");
            target.push_str(token);
            secrets.push(token.clone());
        }
        let method = if head { Method::HEAD } else { Method::GET };
        let request = build(&method, None, &target, &headers, 0, &[]);
        let (answer, seen) = send(&layer, request);

        prop_assert!(seen.is_empty());
        prop_assert_eq!(answer.status, StatusCode::OK);
        for secret in &secrets {
            let echoed_in_body = answer
                .body
                .windows(secret.len())
                .any(|w| w == secret.as_bytes());
            prop_assert!(!echoed_in_body, "the body echoes {:?}", secret);
            for (name, value) in &answer.headers {
                let echoed = value
                    .as_bytes()
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes());
                prop_assert!(!echoed, "header {} echoes {:?}", name, secret);
            }
        }

        // The header is used when present; otherwise the query parameter;
        // a missing or refused token falls back to the cookie.
        let token = header_token.as_ref().or(query_token.as_ref());
        let expected = if token.is_some_and(|t| t == TOKEN) {
            Some("token-auth")
        } else if live_cookie {
            Some("rstream-auth")
        } else {
            None
        };
        if head {
            prop_assert!(answer.body.is_empty());
        } else {
            let json: serde_json::Value = serde_json::from_slice(&answer.body)
                .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
            prop_assert_eq!(json["auth"]["authenticated"].as_bool(), Some(expected.is_some()));
            prop_assert_eq!(json["auth"]["method"].as_str(), expected);
        }
    }
}
