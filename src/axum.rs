//! axum extractors for the caller a [`WellKnownLayer`](crate::WellKnownLayer)
//! resolved (feature `axum`).
//!
//! Turn identity on for the routes' paths
//! ([`WellKnownBuilder::identity`](crate::WellKnownBuilder::identity)), put
//! the layer in front of them, and take one of these in a handler:
//!
//! - [`Authenticated`]: a signed-in caller is required; anybody else gets
//!   the layer's answer for why nobody is (`401` with
//!   `WWW-Authenticate: Bearer`, plus `error="invalid_token"` when a token
//!   was presented and refused; `403` for a valid token out of scope; `503`
//!   when a backend failed; see [`Unauthenticated`]);
//! - `Option<Authenticated>`: `None` when nobody is signed in;
//! - [`Caller`]: everything the layer found, the tunnel included.
//!
//! A request that the layer did not resolve (the layer is not in front of
//! the route, or identity is off for its path) is a programming error, not
//! an anonymous visitor: all three reject it with `500`
//! ([`CallerRejection::NotResolved`]), and log why (feature `tracing`).
//!
//! ```
//! use axum::{Router, routing::get};
//! use rstream_well_known::axum::Authenticated;
//! use rstream_well_known::{Paths, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
//!
//! async fn me(Authenticated(identity): Authenticated) -> String {
//!     format!("hello, {} ({})", identity.user().user_id(), identity.method())
//! }
//!
//! async fn home(caller: Option<Authenticated>) -> String {
//!     match caller {
//!         Some(Authenticated(identity)) => format!("welcome back, {}", identity.user().user_id()),
//!         None => "welcome, stranger".to_owned(),
//!     }
//! }
//!
//! # fn main() -> Result<(), rstream_well_known::ConfigError> {
//! let layer = WellKnownLayer::builder()
//!     .tunnel(Tunnel::new("app.example.com", "ws", "proj")?)
//!     .with_token_verifier(StaticTokenVerifier::new().with_token("s3cret", User::new("ci")))
//!     .identity(Paths::all().except_prefix("/static"))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/me", get(me))
//!     .layer(layer);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::caller::{Caller, Unauthenticated};
use crate::endpoint::{Reply, error};
use crate::forward::unauthenticated_reply;
use crate::identity::Identity;
use crate::manager::CrossOriginRequest;

/// An authenticated caller, required: the extractor rejects anybody else
/// with the layer's answer for why nobody is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated(pub Identity);

/// Why an extractor of this module rejected a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerRejection {
    /// The request carries no [`Caller`]: the layer is not in front of
    /// this route, or identity is off for its path. Answered `500` with
    /// `{"error":"caller_not_resolved"}`.
    NotResolved,
    /// Nobody is authenticated ([`Authenticated`] only): answered as
    /// [`Unauthenticated`] says.
    Unauthenticated(Unauthenticated),
}

impl fmt::Display for CallerRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerRejection::NotResolved => f.write_str(
                "no Caller in the request's extensions: put WellKnownLayer in front of this \
                 route and turn identity on for its path (WellKnownBuilder::identity)",
            ),
            CallerRejection::Unauthenticated(why) => write!(f, "not authenticated: {why}"),
        }
    }
}

impl std::error::Error for CallerRejection {}

/// The layer's own answer, as an axum response.
fn response(reply: Reply) -> Response {
    reply.map(|body| body.map_or_else(Body::empty, Body::from))
}

impl IntoResponse for CallerRejection {
    fn into_response(self) -> Response {
        match self {
            CallerRejection::NotResolved => {
                #[cfg(feature = "tracing")]
                tracing::error!("rstream-well-known: {self}");
                response(error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "caller_not_resolved",
                ))
            }
            CallerRejection::Unauthenticated(why) => why.into_response(),
        }
    }
}

/// The answer a request that requires authentication gets for `self`:
/// its status, `{"error":"<reason>"}`, `Cache-Control: no-store` and the
/// `WWW-Authenticate` challenge, if any.
impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        response(unauthenticated_reply(self))
    }
}

/// The refusal of a sign-in request that may come from another site:
/// [`CrossOriginRequest::status`], `{"error":"<reason>"}`, `no-store`.
impl IntoResponse for CrossOriginRequest {
    fn into_response(self) -> Response {
        response(error(self.status(), self.reason()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = CallerRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(CallerRejection::NotResolved)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = CallerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.unauthenticated() {
            Some(why) => Err(CallerRejection::Unauthenticated(why)),
            None => caller
                .into_identity()
                .map(Authenticated)
                .ok_or(CallerRejection::NotResolved),
        }
    }
}

/// `Option<Authenticated>`: `None` when nobody is authenticated, whatever
/// the reason; still a rejection when the request was not resolved.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated {
    type Rejection = CallerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(caller.into_identity().map(Authenticated))
    }
}
