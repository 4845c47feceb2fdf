//! A bounded load harness over loopback: what the layer costs a real HTTP/1.1
//! server.
//!
//! Starts two hyper servers in this process on `127.0.0.1:0`, one serving a
//! small application service as it is, one serving the same service behind
//! `WellKnownLayer`, then drives each with `LOAD_CONCURRENCY` keep-alive
//! HTTP/1.1 connections until `LOAD_REQUESTS` requests have been answered.
//! The measured cases, in each of `LOAD_ROUNDS` rounds:
//!
//! - `bare`: `GET /api/users/42` on the server without the layer;
//! - `layered`: the same request on the server with the layer (pass-through);
//! - `session/token` and `session/cookie`: the session endpoint, authenticated
//!   by a bearer token and by a session cookie.
//!
//! Every response's status and body are checked; failures are counted and the
//! first ones printed, and the process exits non-zero if there was any. It
//! talks to 127.0.0.1 only, and gives up after `LOAD_TIMEOUT_SECS` per case.
//!
//! Run it optimised: `cargo run --release --example load`
//! (`LOAD_REQUESTS=20000 LOAD_CONCURRENCY=16 LOAD_ROUNDS=3` are the defaults).
//! Client and servers share the machine's cores, so compare the figures with
//! each other, not with another machine's.

use std::convert::Infallible;
use std::error::Error;
use std::future::{Ready, ready};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, COOKIE, HOST, HeaderName, HeaderValue, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::{Layer, Service, ServiceExt};

type BoxError = Box<dyn Error + Send + Sync>;

const APP_BODY: &[u8] = b"{\"id\":42}";
const TOKEN: &str = "load-token-3b9e61c0f2d8";
/// How many failures are printed in full (all are counted).
const ERRORS_SHOWN: usize = 10;

/// The application: answers every request at once with a small JSON body.
fn app(_request: Request<Incoming>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(APP_BODY)))))
}

/// Serves `service` on `listener` with HTTP/1.1 keep-alive until the returned
/// task is aborted.
fn serve<S, B>(listener: TcpListener, service: S) -> JoinHandle<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let hyper_service =
                    hyper::service::service_fn(move |request: Request<Incoming>| {
                        service.clone().oneshot(request)
                    });
                // A client closing its connection at the end is not an error
                // worth reporting; request failures are counted client-side.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_service)
                    .await;
            });
        }
    })
}

/// One measured case: where to send what, and what a correct answer is.
struct Case {
    name: &'static str,
    addr: SocketAddr,
    path: &'static str,
    headers: Vec<(HeaderName, HeaderValue)>,
    expect_body: fn(&[u8]) -> bool,
}

#[derive(Default)]
struct Outcome {
    ok: usize,
    failures: usize,
    shown: Vec<String>,
}

impl Outcome {
    fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.shown.len() < ERRORS_SHOWN {
            self.shown.push(what);
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.failures += other.failures;
        for what in other.shown {
            if self.shown.len() < ERRORS_SHOWN {
                self.shown.push(what);
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends requests on one keep-alive connection until `next` reaches `total`.
async fn client(
    mut sender: SendRequest<Empty<Bytes>>,
    case: Arc<Case>,
    next: Arc<AtomicUsize>,
    total: usize,
) -> Outcome {
    let mut outcome = Outcome::default();
    while next.fetch_add(1, Ordering::Relaxed) < total {
        if let Err(error) = sender.ready().await {
            outcome.fail(format!("connection lost: {error}"));
            break;
        }
        let mut builder = Request::get(case.path)
            .header(HOST, case.addr.to_string())
            .header(USER_AGENT, "rstream-well-known-load/1")
            .header(ACCEPT, "application/json");
        for (name, value) in &case.headers {
            builder = builder.header(name, value);
        }
        let request = match builder.body(Empty::new()) {
            Ok(request) => request,
            Err(error) => {
                outcome.fail(format!("request not built: {error}"));
                break;
            }
        };
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => {
                outcome.fail(format!("request failed: {error}"));
                continue;
            }
        };
        let status = response.status();
        match response.into_body().collect().await {
            Ok(body) => {
                let body = body.to_bytes();
                if status == StatusCode::OK && (case.expect_body)(&body) {
                    outcome.ok += 1;
                } else {
                    outcome.fail(format!(
                        "unexpected answer: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            Err(error) => outcome.fail(format!("{status}, body failed: {error}")),
        }
    }
    outcome
}

/// Runs `total` requests of `case` over `concurrency` connections; returns
/// the outcome and the time from the first request to the last answer.
async fn run(
    case: &Arc<Case>,
    total: usize,
    concurrency: usize,
) -> Result<(Outcome, Duration), BoxError> {
    let mut senders = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        senders.push(connect(case.addr).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = senders
        .into_iter()
        .map(|sender| tokio::spawn(client(sender, Arc::clone(case), Arc::clone(&next), total)))
        .collect();
    let mut outcome = Outcome::default();
    for client in clients {
        outcome.merge(client.await?);
    }
    let elapsed = started.elapsed();
    // Requests left unsent because every connection was lost count as failed.
    let unsent = total.saturating_sub(outcome.ok + outcome.failures);
    if unsent > 0 {
        outcome.fail(format!("{unsent} request(s) never sent"));
        outcome.failures += unsent - 1;
    }
    Ok((outcome, elapsed))
}

fn env_usize(name: &str, default: usize) -> Result<usize, BoxError> {
    match std::env::var(name) {
        Ok(value) => match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {value:?}").into()),
        },
        Err(_) => Ok(default),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let requests = env_usize("LOAD_REQUESTS", 20_000)?;
    let concurrency = env_usize("LOAD_CONCURRENCY", 16)?;
    let rounds = env_usize("LOAD_ROUNDS", 3)?;
    let timeout = Duration::from_secs(env_usize("LOAD_TIMEOUT_SECS", 120)? as u64);

    let localhost = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let bare_listener = TcpListener::bind(localhost).await?;
    let layered_listener = TcpListener::bind(localhost).await?;
    let bare_addr = bare_listener.local_addr()?;
    let layered_addr = layered_listener.local_addr()?;

    // The layered server's own address is its tunnel host, so the session
    // endpoint answers there and ordinary paths pass through.
    let host = layered_addr.to_string();
    let layer = WellKnownLayer::builder()
        .tunnel(
            Tunnel::new(&host, "workspace-id", "project-id")?
                .with_origin(&format!("http://{host}"))?,
        )
        .with_token_verifier(
            StaticTokenVerifier::new()
                .with_token(TOKEN, User::new("load-bot").with_name("Load Bot")),
        )
        .with_session_store(MemoryStore::new())
        .build()?;
    let signed_in = layer
        .session_manager()
        .ok_or("sessions are enabled")?
        .sign_in(User::new("ada").with_name("Ada Lovelace"))
        .await?;
    let cookie = format!("rstream_session={}", signed_in.session_id().expose());

    let servers = [
        serve(bare_listener, tower::service_fn(app)),
        serve(layered_listener, layer.layer(tower::service_fn(app))),
    ];

    let pass_through = |body: &[u8]| body == APP_BODY;
    let cases = [
        Case {
            name: "bare",
            addr: bare_addr,
            path: "/api/users/42",
            headers: Vec::new(),
            expect_body: pass_through,
        },
        Case {
            name: "layered",
            addr: layered_addr,
            path: "/api/users/42",
            headers: Vec::new(),
            expect_body: pass_through,
        },
        Case {
            name: "session/token",
            addr: layered_addr,
            path: "/.well-known/rstream/session",
            headers: vec![(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {TOKEN}"))?,
            )],
            expect_body: |body| body.windows(12).any(|w| w == b"\"token-auth\""),
        },
        Case {
            name: "session/cookie",
            addr: layered_addr,
            path: "/.well-known/rstream/session",
            headers: vec![(COOKIE, HeaderValue::from_str(&cookie)?)],
            expect_body: |body| body.windows(14).any(|w| w == b"\"rstream-auth\""),
        },
    ]
    .map(Arc::new);

    println!(
        "{requests} requests per case over {concurrency} keep-alive HTTP/1.1 connections, \
         {rounds} round(s); bare on {bare_addr}, layered on {layered_addr}"
    );

    let mut failures = 0;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    // Round 0 warms up (connections, allocator, caches) and is not reported.
    for round in 0..=rounds {
        let total = if round == 0 {
            (requests / 10).max(1)
        } else {
            requests
        };
        for (case, rates) in cases.iter().zip(&mut rates) {
            let (outcome, elapsed) = tokio::time::timeout(timeout, run(case, total, concurrency))
                .await
                .map_err(|_| format!("{}: no end after {timeout:?}", case.name))??;
            failures += outcome.failures;
            for what in &outcome.shown {
                eprintln!("{}: {what}", case.name);
            }
            if round == 0 {
                continue;
            }
            let rate = outcome.ok as f64 / elapsed.as_secs_f64();
            rates.push(rate);
            println!(
                "round {round} {:<15} {:>9.0} req/s  ({} ok, {} failed, {:.2} s)",
                case.name,
                rate,
                outcome.ok,
                outcome.failures,
                elapsed.as_secs_f64()
            );
        }
    }
    for server in servers {
        server.abort();
    }

    let medians: Vec<f64> = rates.iter().map(|r| median(&mut r.clone())).collect();
    println!("median over {rounds} round(s):");
    for (case, rate) in cases.iter().zip(&medians) {
        println!("  {:<15} {:>9.0} req/s", case.name, rate);
    }
    println!(
        "  layered / bare = {:.3}   (per-round: {})",
        medians[1] / medians[0],
        rates[1]
            .iter()
            .zip(&rates[0])
            .map(|(l, b)| format!("{:.3}", l / b))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if failures > 0 {
        return Err(format!("{failures} request(s) failed").into());
    }
    Ok(())
}
