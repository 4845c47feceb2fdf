//! What the browser test runs against: the demo (with a log of what it
//! answered), the hostile page, chromedriver and a headless Chromium with a
//! fresh profile. Everything is started here and stopped on drop.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Html;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder};
use futures::channel::oneshot;
use http::{Method, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::demo;

/// Headless, no sandbox (CI runs as root), and off the network: a headless
/// browser has no business calling home in a test, and on a closed network
/// those calls only fail. Beyond the list: no QUIC, `/tmp` rather
/// than `/dev/shm`, and a fixed window size for the screenshots.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    // Containers often give /dev/shm only 64 MiB; Chromium then crashes tabs.
    "--disable-dev-shm-usage",
    "--window-size=900,700",
];

/// The page served from the hostile origin.
const HOSTILE_PAGE: &str = include_str!("hostile.html");

/// How long chromedriver may take to say which port it listens on.
const DRIVER_START: Duration = Duration::from_secs(20);

/// The programs the test needs, found on `PATH`.
pub struct Programs {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// Finds chromium and chromedriver. When one is missing the test is skipped
/// with a loud message, except under `CI=true`, where that is a failure.
pub fn programs() -> Option<Programs> {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(on_path);
    let chromedriver = on_path("chromedriver");
    if let (Some(chromium), Some(chromedriver)) = (&chromium, &chromedriver) {
        return Some(Programs {
            chromium: chromium.clone(),
            chromedriver: chromedriver.clone(),
        });
    }
    let missing = match (chromium.is_none(), chromedriver.is_none()) {
        (true, true) => "chromium and chromedriver are",
        (true, false) => "chromium is",
        _ => "chromedriver is",
    };
    if std::env::var("CI").is_ok_and(|ci| ci.eq_ignore_ascii_case("true") || ci == "1") {
        panic!(
            "CI=true but {missing} not on PATH: the browser test cannot be skipped in CI \
             (.ci/run installs the Debian packages chromium and chromium-driver)"
        );
    }
    // Straight to the process's stderr: the test harness captures
    // `eprintln!`, and a skip nobody sees is no warning at all.
    let banner = format!(
        "\n\
         ************************************************************************\n\
         SKIPPED: the browser test (tests/browser) did not run:\n\
         {missing} not on PATH.\n\
         On Debian: apt-get install -y chromium chromium-driver\n\
         (under CI=true this is a failure, not a skip)\n\
         ************************************************************************\n\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
    None
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Where screenshots and the chromedriver log go: `target/browser/`.
pub fn artifacts() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("browser");
    std::fs::create_dir_all(&dir).expect("create target/browser");
    dir
}

/// One request the demo answered.
#[derive(Debug)]
struct Hit {
    pub method: Method,
    pub path: String,
    pub origin: Option<String>,
    /// Whether the request carried the demo's session cookie (never its value).
    pub with_cookie: bool,
    pub status: StatusCode,
}

/// A server on a free loopback port, stopped on drop.
pub struct Server {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds a free loopback port, the only way to know the port before
    /// building an app that is named after it.
    pub async fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port")
    }

    /// Serves `app` on `listener` until stopped.
    pub fn serve(listener: TcpListener, app: Router) -> Server {
        let port = listener.local_addr().expect("a bound listener").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Server {
            port,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops accepting and waits (a little) for the requests in flight.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The browser may keep idle connections open; do not wait on it.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The demo app exactly as `cargo run --example demo` serves it, seen
/// through a middleware that records each request's method, path, `Origin`,
/// whether it carried the session cookie, and the status it got.
pub struct Demo {
    pub server: Server,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Demo {
    pub async fn start(token: &str) -> Demo {
        // Bind first: the demo's tunnels are named after its port.
        let listener = Server::listener().await;
        let port = listener.local_addr().expect("a bound listener").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&hits);
        let app = demo::app(port, &demo::DemoTokens::from(token.to_owned()))
            .expect("the demo's configuration")
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                let log = Arc::clone(&log);
                async move {
                    let method = request.method().clone();
                    let path = request.uri().path().to_owned();
                    let origin = request
                        .headers()
                        .get("origin")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let cookie_prefix = format!("{}=", demo::COOKIE_NAME);
                    let with_cookie = request
                        .headers()
                        .get_all("cookie")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(|v| v.split(';'))
                        .any(|pair| pair.trim().starts_with(&cookie_prefix));
                    let response = next.run(request).await;
                    log.lock().unwrap().push(Hit {
                        method,
                        path,
                        origin,
                        with_cookie,
                        status: response.status(),
                    });
                    response
                }
            }));
        let server = Server::serve(listener, app);
        Demo { server, hits }
    }

    pub fn origin(&self) -> String {
        self.server.origin()
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// The requests to `path` sent from `origin` and answered so far, as
    /// (method, carried the session cookie, status), sorted.
    pub fn hits_from(&self, path: &str, origin: &str) -> Vec<(String, bool, StatusCode)> {
        let hits = self.hits.lock().unwrap();
        let mut seen: Vec<_> = hits
            .iter()
            .filter(|hit| hit.path == path && hit.origin.as_deref() == Some(origin))
            .map(|hit| (hit.method.to_string(), hit.with_cookie, hit.status))
            .collect();
        seen.sort();
        seen
    }
}

/// The hostile page, on another loopback port than the demo.
pub async fn hostile() -> Server {
    let app = Router::new().route("/", get(|| async { Html(HOSTILE_PAGE) }));
    Server::serve(Server::listener().await, app)
}

/// chromedriver on a port of its choosing, killed on drop.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Driver {
    pub fn start(program: &Path, log: &Path) -> Driver {
        let mut child = Command::new(program)
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        match listening_port(stdout) {
            Some(port) => Driver { child, port },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromedriver did not report its port within {DRIVER_START:?}; see {}",
                    log.display()
                );
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Asks chromedriver to shut down (it then ends any browser it started
    /// and reaps it), and waits briefly for it to exit; drop kills it if it
    /// does not.
    pub async fn stop(mut self) {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        if let Ok(uri) = format!("{}/shutdown", self.url()).parse() {
            let _ = tokio::time::timeout(Duration::from_secs(5), client.get(uri)).await;
        }
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Reads chromedriver's stdout until it says which port it took
/// ("... started successfully on port 41234."), then keeps draining it on
/// the same thread so the pipe never fills.
fn listening_port(stdout: ChildStdout) -> Option<u16> {
    let (found, port) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("successfully on port ").nth(1) {
                let number = rest.trim_end_matches('.').trim();
                if let (Some(found), Ok(port)) = (found.take(), number.parse::<u16>()) {
                    let _ = found.send(port);
                }
            }
        }
    });
    port.recv_timeout(DRIVER_START).ok()
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh, empty profile directory under `target/tmp`, removed on drop.
pub struct Profile(PathBuf);

impl Profile {
    pub fn new() -> Profile {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chromium-profile-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the profile directory");
        Profile(dir)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens a WebDriver session: headless Chromium with `profile`.
pub async fn browser(driver: &Driver, chromium: &Path, profile: &Profile) -> Client {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.0.display()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "binary": chromium, "args": args }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"))
}
