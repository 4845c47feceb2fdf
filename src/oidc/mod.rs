//! Interactive sign-in against any OpenID Connect provider, in-process
//! (feature `oidc`): what rstream Auth does at the edge, for apps that have
//! no edge in front of them.
//!
//! [`OidcConfig::layer`] turns the app's
//! [`WellKnownBuilder`](crate::WellKnownBuilder) into one [`OidcLayer`]: the
//! [`WellKnownLayer`](crate::WellKnownLayer) with the sign-in in front of
//! it. The sign-in answers its endpoints under a path prefix
//! (`/_rstream/oidc` by default, outside `/.well-known/rstream/`, which is
//! the engine's) before the well-known layer sees them, so they stay
//! reachable where authentication is required, and passes every other
//! request to the well-known layer:
//!
//! - `GET {prefix}/start?return_to=/path`: starts a sign-in and sends the
//!   browser to the provider;
//! - `GET {prefix}/callback`: the provider's redirect back; on success, a
//!   fresh rstream Auth session (the cookie the well-known endpoints read)
//!   and a redirect to the return path;
//! - `POST {prefix}/sign-out`: revokes the browser's sessions, clears the
//!   cookie and sends the browser to the provider's end-session endpoint
//!   when it has one. A `GET` never signs anyone out (`405`);
//! - `POST {prefix}/backchannel-logout`, when made with
//!   [`OidcConfig::layer_with_backchannel_logout`]: the provider ends
//!   sessions (OpenID Connect Back-Channel Logout 1.0, below).
//!
//! With enforcement on
//! ([`WellKnownBuilder::require_authentication`](crate::WellKnownBuilder::require_authentication)),
//! refused browser navigations go to the start endpoint, and come back to
//! the page they asked for, unless
//! [`WellKnownBuilder::sign_in_url`](crate::WellKnownBuilder::sign_in_url)
//! names another sign-in page (one that links to the start endpoint, say).
//! The app's handlers sign users in and out with
//! [`OidcLayer::session_manager`].
//!
//! # Security rulings
//!
//! - Authorization code flow only, with PKCE `S256` and a `nonce` always.
//!   `state` is 256 random bits, and bound to the browser that started the
//!   flow: a `HttpOnly`, `SameSite=Lax` cookie (`__Host-rstream_oidc` on
//!   https tunnels, `rstream_oidc` on http ones) holds 256 random bits that
//!   the flow records and the callback compares in constant time, before the
//!   code is exchanged.
//! - **Nothing about a pending sign-in is kept on the server**: it travels
//!   with the browser, in a cookie of its own named after the binding cookie
//!   and the state's first 16 characters (`__Host-rstream_oidc_<tag>`),
//!   sealed with XChaCha20-Poly1305 under the first of
//!   [`OidcConfig::flow_keys`]: the state, the PKCE verifier, the nonce, the
//!   return path, the tunnel, the expiry and the browser binding. So any
//!   instance configured with the same keys finishes a sign-in another one
//!   started (no sticky routing), and a flood of starts fills nothing: a
//!   start without cookies keeps no state anywhere. Without configured keys
//!   a random key is generated at build: one instance only, and a restart
//!   ends the sign-ins in flight.
//! - The callback consumes its sign-in: every answer to it, success or
//!   refusal, removes the sign-in's cookie, so the same callback URL
//!   replayed in the same browser is refused (`400 unknown_state`), and so
//!   is one delivered to another browser (which holds no such cookie; one
//!   whose cookie was copied over fails the binding, `403
//!   browser_mismatch`). The authorization code itself is single-use at the
//!   provider, so even a copy of the cookie taken before the callback cannot
//!   sign in twice.
//! - A flow cookie that does not open is refused with what happened to it,
//!   `400` and one of `flow_cookie_malformed` (not a sealed flow),
//!   `flow_cookie_truncated` (cut short), `flow_cookie_tampered` (changed, or
//!   moved under another name) and `flow_cookie_unknown_key` (sealed with a
//!   key this instance lacks: another deployment, or a key rotated out); an
//!   expired one with `400 sign_in_expired`. None of them ever mints a
//!   session.
//! - Several tabs sign in in parallel, each with its own cookie. A browser
//!   holds at most [`OidcConfig::max_pending_per_browser`] (8, at most 16):
//!   a start drops the oldest, and every flow cookie that does not open, has
//!   expired or carries another binding. A flow cookie is about 500 bytes
//!   (the return path is kept only up to 1,024 bytes, else `/`), well within
//!   the 4,096 bytes browsers keep per cookie. A flow expires after
//!   [`OidcConfig::flow_ttl`] (10 minutes).
//! - The authorization response's `iss` (RFC 9207) must equal the issuer
//!   when present, and must be present when the provider advertises
//!   `authorization_response_iss_parameter_supported`.
//! - The ID token: signature by a key of the provider's JWKS with an
//!   asymmetric algorithm (RS256/384/512, PS256/384/512, ES256/384/512,
//!   EdDSA; never `none`, never HS*, even for confidential clients), `iss`,
//!   `aud` (the client id, and no other audience), `azp` (the client id when
//!   present, required with several audiences), `exp` with
//!   [`OidcConfig::leeway`] (60 s), `nonce`, and `at_hash` when present:
//!   [`IdTokenVerifier`], on the crate's JWT code (the `jwt` feature's
//!   [`SignedJwt`](crate::jwt::SignedJwt), as for bearer tokens), not on
//!   `openidconnect`'s. Each refusal names its reason
//!   ([`IdTokenRefusal::reason`]): an algorithm not accepted is
//!   `unsupported_algorithm`, not `invalid_signature`. A key id the cached
//!   key set lacks refetches the key set, at most once per
//!   [`OidcConfig::key_refresh_interval`] (30 s).
//! - The issuer, and every endpoint its discovery document names, must be
//!   `https`, except on a loopback issuer (`http://127.0.0.1:…`,
//!   `http://localhost:…`, for tests and development). The discovery
//!   document must name the configured issuer exactly.
//! - `redirect_uri` is the origin of the tunnel the request is for (as
//!   configured on the layer) plus `{prefix}/callback`: never built from
//!   `Host` beyond picking a configured tunnel, nor from forwarding headers.
//!   The callback must arrive on the tunnel its flow started on.
//! - The return path is checked with
//!   [`SessionManager::safe_return_url`](crate::SessionManager::safe_return_url); anything else becomes `/`.
//! - A successful sign-in revokes every session the browser presented and
//!   always mints a fresh one (no session fixation). A callback presenting
//!   more session cookie values than the layer revokes (16) is refused,
//!   `400 too_many_session_cookies`, as logout refuses it.
//! - Claims: `sub` → user id (or `{issuer}#{sub}` with
//!   [`OidcConfig::namespace_user_ids`]), `name` (else `preferred_username`)
//!   → name, `email` only when `email_verified` is `true`, `picture` →
//!   image. When the ID token has none of `name`, `preferred_username`,
//!   `email` and `picture`, userinfo is fetched, and its `sub` must be the
//!   ID token's. [`OidcConfig::map_user`] lets the app change or refuse the
//!   user. The ID token is kept in the session's attributes under
//!   [`ID_TOKEN_ATTRIBUTE`], for the end-session endpoint's `id_token_hint`.
//! - Every failure is a `no-store` JSON answer `{"error":"<reason>"}`
//!   (400, 403, 405, 502 or 503; never 500). A browser navigation (a `GET`
//!   that accepts `text/html`) that fails at the start or the callback gets
//!   a small HTML page instead, with the same status: what happened, a link
//!   to start again, and the reason code; `no-store`, `Referrer-Policy:
//!   no-referrer` (the callback's URL holds the code), a
//!   `Content-Security-Policy` of `default-src 'none'`, everything it shows
//!   escaped, and no secret. Logs carry the reason and, for provider
//!   answers, the provider's error code: never a code, token, state, nonce
//!   or cookie.
//! - The response mode is `query`; `form_post` is not supported.
//!
//! # Back-channel logout
//!
//! When the user signs out at the provider, or an admin ends their session
//! there, the provider POSTs a logout token to the client's
//! `backchannel_logout_uri`. Register `{tunnel origin}{prefix}/backchannel-logout`
//! ([`OidcConfig::backchannel_logout_path`]) there, with
//! `backchannel_logout_session_required`, and make the layer with
//! [`OidcConfig::layer_with_backchannel_logout`], which takes only stores
//! that can find sessions that way ([`RevokeAll`](crate::RevokeAll): the memory and Redis
//! stores; a store that cannot does not compile there).
//!
//! - Every sign-in tags its session with the provider's user (`iss` and
//!   `sub`) and, when the ID token has a `sid`, the provider session
//!   ([`Session::with_tag`](crate::Session::with_tag)).
//! - The endpoint takes `application/x-www-form-urlencoded` only (else
//!   `415`), at most 16 KiB (else `413`), with a `logout_token` field. The
//!   token is checked by [`LogoutTokenVerifier`]: its signature with the
//!   provider's keys, through the key set and code that check ID tokens
//!   (a key id the set lacks refetches it, as for ID tokens); `iss` and
//!   `aud`; `iat` no later than now plus [`OidcConfig::leeway`] and no older
//!   than 5 minutes plus it; `exp`, when present; a `jti`; the back-channel
//!   logout member in `events`; `sid` and/or `sub`; no `nonce`; `typ`, when
//!   present, `logout+jwt`. A `jti` already accepted by this instance within
//!   the token's lifetime is refused (`logout_token_replayed`; a replay sent
//!   to another instance only ends the same sessions again).
//! - With `sid`: the sessions of that provider session end. With only
//!   `sub`: every session of that user from that provider. Through the
//!   store, so on every instance that shares it, at once.
//! - `200` with `Cache-Control: no-store` on success. Every failure is
//!   `400` `{"error":"<reason>"}` (the specification's answer), the reasons
//!   of [`LogoutTokenRefusal::reason`], `missing_logout_token`,
//!   `provider_unavailable` or `session_store_unavailable` (the provider may send
//!   it again: its `jti` is not kept then). Other methods get `405`.

mod backchannel;
mod backchannel_logout;
mod callback;
mod claims;
mod config;
mod flow;
mod id_token;
mod layer;
mod provider;
mod response;
mod sign_out;
mod start;

use std::borrow::Cow;
use std::fmt;

use ::http::{HeaderValue, StatusCode};
use openidconnect::url;

use crate::ConfigError;

pub use self::backchannel::{
    BACKCHANNEL_LOGOUT_EVENT, LogoutToken, LogoutTokenRefusal, LogoutTokenVerifier,
};
pub use self::claims::OidcClaims;
pub use self::config::OidcConfig;
use self::config::allowed_url;
pub use self::flow::{FlowKey, FlowKeyError};
pub use self::id_token::{IdTokenRefusal, IdTokenVerifier};
use self::layer::{Client, Endpoints};
pub use self::layer::{OidcLayer, OidcService};
pub use self::provider::DiscoveryError;
use crate::http_client::{HttpClient, HttpError, HttpFuture};

/// The session attribute that holds the ID token of an OpenID Connect
/// sign-in, sent as `id_token_hint` at sign-out.
pub const ID_TOKEN_ATTRIBUTE: &str = "oidcIdToken";

/// Why [`OidcConfig::layer`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OidcConfigError {
    /// An OpenID Connect setting is invalid; the setting is named.
    Setting(&'static str),
    /// The well-known layer's configuration was refused.
    WellKnown(ConfigError),
}

impl fmt::Display for OidcConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setting(setting) => write!(f, "invalid OpenID Connect setting: {setting}"),
            Self::WellKnown(_) => f.write_str("the well-known layer's configuration was refused"),
        }
    }
}

impl std::error::Error for OidcConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::WellKnown(error) => Some(error),
            _ => None,
        }
    }
}

/// An app's refusal of a signed-in user ([`OidcConfig::map_user`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRefused(String);

impl UserRefused {
    /// A refusal with `reason`, shown to the browser as the error
    /// (`{"error":"<reason>"}`); characters other than ASCII letters,
    /// digits and `_` become `_`.
    pub fn new(reason: impl Into<String>) -> Self {
        let reason: String = reason
            .into()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        Self(if reason.is_empty() {
            "user_refused".to_owned()
        } else {
            reason
        })
    }
}

/// A failure: its status and reason, and a cookie its answer sets (the
/// removal of a pending sign-in the callback consumed).
struct Failure {
    status: StatusCode,
    reason: Cow<'static, str>,
    set_cookie: Option<HeaderValue>,
}

fn fail(status: StatusCode, reason: &'static str) -> Failure {
    Failure {
        status,
        reason: Cow::Borrowed(reason),
        set_cookie: None,
    }
}

/// A request from the wrong origin, or for no tunnel, fails with the
/// kit's own status and reason.
impl From<crate::CrossOriginRequest> for Failure {
    fn from(refusal: crate::CrossOriginRequest) -> Self {
        fail(refusal.status(), refusal.reason())
    }
}
