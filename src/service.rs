//! [`WellKnownService`]: the path check that decides between forwarding a
//! request and answering it.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::config::Config;
use crate::endpoint::{self, Answer, Outcome};
use crate::forward::{Gate, Plan, gate, note_not_a_tunnel, plan, strip};
use crate::future::ResponseFuture;
use crate::namespace::{Route, route};
use crate::store::MemoryStore;
use crate::store::SessionStore;
use crate::token::{StaticTokenVerifier, TokenVerifier};

/// The service made by [`WellKnownLayer`](crate::WellKnownLayer).
///
/// A request whose path is not a well-known path, or whose host is not an
/// active tunnel, goes to the inner service untouched (same method, URI,
/// headers, extensions and body). Well-known requests on a tunnel host are
/// answered here and never reach the inner service, and so are well-known
/// requests whose host is missing, repeated, malformed or ambiguous (`400`).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use rstream_well_known::{Tunnel, WellKnownLayer};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
///     .build()?;
/// let service = layer.layer(service_fn(|_: Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("app"))))
/// }));
///
/// // The layer answers its endpoints itself, methods included.
/// let request = Request::delete("/.well-known/rstream/session")
///     .header("host", "app.example.com")
///     .body(Full::default())?;
/// let response = service.clone().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
/// assert_eq!(response.headers()["allow"], "GET, HEAD");
///
/// // Other paths go to the app.
/// let request = Request::get("/orders").header("host", "app.example.com").body(Full::default())?;
/// assert_eq!(service.oneshot(request).await?.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
pub struct WellKnownService<S, V = StaticTokenVerifier, St = MemoryStore> {
    inner: S,
    config: Arc<Config<V, St>>,
}

impl<S, V, St> WellKnownService<S, V, St> {
    pub(crate) fn new(inner: S, config: Arc<Config<V, St>>) -> Self {
        Self { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, V, St> Clone for WellKnownService<S, V, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug, V, St> fmt::Debug for WellKnownService<S, V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WellKnownService")
            .field("inner", &self.inner)
            .field("tunnels", &self.config.tunnels)
            .finish_non_exhaustive()
    }
}

impl<S, V, St, ReqBody, ResBody> Service<Request<ReqBody>> for WellKnownService<S, V, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    V: TokenVerifier,
    St: SessionStore,
{
    type Response = Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    // Always in line where the server calls it: it is only the path check
    // and the forward (the rest is out of line). Left to itself, the
    // compiler keeps it out of line in some builds (one codegen unit),
    // which costs a call and a copy of the future on every request.
    #[inline(always)]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let endpoint = match route(request.uri().path()) {
            Route::Forward if self.config.forwarding.is_none() => {
                return ResponseFuture::forward(self.inner.call(request));
            }
            Route::Forward => return self.forward(request),
            Route::Session => endpoint::Endpoint::Session,
            Route::Logout => endpoint::Endpoint::Logout,
            Route::NotFound => endpoint::Endpoint::NotFound,
        };
        self.well_known(endpoint, request)
    }
}

impl<S, V, St> WellKnownService<S, V, St> {
    /// A request the layer forwards, when identity, enforcement or
    /// stripping is on: resolved, refused or stripped first. Kept out of
    /// line so that the pass-through path stays the path check and the
    /// forward.
    #[inline(never)]
    fn forward<ReqBody, ResBody>(
        &mut self,
        mut request: Request<ReqBody>,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        ReqBody: Send + 'static,
        V: TokenVerifier,
        St: SessionStore,
    {
        let required = match self
            .config
            .forwarding
            .as_ref()
            .map(|forwarding| plan(forwarding, request.uri().path()))
        {
            None => return ResponseFuture::forward(self.inner.call(request)),
            Some(Plan::Pass) => {
                strip(&self.config, &mut request);
                return ResponseFuture::forward(self.inner.call(request));
            }
            Some(Plan::Resolve { required }) => required,
        };
        // The service `poll_ready` made ready goes with a pending
        // resolution; a fresh clone stays behind.
        let inner = &mut self.inner;
        match gate(&self.config, request, required, || {
            let fresh = inner.clone();
            std::mem::replace(inner, fresh)
        }) {
            Gate::Now(request) => ResponseFuture::forward(self.inner.call(request)),
            Gate::Refuse(reply) => ResponseFuture::ready(reply),
            Gate::Later(pending) => ResponseFuture::gate(pending),
        }
    }

    /// A request for a well-known path: answered, or forwarded when its host
    /// is no tunnel. Kept out of line so that `call`, inlined into the
    /// server, is only the path check and the forward.
    #[inline(never)]
    fn well_known<ReqBody, ResBody>(
        &mut self,
        endpoint: endpoint::Endpoint,
        request: Request<ReqBody>,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        ReqBody: Body + Send + 'static,
        ReqBody::Data: Send,
        V: TokenVerifier,
        St: SessionStore,
    {
        match endpoint::answer(&self.config, endpoint, request) {
            Outcome::Answer(Answer::Ready(reply)) => ResponseFuture::ready(reply),
            Outcome::Answer(Answer::Pending(answer)) => ResponseFuture::gate(answer),
            // Not a tunnel host: not the layer's endpoint, an ordinary
            // forwarded request (logged, to notice a missing tunnel).
            Outcome::Forward(request) => {
                note_not_a_tunnel(&request);
                if self.config.forwarding.is_none() {
                    ResponseFuture::forward(self.inner.call(request))
                } else {
                    self.forward(request)
                }
            }
        }
    }
}
