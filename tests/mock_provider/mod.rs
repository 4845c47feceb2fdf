//! A second OpenID provider for the tests, independent of the first
//! (`tests/oidc_provider`): `oauth2-mock-server` on Node (`provider.mjs`
//! beside this file, pinned by `package.json` and `package-lock.json`,
//! installed with `npm ci`), signing with one algorithm, started on a free
//! loopback port and stopped on drop. Its authorization endpoint signs its
//! one user (`sub` "johndoe") in at once: the browser goes straight back.
//!
//! Without `node` or the installed packages, [`MockProvider::start`] prints
//! a loud SKIPPED banner and returns `None`; under `CI=true` it panics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The query parameter that, added to an authorization URL, makes the
/// provider name another key in its tokens' `kid` than the one that signed
/// them (see `provider.mjs`).
pub const ID_TOKEN_KID: &str = "id_token_kid";

fn dir() -> PathBuf {
    // The tests are targets of the workspace member `dev/`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mock_provider")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci.eq_ignore_ascii_case("true") || ci == "1")
}

fn skip(what: &str, why: &str) {
    if in_ci() {
        panic!(
            "CI=true but {why}: {what} cannot be skipped in CI (.ci/run runs npm ci in tests/mock_provider)"
        );
    }
    let banner = format!(
        "\n\
         ************************************************************************\n\
         SKIPPED: {what} did not run: {why}.\n\
         Install Node 20+ and run `npm ci` in tests/mock_provider.\n\
         (under CI=true this is a failure, not a skip)\n\
         ************************************************************************\n\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
}

/// A running provider.
pub struct MockProvider {
    child: Child,
    pub issuer: String,
}

impl MockProvider {
    /// Starts a provider signing with `alg` for the test `what`, or says
    /// it is skipped.
    pub fn start(what: &str, alg: &str) -> Option<Self> {
        let node = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("node"))
                .find(|c| c.is_file())
        });
        let Some(node) = node else {
            skip(what, "node is not on PATH");
            return None;
        };
        if !dir().join("node_modules/oauth2-mock-server").is_dir() {
            skip(what, "tests/mock_provider/node_modules is missing (npm ci)");
            return None;
        }
        let mut child = Command::new(node)
            .arg("provider.mjs")
            .current_dir(dir())
            .env("ALG", alg)
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining: the provider must never write to a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        // Its errors (a refused ALG, a failed start) go to the test's output.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut BufReader::new(stderr), &mut std::io::stderr());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the provider starts within 30 s");
        let issuer = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected provider output {line:?}"))
            .to_owned();
        Some(Self { child, issuer })
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
