//! OpenID Connect sign-in (feature `oidc`) with every ID token signing
//! algorithm the crate lists (RS256, RS384, RS512, PS256, PS384, PS512,
//! ES256, ES384, ES512, EdDSA), against a second provider implementation,
//! independent of the one `tests/oidc.rs` uses: `oauth2-mock-server` on
//! Node, one process per algorithm (see `tests/mock_provider`).
//!
//! Each sign-in goes through the real `OidcLayer` (with its `WellKnownLayer`)
//! in-process, carrying the browser's cookies from the start to the
//! callback, and ends on the session endpoint answering the signed-in
//! user. With each algorithm an ID token whose `kid` names another of the
//! provider's keys than the one that signed it is refused, so a passing
//! sign-in means the signature was checked.

use crate::common;
use crate::mock_provider;
use crate::oidc_provider;

use bytes::Bytes;
use common::Recorder;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use mock_provider::{ID_TOKEN_KID, MockProvider};
use oidc_provider::Browser;
use rstream_well_known::http_client::HyperClient;
use rstream_well_known::jwt::Algorithm;
use rstream_well_known::oidc::{OidcConfig, OidcLayer};
use rstream_well_known::{MemoryStore, WellKnownLayer};
use tower::{ServiceBuilder, ServiceExt as _};

const APP: &str = "localhost:18080";
const ORIGIN: &str = "http://localhost:18080";
const CALLBACK: &str = "http://localhost:18080/_rstream/oidc/callback";
const SESSION: &str = "/.well-known/rstream/session";
/// The client id the app signs in with (the provider takes any).
const CLIENT_ID: &str = "rstream-test";

/// A provider signing with one algorithm, and an app in front of the
/// layers that signs in against it.
struct Rig {
    provider: MockProvider,
    oidc: OidcLayer,
    app: Recorder,
}

/// A response, read whole.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON: {}", self.body))
    }

    /// The `name=value` pairs of the cookies this answer sets.
    fn set_cookies(&self) -> impl Iterator<Item = &str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap())
    }

    /// The `Cookie` header of a browser that had none and got this answer.
    fn cookies(&self) -> String {
        self.set_cookies().collect::<Vec<_>>().join("; ")
    }

    /// The session cookie this answer sets, as `name=value`.
    fn session_cookie(&self) -> Option<&str> {
        self.set_cookies()
            .find(|pair| pair.starts_with("rstream_session="))
    }
}

/// How the provider signs the ID token of a sign-in.
#[derive(Clone, Copy, PartialEq)]
enum Signed {
    /// By the key its `kid` names.
    AsNamed,
    /// By one published key, naming the other (`id_token_kid=other`).
    NamingAnotherKey,
    /// Naming a key the provider does not publish
    /// (`id_token_kid=unpublished`).
    NamingAnUnpublishedKey,
}

impl Signed {
    /// The provider's `id_token_kid` for it.
    fn id_token_kid(self) -> Option<&'static str> {
        match self {
            Signed::AsNamed => None,
            Signed::NamingAnotherKey => Some("other"),
            Signed::NamingAnUnpublishedKey => Some("unpublished"),
        }
    }
}

impl Rig {
    fn start(alg: &str) -> Option<Self> {
        let provider = MockProvider::start(&format!("oidc_algorithms: sign-in with {alg}"), alg)?;
        let oidc = OidcConfig::new(provider.issuer.clone(), CLIENT_ID)
            .layer(
                WellKnownLayer::builder()
                    .development_tunnel(18080)
                    .with_session_store(MemoryStore::new()),
                HyperClient::new().unwrap(),
            )
            .unwrap();
        Some(Self {
            provider,
            oidc,
            app: Recorder::default(),
        })
    }

    /// `GET path` from a browser holding `cookie`, through the sign-in
    /// layer (the well-known layer inside it) and the app.
    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = Request::get(path).header("host", APP);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let service = ServiceBuilder::new()
            .layer(self.oidc.clone())
            .service(self.app.clone());
        let response = service
            .oneshot(request.body(Full::<Bytes>::default()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// A whole sign-in in a fresh browser, returning to `/orders`: the
    /// callback's answer.
    async fn sign_in(&self, signed: Signed) -> Answer {
        let started = self
            .get("/_rstream/oidc/start?return_to=%2Forders", None)
            .await;
        assert_eq!(started.status, 303, "{}", started.body);
        let mut authorize = url::Url::parse(started.header("location").unwrap()).unwrap();
        assert!(
            authorize.as_str().starts_with(&self.provider.issuer),
            "{authorize}"
        );
        if let Some(kid) = signed.id_token_kid() {
            authorize.query_pairs_mut().append_pair(ID_TOKEN_KID, kid);
        }
        // The provider signs its user in at once and sends the browser back.
        let (_, page) = Browser::new(&self.provider.issuer)
            .follow(authorize.as_str())
            .await;
        let back = page.location.expect("a redirect back to the app");
        assert!(back.starts_with(CALLBACK), "{back}");
        let path = back.strip_prefix(ORIGIN).unwrap();
        self.get(path, Some(&started.cookies())).await
    }

    /// The `alg` of every key the provider publishes.
    async fn published_algorithms(&self) -> Vec<String> {
        let page = Browser::new(&self.provider.issuer)
            .request("GET", "/jwks", None)
            .await;
        let jwks: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["alg"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A sign-in whose ID token is signed with `alg` ends in a session with the
/// provider's user; one whose ID token names another key than the one that
/// signed it is refused as an invalid signature.
async fn signs_in_with(alg: &str) {
    let Some(rig) = Rig::start(alg) else {
        return;
    };
    assert_eq!(rig.published_algorithms().await, [alg, alg]);

    let answer = rig.sign_in(Signed::AsNamed).await;
    assert_eq!(answer.status, 303, "{alg}: {}", answer.body);
    assert_eq!(answer.header("location"), Some("/orders"));
    let session = answer.session_cookie().expect("a session cookie");
    let me = rig.get(SESSION, Some(session)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let json = me.json();
    assert_eq!(json["auth"]["authenticated"], true, "{alg}: {json}");
    assert_eq!(json["auth"]["method"], "rstream-auth");
    // `sub` from the ID token, the profile from userinfo.
    assert_eq!(json["user"]["userId"], "johndoe");
    assert_eq!(json["user"]["name"], "John Doe");
    assert_eq!(json["user"]["email"], "johndoe@example.com");
    assert_eq!(json["user"]["image"], "https://example.com/johndoe.png");

    let forged = rig.sign_in(Signed::NamingAnotherKey).await;
    assert_eq!(forged.status, 502, "{alg}: {}", forged.body);
    assert_eq!(forged.json()["error"], "invalid_signature", "{alg}");
    assert_eq!(forged.session_cookie(), None);
    // The layers answered everything: nothing of a sign-in reaches the app.
    assert_eq!(rig.app.count(), 0);
}

/// One test per algorithm (run in parallel, each with its provider), and
/// the list of the algorithms tested.
macro_rules! sign_in_with_each {
    ($($test:ident: $alg:literal,)*) => {
        const TESTED: &[&str] = &[$($alg),*];
        $(
            #[tokio::test]
            async fn $test() {
                signs_in_with($alg).await;
            }
        )*
    };
}

sign_in_with_each! {
    rs256_id_tokens_sign_in: "RS256",
    rs384_id_tokens_sign_in: "RS384",
    rs512_id_tokens_sign_in: "RS512",
    ps256_id_tokens_sign_in: "PS256",
    ps384_id_tokens_sign_in: "PS384",
    ps512_id_tokens_sign_in: "PS512",
    es256_id_tokens_sign_in: "ES256",
    es384_id_tokens_sign_in: "ES384",
    es512_id_tokens_sign_in: "ES512",
    eddsa_ed25519_id_tokens_sign_in: "EdDSA",
}

/// Every algorithm the crate accepts for ID tokens (all of the `jwt`
/// feature's but HS256) has its sign-in above: one added to the crate
/// fails here until it is tested against the provider.
#[test]
fn every_algorithm_accepted_for_id_tokens_is_signed_in_with() {
    let mut accepted: Vec<&str> = Algorithm::ALL
        .into_iter()
        .filter(|alg| !alg.is_symmetric())
        .map(Algorithm::as_str)
        .collect();
    accepted.sort_unstable();
    let mut tested = TESTED.to_vec();
    tested.sort_unstable();
    assert_eq!(tested, accepted);
}

/// An ID token naming a key the provider does not publish is refused for
/// what it is, and the provider's next, properly signed one passes.
#[tokio::test]
async fn an_id_token_naming_an_unpublished_key_is_refused() {
    let Some(rig) = Rig::start("ES512") else {
        return;
    };
    let answer = rig.sign_in(Signed::NamingAnUnpublishedKey).await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.json()["error"], "unknown_signing_key");
    assert_eq!(answer.session_cookie(), None);
    // The same provider's properly signed ID tokens still pass.
    let answer = rig.sign_in(Signed::AsNamed).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}
