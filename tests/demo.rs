//! The demo (`cargo run --example demo`), driven over loopback HTTP/1.1 the
//! way a browser and a command-line client would use it.

// The example itself, under its own name inside this test module.
#[allow(dead_code, clippy::module_inception)]
#[path = "../examples/demo.rs"]
mod demo;

use bytes::Bytes;
use futures::channel::oneshot;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const SESSION: &str = "/.well-known/rstream/session";
const LOGOUT: &str = "/.well-known/rstream/logout";
const TOKEN: &str = "demo-test-token.0123";

/// The exact call the spec tells applications to make.
const LOGOUT_CALL: &str = r#"await fetch("/.well-known/rstream/logout", { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "include" });"#;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running demo on a free loopback port.
struct Running {
    port: u16,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), BoxError>>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        assert_eq!(self.headers["content-type"], "application/json");
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

async fn start() -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(demo::serve(listener, TOKEN.to_owned(), async {
        let _ = stopped.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http();
    Running {
        port,
        client,
        stop: Some(stop),
        task,
    }
}

impl Running {
    fn ip_host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn localhost(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// Sends a request over the socket to 127.0.0.1, naming `host` in the
    /// `Host` header.
    async fn send(
        &self,
        method: Method,
        path: &str,
        host: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}{path}", self.port))
            .header("host", host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(request.body(Full::default()).unwrap())
            .await
            .expect("the demo answers");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    async fn session(&self, host: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, SESSION, host, headers).await
    }

    /// The page's logout call, with `cookie`, sent from `origin`.
    async fn logout(&self, host: &str, cookie: &str, origin: &str) -> Reply {
        let headers = [
            ("cookie", cookie),
            ("origin", origin),
            ("content-type", "application/json"),
        ];
        self.send(Method::POST, LOGOUT, host, &headers).await
    }

    /// Signs in Ada like the page's form does, and returns the `Cookie`
    /// header a browser would send afterwards.
    async fn sign_in(&self) -> String {
        let origin = format!("http://{}", self.ip_host());
        let reply = self
            .send(
                Method::POST,
                "/demo/login",
                &self.ip_host(),
                &[("origin", &origin)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let set_cookie = reply.set_cookies();
        assert_eq!(set_cookie.len(), 1);
        cookie_pair(set_cookie[0]).to_owned()
    }
}

/// The `name=value` part of a `Set-Cookie` value.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

/// The attributes of a `Set-Cookie` value, lower-cased.
fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

fn signed_out() -> Value {
    json!({ "auth": { "authenticated": false } })
}

fn signed_in_as_ada(host: &str) -> Value {
    json!({
        "auth": { "authenticated": true, "method": "rstream-auth" },
        "user": {
            "userId": "user-ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "image": null
        },
        "tunnel": { "host": host, "workspaceId": "demo-workspace", "projectId": "demo-project" },
        "policies": ["token-auth", "rstream-auth"]
    })
}

#[tokio::test]
async fn the_page_is_self_contained_html_with_the_spec_logout_call() {
    let demo = start().await;
    let reply = demo.send(Method::GET, "/", &demo.ip_host(), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
    let html = reply.text();
    assert!(
        html.contains(LOGOUT_CALL),
        "the page must make the spec's logout call"
    );
    assert!(html.contains(r#"<form method="post" action="/demo/login"><button id="login">Sign in as Ada Lovelace</button></form>"#));
    assert!(html.contains(
        r#"fetch("/.well-known/rstream/session", { credentials: "include", cache: "no-store" })"#
    ));
    assert!(html.contains(r#"data-state="loading""#));
    for id in [
        "state",
        "user-name",
        "user-email",
        "user-image",
        "method",
        "logout",
        "login",
        "error-message",
    ] {
        assert!(html.contains(&format!(r#"id="{id}""#)), "missing #{id}");
    }
    // Data goes into the DOM as text, and nothing is loaded from elsewhere.
    assert!(!html.contains("innerHTML"));
    for external in ["http://", "https://", "//cdn", "@import"] {
        assert!(!html.contains(external), "the page references {external}");
    }
}

#[tokio::test]
async fn both_loopback_names_are_tunnels_and_start_signed_out() {
    let demo = start().await;
    for host in [demo.ip_host(), demo.localhost()] {
        let reply = demo.session(&host, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{host}");
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.json(), signed_out(), "{host}");
    }
    // Another name for the same socket is not a tunnel: the app answers.
    let reply = demo.session("example.com", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_session_and_logout_work_like_in_a_browser() {
    let demo = start().await;
    let host = demo.ip_host();
    let origin = format!("http://{host}");

    // The form post signs Ada in and sends the browser back to the page.
    let reply = demo
        .send(Method::POST, "/demo/login", &host, &[("origin", &origin)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], "/");
    let set_cookie = reply.set_cookies();
    assert_eq!(set_cookie.len(), 1);
    let issued = set_cookie[0];
    assert!(issued.starts_with("rstream_session="), "{issued}");
    let attributes = cookie_attributes(issued);
    for expected in ["httponly", "samesite=lax", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "{expected} missing in {issued}"
        );
    }
    // Plain-HTTP demo: a Secure cookie would be dropped by the browser.
    assert!(!attributes.iter().any(|a| a == "secure"), "{issued}");
    let cookie = cookie_pair(issued).to_owned();

    // The cookie authenticates Ada on the session endpoint.
    let reply = demo.session(&host, &[("cookie", &cookie)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), signed_in_as_ada(&host));

    // A logout posted from another origin is refused and signs nobody out.
    let other = format!("http://127.0.0.1:{}", demo.port ^ 1);
    let reply = demo.logout(&host, &cookie, &other).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.set_cookies().is_empty());
    assert_eq!(
        demo.session(&host, &[("cookie", &cookie)]).await.json(),
        signed_in_as_ada(&host)
    );

    // The page's logout: 204 and a cookie that clears the session cookie.
    let reply = demo.logout(&host, &cookie, &origin).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let set_cookie = reply.set_cookies();
    assert_eq!(set_cookie.len(), 1);
    let removal = set_cookie[0];
    assert_eq!(cookie_pair(removal), "rstream_session=");
    let attributes = cookie_attributes(removal);
    for expected in ["max-age=0", "httponly", "samesite=lax", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "{expected} missing in {removal}"
        );
    }

    // The old cookie no longer authenticates, on either name.
    for name in [demo.ip_host(), demo.localhost()] {
        let reply = demo.session(&name, &[("cookie", &cookie)]).await;
        assert_eq!(reply.json(), signed_out(), "{name}");
    }
}

#[tokio::test]
async fn each_loopback_name_checks_logout_against_its_own_origin() {
    let demo = start().await;
    let host = demo.localhost();
    let cookie = demo.sign_in().await;
    let reply = demo.session(&host, &[("cookie", &cookie)]).await;
    assert_eq!(reply.json(), signed_in_as_ada(&host));

    // On localhost, the 127.0.0.1 origin is a different origin.
    let ip_origin = format!("http://{}", demo.ip_host());
    let reply = demo.logout(&host, &cookie, &ip_origin).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let origin = format!("http://{host}");
    let reply = demo.logout(&host, &cookie, &origin).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(
        demo.session(&host, &[("cookie", &cookie)]).await.json(),
        signed_out()
    );
}

#[tokio::test]
async fn the_token_authenticates_and_its_logout_is_a_no_op() {
    let demo = start().await;
    let host = demo.ip_host();
    let bearer = format!("Bearer {TOKEN}");
    let expected = json!({
        "auth": { "authenticated": true, "method": "token-auth" },
        "user": { "userId": "demo-client", "name": "Demo API client", "email": null, "image": null },
        "tunnel": { "host": host, "workspaceId": "demo-workspace", "projectId": "demo-project" },
        "policies": ["token-auth", "rstream-auth"]
    });
    assert_eq!(
        demo.session(&host, &[("authorization", &bearer)])
            .await
            .json(),
        expected
    );
    // The query parameter, for clients that cannot set headers.
    let by_query = demo
        .send(
            Method::GET,
            &format!("{SESSION}?rstream.token={TOKEN}"),
            &host,
            &[],
        )
        .await;
    assert_eq!(by_query.json(), expected);
    // A wrong token is not an identity.
    let wrong = demo
        .session(&host, &[("authorization", "Bearer not-the-demo-token")])
        .await;
    assert_eq!(wrong.json(), signed_out());

    let reply = demo
        .send(Method::POST, LOGOUT, &host, &[("authorization", &bearer)])
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.set_cookies().is_empty());
    assert_eq!(
        demo.session(&host, &[("authorization", &bearer)])
            .await
            .json(),
        expected
    );
}

#[tokio::test]
async fn a_cross_site_sign_in_post_is_refused() {
    let demo = start().await;
    let reply = demo
        .send(
            Method::POST,
            "/demo/login",
            &demo.ip_host(),
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.set_cookies().is_empty());
    // Both of the demo's own origins may sign in.
    for host in [demo.ip_host(), demo.localhost()] {
        let origin = format!("http://{host}");
        let reply = demo
            .send(Method::POST, "/demo/login", &host, &[("origin", &origin)])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{host}");
    }
}

#[tokio::test]
async fn every_sign_in_gets_a_fresh_session() {
    let demo = start().await;
    let first = demo.sign_in().await;
    let second = demo.sign_in().await;
    assert_ne!(first, second);
    // Logging out one browser leaves the other signed in.
    let origin = format!("http://{}", demo.ip_host());
    let reply = demo.logout(&demo.ip_host(), &first, &origin).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        demo.session(&demo.ip_host(), &[("cookie", &second)])
            .await
            .json(),
        signed_in_as_ada(&demo.ip_host())
    );
}

#[tokio::test]
async fn serve_returns_once_shut_down() {
    let mut demo = start().await;
    assert_eq!(
        demo.session(&demo.ip_host(), &[]).await.status,
        StatusCode::OK
    );
    drop(demo.client);
    demo.stop.take().unwrap().send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(5), demo.task)
        .await
        .expect("serve stops after the shutdown signal")
        .unwrap();
    assert!(result.is_ok());
}

#[test]
fn the_banner_starts_with_the_address_and_token_lines() {
    let banner = demo::banner(41234, "abc.123");
    let mut lines = banner.lines();
    assert_eq!(lines.next(), Some("listening on http://127.0.0.1:41234"));
    assert_eq!(lines.next(), Some("demo token: abc.123"));
    assert!(banner.contains("Authorization: Bearer abc.123"));
    // Behind a load balancer: the first lines stay, the addresses to open
    // are the public ones (the demo's own is no tunnel then).
    let public = demo::banner_for(41234, "abc.123", Some("http://127.0.0.1:8080/"));
    let mut lines = public.lines();
    assert_eq!(lines.next(), Some("listening on http://127.0.0.1:41234"));
    assert_eq!(lines.next(), Some("demo token: abc.123"));
    assert!(public.contains("curl -s http://127.0.0.1:8080/.well-known/rstream/session"));
    assert!(!public.contains("41234/"), "{public}");
}

#[test]
fn the_token_comes_from_the_environment_or_is_random() {
    assert_eq!(
        demo::demo_token(Some("my-token".into())).unwrap(),
        "my-token"
    );
    let random = demo::demo_token(None).unwrap();
    assert_eq!(random.len(), 64);
    assert!(random.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(random, demo::demo_token(Some(String::new())).unwrap());
    // A token that cannot travel in a Bearer header is refused up front.
    assert!(demo::demo_token(Some("two words".into())).is_err());
}

#[tokio::test]
async fn whoami_shows_what_the_handler_received() {
    let demo = start().await;
    let host = demo.ip_host();
    let whoami = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let demo = &demo;
        let host = host.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let reply = demo.send(Method::GET, path, &host, &headers).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            assert_eq!(reply.headers["cache-control"], "no-store");
            reply.json()
        }
    };
    assert_eq!(
        whoami("/demo/whoami", vec![]).await,
        json!({"authenticated": false, "method": null, "userId": null, "uri": "/demo/whoami"})
    );
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        whoami("/demo/whoami?x=1", vec![("authorization", bearer)]).await,
        json!({"authenticated": true, "method": "token-auth", "userId": "demo-client", "uri": "/demo/whoami?x=1"})
    );
    // The token parameter authenticates and is gone before the handler.
    let path: &'static str =
        Box::leak(format!("/demo/whoami?a=%2F&rstream.token={TOKEN}&b").into_boxed_str());
    assert_eq!(
        whoami(path, vec![]).await,
        json!({"authenticated": true, "method": "token-auth", "userId": "demo-client", "uri": "/demo/whoami?a=%2F&b"})
    );
    let cookie = demo.sign_in().await;
    assert_eq!(
        whoami("/demo/whoami", vec![("cookie", cookie)]).await,
        json!({"authenticated": true, "method": "rstream-auth", "userId": "user-ada", "uri": "/demo/whoami"})
    );
    assert_eq!(
        whoami("/demo/whoami?rstream.token=wrong", vec![]).await,
        json!({"authenticated": false, "method": null, "userId": null, "uri": "/demo/whoami"})
    );
}

#[tokio::test]
async fn private_pages_require_authentication() {
    let demo = start().await;
    let host = demo.ip_host();
    let bearer = format!("Bearer {TOKEN}");
    let cookie = demo.sign_in().await;

    let reply = demo
        .send(
            Method::GET,
            "/demo/private/hello",
            &host,
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"userId": "demo-client"}));
    let reply = demo
        .send(
            Method::GET,
            "/demo/private/hello",
            &host,
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, json!({"userId": "user-ada"}))
    );

    // API clients without a credential, or with a bad one: 401.
    for (path, headers, reason) in [
        ("/demo/private/hello", vec![], "unauthenticated"),
        ("/demo/private/", vec![], "unauthenticated"),
        ("/demo/private", vec![], "unauthenticated"),
        ("/demo/private/anything/else", vec![], "unauthenticated"),
        (
            "/demo/private/hello",
            vec![("authorization", "Bearer wrong")],
            "invalid_token",
        ),
        ("/DEMO/Private/hello", vec![], "unauthenticated"),
        ("/demo/%70rivate/hello", vec![], "unauthenticated"),
        ("/demo/x/../private/hello", vec![], "unauthenticated"),
        ("/demo/x/..;/private/hello", vec![], "unauthenticated"),
        ("/demo%2Fprivate/hello", vec![], "unauthenticated"),
    ] {
        let reply = demo.send(Method::GET, path, &host, &headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(reply.json(), json!({"error": reason}), "{path}");
    }
    let reply = demo
        .send(
            Method::POST,
            "/demo/private/hello",
            &host,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // A browser goes to the page to sign in, and comes back after.
    let accept = "text/html,application/xhtml+xml,*/*;q=0.8";
    let reply = demo
        .send(
            Method::GET,
            "/demo/private/hello?lang=en",
            &host,
            &[("accept", accept)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let location = reply.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/?return_to=/demo/private/hello%3Flang%3Den");
    let page = demo
        .send(Method::GET, &location, &host, &[("accept", accept)])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let origin = format!("http://{host}");
    let login = format!(
        "/demo/login?return_to={}",
        "%2Fdemo%2Fprivate%2Fhello%3Flang%3Den"
    );
    let reply = demo
        .send(Method::POST, &login, &host, &[("origin", &origin)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], "/demo/private/hello?lang=en");
    let cookie = cookie_pair(reply.set_cookies()[0]).to_owned();
    let reply = demo
        .send(
            Method::GET,
            "/demo/private/hello?lang=en",
            &host,
            &[("accept", accept), ("cookie", &cookie)],
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, json!({"userId": "user-ada"}))
    );

    // Sign-in never sends a browser anywhere else.
    for evil in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "%2F%252F%2Fevil",
    ] {
        let login = format!("/demo/login?return_to={evil}");
        let reply = demo
            .send(Method::POST, &login, &host, &[("origin", &origin)])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(reply.headers["location"], "/", "{evil}");
    }
}

#[tokio::test]
async fn sign_in_uses_the_same_cross_site_rule_as_logout() {
    let demo = start().await;
    let host = demo.ip_host();
    for (headers, reason) in [
        (
            vec![("sec-fetch-site", "same-site")],
            "cross_origin_request",
        ),
        (
            vec![("sec-fetch-site", "cross-site")],
            "cross_origin_request",
        ),
        (vec![("referer", "http://evil.example/")], "origin_mismatch"),
        (vec![("origin", "null")], "origin_mismatch"),
    ] {
        let reply = demo
            .send(Method::POST, "/demo/login", &host, &headers)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.json(), json!({"error": reason}));
        assert!(reply.set_cookies().is_empty());
    }
    let reply = demo
        .send(
            Method::POST,
            "/demo/login",
            &host,
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

/// The JWT secret the JWT tests start the demo with.
const JWT_SECRET: &str = "demo-test-secret-of-at-least-32-bytes";

/// An HS256 JWT signed with `secret`, with `claims`.
fn jwt(secret: &[u8], claims: &Value) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    use hmac::{KeyInit as _, Mac as _};
    let b64 = |bytes: &[u8]| Base64UrlUnpadded::encode_string(bytes);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn grace_claims(exp_in: i64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    json!({
        "sub": "user-grace",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "picture": "https://example.com/grace.png",
        "exp": now + exp_in,
    })
}

/// A demo started with `DEMO_JWT_SECRET`.
async fn start_with_jwt() -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let tokens = demo::DemoTokens {
        token: TOKEN.to_owned(),
        jwt_secret: demo::jwt_secret(Some(JWT_SECRET.to_owned())),
    };
    let task = tokio::spawn(demo::serve(listener, tokens, async {
        let _ = stopped.await;
    }));
    Running {
        port,
        client: Client::builder(TokioExecutor::new()).build_http(),
        stop: Some(stop),
        task,
    }
}

#[tokio::test]
async fn with_a_jwt_secret_signed_jwts_authenticate_besides_the_token() {
    let demo = start_with_jwt().await;
    let host = demo.ip_host();
    let token = jwt(JWT_SECRET.as_bytes(), &grace_claims(300));
    let reply = demo
        .session(&host, &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(
        reply.json(),
        json!({
            "auth": { "authenticated": true, "method": "token-auth" },
            "user": {
                "userId": "user-grace",
                "name": "Grace Hopper",
                "email": "grace@example.com",
                "image": "https://example.com/grace.png"
            },
            "tunnel": { "host": host, "workspaceId": "demo-workspace", "projectId": "demo-project" },
            "policies": ["token-auth", "rstream-auth"]
        })
    );
    // The printed token still works.
    let reply = demo
        .session(&host, &[("authorization", &format!("Bearer {TOKEN}"))])
        .await;
    assert_eq!(reply.json()["user"]["userId"], "demo-client");

    // Another secret's signature, an expired token, a token without `exp`:
    // not authenticated.
    let other = jwt(b"another secret, also 32 bytes long!!", &grace_claims(300));
    let expired = jwt(JWT_SECRET.as_bytes(), &grace_claims(-3600));
    let mut no_exp = grace_claims(300);
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = jwt(JWT_SECRET.as_bytes(), &no_exp);
    for token in [other, expired, no_exp] {
        let reply = demo
            .session(&host, &[("authorization", &format!("Bearer {token}"))])
            .await;
        assert_eq!(reply.json(), signed_out());
    }
}

#[tokio::test]
async fn without_a_jwt_secret_jwts_are_not_accepted() {
    let demo = start().await;
    let token = jwt(JWT_SECRET.as_bytes(), &grace_claims(300));
    let reply = demo
        .session(
            &demo.ip_host(),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(reply.json(), signed_out());
}

#[test]
fn the_jwt_secret_is_checked_and_the_verifiers_are_named() {
    assert_eq!(demo::jwt_secret(Some(String::new())), None);
    assert_eq!(demo::jwt_secret(None), None);
    let short = demo::DemoTokens {
        token: TOKEN.to_owned(),
        jwt_secret: Some("too short".to_owned()),
    };
    let error = short.verifier().unwrap_err().to_string();
    assert!(
        error.contains("DEMO_JWT_SECRET") && error.contains("32 bytes"),
        "{error}"
    );
    assert!(!error.contains("too short"));
    let with = demo::DemoTokens {
        token: TOKEN.to_owned(),
        jwt_secret: Some(JWT_SECRET.to_owned()),
    };
    assert_eq!(with.verifier().unwrap().len(), 2);
    assert!(with.describe().contains("HS256 JWTs"));
    let without = demo::DemoTokens::from(TOKEN.to_owned());
    assert_eq!(without.verifier().unwrap().len(), 1);
    assert!(!without.describe().contains("HS256 JWTs ("));
}

#[test]
fn openid_connect_in_the_demo_needs_an_issuer_and_a_client_id() {
    assert!(demo::demo_oidc(None, None, None, None).unwrap().is_none());
    assert!(
        demo::demo_oidc(Some(String::new()), Some("demo".into()), None, None)
            .unwrap()
            .is_none()
    );
    assert!(demo::demo_oidc(Some("http://127.0.0.1:9".into()), None, None, None).is_err());
    let oidc = demo::demo_oidc(
        Some("http://127.0.0.1:9".into()),
        Some("demo".into()),
        Some(String::new()),
        Some(String::new()),
    )
    .unwrap()
    .unwrap();
    assert_eq!(oidc.client_id, "demo");
    assert_eq!(
        oidc.client_secret, None,
        "an empty secret is a public client"
    );
    assert_eq!(oidc.flow_key, None, "an empty key is a random one");
}

#[test]
fn the_demos_flow_key_is_64_hex_digits_and_a_bad_one_says_why() {
    let with = |key: &str| {
        demo::demo_oidc(
            Some("http://127.0.0.1:9".into()),
            Some("demo".into()),
            None,
            Some(key.to_owned()),
        )
    };
    let key = "0123456789abcdefABCDEF".repeat(3)[..64].to_owned();
    assert_eq!(with(&key).unwrap().unwrap().flow_key, Some(key));
    let short = with("abcd").unwrap_err().to_string();
    assert!(
        short.contains("DEMO_OIDC_FLOW_KEY") && short.contains("64"),
        "{short}"
    );
    let not_hex = with(&"g".repeat(64)).unwrap_err().to_string();
    assert!(not_hex.contains("DEMO_OIDC_FLOW_KEY"), "{not_hex}");
}

#[test]
fn the_demos_public_url_becomes_its_only_tunnel() {
    assert_eq!(
        demo::tunnel_origins(3000, None).unwrap(),
        ["http://127.0.0.1:3000", "http://localhost:3000"]
    );
    assert_eq!(
        demo::tunnel_origins(3000, Some("http://127.0.0.1:8080/")).unwrap(),
        ["http://127.0.0.1:8080"]
    );
    assert_eq!(
        demo::tunnel_origins(3000, Some("https://app.example.com")).unwrap(),
        ["https://app.example.com"]
    );
    for bad in [
        "127.0.0.1:8080",
        "ftp://x",
        "http://x/path",
        "http://",
        "http://u@x",
    ] {
        let error = demo::tunnel_origins(3000, Some(bad))
            .unwrap_err()
            .to_string();
        assert!(error.contains("DEMO_PUBLIC_URL"), "{bad}: {error}");
    }
}
