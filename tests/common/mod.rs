//! Shared fixtures for the outside-in tests: a recording inner service, the
//! layer configurations the tests use, and backends that can be made to fail.
#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use rstream_well_known::{
    MemoryStore, Session, SessionId, SessionStore, StaticTokenVerifier, TokenContext, TokenSource,
    TokenVerdict, TokenVerifier, Tunnel, User, WellKnownLayer,
};
use tower::{Layer, Service, ServiceExt};

pub const HOST: &str = "app.example.com";
pub const ORIGIN: &str = "https://app.example.com";
pub const TOKEN: &str = "valid-token.0123";
pub const SESSION: &str = "/.well-known/rstream/session";
pub const LOGOUT: &str = "/.well-known/rstream/logout";
/// The default session cookie's name (the cookie is `Secure`, `Path=/`, with
/// no `Domain`, so the name takes the `__Host-` prefix).
pub const COOKIE_NAME: &str = "__Host-rstream_session";

pub fn ada() -> User {
    User::new("user-id")
        .with_name("Ada Lovelace")
        .with_email("ada@example.com")
}

pub fn tunnel() -> Tunnel {
    Tunnel::new(HOST, "workspace-id", "project-id").unwrap()
}

/// What the inner service saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An inner service that records every request and answers 200 "inner".
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("inner service was called")
    }
}

impl<B> Service<Request<B>> for Recorder
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: fmt::Debug,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let seen = Arc::clone(&self.seen);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            seen.lock().unwrap().push(Seen {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            });
            let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
            response
                .headers_mut()
                .insert("x-inner", "1".parse().unwrap());
            Ok(response)
        })
    }
}

/// A response, collected.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn authenticated_as(&self) -> Option<String> {
        let json = self.json();
        if json["auth"]["authenticated"] == true {
            Some(json["auth"]["method"].as_str().unwrap().to_owned())
        } else {
            None
        }
    }

    /// Everything the client received, as text, to look for leaked secrets.
    pub fn everything(&self) -> String {
        let mut all = String::new();
        for (name, value) in &self.headers {
            all.push_str(name.as_str());
            all.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        all.push_str(&self.text());
        all
    }
}

/// Sends `request` through `layer` in front of `recorder`.
pub async fn send<L, B>(layer: &L, recorder: &Recorder, request: Request<B>) -> Answer
where
    L: Layer<Recorder>,
    L::Service:
        Service<Request<B>, Response = Response<rstream_well_known::ResponseBody<Full<Bytes>>>>,
    <L::Service as Service<Request<B>>>::Error: fmt::Debug,
{
    let response = layer
        .layer(recorder.clone())
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A request builder for `HOST`.
pub fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
}

pub fn get(path: &str) -> http::request::Builder {
    request("GET", path)
}

pub fn empty() -> Full<Bytes> {
    Full::default()
}

/// The spec's browser logout call.
pub fn logout_request() -> http::request::Builder {
    request("POST", LOGOUT)
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
}

pub fn verifier() -> StaticTokenVerifier {
    StaticTokenVerifier::new().with_token(TOKEN, ada())
}

/// Token auth and rstream Auth on one tunnel, with `store`.
pub fn layer_with<St: SessionStore>(store: St) -> WellKnownLayer<StaticTokenVerifier, St> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .with_session_store(store)
        .build()
        .unwrap()
}

pub fn layer() -> WellKnownLayer {
    layer_with(MemoryStore::new())
}

/// Signs Ada in and returns the `Cookie` header value carrying her session.
pub async fn sign_in<V, St: SessionStore>(layer: &WellKnownLayer<V, St>, user: User) -> String
where
    St::Error: fmt::Debug,
{
    let signed_in = layer.session_manager().sign_in(user).await.unwrap();
    let set_cookie = signed_in.set_cookie().to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The value part of a `name=value` cookie pair.
pub fn cookie_value(pair: &str) -> &str {
    pair.split_once('=').unwrap().1
}

#[derive(Debug)]
pub struct Down;

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("backend down")
    }
}

impl std::error::Error for Down {}

/// A memory store whose loads and revocations can be made to fail.
#[derive(Clone, Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub fail_load: Arc<AtomicBool>,
    pub fail_revoke: Arc<AtomicBool>,
}

impl SessionStore for FlakyStore {
    type Error = Down;

    async fn create(&self, session: Session) -> Result<SessionId, Down> {
        self.inner.create(session).await.map_err(|_| Down)
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Session>, Down> {
        if self.fail_load.load(Ordering::SeqCst) {
            return Err(Down);
        }
        self.inner.load(id).await.map_err(|_| Down)
    }

    async fn touch(&self, id: &SessionId, at: SystemTime) -> Result<(), Down> {
        self.inner.touch(id, at).await.map_err(|_| Down)
    }

    async fn revoke(&self, id: &SessionId) -> Result<(), Down> {
        if self.fail_revoke.load(Ordering::SeqCst) {
            return Err(Down);
        }
        self.inner.revoke(id).await.map_err(|_| Down)
    }
}

/// What a verifier was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Asked {
    pub token: String,
    pub host: String,
    pub method: Method,
    pub path: String,
    pub source: TokenSource,
}

/// A verifier that records its calls, accepts `TOKEN`, and can be made to fail.
#[derive(Clone, Default)]
pub struct RecordingVerifier {
    pub asked: Arc<Mutex<Vec<Asked>>>,
    pub fail: Arc<AtomicBool>,
}

impl TokenVerifier for RecordingVerifier {
    type Error = Down;

    async fn verify(&self, token: &str, cx: TokenContext<'_>) -> Result<TokenVerdict, Down> {
        self.asked.lock().unwrap().push(Asked {
            token: token.to_owned(),
            host: cx.tunnel().host().to_owned(),
            method: cx.method().clone(),
            path: cx.path().to_owned(),
            source: cx.source(),
        });
        if self.fail.load(Ordering::SeqCst) {
            return Err(Down);
        }
        Ok(if token == TOKEN {
            TokenVerdict::Accepted(ada())
        } else {
            TokenVerdict::Refused
        })
    }
}

/// What a [`Faulty`] store operation or a [`FaultyVerifier`] does when called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Call the wrapped backend.
    #[default]
    Pass,
    /// Return [`Injected`] without calling the wrapped backend.
    Error,
    /// Wait this long, then call the wrapped backend.
    Latency(Duration),
    /// Never answer.
    Never,
    /// Panic while the returned future is polled.
    Panic,
    /// Panic in the call itself, before any future is returned.
    PanicEagerly,
}

/// The error an injected [`Fault::Error`] returns. Its text is fixed and
/// carries no secret.
#[derive(Debug)]
pub enum FaultError<E> {
    /// The fault injected by the test.
    Injected,
    /// The wrapped backend's own error.
    Inner(E),
}

/// The `Display` text of [`FaultError::Injected`].
pub const INJECTED: &str = "injected backend fault";

impl<E: fmt::Display> fmt::Display for FaultError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::Injected => f.write_str(INJECTED),
            FaultError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for FaultError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FaultError::Injected => None,
            FaultError::Inner(e) => Some(e),
        }
    }
}

/// The payload of an injected panic: if the layer ever logged or answered
/// with a panic's payload, this text would show up.
pub const PANIC_PAYLOAD: &str = "injected panic payload";

/// One operation's fault and call count.
#[derive(Debug, Default)]
struct Switch {
    fault: Mutex<Fault>,
    calls: AtomicUsize,
}

impl Switch {
    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts a call and returns its fault; panics right here for
    /// [`Fault::PanicEagerly`].
    fn enter(&self) -> Fault {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = *self.fault.lock().unwrap();
        if fault == Fault::PanicEagerly {
            panic!("{PANIC_PAYLOAD} (before returning a future)");
        }
        fault
    }

    /// A call answered at once (`*_now`): `None` for the faults that need
    /// waiting (latency, never), left to the awaited call and not counted;
    /// otherwise counted, `Err` for an error, and a panic right here for
    /// either panic.
    fn enter_at_once<E>(&self) -> Option<Result<(), FaultError<E>>> {
        if matches!(
            *self.fault.lock().unwrap(),
            Fault::Latency(_) | Fault::Never
        ) {
            return None;
        }
        match self.enter() {
            Fault::Error => Some(Err(FaultError::Injected)),
            Fault::Panic => panic!("{PANIC_PAYLOAD} (answering at once)"),
            _ => Some(Ok(())),
        }
    }
}

/// Plays `fault` out inside a backend's future: `Ok` means "now call the
/// wrapped backend".
async fn play<E>(fault: Fault) -> Result<(), FaultError<E>> {
    match fault {
        Fault::Pass => Ok(()),
        Fault::Error => Err(FaultError::Injected),
        Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            Ok(())
        }
        Fault::Never => std::future::pending().await,
        Fault::Panic => panic!("{PANIC_PAYLOAD} (while polled)"),
        Fault::PanicEagerly => unreachable!("panicked in Switch::enter"),
    }
}

/// A session store operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Create,
    Load,
    Touch,
    Revoke,
}

#[derive(Debug, Default)]
struct StoreSwitches {
    create: Switch,
    load: Switch,
    touch: Switch,
    revoke: Switch,
}

impl StoreSwitches {
    fn get(&self, op: StoreOp) -> &Switch {
        match op {
            StoreOp::Create => &self.create,
            StoreOp::Load => &self.load,
            StoreOp::Touch => &self.touch,
            StoreOp::Revoke => &self.revoke,
        }
    }
}

/// A session store whose operations can each be made to fail, stall, hang or
/// panic. Clones share the wrapped store, the faults and the call counts.
pub struct Faulty<S> {
    inner: Arc<S>,
    switches: Arc<StoreSwitches>,
    /// Whether `load_now` answers (playing the fault at once), so that the
    /// layer's path without futures is the one tested.
    at_once: bool,
}

impl<S> Clone for Faulty<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            switches: Arc::clone(&self.switches),
            at_once: self.at_once,
        }
    }
}

impl<S: SessionStore> Faulty<S> {
    /// Wraps `inner`, every operation passing through.
    pub fn new(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            switches: Arc::default(),
            at_once: false,
        }
    }

    /// Also answers `load_now` (the wrapped store's answer at once, or the
    /// fault played at once), as an in-memory store does.
    pub fn answering_at_once(mut self) -> Self {
        self.at_once = true;
        self
    }

    /// Makes `op` behave as `fault` from now on.
    pub fn set(&self, op: StoreOp, fault: Fault) {
        self.switches.get(op).set(fault);
    }

    /// Every operation passes through again.
    pub fn heal(&self) {
        for op in [
            StoreOp::Create,
            StoreOp::Load,
            StoreOp::Touch,
            StoreOp::Revoke,
        ] {
            self.set(op, Fault::Pass);
        }
    }

    /// How many times `op` was called (a call that panicked included).
    pub fn calls(&self, op: StoreOp) -> usize {
        self.switches.get(op).calls()
    }

    /// The wrapped store, without faults.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: SessionStore> SessionStore for Faulty<S> {
    type Error = FaultError<S::Error>;

    fn create(
        &self,
        session: Session,
    ) -> impl Future<Output = Result<SessionId, Self::Error>> + Send {
        let fault = self.switches.create.enter();
        async move {
            play(fault).await?;
            self.inner.create(session).await.map_err(FaultError::Inner)
        }
    }

    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, Self::Error>> + Send {
        let fault = self.switches.load.enter();
        async move {
            play(fault).await?;
            self.inner.load(id).await.map_err(FaultError::Inner)
        }
    }

    fn touch(
        &self,
        id: &SessionId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let fault = self.switches.touch.enter();
        async move {
            play(fault).await?;
            self.inner.touch(id, at).await.map_err(FaultError::Inner)
        }
    }

    fn revoke(&self, id: &SessionId) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let fault = self.switches.revoke.enter();
        async move {
            play(fault).await?;
            self.inner.revoke(id).await.map_err(FaultError::Inner)
        }
    }

    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, Self::Error>> {
        if !self.at_once {
            return None;
        }
        if let Err(injected) = self.switches.load.enter_at_once()? {
            return Some(Err(injected));
        }
        self.inner
            .load_now(id)
            .map(|answer| answer.map_err(FaultError::Inner))
    }
}

/// A token verifier that can be made to fail, stall, hang or panic. Clones
/// share the wrapped verifier, the fault and the call count.
pub struct FaultyVerifier<V> {
    inner: Arc<V>,
    switch: Arc<Switch>,
    /// Whether `verify_now` answers, as for [`Faulty`].
    at_once: bool,
}

impl<V> Clone for FaultyVerifier<V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            switch: Arc::clone(&self.switch),
            at_once: self.at_once,
        }
    }
}

impl<V: TokenVerifier> FaultyVerifier<V> {
    /// Wraps `inner`, passing through.
    pub fn new(inner: V) -> Self {
        Self {
            inner: Arc::new(inner),
            switch: Arc::default(),
            at_once: false,
        }
    }

    /// Also answers `verify_now`, as for [`Faulty::answering_at_once`].
    pub fn answering_at_once(mut self) -> Self {
        self.at_once = true;
        self
    }

    /// Makes `verify` behave as `fault` from now on.
    pub fn set(&self, fault: Fault) {
        self.switch.set(fault);
    }

    /// How many times `verify` was called (a call that panicked included).
    pub fn calls(&self) -> usize {
        self.switch.calls()
    }
}

impl<V: TokenVerifier> TokenVerifier for FaultyVerifier<V> {
    type Error = FaultError<V::Error>;

    fn verify(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> impl Future<Output = Result<TokenVerdict, Self::Error>> + Send {
        let fault = self.switch.enter();
        async move {
            play(fault).await?;
            self.inner
                .verify(token, cx)
                .await
                .map_err(FaultError::Inner)
        }
    }

    fn verify_now(
        &self,
        token: &str,
        cx: TokenContext<'_>,
    ) -> Option<Result<TokenVerdict, Self::Error>> {
        if !self.at_once {
            return None;
        }
        if let Err(injected) = self.switch.enter_at_once()? {
            return Some(Err(injected));
        }
        self.inner
            .verify_now(token, cx)
            .map(|answer| answer.map_err(FaultError::Inner))
    }
}

/// Collects everything a tracing subscriber writes, to look for secrets in
/// the log.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// A fmt subscriber at `TRACE` writing into a fresh `Captured`, set as
    /// this thread's default while the guard lives.
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
