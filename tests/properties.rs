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

/// The test's own reading of "this path is a well-known path, however it is
/// spelled": decode every `%XX` (`%2F` included, once), split on `/`, drop
/// empty and `.` segments, apply `..`, and look at the first two segments.
fn normalises_into_namespace(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 3).filter(|_| bytes[i] == b'%');
        match escape.and_then(|hex| std::str::from_utf8(hex).ok()) {
            Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                decoded.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            _ => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    let mut stack: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            other => stack.push(other),
        }
    }
    stack.len() >= 2 && stack[0] == b".well-known" && stack[1] == b"rstream"
}

/// The literal namespace: `/.well-known/rstream` itself or anything under it.
fn literally_in_namespace(path: &str) -> bool {
    path == "/.well-known/rstream" || path.starts_with("/.well-known/rstream/")
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

/// Percent-encodes the bytes of `segment` selected by `mask` (bit `i % 64`
/// for byte `i`), in upper- or lower-case hex as `upper` says.
fn encode(segment: &str, mask: u64, upper: u64) -> String {
    let mut out = String::new();
    for (i, byte) in segment.bytes().enumerate() {
        let bit = 1u64 << (i % 64);
        if mask & bit != 0 {
            if upper & bit != 0 {
                out.push_str(&format!("%{byte:02X}"));
            } else {
                out.push_str(&format!("%{byte:02x}"));
            }
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

/// A path segment, before encoding. Random ones use only `pchar`s, so every
/// generated path is a valid URI path.
fn raw_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ".well-known", "rstream", "session", "logout", ".", "..", "", "api",
            ".WELL-KNOWN", "RSTREAM", "rstreamer", "other",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z0-9._~!$&'()*+,;=:@-]{1,8}",
    ]
}

/// Percent-encodes any of the bytes of `segment`, when `mangle` is set.
fn encoded(segment: impl Strategy<Value = String>, mangle: bool) -> impl Strategy<Value = String> {
    let mask = if mangle {
        prop_oneof![Just(0u64), any::<u64>()].boxed()
    } else {
        Just(0u64).boxed()
    };
    (segment, mask, any::<u64>()).prop_map(|(segment, mask, upper)| encode(&segment, mask, upper))
}

/// `/`, or, when `mangle` is set, sometimes `//` or an encoded slash.
fn separator(mangle: bool) -> impl Strategy<Value = &'static str> {
    if mangle {
        prop_oneof![3 => Just("/"), 1 => Just("//"), 1 => Just("%2F"), 1 => Just("%2f")].boxed()
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
            .map(|segment| (separator(mangle), encoded(Just(segment.to_owned()), mangle)))
            .collect::<Vec<_>>()
    });
    let rest = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec((separator(mangle), encoded(raw_segment(), mangle)), 1..5),
    ];
    let trailing_slash = prop::bool::weighted(0.2);
    (prefix, rest, trailing_slash).prop_map(|(prefix, rest, trailing_slash)| {
        let mut path = String::new();
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
    })
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
    /// layer answers exactly the paths in the namespace (literally, or once
    /// decoded and normalised) with one of its statuses and `no-store`, and
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

    /// Paths outside the namespace reach the inner service byte-for-byte:
    /// method, target, every header in order (credentials included), the
    /// extensions and the body; and its response comes back as it was.
    #[test]
    fn other_paths_are_forwarded_untouched(
        method in method(),
        prefix in prop::sample::select(vec![
            "/", "/api", "/api/v1/users", "/.well-known/other", "/.well-known/rstreamer",
            "/.well-known/openid-configuration", "/x/.well-known/rstream", "/rstream/session",
            "/.well-known/RSTREAM", "/%252Ewell-known/rstream",
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
                    let sessions = layer.session_manager().unwrap();
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
