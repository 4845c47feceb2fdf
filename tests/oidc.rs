//! OpenID Connect sign-in (feature `oidc`) against a real provider:
//! `oidc-provider` on Node, started per test on a free loopback port (see
//! `tests/oidc_provider`). The app is a development tunnel on
//! `localhost:18080`; nothing listens there, the tests hand the provider's
//! redirects to the layers in-process.

mod jwt_mint;
mod oidc_provider;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use oidc_provider::{Browser, CLIENT_ID, Options, Provider};
use rstream_well_known::http_client::{HttpClient, HttpError, HttpFuture, HyperClient};
use rstream_well_known::oidc::{FlowKey, OidcConfig, OidcConfigError, OidcLayer, UserRefused};
use rstream_well_known::{MemoryStore, Paths, User, WellKnownLayer};
use tower::{ServiceBuilder, ServiceExt as _};

const APP: &str = "localhost:18080";
const ORIGIN: &str = "http://localhost:18080";
const CALLBACK: &str = "http://localhost:18080/_rstream/oidc/callback";
const SESSION: &str = "/.well-known/rstream/session";

struct Rig {
    provider: Provider,
    oidc: OidcLayer,
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn location(&self) -> &str {
        self.header("location").expect("a Location")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON: {}", self.body))
    }

    /// The `name=value` pair of the cookie set as `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_owned())
    }

    /// The `Cookie` header of a browser that sent `cookies` and got this
    /// answer: its `Set-Cookie`s applied (`Max-Age=0` removes a cookie).
    fn cookies_after(&self, cookies: Option<&str>) -> String {
        let mut jar: Vec<(String, String)> = cookies
            .unwrap_or_default()
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for set in self.headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            jar.retain(|(k, _)| k != name);
            if !attributes.contains("Max-Age=0") {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The names of the cookies this answer removes.
    fn removed_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .filter(|v| v.contains("Max-Age=0"))
            .map(|v| v.split('=').next().unwrap().to_owned())
            .collect()
    }

    /// A refusal: `status`, `no-store`, `{"error": reason}`.
    #[track_caller]
    fn assert_refused(&self, status: u16, reason: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.json()["error"], reason);
    }
}

fn options() -> Options {
    Options {
        redirect_uris: vec![CALLBACK.to_owned()],
        post_logout_redirect_uris: vec![format!("{ORIGIN}/")],
        ..Options::default()
    }
}

fn rig_with(
    what: &str,
    options: Options,
    configure: impl FnOnce(OidcConfig) -> OidcConfig,
    well_known: impl FnOnce(
        rstream_well_known::WellKnownBuilder,
    ) -> rstream_well_known::WellKnownBuilder,
) -> Option<Rig> {
    rig_with_client(
        what,
        options,
        configure,
        well_known,
        HyperClient::new().unwrap(),
    )
}

fn rig_with_client(
    what: &str,
    options: Options,
    configure: impl FnOnce(OidcConfig) -> OidcConfig,
    well_known: impl FnOnce(
        rstream_well_known::WellKnownBuilder,
    ) -> rstream_well_known::WellKnownBuilder,
    http: impl HttpClient,
) -> Option<Rig> {
    let provider = Provider::start(what, options)?;
    let mut config = OidcConfig::new(provider.issuer.clone(), CLIENT_ID);
    if let Some(secret) = &provider.options.client_secret {
        config = config.client_secret(secret.clone());
    }
    let oidc = configure(config)
        .layer(
            well_known(WellKnownLayer::builder().development_tunnel(18080))
                .with_session_store(MemoryStore::new()),
            http,
        )
        .unwrap();
    Some(Rig { provider, oidc })
}

/// Sends `request` through `oidc` and an app that answers `app`.
async fn send_via(oidc: &OidcLayer, request: Request<Full<Bytes>>) -> Answer {
    let app = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"app"))))
    });
    let service = ServiceBuilder::new().layer(oidc.clone()).service(app);
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Another instance of the app for the provider at `issuer`: its own
/// layers and store, sealing sign-ins with `key` (a random key of its own
/// without).
fn instance(issuer: &str, key: Option<FlowKey>) -> OidcLayer {
    OidcConfig::new(issuer, CLIENT_ID)
        .flow_keys(key)
        .layer(
            WellKnownLayer::builder()
                .development_tunnel(18080)
                .with_session_store(MemoryStore::new()),
            HyperClient::new().unwrap(),
        )
        .unwrap()
}

/// The provider's redirect back, with the browser's `cookies`.
fn callback_request(back: &str, cookies: &str) -> Request<Full<Bytes>> {
    Request::get(back.strip_prefix(ORIGIN).unwrap())
        .header("host", APP)
        .header("cookie", cookies)
        .body(Full::default())
        .unwrap()
}

fn rig(what: &str) -> Option<Rig> {
    rig_with(what, options(), |c| c, |b| b)
}

impl Rig {
    /// Sends `request` through the sign-in layer, the well-known layer and
    /// an app that answers `app`.
    async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        send_via(&self.oidc, request).await
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = Request::get(path).header("host", APP);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request.body(Full::default()).unwrap()).await
    }

    /// The user the session endpoint reports for `cookie`.
    async fn user(&self, cookie: &str) -> Option<String> {
        let json = self.get(SESSION, Some(cookie)).await.json();
        json["user"]["userId"].as_str().map(str::to_owned)
    }

    /// Starts a sign-in in a browser holding `cookie`: the authorization
    /// URL and the browser's cookies after (its binding and its pending
    /// sign-ins among them).
    async fn start(&self, return_to: &str, cookie: Option<&str>) -> (String, String) {
        let path = format!(
            "/_rstream/oidc/start?return_to={}",
            url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
        );
        let answer = self.get(&path, cookie).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert!(
            answer.set_cookie("rstream_oidc").is_some(),
            "the binding cookie"
        );
        (answer.location().to_owned(), answer.cookies_after(cookie))
    }

    /// Hands the provider's redirect back to the app.
    async fn callback(&self, back: &str, cookie: Option<&str>) -> Answer {
        let path = back
            .strip_prefix(ORIGIN)
            .expect("back to the tunnel's origin");
        self.get(path, cookie).await
    }

    /// A whole sign-in as `login`: the callback's answer.
    async fn sign_in(&self, browser: &mut Browser, login: &str, return_to: &str) -> Answer {
        let (authorize, binding) = self.start(return_to, None).await;
        let back = browser.sign_in(&authorize, login, "login").await;
        self.callback(&back, Some(&binding)).await
    }
}

fn param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

fn without_param(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[tokio::test]
async fn a_full_sign_in_ends_in_a_session_with_the_providers_profile() {
    let Some(rig) = rig("oidc: full sign-in") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    // Forwarding headers change nothing: redirect_uri is the tunnel's.
    let request = Request::get("/_rstream/oidc/start?return_to=%2Forders%3Fpage%3D2")
        .header("host", APP)
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https")
        .body(Full::default())
        .unwrap();
    let started = rig.send(request).await;
    assert_eq!(started.status, 303);
    let authorize = started.location().to_owned();
    assert!(authorize.starts_with(&format!("{}/auth?", rig.provider.issuer)));
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&authorize, "redirect_uri").as_deref(), Some(CALLBACK));
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(param(&authorize, "code_challenge").unwrap().len(), 43);
    // 256-bit state and nonce.
    assert_eq!(param(&authorize, "state").unwrap().len(), 43);
    assert_eq!(param(&authorize, "nonce").unwrap().len(), 43);
    let scope = param(&authorize, "scope").unwrap();
    assert!(scope.split(' ').any(|s| s == "openid"), "{scope}");
    let binding_header = started
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("rstream_oidc="))
        .unwrap();
    assert!(binding_header.contains("HttpOnly"), "{binding_header}");
    assert!(binding_header.contains("SameSite=Lax"), "{binding_header}");
    let binding = binding_header.split(';').next().unwrap().to_owned();
    assert_eq!(binding.len(), "rstream_oidc=".len() + 43);

    let back = browser.sign_in(&authorize, "alice", "login").await;
    assert!(back.starts_with(CALLBACK), "{back}");
    assert_eq!(
        param(&back, "iss").as_deref(),
        Some(rig.provider.issuer.as_str())
    );
    let answer = rig
        .callback(&back, Some(&started.cookies_after(None)))
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/orders?page=2");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let session = answer
        .set_cookie("rstream_session")
        .expect("a session cookie");

    let me = rig.get(SESSION, Some(&session)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let json = me.json();
    assert_eq!(json["auth"]["method"], "rstream-auth");
    assert_eq!(json["user"]["userId"], "alice");
    assert_eq!(json["user"]["name"], "Alice Liddell");
    assert_eq!(json["user"]["email"], "alice@example.com");
    assert_eq!(json["user"]["image"], "https://example.com/alice.png");
    assert!(
        !me.body.contains("oidcIdToken"),
        "the ID token is not answered"
    );
    // The pending sign-in is used up: its cookie goes.
    let state = param(&authorize, "state").unwrap();
    assert_eq!(
        answer.removed_cookies(),
        [format!("rstream_oidc_{}", &state[..16])]
    );
    // Nothing of it stays on the server: the same callback with the cookie
    // still there works on another layer built the same way.
    let flow_cookie = started
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("rstream_oidc_"))
        .unwrap();
    assert!(flow_cookie.contains("HttpOnly"), "{flow_cookie}");
    assert!(flow_cookie.contains("SameSite=Lax"), "{flow_cookie}");
    assert!(flow_cookie.contains("Max-Age=600"), "{flow_cookie}");
    assert!(flow_cookie.len() < 1024, "{} bytes", flow_cookie.len());
}

#[tokio::test]
async fn a_confidential_client_signs_in_with_its_secret() {
    let options = Options {
        client_secret: Some("a-test-secret-of-enough-length".to_owned()),
        ..options()
    };
    let Some(rig) = rig_with("oidc: confidential client", options, |c| c, |b| b) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "alice", "/").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/");
}

#[tokio::test]
async fn claims_map_to_the_user_unverified_email_is_dropped() {
    let Some(rig) = rig("oidc: claims") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "bob", "/").await;
    let session = answer.set_cookie("rstream_session").unwrap();
    let json = rig.get(SESSION, Some(&session)).await.json();
    assert_eq!(json["user"]["userId"], "bob");
    // No `name`: `preferred_username`.
    assert_eq!(json["user"]["name"], "bob");
    // `email_verified` is false.
    assert!(
        json["user"]
            .get("email")
            .is_none_or(serde_json::Value::is_null),
        "{json}"
    );
}

#[tokio::test]
async fn user_ids_can_be_namespaced_and_the_app_maps_or_refuses_users() {
    let Some(rig) = rig_with(
        "oidc: map_user",
        options(),
        |c| {
            c.namespace_user_ids(true).map_user(|claims, user: User| {
                let staff = claims
                    .claim("groups")
                    .and_then(|g| g.as_array())
                    .is_some_and(|g| g.iter().any(|g| g == "staff"));
                if staff {
                    Ok(user.with_attribute("role", "staff"))
                } else {
                    Err(UserRefused::new("not staff"))
                }
            })
        },
        |b| b,
    ) else {
        return;
    };
    let mut alice = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut alice, "alice", "/").await;
    let session = answer.set_cookie("rstream_session").unwrap();
    let json = rig.get(SESSION, Some(&session)).await.json();
    assert_eq!(
        json["user"]["userId"],
        format!("{}#alice", rig.provider.issuer)
    );
    let mut bob = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut bob, "bob", "/").await;
    answer.assert_refused(403, "not_staff");
    assert!(answer.set_cookie("rstream_session").is_none());
}

#[tokio::test]
async fn state_is_single_use_and_bound_to_the_browser() {
    let Some(rig) = rig("oidc: state") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, cookies) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;

    // Another browser cannot use this callback: it holds no such sign-in.
    let (_, other) = rig.start("/", None).await;
    assert_ne!(other, cookies);
    rig.callback(&back, Some(&other))
        .await
        .assert_refused(400, "unknown_state");
    // Nor with the pending sign-in's cookie copied over: it is bound to the
    // first browser's binding.
    let state = param(&back, "state").unwrap();
    let flow_name = format!("rstream_oidc_{}", &state[..16]);
    let flow_pair = cookies
        .split("; ")
        .find(|pair| pair.starts_with(&format!("{flow_name}=")))
        .unwrap();
    rig.callback(&back, Some(&format!("{other}; {flow_pair}")))
        .await
        .assert_refused(403, "browser_mismatch");
    // Without any binding.
    rig.callback(&back, Some(flow_pair))
        .await
        .assert_refused(403, "missing_browser_binding");
    // Two binding values (one planted): refused.
    let planted = format!("{cookies}; rstream_oidc=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    rig.callback(&back, Some(&planted))
        .await
        .assert_refused(403, "browser_mismatch");

    // A state never issued, and none at all.
    let forged = with_param(&back, "state", "x".repeat(43).as_str());
    rig.callback(&forged, Some(&cookies))
        .await
        .assert_refused(400, "unknown_state");
    let stateless = without_param(&back, "state");
    rig.callback(&stateless, Some(&cookies))
        .await
        .assert_refused(400, "missing_state");

    // The first browser finishes; the callback consumes the sign-in, so a
    // replay in the same browser is refused.
    let done = rig.callback(&back, Some(&cookies)).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = done.cookies_after(Some(&cookies));
    assert!(!after.contains(&flow_name), "{after}");
    rig.callback(&back, Some(&after))
        .await
        .assert_refused(400, "unknown_state");
    // A refused callback consumes it too.
    let (authorize, cookies) = rig.start("/", Some(&after)).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let refused = rig
        .callback(
            &with_param(&back, "iss", "https://attacker.example"),
            Some(&cookies),
        )
        .await;
    refused.assert_refused(400, "issuer_mismatch");
    rig.callback(&back, Some(&refused.cookies_after(Some(&cookies))))
        .await
        .assert_refused(400, "unknown_state");
}

#[tokio::test]
async fn a_sign_in_finishes_on_any_instance_with_the_same_flow_key() {
    let key = FlowKey::from_hex(&"42".repeat(32)).unwrap();
    let Some(rig) = rig_with(
        "oidc: any instance",
        options(),
        |c| c.flow_keys([key.clone()]),
        |b| b,
    ) else {
        return;
    };
    // A second instance: its own layers and store, configured the same way.
    let oidc = instance(&rig.provider.issuer, Some(key.clone()));
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, cookies) = rig.start("/two", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let answer = send_via(&oidc, callback_request(&back, &cookies)).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/two");
    let session = answer.set_cookie("rstream_session").unwrap();
    let me = send_via(
        &oidc,
        Request::get(SESSION)
            .header("host", APP)
            .header("cookie", &session)
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(me.json()["user"]["userId"], "alice");

    // An instance with another key cannot open it, and says so.
    let (authorize, cookies) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let oidc = instance(
        &rig.provider.issuer,
        Some(FlowKey::from_hex(&"17".repeat(32)).unwrap()),
    );
    let answer = send_via(&oidc, callback_request(&back, &cookies)).await;
    answer.assert_refused(400, "flow_cookie_unknown_key");
    assert!(answer.set_cookie("rstream_session").is_none());
    // A restarted instance without a configured key is such an instance:
    // its random key is new.
    let (authorize, cookies) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let restarted = instance(&rig.provider.issuer, None);
    let answer = send_via(&restarted, callback_request(&back, &cookies)).await;
    answer.assert_refused(400, "flow_cookie_unknown_key");
}

#[tokio::test]
async fn a_damaged_flow_cookie_is_refused_with_what_happened_to_it() {
    let Some(rig) = rig("oidc: damaged flow cookies") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, cookies) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let state = param(&back, "state").unwrap();
    let flow_name = format!("rstream_oidc_{}", &state[..16]);
    let value = cookies
        .split("; ")
        .find_map(|pair| pair.strip_prefix(&format!("{flow_name}=")))
        .unwrap()
        .to_owned();
    let with_value = |v: &str| cookies.replace(&value, v);
    // One character changed in the middle of the sealed text.
    let mut tampered = value.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (cookie, reason) in [
        (with_value(&tampered), "flow_cookie_tampered"),
        (
            with_value(&value[..value.len() - 10]),
            "flow_cookie_truncated",
        ),
        (with_value("%%%"), "flow_cookie_malformed"),
    ] {
        let answer = rig.callback(&back, Some(&cookie)).await;
        answer.assert_refused(400, reason);
        assert!(answer.set_cookie("rstream_session").is_none(), "{reason}");
        assert_eq!(
            answer.removed_cookies(),
            std::slice::from_ref(&flow_name),
            "{reason}"
        );
    }
    // The intact cookie still works: nothing was consumed on the server.
    let answer = rig.callback(&back, Some(&cookies)).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}

#[tokio::test]
async fn a_browser_navigation_that_fails_gets_a_page_api_clients_json() {
    let Some(rig) = rig("oidc: failure pages") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, cookies) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "cancel").await;
    let path = back.strip_prefix(ORIGIN).unwrap().to_owned();
    let navigate = |path: &str, cookies: &str| {
        Request::get(path)
            .header("host", APP)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("cookie", cookies)
            .body(Full::default())
            .unwrap()
    };
    let page = rig.send(navigate(&path, &cookies)).await;
    assert_eq!(page.status, 403);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(page.body.contains("did not sign you in"), "{}", page.body);
    assert!(
        page.body.contains("provider_error_access_denied"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"href="/_rstream/oidc/start""#),
        "{}",
        page.body
    );
    // No secret on the page: not the code, the state or a cookie value.
    let state = param(&back, "state").unwrap();
    assert!(!page.body.contains(&state));
    for pair in cookies.split("; ") {
        let value = pair.split_once('=').unwrap().1;
        assert!(!page.body.contains(value), "a cookie value is shown");
    }
    // An expired or consumed sign-in: a page too, that says so.
    let again = rig
        .send(navigate(&path, &page.cookies_after(Some(&cookies))))
        .await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("already used"), "{}", again.body);
    // What is shown is escaped: the retry link of a start keeps its query,
    // as HTML.
    let request = Request::get("/_rstream/oidc/start?return_to=%2Fa&x=1")
        .header("host", "unknown.example")
        .header("accept", "text/html")
        .body(Full::default())
        .unwrap();
    let refused = rig.send(request).await;
    assert_eq!(
        refused.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        refused
            .body
            .contains(r#"href="/_rstream/oidc/start?return_to=%2Fa&amp;x=1""#),
        "{}",
        refused.body
    );
    // An API client keeps the JSON answer.
    rig.callback(&back, Some(&cookies))
        .await
        .assert_refused(403, "provider_error_access_denied");
}

#[tokio::test]
async fn a_code_cannot_be_replayed_under_a_fresh_state() {
    let Some(rig) = rig("oidc: code replay") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    assert_eq!(rig.callback(&back, Some(&binding)).await.status, 303);
    let (authorize2, binding) = rig.start("/", Some(&binding)).await;
    let state2 = param(&authorize2, "state").unwrap();
    let replay = with_param(&back, "state", &state2);
    rig.callback(&replay, Some(&binding))
        .await
        .assert_refused(502, "token_exchange_failed");
}

#[tokio::test]
async fn parallel_sign_ins_in_several_tabs_work() {
    let Some(rig) = rig("oidc: tabs") else { return };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (first, cookies) = rig.start("/one", None).await;
    let (second, binding) = rig.start("/two", Some(&cookies)).await;
    let binding_of = |cookies: &str| {
        cookies
            .split("; ")
            .find(|pair| pair.starts_with("rstream_oidc="))
            .unwrap()
            .to_owned()
    };
    assert_eq!(binding_of(&binding), binding_of(&cookies), "one binding");
    let back_first = browser.sign_in(&first, "alice", "login").await;
    let back_second = browser.sign_in(&second, "alice", "login").await;
    let two = rig.callback(&back_second, Some(&binding)).await;
    assert_eq!(two.location(), "/two");
    let one = rig.callback(&back_first, Some(&binding)).await;
    assert_eq!(one.location(), "/one");
}

#[tokio::test]
async fn pending_flows_are_capped_per_browser_and_a_flood_of_starts_locks_nobody_out() {
    let Some(rig) = rig_with(
        "oidc: caps",
        options(),
        |c| c.max_pending_per_browser(2),
        |b| b,
    ) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (oldest, cookies) = rig.start("/", None).await;
    let (_, cookies) = rig.start("/", Some(&cookies)).await;
    let (newest, cookies) = rig.start("/", Some(&cookies)).await;
    let pending = cookies
        .split("; ")
        .filter(|pair| pair.starts_with("rstream_oidc_"))
        .count();
    assert_eq!(pending, 2, "the browser's oldest flow went: {cookies}");
    let back = browser.sign_in(&oldest, "alice", "login").await;
    rig.callback(&back, Some(&cookies))
        .await
        .assert_refused(400, "unknown_state");
    let back = browser.sign_in(&newest, "alice", "login").await;
    let answer = rig.callback(&back, Some(&cookies)).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    // Review finding O1: 10,000 starts without cookies keep nothing on the
    // server, so they lock nobody out.
    for _ in 0..10_000 {
        let answer = rig.get("/_rstream/oidc/start", None).await;
        assert_eq!(answer.status, 303);
    }
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "alice", "/after").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/after");
}

#[tokio::test]
async fn pending_flows_expire() {
    let Some(rig) = rig_with(
        "oidc: expiry",
        options(),
        |c| c.flow_ttl(Duration::from_millis(300)),
        |b| b,
    ) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    rig.callback(&back, Some(&binding))
        .await
        .assert_refused(400, "sign_in_expired");
}

#[tokio::test]
async fn the_authorization_responses_issuer_is_checked() {
    let Some(rig) = rig("oidc: iss") else { return };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let mixed_up = with_param(&back, "iss", "https://attacker.example");
    rig.callback(&mixed_up, Some(&binding))
        .await
        .assert_refused(400, "issuer_mismatch");
    // The provider advertises the parameter: its absence is refused.
    let (authorize, binding) = rig.start("/", Some(&binding)).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    rig.callback(&without_param(&back, "iss"), Some(&binding))
        .await
        .assert_refused(400, "missing_issuer");
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let Some(rig) = rig("oidc: nonce") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, binding) = rig.start("/", None).await;
    // The provider is asked for another nonce than the flow recorded.
    let tampered = with_param(&authorize, "nonce", &"n".repeat(43));
    let back = browser.sign_in(&tampered, "alice", "login").await;
    let answer = rig.callback(&back, Some(&binding)).await;
    answer.assert_refused(502, "invalid_nonce");
    assert!(answer.set_cookie("rstream_session").is_none());
}

#[tokio::test]
async fn provider_errors_end_on_a_clear_refusal() {
    let Some(rig) = rig("oidc: provider error") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "cancel").await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    rig.callback(&back, Some(&binding))
        .await
        .assert_refused(403, "provider_error_access_denied");
}

/// Return paths that must not lead off the tunnel: each ends on `/`.
const OPEN_REDIRECTS: &[&str] = &[
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F/evil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%252F/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/ /evil.example",
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%EF%BC%8Fevil.example",
    "/../evil.example",
    "/./../evil.example",
    "https://evil.example/",
    "http://localhost:18080@evil.example/",
    "//localhost:18080@evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "evil.example",
    "",
];

#[tokio::test]
async fn return_paths_cannot_leave_the_tunnel() {
    let Some(rig) = rig("oidc: open redirects") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    for candidate in OPEN_REDIRECTS {
        let (authorize, binding) = rig.start(candidate, None).await;
        let back = browser.sign_in(&authorize, "alice", "login").await;
        let answer = rig.callback(&back, Some(&binding)).await;
        assert_eq!(answer.status, 303, "{candidate:?}: {}", answer.body);
        assert_eq!(answer.location(), "/", "{candidate:?}");
    }
    // And a good one is kept.
    let answer = rig.sign_in(&mut browser, "alice", "/a/b?c=d").await;
    assert_eq!(answer.location(), "/a/b?c=d");
}

#[tokio::test]
async fn sign_in_revokes_the_presented_session_and_mints_a_fresh_one() {
    let Some(rig) = rig("oidc: fixation") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let planted = rig
        .oidc
        .session_manager()
        .sign_in(User::new("mallory"))
        .await
        .unwrap();
    let planted = planted
        .set_cookie()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(rig.user(&planted).await.as_deref(), Some("mallory"));
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let answer = rig
        .callback(&back, Some(&format!("{binding}; {planted}")))
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let fresh = answer.set_cookie("rstream_session").unwrap();
    assert_ne!(fresh, planted);
    assert_eq!(
        rig.user(&planted).await,
        None,
        "the presented session is revoked"
    );
    assert_eq!(
        rig.get(SESSION, Some(&fresh)).await.json()["user"]["userId"],
        "alice"
    );

    // More session cookies than can be revoked: no sign-in at all, so no
    // planted session stays live beside a fresh one.
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let mut cookies = format!("{binding}; {planted2}", planted2 = planted.clone());
    for n in 0..17 {
        cookies.push_str(&format!("; rstream_session=junk-value-{n}"));
    }
    let answer = rig.callback(&back, Some(&cookies)).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("too_many_session_cookies"),
        "{}",
        answer.body
    );
    assert!(answer.set_cookie("rstream_session").is_none());
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_refetches_are_rate_limited() {
    let Some(mut rig) = rig_with(
        "oidc: key rotation",
        options(),
        |c| c.key_refresh_interval(Duration::ZERO),
        |b| b,
    ) else {
        return;
    };
    rig.oidc.discover().await.unwrap();
    // A new provider process on the same port: a new signing key.
    rig.provider = rig.provider.restart();
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "alice", "/").await;
    assert_eq!(answer.status, 303, "{}", answer.body);

    // With a long interval, the key set is not fetched again so soon.
    let Some(mut rig) = rig_with(
        "oidc: key rotation (rate limit)",
        options(),
        |c| c.key_refresh_interval(Duration::from_secs(3600)),
        |b| b,
    ) else {
        return;
    };
    rig.oidc.discover().await.unwrap();
    rig.provider = rig.provider.restart();
    let mut browser = Browser::new(&rig.provider.issuer);
    rig.sign_in(&mut browser, "alice", "/")
        .await
        .assert_refused(502, "unknown_signing_key");
}

#[tokio::test]
async fn sign_out_is_post_only_checks_the_origin_and_reaches_the_end_session_endpoint() {
    let Some(rig) = rig("oidc: sign-out") else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let session = rig
        .sign_in(&mut browser, "alice", "/")
        .await
        .set_cookie("rstream_session")
        .unwrap();

    let get = rig.get("/_rstream/oidc/sign-out", Some(&session)).await;
    get.assert_refused(405, "method_not_allowed");
    assert_eq!(get.header("allow"), Some("POST"));
    assert!(rig.user(&session).await.is_some(), "a GET signs nobody out");

    let post = |origin: &'static str| {
        Request::post("/_rstream/oidc/sign-out")
            .header("host", APP)
            .header("origin", origin)
            .header("cookie", session.clone())
            .body(Full::default())
            .unwrap()
    };
    rig.send(post("https://evil.example"))
        .await
        .assert_refused(403, "origin_mismatch");
    assert!(rig.user(&session).await.is_some());

    let answer = rig.send(post(ORIGIN)).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let end = answer.location().to_owned();
    assert!(
        end.starts_with(&format!("{}/session/end?", rig.provider.issuer)),
        "{end}"
    );
    assert_eq!(param(&end, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        param(&end, "post_logout_redirect_uri").as_deref(),
        Some("http://localhost:18080/")
    );
    assert!(param(&end, "id_token_hint").is_some_and(|h| h.split('.').count() == 3));
    assert!(
        answer.set_cookie("rstream_session").is_some(),
        "the cookie is cleared"
    );
    assert_eq!(rig.user(&session).await, None);
    // The provider accepts the request: its sign-out confirmation page.
    let page = browser.request("GET", &end, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
}

#[tokio::test]
async fn enforcement_sends_browsers_to_the_start_endpoint() {
    // The one layer sends refused navigations to its start endpoint.
    let Some(rig) = rig_with(
        "oidc: enforcement",
        options(),
        |c| c,
        |b| b.require_authentication(Paths::prefix("/private")),
    ) else {
        return;
    };
    let request = Request::get("/private/page?x=1")
        .header("host", APP)
        .header("accept", "text/html")
        .body(Full::default())
        .unwrap();
    let refused = rig.send(request).await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    let start = refused.location().to_owned();
    assert!(
        start.starts_with("/_rstream/oidc/start?return_to="),
        "{start}"
    );
    // The start endpoint is reachable while enforcement is on, and the
    // browser comes back to the page it asked for.
    let mut browser = Browser::new(&rig.provider.issuer);
    let started = rig.get(&start, None).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let binding = started.cookies_after(None);
    let back = browser.sign_in(started.location(), "alice", "login").await;
    let answer = rig.callback(&back, Some(&binding)).await;
    assert_eq!(answer.location(), "/private/page?x=1");
    let session = answer.set_cookie("rstream_session").unwrap();
    assert_eq!(
        rig.get("/private/page?x=1", Some(&session)).await.body,
        "app"
    );
}

#[tokio::test]
async fn the_endpoints_refuse_other_methods_and_unknown_hosts() {
    let Some(rig) = rig("oidc: methods and hosts") else {
        return;
    };
    let post = Request::post("/_rstream/oidc/start")
        .header("host", APP)
        .body(Full::default())
        .unwrap();
    let answer = rig.send(post).await;
    answer.assert_refused(405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    let evil = Request::get("/_rstream/oidc/start")
        .header("host", "evil.example")
        .body(Full::default())
        .unwrap();
    rig.send(evil).await.assert_refused(403, "unknown_host");
    // Paths beside the endpoints go to the app.
    assert_eq!(rig.get("/_rstream/oidc/other", None).await.body, "app");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_502_not_a_500() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let oidc = OidcConfig::new(format!("http://127.0.0.1:{port}"), CLIENT_ID)
        .layer(
            WellKnownLayer::builder()
                .development_tunnel(18080)
                .with_session_store(MemoryStore::new()),
            HyperClient::new().unwrap(),
        )
        .unwrap();
    assert!(oidc.discover().await.is_err());
    let service = ServiceBuilder::new().layer(oidc).service(tower::service_fn(
        |_: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
        },
    ));
    let request = Request::get("/_rstream/oidc/start")
        .header("host", APP)
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["cache-control"], "no-store");
    // A browser navigation gets a page that says so, with a way to retry.
    let request = Request::get("/_rstream/oidc/start?return_to=%2Fapp")
        .header("host", APP)
        .header("accept", "text/html")
        .body(Full::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("could not be reached"), "{page}");
    assert!(page.contains("provider_unavailable"), "{page}");
    assert!(
        page.contains(r#"href="/_rstream/oidc/start?return_to=%2Fapp""#),
        "{page}"
    );
}

#[test]
fn configuration_is_checked() {
    let builder = || {
        WellKnownLayer::builder()
            .development_tunnel(18080)
            .with_session_store(MemoryStore::new())
    };
    let client = || HyperClient::new().unwrap();
    let refused = |config: OidcConfig| config.layer(builder(), client()).is_err();
    // Plain http only on loopback.
    assert!(refused(OidcConfig::new("http://login.example.com", "app")));
    assert!(refused(OidcConfig::new("not a url", "app")));
    assert!(refused(OidcConfig::new("https://login.example.com", "")));
    for prefix in [
        "",
        "oidc",
        "/oidc/",
        "/.well-known/rstream/oidc",
        "/a?b",
        "/a%2Fb",
    ] {
        assert!(
            refused(OidcConfig::new("https://login.example.com", "app").path_prefix(prefix)),
            "{prefix:?}"
        );
    }
    assert!(refused(
        OidcConfig::new("https://login.example.com", "app").post_logout_path("//evil")
    ));
    assert!(refused(
        OidcConfig::new("https://login.example.com", "app").flow_ttl(Duration::ZERO)
    ));
    assert!(!refused(OidcConfig::new(
        "https://login.example.com",
        "app"
    )));
    assert!(!refused(OidcConfig::new("http://127.0.0.1:8080", "app")));
    // The well-known layer's own refusals. (A builder without a session
    // store does not compile: its store type, `NoStore`, is no store.)
    let config = || OidcConfig::new("https://login.example.com", "app");
    assert_eq!(
        config()
            .layer(
                WellKnownLayer::builder().with_session_store(MemoryStore::new()),
                client()
            )
            .unwrap_err(),
        OidcConfigError::WellKnown(rstream_well_known::ConfigError::NoTunnels)
    );
}

/// Collects what a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged in this test binary, from the first call on: a global
/// subscriber, since a thread's own one can miss events whose callsite
/// another test thread registered first.
fn global_log() -> &'static Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        captured
    })
}

#[tokio::test]
async fn no_code_state_nonce_or_token_reaches_the_log() {
    let Some(rig) = rig("oidc: logs") else { return };
    let captured = global_log();
    let mut browser = Browser::new(&rig.provider.issuer);
    let mut secrets = Vec::new();
    // A success, a refused code exchange (replayed code), a wrong nonce.
    let (authorize, binding) = rig.start("/", None).await;
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let ok = rig.callback(&back, Some(&binding)).await;
    secrets.push(ok.set_cookie("rstream_session").unwrap());
    let (authorize2, binding) = rig.start("/", Some(&binding)).await;
    let replay = with_param(&back, "state", &param(&authorize2, "state").unwrap());
    rig.callback(&replay, Some(&binding))
        .await
        .assert_refused(502, "token_exchange_failed");
    let (authorize3, binding) = rig.start("/", Some(&binding)).await;
    let back3 = browser
        .sign_in(
            &with_param(&authorize3, "nonce", &"n".repeat(43)),
            "alice",
            "login",
        )
        .await;
    rig.callback(&back3, Some(&binding))
        .await
        .assert_refused(502, "invalid_nonce");
    for url in [&authorize, &authorize2, &authorize3] {
        secrets.extend(["state", "nonce", "code_challenge"].map(|p| param(url, p).unwrap()));
    }
    for url in [&back, &back3] {
        secrets.extend(["code", "state"].map(|p| param(url, p).unwrap()));
    }
    // Every cookie of the sign-in: the binding, the sealed pending sign-ins.
    secrets.extend(
        binding
            .split("; ")
            .map(|pair| pair.split_once('=').unwrap().1.to_owned()),
    );
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("token_exchange_failed"),
        "the refusals are logged: {log}"
    );
    assert!(
        log.contains("invalid_grant"),
        "with the provider's error code: {log}"
    );
    for secret in &secrets {
        let value = secret.rsplit('=').next().unwrap();
        assert!(!log.contains(value), "{value} leaked into the log: {log}");
    }
}

#[tokio::test]
async fn an_hs256_id_token_is_refused_even_for_a_confidential_client() {
    let options = Options {
        client_secret: Some("a-test-secret-of-enough-length-for-hs256".to_owned()),
        id_token_alg: Some("HS256".to_owned()),
        ..options()
    };
    let Some(rig) = rig_with("oidc: HS256 refused", options, |c| c, |b| b) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "alice", "/").await;
    // Not a bad signature: an algorithm ID tokens may not use.
    answer.assert_refused(502, "unsupported_algorithm");
    assert!(answer.set_cookie("rstream_session").is_none());
}

/// An ES512 (P-521) ID token, refused before the crate checked ID tokens
/// with its own JWT code (finding I1), signs in like an RS256 one.
#[tokio::test]
async fn a_full_sign_in_with_an_es512_id_token() {
    use std::sync::{Arc, Mutex};
    let options = Options {
        id_token_alg: Some("ES512".into()),
        ..options()
    };
    // The `alg` of the ID token the provider answers, changing nothing.
    let alg = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&alg);
    let http = Tamper {
        inner: HyperClient::new().unwrap(),
        rewrite: Box::new(move |path, json| {
            if path == "/token" {
                let id_token = json["id_token"].as_str().unwrap();
                let header = id_token.split('.').next().unwrap();
                let header =
                    <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(header)
                        .unwrap();
                let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
                *seen.lock().unwrap() = header["alg"].as_str().map(str::to_owned);
            }
        }),
    };
    let Some(rig) = rig_with_client("oidc: ES512 ID token", options, |c| c, |b| b, http) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "alice", "/orders?page=2").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(alg.lock().unwrap().as_deref(), Some("ES512"));
    assert_eq!(answer.location(), "/orders?page=2");
    let session = answer
        .set_cookie("rstream_session")
        .expect("a session cookie");
    let me = rig.get(SESSION, Some(&session)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let json = me.json();
    assert_eq!(json["auth"]["method"], "rstream-auth");
    assert_eq!(json["user"]["userId"], "alice");
    assert_eq!(json["user"]["name"], "Alice Liddell");
    assert_eq!(json["user"]["email"], "alice@example.com");
}

#[test]
fn an_explicit_sign_in_url_wins_over_the_openid_connect_start() {
    type App = tower::util::ServiceFn<
        fn(
            Request<Full<Bytes>>,
        ) -> std::future::Ready<Result<Response<Full<Bytes>>, std::convert::Infallible>>,
    >;
    /// Where `layer` sends a refused browser navigation.
    fn sent_to<L>(layer: L) -> String
    where
        L: tower::Layer<App>,
        L::Service: tower::Service<
                Request<Full<Bytes>>,
                Response = Response<rstream_well_known::ResponseBody<Full<Bytes>>>,
                Error = std::convert::Infallible,
            >,
    {
        let app: App = tower::service_fn(|_| std::future::ready(Ok(Response::default())));
        let request = Request::get("/private/x")
            .header("host", APP)
            .header("accept", "text/html")
            .body(Full::<Bytes>::default())
            .unwrap();
        let response = futures::executor::block_on(
            ServiceBuilder::new()
                .layer(layer)
                .service(app)
                .oneshot(request),
        )
        .unwrap();
        assert_eq!(response.status(), 303);
        response.headers()["location"].to_str().unwrap().to_owned()
    }
    let builder = || {
        WellKnownLayer::builder()
            .development_tunnel(18080)
            .with_session_store(MemoryStore::new())
            .require_authentication(Paths::prefix("/private"))
    };
    let config = || OidcConfig::new("https://login.example.com", CLIENT_ID);
    let client = || HyperClient::new().unwrap();
    let login = "/login?return_to=/private/x";
    // The one layer of the sign-in, with and without a page of the app's.
    assert_eq!(
        sent_to(
            config()
                .layer(builder().sign_in_url("/login"), client())
                .unwrap()
        ),
        login
    );
    assert_eq!(
        sent_to(config().layer(builder(), client()).unwrap()),
        "/_rstream/oidc/start?return_to=/private/x"
    );
    // A sign-in layer's page, set before or after the app's.
    for builder in [
        builder()
            .sign_in_url("/login")
            .default_sign_in_url("/start"),
        builder()
            .default_sign_in_url("/start")
            .sign_in_url("/login"),
    ] {
        assert_eq!(sent_to(builder.build().unwrap()), login);
    }
}

/// A client that hands the provider's JSON answers to `rewrite` (with the
/// request's path) before the sign-in sees them: a provider that misbehaves.
struct Tamper {
    inner: HyperClient,
    rewrite: Box<Rewrite>,
}

/// Changes the JSON answer to a request for a path.
type Rewrite = dyn Fn(&str, &mut serde_json::Value) + Send + Sync;

impl HttpClient for Tamper {
    fn send(&self, request: Request<Vec<u8>>) -> HttpFuture<'_> {
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            let mut response = self.inner.send(request).await?;
            if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(response.body()) {
                (self.rewrite)(&path, &mut json);
                *response.body_mut() = serde_json::to_vec(&json).unwrap();
            }
            Ok(response)
        })
    }
}

fn tampered(
    what: &str,
    rewrite: impl Fn(&str, &mut serde_json::Value) + Send + Sync + 'static,
) -> Option<Rig> {
    let http = Tamper {
        inner: HyperClient::new().unwrap(),
        rewrite: Box::new(rewrite),
    };
    rig_with_client(what, options(), |c| c, |b| b, http)
}

#[tokio::test]
async fn userinfo_for_another_subject_is_refused() {
    let Some(rig) = tampered("oidc: userinfo sub", |path, json| {
        if path == "/me" {
            json["sub"] = "mallory".into();
        }
    }) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let answer = rig.sign_in(&mut browser, "alice", "/").await;
    answer.assert_refused(502, "userinfo_subject_mismatch");
    assert!(answer.set_cookie("rstream_session").is_none());
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_or_with_plain_http_endpoints_is_refused() {
    let Some(rig) = tampered("oidc: discovery issuer", |path, json| {
        if path == "/.well-known/openid-configuration" {
            json["issuer"] = "https://attacker.example".into();
        }
    }) else {
        return;
    };
    rig.get("/_rstream/oidc/start", None)
        .await
        .assert_refused(502, "provider_unavailable");
    let Some(rig) = tampered("oidc: discovery endpoints", |path, json| {
        if path == "/.well-known/openid-configuration" {
            json["token_endpoint"] = "http://attacker.example/token".into();
        }
    }) else {
        return;
    };
    rig.get("/_rstream/oidc/start", None)
        .await
        .assert_refused(502, "provider_unavailable");
}

#[tokio::test]
async fn sign_out_without_an_end_session_endpoint_stays_on_the_tunnel() {
    let Some(rig) = tampered("oidc: no end-session endpoint", |path, json| {
        if path == "/.well-known/openid-configuration" {
            json.as_object_mut().unwrap().remove("end_session_endpoint");
        }
    }) else {
        return;
    };
    let mut browser = Browser::new(&rig.provider.issuer);
    let session = rig
        .sign_in(&mut browser, "alice", "/")
        .await
        .set_cookie("rstream_session")
        .unwrap();
    let request = Request::post("/_rstream/oidc/sign-out")
        .header("host", APP)
        .header("origin", ORIGIN)
        .header("cookie", session.clone())
        .body(Full::default())
        .unwrap();
    let answer = rig.send(request).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), "/");
    assert_eq!(rig.user(&session).await, None);
}

/// How a forged ID token differs from the provider's: its claims, its
/// header, given the access token.
type Forge = dyn Fn(&mut serde_json::Value, &mut serde_json::Value, &str) + Send + Sync;

/// `at_hash` for an ES256/RS256 token: the left half of SHA-256.
fn at_hash(access_token: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    jwt_mint::b64(&digest[..16])
}

/// ID tokens re-signed by a key the test controls (served as the
/// provider's key set), with claims and header changed by each case, so
/// that every claim check is exercised through the whole flow.
#[tokio::test]
async fn id_token_claims_and_algorithms_are_checked() {
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    let forge: Arc<Mutex<Box<Forge>>> = Arc::new(Mutex::new(Box::new(|_, _, _| {})));
    let current = Arc::clone(&forge);
    let signer = Arc::new(jwt_mint::Signer::es256(7));
    let key = Arc::clone(&signer);
    // ES512 (P-521), which `openidconnect`'s verifier could not check.
    let es512 = jwt_mint::Signer::es512(7);
    let Some(rig) = tampered("oidc: forged ID tokens", move |path, json| match path {
        "/jwks" => {
            let mut jwk = key.jwk(Some("forged"));
            jwk["alg"] = json!("ES256");
            jwk["use"] = json!("sig");
            let mut p521 = es512.jwk(Some("forged-es512"));
            p521["use"] = json!("sig");
            json["keys"] = json!([jwk, p521]);
        }
        "/token" => {
            let original = json["id_token"].as_str().unwrap().to_owned();
            let payload = original.split('.').nth(1).unwrap();
            let bytes =
                <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(payload).unwrap();
            let mut claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let mut header = json!({ "alg": "ES256", "typ": "JWT", "kid": "forged" });
            let access = json["access_token"].as_str().unwrap().to_owned();
            (current.lock().unwrap())(&mut claims, &mut header, &access);
            json["id_token"] = if header["alg"] == "none" {
                let b64 = |v: &serde_json::Value| jwt_mint::b64(v.to_string().as_bytes());
                json!(format!("{}.{}.", b64(&header), b64(&claims)))
            } else if header["alg"] == "ES512" {
                json!(es512.token_with_header(&header, &claims))
            } else {
                json!(key.token_with_header(&header, &claims))
            };
        }
        _ => {}
    }) else {
        return;
    };
    let issuer = rig.provider.issuer.clone();
    let mut browser = Browser::new(&issuer);
    let now = jwt_mint::now();
    let cases: Vec<(&str, Option<&str>, Box<Forge>)> = vec![
        // The harness itself: a re-signed token with a right at_hash passes.
        (
            "re-signed, right at_hash",
            None,
            Box::new(|c, _, access| c["at_hash"] = json!(at_hash(access))),
        ),
        (
            "ES512, its at_hash the left half of SHA-512",
            None,
            Box::new(|c, h, access| {
                *h = json!({ "alg": "ES512", "kid": "forged-es512" });
                let digest = <sha2::Sha512 as sha2::Digest>::digest(access.as_bytes());
                c["at_hash"] = json!(jwt_mint::b64(&digest[..32]));
            }),
        ),
        (
            "ES512 with a SHA-256 at_hash",
            Some("invalid_at_hash"),
            Box::new(|c, h, access| {
                *h = json!({ "alg": "ES512", "kid": "forged-es512" });
                c["at_hash"] = json!(at_hash(access));
            }),
        ),
        (
            "wrong at_hash",
            Some("invalid_at_hash"),
            Box::new(|c, _, _| c["at_hash"] = json!(at_hash("another access token"))),
        ),
        (
            "another audience too",
            Some("invalid_audience"),
            Box::new(|c, _, _| c["aud"] = json!([CLIENT_ID, "another-client"])),
        ),
        (
            "several audiences, azp ours",
            Some("invalid_audience"),
            Box::new(|c, _, _| {
                c["aud"] = json!([CLIENT_ID, "another-client"]);
                c["azp"] = json!(CLIENT_ID);
            }),
        ),
        (
            "only another audience",
            Some("invalid_audience"),
            Box::new(|c, _, _| c["aud"] = json!("another-client")),
        ),
        (
            "azp of another client",
            Some("invalid_authorized_party"),
            Box::new(|c, _, _| c["azp"] = json!("another-client")),
        ),
        (
            "another issuer",
            Some("invalid_id_token_issuer"),
            Box::new(|c, _, _| c["iss"] = json!("https://attacker.example")),
        ),
        (
            "expired beyond the leeway",
            Some("id_token_expired"),
            Box::new(move |c, _, _| c["exp"] = json!(now - 120)),
        ),
        (
            "expired within the leeway",
            None,
            Box::new(move |c, _, _| c["exp"] = json!(now - 20)),
        ),
        (
            "another nonce",
            Some("invalid_nonce"),
            Box::new(|c, _, _| c["nonce"] = json!("n".repeat(43))),
        ),
        (
            "alg none",
            Some("unsupported_algorithm"),
            Box::new(|_, h, _| *h = json!({ "alg": "none", "typ": "JWT" })),
        ),
        (
            "an unknown key id (the key set was fetched less than 30 s ago)",
            Some("unknown_signing_key"),
            Box::new(|_, h, _| h["kid"] = json!("unknown")),
        ),
    ];
    for (case, refusal, change) in cases {
        *forge.lock().unwrap() = change;
        let answer = rig.sign_in(&mut browser, "alice", "/").await;
        match refusal {
            None => assert_eq!(answer.status, 303, "{case}: {}", answer.body),
            Some(reason) => {
                assert_eq!(answer.json()["error"], reason, "{case}");
                answer.assert_refused(502, reason);
                assert!(answer.set_cookie("rstream_session").is_none(), "{case}");
            }
        }
    }
}

/// A client for a provider that is down: every call fails after a moment,
/// and is counted.
struct Down {
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HttpClient for Down {
    fn send(&self, _request: Request<Vec<u8>>) -> HttpFuture<'_> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(HttpError::new("connection refused"))
        })
    }
}

#[tokio::test]
async fn a_provider_that_is_down_gets_one_discovery_fetch_per_interval() {
    use std::sync::Arc;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let oidc = OidcConfig::new("http://127.0.0.1:9", CLIENT_ID)
        .key_refresh_interval(Duration::from_millis(500))
        .layer(
            WellKnownLayer::builder()
                .development_tunnel(18080)
                .with_session_store(MemoryStore::new()),
            Down {
                calls: Arc::clone(&calls),
            },
        )
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(oidc.clone())
        .service(tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
        }));
    let starts = || {
        futures::future::join_all((0..50).map(|_| {
            let request = Request::get("/_rstream/oidc/start")
                .header("host", APP)
                .body(Full::default())
                .unwrap();
            service.clone().oneshot(request)
        }))
    };
    for response in starts().await {
        assert_eq!(response.unwrap().status(), 502);
    }
    let count = || calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(count(), 1, "50 concurrent starts share one discovery fetch");
    // Within the interval, the failure is the answer: no fetch.
    for response in starts().await {
        assert_eq!(response.unwrap().status(), 502);
    }
    assert_eq!(count(), 1);
    // The error names the URL and the cause.
    let error = oidc.discover().await.unwrap_err();
    assert_eq!(
        error.url(),
        "http://127.0.0.1:9/.well-known/openid-configuration"
    );
    assert!(error.to_string().contains("connection refused"), "{error}");
    // After the interval, exactly one more.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for response in starts().await {
        assert_eq!(response.unwrap().status(), 502);
    }
    assert_eq!(count(), 2);
}

#[tokio::test]
async fn every_flow_cookie_stays_within_browsers_limits() {
    let Some(rig) = rig("oidc: cookie sizes") else {
        return;
    };
    let flow_cookie = |answer: &Answer| {
        answer
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with("rstream_oidc_"))
            .unwrap()
    };
    // The longest return path kept: its cookie stays under the 4,096 bytes
    // browsers keep per cookie, and the browser comes back to it.
    let longest = format!("/{}", "a".repeat(1023));
    let path = format!("/_rstream/oidc/start?return_to={longest}");
    let started = rig.get(&path, None).await;
    assert_eq!(started.status, 303);
    let cookie = flow_cookie(&started);
    assert!(cookie.len() < 4096, "{} bytes", cookie.len());
    let mut browser = Browser::new(&rig.provider.issuer);
    let back = browser.sign_in(started.location(), "alice", "login").await;
    let answer = rig
        .callback(&back, Some(&started.cookies_after(None)))
        .await;
    assert_eq!(answer.location(), longest);
    // A longer one is not kept: the browser comes back to `/`.
    let path = format!("/_rstream/oidc/start?return_to=/{}", "a".repeat(1024));
    let started = rig.get(&path, None).await;
    assert!(flow_cookie(&started).len() < 1024);
    let back = browser.sign_in(started.location(), "alice", "login").await;
    let answer = rig
        .callback(&back, Some(&started.cookies_after(None)))
        .await;
    assert_eq!(answer.location(), "/");
    // A browser holding as many sign-ins as allowed sends a few KB of them.
    let mut cookies: Option<String> = None;
    for _ in 0..10 {
        let (_, after) = rig.start(&longest, cookies.as_deref()).await;
        cookies = Some(after);
    }
    let cookies = cookies.unwrap();
    assert_eq!(cookies.matches("rstream_oidc_").count(), 8);
    assert!(cookies.len() < 8 * 2048, "{} bytes", cookies.len());
}

#[tokio::test]
async fn a_planted_cookie_with_a_strange_name_does_not_stop_a_start() {
    let Some(rig) = rig("oidc: strange cookie names") else {
        return;
    };
    // A sibling host of an http tunnel can plant cookies whose names look
    // like a flow cookie's but that no `Set-Cookie` could name.
    let planted = "rstream_oidc_a\"b=x; rstream_oidc_{}=y; rstream_oidc_=z";
    let started = rig.get("/_rstream/oidc/start", Some(planted)).await;
    assert_eq!(started.status, 303, "{}", started.body);
    // They are not the layer's: it neither opens nor removes them.
    assert_eq!(started.removed_cookies(), Vec::<String>::new());
    let (authorize, cookies) = (
        started.location().to_owned(),
        started.cookies_after(Some(planted)),
    );
    let mut browser = Browser::new(&rig.provider.issuer);
    let back = browser.sign_in(&authorize, "alice", "login").await;
    let answer = rig.callback(&back, Some(&cookies)).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}

/// Each path's status and JSON body.
type Serve = dyn Fn(&str) -> (u16, serde_json::Value) + Send + Sync;

/// Rewrites the JSON answer to a path, and gives its status.
type Mishap = fn(&str, &mut serde_json::Value) -> u16;

/// A provider served from memory.
struct Documents(Box<Serve>);

impl HttpClient for Documents {
    fn send(&self, request: Request<Vec<u8>>) -> HttpFuture<'_> {
        let (status, body) = (self.0)(request.uri().path());
        let response = Response::builder()
            .status(status)
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap();
        Box::pin(async move { Ok(response) })
    }
}

const MEMORY_ISSUER: &str = "http://127.0.0.1:9";

/// The discovery document of the provider at [`MEMORY_ISSUER`].
fn metadata() -> serde_json::Value {
    serde_json::json!({
        "issuer": MEMORY_ISSUER,
        "authorization_endpoint": format!("{MEMORY_ISSUER}/auth"),
        "token_endpoint": format!("{MEMORY_ISSUER}/token"),
        "jwks_uri": format!("{MEMORY_ISSUER}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    })
}

/// Why discovery fails against `client`: the error's URL and text.
async fn discovery_error(client: impl HttpClient) -> (String, String) {
    let well_known = WellKnownLayer::builder()
        .development_tunnel(18080)
        .with_session_store(MemoryStore::new());
    let oidc = OidcConfig::new(MEMORY_ISSUER, CLIENT_ID)
        .layer(well_known, client)
        .unwrap();
    let error = oidc.discover().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "OpenID provider discovery failed: {}: {}",
            error.url(),
            error.cause()
        )
    );
    (error.url().to_owned(), error.cause().to_owned())
}

#[tokio::test]
async fn discovery_errors_name_the_url_and_the_cause() {
    let discovery = format!("{MEMORY_ISSUER}/.well-known/openid-configuration");
    let jwks = format!("{MEMORY_ISSUER}/jwks");
    let serving = |rewrite: Mishap| {
        Documents(Box::new(move |path: &str| {
            let mut body = match path {
                "/.well-known/openid-configuration" => metadata(),
                _ => serde_json::json!({ "keys": [] }),
            };
            let status = rewrite(path, &mut body);
            (status, body)
        }))
    };
    // Each failure, with the URL it concerns and what went wrong there.
    let cases: [(Mishap, &str, &str); 8] = [
        (
            |path, _| if path == "/jwks" { 200 } else { 404 },
            &discovery,
            "answered 404 Not Found instead of 200 OK",
        ),
        (
            |path, json| {
                if path != "/jwks" {
                    *json = "not metadata".into();
                }
                200
            },
            &discovery,
            "not an OpenID provider metadata document: invalid type: string \"not metadata\"",
        ),
        (
            |path, json| {
                if path != "/jwks" {
                    json.as_object_mut().unwrap().remove("jwks_uri");
                }
                200
            },
            &discovery,
            "not an OpenID provider metadata document: missing field `jwks_uri`",
        ),
        (
            |path, json| {
                if path != "/jwks" {
                    json["issuer"] = "https://attacker.example".into();
                }
                200
            },
            &discovery,
            "the document names the issuer \"https://attacker.example\", not \"http://127.0.0.1:9\"",
        ),
        (
            |path, json| {
                if path != "/jwks" {
                    json["token_endpoint"] = "http://attacker.example/token".into();
                }
                200
            },
            &discovery,
            "token_endpoint \"http://attacker.example/token\" is not an https URL",
        ),
        (
            |path, json| {
                if path != "/jwks" {
                    json.as_object_mut().unwrap().remove("token_endpoint");
                }
                200
            },
            &discovery,
            "the document names no token_endpoint",
        ),
        (
            |path, _| if path == "/jwks" { 503 } else { 200 },
            &jwks,
            "answered 503 Service Unavailable instead of 200 OK",
        ),
        (
            |path, json| {
                if path == "/jwks" {
                    *json = serde_json::json!({ "keys": "none" });
                }
                200
            },
            &jwks,
            "not a usable JWK set: ",
        ),
    ];
    for (rewrite, url, cause) in cases {
        let (got_url, got_cause) = discovery_error(serving(rewrite)).await;
        assert_eq!(got_url, *url, "{cause}");
        assert!(
            got_cause.starts_with(cause),
            "{got_cause:?} is not {cause:?}"
        );
    }

    // No answer: the client's error, with its causes.
    let (url, cause) = discovery_error(Down {
        calls: Default::default(),
    })
    .await;
    assert_eq!(
        (url.as_str(), cause.as_str()),
        (discovery.as_str(), "connection refused")
    );
}

#[tokio::test]
async fn discovery_against_an_unreachable_or_silent_provider_says_why() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let discover = |issuer: String, client: HyperClient| {
        let well_known = WellKnownLayer::builder()
            .development_tunnel(18080)
            .with_session_store(MemoryStore::new());
        let oidc = OidcConfig::new(issuer, CLIENT_ID)
            .layer(well_known, client)
            .unwrap();
        async move { oidc.discover().await.unwrap_err() }
    };
    let error = discover(
        format!("http://127.0.0.1:{port}"),
        HyperClient::new().unwrap(),
    )
    .await;
    assert_eq!(
        error.url(),
        format!("http://127.0.0.1:{port}/.well-known/openid-configuration")
    );
    assert!(
        error.cause().starts_with("client error (Connect)")
            && error.cause().contains("Connection refused"),
        "{error}"
    );
    // A provider that accepts the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let client = HyperClient::new()
        .unwrap()
        .timeout(Duration::from_millis(200));
    let error = discover(format!("http://127.0.0.1:{port}"), client).await;
    assert_eq!(error.cause(), "no answer within 200ms");
    held.abort();
}

/// A memory store whose revocations all fail, counting how many were tried.
#[derive(Default)]
struct RevocationsFail {
    inner: MemoryStore,
    tried: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl rstream_well_known::SessionStore for RevocationsFail {
    type Error = std::io::Error;

    async fn create(
        &self,
        session: rstream_well_known::Session,
    ) -> Result<rstream_well_known::SessionId, std::io::Error> {
        self.inner
            .create(session)
            .await
            .map_err(std::io::Error::other)
    }

    async fn load(
        &self,
        id: &rstream_well_known::SessionId,
    ) -> Result<Option<rstream_well_known::Session>, std::io::Error> {
        self.inner.load(id).await.map_err(std::io::Error::other)
    }

    async fn touch(
        &self,
        id: &rstream_well_known::SessionId,
        at: std::time::SystemTime,
    ) -> Result<(), std::io::Error> {
        self.inner
            .touch(id, at)
            .await
            .map_err(std::io::Error::other)
    }

    async fn revoke(&self, _id: &rstream_well_known::SessionId) -> Result<(), std::io::Error> {
        self.tried.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(std::io::Error::other("down"))
    }
}

/// Logout and sign-out revoke the browser's sessions through one routine:
/// every presented session is tried even after a failure, and the same
/// failure is the same answer, `503 session_store_unavailable`, without the
/// cookie's removal (the old cookie could work again once the store
/// recovers). No provider is needed: sign-out fails before reaching it.
#[tokio::test]
async fn a_failing_store_gets_one_answer_from_logout_and_sign_out_after_every_session_was_tried() {
    use rstream_well_known::SessionStore as _;
    let store = RevocationsFail::default();
    let tried = std::sync::Arc::clone(&store.tried);
    let oidc = OidcConfig::new("http://127.0.0.1:9", CLIENT_ID)
        .layer(
            WellKnownLayer::builder()
                .development_tunnel(18080)
                .with_session_store(store),
            HyperClient::new().unwrap(),
        )
        .unwrap();
    let sessions = oidc.session_manager();
    let mut pairs = Vec::new();
    for _ in 0..2 {
        let signed_in = sessions.sign_in(User::new("ada")).await.unwrap();
        let header = signed_in.set_cookie().to_str().unwrap().to_owned();
        pairs.push(header.split(';').next().unwrap().to_owned());
    }
    let cookie = pairs.join("; ");
    let app = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"app"))))
    });
    let service = ServiceBuilder::new().layer(oidc).service(app);
    for path in ["/.well-known/rstream/logout", "/_rstream/oidc/sign-out"] {
        tried.store(0, std::sync::atomic::Ordering::SeqCst);
        let request = Request::post(path)
            .header("host", APP)
            .header("origin", ORIGIN)
            .header("cookie", &cookie)
            .body(Full::default())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        assert_eq!(parts.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(
            &body[..],
            br#"{"error":"session_store_unavailable"}"#,
            "{path}"
        );
        assert!(parts.headers.get("set-cookie").is_none(), "{path}");
        assert_eq!(
            tried.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "{path}: every presented session is tried"
        );
    }
    // Nothing was revoked: both sessions still load.
    for pair in &pairs {
        let id = pair.split('=').nth(1).unwrap();
        let id = rstream_well_known::SessionId::new(id).unwrap();
        assert!(sessions.store().load(&id).await.unwrap().is_some());
    }
}
