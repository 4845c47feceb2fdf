//! A real OpenID provider for the tests: `oidc-provider` on Node
//! (`provider.mjs` beside this file, pinned by `package.json` and
//! `package-lock.json`, installed with `npm ci`), started on a free loopback
//! port and stopped on drop; and a scripted browser that signs in on its
//! login page over HTTP.
//!
//! Without `node` or the installed packages, [`Provider::start`] prints a
//! loud SKIPPED banner and returns `None`; under `CI=true` it panics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The client the provider knows.
pub const CLIENT_ID: &str = "rstream-test";

fn dir() -> PathBuf {
    // The tests are targets of the workspace member `dev/`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc_provider")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci.eq_ignore_ascii_case("true") || ci == "1")
}

fn skip(what: &str, why: &str) {
    if in_ci() {
        panic!(
            "CI=true but {why}: {what} cannot be skipped in CI (.ci/run runs npm ci in tests/oidc_provider)"
        );
    }
    let banner = format!(
        "\n\
         ************************************************************************\n\
         SKIPPED: {what} did not run: {why}.\n\
         Install Node 20+ and run `npm ci` in tests/oidc_provider.\n\
         (under CI=true this is a failure, not a skip)\n\
         ************************************************************************\n\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
}

/// How the provider is started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub client_secret: Option<String>,
    /// The client's ID token signing algorithm (RS256 when `None`).
    pub id_token_alg: Option<String>,
    /// A port to listen on (a restart on the same port is a key rotation).
    pub port: Option<u16>,
    /// The client's back-channel logout URI (with
    /// `backchannel_logout_session_required`).
    pub backchannel_logout_uri: Option<String>,
}

/// A running provider.
pub struct Provider {
    child: Child,
    pub issuer: String,
    pub options: Options,
}

impl Provider {
    /// Starts a provider for the test `what`, or says it is skipped.
    pub fn start(what: &str, options: Options) -> Option<Self> {
        let node = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("node"))
                .find(|c| c.is_file())
        });
        let Some(node) = node else {
            skip(what, "node is not on PATH");
            return None;
        };
        if !dir().join("node_modules/oidc-provider").is_dir() {
            skip(what, "tests/oidc_provider/node_modules is missing (npm ci)");
            return None;
        }
        Some(Self::spawn(&node, options))
    }

    fn spawn(node: &Path, options: Options) -> Self {
        let mut child = Command::new(node)
            .arg("provider.mjs")
            .current_dir(dir())
            .env("CLIENT_ID", CLIENT_ID)
            .env(
                "CLIENT_SECRET",
                options.client_secret.clone().unwrap_or_default(),
            )
            .env("REDIRECT_URIS", options.redirect_uris.join(","))
            .env(
                "POST_LOGOUT_REDIRECT_URIS",
                options.post_logout_redirect_uris.join(","),
            )
            .env(
                "ID_TOKEN_ALG",
                options.id_token_alg.clone().unwrap_or_default(),
            )
            .env("PORT", options.port.unwrap_or(0).to_string())
            .env(
                "BACKCHANNEL_LOGOUT_URI",
                options.backchannel_logout_uri.clone().unwrap_or_default(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining: the provider must never write to a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the provider starts within 30 s");
        let issuer = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected provider output {line:?}"))
            .to_owned();
        Self {
            child,
            issuer,
            options,
        }
    }

    pub fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops this provider and starts another on the same port: same
    /// issuer, a new signing key, no memory of earlier sign-ins.
    pub fn restart(mut self) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut options = self.options.clone();
        options.port = Some(self.port());
        let node = which_node();
        // The port may take a moment to be free again.
        std::thread::sleep(Duration::from_millis(50));
        Self::spawn(&node, options)
    }
}

fn which_node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|d| d.join("node"))
        .find(|c| c.is_file())
        .unwrap()
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scripted browser at the provider: keeps the provider's cookies and
/// follows its redirects until one leaves the provider.
pub struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
    cookies: Vec<(String, String)>,
    issuer: String,
}

/// A response read whole.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new(issuer: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            cookies: Vec::new(),
            issuer: issuer.to_owned(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.issuer)
        } else {
            url.to_owned()
        }
    }

    pub async fn request(&mut self, method: &str, url: &str, form: Option<&str>) -> Page {
        let url = self.absolute(url);
        let mut request = Request::builder().method(method).uri(&url);
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                Bytes::from(form.to_owned())
            }
            None => Bytes::new(),
        };
        let response: Response<_> = self
            .client
            .request(request.body(Full::new(body)).unwrap())
            .await
            .expect("the provider answers");
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Follows redirects from `url` while they stay at the provider; the
    /// last page (a redirect elsewhere, or a page of the provider).
    pub async fn follow(&mut self, url: &str) -> (String, Page) {
        let mut url = self.absolute(url);
        for _ in 0..10 {
            let page = self.request("GET", &url, None).await;
            match &page.location {
                Some(next) if (300..400).contains(&page.status) => {
                    let next = self.absolute(next);
                    if !next.starts_with(&self.issuer) {
                        return (url, page);
                    }
                    url = next;
                }
                _ => return (url, page),
            }
        }
        panic!("too many redirects at the provider");
    }

    /// Signs out at the provider, as the user does on its own sign-out page
    /// (RP-initiated logout without a hint, confirmed): the provider ends
    /// its session and tells the clients with a back-channel logout URI.
    /// The status of the confirmation's answer.
    pub async fn sign_out_at_provider(&mut self) -> u16 {
        let page = self.request("GET", "/session/end", None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let attribute = |name: &str| {
            let at = page.body.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            page.body[at..].split('"').next().unwrap().to_owned()
        };
        let action = attribute("action");
        let xsrf = page
            .body
            .split("name=\"xsrf\"")
            .nth(1)
            .and_then(|rest| rest.split("value=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("the xsrf field")
            .to_owned();
        let form = format!("xsrf={xsrf}&logout=yes");
        let page = self.request("POST", &action, Some(&form)).await;
        page.status
    }

    /// Goes to the authorization URL, signs in as `login` on the login
    /// page (or cancels with `action = "cancel"`) when the provider shows
    /// it, and returns where the provider sends the browser back to (the
    /// app's callback URL). A browser already signed in at the provider
    /// goes straight back.
    pub async fn sign_in(&mut self, authorize: &str, login: &str, action: &str) -> String {
        let (at, page) = self.follow(authorize).await;
        if page.status != 200 {
            let back = page.location.expect("a redirect back to the app");
            return self.absolute(&back);
        }
        assert!(page.body.contains("id=\"login\""), "{}", page.body);
        let form = format!("login={login}&action={action}");
        let mut page = self.request("POST", &at, Some(&form)).await;
        loop {
            let next = page.location.clone().expect("a redirect after login");
            let next = self.absolute(&next);
            if !next.starts_with(&self.issuer) {
                return next;
            }
            page = self.request("GET", &next, None).await;
        }
    }
}
