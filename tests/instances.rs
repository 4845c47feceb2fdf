//! Several instances of one app behind a load balancer: two demo processes
//! (`cargo run --example demo`) with the same `REDIS_URL`,
//! `DEMO_OIDC_FLOW_KEY` and `DEMO_PUBLIC_URL`, behind a round-robin proxy
//! written here, signing in against the real provider (`oidc-provider`, see
//! `tests/oidc_provider`) with sessions in a real `redis-server` (see
//! `tests/redis_server`).
//!
//! Without `node` and the provider's packages, or without `redis-server`,
//! the tests say SKIPPED loudly and pass, except under `CI=true`.
#![cfg(all(feature = "redis", feature = "oidc-hyper"))]

use crate::demo_process;
use crate::oidc_provider;
use crate::redis_server;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use demo_process::{DemoProcess, Exchange, demo_binary, exchange, post_form};
use oidc_provider::{Browser, CLIENT_ID, Options, Provider};
use redis_server::RedisServer;

const SESSION: &str = "/.well-known/rstream/session";
const BACKCHANNEL: &str = "/_rstream/oidc/backchannel-logout";

const FLOW_KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A round-robin HTTP/1.1 proxy on loopback: each request goes to the next
/// backend in turn, as it came (`Host` included), and the answer comes back
/// as it went. Remembers which backend served which path.
struct Proxy {
    port: u16,
    served: Arc<Mutex<Vec<(String, usize)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(listener: TcpListener, backends: Vec<u16>) -> Self {
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(Mutex::new(0usize));
        let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build_http();
        let log = Arc::clone(&served);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (client, backends, next, log) = (
                    client.clone(),
                    backends.clone(),
                    Arc::clone(&next),
                    Arc::clone(&log),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let client = client.clone();
                        let index = {
                            let mut next = next.lock().unwrap();
                            let index = *next % backends.len();
                            *next += 1;
                            index
                        };
                        log.lock()
                            .unwrap()
                            .push((request.uri().path().to_owned(), index));
                        let backend = backends[index];
                        async move {
                            let (mut parts, body) = request.into_parts();
                            let path = parts
                                .uri
                                .path_and_query()
                                .map_or("/", |p| p.as_str())
                                .to_owned();
                            parts.uri =
                                format!("http://127.0.0.1:{backend}{path}").parse().unwrap();
                            let answer = client
                                .request(Request::from_parts(parts, body))
                                .await
                                .map(|r| r.map(|b| b.boxed()))
                                .unwrap_or_else(|_| {
                                    Response::builder()
                                        .status(502)
                                        .body(
                                            Full::new(Bytes::new()).map_err(|e| match e {}).boxed(),
                                        )
                                        .unwrap()
                                });
                            Ok::<_, Infallible>(answer)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { port, served, task }
    }

    /// The backend that served the last request for `path`.
    fn served(&self, path: &str) -> Option<usize> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, i)| *i)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A browser's cookies on the app: `Set-Cookie`s applied as they come.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn apply(&mut self, answer: &Exchange) {
        for set in &answer.set_cookies {
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(k, _)| k != name);
            if !attributes.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Everything the tests here need, or `None` when something is missing
/// (said loudly).
struct Site {
    // Dropped in this order: the proxy, the demos, then the servers.
    proxy: Proxy,
    _demos: [DemoProcess; 2],
    provider: Provider,
    _redis: RedisServer,
    public: String,
}

impl Site {
    async fn start(what: &str) -> Option<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let redis = RedisServer::start(what)?;
        let provider = Provider::start(
            what,
            Options {
                redirect_uris: vec![format!("{public}/_rstream/oidc/callback")],
                post_logout_redirect_uris: vec![format!("{public}/")],
                backchannel_logout_uri: Some(format!("{public}/_rstream/oidc/backchannel-logout")),
                ..Options::default()
            },
        )?;
        let Some(binary) = demo_binary() else {
            assert!(
                !redis_server::in_ci(),
                "the demo binary was not built (cargo test --all-features builds it)"
            );
            redis_server::skip(&format!(
                "{what} (the demo binary was not built: run `cargo test --all-features`)"
            ));
            return None;
        };
        let url = redis.url();
        let env = [
            ("REDIS_URL", url.as_str()),
            ("DEMO_OIDC_ISSUER", provider.issuer.as_str()),
            ("DEMO_OIDC_CLIENT_ID", CLIENT_ID),
            ("DEMO_OIDC_FLOW_KEY", FLOW_KEY),
            ("DEMO_PUBLIC_URL", public.as_str()),
        ];
        let demos = [
            DemoProcess::start(&binary, &env),
            DemoProcess::start(&binary, &env),
        ];
        for demo in &demos {
            assert!(demo.lines[0].starts_with("listening on http://127.0.0.1:"));
            assert!(
                demo.lines.contains(&format!("public url: {public}")),
                "{:?}",
                demo.lines
            );
            assert_eq!(
                demo.lines.last().unwrap(),
                "session store: redis (REDIS_URL)"
            );
        }
        let proxy = Proxy::start(listener, demos.iter().map(|d| d.port).collect()).await;
        Some(Site {
            proxy,
            _demos: demos,
            provider,
            _redis: redis,
            public,
        })
    }

    /// The user the session endpoint of demo `index` reports for `jar`,
    /// asked directly (not through the proxy).
    async fn user_on(&self, index: usize, jar: &Jar) -> Option<String> {
        let host = self.public.trim_start_matches("http://");
        let port = self._demos[index].port;
        let me = exchange(port, host, "GET", SESSION, jar.header().as_deref()).await;
        let json: serde_json::Value = serde_json::from_str(&me.body).unwrap();
        json["user"]["userId"].as_str().map(str::to_owned)
    }

    /// Signs `login` in through the proxy: the browser's cookies after.
    async fn sign_in(&self, browser: &mut Browser, login: &str) -> Jar {
        let mut jar = Jar::default();
        let started = self.get("/_rstream/oidc/start", &mut jar).await;
        assert_eq!(started.status, 303, "{}", started.body);
        let back = browser
            .sign_in(started.location.as_deref().unwrap(), login, "login")
            .await;
        let finished = self
            .get(back.strip_prefix(&self.public).unwrap(), &mut jar)
            .await;
        assert_eq!(finished.status, 303, "{}", finished.body);
        jar
    }

    /// One exchange through the proxy, as the browser holding `jar` (whose
    /// cookies the answer updates).
    async fn get(&self, path: &str, jar: &mut Jar) -> Exchange {
        let host = self.public.trim_start_matches("http://");
        let answer = exchange(self.proxy.port, host, "GET", path, jar.header().as_deref()).await;
        jar.apply(&answer);
        answer
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_started_on_one_instance_finishes_on_the_other() {
    let Some(site) = Site::start("instances: sign-in across instances").await else {
        return;
    };
    let mut jar = Jar::default();
    let mut browser = Browser::new(&site.provider.issuer);

    let started = site
        .get("/_rstream/oidc/start?return_to=%2Fdemo%2Fwhoami", &mut jar)
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let authorize = started.location.clone().unwrap();
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let callback = back
        .strip_prefix(&site.public)
        .expect("back to the public origin");
    let finished = site.get(callback, &mut jar).await;
    assert_eq!(finished.status, 303, "{}", finished.body);
    assert_eq!(finished.location.as_deref(), Some("/demo/whoami"));
    let start_on = site.proxy.served("/_rstream/oidc/start").unwrap();
    let callback_on = site.proxy.served("/_rstream/oidc/callback").unwrap();
    assert_ne!(
        start_on, callback_on,
        "the two ends ran on different instances"
    );

    // Both instances know the user, through the shared store.
    for _ in 0..2 {
        let me = site.get("/.well-known/rstream/session", &mut jar).await;
        let json: serde_json::Value = serde_json::from_str(&me.body).unwrap();
        assert_eq!(json["user"]["userId"], "alice", "{json}");
        assert_eq!(
            json["tunnel"]["host"],
            site.public.trim_start_matches("http://")
        );
    }
    let served: Vec<usize> = site
        .proxy
        .served
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/.well-known/rstream/session")
        .map(|(_, i)| *i)
        .collect();
    assert_eq!(served.len(), 2);
    assert_ne!(served[0], served[1]);

    // Replaying the callback in the same browser is refused: the sign-in
    // was consumed, whichever instance gets the replay.
    let replay = site.get(callback, &mut jar).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("unknown_state"), "{}", replay.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_at_the_provider_ends_the_session_on_both_instances() {
    let Some(site) = Site::start("instances: back-channel logout").await else {
        return;
    };
    let mut browser = Browser::new(&site.provider.issuer);
    let jar = site.sign_in(&mut browser, "alice").await;
    // Another browser of the same user, signed in separately: another
    // provider session, which the logout below does not end.
    let mut other_browser = Browser::new(&site.provider.issuer);
    let other = site.sign_in(&mut other_browser, "alice").await;
    for index in 0..2 {
        assert_eq!(site.user_on(index, &jar).await.as_deref(), Some("alice"));
    }

    let started = std::time::Instant::now();
    let status = browser.sign_out_at_provider().await;
    assert!(status < 400, "the provider's sign-out: {status}");
    // The provider has called the back-channel endpoint (through the proxy,
    // so on one instance); both instances refuse the session within a
    // second.
    loop {
        let ended = [site.user_on(0, &jar).await, site.user_on(1, &jar).await];
        if ended == [None, None] {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "still signed in after a second: {ended:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        site.proxy.served(BACKCHANNEL).is_some(),
        "the provider called the back-channel endpoint"
    );
    // The other provider session stays.
    for index in 0..2 {
        assert_eq!(site.user_on(index, &other).await.as_deref(), Some("alice"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_logout_token_is_refused_and_ends_nothing() {
    let Some(site) = Site::start("instances: forged logout tokens").await else {
        return;
    };
    let mut browser = Browser::new(&site.provider.issuer);
    let jar = site.sign_in(&mut browser, "alice").await;
    let host = site.public.trim_start_matches("http://").to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": site.provider.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "jti": "forged-1",
        "sub": "alice",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    let part =
        |json: &serde_json::Value| Base64UrlUnpadded::encode_string(json.to_string().as_bytes());
    // The provider's own key id, so that the signature itself is checked.
    let jwks = browser.request("GET", "/jwks", None).await;
    let jwks: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    let kid = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kty"] == "RSA")
        .and_then(|key| key["kid"].as_str())
        .unwrap()
        .to_owned();
    let forged = [
        (
            format!(
                "{}.{}.",
                part(&serde_json::json!({"alg": "none"})),
                part(&claims)
            ),
            "unsupported_algorithm",
        ),
        (
            format!(
                "{}.{}.{}",
                part(&serde_json::json!({"alg": "RS256", "kid": kid, "typ": "logout+jwt"})),
                part(&claims),
                Base64UrlUnpadded::encode_string(&[7u8; 256])
            ),
            "invalid_signature",
        ),
        ("not-a-jwt".to_owned(), "invalid_logout_token"),
    ];
    for (token, reason) in forged {
        for demo in 0..2 {
            let port = site._demos[demo].port;
            let form = format!("logout_token={token}");
            let answer = post_form(port, &host, BACKCHANNEL, &form).await;
            assert_eq!(answer.status, 400, "{reason}: {}", answer.body);
            let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(json["error"], reason);
        }
    }
    // No token at all, and a GET.
    let port = site._demos[0].port;
    let answer = post_form(port, &host, BACKCHANNEL, "other=1").await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("missing_logout_token"),
        "{}",
        answer.body
    );
    let get = exchange(port, &host, "GET", BACKCHANNEL, None).await;
    assert_eq!(get.status, 405);
    for index in 0..2 {
        assert_eq!(
            site.user_on(index, &jar).await.as_deref(),
            Some("alice"),
            "nothing ended"
        );
    }
}
