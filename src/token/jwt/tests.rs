//! The verifier's pieces: the reason behind each refusal, the user's
//! attributes, and arbitrary input.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures::executor::block_on;
use http::Method;
use proptest::prelude::*;
use serde_json::{Value, json};

#[allow(unreachable_pub, missing_docs)]
#[path = "../../../tests/jwt_mint/mod.rs"]
mod mint;

use super::*;
use crate::token::TokenSource;
use crate::tunnel::Tunnel;
use mint::{SECRET, Signer, b64};

/// The fixed time the verifiers below are checked at.
const T: i64 = 1_800_000_000;

fn verifier() -> JwtVerifier {
    JwtVerifier::new(JwtKey::hs256(SECRET).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(T as u64))
        .leeway(Duration::ZERO)
}

fn claims(changes: Value) -> Value {
    let mut claims = json!({ "sub": "user-ada", "name": "Ada", "exp": T + 60 });
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn check(verifier: &JwtVerifier, token: &str) -> Result<crate::User, Refusal> {
    let tunnel = Tunnel::new("app.example.com", "w", "p").unwrap();
    let cx = TokenContext {
        tunnel: &tunnel,
        method: &Method::GET,
        path: "/.well-known/rstream/session",
        source: TokenSource::Header,
    };
    block_on(verifier.check(token, cx)).expect("static keys never fail")
}

#[test]
fn each_refusal_has_its_reason() {
    let signer = Signer::hs256(SECRET);
    let token = |changes: Value| signer.token(None, &claims(changes));
    let v = verifier();
    assert!(check(&v, &token(json!({}))).is_ok());
    let cases = [
        (token(json!({ "exp": T })), Refusal::Expired),
        (token(json!({ "exp": null })), Refusal::NoExpiry),
        (token(json!({ "exp": "x" })), Refusal::Malformed),
        (token(json!({ "nbf": T + 1 })), Refusal::NotYetValid),
        (token(json!({ "aud": "x" })), Refusal::Audience),
        (token(json!({ "sub": "" })), Refusal::NoSubject),
        (
            Signer::hs256(mint::OTHER_SECRET).token(None, &claims(json!({}))),
            Refusal::Jws(JwsRefusal::InvalidSignature),
        ),
        (
            Signer::es256(1).token(None, &claims(json!({}))),
            Refusal::Jws(JwsRefusal::UnknownKey),
        ),
        (
            signer.token_with_header(&json!({ "alg": "none" }), &claims(json!({}))),
            Refusal::Jws(JwsRefusal::UnsupportedAlgorithm),
        ),
        (
            signer.token_with_header(
                &json!({ "alg": "HS256", "crit": ["b64"] }),
                &claims(json!({})),
            ),
            Refusal::Jws(JwsRefusal::CriticalHeader),
        ),
        ("a.b".to_owned(), Refusal::Jws(JwsRefusal::Malformed)),
        (
            "x".repeat(JwtVerifier::DEFAULT_MAX_TOKEN_LEN + 1),
            Refusal::TooLarge,
        ),
    ];
    for (token, reason) in cases {
        assert_eq!(check(&v, &token).unwrap_err(), reason, "{token:.80}");
    }
    assert_eq!(
        check(&v.clone().issuer("me"), &token(json!({ "iss": "you" }))).unwrap_err(),
        Refusal::Issuer
    );
    assert_eq!(
        check(&v.scope_check(|_, _| false), &token(json!({}))).unwrap_err(),
        Refusal::Scope
    );
}

#[test]
fn other_claims_become_attributes() {
    let signer = Signer::hs256(SECRET);
    let token = signer.token(
        None,
        &claims(json!({ "email": "ada@example.com", "picture": 3, "roles": ["admin"], "tenant": "t-1", "iss": "me" })),
    );
    let user = check(&verifier(), &token).unwrap();
    assert_eq!(user.user_id(), "user-ada");
    assert_eq!(user.name(), Some("Ada"));
    assert_eq!(user.email(), Some("ada@example.com"));
    assert_eq!(user.image(), None);
    assert_eq!(user.attribute("roles"), Some(&json!(["admin"])));
    assert_eq!(user.attribute("tenant"), Some(&json!("t-1")));
    assert_eq!(user.attribute("iss"), Some(&json!("me")));
    assert_eq!(user.attribute("exp"), Some(&json!(T + 60)));
    // Profile claims are not repeated as attributes, even when left out.
    for name in ["sub", "name", "email", "picture"] {
        assert_eq!(user.attribute(name), None, "{name}");
    }
}

#[test]
fn scopes_read_both_forms() {
    let read = |claims: Value| -> Vec<String> {
        let claims: Claims = serde_json::from_value(claims).unwrap();
        claims.scopes().map(str::to_owned).collect()
    };
    assert_eq!(read(json!({ "scope": "a  b c" })), ["a", "b", "c"]);
    assert_eq!(read(json!({ "scp": ["a", 1, "b"] })), ["a", "b"]);
    assert!(read(json!({ "scope": 1 })).is_empty());
    assert!(read(json!({})).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_is_never_accepted(token in ".{0,300}") {
        prop_assert!(check(&verifier(), &token).is_err());
    }

    #[test]
    fn arbitrary_parts_are_never_accepted(
        header in proptest::collection::vec(any::<u8>(), 0..80),
        payload in proptest::collection::vec(any::<u8>(), 0..80),
        signature in proptest::collection::vec(any::<u8>(), 0..80),
        alg in prop_oneof![Just("HS256".to_owned()), Just("none".to_owned()), Just("ES512".to_owned()), ".{0,8}"],
    ) {
        // Raw bytes, and a well-formed header with an arbitrary payload.
        let token = format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature));
        prop_assert!(check(&verifier(), &token).is_err());
        let header = b64(json!({ "alg": alg }).to_string().as_bytes());
        let token = format!("{header}.{}.{}", b64(&payload), b64(&signature));
        prop_assert!(check(&verifier(), &token).is_err());
    }

    #[test]
    fn a_changed_character_is_never_accepted(index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.=+/-]") {
        let signer = Signer::hs256(SECRET);
        let token = signer.token(None, &claims(json!({})));
        let at = index.index(token.len());
        let mut changed = token.clone();
        changed.replace_range(at..=at, &replacement);
        prop_assume!(changed != token);
        prop_assert!(check(&verifier(), &changed).is_err());
    }
}

#[test]
fn a_cached_token_is_still_checked_for_time_and_scope() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let clock = Arc::new(AtomicI64::new(T));
    let reading = Arc::clone(&clock);
    let allow = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let allowed = Arc::clone(&allow);
    let v = JwtVerifier::new(JwtKey::hs256(SECRET).unwrap())
        .leeway(Duration::ZERO)
        .clock(move || UNIX_EPOCH + Duration::from_secs(reading.load(Ordering::SeqCst) as u64))
        .scope_check(move |_, _| allowed.load(Ordering::SeqCst));
    let token = Signer::hs256(SECRET).token(None, &claims(json!({ "nbf": T - 10 })));
    assert!(check(&v, &token).is_ok());
    assert_eq!(v.cache.len(), 1);
    // Cached now: the scope check and the times still decide.
    allow.store(false, Ordering::SeqCst);
    assert_eq!(check(&v, &token).unwrap_err(), Refusal::Scope);
    allow.store(true, Ordering::SeqCst);
    assert!(check(&v, &token).is_ok());
    clock.store(T + 60, Ordering::SeqCst);
    assert_eq!(check(&v, &token).unwrap_err(), Refusal::Expired);
    clock.store(T - 11, Ordering::SeqCst);
    assert_eq!(check(&v, &token).unwrap_err(), Refusal::NotYetValid);
    assert_eq!(v.cache.len(), 1);
}

#[test]
fn the_cache_is_bounded_and_holds_only_valid_signatures() {
    let signer = Signer::hs256(SECRET);
    let v = verifier().cache_capacity(2);
    for i in 0..5 {
        let token = signer.token(None, &claims(json!({ "jti": i })));
        assert!(check(&v, &token).is_ok());
        assert!(v.cache.len() <= 2);
    }
    // Refused tokens never get in, nor do expired ones.
    let v = verifier();
    let forged = Signer::hs256(mint::OTHER_SECRET).token(None, &claims(json!({})));
    assert_eq!(
        check(&v, &forged).unwrap_err(),
        Refusal::Jws(JwsRefusal::InvalidSignature)
    );
    let expired = signer.token(None, &claims(json!({ "exp": T - 1 })));
    assert_eq!(check(&v, &expired).unwrap_err(), Refusal::Expired);
    assert_eq!(v.cache.len(), 0);
    // Capacity 0: no cache.
    let v = verifier().cache_capacity(0);
    assert!(check(&v, &signer.token(None, &claims(json!({})))).is_ok());
    assert_eq!(v.cache.len(), 0);
}

#[test]
fn static_keys_answer_at_once_with_the_same_verdict() {
    let signer = Signer::hs256(SECRET);
    let tunnel = Tunnel::new("app.example.com", "w", "p").unwrap();
    let cx = TokenContext {
        tunnel: &tunnel,
        method: &Method::GET,
        path: "/",
        source: TokenSource::Header,
    };
    let v = verifier().scope_check(|claims, _| claims.get("denied").is_none());
    let tokens = [
        signer.token(None, &claims(json!({}))),
        signer.token(None, &claims(json!({ "denied": true }))),
        signer.token(None, &claims(json!({ "exp": T }))),
        "junk".to_owned(),
    ];
    let expected = [
        TokenVerdict::Accepted(check(&v, &tokens[0]).unwrap()),
        TokenVerdict::OutOfScope,
        TokenVerdict::Refused,
        TokenVerdict::Refused,
    ];
    for (token, expected) in tokens.iter().zip(expected) {
        let now = v
            .verify_now(token, cx)
            .expect("static keys answer at once")
            .unwrap();
        assert_eq!(now, expected);
        assert_eq!(block_on(v.verify(token, cx)).unwrap(), expected);
    }
}
