//! A bounded load harness over loopback: what the layer costs a real HTTP/1.1
//! server, measured against baselines running in the same run.
//!
//! The example re-executes itself as server processes. Each is one hyper
//! HTTP/1.1 server loop on a current-thread tokio runtime, on `127.0.0.1:0`,
//! serving one of these services:
//!
//! - `app`: a small application service answering `{"id":42}`;
//! - `layered`: the same application behind `WellKnownLayer` (a tunnel for
//!   `app.example.com`, a static token verifier, a memory store);
//! - `static-unauthenticated`, `static-token`, `static-cookie`: the static-JSON
//!   baseline, a service answering every request with a precomputed response:
//!   the very status, headers (`content-type`, `cache-control`,
//!   `x-content-type-options`, `content-length`) and body bytes the layer
//!   sends that caller. They are taken from the layer itself at start-up, and
//!   checked against the layered server's answer before anything is measured.
//!
//! The cases compare a subject with its baseline:
//!
//! | case | request | baseline | subject |
//! | --- | --- | --- | --- |
//! | `control` | as `session/cookie` | `static-cookie` | a second `static-cookie` |
//! | `pass-through` | `GET /api/users/42` | `app` | `layered` |
//! | `session/unauthenticated` | `GET /.well-known/rstream/session` | `static-unauthenticated` | `layered` |
//! | `session/token` | the same, `Authorization: Bearer …` | `static-token` | `layered` |
//! | `session/cookie` | the same, `Cookie: rstream_session=…` | `static-cookie` | `layered` |
//!
//! Every response is checked (status `200` and a piece of the expected body);
//! failures are counted, the first ones printed, and the process exits
//! non-zero if there was any. Everything talks to 127.0.0.1 only, and every
//! wait is bounded.
//!
//! # Throughput (the default mode)
//!
//! `cargo run --release --example load`
//!
//! Both servers of a case run **at the same time, pinned to one core**
//! (`taskset -c 1`), each driven by its own load generator (a thread of this
//! process, pinned to the other core, keeping `LOAD_CONCURRENCY` keep-alive
//! connections busy). Whatever else the machine is doing then happens to
//! both. A window ends when the faster server of the pair has answered
//! `LOAD_REQUESTS` requests; the cases take turns, round after round. Each
//! case is reported as subject ÷ baseline, median over `LOAD_ROUNDS` rounds,
//! with the per-round figures, in two ways:
//!
//! - `req/CPU-s`: requests per CPU-second of each server process, its time
//!   on the CPU (user and kernel) read from `/proc/<pid>/schedstat`: the
//!   cost ratio, the throughput ratio at equal CPU. This is the headline, and
//!   the figure the goals are checked against;
//! - `req/s`: requests per second in the window. When both servers share
//!   their core equally it is the same ratio, without any help from the
//!   kernel's accounting; `cpu share` (subject CPU time ÷ baseline CPU time)
//!   says how equal the sharing was. On a busy machine the scheduler's split
//!   wanders by a few percent from window to window, and this column with it.
//!
//! Each round line also says how busy each server and load generator was
//! (running or waiting for a CPU, as a fraction of the window).
//!
//! The `control` case pairs two identical servers: it must read
//! 1.00 ± `LOAD_CONTROL_TOLERANCE`. If its `req/CPU-s` figure does not, the
//! pairing is not fair on this machine now and the other ratios cannot be
//! trusted: the harness says so loudly and, with `LOAD_STRICT=1`, exits
//! non-zero. If only its `req/s` figure does not, the scheduler did not split
//! the core equally in this run, and the harness says that the `req/s` column
//! is not the cost ratio.
//!
//! # Instructions (`LOAD_MODE=instructions`)
//!
//! `LOAD_MODE=instructions cargo run --release --example load`
//!
//! Runs one server at a time under valgrind (`--tool=cachegrind
//! --cache-sim=no`: user-space instructions), drives it over one connection
//! with sequential requests (pausing `LOAD_INSTR_PAUSE_US` after each answer,
//! so the server always goes back to waiting, the same way for every
//! request), once with K1 and once with K2 requests, and prints
//! `(I(K2) − I(K1)) ÷ (K2 − K1)`: the instructions the whole server (hyper,
//! tokio, the service) spends per request, start-up cancelled out. Each case
//! is printed with its baseline and the difference. `LOAD_VALGRIND_TOOL=callgrind`
//! and `LOAD_KEEP_DIR=dir` keep callgrind profiles (see `perf/profile.sh`).
//!
//! The pass-through case is followed by a reference line: the same server
//! with the app behind a minimal middleware that may answer on its own
//! (`benches/envelope`), against the same app. Over a whole server, any such
//! middleware costs more than its call does: the server moves a larger
//! future and a larger response (the body carries its own variant), which
//! the compiler copies with calls to `memcpy`; and this server, like
//! hyper-util's `TowerToHyperService` under axum, clones the service for
//! each request, so a middleware with configuration (the layer's is behind
//! an `Arc`) also pays for cloning and dropping it. The pass-through goal
//! (at most +100) is for the call alone, and is checked
//! by `cargo bench --bench instructions`; here the figure has no goal.
//!
//! # Settings (environment)
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `LOAD_MODE` | `throughput` | or `instructions` |
//! | `LOAD_CASES` | all | comma-separated pieces of case names (`cookie,token`); `control` always runs in throughput mode |
//! | `LOAD_REQUESTS` | 50000 | a window ends when the faster server of a pair has answered this many |
//! | `LOAD_CONCURRENCY` | 16 | keep-alive connections per server |
//! | `LOAD_ROUNDS` | 5 | windows per case |
//! | `LOAD_WARMUP_MS` | 300 | load before each window starts |
//! | `LOAD_TIMEOUT_SECS` | 120 | the most one window may take |
//! | `LOAD_PIN` | 1 | `0`: do not pin (no `taskset`) |
//! | `LOAD_SERVER_CPU`, `LOAD_CLIENT_CPU` | 1, 0 | the cores servers and load generators are pinned to |
//! | `LOAD_CONTROL_TOLERANCE` | 0.03 | how far from 1.00 the control may read |
//! | `LOAD_STRICT` | 0 | `1`: exit non-zero when the control is out of tolerance |
//! | `LOAD_INSTR_REQUESTS` | `1000,5000` | K1 and K2 |
//! | `LOAD_INSTR_PAUSE_US` | 200 | pause after each answer in instructions mode |
//! | `LOAD_VALGRIND_TOOL` | `cachegrind` | or `callgrind` |
//! | `LOAD_KEEP_DIR` | none | keep valgrind's output files there |
//!
//! `LOAD_REQUESTS`, `LOAD_CONCURRENCY`, `LOAD_ROUNDS` and `LOAD_TIMEOUT_SECS`
//! kept their names; `LOAD_REQUESTS` now ends a window of a pair measured
//! together rather than one case measured alone.
//!
//! The load generators speak HTTP/1.1 directly on the socket (one prepared
//! request, a minimal response parser), to cost as little as possible: even
//! so they need about as much CPU per request as the servers (most of it is
//! the kernel's loopback work), so on a busy machine the servers are not
//! always saturated. The `req/CPU-s` figure does not need them to be.
//!
//! Server processes exit when the harness closes their stdin (when it ends or
//! dies), and after `LOAD_SERVER_MAX_SECS` (default 3600) in any case.

use std::convert::Infallible;
use std::error::Error;
use std::fmt::Write as _;
use std::future::{Ready, ready};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, COOKIE, HOST, HeaderMap, HeaderName, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

#[path = "../benches/envelope/mod.rs"]
mod envelope;
use envelope::Envelope;

type BoxError = Box<dyn Error + Send + Sync>;

const APP_BODY: &[u8] = b"{\"id\":42}";
const TOKEN: &str = "load-token-3b9e61c0f2d8";
const TUNNEL_HOST: &str = "app.example.com";
const APP_PATH: &str = "/api/users/42";
const SESSION_PATH: &str = "/.well-known/rstream/session";
/// How many failures are printed in full (all are counted).
const ERRORS_SHOWN: usize = 10;
/// The largest response head the load generators accept.
const MAX_HEAD: usize = 16 * 1024;

fn main() -> Result<(), BoxError> {
    if std::env::var_os("LOAD_ROLE").is_some_and(|role| role == "server") {
        let kind = std::env::var("LOAD_SERVE").unwrap_or_default();
        let kind = Kind::parse(&kind).ok_or_else(|| format!("LOAD_SERVE: no server {kind:?}"))?;
        return server_main(kind);
    }
    let settings = Settings::from_env()?;
    match std::env::var("LOAD_MODE").as_deref() {
        Err(_) | Ok("throughput") => throughput(&settings),
        Ok("instructions") => instructions(&settings),
        Ok(other) => {
            Err(format!("LOAD_MODE must be `throughput` or `instructions`, got {other:?}").into())
        }
    }
}

// ---------------------------------------------------------------------------
// What is served, and what is asked.

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Token,
    Cookie,
}

/// What a server process serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    App,
    Layered,
    /// The app behind a minimal middleware that may answer on its own: a
    /// reference for the pass-through figure (see `benches/envelope`).
    Envelope,
    Static(Caller),
}

const KINDS: [Kind; 6] = [
    Kind::App,
    Kind::Layered,
    Kind::Envelope,
    Kind::Static(Caller::Anonymous),
    Kind::Static(Caller::Token),
    Kind::Static(Caller::Cookie),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Layered => "layered",
            Kind::Envelope => "envelope",
            Kind::Static(Caller::Anonymous) => "static-unauthenticated",
            Kind::Static(Caller::Token) => "static-token",
            Kind::Static(Caller::Cookie) => "static-cookie",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        KINDS.into_iter().find(|kind| kind.name() == name)
    }
}

/// How an answer's body is checked.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Exact(&'static [u8]),
    Contains(&'static [u8]),
}

impl Expect {
    fn accepts(self, body: &[u8]) -> bool {
        match self {
            Expect::Exact(expected) => body == expected,
            Expect::Contains(piece) => body.windows(piece.len()).any(|w| w == piece),
        }
    }
}

/// One measured case: a request, and the two servers it is sent to.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    path: &'static str,
    caller: Caller,
    baseline: Kind,
    subject: Kind,
    expect: Expect,
    /// The throughput goal, as a ratio to the baseline.
    goal_ratio: Option<f64>,
    /// The instructions goal, as a difference to the baseline.
    goal_instructions: Option<f64>,
}

impl Case {
    fn is_control(&self) -> bool {
        self.name == "control"
    }

    fn slug(&self) -> String {
        self.name.replace('/', "-")
    }
}

const TOKEN_AUTH: &[u8] = b"\"token-auth\"";
const RSTREAM_AUTH: &[u8] = b"\"rstream-auth\"";
const NOT_AUTHENTICATED: &[u8] = b"\"authenticated\":false";

const CASES: [Case; 5] = [
    Case {
        name: "control",
        path: SESSION_PATH,
        caller: Caller::Cookie,
        baseline: Kind::Static(Caller::Cookie),
        subject: Kind::Static(Caller::Cookie),
        expect: Expect::Contains(RSTREAM_AUTH),
        goal_ratio: None,
        goal_instructions: None,
    },
    Case {
        name: "pass-through",
        path: APP_PATH,
        caller: Caller::Anonymous,
        baseline: Kind::App,
        subject: Kind::Layered,
        expect: Expect::Exact(APP_BODY),
        goal_ratio: None,
        // The goal is for the call alone (`benches/instructions.rs`).
        goal_instructions: None,
    },
    Case {
        name: "session/unauthenticated",
        path: SESSION_PATH,
        caller: Caller::Anonymous,
        baseline: Kind::Static(Caller::Anonymous),
        subject: Kind::Layered,
        expect: Expect::Contains(NOT_AUTHENTICATED),
        goal_ratio: Some(0.95),
        goal_instructions: Some(1000.0),
    },
    Case {
        name: "session/token",
        path: SESSION_PATH,
        caller: Caller::Token,
        baseline: Kind::Static(Caller::Token),
        subject: Kind::Layered,
        expect: Expect::Contains(TOKEN_AUTH),
        goal_ratio: Some(0.95),
        goal_instructions: Some(2000.0),
    },
    Case {
        name: "session/cookie",
        path: SESSION_PATH,
        caller: Caller::Cookie,
        baseline: Kind::Static(Caller::Cookie),
        subject: Kind::Layered,
        expect: Expect::Contains(RSTREAM_AUTH),
        goal_ratio: Some(0.95),
        goal_instructions: Some(2000.0),
    },
];

/// The credential header a caller sends, if any.
fn credential(caller: Caller, cookie: &str) -> Option<(HeaderName, String)> {
    match caller {
        Caller::Anonymous => None,
        Caller::Token => Some((AUTHORIZATION, format!("Bearer {TOKEN}"))),
        Caller::Cookie => Some((COOKIE, cookie.to_owned())),
    }
}

const USER_AGENT_VALUE: &str = "rstream-well-known-load/1";
const ACCEPT_VALUE: &str = "application/json";

/// The bytes of one request, as the load generators send it.
fn wire_request(path: &str, caller: Caller, cookie: &str) -> Vec<u8> {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nhost: {TUNNEL_HOST}\r\nuser-agent: {USER_AGENT_VALUE}\r\n\
         accept: {ACCEPT_VALUE}\r\n"
    );
    if let Some((name, value)) = credential(caller, cookie) {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

// ---------------------------------------------------------------------------
// The servers.

/// The application: answers every request at once with a small JSON body.
fn app<B>(_request: Request<B>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(APP_BODY)))))
}

/// The layer every server process builds, and a signed-in browser's cookie
/// (`name=value`).
struct Fixture {
    layer: WellKnownLayer,
    cookie: String,
}

async fn fixture() -> Result<Fixture, BoxError> {
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::new(TUNNEL_HOST, "workspace-id", "project-id")?)
        .with_token_verifier(
            StaticTokenVerifier::new()
                .with_token(TOKEN, User::new("load-bot").with_name("Load Bot")),
        )
        .with_session_store(MemoryStore::new())
        .build()?;
    let signed_in = layer
        .session_manager()
        .sign_in(User::new("ada").with_name("Ada Lovelace"))
        .await?;
    // What a browser sends back: the cookie's `name=value`.
    let cookie = signed_in
        .set_cookie()
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    Ok(Fixture { layer, cookie })
}

/// The layer's own answer to `caller` on the session endpoint, computed
/// in-process: the static baseline serves exactly this.
async fn layer_answer(
    fixture: &Fixture,
    caller: Caller,
) -> Result<(StatusCode, HeaderMap, Bytes), BoxError> {
    let service = fixture.layer.layer(tower::service_fn(app::<Empty<Bytes>>));
    let mut builder = Request::get(SESSION_PATH)
        .header(HOST, TUNNEL_HOST)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, ACCEPT_VALUE);
    if let Some((name, value)) = credential(caller, &fixture.cookie) {
        builder = builder.header(name, value);
    }
    let response = service.oneshot(builder.body(Empty::new())?).await?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| "the layer's answer has an unreadable body")?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// The static-JSON baseline: the same precomputed answer to every request.
#[derive(Clone)]
struct StaticJson(Arc<(StatusCode, HeaderMap, Bytes)>);

impl<B> Service<Request<B>> for StaticJson {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let (status, headers, body) = &*self.0;
        let mut response = Response::new(Full::new(body.clone()));
        *response.status_mut() = *status;
        *response.headers_mut() = headers.clone();
        ready(Ok(response))
    }
}

/// The server loop every server process runs: HTTP/1.1 keep-alive, one task
/// per connection, on the current-thread runtime.
async fn serve<S, B>(listener: TcpListener, service: S) -> Result<(), BoxError>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
                service.clone().oneshot(request)
            });
            // A client closing its connection is not an error worth
            // reporting; request failures are counted client-side.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper_service)
                .await;
        });
    }
}

/// A server process: prints `ready <addr> <cookie>`, serves until its stdin
/// closes (the harness ends, or dies), and never runs longer than
/// `LOAD_SERVER_MAX_SECS` (default an hour).
fn server_main(kind: Kind) -> Result<(), BoxError> {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
    let max = Duration::from_secs(env_number("LOAD_SERVER_MAX_SECS", 3600)?);
    std::thread::spawn(move || {
        std::thread::sleep(max);
        eprintln!("load server: no end after {max:?}, exiting");
        std::process::exit(3);
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let fixture = fixture().await?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let service = match kind {
            Kind::Static(caller) => {
                Some(StaticJson(Arc::new(layer_answer(&fixture, caller).await?)))
            }
            _ => None,
        };
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "ready {} {}",
                listener.local_addr()?,
                fixture.cookie
            )?;
            stdout.flush()?;
        }
        match (kind, service) {
            (Kind::App, _) => serve(listener, tower::service_fn(app::<Incoming>)).await,
            (Kind::Layered, _) => {
                serve(listener, fixture.layer.layer(tower::service_fn(app))).await
            }
            (Kind::Envelope, _) => serve(listener, Envelope(tower::service_fn(app))).await,
            (Kind::Static(_), Some(service)) => serve(listener, service).await,
            (Kind::Static(_), None) => Err("no static answer".into()),
        }
    })
}

/// A running server process.
struct ServerProcess {
    kind: Kind,
    child: Child,
    /// Closing it tells the server to exit.
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    cookie: String,
}

impl ServerProcess {
    /// Starts a server of `kind`, through `launcher` (`taskset …`,
    /// `valgrind …`) if not empty, and waits for it to listen.
    fn spawn(kind: Kind, launcher: &[String]) -> Result<Self, BoxError> {
        let exe = std::env::current_exe()?;
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&exe);
                command
            }
            None => Command::new(&exe),
        };
        command
            .env("LOAD_ROLE", "server")
            .env("LOAD_SERVE", kind.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {launcher:?} {}: {e}", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = sender.send(read);
        });
        let mut server = Self {
            kind,
            child,
            stdin,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            cookie: String::new(),
        };
        let line = match receiver.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(line)) => line,
            Ok(Err(error)) => return Err(format!("{}: {error}", kind.name()).into()),
            Err(_) => return Err(format!("{}: not listening after 120 s", kind.name()).into()),
        };
        let mut words = line.split_whitespace();
        let (Some("ready"), Some(addr), Some(cookie)) = (words.next(), words.next(), words.next())
        else {
            return Err(format!("{}: did not start (said {line:?})", kind.name()).into());
        };
        server.addr = addr.parse()?;
        server.cookie = cookie.to_owned();
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server to exit and waits for it (valgrind writes its counts
    /// at exit).
    fn stop(&mut self) -> Result<(), BoxError> {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("{} exited with {status}", self.kind.name()).into())
                };
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("{} did not exit; killed", self.kind.name()).into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.stdin.take().is_some() || matches!(self.child.try_wait(), Ok(None)) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The client side: a minimal HTTP/1.1 response reader.

/// A complete response in a buffer: its status, head and body.
#[derive(Debug)]
struct Head {
    status: u16,
    head: Range<usize>,
    body: Range<usize>,
}

/// Parses the response at the start of `buf`: `None` while incomplete.
/// Responses must carry a `content-length` (every answer here does).
fn parse_response(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err("response head too long".into())
        } else {
            Ok(None)
        };
    };
    let head = &buf[..head_end];
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP/1.1 status line: {:?}",
                String::from_utf8_lossy(status_line)
            )
        })?;
    let mut length = None;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err("unexpected transfer-encoding".into());
        }
    }
    let length = length.ok_or("response without a content-length")?;
    let body_start = head_end + 4;
    if buf.len() < body_start + length {
        return Ok(None);
    }
    if buf.len() > body_start + length {
        return Err("bytes after the response, which nobody asked for".into());
    }
    Ok(Some(Head {
        status,
        head: 0..head_end,
        body: body_start..body_start + length,
    }))
}

/// Checks a complete response: `200` and the expected body.
fn check(buf: &[u8], head: &Head, expect: Expect) -> Result<(), String> {
    let body = &buf[head.body.clone()];
    if head.status == 200 && expect.accepts(body) {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer: {} {}",
            head.status,
            String::from_utf8_lossy(body)
        ))
    }
}

/// The header fields of a response head, lower-cased names, sorted; without
/// `date`, which differs by the second.
fn header_fields(head: &[u8]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = head
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line = String::from_utf8_lossy(line);
            let (name, value) = line.trim_end_matches('\r').split_once(':')?;
            Some((name.to_ascii_lowercase(), value.trim().to_owned()))
        })
        .filter(|(name, _)| name != "date")
        .collect();
    fields.sort();
    fields
}

/// A blocking client: one connection, one request at a time.
struct BlockingClient {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl BlockingClient {
    fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        let stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(30))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` and reads the whole response into `self.buf`.
    fn exchange(&mut self, request: &[u8]) -> Result<Head, String> {
        self.stream
            .write_all(request)
            .map_err(|e| format!("write failed: {e}"))?;
        self.buf.clear();
        let mut chunk = [0; 4096];
        loop {
            if let Some(head) = parse_response(&self.buf)? {
                return Ok(head);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }
}

/// Counts of one load generator, shared with the harness.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    shown: Mutex<Vec<String>>,
    /// The load generator thread's `/proc/…/schedstat`.
    schedstat: Mutex<Option<PathBuf>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.len() < ERRORS_SHOWN {
            shown.push(what);
        }
    }
}

/// One keep-alive connection sending `request` until `stop`.
async fn load_connection(
    addr: SocketAddr,
    request: Arc<[u8]>,
    expect: Expect,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(error) => return tally.fail(format!("connect failed: {error}")),
    };
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0; 4096];
    while !stop.load(Ordering::Relaxed) {
        if let Err(error) = stream.write_all(&request).await {
            return tally.fail(format!("write failed: {error}"));
        }
        buf.clear();
        let head = loop {
            match parse_response(&buf) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(error) => return tally.fail(error),
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return tally.fail("connection closed".into()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(error) => return tally.fail(format!("read failed: {error}")),
            }
        };
        match check(&buf, &head, expect) {
            Ok(()) => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tally.fail(error),
        }
    }
}

/// A load generator: a thread with its own current-thread runtime keeping
/// `concurrency` connections busy until `stop`.
fn spawn_load(
    addr: SocketAddr,
    request: Arc<[u8]>,
    expect: Expect,
    concurrency: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        if let Ok(task) = std::fs::read_link("/proc/thread-self") {
            *tally.schedstat.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Path::new("/proc").join(task).join("schedstat"));
        }
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => return tally.fail(format!("no runtime: {error}")),
        };
        runtime.block_on(async move {
            let connections: Vec<_> = (0..concurrency)
                .map(|_| {
                    tokio::spawn(load_connection(
                        addr,
                        Arc::clone(&request),
                        expect,
                        Arc::clone(&stop),
                        Arc::clone(&tally),
                    ))
                })
                .collect();
            for connection in connections {
                if let Err(error) = connection.await {
                    tally.fail(format!("load task failed: {error}"));
                }
            }
        });
    })
}

// ---------------------------------------------------------------------------
// Settings.

struct Settings {
    cases: Vec<Case>,
    requests: u64,
    concurrency: usize,
    rounds: usize,
    warmup: Duration,
    timeout: Duration,
    pin: bool,
    server_cpu: String,
    client_cpu: String,
    tolerance: f64,
    strict: bool,
    instr_requests: (u64, u64),
    instr_pause: Duration,
    tool: String,
    keep_dir: Option<PathBuf>,
}

impl Settings {
    fn from_env() -> Result<Self, BoxError> {
        let cases = match std::env::var("LOAD_CASES") {
            Ok(filter) if !filter.trim().is_empty() => {
                let pieces: Vec<&str> = filter.split(',').map(str::trim).collect();
                if let Some(piece) = pieces
                    .iter()
                    .find(|p| !CASES.iter().any(|case| case.name.contains(*p)))
                {
                    return Err(format!("LOAD_CASES: {piece:?} names no case").into());
                }
                CASES
                    .into_iter()
                    .filter(|case| {
                        case.is_control() || pieces.iter().any(|p| case.name.contains(p))
                    })
                    .collect()
            }
            _ => CASES.to_vec(),
        };
        let instr = std::env::var("LOAD_INSTR_REQUESTS").unwrap_or_else(|_| "1000,5000".into());
        let instr_requests = match instr.split_once(',').map(|(a, b)| (a.trim(), b.trim())) {
            Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) if 0 < a && a < b => (a, b),
                _ => {
                    return Err(format!(
                        "LOAD_INSTR_REQUESTS must be K1,K2 with 0 < K1 < K2, got {instr:?}"
                    )
                    .into());
                }
            },
            None => return Err(format!("LOAD_INSTR_REQUESTS must be K1,K2, got {instr:?}").into()),
        };
        let tool = std::env::var("LOAD_VALGRIND_TOOL").unwrap_or_else(|_| "cachegrind".into());
        if tool != "cachegrind" && tool != "callgrind" {
            return Err(format!(
                "LOAD_VALGRIND_TOOL must be cachegrind or callgrind, got {tool:?}"
            )
            .into());
        }
        let tolerance = match std::env::var("LOAD_CONTROL_TOLERANCE") {
            Ok(value) => value
                .parse::<f64>()
                .ok()
                .filter(|t| *t > 0.0)
                .ok_or_else(|| {
                    format!("LOAD_CONTROL_TOLERANCE: not a positive number: {value:?}")
                })?,
            Err(_) => 0.03,
        };
        Ok(Self {
            cases,
            requests: positive("LOAD_REQUESTS", 50_000)?,
            concurrency: usize::try_from(positive("LOAD_CONCURRENCY", 16)?)?,
            rounds: usize::try_from(positive("LOAD_ROUNDS", 5)?)?,
            warmup: Duration::from_millis(env_number("LOAD_WARMUP_MS", 300)?),
            timeout: Duration::from_secs(positive("LOAD_TIMEOUT_SECS", 120)?),
            pin: env_number("LOAD_PIN", 1)? != 0,
            server_cpu: std::env::var("LOAD_SERVER_CPU").unwrap_or_else(|_| "1".into()),
            client_cpu: std::env::var("LOAD_CLIENT_CPU").unwrap_or_else(|_| "0".into()),
            tolerance,
            strict: env_number("LOAD_STRICT", 0)? != 0,
            instr_requests,
            instr_pause: Duration::from_micros(env_number("LOAD_INSTR_PAUSE_US", 200)?),
            tool,
            keep_dir: std::env::var_os("LOAD_KEEP_DIR").map(PathBuf::from),
        })
    }
}

fn env_number(name: &str, default: u64) -> Result<u64, BoxError> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{name} must be a whole number, got {value:?}").into()),
        Err(_) => Ok(default),
    }
}

fn positive(name: &str, default: u64) -> Result<u64, BoxError> {
    match env_number(name, default)? {
        0 => Err(format!("{name} must be positive").into()),
        n => Ok(n),
    }
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------
// Throughput mode.

/// Time on the CPU and waiting for it, from `/proc/<pid>/schedstat`
/// (nanoseconds; the servers are single-threaded).
fn schedstat(path: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

/// Pins this process (and the threads it starts afterwards) to `cpu`.
fn pin_self(cpu: &str) -> Result<(), BoxError> {
    let status = Command::new("taskset")
        .args(["-p", "-c", cpu, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e} (LOAD_PIN=0 runs unpinned)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p -c {cpu} failed: {status} (LOAD_PIN=0 runs unpinned)").into())
    }
}

/// One server's share of a window.
#[derive(Clone, Copy, Debug, Default)]
struct Share {
    answered: u64,
    /// The server's nanoseconds on the CPU, and waiting for it.
    cpu: Option<(u64, u64)>,
    /// The same for its load generator.
    load_cpu: Option<(u64, u64)>,
}

/// One window: both servers of a case loaded at the same time.
#[derive(Clone, Copy, Debug)]
struct Window {
    seconds: f64,
    baseline: Share,
    subject: Share,
}

impl Window {
    fn ratio(&self) -> f64 {
        self.subject.answered as f64 / self.baseline.answered as f64
    }

    /// The ratio of requests per CPU-second.
    fn cpu_ratio(&self) -> Option<f64> {
        let per_cpu = |share: Share| {
            let (run, _) = share.cpu?;
            (run > 0).then(|| share.answered as f64 / run as f64)
        };
        Some(per_cpu(self.subject)? / per_cpu(self.baseline)?)
    }

    /// The subject's CPU time over the baseline's: 1 when they shared their
    /// core equally, the premise of [`Window::ratio`].
    fn cpu_share(&self) -> Option<f64> {
        let (subject, _) = self.subject.cpu?;
        let (baseline, _) = self.baseline.cpu?;
        (baseline > 0).then(|| subject as f64 / baseline as f64)
    }

    /// How much of the window the server was running or runnable.
    fn busy(&self, share: Share) -> Option<f64> {
        let (run, wait) = share.cpu?;
        Some((run + wait) as f64 / 1e9 / self.seconds)
    }

    /// How much of the window the load generator was running or runnable.
    fn load_busy(&self, share: Share) -> Option<f64> {
        let (run, wait) = share.load_cpu?;
        Some((run + wait) as f64 / 1e9 / self.seconds)
    }
}

struct Snapshot {
    at: Instant,
    answered: [u64; 2],
    cpu: [Option<(u64, u64)>; 2],
    load_cpu: [Option<(u64, u64)>; 2],
}

fn snapshot(tallies: &[Arc<Tally>; 2], servers: &[PathBuf; 2]) -> Snapshot {
    let load = |i: usize| {
        let path = tallies[i].schedstat.lock().ok()?.clone()?;
        schedstat(&path)
    };
    Snapshot {
        at: Instant::now(),
        answered: [
            tallies[0].ok.load(Ordering::Relaxed),
            tallies[1].ok.load(Ordering::Relaxed),
        ],
        cpu: [schedstat(&servers[0]), schedstat(&servers[1])],
        load_cpu: [load(0), load(1)],
    }
}

/// Loads both servers at once and measures one window; failures are added
/// to `failures`.
fn measure(
    settings: &Settings,
    case: &Case,
    servers: [&ServerProcess; 2],
    subject_first: bool,
    failures: &mut u64,
) -> Result<Window, BoxError> {
    // Both servers get the very same bytes (the cookie names the subject's
    // session; a static server ignores it).
    let request: Arc<[u8]> = wire_request(case.path, case.caller, &servers[1].cookie).into();
    let stop = Arc::new(AtomicBool::new(false));
    let tallies = [Arc::new(Tally::default()), Arc::new(Tally::default())];
    let order = if subject_first { [1, 0] } else { [0, 1] };
    let mut threads = Vec::new();
    for i in order {
        threads.push(spawn_load(
            servers[i].addr,
            Arc::clone(&request),
            case.expect,
            settings.concurrency,
            Arc::clone(&stop),
            Arc::clone(&tallies[i]),
        ));
    }
    let pids = [servers[0].pid(), servers[1].pid()]
        .map(|pid| PathBuf::from(format!("/proc/{pid}/schedstat")));

    let finish = |stop: &AtomicBool, threads: Vec<JoinHandle<()>>, failures: &mut u64| {
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            if thread.join().is_err() {
                *failures += 1;
                eprintln!("{}: a load generator panicked", case.name);
            }
        }
        for (server, tally) in servers.iter().zip(&tallies) {
            *failures += tally.failed.load(Ordering::Relaxed);
            for what in tally.shown.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                eprintln!("{} ({}): {what}", case.name, server.kind.name());
            }
        }
    };

    std::thread::sleep(settings.warmup);
    let start = snapshot(&tallies, &pids);
    let end = loop {
        std::thread::sleep(Duration::from_millis(10));
        let now = snapshot(&tallies, &pids);
        let done = (0..2).any(|i| now.answered[i] - start.answered[i] >= settings.requests);
        if done {
            break now;
        }
        if threads.iter().all(JoinHandle::is_finished) {
            finish(&stop, threads, failures);
            return Err(format!("{}: every connection was lost", case.name).into());
        }
        if now.at - start.at > settings.timeout {
            finish(&stop, threads, failures);
            return Err(format!("{}: no end after {:?}", case.name, settings.timeout).into());
        }
    };
    finish(&stop, threads, failures);

    let delta = |start: Option<(u64, u64)>, end: Option<(u64, u64)>| match (start, end) {
        (Some((run0, wait0)), Some((run1, wait1))) => Some((run1 - run0, wait1 - wait0)),
        _ => None,
    };
    let share = |i: usize| Share {
        answered: end.answered[i] - start.answered[i],
        cpu: delta(start.cpu[i], end.cpu[i]),
        load_cpu: delta(start.load_cpu[i], end.load_cpu[i]),
    };
    let window = Window {
        seconds: (end.at - start.at).as_secs_f64(),
        baseline: share(0),
        subject: share(1),
    };
    if window.baseline.answered == 0 || window.subject.answered == 0 {
        return Err(format!("{}: a server answered nothing in the window", case.name).into());
    }
    Ok(window)
}

/// Checks that a case's baseline answers with the status, headers and body
/// its subject does: the comparison is fair.
fn check_fairness(
    case: &Case,
    baseline: &ServerProcess,
    subject: &ServerProcess,
) -> Result<String, BoxError> {
    let request = wire_request(case.path, case.caller, &subject.cookie);
    let mut answers = Vec::new();
    for server in [baseline, subject] {
        let mut client = BlockingClient::connect(server.addr)?;
        let head = client
            .exchange(&request)
            .map_err(|e| format!("{} ({}): {e}", case.name, server.kind.name()))?;
        check(&client.buf, &head, case.expect)
            .map_err(|e| format!("{} ({}): {e}", case.name, server.kind.name()))?;
        answers.push((
            head.status,
            header_fields(&client.buf[head.head.clone()]),
            client.buf[head.body.clone()].to_vec(),
        ));
    }
    if answers[0] != answers[1] {
        return Err(format!(
            "{}: the baseline ({}) does not answer like the subject ({}):\n  baseline {:?}\n  subject  {:?}",
            case.name,
            baseline.kind.name(),
            subject.kind.name(),
            answers[0],
            answers[1]
        )
        .into());
    }
    let (status, fields, body) = &answers[0];
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    Ok(format!(
        "{status}, {} body bytes, headers {} (+ date)",
        body.len(),
        names.join(", ")
    ))
}

fn throughput(settings: &Settings) -> Result<(), BoxError> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let launcher: Vec<String> = if settings.pin {
        if cpus < 2 {
            return Err("pinning needs two cores (LOAD_PIN=0 runs unpinned)".into());
        }
        pin_self(&settings.client_cpu)?;
        vec!["taskset".into(), "-c".into(), settings.server_cpu.clone()]
    } else {
        Vec::new()
    };

    // One process per server kind, plus a second static-cookie for the
    // control; all idle but the pair being measured.
    let mut servers: Vec<ServerProcess> = Vec::new();
    let mut pairs = Vec::new();
    for case in &settings.cases {
        let mut find_or_spawn = |kind: Kind, fresh: bool| -> Result<usize, BoxError> {
            if !fresh {
                if let Some(i) = servers.iter().position(|s| s.kind == kind) {
                    return Ok(i);
                }
            }
            servers.push(ServerProcess::spawn(kind, &launcher)?);
            Ok(servers.len() - 1)
        };
        let baseline = find_or_spawn(case.baseline, false)?;
        let subject = find_or_spawn(case.subject, case.is_control())?;
        pairs.push((baseline, subject));
    }

    println!(
        "rstream-well-known load harness: {} connection(s) per server, windows of {} requests \
         (the faster server of a pair), {} round(s)",
        settings.concurrency, settings.requests, settings.rounds
    );
    if settings.pin {
        println!(
            "servers pinned to CPU {} (taskset), load generators to CPU {}",
            settings.server_cpu, settings.client_cpu
        );
    } else {
        println!("WARNING: not pinned (LOAD_PIN=0): the servers of a pair may not share one core");
    }
    for (case, &(b, s)) in settings.cases.iter().zip(&pairs) {
        let fair = check_fairness(case, &servers[b], &servers[s])?;
        println!(
            "  {:<24} {} vs {}: same answer: {fair}",
            case.name,
            servers[b].kind.name(),
            servers[s].kind.name()
        );
    }

    let mut failures = 0;
    let mut windows: Vec<Vec<Window>> = vec![Vec::new(); settings.cases.len()];
    for round in 1..=settings.rounds {
        for ((case, &(b, s)), windows) in settings.cases.iter().zip(&pairs).zip(&mut windows) {
            let window = measure(
                settings,
                case,
                [&servers[b], &servers[s]],
                round % 2 == 0,
                &mut failures,
            )?;
            let fraction = |f: Option<f64>| f.map_or("?".into(), |f| format!("{f:.2}"));
            println!(
                "round {round} {:<24} {:>6.0} vs {:>6.0} req/s  ratio {:.3}  cpu-norm. {}  \
                 cpu share {}  busy: servers {}/{} load {}/{}",
                case.name,
                window.baseline.answered as f64 / window.seconds,
                window.subject.answered as f64 / window.seconds,
                window.ratio(),
                fraction(window.cpu_ratio()),
                fraction(window.cpu_share()),
                fraction(window.busy(window.baseline)),
                fraction(window.busy(window.subject)),
                fraction(window.load_busy(window.baseline)),
                fraction(window.load_busy(window.subject)),
            );
            windows.push(window);
        }
    }
    for server in &mut servers {
        server.stop()?;
    }

    println!();
    println!(
        "subject ÷ baseline, both served at the same time on one core, median over {} round(s):",
        settings.rounds
    );
    println!(
        "  req/CPU-s: requests per CPU-second of each server (schedstat): the cost ratio, \
         the throughput ratio at equal CPU"
    );
    println!(
        "  req/s:     requests per second in the window: the same, if the core was shared \
         equally (cpu share = subject CPU ÷ baseline CPU = 1)"
    );
    println!(
        "{:<24} {:<23} {:>9} {:>6} {:>9}  {:<15} per-round req/CPU-s | req/s",
        "case", "baseline", "req/CPU-s", "req/s", "cpu share", "goal"
    );
    let tolerance = settings.tolerance;
    let optional = |values: Vec<f64>| (!values.is_empty()).then(|| median(&values));
    let show = |value: Option<f64>| value.map_or("?".into(), |v| format!("{v:.3}"));
    let list = |values: &[f64]| {
        values
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut unequal = Vec::new();
    for ((case, &(b, _)), windows) in settings.cases.iter().zip(&pairs).zip(&windows) {
        let ratios: Vec<f64> = windows.iter().map(Window::ratio).collect();
        let cpu_ratios: Vec<f64> = windows.iter().filter_map(Window::cpu_ratio).collect();
        let cpu_ratio = optional(cpu_ratios.clone());
        let cpu_share = optional(windows.iter().filter_map(Window::cpu_share).collect());
        let ratio = median(&ratios);
        // Without schedstat, the req/s ratio is all there is.
        let headline = cpu_ratio.unwrap_or(ratio);
        let goal = match case.goal_ratio {
            Some(goal) if headline >= goal => format!("≥ {goal:.2} met"),
            Some(goal) => format!("≥ {goal:.2} NOT met"),
            None if case.is_control() => format!("1 ± {tolerance:.2}"),
            None => String::new(),
        };
        println!(
            "{:<24} {:<23} {:>9} {:>6.3} {:>9}  {:<15} {} | {}",
            case.name,
            servers[b].kind.name(),
            show(cpu_ratio),
            ratio,
            show(cpu_share),
            goal,
            list(&cpu_ratios),
            list(&ratios),
        );
        if cpu_share.is_some_and(|share| (share - 1.0).abs() > tolerance) {
            unequal.push(case.name);
        }
    }

    // The control: two identical servers, read both ways. The headline
    // (req/CPU-s, or req/s without schedstat) decides; a req/s control out
    // of tolerance only discredits the req/s column.
    let control: Vec<f64> = windows[0].iter().map(Window::ratio).collect();
    let control_cpu: Vec<f64> = windows[0].iter().filter_map(Window::cpu_ratio).collect();
    let rate_reading = median(&control);
    let cpu_reading = optional(control_cpu.clone());
    let (headline_reading, headline_rounds, headline_name) = match cpu_reading {
        Some(reading) => (reading, &control_cpu, "req/CPU-s"),
        None => (rate_reading, &control, "req/s"),
    };
    let off = |reading: f64| (reading - 1.0).abs() > tolerance;
    let control_off = off(headline_reading);
    println!();
    if control_off {
        println!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!(
            "!!! CONTROL OUT OF TOLERANCE: two identical servers read {headline_reading:.3} \
             ({headline_name}),"
        );
        println!("!!! not 1 ± {tolerance:.2}. The pairing is not fair on this machine now:");
        println!("!!! do not trust the ratios above.");
        println!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    } else {
        println!(
            "control: two identical servers read {headline_reading:.3} ({headline_name}), \
             within 1 ± {tolerance:.2}: the pairing is fair"
        );
    }
    if cpu_reading.is_some() {
        if off(rate_reading) {
            println!(
                "WARNING: the req/s control reads {rate_reading:.3}, outside 1 ± {tolerance:.2}: \
                 the scheduler did not split the core equally; the req/s column is not the cost \
                 ratio in this run (req/CPU-s is)"
            );
        } else {
            println!(
                "         the req/s control reads {rate_reading:.3}, within 1 ± {tolerance:.2} too"
            );
        }
    }
    if headline_rounds
        .iter()
        .any(|ratio| (ratio - 1.0).abs() > 2.0 * tolerance)
    {
        println!(
            "WARNING: a control round read outside 1 ± {:.2} ({headline_name}): single rounds \
             are noisy now; trust medians of more rounds (LOAD_ROUNDS) or longer windows \
             (LOAD_REQUESTS)",
            2.0 * tolerance
        );
    }
    if !unequal.is_empty() {
        println!(
            "note: the two servers did not get equal CPU time in {} (cpu share off 1 by more \
             than {tolerance:.2}): there the req/s column is not the cost ratio; req/CPU-s is",
            unequal.join(", ")
        );
    }
    if failures > 0 {
        return Err(format!("{failures} request(s) failed").into());
    }
    if settings.strict && control_off {
        return Err("LOAD_STRICT: the measurement is not trustworthy (see above)".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Instructions mode.

/// Reads the total instruction count from a cachegrind or callgrind output
/// file.
fn total_instructions(path: &Path) -> Result<u64, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| format!("no total in {}", path.display()).into())
}

/// Runs `kind` under valgrind, sends it `requests` sequential requests of
/// `case` on one connection, and returns the instructions the whole process
/// executed.
fn counted_run(
    settings: &Settings,
    dir: &Path,
    case: &Case,
    kind: Kind,
    requests: u64,
) -> Result<u64, BoxError> {
    let tool = &settings.tool;
    let out = dir.join(format!(
        "{}.{}.{requests}.{tool}.out",
        case.slug(),
        kind.name()
    ));
    // valgrind's own messages go to a log, shown if the run fails.
    let log = out.with_extension("log");
    let mut launcher = vec![
        "valgrind".to_owned(),
        format!("--tool={tool}"),
        format!("--log-file={}", log.display()),
        format!("--{tool}-out-file={}", out.display()),
    ];
    if tool == "cachegrind" {
        launcher.push("--cache-sim=no".into());
    }
    let run = || -> Result<u64, BoxError> {
        let mut server = ServerProcess::spawn(kind, &launcher)?;
        let request = wire_request(case.path, case.caller, &server.cookie);
        let mut client = BlockingClient::connect(server.addr)?;
        for i in 0..requests {
            let head = client
                .exchange(&request)
                .map_err(|e| format!("{} ({}), request {i}: {e}", case.name, kind.name()))?;
            check(&client.buf, &head, case.expect)
                .map_err(|e| format!("{} ({}), request {i}: {e}", case.name, kind.name()))?;
            std::thread::sleep(settings.instr_pause);
        }
        drop(client);
        // Let the server see the connection close before it is told to exit.
        std::thread::sleep(Duration::from_millis(100));
        server.stop()?;
        total_instructions(&out)
    };
    run().map_err(|error| {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{error}\nvalgrind said:\n{log}").into()
    })
}

fn instructions(settings: &Settings) -> Result<(), BoxError> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => return Err("LOAD_MODE=instructions needs valgrind on PATH".into()),
    }
    let (k1, k2) = settings.instr_requests;
    let (dir, temporary) = match &settings.keep_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("rstream-load-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)?;
    println!(
        "user-space instructions per request of the whole server process (valgrind {}): \
         (I({k2}) − I({k1})) ÷ {}, one connection, sequential requests",
        settings.tool,
        k2 - k1
    );
    println!(
        "{:<24} {:<23} {:>9} {:>9} {:>11}  goal",
        "case", "baseline", "baseline", "subject", "difference"
    );
    // Instructions per request of the server of `kind`, sent `case`'s request.
    let per_request = |case: &Case, kind| -> Result<f64, BoxError> {
        let first = counted_run(settings, &dir, case, kind, k1)?;
        let second = counted_run(settings, &dir, case, kind, k2)?;
        Ok((second as f64 - first as f64) / (k2 - k1) as f64)
    };
    // The pass-through case and its baseline, for the reference line.
    let mut pass_through = None;
    for case in settings.cases.iter().filter(|case| !case.is_control()) {
        let baseline = per_request(case, case.baseline)?;
        let subject = per_request(case, case.subject)?;
        let difference = subject - baseline;
        let goal = match case.goal_instructions {
            Some(goal) if difference <= goal => format!("≤ +{goal:.0} met"),
            Some(goal) => format!("≤ +{goal:.0} NOT met"),
            None => String::new(),
        };
        println!(
            "{:<24} {:<23} {:>9.0} {:>9.0} {:>+11.0}  {goal}",
            case.name,
            case.baseline.name(),
            baseline,
            subject,
            difference
        );
        std::io::stdout().flush()?;
        if case.name == "pass-through" {
            pass_through = Some((case, baseline));
        }
    }
    if let Some((case, baseline)) = pass_through {
        println!(
            "reference: pass-through through a minimal middleware that may answer itself \
             (two-state future, Either body, no path check, no configuration): {:+.0}",
            per_request(case, Kind::Envelope)? - baseline
        );
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("valgrind output kept in {}", dir.display());
    }
    Ok(())
}
