//! `JwksSource` (feature `jwks`) against a JWKS server started by each test
//! on a free loopback port: fetching, rotation, failures that keep the last
//! good set, the cooldown, time-outs, and the background task's lifetime.
#![cfg(feature = "jwks")]

use crate::common;
use crate::jwt_mint;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jwt_mint::*;
use rstream_well_known::http_client::{HttpClient, HttpFuture, HyperClient};
use rstream_well_known::jwt::{JwksError, JwksSource, JwtVerifier};
use rstream_well_known::{MemoryStore, WellKnownLayer};
use serde_json::Value;
use tokio::net::TcpListener;

/// What the server answers.
#[derive(Clone)]
struct Reply {
    status: StatusCode,
    body: String,
    delay: Duration,
}

/// A JWKS server on 127.0.0.1, stopped when dropped.
struct Server {
    url: String,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one connection's requests with `reply`, counting them.
async fn serve_connection<I>(io: I, state: Arc<Mutex<Reply>>, counter: Arc<AtomicUsize>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |_request| {
        let (state, counter) = (Arc::clone(&state), Arc::clone(&counter));
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = state.lock().unwrap().clone();
            tokio::time::sleep(reply.delay).await;
            let mut response = Response::new(Full::new(Bytes::from(reply.body)));
            *response.status_mut() = reply.status;
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The TLS configuration of the test server: a certificate for `localhost`
/// and `127.0.0.1` from the test CA in `tests/fixtures`.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificate =
        CertificateDer::from_pem_slice(include_bytes!("fixtures/tls_localhost.pem")).unwrap();
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/tls_localhost_key.pem")).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl Server {
    async fn start(jwks: &[Value]) -> Self {
        Self::start_with(jwks, None).await
    }

    async fn start_tls(jwks: &[Value]) -> Self {
        Self::start_with(jwks, Some(tls_acceptor())).await
    }

    async fn start_with(jwks: &[Value], tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/jwks.json", listener.local_addr().unwrap());
        let reply = Arc::new(Mutex::new(Reply {
            status: StatusCode::OK,
            body: jwk_set(jwks),
            delay: Duration::ZERO,
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (state, counter) = (Arc::clone(&reply), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, counter) = (Arc::clone(&state), Arc::clone(&counter));
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, state, counter).await,
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                serve_connection(stream, state, counter).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            url,
            reply,
            hits,
            task,
        }
    }

    fn serve(&self, jwks: &[Value]) {
        let mut reply = self.reply.lock().unwrap();
        reply.status = StatusCode::OK;
        reply.body = jwk_set(jwks);
        reply.delay = Duration::ZERO;
    }

    fn answer(&self, status: StatusCode, body: &str) {
        let mut reply = self.reply.lock().unwrap();
        reply.status = status;
        reply.body = body.to_owned();
    }

    fn delay(&self, delay: Duration) {
        self.reply.lock().unwrap().delay = delay;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A source for this server: short cooldown and timeout, no background
    /// refresh to speak of unless asked.
    fn source(&self) -> rstream_well_known::jwt::JwksBuilder {
        JwksSource::builder(&self.url)
            .allow_http(true)
            .refresh_interval(Duration::from_secs(3600))
            .cooldown(Duration::from_millis(200))
            .fetch_timeout(Duration::from_millis(500))
    }
}

fn layer_for(verifier: JwtVerifier) -> WellKnownLayer<JwtVerifier, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier)
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap()
}

async fn who(layer: &WellKnownLayer<JwtVerifier, MemoryStore>, token: &str) -> Option<String> {
    let request = get(SESSION)
        .header("authorization", format!("Bearer {token}"))
        .body(empty())
        .unwrap();
    let json = send(layer, &Recorder::default(), request).await.json();
    json["user"]["userId"].as_str().map(str::to_owned)
}

fn ada() -> Option<String> {
    Some("user-ada".to_owned())
}

/// Waits until `done` holds, for at most two seconds.
async fn eventually(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "timed out waiting"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn fetched_keys_verify_and_a_rotated_key_is_picked_up_by_its_kid() {
    let (old, new) = (Signer::es512(1), Signer::es512(2));
    let server = Server::start(&[old.jwk(Some("old"))]).await;
    let source = server.source().build().unwrap();
    source.refresh().await.unwrap();
    let layer = layer_for(JwtVerifier::from_jwks(source.clone()));
    assert_eq!(
        who(&layer, &old.token(Some("old"), &ada_claims())).await,
        ada()
    );

    // The provider rotates: the first token of the new key fetches the set.
    server.serve(&[new.jwk(Some("new"))]);
    tokio::time::sleep(Duration::from_millis(250)).await; // past the cooldown
    let before = server.hits();
    assert_eq!(
        who(&layer, &new.token(Some("new"), &ada_claims())).await,
        ada()
    );
    assert_eq!(server.hits(), before + 1);
    // The old key is gone with the old set.
    assert_eq!(
        who(&layer, &old.token(Some("old"), &ada_claims())).await,
        None
    );
    assert_eq!(source.keys().unwrap().keys()[0].kid(), Some("new"));
}

#[tokio::test]
async fn unknown_kids_fetch_at_most_once_per_cooldown() {
    let signer = Signer::es256(1);
    let server = Server::start(&[signer.jwk(Some("k1"))]).await;
    let source = server.source().build().unwrap();
    source.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let layer = layer_for(JwtVerifier::from_jwks(source));
    let before = server.hits();
    // Twenty made-up kids at once: one fetch, shared.
    let tokens: Vec<String> = (0..20)
        .map(|i| signer.token(Some(&format!("made-up-{i}")), &ada_claims()))
        .collect();
    let answers = futures::future::join_all(tokens.iter().map(|t| who(&layer, t))).await;
    assert!(answers.iter().all(Option::is_none));
    assert_eq!(server.hits(), before + 1);
    // Within the cooldown, more unknown kids fetch nothing; known ones never do.
    assert_eq!(
        who(&layer, &signer.token(Some("made-up"), &ada_claims())).await,
        None
    );
    assert_eq!(
        who(&layer, &signer.token(Some("k1"), &ada_claims())).await,
        ada()
    );
    assert_eq!(server.hits(), before + 1);
}

#[tokio::test]
async fn unknown_kids_while_the_server_is_down_share_one_fetch() {
    let signer = Signer::es256(1);
    let server = Server::start(&[signer.jwk(Some("k1"))]).await;
    let source = server
        .source()
        .cooldown(Duration::from_secs(1))
        .fetch_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    source.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the cooldown
    let layer = layer_for(JwtVerifier::from_jwks(source));
    // The server is down, and slow to say so: longer than the cooldown.
    server.answer(StatusCode::SERVICE_UNAVAILABLE, "down");
    server.delay(Duration::from_millis(1500));
    let before = server.hits();
    let tokens: Vec<String> = (0..8)
        .map(|i| signer.token(Some(&format!("made-up-{i}")), &ada_claims()))
        .collect();
    let answers = futures::future::join_all(tokens.iter().map(|t| who(&layer, t))).await;
    assert!(answers.iter().all(Option::is_none));
    assert_eq!(server.hits(), before + 1, "one fetch for all of them");
    // Within the cooldown after that failure: no fetch, and the last good
    // set still verifies its own tokens.
    assert_eq!(
        who(&layer, &signer.token(Some("made-up"), &ada_claims())).await,
        None
    );
    assert_eq!(
        who(&layer, &signer.token(Some("k1"), &ada_claims())).await,
        ada()
    );
    assert_eq!(server.hits(), before + 1, "a fetch within the cooldown");
}

#[tokio::test]
async fn a_failing_refresh_keeps_the_last_good_set() {
    let signer = Signer::hs256(SECRET);
    let es = Signer::es256(1);
    let server = Server::start(&[es.jwk(Some("k1"))]).await;
    let source = server.source().max_size(4096).build().unwrap();
    source.refresh().await.unwrap();
    let layer = layer_for(JwtVerifier::from_jwks(source.clone()));
    let token = es.token(Some("k1"), &ada_claims());

    // Each failure says what failed and why.
    server.answer(StatusCode::INTERNAL_SERVER_ERROR, "oops");
    let error = source.refresh().await.unwrap_err();
    assert_eq!(error, JwksError::Status(500));
    assert_eq!(
        error.to_string(),
        "the JWKS URL answered 500 Internal Server Error instead of 200 OK"
    );
    assert_eq!(who(&layer, &token).await, ada());

    server.answer(StatusCode::OK, "<html>not a key set</html>");
    let error = source.refresh().await.unwrap_err();
    assert!(matches!(error, JwksError::Invalid(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("the JWKS URL served no usable JWK set: "),
        "{error}"
    );
    assert_eq!(who(&layer, &token).await, ada());

    server.answer(
        StatusCode::OK,
        &format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(5000)),
    );
    let error = source.refresh().await.unwrap_err();
    assert_eq!(error, JwksError::TooLarge);
    assert_eq!(
        error.to_string(),
        "the JWK set document is larger than the size limit"
    );
    assert_eq!(who(&layer, &token).await, ada());

    server.serve(&[es.jwk(Some("k1"))]);
    server.delay(Duration::from_secs(5));
    let start = Instant::now();
    let error = source.refresh().await.unwrap_err();
    assert_eq!(error, JwksError::Timeout);
    assert_eq!(
        error.to_string(),
        "fetching the JWK set got no answer within the fetch timeout"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(who(&layer, &token).await, ada());

    // A published HS256 secret is never trusted.
    server.serve(&[signer.jwk(Some("s"))]);
    source.refresh().await.unwrap();
    assert_eq!(
        who(&layer, &signer.token(Some("s"), &ada_claims())).await,
        None
    );
    // An empty set is a valid answer: every key is revoked.
    assert_eq!(who(&layer, &token).await, None);
}

#[tokio::test]
async fn without_any_set_the_verifier_fails_and_the_layer_falls_back() {
    let signer = Signer::es256(1);
    let server = Server::start(&[]).await;
    server.answer(StatusCode::SERVICE_UNAVAILABLE, "down");
    let source = server.source().build().unwrap();
    assert_eq!(source.refresh().await, Err(JwksError::Status(503)));
    assert!(source.keys().is_none());
    let layer = layer_for(JwtVerifier::from_jwks(source.clone()));
    let cookie = sign_in(&layer, common::ada()).await;
    let token = signer.token(Some("k1"), &ada_claims());

    let (captured, guard) = Captured::install();
    let request = get(SESSION)
        .header("authorization", format!("Bearer {token}"))
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    let log = captured.text();
    assert!(log.contains("no JWT key set is available"), "{log}");
    assert!(!log.contains(&token) && !log.contains(&server.url), "{log}");
    drop(guard);

    // A server that hangs: no request waits much past the fetch timeout
    // (500 ms), whether it makes the fetch or waits for the one in flight.
    server.serve(&[signer.jwk(Some("k1"))]);
    server.delay(Duration::from_secs(10));
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let start = Instant::now();
        assert_eq!(who(&layer, &token).await, None);
        let waited = start.elapsed();
        assert!(waited < Duration::from_millis(1500), "{waited:?}");
    }
    assert!(source.keys().is_none());

    // The provider is back: a token (or the background task) fetches the
    // set once the cooldown allows, and the token is accepted.
    server.delay(Duration::ZERO);
    let start = Instant::now();
    while who(&layer, &token).await.is_none() {
        assert!(start.elapsed() < Duration::from_secs(3), "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_background_task_refreshes_and_stops_with_the_source() {
    let (old, new) = (Signer::eddsa(1), Signer::eddsa(2));
    let server = Server::start(&[old.jwk(Some("old"))]).await;
    let source = server
        .source()
        .refresh_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    // The first fetch happens by itself.
    eventually(|| source.keys().is_some()).await;
    server.serve(&[new.jwk(Some("new"))]);
    eventually(|| source.keys().unwrap().keys()[0].kid() == Some("new")).await;
    let layer = layer_for(JwtVerifier::from_jwks(source.clone()));
    assert_eq!(
        who(&layer, &new.token(Some("new"), &ada_claims())).await,
        ada()
    );

    drop((layer, source));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let after_drop = server.hits();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.hits(), after_drop, "the task kept fetching");
}

#[tokio::test]
async fn urls_are_checked() {
    for url in [
        "http://127.0.0.1:1/jwks.json",
        "ftp://example.com/jwks",
        "/jwks.json",
        "https://",
        "not a url",
    ] {
        let error = JwksSource::builder(url).build().unwrap_err();
        assert_eq!(error, JwksError::InvalidUrl, "{url}");
    }
    assert!(
        JwksSource::builder("https://auth.example.com/jwks.json")
            .build()
            .is_ok()
    );
    assert!(
        JwksSource::builder("http://127.0.0.1:1/jwks.json")
            .allow_http(true)
            .build()
            .is_ok()
    );
}

#[test]
fn building_outside_a_runtime_is_an_error() {
    let error = JwksSource::builder("https://auth.example.com/jwks.json")
        .build()
        .unwrap_err();
    assert_eq!(error, JwksError::NoRuntime);
    assert!(!error.to_string().contains("example.com"));
}

#[tokio::test]
async fn https_with_a_private_ca_given_as_a_root() {
    let signer = Signer::es512(1);
    let server = Server::start_tls(&[signer.jwk(Some("k1"))]).await;
    let ca = include_bytes!("fixtures/tls_ca.pem");
    // The Mozilla roots alone do not trust the test CA: no set.
    let untrusted = JwksSource::builder(&server.url).build().unwrap();
    let error = untrusted.refresh().await.unwrap_err();
    assert!(matches!(error, JwksError::Transport(_)), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("fetching the JWK set failed: client error (Connect)")
            && error.to_string().contains("UnknownIssuer"),
        "{error}"
    );
    // With the CA, on the crate's client: fetched over TLS and used.
    let client = HyperClient::new()
        .unwrap()
        .root_certificates_pem(&ca[..])
        .unwrap();
    let source = JwksSource::builder(&server.url)
        .http_client(client)
        .build()
        .unwrap();
    source.refresh().await.unwrap();
    let layer = layer_for(JwtVerifier::from_jwks(source));
    assert_eq!(
        who(&layer, &signer.token(Some("k1"), &ada_claims())).await,
        ada()
    );
    // Not a certificate: refused, saying so.
    for pem in [
        &b"not a certificate"[..],
        include_bytes!("fixtures/tls_localhost_key.pem"),
    ] {
        let error = HyperClient::new()
            .unwrap()
            .root_certificates_pem(pem)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "no PEM certificate among the root certificates"
        );
    }
}

#[tokio::test]
async fn an_unreachable_url_says_why() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = JwksSource::builder(format!("http://127.0.0.1:{port}/jwks.json"))
        .allow_http(true)
        .build()
        .unwrap();
    let error = source.refresh().await.unwrap_err();
    assert!(matches!(error, JwksError::Transport(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with("fetching the JWK set failed: client error (Connect)")
            && text.contains("Connection refused"),
        "{text}"
    );
}

/// The app's own client: serves one key set from memory, and counts.
struct InMemory {
    jwks: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpClient for InMemory {
    fn send(&self, request: http::Request<Vec<u8>>) -> HttpFuture<'_> {
        self.requests
            .lock()
            .unwrap()
            .push(request.uri().to_string());
        let response = Response::new(self.jwks.clone().into_bytes());
        Box::pin(async move { Ok(response) })
    }
}

#[tokio::test]
async fn the_app_can_bring_its_own_client() {
    let signer = Signer::es256(1);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let client = InMemory {
        jwks: serde_json::json!({ "keys": [signer.jwk(Some("k1"))] }).to_string(),
        requests: Arc::clone(&requests),
    };
    let source = JwksSource::builder("https://idp.example/jwks.json")
        .http_client(client)
        .build()
        .unwrap();
    source.refresh().await.unwrap();
    let layer = layer_for(JwtVerifier::from_jwks(source));
    assert_eq!(
        who(&layer, &signer.token(Some("k1"), &ada_claims())).await,
        ada()
    );
    let requests = requests.lock().unwrap();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|url| url == "https://idp.example/jwks.json")
    );
}
