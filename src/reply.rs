//! The crate's own refusals and failures: one builder and one set of reason
//! codes for the well-known endpoints, the refusals of enforcement and every
//! sign-in endpoint, so that the same failure gets the same code everywhere.
//!
//! Every such answer is `{"error":"<reason>"}` (`application/json`,
//! `Cache-Control: no-store`, `X-Content-Type-Options: nosniff`, its
//! `Content-Length`); a `HEAD` request gets the same status and headers
//! without the body. A browser navigation that fails at the sign-in's start
//! or callback gets a small HTML page instead, with the same status and the
//! same reason code.
//!
//! | reason | status | when |
//! |---|---|---|
//! | [`NOT_FOUND`] | 404 | a path under `/.well-known/rstream/` that is no endpoint |
//! | [`METHOD_NOT_ALLOWED`] | 405 | another method than the endpoint's (`Allow` names them) |
//! | [`INVALID_HOST`] | 400 | a missing, repeated or malformed host |
//! | [`AMBIGUOUS_HOST`] | 400 | a host that names no single tunnel |
//! | [`UNKNOWN_HOST`] | 401 (enforcement), 403 (sign-in) | a host that is no tunnel of the layer |
//! | [`CROSS_ORIGIN_REQUEST`] | 403 | fetch metadata says another site or origin (logout, sign-out, sign-in handlers) |
//! | [`ORIGIN_MISMATCH`] | 403 | `Origin` or `Referer` names another origin (likewise; and WebSocket upgrades) |
//! | [`UNSUPPORTED_MEDIA_TYPE`] | 415 | a logout body that is not JSON; a back-channel logout body that is not a form |
//! | [`LENGTH_REQUIRED`] | 411 | a logout body of unknown length |
//! | [`BODY_TOO_LARGE`] | 413 | a back-channel logout body over 16 KiB |
//! | [`UNREADABLE_BODY`] | 400 | a back-channel logout body that failed to arrive |
//! | [`TOO_MANY_SESSION_COOKIES`] | 400 | more session cookie values than are revoked (16): logout, sign-in, sign-out |
//! | [`SESSION_STORE_UNAVAILABLE`] | 503 (400 at back-channel logout) | the session store failed, panicked or timed out while revoking or creating sessions: logout, sign-in, sign-out, back-channel logout |
//! | [`UNAUTHENTICATED`] | 401 | enforcement: no credential |
//! | [`INVALID_TOKEN`] | 401 | enforcement: a token the verifier refused |
//! | [`INSUFFICIENT_SCOPE`] | 403 | enforcement: a token without the scope |
//! | [`AUTHENTICATION_UNAVAILABLE`] | 503 | enforcement: the verifier or the store failed |
//! | [`SIGN_IN_REQUIRED`] | 303 | enforcement: a browser navigation sent to sign in |
//! | [`PROVIDER_UNAVAILABLE`] | 502 (400 at back-channel logout) | the OpenID provider's discovery or keys cannot be fetched |
//! | [`MISSING_STATE`], [`UNKNOWN_STATE`] | 400 | a callback without `state`, or whose sign-in this browser does not hold (replayed, another browser) |
//! | [`FLOW_COOKIE_MALFORMED`], [`FLOW_COOKIE_TRUNCATED`], [`FLOW_COOKIE_TAMPERED`], [`FLOW_COOKIE_UNKNOWN_KEY`] | 400 | a pending sign-in's cookie that does not open |
//! | [`SIGN_IN_EXPIRED`] | 400 | a pending sign-in older than its TTL |
//! | [`BROWSER_MISMATCH`], [`MISSING_BROWSER_BINDING`] | 403 | the callback arrives in another browser than the one that started |
//! | [`TUNNEL_MISMATCH`] | 403 | the callback arrives on another tunnel than its start |
//! | [`ISSUER_MISMATCH`], [`MISSING_ISSUER`] | 400 | the authorization response's `iss` (RFC 9207) |
//! | `provider_error_<code>` | 403 | the provider answered the callback with an error |
//! | [`MISSING_CODE`] | 400 | a callback without `code` |
//! | [`NO_TOKEN_ENDPOINT`], [`TOKEN_EXCHANGE_FAILED`], [`NO_ID_TOKEN`] | 502 | the code exchange failed |
//! | the [`IdTokenRefusal`] reasons | 502 | the ID token was refused |
//! | [`USERINFO_FAILED`], [`USERINFO_SUBJECT_MISMATCH`] | 502 | userinfo failed, or names another subject |
//! | [`UNUSABLE_PROFILE`] | 502 | the provider's profile cannot be a session (empty id, too large) |
//! | the app's [`UserRefused`] reason | 403 | the app refused the user |
//! | [`BAD_END_SESSION`] | 502 | the provider's end-session endpoint is no URL |
//! | [`MISSING_LOGOUT_TOKEN`] and the [`LogoutTokenRefusal`] reasons | 400 | back-channel logout refused its token |
//! | [`INVALID_LOCATION`], [`INVALID_COOKIE`], [`INVALID_REDIRECT_URI`], [`INVALID_RESPONSE`] | 400 | a header the sign-in would send cannot be formed |
//!
//! [`IdTokenRefusal`]: crate::oidc::IdTokenRefusal
//! [`LogoutTokenRefusal`]: crate::oidc::LogoutTokenRefusal
//! [`UserRefused`]: crate::oidc::UserRefused

use bytes::Bytes;
use http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{Method, Response, StatusCode};

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $code;)*
        /// Every code of the table, for tests.
        #[cfg(test)]
        const ALL: &[&str] = &[$($code),*];
    };
}

reasons! {
    /// A path under `/.well-known/rstream/` that is no endpoint.
    NOT_FOUND = "not_found";
    /// Another method than the endpoint's.
    METHOD_NOT_ALLOWED = "method_not_allowed";
    /// A missing, repeated or malformed host.
    INVALID_HOST = "invalid_host";
    /// A host that names no single tunnel.
    AMBIGUOUS_HOST = "ambiguous_host";
    /// A host that is no tunnel of the layer.
    UNKNOWN_HOST = "unknown_host";
    /// Fetch metadata says another site or origin.
    CROSS_ORIGIN_REQUEST = "cross_origin_request";
    /// `Origin` or `Referer` names another origin.
    ORIGIN_MISMATCH = "origin_mismatch";
    /// A body of a media type the endpoint does not take.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type";
    /// A body of unknown length.
    LENGTH_REQUIRED = "length_required";
    /// A body larger than the endpoint reads.
    BODY_TOO_LARGE = "body_too_large";
    /// A body that failed to arrive.
    UNREADABLE_BODY = "unreadable_body";
    /// More session cookie values than are revoked.
    TOO_MANY_SESSION_COOKIES = "too_many_session_cookies";
    /// The session store failed, panicked or timed out.
    SESSION_STORE_UNAVAILABLE = "session_store_unavailable";
    /// Enforcement: no credential.
    UNAUTHENTICATED = "unauthenticated";
    /// Enforcement: a token the verifier refused.
    INVALID_TOKEN = "invalid_token";
    /// Enforcement: a token without the scope.
    INSUFFICIENT_SCOPE = "insufficient_scope";
    /// Enforcement: the verifier or the store failed.
    AUTHENTICATION_UNAVAILABLE = "authentication_unavailable";
    /// Enforcement: a browser navigation sent to sign in.
    SIGN_IN_REQUIRED = "sign_in_required";
    /// The OpenID provider cannot be reached or its documents used.
    PROVIDER_UNAVAILABLE = "provider_unavailable";
    /// A callback without `state`.
    MISSING_STATE = "missing_state";
    /// A callback whose sign-in this browser does not hold.
    UNKNOWN_STATE = "unknown_state";
    /// A flow cookie that is not a sealed flow.
    FLOW_COOKIE_MALFORMED = "flow_cookie_malformed";
    /// A flow cookie cut short.
    FLOW_COOKIE_TRUNCATED = "flow_cookie_truncated";
    /// A flow cookie changed, or moved under another name.
    FLOW_COOKIE_TAMPERED = "flow_cookie_tampered";
    /// A flow cookie sealed with a key this instance lacks.
    FLOW_COOKIE_UNKNOWN_KEY = "flow_cookie_unknown_key";
    /// A pending sign-in older than its TTL.
    SIGN_IN_EXPIRED = "sign_in_expired";
    /// The callback arrives in another browser.
    BROWSER_MISMATCH = "browser_mismatch";
    /// The callback's browser holds no binding cookie.
    MISSING_BROWSER_BINDING = "missing_browser_binding";
    /// The callback arrives on another tunnel than its start.
    TUNNEL_MISMATCH = "tunnel_mismatch";
    /// The authorization response's `iss` is another issuer.
    ISSUER_MISMATCH = "issuer_mismatch";
    /// The authorization response lacks the `iss` the provider promised.
    MISSING_ISSUER = "missing_issuer";
    /// A callback without `code`.
    MISSING_CODE = "missing_code";
    /// The provider has no token endpoint.
    NO_TOKEN_ENDPOINT = "no_token_endpoint";
    /// The code exchange failed.
    TOKEN_EXCHANGE_FAILED = "token_exchange_failed";
    /// The token response has no ID token.
    NO_ID_TOKEN = "no_id_token";
    /// Userinfo failed.
    USERINFO_FAILED = "userinfo_failed";
    /// Userinfo names another subject than the ID token.
    USERINFO_SUBJECT_MISMATCH = "userinfo_subject_mismatch";
    /// The provider's profile cannot be a session.
    UNUSABLE_PROFILE = "unusable_profile";
    /// The provider's end-session endpoint is no URL.
    BAD_END_SESSION = "bad_end_session";
    /// A back-channel logout without `logout_token`.
    MISSING_LOGOUT_TOKEN = "missing_logout_token";
    /// A redirect's location cannot be a header.
    INVALID_LOCATION = "invalid_location";
    /// A cookie cannot be a header.
    INVALID_COOKIE = "invalid_cookie";
    /// The redirect URI cannot be formed.
    INVALID_REDIRECT_URI = "invalid_redirect_uri";
    /// An answer cannot be formed.
    INVALID_RESPONSE = "invalid_response";
}

/// The error answer: `status`, `{"error":"<reason>"}`, `application/json`,
/// `Cache-Control: no-store`, `X-Content-Type-Options: nosniff` and its
/// `Content-Length`. The body is `None` only for [`for_method`]'s `HEAD`
/// answers. `reason` is one of this module's codes (or a code of the
/// same shape, as [`UserRefused`] makes them).
///
/// [`UserRefused`]: crate::oidc::UserRefused
pub fn error(status: StatusCode, reason: &str) -> Response<Option<Bytes>> {
    // Escaped as JSON, whatever `reason` holds.
    let body = serde_json::json!({ "error": reason }).to_string();
    let mut response = Response::new(None);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    *response.body_mut() = Some(Bytes::from(body));
    response
}

/// The `405` answer ([`METHOD_NOT_ALLOWED`]), with `Allow: allow`.
pub fn method_not_allowed(allow: &'static str) -> Response<Option<Bytes>> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// `reply` as the answer to a request with `method`: a `HEAD` answer keeps
/// every header, `Content-Length` included (it describes the body a `GET`
/// would get), and has no body.
#[inline]
pub fn for_method(method: &Method, mut reply: Response<Option<Bytes>>) -> Response<Option<Bytes>> {
    if method == Method::HEAD {
        *reply.body_mut() = None;
    }
    reply
}

/// An answer without a body: `status` and `Cache-Control: no-store`.
pub(crate) fn base(status: StatusCode) -> Response<Option<Bytes>> {
    let mut response = Response::new(None);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `204 No Content`, `no-store`, setting `set_cookie` when given.
pub(crate) fn no_content(set_cookie: Option<HeaderValue>) -> Response<Option<Bytes>> {
    let mut response = base(StatusCode::NO_CONTENT);
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_spelled_as_codes_are() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ALL {
            assert!(seen.insert(code), "{code} twice");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
    }

    #[test]
    fn an_error_is_json_no_store_and_head_keeps_its_length() {
        let get = error(StatusCode::SERVICE_UNAVAILABLE, SESSION_STORE_UNAVAILABLE);
        assert_eq!(get.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = get.body().clone().unwrap();
        assert_eq!(&body[..], br#"{"error":"session_store_unavailable"}"#);
        assert_eq!(get.headers()[CONTENT_LENGTH], body.len().to_string());
        assert_eq!(get.headers()[CACHE_CONTROL], "no-store");
        let head = for_method(
            &Method::HEAD,
            error(StatusCode::SERVICE_UNAVAILABLE, SESSION_STORE_UNAVAILABLE),
        );
        assert!(head.body().is_none());
        assert_eq!(head.headers(), get.headers());
        assert_eq!(method_not_allowed("POST").headers()[ALLOW], "POST");
    }
}
