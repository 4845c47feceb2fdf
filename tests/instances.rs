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

mod demo_process;
mod oidc_provider;
mod redis_server;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use demo_process::{DemoProcess, Exchange, demo_binary, exchange};
use oidc_provider::{Browser, CLIENT_ID, Options, Provider};
use redis_server::RedisServer;

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
