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
//!    request (no reading of its path in the crate docs' model is under
//!    `/.well-known/rstream`, see `is_well_known`) or its host is a
//!    well-formed host that is not a tunnel. The layer answers only
//!    well-known requests on a tunnel, and well-known requests with an
//!    invalid host (repeated, malformed, missing in HTTP/1.1, or a URI
//!    authority naming another host than `Host`), which get `400`; it may
//!    also answer a path only its walk's fixed bounds put in the namespace.
//!    Both checks are written here from the crate docs, independently of the
//!    crate's code;
//! 3. the layer answers with a documented status (200, 204, 400, 403, 404,
//!    405, 411, 415, 503), always with `Cache-Control: no-store`, with no
//!    body for `HEAD` and `204`;
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
    MemoryStore, SessionCookie, SessionId, SessionManager, SessionStore, StaticTokenVerifier,
    Tunnel, User, WellKnownLayer,
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
            // One https and one loopback http tunnel: the cookie is named
            // explicitly (`__Host-rstream_session`, `Secure`), since a mix
            // of schemes leaves no cookie to derive.
            .session_cookie(SessionCookie::default())
            .build()
            .expect("valid configuration");
        let sessions = layer.session_manager();
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
        /// `//evil` or `/\evil` before the segments: a host to URL parsers.
        authority: Option<bool>,
        segments: Vec<Segment>,
        trailing_slash: bool,
    },
    Raw(String),
}

/// A segment after a `/` (or, for `Glued`, no `/`).
#[derive(Arbitrary, Debug)]
enum Segment {
    /// A word of the namespace, each character spelled as the low bits of
    /// `spelling[i % 16]` say (see `spell`).
    Word {
        word: Word,
        spelling: [u8; 16],
    },
    Dot,
    DotDot,
    /// `.`, `..` or `...` spelled as `spelling` says.
    Dots {
        count: u8,
        spelling: [u8; 16],
    },
    EncodedDot,
    EncodedSlash,
    /// A separator other than `/`, glued to the segment before.
    Glued(Separator),
    /// Text after the previous segment's name that some servers drop:
    /// `;parameters`, an NTFS `:stream`, trailing dots or spaces.
    Tail(Tail),
    Empty,
    Escape(u8),
    /// Any character, raw (non-ASCII ones are valid in a URI as UTF-8).
    Char(char),
    Text(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Separator {
    Backslash,
    EncodedBackslash,
    EncodedSlash,
    DoubleEncodedSlash,
    OverlongSlash,
    FullwidthSlash,
    WideSlash,
}

#[derive(Arbitrary, Debug)]
enum Tail {
    Parameters(String),
    Stream,
    Dot,
    Space,
    DotSpaceDot,
    Query,
    Nul,
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

/// Spells `text` a character at a time, as the low three bits of
/// `spelling[i % 16]` say: as it is, in the other case, percent-encoded
/// (upper- or lower-case hex), encoded twice, fullwidth (raw or encoded), as
/// an overlong UTF-8 sequence or as an IIS `%u` escape. Characters a URI
/// cannot carry raw are percent-encoded.
fn spell(out: &mut String, text: &str, spelling: &[u8; 16]) {
    let encode = |out: &mut String, c: char, prefix: &str, upper: bool| {
        let mut buf = [0; 4];
        for byte in c.encode_utf8(&mut buf).bytes() {
            out.push_str(prefix);
            percent(out, byte, upper);
        }
    };
    for (i, c) in text.chars().enumerate() {
        let fullwidth = ('!'..='~')
            .contains(&c)
            .then(|| char::from_u32(0xFF01 + u32::from(c) - 0x21))
            .flatten();
        match (spelling[i % 16] & 7, fullwidth) {
            (1, _) if c.is_ascii_alphabetic() => out.push(char::from(c as u8 ^ 0x20)),
            (2, _) => encode(out, c, "", true),
            (3, _) => encode(out, c, "", false),
            (4, _) => encode(out, c, "%25", true),
            (5, Some(wide)) => out.push(wide),
            (6, Some(wide)) => encode(out, wide, "", true),
            (6, None) if c.is_ascii() => {
                let byte = c as u8;
                percent(out, 0xC0 | byte >> 6, true);
                percent(out, 0x80 | (byte & 0x3F), true);
            }
            (7, _) if c.is_ascii() => out.push_str(&format!("%u{:04x}", u32::from(c))),
            _ if matches!(c, ' ' | '?' | '#') => encode(out, c, "", true),
            _ => out.push(c),
        }
    }
}

fn path_string(path: &PathIn) -> String {
    match path {
        PathIn::Raw(raw) => raw.clone(),
        PathIn::Endpoint(true) => "/.well-known/rstream/session".to_owned(),
        PathIn::Endpoint(false) => "/.well-known/rstream/logout".to_owned(),
        PathIn::Segments {
            authority,
            segments,
            trailing_slash,
        } => {
            let mut out = match authority {
                None => String::new(),
                Some(true) => "//evil".to_owned(),
                Some(false) => "/\\evil".to_owned(),
            };
            for segment in segments {
                if !matches!(segment, Segment::Glued(_) | Segment::Tail(_)) {
                    out.push('/');
                }
                match segment {
                    Segment::Word { word, spelling } => {
                        let text = match word {
                            Word::WellKnown => ".well-known",
                            Word::Rstream => "rstream",
                            Word::Session => "session",
                            Word::Logout => "logout",
                        };
                        spell(&mut out, text, spelling);
                    }
                    Segment::Dot => out.push('.'),
                    Segment::DotDot => out.push_str(".."),
                    Segment::Dots { count, spelling } => {
                        spell(&mut out, &".".repeat(usize::from(count % 3) + 1), spelling);
                    }
                    Segment::EncodedDot => out.push_str("%2E"),
                    Segment::EncodedSlash => out.push_str("%2F"),
                    Segment::Glued(separator) => out.push_str(match separator {
                        Separator::Backslash => "\\",
                        Separator::EncodedBackslash => "%5C",
                        Separator::EncodedSlash => "%2f",
                        Separator::DoubleEncodedSlash => "%252F",
                        Separator::OverlongSlash => "%C0%AF",
                        Separator::FullwidthSlash => "\u{FF0F}",
                        Separator::WideSlash => "%u002f",
                    }),
                    Segment::Tail(tail) => match tail {
                        Tail::Parameters(text) => {
                            out.push(';');
                            spell(&mut out, text, &[0; 16]);
                        }
                        Tail::Stream => out.push_str("::$INDEX_ALLOCATION"),
                        Tail::Dot => out.push('.'),
                        Tail::Space => out.push_str("%20"),
                        Tail::DotSpaceDot => out.push_str(".%20."),
                        Tail::Query => out.push_str("%3F"),
                        Tail::Nul => out.push_str("%00"),
                    },
                    Segment::Empty => {}
                    Segment::Escape(byte) => percent(&mut out, *byte, false),
                    Segment::Char(c) => spell(&mut out, c.encode_utf8(&mut [0; 4]), &[0; 16]),
                    Segment::Text(text) => out.push_str(text),
                }
            }
            if !out.starts_with('/') {
                // An origin-form target starts with `/`, whatever follows.
                out.insert(0, '/');
            }
            if *trailing_slash {
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

#[path = "../../tests/reference/readings.rs"]
mod readings;
use readings::{characters, decode_fully, some_reading_is_well_known};

/// Whether `path` is a well-known path, the crate docs' model written again:
/// some reading of it (the path cut before a decoded `?`, `#` or NUL
/// included, and the path as sent, letter case aside) is
/// `/.well-known/rstream` or under it. A reading decodes `%HH` and `%uHHHH`
/// until none is left, reads the bytes as lenient UTF-8 with look-alikes
/// (NFKC) mapped to ASCII, splits at `/` and `\`, and reads each segment by
/// its name (cut at `;` or `:`, trailing spaces, then dots and spaces, off)
/// or as an ordinary name, or drops it after a separator other than a `/`
/// as sent (or as the host of `//host/…`); a plain `.` or `..` as sent is
/// always dropped or climbs.
fn is_well_known(path: &str) -> bool {
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

/// Whether the crate may answer a path `404` although no reading of it is in
/// the namespace: its walk has fixed bounds that err on that side (crate
/// docs, "Cost": more than 32 `%` waiting at once for what follows them).
/// Read here, more loosely, as: more than 32 `%` in all once every `%25` is
/// collapsed, or more than 63 separators once fully decoded.
fn may_fail_closed(path: &str) -> bool {
    let mut collapsed = path.to_owned();
    while collapsed.contains("%25") {
        collapsed = collapsed.replace("%25", "%");
    }
    let percents = collapsed.matches('%').count();
    let separators = characters(&decode_fully(path))
        .iter()
        .filter(|(c, _)| matches!(c, Some(b'/' | b'\\')))
        .count();
    percents > 32 || separators > 63
}

/// The namespace as sent, letter case aside: `/.well-known/rstream` itself
/// or anything under it.
fn literally_in_namespace(path: &str) -> bool {
    let namespace = "/.well-known/rstream";
    path.get(..namespace.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(namespace))
        && matches!(path.as_bytes().get(namespace.len()), None | Some(b'/'))
}

/// What the request's host says, by the crate docs' host rules.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum HostClass {
    /// One of the tunnels.
    Tunnel,
    /// A well-formed host that is no tunnel: well-known requests for it are
    /// forwarded.
    Other,
    /// Repeated, malformed (userinfo, bad port, an empty label), missing
    /// (HTTP/1.1), or a URI authority naming another host or port than
    /// `Host`: a well-known request gets `400`.
    Invalid,
}

/// A host as a request names it: the name (lower-cased, one trailing dot
/// dropped) and the port, when it is well-formed.
fn parse_request_host(raw: &[u8]) -> Option<(String, Option<u16>)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (name, port) = if text.starts_with('[') {
        let close = text.find(']')?;
        let literal = &text[1..close];
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let rest = &text[close + 1..];
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        (text[..=close].to_owned(), port)
    } else {
        let (name, port) = match text.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        };
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if name.is_empty() || !name.bytes().all(allowed) {
            return None;
        }
        let name = if name.len() > 1 {
            name.strip_suffix('.').unwrap_or(name)
        } else {
            name
        };
        if name.split('.').any(str::is_empty) {
            return None;
        }
        (name.to_ascii_lowercase(), port)
    };
    let port = match port {
        None | Some("") => None,
        Some(digits) => {
            if digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse::<u16>().ok()?)
        }
    };
    Some((name.to_ascii_lowercase(), port))
}

fn classify_host(uri: &Uri, headers: &HeaderMap, version: http::Version) -> HostClass {
    let fields: Vec<&HeaderValue> = headers.get_all(HOST).iter().collect();
    if fields.len() > 1 {
        return HostClass::Invalid;
    }
    let from_field = match fields.first() {
        Some(value) => match parse_request_host(value.as_bytes()) {
            Some(host) => Some(host),
            None => return HostClass::Invalid,
        },
        None => None,
    };
    let from_uri = match uri.authority() {
        Some(authority) => match parse_request_host(authority.as_str().as_bytes()) {
            Some(host) => Some(host),
            None => return HostClass::Invalid,
        },
        None => None,
    };
    let scheme_default = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    let (name, port) = match (from_uri, from_field) {
        (Some(a), Some(b)) => {
            if a.0 != b.0 || a.1.or(scheme_default) != b.1.or(scheme_default) {
                return HostClass::Invalid;
            }
            a
        }
        (Some(host), None) | (None, Some(host)) => host,
        (None, None) if version <= http::Version::HTTP_10 => return HostClass::Other,
        (None, None) => return HostClass::Invalid,
    };
    let tunnel = TUNNELS.iter().any(|&(tunnel, tunnel_port, _, origin)| {
        let default = if origin.starts_with("https:") {
            443
        } else {
            80
        };
        name == tunnel && port.unwrap_or(default) == tunnel_port
    });
    if tunnel {
        HostClass::Tunnel
    } else {
        HostClass::Other
    }
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
    let host = classify_host(&uri, &headers, request.version());
    let well_known = is_well_known(uri.path());
    let may_be_answered = well_known || may_fail_closed(uri.path());
    // The layer's requests: well-known ones on a tunnel, and well-known ones
    // whose host is invalid (answered 400 rather than forwarded).
    let well_known_on_tunnel = well_known && host != HostClass::Other;

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
                well_known_on_tunnel || (may_be_answered && host != HostClass::Other),
                "the layer answered a request that is not its own: {method} {uri} {headers:?} \
                 -> {}",
                parts.status
            );
            assert!(!parts.headers.contains_key(INNER_HEADER));
            if host == HostClass::Invalid {
                assert_eq!(
                    parts.status,
                    StatusCode::BAD_REQUEST,
                    "{method} {uri} {headers:?}"
                );
            }
            // 3: documented statuses and headers.
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::NO_CONTENT,
                    StatusCode::BAD_REQUEST,
                    StatusCode::FORBIDDEN,
                    StatusCode::NOT_FOUND,
                    StatusCode::METHOD_NOT_ALLOWED,
                    StatusCode::LENGTH_REQUIRED,
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
