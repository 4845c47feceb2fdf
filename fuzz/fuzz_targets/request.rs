//! Fuzzes `WellKnownLayer` through its public API with arbitrary requests.
//!
//! One layer (two tunnels, a static token verifier and a memory store) wraps
//! an inner service that records what reaches it. From each input a request
//! is built: method, path and query (assembled from well-known words, dot
//! segments and percent escapes, or raw), host (URI authority and/or `Host`
//! header), headers (credentials, origins, content types, raw bytes) and a
//! body. A header `http` refuses is left out; an input whose method or URI
//! `http` refuses is skipped. Then, besides "no panic", the target asserts:
//!
//! 1. a request either reaches the inner service untouched (same method, URI,
//!    headers and body) or is answered by the layer, never both;
//! 2. a request reaches the inner service only if it is *not* a well-known
//!    request on a tunnel host: its path, percent-decoded with empty and `.`
//!    segments dropped and `..` applied, is not under `/.well-known/rstream`,
//!    or its host is not a tunnel. The layer answers only such requests.
//!    Both checks are written here from the crate docs, independently of the
//!    crate's code;
//! 3. the layer answers with a documented status (200, 204, 400, 403, 404,
//!    405, 415, 503), always with `Cache-Control: no-store`, with no body for
//!    `HEAD` and `204`;
//! 4. no answer of the layer contains a credential from the request: the
//!    valid token, the valid session id, or any invented token or cookie
//!    value (all of which carry a marker that nothing else produces), in any
//!    header or in the body.

#![no_main]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use bytes::Bytes;
use futures::FutureExt;
use futures::executor::block_on;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, ORIGIN, REFERER,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use rstream_well_known::{
    MemoryStore, SessionId, SessionManager, SessionStore, StaticTokenVerifier, Tunnel, User,
    WellKnownLayer,
};
use tower::{Layer, ServiceExt, service_fn};

/// The tunnels: (host name, port requests arrive on when they name none,
/// configured host, origin).
const TUNNELS: [(&str, u16, &str, &str); 2] = [
    (
        "app.example.com",
        443,
        "app.example.com",
        "https://app.example.com",
    ),
    ("127.0.0.1", 3000, "127.0.0.1:3000", "http://127.0.0.1:3000"),
];
/// The one token the verifier accepts.
const VALID_TOKEN: &str = "fzTokQ7xv3Lm9pW2";
/// Prefix of every invented token or cookie value: if it shows up in an
/// answer of the layer, the layer echoed a credential.
const MARKER: &str = "mrkZ4q8w";
/// Marks the inner service's responses.
const INNER_HEADER: &str = "x-fuzz-inner";

struct State {
    layer: WellKnownLayer,
    sessions: SessionManager<MemoryStore>,
    /// The live session's id; renewed when a logout revoked it.
    session: Mutex<SessionId>,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut builder = WellKnownLayer::builder();
        for (_, _, host, origin) in TUNNELS {
            builder = builder.tunnel(
                Tunnel::new(host, "workspace-id", "project-id")
                    .and_then(|t| t.with_origin(origin))
                    .expect("valid tunnel"),
            );
        }
        let layer = builder
            .with_token_verifier(
                StaticTokenVerifier::new()
                    .with_token(VALID_TOKEN, User::new("fuzz-user").with_name("Fuzz User")),
            )
            .with_session_store(MemoryStore::new())
            .build()
            .expect("valid configuration");
        let sessions = layer.session_manager().expect("sessions enabled");
        let session = sign_in(&sessions);
        State {
            layer,
            sessions,
            session: Mutex::new(session),
        }
    })
}

fn sign_in(sessions: &SessionManager<MemoryStore>) -> SessionId {
    block_on(sessions.sign_in(User::new("cookie-user").with_email("c@example.com")))
        .expect("sign-in")
        .session_id()
        .clone()
}

/// What reached the inner service.
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

static SEEN: Mutex<Option<Seen>> = Mutex::new(None);

fn inner(request: Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .now_or_never()
        .expect("a Full body is ready")
        .expect("a Full body cannot fail")
        .to_bytes();
    *SEEN.lock().unwrap() = Some(Seen {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    });
    let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
    response
        .headers_mut()
        .insert(INNER_HEADER, HeaderValue::from_static("1"));
    ready(Ok(response))
}

// ---------------------------------------------------------------- the input

#[derive(Arbitrary, Debug)]
struct Input {
    method: MethodIn,
    host: HostPlacement,
    path: PathIn,
    query: Option<Vec<QueryIn>>,
    headers: Vec<(NameIn, ValueIn)>,
    body: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum MethodIn {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum HostPlacement {
    /// A `Host` header, as HTTP/1.1 sends it.
    Header(HostIn),
    /// An absolute URI (`scheme://host/path`, `https` when `true`), as
    /// HTTP/2 and proxies send it.
    Absolute(bool, HostIn),
    /// Both; they may disagree.
    Both {
        https: bool,
        absolute: HostIn,
        header: HostIn,
    },
    /// Neither (more may come with the other headers).
    Neither,
}

#[derive(Arbitrary, Debug)]
enum HostIn {
    Tunnel(bool),
    TunnelUpper(bool),
    TunnelPort(bool, u16),
    TunnelEmptyPort(bool),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum PathIn {
    /// `/.well-known/rstream/session` (`true`) or `/.well-known/rstream/logout`.
    Endpoint(bool),
    Segments {
        segments: Vec<Segment>,
        trailing_slash: bool,
    },
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Segment {
    /// A word of the namespace, each letter percent-encoded when its bit in
    /// `mask` is set.
    Word {
        word: Word,
        mask: u16,
        upper_hex: bool,
    },
    Dot,
    DotDot,
    EncodedDot,
    EncodedSlash,
    Empty,
    Escape(u8),
    Text(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    WellKnown,
    Rstream,
    Session,
    Logout,
}

#[derive(Arbitrary, Debug)]
enum QueryIn {
    Token(TokenIn),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum TokenIn {
    Valid,
    Invented(String),
}

#[derive(Arbitrary, Debug)]
enum NameIn {
    Authorization,
    Cookie,
    Origin,
    Referer,
    ContentType,
    Host,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum ValueIn {
    Bearer(TokenIn),
    /// The session cookie: the live session, or an invented value.
    Session {
        live: bool,
        invented: String,
        other_cookies: bool,
    },
    TunnelOrigin {
        which: bool,
        path: bool,
    },
    TunnelHost(HostIn),
    Json(String),
    Raw(Vec<u8>),
}

// ------------------------------------------------------------ building it

fn percent(out: &mut String, byte: u8, upper: bool) {
    if upper {
        out.push_str(&format!("%{byte:02X}"));
    } else {
        out.push_str(&format!("%{byte:02x}"));
    }
}

fn host_string(host: &HostIn) -> String {
    match host {
        HostIn::Tunnel(which) => TUNNELS[usize::from(*which)].2.to_owned(),
        HostIn::TunnelUpper(which) => TUNNELS[usize::from(*which)].2.to_ascii_uppercase(),
        HostIn::TunnelPort(which, port) => format!("{}:{port}", TUNNELS[usize::from(*which)].0),
        HostIn::TunnelEmptyPort(which) => format!("{}:", TUNNELS[usize::from(*which)].0),
        HostIn::Other(s) => s.clone(),
    }
}

fn token_string(token: &TokenIn) -> String {
    match token {
        TokenIn::Valid => VALID_TOKEN.to_owned(),
        TokenIn::Invented(s) => format!("{MARKER}{s}"),
    }
}

fn path_string(path: &PathIn) -> String {
    match path {
        PathIn::Raw(raw) => raw.clone(),
        PathIn::Endpoint(true) => "/.well-known/rstream/session".to_owned(),
        PathIn::Endpoint(false) => "/.well-known/rstream/logout".to_owned(),
        PathIn::Segments {
            segments,
            trailing_slash,
        } => {
            let mut out = String::new();
            for segment in segments {
                out.push('/');
                match segment {
                    Segment::Word {
                        word,
                        mask,
                        upper_hex,
                    } => {
                        let text = match word {
                            Word::WellKnown => ".well-known",
                            Word::Rstream => "rstream",
                            Word::Session => "session",
                            Word::Logout => "logout",
                        };
                        for (i, byte) in text.bytes().enumerate() {
                            if mask & (1 << i) != 0 {
                                percent(&mut out, byte, *upper_hex);
                            } else {
                                out.push(char::from(byte));
                            }
                        }
                    }
                    Segment::Dot => out.push('.'),
                    Segment::DotDot => out.push_str(".."),
                    Segment::EncodedDot => out.push_str("%2E"),
                    Segment::EncodedSlash => out.push_str("%2F"),
                    Segment::Empty => {}
                    Segment::Escape(byte) => percent(&mut out, *byte, false),
                    Segment::Text(text) => out.push_str(text),
                }
            }
            if *trailing_slash || out.is_empty() {
                out.push('/');
            }
            out
        }
    }
}

fn value_bytes(value: &ValueIn, session: &SessionId) -> Vec<u8> {
    match value {
        ValueIn::Bearer(token) => format!("Bearer {}", token_string(token)).into_bytes(),
        ValueIn::Session {
            live,
            invented,
            other_cookies,
        } => {
            let value = if *live {
                session.expose().to_owned()
            } else {
                format!("{MARKER}{invented}")
            };
            if *other_cookies {
                format!("theme=dark; __Host-rstream_session={value}; lang=en").into_bytes()
            } else {
                format!("__Host-rstream_session={value}").into_bytes()
            }
        }
        ValueIn::TunnelOrigin { which, path } => {
            let origin = TUNNELS[usize::from(*which)].3;
            if *path {
                format!("{origin}/account").into_bytes()
            } else {
                origin.as_bytes().to_vec()
            }
        }
        ValueIn::TunnelHost(host) => host_string(host).into_bytes(),
        ValueIn::Json(params) => format!("application/json{params}").into_bytes(),
        ValueIn::Raw(bytes) => bytes.clone(),
    }
}

fn build(input: &Input, session: &SessionId) -> Option<Request<Full<Bytes>>> {
    let method = match &input.method {
        MethodIn::Get => Method::GET,
        MethodIn::Head => Method::HEAD,
        MethodIn::Post => Method::POST,
        MethodIn::Put => Method::PUT,
        MethodIn::Delete => Method::DELETE,
        MethodIn::Options => Method::OPTIONS,
        MethodIn::Other(m) => Method::from_bytes(m.as_bytes()).ok()?,
    };
    let mut target = path_string(&input.path);
    if let Some(query) = &input.query {
        target.push('?');
        for (i, part) in query.iter().enumerate() {
            if i > 0 {
                target.push('&');
            }
            match part {
                QueryIn::Token(token) => {
                    target.push_str("rstream.token=");
                    target.push_str(&token_string(token));
                }
                QueryIn::Raw(raw) => target.push_str(raw),
            }
        }
    }
    let (absolute, header) = match &input.host {
        HostPlacement::Header(host) => (None, Some(host)),
        HostPlacement::Absolute(https, host) => (Some((*https, host)), None),
        HostPlacement::Both {
            https,
            absolute,
            header,
        } => (Some((*https, absolute)), Some(header)),
        HostPlacement::Neither => (None, None),
    };
    if let Some((https, host)) = absolute {
        let scheme = if https { "https" } else { "http" };
        target = format!("{scheme}://{}{target}", host_string(host));
    }
    let uri = Uri::try_from(target).ok()?;
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(Ok(value)) = header.map(|host| HeaderValue::try_from(host_string(host))) {
        builder = builder.header(HOST, value);
    }
    for (name, value) in &input.headers {
        let name = match name {
            NameIn::Authorization => AUTHORIZATION,
            NameIn::Cookie => COOKIE,
            NameIn::Origin => ORIGIN,
            NameIn::Referer => REFERER,
            NameIn::ContentType => CONTENT_TYPE,
            NameIn::Host => HOST,
            NameIn::Other(name) => match HeaderName::from_bytes(name.as_bytes()) {
                Ok(name) => name,
                Err(_) => continue,
            },
        };
        // A value `http` refuses is left out; the rest of the request stays.
        if let Ok(value) = HeaderValue::from_bytes(&value_bytes(value, session)) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Full::new(Bytes::from(input.body.clone())))
        .ok()
}

// ---------------------------------------------- the independent judgement

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `path`, percent-decoded (every valid escape, `%2F` included),
/// with empty and `.` segments dropped and `..` applied, is
/// `/.well-known/rstream` or under it.
fn is_well_known(path: &str) -> bool {
    let raw = path.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escape = (raw[i] == b'%')
            .then(|| Some((hex(*raw.get(i + 1)?)?, hex(*raw.get(i + 2)?)?)))
            .flatten();
        match escape {
            Some((hi, lo)) => {
                decoded.push(hi * 16 + lo);
                i += 3;
            }
            None => {
                decoded.push(raw[i]);
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

/// Whether the request is for a tunnel: its host is the URI's authority when
/// it has one, else its one `Host` header; the host name is compared without
/// regard to case, and a missing (or empty) port is the default port of the
/// tunnel origin's scheme. The trailing dot of a fully qualified name
/// (`app.example.com.`) is ignored; an authority with userinfo
/// (`u@app.example.com`) names no tunnel, and the crate forwards it (see
/// README.md here).
fn is_tunnel_host(uri: &Uri, headers: &HeaderMap) -> bool {
    let authority = match uri.authority() {
        Some(authority) => authority.as_str().as_bytes().to_vec(),
        None => {
            let mut hosts = headers.get_all(HOST).iter();
            match (hosts.next(), hosts.next()) {
                (Some(host), None) => host.as_bytes().to_vec(),
                _ => return false,
            }
        }
    };
    let Ok(authority) = String::from_utf8(authority) else {
        return false;
    };
    let (name, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon + 1..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority.as_str(), None),
    };
    TUNNELS.iter().any(|&(tunnel, tunnel_port, _, origin)| {
        let default = if origin.starts_with("https:") {
            443
        } else {
            80
        };
        let port = match port {
            None | Some("") => Some(default),
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 5 => {
                digits.parse::<u16>().ok()
            }
            Some(_) => None,
        };
        let name = match name.strip_suffix('.') {
            Some(stripped) if !stripped.is_empty() => stripped,
            _ => name,
        };
        name.eq_ignore_ascii_case(tunnel) && port == Some(tunnel_port)
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|input: Input| {
    let state = state();
    let session = state.session.lock().unwrap().clone();
    let Some(request) = build(&input, &session) else {
        return;
    };
    let (method, uri, headers) = (
        request.method().clone(),
        request.uri().clone(),
        request.headers().clone(),
    );
    let well_known_on_tunnel = is_tunnel_host(&uri, &headers) && is_well_known(uri.path());

    *SEEN.lock().unwrap() = None;
    let service = state.layer.layer(service_fn(inner));
    let response = block_on(service.oneshot(request)).expect("the service is infallible");
    let seen = SEEN.lock().unwrap().take();
    let (parts, body) = response.into_parts();
    let body = block_on(body.collect())
        .expect("bodies here cannot fail")
        .to_bytes();

    match seen {
        Some(seen) => {
            // 1 and 2: forwarded untouched, and only what is not the layer's.
            assert!(
                !well_known_on_tunnel,
                "a well-known request on a tunnel host reached the inner service: \
                 {method} {uri} {headers:?}"
            );
            assert_eq!(seen.method, method);
            assert_eq!(seen.uri, uri);
            assert_eq!(seen.headers, headers);
            assert_eq!(seen.body, input.body.as_slice());
            assert!(parts.headers.contains_key(INNER_HEADER));
            assert_eq!(body, "inner");
        }
        None => {
            // 1 and 2: answered by the layer, and only when it is the layer's.
            assert!(
                well_known_on_tunnel,
                "the layer answered a request that is not its own: {method} {uri} {headers:?} \
                 -> {}",
                parts.status
            );
            assert!(!parts.headers.contains_key(INNER_HEADER));
            // 3: documented statuses and headers.
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::NO_CONTENT,
                    StatusCode::BAD_REQUEST,
                    StatusCode::FORBIDDEN,
                    StatusCode::NOT_FOUND,
                    StatusCode::METHOD_NOT_ALLOWED,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    StatusCode::SERVICE_UNAVAILABLE,
                ]
                .contains(&parts.status),
                "undocumented status {} for {method} {uri}",
                parts.status
            );
            assert_eq!(
                parts.headers.get(CACHE_CONTROL).map(HeaderValue::as_bytes),
                Some(&b"no-store"[..])
            );
            if method == Method::HEAD || parts.status == StatusCode::NO_CONTENT {
                assert!(body.is_empty(), "{method} {} has a body", parts.status);
            }
            if parts.status == StatusCode::NO_CONTENT {
                assert!(!parts.headers.contains_key(CONTENT_LENGTH));
            }
            // 4: no credential from the request in the answer.
            let secrets: [&[u8]; 3] = [
                VALID_TOKEN.as_bytes(),
                session.expose().as_bytes(),
                MARKER.as_bytes(),
            ];
            for secret in secrets {
                assert!(
                    !contains(&body, secret),
                    "the body echoes a credential: {body:?}"
                );
                for (name, value) in &parts.headers {
                    assert!(
                        !contains(value.as_bytes(), secret),
                        "header {name} echoes a credential: {value:?}"
                    );
                }
            }
        }
    }

    // A logout may have revoked the live session: start a new one so the
    // fuzzer keeps reaching the authenticated paths.
    let live =
        block_on(state.sessions.store().load(&session)).expect("the memory store does not fail");
    if live.is_none() {
        *state.session.lock().unwrap() = sign_in(&state.sessions);
    }
});
