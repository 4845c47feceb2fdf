//! Edge-style session endpoints for any tower HTTP service.
//!
//! [`WellKnownLayer`] sits in front of an axum, hyper or tonic service and
//! answers rstream's well-known endpoints itself, so browser code that works
//! behind rstream's edge works the same in local development and on your own
//! servers:
//!
//! - `GET`/`HEAD /.well-known/rstream/session`: who is calling, as JSON;
//! - `POST /.well-known/rstream/logout`: ends the browser session.
//!
//! Well-known requests on an active tunnel host are never forwarded to the
//! wrapped service; every other request passes through untouched at the cost
//! of a path prefix check. Who is calling is resolved through two pluggable
//! traits: a [`TokenVerifier`] for bearer tokens (the `Authorization: Bearer`
//! header, else the `rstream.token` query parameter) and a [`SessionStore`]
//! for the browser session cookie; the token is checked first.
//!
//! # Quick start
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let layer = WellKnownLayer::builder()
//!     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
//!     .with_token_verifier(
//!         StaticTokenVerifier::new().with_token("s3cret", User::new("user-id").with_name("Ada Lovelace")),
//!     )
//!     .with_session_store(MemoryStore::new())
//!     .build()?;
//!
//! // Any service: here one that greets.
//! let app = ServiceBuilder::new().layer(layer).service(service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//! }));
//!
//! let request = Request::get("/.well-known/rstream/session")
//!     .header("host", "app.example.com")
//!     .header("authorization", "Bearer s3cret")
//!     .body(Full::default())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let json: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
//! assert_eq!(json["auth"]["method"], "token-auth");
//! assert_eq!(json["user"]["name"], "Ada Lovelace");
//! assert_eq!(json["user"]["email"], serde_json::Value::Null);
//!
//! // Everything else reaches the service.
//! let request = Request::get("/").header("host", "app.example.com").body(Full::default())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//! # Ok(())
//! # }
//! ```
//!
//! # The rulings
//!
//! The behaviour follows rstream's documentation of its edge. Where that
//! documentation is silent, the layer does the following.
//!
//! **Which requests are answered.** Only requests for an active tunnel: the
//! request's host (the URI authority, as HTTP/2 sends it, else the single
//! `Host` header) compared case-insensitively, and without the trailing dot
//! of a fully qualified name, with each configured [`Tunnel`] (then the
//! [`TunnelResolver`], if any), a missing port meaning the default port of
//! the tunnel origin's scheme. A host with userinfo, a repeated `Host` or an
//! unparsable one names no tunnel.
//! Requests for other hosts are forwarded untouched, well-known paths
//! included. On a tunnel, `/.well-known/rstream/session` and
//! `/.well-known/rstream/logout` are served at those exact paths; every other
//! path in `/.well-known/rstream` is answered `404`, and so is any path that
//! only becomes one after percent-decoding (`%2E`, `%2F`, …), dropping empty
//! and `.` segments, and applying `..`: no spelling of a well-known path
//! reaches the inner service. Paths are case-sensitive; a trailing slash
//! makes another path (`404`).
//!
//! **Session** (`GET`, `HEAD`): `200` with `Cache-Control: no-store`,
//! `Content-Type: application/json` and `X-Content-Type-Options: nosniff`;
//! the document is exactly the spec's (field order, `null`s present, no
//! extra keys). `policies` lists the enabled mechanisms (`token-auth`, then
//! `rstream-auth`) followed by the application's own
//! ([`WellKnownBuilder::policy`]). Other methods: `405` with
//! `Allow: GET, HEAD`. `HEAD` gets the status and headers of `GET`,
//! `Content-Length` included, and no body, for every well-known answer.
//!
//! **Logout** (`POST`; others get `405` with `Allow: POST`). In this order:
//! `Origin` and `Referer`, when present, must both name the tunnel origin
//! (scheme, host and port; `Origin: null`, userinfo, a repeated field or an
//! unparsable value never match; a `Referer` is compared by its origin), else
//! `403`. A non-empty body needs exactly one `Content-Type` of media type
//! `application/json` (any case, any parameters), else `415`; an empty body
//! is accepted with any content type, and a body that fails while being
//! checked for emptiness gets `400`. Nothing is cleared by a refused request.
//! Then, when the request is authenticated by the session cookie, the session
//! is revoked in the store (the old cookie value stops working everywhere)
//! and the `204` clears the cookie with the very attributes it was issued
//! with, `Max-Age=0` and an `Expires` in the past. Token-authenticated and
//! unauthenticated requests get a bare `204`: a valid token plus a valid
//! cookie is token-authenticated, and clears nothing. `Clear-Site-Data` is
//! never sent.
//!
//! **Cross-site logout.** `SameSite=Lax` keeps the cookie off requests from
//! other *sites*, but another origin of the same site (another port, a
//! sibling subdomain) gets it attached to a plain form post or a `no-cors`
//! `fetch`. Such requests carry that origin's `Origin` and are refused with
//! `403` by the check above, even with an empty body. The layer speaks no
//! CORS: a preflight `OPTIONS` is just another method (`405`), so a browser
//! never sends a cross-origin JSON logout at all. The crate's `tests/browser`
//! shows each of the three in headless Chromium.
//!
//! **Failing backends.** A verifier error counts as "no valid token" and a
//! store error as "no live session": the session endpoint then says
//! `{"auth":{"authenticated":false}}`, never `500`. Logout is stricter,
//! because a user must never be told they are signed out while their cookie
//! would work again once the store recovers: when the store cannot load the
//! session, logout revokes every value of the session cookie anyway, and if
//! any revocation fails it answers `503` with reason
//! `session_store_unavailable` and leaves the cookie in place. Errors are
//! logged (feature `tracing`) by component and `Display` text only.
//!
//! **Tokens.** `Authorization` with the `Bearer` scheme (any case) is used
//! when present, even if malformed, and the query parameter is then ignored;
//! other schemes (`Basic`, …) are the application's and are not tokens. One
//! `b64token` after one or more spaces is well-formed; empty, repeated
//! `Bearer` fields, or other bytes are a malformed token (like a refused one:
//! the session cookie is tried next). The `rstream.token` parameter is
//! form-decoded; a repeated parameter, a bad `%` escape or non-UTF-8 bytes
//! make it malformed.
//!
//! **Cookies.** Every `Cookie` field is read (HTTP/2 sends one per cookie).
//! When the session cookie's name appears more than once (a sibling host can
//! plant one, see [`SessionCookie`]), each distinct value is looked up: the
//! request is authenticated only if exactly one names a live session. Two
//! live sessions authenticate nobody, and more than four distinct values are
//! not looked up at all.
//!
//! **Error answers** (`400`, `403`, `404`, `405`, `415`, `503`) carry
//! `{"error":"<reason>"}` with a stable reason (`unreadable_body`,
//! `origin_mismatch`, `not_found`, `method_not_allowed`,
//! `unsupported_media_type`, `session_store_unavailable`),
//! `Cache-Control: no-store`, and never echo the request's credentials.
//! `204` answers have no body and no `Content-Length`.
//!
//! **Origins** come from configuration only ([`Tunnel::with_origin`]); never
//! from `X-Forwarded-*`, `Forwarded` or any other request header.
//!
//! # Types
//!
//! The layer is generic over the request and response body types: its
//! answers and the inner service's responses travel in one [`ResponseBody`]
//! (data [`bytes::Bytes`], the inner body's error). The request body must be
//! `Send + 'static` (logout may need to check it is empty). The layer and its
//! services are `Clone`, and `Send + Sync` whenever the inner service is.
//!
//! # Features
//!
//! - `tracing` (default): log backend failures with `tracing`.

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![warn(
    clippy::dbg_macro,
    clippy::todo,
    clippy::unimplemented,
    rust_2018_idioms
)]

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod body;
mod cookie;
mod credentials;
mod endpoint;
mod error;
mod future;
mod identity;
mod layer;
mod log;
mod manager;
mod memory;
mod origin;
mod path;
mod resolver;
mod service;
mod store;
mod syntax;
mod token;
mod tunnel;

pub use crate::body::ResponseBody;
pub use crate::cookie::{SameSite, SessionCookie};
pub use crate::error::ConfigError;
pub use crate::future::ResponseFuture;
pub use crate::identity::{AuthMethod, Identity, User};
pub use crate::layer::{WellKnownBuilder, WellKnownLayer};
pub use crate::manager::{SessionManager, SignInError, SignedIn};
pub use crate::memory::{MemoryStore, MemoryStoreError};
pub use crate::service::WellKnownService;
pub use crate::store::{SessionId, SessionStore};
pub use crate::token::{
    StaticTokenVerifier, TokenContext, TokenSource, TokenVerdict, TokenVerifier,
};
pub use crate::tunnel::{Tunnel, TunnelResolver};
