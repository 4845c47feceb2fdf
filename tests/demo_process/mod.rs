//! The demo binary as a process (`cargo run --example demo`, as built by
//! `cargo test --all-features` beside the tests), killed on drop, and plain
//! HTTP/1.1 exchanges with it.
#![allow(dead_code)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long one exchange may take.
pub const BOUND: Duration = Duration::from_millis(5000);

/// The demo binary that `cargo test` built beside this test
/// (`target/<profile>/examples/demo`), if any.
pub fn demo_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test>-<hash>
    let profile = exe.parent()?.parent()?;
    let demo = profile
        .join("examples")
        .join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    demo.is_file().then_some(demo)
}

/// A demo process, killed on drop.
pub struct DemoProcess {
    child: Child,
    pub port: u16,
    /// The banner, up to the line that names the session store.
    pub lines: Vec<String>,
}

impl DemoProcess {
    /// Starts the demo binary with these environment variables (besides a
    /// free port and a fixed token; `REDIS_URL` and the `DEMO_OIDC_…` and
    /// `DEMO_PUBLIC_URL` variables of the test's own environment are not
    /// passed on) and reads its banner up to the line that names the session
    /// store.
    pub fn start(binary: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        command
            .env("DEMO_ADDR", "127.0.0.1:0")
            .env("DEMO_TOKEN", "demo-binary-token")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for name in [
            "REDIS_URL",
            "DEMO_OIDC_ISSUER",
            "DEMO_OIDC_CLIENT_ID",
            "DEMO_OIDC_CLIENT_SECRET",
            "DEMO_OIDC_FLOW_KEY",
            "DEMO_PUBLIC_URL",
        ] {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the demo starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("the demo's stdout");
            let done = line.starts_with("session store: ");
            lines.push(line);
            if done {
                break;
            }
        }
        let port = lines
            .first()
            .and_then(|l| l.strip_prefix("listening on http://127.0.0.1:"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the demo at {} printed no address ({lines:?}): it must be built with the \
                     features the test needs, as `cargo test --all-features` builds the examples",
                    binary.display()
                )
            });
        DemoProcess { child, port, lines }
    }

    /// One exchange with the demo, `Host` its own address: status,
    /// `Set-Cookie` (first pair) and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let host = format!("127.0.0.1:{}", self.port);
        let answer = exchange(self.port, &host, method, path, cookie).await;
        let set_cookie = answer
            .set_cookies
            .first()
            .map(|v| v.split(';').next().unwrap().to_owned());
        (answer.status, set_cookie, answer.body)
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer read whole.
pub struct Exchange {
    pub status: u16,
    pub location: Option<String>,
    /// Every `Set-Cookie` value, whole.
    pub set_cookies: Vec<String>,
    pub body: String,
}

/// One HTTP/1.1 exchange on a fresh connection to `port` on loopback, with
/// `Host: host`, without a body.
pub async fn exchange(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
) -> Exchange {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n"));
    exchange_with(
        port,
        host,
        method,
        path,
        cookie.as_deref().unwrap_or(""),
        "",
    )
    .await
}

/// A `POST` of `form` (`application/x-www-form-urlencoded`) to `port`, with
/// `Host: host`.
pub async fn post_form(port: u16, host: &str, path: &str, form: &str) -> Exchange {
    let fields = "Content-Type: application/x-www-form-urlencoded\r\n";
    exchange_with(port, host, "POST", path, fields, form).await
}

/// One HTTP/1.1 exchange: `fields` are header lines, each ending in CRLF.
async fn exchange_with(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    fields: &str,
    body: &str,
) -> Exchange {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n{fields}\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(BOUND, stream.read_to_string(&mut response))
        .await
        .expect("the server answers in time")
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let header = |line: &str, name: &str| {
        line.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    Exchange {
        status,
        location: head.lines().find_map(|l| header(l, "location")),
        set_cookies: head
            .lines()
            .filter_map(|l| header(l, "set-cookie"))
            .collect(),
        body: body.to_owned(),
    }
}
