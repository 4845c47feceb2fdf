//! A real `redis-server` for the tests: started on a free loopback port when
//! the program is on `PATH`, stopped (and its directory removed) on drop.
//!
//! Without `redis-server`, [`RedisServer::start`] prints a loud SKIPPED
//! banner straight to the process's stderr (the test harness would swallow
//! `eprintln!`) and returns `None`; under `CI=true` it panics instead, since
//! CI must run these tests. Each test starts its own server, so that one
//! test can stop its server without disturbing another, and a server never
//! outlives its test (the drop runs while a failing test unwinds too).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer `PING` after it is started.
const START: Duration = Duration::from_secs(10);

/// A `redis-server` of one test.
pub struct RedisServer {
    program: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Further `redis-server` arguments.
    args: Vec<String>,
}

/// Whether the environment says this is CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci.eq_ignore_ascii_case("true") || ci == "1")
}

/// `redis-server` on `PATH`, if any.
pub fn program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// Says loudly that `what` did not run (or panics under CI).
pub fn skip(what: &str) {
    if in_ci() {
        panic!(
            "CI=true but redis-server is not on PATH: {what} cannot be skipped in CI \
             (.ci/run installs the Debian package redis-server)"
        );
    }
    let banner = format!(
        "\n\
         ************************************************************************\n\
         SKIPPED: {what} did not run: redis-server is not on PATH.\n\
         On Debian: apt-get install -y redis-server\n\
         (under CI=true this is a failure, not a skip)\n\
         ************************************************************************\n\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
}

impl RedisServer {
    /// Starts a server for the test `what`, or says it is skipped.
    pub fn start(what: &str) -> Option<Self> {
        Self::start_with(what, &[])
    }

    /// Starts a server that keeps every write on disk before answering
    /// (`appendfsync always`), so that what it had survives a kill.
    pub fn start_durable(what: &str) -> Option<Self> {
        Self::start_with(what, &["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// Starts a single-node Redis Cluster holding every slot.
    pub fn start_cluster(what: &str) -> Option<Self> {
        let server = Self::start_with(
            what,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ],
        )?;
        let reply = server.command(&[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"]);
        assert_eq!(reply, b"+OK\r\n", "{}", String::from_utf8_lossy(&reply));
        let deadline = Instant::now() + START;
        loop {
            let info = server.command(&[b"CLUSTER", b"INFO"]);
            if String::from_utf8_lossy(&info).contains("cluster_state:ok") {
                return Some(server);
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a server with further `redis-server` arguments.
    pub fn start_with(what: &str, args: &[&str]) -> Option<Self> {
        let Some(program) = program() else {
            skip(what);
            return None;
        };
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rstream-well-known-redis-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a directory for redis-server");
        // The free port can be taken between asking and starting: try again.
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                program: program.clone(),
                port,
                dir: dir.clone(),
                child: None,
                args: args.iter().map(|a| (*a).to_owned()).collect(),
            };
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on a free port (see {dir:?})");
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL: a crash, not a shutdown) and waits
    /// for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START;
        // The port is free again once the old process is reaped; retry while
        // the kernel still holds it.
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start again on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one command in RESP (arguments as given) on a fresh connection,
    /// and returns the raw reply: for tests that look at Redis behind the
    /// store's back.
    pub fn command(&self, args: &[&[u8]]) -> Vec<u8> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request).unwrap();
        read_reply(&mut stream)
    }

    /// The keys under `pattern` (`KEYS`, fine on a test's small server).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let reply = self.command(&[b"KEYS", pattern.as_bytes()]);
        let text = String::from_utf8(reply).unwrap();
        // An array of bulk strings: every other line after the header that
        // does not start with `$` is a key.
        text.split("\r\n")
            .skip(1)
            .filter(|line| !line.starts_with('$') && !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Starts `redis-server` on `self.port`; false when it did not come up.
    fn spawn(&mut self) -> bool {
        let log = self.dir.join(format!("redis-{}.log", self.port));
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + START;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    // Exited: the port was taken, most likely.
                    self.child = None;
                    return false;
                }
            }
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    /// The directory the server runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// Reads one RESP reply, whole (simple framing: enough for tests).
fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("a reply");
        assert!(n > 0, "redis-server closed the connection");
        reply.extend_from_slice(&buf[..n]);
        if complete(&reply) {
            return reply;
        }
    }
}

/// Whether `reply` holds one complete RESP value.
fn complete(reply: &[u8]) -> bool {
    fn value(data: &[u8]) -> Option<usize> {
        let end = data.windows(2).position(|w| w == b"\r\n")?;
        let header = std::str::from_utf8(&data[1..end]).ok()?;
        let after = end + 2;
        match data.first()? {
            b'+' | b'-' | b':' => Some(after),
            b'$' => {
                let len: i64 = header.parse().ok()?;
                if len < 0 {
                    return Some(after);
                }
                let total = after + len as usize + 2;
                (data.len() >= total).then_some(total)
            }
            b'*' => {
                let count: i64 = header.parse().ok()?;
                let mut at = after;
                for _ in 0..count.max(0) {
                    at += value(&data[at..])?;
                }
                Some(at)
            }
            _ => None,
        }
    }
    value(reply) == Some(reply.len())
}
