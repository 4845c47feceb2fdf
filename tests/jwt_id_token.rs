//! `oidc::IdTokenVerifier` from the outside: ID tokens signed with each
//! accepted algorithm pass, with `at_hash` hashed per algorithm, and each
//! refusal names its own reason.

use crate::jwt_mint;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use jwt_mint::{SECRET, Signer, jwk_set};
use rstream_well_known::jwt::JwkSet;
use rstream_well_known::oidc::{IdTokenRefusal, IdTokenVerifier};
use serde_json::{Value, json};
use sha2::Digest as _;

const ISSUER: &str = "https://login.example.com";
const CLIENT: &str = "app";
const NONCE: &str = "the-nonce-the-sign-in-sent";
const ACCESS: &str = "an-access-token";
const T: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// `at_hash` as OpenID Connect Core 3.1.3.6 computes it, by digest size.
fn at_hash(bits: usize, token: &str) -> String {
    let digest = match bits {
        256 => sha2::Sha256::digest(token.as_bytes()).to_vec(),
        384 => sha2::Sha384::digest(token.as_bytes()).to_vec(),
        _ => sha2::Sha512::digest(token.as_bytes()).to_vec(),
    };
    Base64UrlUnpadded::encode_string(&digest[..digest.len() / 2])
}

/// The hash size `alg` uses for `at_hash` (EdDSA: Ed25519's SHA-512).
fn bits(alg: &str) -> usize {
    match &alg[2..] {
        "384" => 384,
        "512" | "DSA" => 512,
        _ => 256,
    }
}

fn claims(alg: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "ada", "nonce": NONCE,
        "iat": T, "exp": T + 300, "at_hash": at_hash(bits(alg), ACCESS),
    })
}

fn keys(signer: &Signer) -> JwkSet {
    JwkSet::from_json(&jwk_set(&[signer.jwk(Some("k"))])).unwrap()
}

/// How a case changes the header and the claims.
type Change<'a> = &'a dyn Fn(&mut Value, &mut Value);

fn verifier() -> IdTokenVerifier {
    IdTokenVerifier::new(ISSUER, CLIENT).leeway(Duration::from_secs(60))
}

#[test]
fn every_accepted_algorithm_verifies_with_its_at_hash() {
    for signer in Signer::asymmetric() {
        let token = signer.token(Some("k"), &claims(signer.alg()));
        let verified = verifier()
            .verify(&token, &keys(&signer), NONCE, Some(ACCESS), at(T))
            .unwrap_or_else(|refusal| panic!("{}: {refusal}", signer.alg()));
        assert_eq!(verified.subject(), Some("ada"), "{}", signer.alg());
        // Another access token: its hash differs.
        assert_eq!(
            verifier().verify(&token, &keys(&signer), NONCE, Some("other"), at(T)),
            Err(IdTokenRefusal::AccessTokenHash),
            "{}",
            signer.alg()
        );
    }
}

#[test]
fn each_refusal_names_its_reason() {
    let signer = Signer::es512(1);
    let keys = keys(&signer);
    let with = |change: &dyn Fn(&mut Value, &mut Value)| {
        let (mut header, mut claims) = (json!({ "alg": "ES512", "kid": "k" }), claims("ES512"));
        change(&mut header, &mut claims);
        signer.token_with_header(&header, &claims)
    };
    let check = |token: &str| verifier().verify(token, &keys, NONCE, Some(ACCESS), at(T));
    assert!(check(&with(&|_, _| {})).is_ok());
    let hs256 = Signer::hs256(SECRET).token(Some("k"), &claims("HS256"));
    let hs256_keys = JwkSet::from_json(&jwk_set(&[Signer::hs256(SECRET).jwk(Some("k"))])).unwrap();
    assert_eq!(
        verifier().verify(&hs256, &hs256_keys, NONCE, None, at(T)),
        Err(IdTokenRefusal::UnsupportedAlgorithm),
        "a shared secret proves nothing about the provider"
    );
    let b64 = |v: &Value| jwt_mint::b64(v.to_string().as_bytes());
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none" })),
        b64(&claims("ES512"))
    );
    assert_eq!(check(&none), Err(IdTokenRefusal::UnsupportedAlgorithm));
    let cases: [(&str, Change<'_>, IdTokenRefusal); 13] = [
        (
            "ES384 header",
            &|h, _| h["alg"] = json!("ES384"),
            IdTokenRefusal::UnknownSigningKey,
        ),
        (
            "unknown kid",
            &|h, _| h["kid"] = json!("other"),
            IdTokenRefusal::UnknownSigningKey,
        ),
        (
            "logout token",
            &|h, _| h["typ"] = json!("logout+jwt"),
            IdTokenRefusal::WrongTokenType,
        ),
        (
            "another issuer",
            &|_, c| c["iss"] = json!("https://evil.example"),
            IdTokenRefusal::Issuer,
        ),
        (
            "two audiences",
            &|_, c| c["aud"] = json!([CLIENT, "x"]),
            IdTokenRefusal::Audience,
        ),
        (
            "no audience",
            &|_, c| c["aud"] = Value::Null,
            IdTokenRefusal::Audience,
        ),
        (
            "azp",
            &|_, c| c["azp"] = json!("x"),
            IdTokenRefusal::AuthorizedParty,
        ),
        (
            "expired",
            &|_, c| c["exp"] = json!(T - 60),
            IdTokenRefusal::Expired,
        ),
        (
            "no exp",
            &|_, c| c["exp"] = Value::Null,
            IdTokenRefusal::Malformed,
        ),
        (
            "another nonce",
            &|_, c| c["nonce"] = json!("x"),
            IdTokenRefusal::Nonce,
        ),
        (
            "no nonce",
            &|_, c| c["nonce"] = Value::Null,
            IdTokenRefusal::Nonce,
        ),
        (
            "at_hash",
            &|_, c| c["at_hash"] = json!(at_hash(256, ACCESS)),
            IdTokenRefusal::AccessTokenHash,
        ),
        (
            "empty sub",
            &|_, c| c["sub"] = json!(""),
            IdTokenRefusal::Malformed,
        ),
    ];
    for (case, change, refusal) in cases {
        assert_eq!(check(&with(change)), Err(refusal), "{case}");
    }
    // Within the leeway, and `typ: JWT`, pass.
    assert!(check(&with(&|_, c| c["exp"] = json!(T - 59))).is_ok());
    assert!(check(&with(&|h, _| h["typ"] = json!("JWT"))).is_ok());
    // A signature by another key of the same algorithm.
    let forged = Signer::es512(2).token(Some("k"), &claims("ES512"));
    assert_eq!(check(&forged), Err(IdTokenRefusal::InvalidSignature));
    // Reasons are distinct.
    let reasons: std::collections::HashSet<_> = [
        IdTokenRefusal::Malformed,
        IdTokenRefusal::UnsupportedAlgorithm,
        IdTokenRefusal::WrongTokenType,
        IdTokenRefusal::UnknownSigningKey,
        IdTokenRefusal::InvalidSignature,
        IdTokenRefusal::Issuer,
        IdTokenRefusal::Audience,
        IdTokenRefusal::AuthorizedParty,
        IdTokenRefusal::Expired,
        IdTokenRefusal::Nonce,
        IdTokenRefusal::AccessTokenHash,
    ]
    .iter()
    .map(|r| r.reason())
    .collect();
    assert_eq!(reasons.len(), 11);
}

/// `oidc::LogoutTokenVerifier`: a back-channel logout token passes with
/// `sid`, `sub` or both, and each rule refuses with its own reason.
#[test]
fn logout_tokens_pass_each_rule_or_name_the_one_they_break() {
    use rstream_well_known::oidc::{
        BACKCHANNEL_LOGOUT_EVENT, LogoutTokenRefusal, LogoutTokenVerifier,
    };
    let signer = Signer::es512(1);
    let keys = keys(&signer);
    let base = || {
        json!({
            "iss": ISSUER, "aud": CLIENT, "iat": T, "jti": "j-1", "sid": "s-1", "sub": "ada",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    };
    let with = |change: &dyn Fn(&mut Value, &mut Value)| {
        let (mut header, mut claims) = (
            json!({ "alg": "ES512", "kid": "k", "typ": "logout+jwt" }),
            base(),
        );
        change(&mut header, &mut claims);
        signer.token_with_header(&header, &claims)
    };
    let verifier = LogoutTokenVerifier::new(ISSUER, CLIENT);
    let check = |token: &str| verifier.verify(token, &keys, at(T));
    let token = check(&with(&|_, _| {})).unwrap();
    assert_eq!(
        (token.sid(), token.sub(), token.jti()),
        (Some("s-1"), Some("ada"), "j-1")
    );
    // 5 minutes of age and the leeway: remembered that long against replay.
    assert_eq!(token.replayable_until(), at(T + 300 + 60));
    let only_sub = check(&with(&|_, c| {
        c.as_object_mut().unwrap().remove("sid");
    }))
    .unwrap();
    assert_eq!((only_sub.sid(), only_sub.sub()), (None, Some("ada")));
    assert!(
        check(&with(&|h, c| {
            h.as_object_mut().unwrap().remove("typ");
            c["aud"] = json!(["other", CLIENT]);
        }))
        .is_ok(),
        "no typ, and an audience list naming the client"
    );
    let b64 = |v: &Value| jwt_mint::b64(v.to_string().as_bytes());
    let none = format!("{}.{}.", b64(&json!({ "alg": "none" })), b64(&base()));
    assert_eq!(check(&none), Err(LogoutTokenRefusal::UnsupportedAlgorithm));
    let cases: [(&str, Change<'_>, LogoutTokenRefusal); 12] = [
        (
            "an ID token's typ",
            &|h, _| h["typ"] = json!("JWT"),
            LogoutTokenRefusal::WrongTokenType,
        ),
        (
            "unknown kid",
            &|h, _| h["kid"] = json!("other"),
            LogoutTokenRefusal::UnknownSigningKey,
        ),
        (
            "another issuer",
            &|_, c| c["iss"] = json!("https://evil.example"),
            LogoutTokenRefusal::Issuer,
        ),
        (
            "another audience",
            &|_, c| c["aud"] = json!("other"),
            LogoutTokenRefusal::Audience,
        ),
        (
            "no iat",
            &|_, c| {
                c.as_object_mut().unwrap().remove("iat");
            },
            LogoutTokenRefusal::IssuedAt,
        ),
        (
            "iat in the future",
            &|_, c| c["iat"] = json!(T + 61),
            LogoutTokenRefusal::IssuedAt,
        ),
        (
            "iat too old",
            &|_, c| c["iat"] = json!(T - 361),
            LogoutTokenRefusal::IssuedAt,
        ),
        (
            "expired",
            &|_, c| c["exp"] = json!(T - 61),
            LogoutTokenRefusal::Expired,
        ),
        (
            "no jti",
            &|_, c| {
                c.as_object_mut().unwrap().remove("jti");
            },
            LogoutTokenRefusal::MissingJti,
        ),
        (
            "no logout event",
            &|_, c| c["events"] = json!({ "other": {} }),
            LogoutTokenRefusal::MissingEvent,
        ),
        (
            "neither sid nor sub",
            &|_, c| {
                let c = c.as_object_mut().unwrap();
                c.remove("sid");
                c.remove("sub");
            },
            LogoutTokenRefusal::MissingSubject,
        ),
        (
            "a nonce",
            &|_, c| c["nonce"] = json!("n"),
            LogoutTokenRefusal::Nonce,
        ),
    ];
    for (case, change, refusal) in cases {
        assert_eq!(check(&with(change)), Err(refusal), "{case}");
    }
    // A changed signature.
    let mut token = with(&|_, _| {});
    let last = token.pop().unwrap();
    token.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(check(&token), Err(LogoutTokenRefusal::InvalidSignature));
}
