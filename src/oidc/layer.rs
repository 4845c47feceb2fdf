//! [`OidcLayer`] and [`OidcService`]: the sign-in endpoints in front of
//! the well-known layer, their routing, and the answer of each.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::http::header::{ALLOW, SET_COOKIE};
use ::http::request::Parts;
use ::http::{HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use openidconnect::core::CoreClient;
use openidconnect::{EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, RedirectUrl};
use tower_layer::Layer;
use tower_service::Service;

use super::backchannel::{self, SeenTokens};
use super::flow::FlowKeys;
use super::provider::Provider;
use super::response::{error_page, error_response};
use super::{DiscoveryError, Failure, HttpClient, OidcConfig, fail, url};
use crate::jwt::JwkSet;
use crate::refresh::Refresher;
use crate::{
    MemoryStore, ResponseBody, ResponseFuture, SessionManager, SessionStore, StaticTokenVerifier,
    TokenVerifier, WellKnownLayer, WellKnownService, is_navigation,
};

/// The client as built from discovery.
pub(super) type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(super) struct Inner<St> {
    pub(super) config: OidcConfig,
    pub(super) issuer: IssuerUrl,
    pub(super) sessions: SessionManager<St>,
    pub(super) http: Arc<dyn HttpClient>,
    pub(super) flow_keys: FlowKeys,
    /// The discovery document, fetched once (a failure is kept for the
    /// key refresh interval).
    pub(super) provider: Refresher<Provider, DiscoveryError>,
    /// The provider's key set, fetched with discovery and again for an
    /// unknown key id (at most once per key refresh interval).
    pub(super) keys: Refresher<JwkSet, DiscoveryError>,
    /// The back-channel logout endpoint, when on.
    pub(super) backchannel: Option<Backchannel>,
}

/// Ends the sessions of a tag through the store (`RevokeAll::revoke_tagged`,
/// for the store type the layer was built with).
pub(super) type RevokeTagged =
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<(), ()>> + Send>> + Send + Sync;

/// What the back-channel logout endpoint needs.
pub(super) struct Backchannel {
    pub(super) revoke: Box<RevokeTagged>,
    pub(super) seen: SeenTokens,
}

/// The sign-in endpoints, with what they share.
pub(super) struct Endpoints<St> {
    pub(super) inner: Arc<Inner<St>>,
}

impl<St> Clone for Endpoints<St> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// OpenID Connect sign-in and the well-known endpoints as one tower layer,
/// made by [`OidcConfig::layer`] (or
/// [`layer_with_backchannel_logout`](OidcConfig::layer_with_backchannel_logout))
/// from the [`WellKnownBuilder`](crate::WellKnownBuilder) of the app: see
/// the [module documentation](crate::oidc).
///
/// The sign-in endpoints are answered in front of the
/// [`WellKnownLayer`], so that they stay reachable where authentication is
/// required, and every other request goes through the well-known layer; its
/// refused browser navigations are sent to the sign-in's start endpoint
/// (unless [`WellKnownBuilder::sign_in_url`](crate::WellKnownBuilder::sign_in_url)
/// names another page). The two cannot be stacked in another order. The
/// responses are the well-known layer's: one [`ResponseBody`], one
/// [`ResponseFuture`].
///
/// Handlers sign users in and out with its [`session_manager`](Self::session_manager).
#[must_use]
pub struct OidcLayer<V = StaticTokenVerifier, St: SessionStore = MemoryStore> {
    well_known: WellKnownLayer<V, St>,
    sessions: SessionManager<St>,
    endpoints: Endpoints<St>,
}

impl<V, St: SessionStore> Clone for OidcLayer<V, St> {
    fn clone(&self) -> Self {
        Self {
            well_known: self.well_known.clone(),
            sessions: self.sessions.clone(),
            endpoints: self.endpoints.clone(),
        }
    }
}

impl<V, St: SessionStore> fmt::Debug for OidcLayer<V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcLayer")
            .field("config", &self.endpoints.inner.config)
            .field("well_known", &self.well_known)
            .finish_non_exhaustive()
    }
}

impl<V, St: SessionStore> OidcLayer<V, St> {
    pub(super) fn new(
        well_known: WellKnownLayer<V, St>,
        sessions: SessionManager<St>,
        inner: Inner<St>,
    ) -> Self {
        Self {
            well_known,
            sessions,
            endpoints: Endpoints {
                inner: Arc::new(inner),
            },
        }
    }

    /// Signs users in and out with the layer's store and cookie, for the
    /// app's own handlers (the sign-in endpoints use the same).
    pub fn session_manager(&self) -> SessionManager<St> {
        self.sessions.clone()
    }

    /// The well-known layer inside: to [resolve](WellKnownLayer::resolve)
    /// callers where the layer is not in front of a handler.
    pub fn well_known(&self) -> &WellKnownLayer<V, St> {
        &self.well_known
    }
}

impl<V, St: SessionStore> OidcLayer<V, St> {
    /// Fetches the provider's discovery document and keys now, instead of
    /// on the first sign-in: to fail fast at startup.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] when the provider cannot be reached or its
    /// documents are not acceptable.
    pub async fn discover(&self) -> Result<(), DiscoveryError> {
        self.endpoints.provider().await.map(drop)
    }
}

impl<S, V, St: SessionStore> Layer<S> for OidcLayer<V, St> {
    type Service = OidcService<S, V, St>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService {
            well_known: self.well_known.layer(inner),
            endpoints: self.endpoints.clone(),
        }
    }
}

/// The service [`OidcLayer`] wraps around the app: the sign-in endpoints,
/// then the [`WellKnownService`].
pub struct OidcService<S, V = StaticTokenVerifier, St = MemoryStore> {
    well_known: WellKnownService<S, V, St>,
    endpoints: Endpoints<St>,
}

impl<S: Clone, V, St> Clone for OidcService<S, V, St> {
    fn clone(&self) -> Self {
        Self {
            well_known: self.well_known.clone(),
            endpoints: self.endpoints.clone(),
        }
    }
}

impl<S: fmt::Debug, V, St> fmt::Debug for OidcService<S, V, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcService")
            .field("well_known", &self.well_known)
            .field("config", &self.endpoints.inner.config)
            .finish()
    }
}

#[derive(Clone, Copy)]
enum Endpoint {
    Start,
    Callback,
    SignOut,
    BackchannelLogout,
}

impl<S, V, St, ReqBody, ResBody> Service<Request<ReqBody>> for OidcService<S, V, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: 'static,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    V: TokenVerifier,
    St: SessionStore,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.well_known.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(endpoint) = self.endpoints.route(request.uri().path()) else {
            return self.well_known.call(request);
        };
        let (parts, body) = request.into_parts();
        let endpoints = self.endpoints.clone();
        ResponseFuture::answer(async move {
            // Only the back-channel logout reads a body (a small form).
            let form = match endpoint {
                Endpoint::BackchannelLogout if parts.method == Method::POST => {
                    Some(backchannel::read_form(&parts, body).await)
                }
                _ => None,
            };
            endpoints.answer(endpoint, parts, form).await
        })
    }
}

impl<St: SessionStore> Endpoints<St> {
    fn route(&self, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix(self.inner.config.prefix.as_str())?;
        match rest {
            "/start" => Some(Endpoint::Start),
            "/callback" => Some(Endpoint::Callback),
            "/sign-out" => Some(Endpoint::SignOut),
            "/backchannel-logout" if self.inner.backchannel.is_some() => {
                Some(Endpoint::BackchannelLogout)
            }
            _ => None,
        }
    }

    /// The answer of `endpoint`; `form` is the body the back-channel logout
    /// read (or why it could not).
    async fn answer(
        &self,
        endpoint: Endpoint,
        parts: Parts,
        form: Option<Result<Vec<u8>, Failure>>,
    ) -> Response<Option<Bytes>> {
        let head = parts.method == Method::HEAD;
        let result = match (endpoint, &parts.method, form) {
            (Endpoint::Start, &Method::GET | &Method::HEAD, _) => self.start(&parts).await,
            (Endpoint::Callback, &Method::GET | &Method::HEAD, _) => self.callback(&parts).await,
            (Endpoint::SignOut, &Method::POST, _) => self.sign_out(&parts).await,
            (Endpoint::BackchannelLogout, &Method::POST, Some(form)) => {
                self.backchannel_logout(form).await
            }
            _ => Err(fail(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")),
        };
        match result {
            Ok(response) => response,
            Err(failure) => {
                #[cfg(feature = "tracing")]
                tracing::warn!(reason = %failure.reason, status = failure.status.as_u16(), "rstream-well-known: OpenID Connect sign-in refused");
                let page = matches!(endpoint, Endpoint::Start | Endpoint::Callback)
                    && is_navigation(&parts.method, &parts.headers);
                let mut response = if page {
                    // Start again where the failed attempt would have led:
                    // a start keeps its query, a callback starts afresh.
                    let retry = match (endpoint, parts.uri.query()) {
                        (Endpoint::Start, Some(query)) => {
                            format!("{}?{query}", self.inner.config.start_path())
                        }
                        _ => self.inner.config.start_path(),
                    };
                    error_page(&failure, head, &retry)
                } else {
                    error_response(&failure, head)
                };
                if let Some(cookie) = failure.set_cookie {
                    response.headers_mut().append(SET_COOKIE, cookie);
                }
                if failure.status == StatusCode::METHOD_NOT_ALLOWED {
                    let allow = match endpoint {
                        Endpoint::SignOut | Endpoint::BackchannelLogout => "POST",
                        _ => "GET, HEAD",
                    };
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                }
                response
            }
        }
    }

    pub(super) fn redirect_uri(&self, origin: &str) -> Result<RedirectUrl, Failure> {
        RedirectUrl::new(format!("{origin}{}", self.inner.config.callback_path()))
            .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_redirect_uri"))
    }
}

/// The decoded value of query parameter `name` (the first one).
pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
