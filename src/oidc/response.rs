//! The sign-in endpoints' answers: redirects, the cookies of the flow, and
//! failures (JSON, or a small page for a browser navigation).

use std::time::Duration;

use ::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use ::http::{HeaderValue, Response, StatusCode};
use bytes::Bytes;

use super::{Failure, fail};

pub(super) fn no_store(builder: ::http::response::Builder) -> ::http::response::Builder {
    builder.header(CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

pub(super) fn redirect_response(location: &str) -> Result<Response<Option<Bytes>>, Failure> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_location"))?;
    no_store(Response::builder().status(StatusCode::SEE_OTHER))
        .header(LOCATION, location)
        .body(None)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_location"))
}

/// A cookie of the sign-in (the browser binding, a pending sign-in): `Path=/`,
/// `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a top-level
/// navigation), `Secure` on https tunnels (whose names are `__Host-`), for
/// `max_age`, or its removal when `None`. Marked sensitive.
pub(super) fn flow_cookie(
    name: &str,
    value: &str,
    https: bool,
    max_age: Option<Duration>,
) -> Result<HeaderValue, Failure> {
    let builder = cookie::Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(https);
    let cookie = match max_age {
        Some(ttl) => {
            let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
            builder
                .max_age(cookie::time::Duration::seconds(secs))
                .build()
        }
        None => builder
            .max_age(cookie::time::Duration::ZERO)
            .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
            .build(),
    };
    let mut value = HeaderValue::try_from(cookie.to_string())
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid_cookie"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// What a failure means to a person, for the page a browser is shown.
pub(super) fn explanation(failure: &Failure) -> &'static str {
    let reason = &*failure.reason;
    if reason.starts_with("provider_error_") {
        return "The sign-in provider did not sign you in.";
    }
    if reason.starts_with("flow_cookie_")
        || matches!(
            reason,
            "unknown_state"
                | "missing_state"
                | "browser_mismatch"
                | "missing_browser_binding"
                | "tunnel_mismatch"
        )
    {
        return "This sign-in was already used, was started in another browser, or could not be read.";
    }
    if reason == "sign_in_expired" {
        return "This sign-in took too long and expired.";
    }
    match failure.status {
        StatusCode::BAD_GATEWAY => {
            "The sign-in provider could not be reached, or its answer could not be used."
        }
        StatusCode::SERVICE_UNAVAILABLE => "Signing in is not possible right now.",
        StatusCode::FORBIDDEN => "You cannot sign in to this application with this account.",
        _ => "The sign-in could not be completed.",
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and
/// attribute values.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The failure as a small page for a browser navigation: what happened, a
/// link to `retry` (a path on the tunnel), the reason code. `no-store`, no
/// referrer (the callback's URL holds the code), and nothing it shows is
/// left unescaped.
pub(super) fn error_page(failure: &Failure, head: bool, retry: &str) -> Response<Option<Bytes>> {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sign-in failed</title></head>\n<body><main><h1>Sign-in failed</h1>\n\
<p id=\"explanation\">{}</p>\n<p><a id=\"retry\" href=\"{}\">Try again</a></p>\n\
<p><small>Reason: <code id=\"reason\">{}</code></small></p></main></body></html>\n",
        escape_html(explanation(failure)),
        escape_html(retry),
        escape_html(&failure.reason),
    );
    let length = body.len();
    let mut response = Response::new((!head).then(|| Bytes::from(body)));
    *response.status_mut() = failure.status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        ::http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        ::http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        ::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if head {
        headers.insert(::http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

pub(super) fn error_response(failure: &Failure, head: bool) -> Response<Option<Bytes>> {
    let response = crate::reply::error(failure.status, &failure.reason);
    if head {
        crate::reply::for_method(&::http::Method::HEAD, response)
    } else {
        response
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn pages_escape_everything_they_show() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let failure = Failure {
            status: StatusCode::FORBIDDEN,
            reason: Cow::Borrowed("<script>"),
            set_cookie: None,
        };
        let page = error_page(&failure, false, "/start?a=\"b\"");
        let body = page.body().clone().unwrap();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&lt;script&gt;"), "{body}");
        assert!(body.contains(r#"href="/start?a=&quot;b&quot;""#), "{body}");
        // HEAD: the headers of GET, its length included, no body.
        let head = error_page(&failure, true, "/start");
        assert!(head.body().is_none());
        let get = error_page(&failure, false, "/start");
        assert_eq!(
            head.headers()[::http::header::CONTENT_LENGTH],
            get.body().as_ref().unwrap().len().to_string()
        );
    }
}
