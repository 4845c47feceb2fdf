//! A bounded soak: the layer and its in-memory store under minutes of mixed
//! traffic, over HTTP/1.1 and HTTP/2, with every answer checked and resident
//! memory watched.
//!
//! ```text
//! SOAK_SECS=180 cargo run --release --example soak
//! ```
//!
//! It starts, in this process on `127.0.0.1:0`, a server built like the demo
//! (`examples/demo.rs`): an axum application with `POST /demo/login` that
//! signs users in through the layer's `SessionManager` and an ordinary route
//! `GET /api/items/{n}`, behind `WellKnownLayer` with a `StaticTokenVerifier`
//! and a `MemoryStore` capped at 10,000 sessions of 10 seconds, served by
//! hyper-util's auto builder (HTTP/1.1 and h2c). Then 4 HTTP/1.1 keep-alive
//! connections and 2 HTTP/2 prior-knowledge connections (4 streams each)
//! send, for a 10-second warm-up and then `SOAK_SECS` seconds (default 180):
//! sign-ins (keeping the `Set-Cookie`), session lookups with a cookie, with
//! the bearer token and anonymous, logouts with a cookie and without (with
//! `Origin` and `Content-Type: application/json`), and pass-through `GET`s.
//!
//! Over HTTP/1.1 logouts carry a `{}` body; over HTTP/2 none, like the
//! spec's `fetch` call. The layer answers a JSON logout without reading its
//! body, so the server resets the stream (`RST_STREAM(NO_ERROR)`, as HTTP/2
//! allows) while the client's `DATA` frame may still be in flight; the `h2`
//! crate (0.4.20) counts each such late frame, once it no longer remembers
//! the stream, against a limit of 1,024 per connection, then closes the
//! connection with `GOAWAY(ENHANCE_YOUR_CALM, "too_many_internal_resets")`.
//! A browser sends one logout per sign-in, far from that limit; a soak
//! sending tens of thousands per connection reaches it within a minute.
//! Traffic alternates every 20 seconds between a sign-in flood, which fills
//! the store and makes it evict, and a calm phase, in which the flood's
//! sessions expire and the few creates sweep them.
//!
//! Every answer is checked: status, headers that matter (`Set-Cookie`,
//! `Content-Type`), the protocol version, and the body (authenticated or not,
//! the method, the user). A cookie is expected to authenticate its own user
//! when it can be neither expired nor evicted, expected to fail when it must
//! have expired or been evicted (from request counts, see `Held::verdict`),
//! and either otherwise; a logged-out cookie must never authenticate again.
//!
//! It reports requests served, errors (there must be none), the store's
//! session count (which must never exceed the cap) and resident memory
//! (`VmRSS`) after the warm-up and at the end. It exits non-zero on any
//! error, if the bound was never exercised (no cookie confirmed evicted),
//! or if resident memory grew by more than 16 MiB: with the store already
//! full after the warm-up, a leak of a few bytes per request over the
//! millions of requests of a default run would show, while the allocator's
//! ordinary fluctuation stays well below.
//!
//! It talks to 127.0.0.1 only; every loop is bounded in time and in count
//! and each request times out after 10 seconds, so it always stops by
//! itself. Client and server share the machine's cores.

use std::collections::VecDeque;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, HOST};
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rstream_well_known::{
    MemoryStore, SessionCookie, SessionManager, StaticTokenVerifier, Tunnel, User, WellKnownLayer,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

type BoxError = Box<dyn Error + Send + Sync>;

const WORKSPACE_ID: &str = "soak-workspace";
const PROJECT_ID: &str = "soak-project";
const COOKIE_NAME: &str = "rstream_session";
const TOKEN: &str = "soak-token-6d0f1e9a24c7";
const TOKEN_USER: &str = "soak-client";
const SESSION: &str = "/.well-known/rstream/session";
const LOGOUT: &str = "/.well-known/rstream/logout";

/// The store's cap: small, so that the bound is reached within seconds.
const MAX_SESSIONS: u64 = 10_000;
/// The session lifetime: short, so that sessions expire during the run.
const SESSION_TTL: Duration = Duration::from_secs(10);
/// Flood and calm phases alternate this often; longer than the lifetime, so
/// that the flood's sessions expire during the calm.
const PHASE: Duration = Duration::from_secs(20);
const WARM_UP: Duration = Duration::from_secs(10);
const DEFAULT_SOAK_SECS: u64 = 180;
/// `SOAK_SECS` is refused above a day.
const MAX_SOAK_SECS: u64 = 24 * 3600;

const H1_CONNECTIONS: usize = 4;
const H2_CONNECTIONS: usize = 2;
const H2_STREAMS: usize = 4;
/// Requests in flight at most: one per client task.
const CLIENTS: usize = H1_CONNECTIONS + H2_CONNECTIONS * H2_STREAMS;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the clients may take to finish their last request.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// A bound on the requests of one client, besides time.
const MAX_REQUESTS_PER_CLIENT: u64 = 1_000_000_000;
/// Cookies a client keeps for lookups, and old ones it keeps for probing
/// until they are gone.
const RECENT: usize = 32;
const OLD: usize = 64;
/// How much resident memory may grow from the end of the warm-up.
const RSS_TOLERANCE_KIB: u64 = 16 * 1024;
/// How many errors are printed in full (all are counted).
const ERRORS_SHOWN: usize = 10;
/// A progress line this often.
const REPORT_EVERY: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- server

#[derive(Clone)]
struct App {
    sessions: SessionManager<MemoryStore>,
    origin: String,
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// Signs in the user named in the query and sends the browser back to `/`,
/// refusing cross-site posts, as the demo does.
async fn login(State(app): State<App>, headers: HeaderMap, Query(login): Query<Login>) -> Response {
    let foreign = headers
        .get(ORIGIN)
        .is_some_and(|origin| origin.as_bytes() != app.origin.as_bytes());
    if foreign {
        return (StatusCode::FORBIDDEN, "cross-site sign-in refused\n").into_response();
    }
    match app.sessions.sign_in(User::new(login.user)).await {
        Ok(signed_in) => (
            StatusCode::SEE_OTHER,
            [
                (LOCATION, HeaderValue::from_static("/")),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (SET_COOKIE, signed_in.into_set_cookie()),
            ],
        )
            .into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response(),
    }
}

async fn item(Path(n): Path<u64>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        format!("{{\"item\":{n}}}"),
    )
}

struct Server {
    addr: SocketAddr,
    store: MemoryStore,
    task: JoinHandle<()>,
}

/// Starts the application on a free loopback port, HTTP/1.1 and h2c on the
/// same port; aborting the task stops it and every connection.
async fn start_server() -> Result<Server, BoxError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let origin = format!("http://{addr}");
    let store = MemoryStore::new().with_max_sessions(MAX_SESSIONS as usize);
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::new(&addr.to_string(), WORKSPACE_ID, PROJECT_ID)?.with_origin(&origin)?)
        .with_token_verifier(StaticTokenVerifier::new().with_token(TOKEN, User::new(TOKEN_USER)))
        .with_session_store(store.clone())
        // Plain HTTP on loopback, as in the demo.
        .session_cookie(
            SessionCookie::new(COOKIE_NAME)
                .secure(false)
                .max_age(SESSION_TTL),
        )
        .build()?;
    let sessions = layer.session_manager();
    let app = Router::new()
        .route("/api/items/{n}", get(item))
        .route("/demo/login", post(login))
        .with_state(App { sessions, origin })
        .layer(layer);

    let task = tokio::spawn(async move {
        // Dropped with the task: aborting it aborts every connection.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                            app.clone().oneshot(request)
                        });
                        // Failures show on the client side, where they are counted.
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(Server { addr, store, task })
}

// ---------------------------------------------------------------- counts

/// What the clients did, shared by all of them.
#[derive(Default)]
struct Stats {
    /// Sign-ins sent (each takes its index from here before it is sent)...
    signins_started: AtomicU64,
    /// ...and answered.
    signins_done: AtomicU64,
    /// Logouts with a session cookie sent (the only ones that revoke).
    cookie_logouts_started: AtomicU64,
    requests_h1: AtomicU64,
    requests_h2: AtomicU64,
    by_kind: [AtomicU64; Kind::ALL.len()],
    /// Cookie verdicts: expected to authenticate, expected not to, either.
    live: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
    either: AtomicU64,
    /// Of the `either` lookups, how many authenticated.
    either_authenticated: AtomicU64,
    errors: AtomicU64,
    shown: Mutex<Vec<String>>,
}

impl Stats {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, SeqCst);
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if shown.len() < ERRORS_SHOWN {
            shown.push(what);
        }
    }

    fn requests(&self) -> u64 {
        self.requests_h1.load(SeqCst) + self.requests_h2.load(SeqCst)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            signins_started: self.signins_started.load(SeqCst),
            signins_done: self.signins_done.load(SeqCst),
            cookie_logouts_started: self.cookie_logouts_started.load(SeqCst),
        }
    }
}

/// The counters at one moment.
#[derive(Clone, Copy)]
struct Snapshot {
    at: Instant,
    signins_started: u64,
    signins_done: u64,
    cookie_logouts_started: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    SignIn,
    SessionCookie,
    SessionOldCookie,
    SessionToken,
    SessionAnonymous,
    LogoutCookie,
    LogoutBare,
    PassThrough,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::SignIn,
        Kind::SessionCookie,
        Kind::SessionOldCookie,
        Kind::SessionToken,
        Kind::SessionAnonymous,
        Kind::LogoutCookie,
        Kind::LogoutBare,
        Kind::PassThrough,
    ];

    /// Percentages in the flood and in the calm phase.
    const fn weights(self) -> (u64, u64) {
        match self {
            Kind::SignIn => (30, 2),
            Kind::SessionCookie => (25, 33),
            Kind::SessionOldCookie => (7, 10),
            Kind::SessionToken => (10, 12),
            Kind::SessionAnonymous => (8, 10),
            Kind::LogoutCookie => (5, 3),
            Kind::LogoutBare => (2, 2),
            Kind::PassThrough => (13, 28),
        }
    }

    fn pick(roll: u64, flood: bool) -> Kind {
        let mut roll = roll % 100;
        for kind in Kind::ALL {
            let (in_flood, in_calm) = kind.weights();
            let weight = if flood { in_flood } else { in_calm };
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        Kind::PassThrough
    }

    fn name(self) -> &'static str {
        match self {
            Kind::SignIn => "sign-in",
            Kind::SessionCookie => "session/cookie",
            Kind::SessionOldCookie => "session/old-cookie",
            Kind::SessionToken => "session/token",
            Kind::SessionAnonymous => "session/anonymous",
            Kind::LogoutCookie => "logout/cookie",
            Kind::LogoutBare => "logout/bare",
            Kind::PassThrough => "pass-through",
        }
    }
}

// ---------------------------------------------------------------- cookies

/// A session cookie a client holds, and what is known about when its session
/// was created.
struct Held {
    /// `rstream_session=<id>`.
    cookie: String,
    user: String,
    /// The sign-in's index in `signins_started`.
    index: u64,
    /// Sent before the session was created...
    sent: Instant,
    /// ...and answered after: the counters then.
    answered: Snapshot,
}

/// What a session lookup with a held cookie must say.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// The session can be neither expired nor evicted.
    Live,
    /// The session must be gone: evicted or removed (at least
    /// `MAX_SESSIONS` newer sessions were in the store)...
    Evicted,
    /// ...or expired.
    Expired,
    /// Cannot tell from the outside.
    Either,
}

impl Held {
    /// The verdict for a lookup sent after `before` and answered before
    /// `after`.
    ///
    /// Every session has the same lifetime, so the store's eviction rule
    /// (soonest expiry first) is first in, first out: a session is evicted
    /// only by a create on a full store in which every other session is
    /// newer, so only after `MAX_SESSIONS` sessions were created after it.
    ///
    /// - Live: it cannot have expired (created after `sent`, looked up before
    ///   `sent + ttl`), and fewer than `MAX_SESSIONS` sessions can have been
    ///   created after it: those are sign-ins started after it, plus at most
    ///   `CLIENTS - 1` that were in flight when it started.
    /// - Evicted: at least `MAX_SESSIONS` sessions created after it would
    ///   be in the store with it, were it there and live (newer sessions are
    ///   not evicted before it, nor expire before it): sign-ins started after
    ///   its answer and answered before the lookup was sent (at least `done -
    ///   started at its answer`), minus every cookie logout started since its
    ///   answer (an upper bound on those revoked).
    /// - Expired: it expired before the lookup was sent.
    fn verdict(&self, before: &Snapshot, after: &Snapshot) -> Verdict {
        let clients = CLIENTS as u64;
        let created_after_at_most =
            after.signins_started.saturating_sub(self.index + 1) + (clients - 1);
        if after.at < self.sent + SESSION_TTL && created_after_at_most < MAX_SESSIONS {
            return Verdict::Live;
        }
        let created_after_at_least = before
            .signins_done
            .saturating_sub(self.answered.signins_started);
        let revoked_at_most = after
            .cookie_logouts_started
            .saturating_sub(self.answered.cookie_logouts_started);
        if created_after_at_least.saturating_sub(revoked_at_most) >= MAX_SESSIONS {
            Verdict::Evicted
        } else if before.at >= self.answered.at + SESSION_TTL {
            Verdict::Expired
        } else {
            Verdict::Either
        }
    }
}

// ---------------------------------------------------------------- client

enum Conn {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

struct Answer {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

async fn connect_h1(addr: SocketAddr) -> Result<Conn, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Conn::H1(sender))
}

async fn connect_h2(addr: SocketAddr) -> Result<http2::SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A request to send: its parts, so that it can be built for either
/// protocol.
struct Call {
    method: Method,
    path: String,
    headers: Vec<(http::HeaderName, String)>,
    body: &'static str,
}

impl Call {
    fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: "",
        }
    }

    fn post(path: impl Into<String>, body: &'static str) -> Self {
        Self {
            method: Method::POST,
            body,
            ..Self::get(path)
        }
    }

    fn header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

struct Client {
    name: String,
    conn: Conn,
    addr: SocketAddr,
    origin: String,
    stats: Arc<Stats>,
    rng: u64,
    recent: VecDeque<Held>,
    old: VecDeque<Held>,
    serial: u64,
}

impl Client {
    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic per client, good enough to mix traffic.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// What a logout carries: `{}` over HTTP/1.1; nothing over HTTP/2, like
    /// the spec's `fetch` call (see the module docs for why).
    fn logout_body(&self) -> &'static str {
        match self.conn {
            Conn::H1(_) => "{}",
            Conn::H2(_) => "",
        }
    }

    fn protocol(&self) -> &'static str {
        match self.conn {
            Conn::H1(_) => "HTTP/1.1",
            Conn::H2(_) => "h2",
        }
    }

    async fn send(&mut self, call: Call) -> Result<Answer, String> {
        let (uri, version) = match self.conn {
            // HTTP/1.1 in origin form with a Host header; HTTP/2 in absolute
            // form, which becomes :scheme and :authority.
            Conn::H1(_) => (call.path.clone(), Version::HTTP_11),
            Conn::H2(_) => (
                format!("http://{}{}", self.addr, call.path),
                Version::HTTP_2,
            ),
        };
        let mut builder = Request::builder()
            .method(call.method)
            .uri(uri)
            .version(version);
        if version == Version::HTTP_11 {
            builder = builder.header(HOST, self.addr.to_string());
        }
        for (name, value) in call.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from_static(call.body.as_bytes())))
            .map_err(|e| format!("request not built: {e}"))?;
        let exchange = async {
            let response = match &mut self.conn {
                Conn::H1(sender) => {
                    sender.ready().await?;
                    sender.send_request(request).await?
                }
                Conn::H2(sender) => {
                    sender.ready().await?;
                    sender.send_request(request).await?
                }
            };
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Answer {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                body,
            })
        };
        let answer = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => return Err(format!("request failed: {error} ({error:?})")),
            Err(_) => return Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        match self.conn {
            Conn::H1(_) => self.stats.requests_h1.fetch_add(1, SeqCst),
            Conn::H2(_) => self.stats.requests_h2.fetch_add(1, SeqCst),
        };
        if answer.version != version {
            return Err(format!("answered in {:?}", answer.version));
        }
        Ok(answer)
    }

    /// One request of `kind` (two for a logout: it is followed by a lookup),
    /// checked; the error says what was wrong.
    async fn step(&mut self, kind: Kind) -> Result<(), String> {
        match kind {
            Kind::SignIn => self.sign_in().await,
            Kind::SessionCookie => match self.recent.pop_back() {
                Some(held) => self.look_up(held, true).await,
                None => self.sign_in().await,
            },
            Kind::SessionOldCookie => match self.old.pop_front() {
                Some(held) => self.look_up(held, false).await,
                None => self.sign_in().await,
            },
            Kind::SessionToken => {
                let call = Call::get(SESSION).header(AUTHORIZATION, format!("Bearer {TOKEN}"));
                let answer = self.send(call).await?;
                expect_session(&answer, Some(("token-auth", TOKEN_USER)))
            }
            Kind::SessionAnonymous => {
                let answer = self.send(Call::get(SESSION)).await?;
                expect_session(&answer, None)
            }
            Kind::LogoutCookie => self.log_out().await,
            Kind::LogoutBare => {
                let call = Call::post(LOGOUT, self.logout_body())
                    .header(ORIGIN, self.origin.clone())
                    .header(CONTENT_TYPE, "application/json");
                let answer = self.send(call).await?;
                expect_status(&answer, StatusCode::NO_CONTENT)?;
                if answer.headers.contains_key(SET_COOKIE) || !answer.body.is_empty() {
                    return Err("a bare logout cleared a cookie or had a body".into());
                }
                Ok(())
            }
            Kind::PassThrough => {
                let n = self.next_random() % 1_000_000;
                let answer = self.send(Call::get(format!("/api/items/{n}"))).await?;
                expect_status(&answer, StatusCode::OK)?;
                if answer.body != format!("{{\"item\":{n}}}").as_bytes() {
                    return Err(format!("pass-through body {:?}", answer.body));
                }
                Ok(())
            }
        }
    }

    async fn sign_in(&mut self) -> Result<(), String> {
        self.serial += 1;
        let user = format!("{}-{}", self.name, self.serial);
        let sent = Instant::now();
        let index = self.stats.signins_started.fetch_add(1, SeqCst);
        let call =
            Call::post(format!("/demo/login?user={user}"), "").header(ORIGIN, self.origin.clone());
        let answer = self.send(call).await?;
        self.stats.signins_done.fetch_add(1, SeqCst);
        let answered = self.stats.snapshot();
        expect_status(&answer, StatusCode::SEE_OTHER)?;
        let set_cookie = single_set_cookie(&answer)?;
        let cookie = set_cookie
            .split(';')
            .next()
            .filter(|pair| pair.starts_with(&format!("{COOKIE_NAME}=")))
            .ok_or_else(|| format!("sign-in cookie {set_cookie:?}"))?
            .to_owned();
        let max_age = format!("Max-Age={}", SESSION_TTL.as_secs());
        if !set_cookie.contains("HttpOnly") || !set_cookie.contains(&max_age) {
            return Err(format!("sign-in cookie attributes {set_cookie:?}"));
        }
        self.recent.push_back(Held {
            cookie,
            user,
            index,
            sent,
            answered,
        });
        // Old cookies are kept until found gone, so that they age past the
        // cap and the lifetime; while the list is full, newer ones are let go.
        if self.recent.len() > RECENT {
            if let Some(oldest) = self.recent.pop_front() {
                if self.old.len() < OLD {
                    self.old.push_back(oldest);
                }
            }
        }
        Ok(())
    }

    /// Looks `held` up and checks the answer against its verdict; keeps it
    /// (as recent or old) unless it is known to be gone.
    async fn look_up(&mut self, held: Held, recent: bool) -> Result<(), String> {
        let before = self.stats.snapshot();
        let call = Call::get(SESSION).header(COOKIE, held.cookie.clone());
        let answer = self.send(call).await?;
        let after = self.stats.snapshot();
        let verdict = held.verdict(&before, &after);
        let authenticated = session_authenticated(&answer, "rstream-auth", &held.user)?;
        let counter = match (verdict, authenticated) {
            (Verdict::Live, true) => &self.stats.live,
            (Verdict::Evicted, false) => &self.stats.evicted,
            (Verdict::Expired, false) => &self.stats.expired,
            (Verdict::Either, _) => &self.stats.either,
            (Verdict::Live, false) => return Err("a live session did not authenticate".into()),
            (Verdict::Evicted | Verdict::Expired, true) => {
                return Err("an expired or evicted session authenticated".into());
            }
        };
        counter.fetch_add(1, SeqCst);
        if verdict == Verdict::Either && authenticated {
            self.stats.either_authenticated.fetch_add(1, SeqCst);
        }
        if matches!(verdict, Verdict::Live | Verdict::Either) {
            if recent {
                self.recent.push_back(held);
            } else {
                // Still the oldest: probed again next time.
                self.old.push_front(held);
            }
        }
        Ok(())
    }

    /// Logs out the newest session this client holds that is surely live,
    /// then checks that its cookie no longer authenticates.
    async fn log_out(&mut self) -> Result<(), String> {
        let Some(held) = self.recent.pop_back() else {
            return self.sign_in().await;
        };
        // A logout with a cookie whose session may be gone is a bare 204; only
        // log out sessions that must be live, so the answer is known: live
        // even were the logout to take 2 s and 1,000 sign-ins to happen first.
        let now = self.stats.snapshot();
        let ahead = Snapshot {
            at: now.at + Duration::from_secs(2),
            signins_started: now.signins_started + 1_000,
            ..now
        };
        if held.verdict(&now, &ahead) != Verdict::Live {
            return self.look_up(held, true).await;
        }
        self.stats.cookie_logouts_started.fetch_add(1, SeqCst);
        let call = Call::post(LOGOUT, self.logout_body())
            .header(ORIGIN, self.origin.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(COOKIE, held.cookie.clone());
        let answer = self.send(call).await?;
        expect_status(&answer, StatusCode::NO_CONTENT)?;
        let removal = single_set_cookie(&answer)?;
        if !removal.starts_with(&format!("{COOKIE_NAME}=;")) || !removal.contains("Max-Age=0") {
            return Err(format!("logout did not clear the cookie: {removal:?}"));
        }
        // A revoked session never loads again.
        let call = Call::get(SESSION).header(COOKIE, held.cookie);
        let answer = self.send(call).await?;
        if session_authenticated(&answer, "rstream-auth", &held.user)? {
            return Err("a logged-out session still authenticates".into());
        }
        Ok(())
    }
}

fn expect_status(answer: &Answer, status: StatusCode) -> Result<(), String> {
    if answer.status == status {
        Ok(())
    } else {
        Err(format!(
            "status {} (wanted {status}): {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ))
    }
}

fn single_set_cookie(answer: &Answer) -> Result<&str, String> {
    let mut values = answer.headers.get_all(SET_COOKIE).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .map_err(|_| "a Set-Cookie that is not text".to_owned()),
        _ => Err("not exactly one Set-Cookie".into()),
    }
}

/// Checks a session document and says whether it authenticated `user` by
/// `method`; any other user or method, or a malformed document, is an error.
fn session_authenticated(answer: &Answer, method: &str, user: &str) -> Result<bool, String> {
    expect_status(answer, StatusCode::OK)?;
    if answer.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes) != Some(b"application/json") {
        return Err("session answer is not JSON".into());
    }
    let json: Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("session body: {e}"))?;
    match json["auth"]["authenticated"].as_bool() {
        Some(false) if json == serde_json::json!({"auth": {"authenticated": false}}) => Ok(false),
        Some(true)
            if json["auth"]["method"] == method
                && json["user"]["userId"] == user
                && json["tunnel"]["workspaceId"] == WORKSPACE_ID
                && json["tunnel"]["projectId"] == PROJECT_ID =>
        {
            Ok(true)
        }
        _ => Err(format!("session document {json}")),
    }
}

/// Checks that a session document authenticates as `expected` (method and
/// user), or not at all for `None`.
fn expect_session(answer: &Answer, expected: Option<(&str, &str)>) -> Result<(), String> {
    let (method, user) = expected.unwrap_or(("", ""));
    let authenticated = session_authenticated(answer, method, user)?;
    if authenticated == expected.is_some() {
        Ok(())
    } else {
        Err(format!(
            "authenticated: {authenticated}, wanted {expected:?}"
        ))
    }
}

/// Sends requests until `stop` (or the count bound), each checked. After an
/// error, an HTTP/1.1 client reconnects (the connection may be unusable); an
/// HTTP/2 client, whose connection is shared, stops.
async fn run_client(mut client: Client, start: Instant, stop: Instant) -> Client {
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        let phase = now.saturating_duration_since(start).as_secs() / PHASE.as_secs();
        let flood = phase % 2 == 0;
        let roll = client.next_random();
        let kind = Kind::pick(roll, flood);
        client.stats.by_kind[kind as usize].fetch_add(1, SeqCst);
        if let Err(what) = client.step(kind).await {
            let protocol = client.protocol();
            client
                .stats
                .error(format!("{} over {protocol}: {what}", kind.name()));
            if matches!(client.conn, Conn::H1(_)) {
                match connect_h1(client.addr).await {
                    Ok(conn) => client.conn = conn,
                    Err(_) => break,
                }
            } else {
                break;
            }
        }
    }
    client
}

// ---------------------------------------------------------------- main

/// Resident memory of this process, in KiB.
fn rss_kib() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS")?
        .parse()?)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn soak_secs() -> Result<u64, BoxError> {
    match std::env::var("SOAK_SECS") {
        Ok(value) => match value.parse::<u64>() {
            Ok(secs) if (1..=MAX_SOAK_SECS).contains(&secs) => Ok(secs),
            _ => Err(format!("SOAK_SECS must be 1 to {MAX_SOAK_SECS}, got {value:?}").into()),
        },
        Err(_) => Ok(DEFAULT_SOAK_SECS),
    }
}

/// Progress and the store's bound, sampled every 100 ms until `stop`.
struct Watch {
    max_sessions_seen: AtomicUsize,
    over_cap: AtomicUsize,
}

async fn watch(
    store: MemoryStore,
    stats: Arc<Stats>,
    watch: Arc<Watch>,
    start: Instant,
    stop: Instant,
) {
    let mut next_report = start + WARM_UP + REPORT_EVERY;
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut last_requests = (Instant::now(), 0);
    // Bounded by time, and by count as well.
    let ticks_at_most = (stop - start).as_millis() / 100 + 10;
    for _ in 0..ticks_at_most {
        ticks.tick().await;
        let now = Instant::now();
        if now >= stop {
            break;
        }
        let len = store.len();
        watch.max_sessions_seen.fetch_max(len, SeqCst);
        if len > MAX_SESSIONS as usize {
            watch.over_cap.fetch_add(1, SeqCst);
        }
        if now >= next_report {
            next_report += REPORT_EVERY;
            let requests = stats.requests();
            let rate = (requests - last_requests.1) as f64
                / now.duration_since(last_requests.0).as_secs_f64();
            last_requests = (now, requests);
            let phase = if (now - start).as_secs() / PHASE.as_secs() % 2 == 0 {
                "flood"
            } else {
                "calm "
            };
            println!(
                "t={:>4}s {phase} rss={:>6.1} MiB sessions={len:>5} requests={requests:>9} ({rate:>6.0}/s) errors={}",
                now.saturating_duration_since(start)
                    .saturating_sub(WARM_UP)
                    .as_secs(),
                rss_kib().map_or(f64::NAN, mib),
                stats.errors.load(SeqCst),
            );
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let secs = soak_secs()?;
    let server = start_server().await?;
    let addr = server.addr;
    let origin = format!("http://{addr}");
    let stats = Arc::new(Stats::default());
    let watcher = Arc::new(Watch {
        max_sessions_seen: AtomicUsize::new(0),
        over_cap: AtomicUsize::new(0),
    });
    println!(
        "soak on {addr}: {H1_CONNECTIONS} HTTP/1.1 + {H2_CONNECTIONS} h2 connections \
         ({H2_STREAMS} streams each), {WARM_UP:?} warm-up then {secs} s; \
         store cap {MAX_SESSIONS}, session ttl {SESSION_TTL:?}, phases of {PHASE:?}"
    );

    let start = Instant::now();
    let warmed = start + WARM_UP;
    let stop = warmed + Duration::from_secs(secs);

    let mut clients = JoinSet::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut new_client = |name: String, conn: Conn| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        Client {
            name,
            conn,
            addr,
            origin: origin.clone(),
            stats: Arc::clone(&stats),
            rng: seed | 1,
            recent: VecDeque::new(),
            old: VecDeque::new(),
            serial: 0,
        }
    };
    for n in 0..H1_CONNECTIONS {
        let client = new_client(format!("h1-{n}"), connect_h1(addr).await?);
        clients.spawn(run_client(client, start, stop));
    }
    for n in 0..H2_CONNECTIONS {
        let sender = connect_h2(addr).await?;
        for s in 0..H2_STREAMS {
            let client = new_client(format!("h2-{n}-{s}"), Conn::H2(sender.clone()));
            clients.spawn(run_client(client, start, stop));
        }
    }
    let watch_task = tokio::spawn(watch(
        server.store.clone(),
        Arc::clone(&stats),
        Arc::clone(&watcher),
        start,
        stop,
    ));

    tokio::time::sleep_until(warmed.into()).await;
    let rss_start = rss_kib()?;
    let requests_start = stats.requests();
    let sessions_start = server.store.len();
    println!(
        "warmed up: rss={:.1} MiB sessions={sessions_start} requests={requests_start}",
        mib(rss_start)
    );

    let mut finished = Vec::new();
    let deadline = tokio::time::Instant::from(stop + STOP_GRACE);
    while !clients.is_empty() {
        match tokio::time::timeout_at(deadline, clients.join_next()).await {
            Ok(Some(Ok(client))) => finished.push(client),
            Ok(Some(Err(error))) => stats.error(format!("a client task failed: {error}")),
            Ok(None) => break,
            Err(_) => {
                stats.error(format!("{} client(s) did not stop in time", clients.len()));
                clients.abort_all();
                break;
            }
        }
    }
    let elapsed = start.elapsed() - WARM_UP;
    let _ = watch_task.await;
    let rss_end = rss_kib()?;
    let sessions_end = server.store.len();
    server.task.abort();
    drop(finished);

    let requests = stats.requests();
    let errors = stats.errors.load(SeqCst);
    println!(
        "requests: {requests} ({} HTTP/1.1, {} h2), {:.0}/s after warm-up",
        stats.requests_h1.load(SeqCst),
        stats.requests_h2.load(SeqCst),
        (requests - requests_start) as f64 / elapsed.as_secs_f64(),
    );
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|kind| {
            format!(
                "{} {}",
                kind.name(),
                stats.by_kind[*kind as usize].load(SeqCst)
            )
        })
        .collect();
    println!("by kind: {}", kinds.join(", "));
    println!(
        "cookie lookups: {} surely live (authenticated), {} surely evicted and {} surely expired \
         (refused), {} undecidable ({} of them authenticated); {} sign-ins, {} cookie logouts",
        stats.live.load(SeqCst),
        stats.evicted.load(SeqCst),
        stats.expired.load(SeqCst),
        stats.either.load(SeqCst),
        stats.either_authenticated.load(SeqCst),
        stats.signins_done.load(SeqCst),
        stats.cookie_logouts_started.load(SeqCst),
    );
    println!(
        "sessions: {sessions_start} after warm-up, {sessions_end} at the end, at most {} seen \
         (cap {MAX_SESSIONS})",
        watcher.max_sessions_seen.load(SeqCst)
    );
    let growth = rss_end.saturating_sub(rss_start);
    println!(
        "rss: {:.1} MiB after warm-up, {:.1} MiB at the end, growth {:.1} MiB (tolerance {:.0} MiB)",
        mib(rss_start),
        mib(rss_end),
        mib(growth),
        mib(RSS_TOLERANCE_KIB)
    );
    println!("errors: {errors}");
    for what in stats.shown.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        eprintln!("  {what}");
    }

    let mut failures = Vec::new();
    if errors > 0 {
        failures.push(format!("{errors} error(s)"));
    }
    if watcher.over_cap.load(SeqCst) > 0 {
        failures.push("the store held more sessions than its cap".to_owned());
    }
    if stats.evicted.load(SeqCst) == 0 {
        failures.push("no cookie was confirmed evicted: the bound was not exercised".to_owned());
    }
    if growth > RSS_TOLERANCE_KIB {
        failures.push(format!("resident memory grew by {:.1} MiB", mib(growth)));
    }
    if failures.is_empty() {
        println!("soak passed");
        Ok(())
    } else {
        Err(format!("soak failed: {}", failures.join("; ")).into())
    }
}
