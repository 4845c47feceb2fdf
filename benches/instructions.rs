//! What the layer costs, in instructions per call, counted by valgrind.
//!
//! The same configuration and requests as `benches/layer.rs` (a tunnel, a
//! static token verifier, a memory store; the inner service and both
//! backends are ready at once, so each response future is polled once, in
//! place, and no runtime is measured):
//!
//! - `pass-through`: `GET /api/users/42` to the bare inner service and to
//!   the same service behind `WellKnownLayer`;
//! - `identity-elsewhere`, `identity/anonymous`, `identity/token`,
//!   `identity/cookie`: the same request (with a bearer token, none, a
//!   token, a cookie) behind a layer that resolves the caller of forwarded
//!   requests under `/account` only, and everywhere: the price of identity
//!   for handlers, against the same bare service;
//! - `session/unauthenticated`, `session/token`, `session/cookie`:
//!   `GET /.well-known/rstream/session` with no credential, a bearer token,
//!   a session cookie, answered by the layer, and by a static service that
//!   answers with the very response the layer sends (status, headers, body,
//!   precomputed): what the answer costs at the least.
//!
//! The bench re-executes itself under `valgrind --tool=cachegrind
//! --cache-sim=no` (user-space instructions), once with N1 and once with N2
//! calls, and takes `(I(N2) − I(N1)) ÷ (N2 − N1)`: set-up and teardown cancel
//! out. Each call builds its request first (the service consumes it), so
//! each request is also counted alone (built and dropped) and subtracted: the
//! figures are the service call, dropping the request inside it and the
//! response after it. The counts are deterministic to an instruction or two
//! for one build; how it is compiled (codegen units, LTO) moves them by a
//! few dozen instructions either way, as it decides what is inlined and
//! which copies become calls to `memcpy` (README, "Performance").
//!
//! Run: `cargo bench --bench instructions` (optionally `-- cookie` to run only
//! the cases whose name contains `cookie`). `INSTR_CALLS=N1,N2` changes the
//! call counts (default `1000,11000`). Without valgrind on `PATH` it says
//! `SKIPPED` and succeeds. Under `cargo test --benches` (no `--bench`
//! argument) it only runs every case once, natively, and checks the answers.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, HeaderMap};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use rstream_well_known::WellKnownLayer;

mod common;
use common::*;
mod envelope;
use envelope::Envelope;
use tower::{Layer, Service, service_fn};

/// Set in the re-executed child: `<case>:<service>:<calls>`.
const CHILD: &str = "RSTREAM_INSTRUCTIONS_CHILD";

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Token,
    Cookie,
}

/// A request of the bench: its path, credential and expected answer.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    path: &'static str,
    caller: Caller,
    /// A piece of the expected body.
    expect: &'static [u8],
    /// The goal for layered − baseline, in instructions.
    goal: u64,
    /// Whether the goal is issue 7's (the session endpoint and pass-through)
    /// or one this bench set itself (identity for handlers).
    from_issue: bool,
    /// Where the layer resolves the caller of forwarded requests.
    identity: Identity,
}

const CASES: [Case; 8] = [
    Case {
        name: "pass-through",
        path: APP_PATH,
        caller: Caller::Anonymous,
        expect: APP_BODY,
        goal: 100,
        from_issue: true,
        identity: Identity::Off,
    },
    Case {
        name: "session/unauthenticated",
        path: SESSION_PATH,
        caller: Caller::Anonymous,
        expect: br#"{"auth":{"authenticated":false}}"#,
        goal: 1000,
        from_issue: true,
        identity: Identity::Off,
    },
    Case {
        name: "session/token",
        path: SESSION_PATH,
        caller: Caller::Token,
        expect: br#""method":"token-auth""#,
        goal: 2000,
        from_issue: true,
        identity: Identity::Off,
    },
    Case {
        name: "session/cookie",
        path: SESSION_PATH,
        caller: Caller::Cookie,
        expect: br#""method":"rstream-auth""#,
        goal: 2000,
        from_issue: true,
        identity: Identity::Off,
    },
    // Identity on, but not for this path: the path is checked, nothing else.
    Case {
        name: "identity-elsewhere",
        path: APP_PATH,
        caller: Caller::Token,
        expect: APP_BODY,
        goal: 150,
        from_issue: false,
        identity: Identity::Elsewhere,
    },
    // Identity on for this path, no credential: an explicit "nobody".
    Case {
        name: "identity/anonymous",
        path: APP_PATH,
        caller: Caller::Anonymous,
        expect: APP_BODY,
        goal: 1000,
        from_issue: false,
        identity: Identity::All,
    },
    Case {
        name: "identity/token",
        path: APP_PATH,
        caller: Caller::Token,
        expect: APP_BODY,
        goal: 2500,
        from_issue: false,
        identity: Identity::All,
    },
    Case {
        name: "identity/cookie",
        path: APP_PATH,
        caller: Caller::Cookie,
        expect: APP_BODY,
        goal: 2500,
        from_issue: false,
        identity: Identity::All,
    },
];

/// What handles a case's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handler {
    /// Nobody: the request is built and dropped.
    Request,
    /// The inner service alone (pass-through) or the static answer (session
    /// endpoint).
    Baseline,
    /// The layer in front of the inner service.
    Layered,
    /// A reference for pass-through: the least middleware that may answer a
    /// request itself adds (see [`Envelope`]).
    Envelope,
}

const HANDLERS: [Handler; 3] = [Handler::Request, Handler::Baseline, Handler::Layered];

impl Handler {
    fn name(self) -> &'static str {
        match self {
            Handler::Request => "request",
            Handler::Baseline => "baseline",
            Handler::Layered => "layered",
            Handler::Envelope => "envelope",
        }
    }
}

// ---------------------------------------------------------------------------
// The measured code.

/// The application: answers every request at once with a small body. Kept
/// here rather than taken from `common`: defined in this file, it is inlined
/// into the bare baseline as it was when the goals were set, so the baseline
/// stays the cheapest bare call.
fn inner_service(
    _request: Request<Full<Bytes>>,
) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(APP_BODY)))))
}

/// The static baseline: the same precomputed answer to every request.
#[derive(Clone)]
struct StaticAnswer(Arc<(StatusCode, HeaderMap, Bytes)>);

impl Service<Request<Full<Bytes>>> for StaticAnswer {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Full<Bytes>>) -> Self::Future {
        let (status, headers, body) = &*self.0;
        let mut response = Response::new(Full::new(body.clone()));
        *response.status_mut() = *status;
        *response.headers_mut() = headers.clone();
        ready(Ok(response))
    }
}

/// The layer, configured as in `benches/layer.rs` (with identity as the
/// case says), and a signed-in browser's `Cookie` header.
struct Fixture {
    layer: WellKnownLayer,
    cookie: String,
    bearer: String,
}

impl Fixture {
    fn new(case: &Case) -> Self {
        let layer = layer_with_identity(case.identity);
        let cookie = signed_in_cookie(&layer);
        Self {
            layer,
            cookie,
            bearer: format!("Bearer {TOKEN}"),
        }
    }

    /// A request as a browser or API client would send it.
    fn request(&self, case: &Case) -> Request<Full<Bytes>> {
        let credential = match case.caller {
            Caller::Anonymous => None,
            Caller::Token => Some((AUTHORIZATION, self.bearer.as_str())),
            Caller::Cookie => Some((COOKIE, self.cookie.as_str())),
        };
        request(case.path, credential)
    }
}

/// One measured call: the request in, the response out, for every service
/// alike.
///
/// - Through one function the compiler may not inline into the loop that
///   builds the requests. Inlined there, a call's cost depends on what else
///   the compiler then folds together (a minimal middleware read 79
///   instructions *cheaper* than the bare service it wraps that way).
/// - The response future is polled where it is made, pinned in place, as a
///   server polls it, rather than moved into a helper that polls it
///   (`now_or_never`): whether the compiler inlines such a helper depends on
///   the future's type, and moving a future costs by its size, neither of
///   which is what a server pays.
#[inline(never)]
fn measured_call<S>(service: &mut S, request: Request<Full<Bytes>>) -> S::Response
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(error)) => panic!("poll_ready fails: {error:?}"),
        Poll::Pending => panic!("the service is not ready at once"),
    }
    let mut future = std::pin::pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(error)) => panic!("the call fails: {error:?}"),
        Poll::Pending => panic!("the response is not ready at once"),
    }
}

fn run(fixture: &Fixture, case: &Case, handler: Handler, calls: u64) {
    fn check(case: &Case, who: &str, (status, _, body): &(StatusCode, HeaderMap, Bytes)) {
        assert_eq!(*status, StatusCode::OK, "{} ({who})", case.name);
        assert!(
            body.windows(case.expect.len()).any(|w| w == case.expect),
            "{} ({who}): {}",
            case.name,
            String::from_utf8_lossy(body)
        );
    }
    fn calls_to<S>(fixture: &Fixture, case: &Case, service: &mut S, calls: u64)
    where
        S: Service<Request<Full<Bytes>>>,
        S::Error: Debug,
    {
        for _ in 0..calls {
            let request = fixture.request(case);
            drop(black_box(measured_call(service, black_box(request))));
        }
    }

    let mut layered = fixture.layer.layer(service_fn(inner_service));
    let answer = collect(call_now(&mut layered, fixture.request(case)));
    check(case, "layered", &answer);
    match handler {
        Handler::Request => {
            for _ in 0..calls {
                drop(black_box(fixture.request(case)));
            }
        }
        Handler::Layered => calls_to(fixture, case, &mut layered, calls),
        Handler::Envelope => {
            let mut envelope = Envelope(service_fn(inner_service));
            let answer = collect(call_now(&mut envelope, fixture.request(case)));
            check(case, "envelope", &answer);
            calls_to(fixture, case, &mut envelope, calls);
        }
        Handler::Baseline if case.path == APP_PATH => {
            let mut bare = service_fn(inner_service);
            let bare_answer = collect(call_now(&mut bare, fixture.request(case)));
            assert_eq!(answer, bare_answer, "the layer forwards untouched");
            calls_to(fixture, case, &mut bare, calls);
        }
        Handler::Baseline => {
            let mut fixed = StaticAnswer(Arc::new(answer.clone()));
            assert_eq!(collect(call_now(&mut fixed, fixture.request(case))), answer);
            calls_to(fixture, case, &mut fixed, calls);
        }
    }
}

// ---------------------------------------------------------------------------
// The harness.

fn main() -> ExitCode {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&str> = args
        .iter()
        .filter(|arg| !arg.starts_with('-'))
        .map(String::as_str)
        .collect();
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|case| filters.is_empty() || filters.iter().any(|f| case.name.contains(f)))
        .collect();
    if !args.iter().any(|arg| arg == "--bench") {
        // `cargo test --benches`: check every case once, natively.
        for case in &cases {
            let fixture = Fixture::new(case);
            for handler in HANDLERS {
                run(&fixture, case, handler, 1);
            }
            if case.path == APP_PATH {
                run(&fixture, case, Handler::Envelope, 1);
            }
        }
        println!(
            "instructions: {} case(s) answer correctly; `cargo bench --bench instructions` \
             counts their instructions under valgrind",
            cases.len()
        );
        return ExitCode::SUCCESS;
    }
    match Command::new("valgrind").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => {
            println!("==================================================================");
            println!("SKIPPED: benches/instructions needs valgrind on PATH");
            println!("(Debian: apt-get install -y valgrind); nothing was counted.");
            println!("==================================================================");
            return ExitCode::SUCCESS;
        }
    }
    match count_all(&cases) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("instructions: {error}");
            ExitCode::FAILURE
        }
    }
}

/// In the child: runs one case and exits.
fn child(spec: &str) -> ExitCode {
    let mut parts = spec.split(':');
    let (Some(name), Some(handler), Some(calls), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        eprintln!("{CHILD}: not <case>:<handler>:<calls>: {spec:?}");
        return ExitCode::FAILURE;
    };
    let case = CASES.iter().find(|case| case.name == name);
    let handler = HANDLERS
        .into_iter()
        .chain([Handler::Envelope])
        .find(|h| h.name() == handler);
    let (Some(case), Some(handler), Ok(calls)) = (case, handler, calls.parse::<u64>()) else {
        eprintln!("{CHILD}: unknown case, handler or count: {spec:?}");
        return ExitCode::FAILURE;
    };
    run(&Fixture::new(case), case, handler, calls);
    ExitCode::SUCCESS
}

type BoxError = Box<dyn std::error::Error>;

fn call_counts() -> Result<(u64, u64), BoxError> {
    let value = std::env::var("INSTR_CALLS").unwrap_or_else(|_| "1000,11000".into());
    let parsed = value
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    match parsed {
        Some((a, b)) if a < b => Ok((a, b)),
        _ => Err(format!("INSTR_CALLS must be N1,N2 with N1 < N2, got {value:?}").into()),
    }
}

/// Instructions executed by the child running `handler` on `case` `calls`
/// times, whole process.
fn count(dir: &Path, case: &Case, handler: Handler, calls: u64) -> Result<u64, BoxError> {
    let stem = format!("{}.{}.{calls}", case.name.replace('/', "-"), handler.name());
    let out = dir.join(format!("{stem}.cachegrind.out"));
    let log = dir.join(format!("{stem}.log"));
    let status = Command::new("valgrind")
        .arg("--tool=cachegrind")
        .arg("--cache-sim=no")
        .arg(format!("--cachegrind-out-file={}", out.display()))
        .arg(format!("--log-file={}", log.display()))
        .arg(std::env::current_exe()?)
        .env(CHILD, format!("{}:{}:{calls}", case.name, handler.name()))
        .status()?;
    if !status.success() {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!("{stem}: {status}; valgrind said:\n{said}").into());
    }
    let text = std::fs::read_to_string(&out)?;
    text.lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no summary in {}", out.display()).into())
}

fn count_all(cases: &[&Case]) -> Result<(), BoxError> {
    let (n1, n2) = call_counts()?;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("rstream-instructions-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "instructions per call (valgrind cachegrind, (I({n2}) − I({n1})) ÷ {}), building the \
         request subtracted",
        n2 - n1
    );
    println!(
        "{:<24} {:>8} {:>9} {:>8} {:>11}  goal",
        "case", "request", "baseline", "layered", "difference"
    );
    // Instructions per call of `handler` on `case`.
    let per_call = |case: &Case, handler| -> Result<f64, BoxError> {
        let first = count(&dir, case, handler, n1)?;
        let second = count(&dir, case, handler, n2)?;
        Ok((second as f64 - first as f64) / (n2 - n1) as f64)
    };
    let result = (|| -> Result<(), BoxError> {
        // The pass-through case and its baseline, for the reference line.
        let mut pass_through = None;
        for case in cases {
            let [request, baseline, layered] = [
                per_call(case, Handler::Request)?,
                per_call(case, Handler::Baseline)?,
                per_call(case, Handler::Layered)?,
            ];
            let difference = layered - baseline;
            println!(
                "{:<24} {:>8.0} {:>9.0} {:>8.0} {:>+11.0}  ≤ +{} {}{}",
                case.name,
                request,
                baseline - request,
                layered - request,
                difference,
                case.goal,
                if difference <= case.goal as f64 {
                    "met"
                } else {
                    "NOT met"
                },
                if case.from_issue {
                    ""
                } else {
                    " (this bench's own target)"
                }
            );
            if case.name == "pass-through" {
                pass_through = Some((*case, baseline));
            }
        }
        if let Some((case, baseline)) = pass_through {
            let envelope = per_call(case, Handler::Envelope)? - baseline;
            println!(
                "reference: pass-through through a minimal middleware that may answer itself \
                 (two-state future, Either body, no path check, no configuration): {envelope:+.0}"
            );
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!(
        "baseline: the bare inner service (pass-through), or a service answering the layer's \
         own response, precomputed (session)"
    );
    Ok(())
}
