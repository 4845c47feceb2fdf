//! `JwtVerifier` (feature `jwt`), outside-in: tokens minted here with test
//! keys go in as bearer tokens, the session endpoint's and logout's answers
//! come out. Every refusal is paired with a token that differs only in the
//! one thing under test and is accepted, so a refusal cannot pass for the
//! wrong reason.
#![cfg(feature = "jwt")]

use crate::common;
use crate::jwt_mint;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use http::StatusCode;
use jwt_mint::*;
use rstream_well_known::jwt::{Algorithm, JwkSet, JwtKey, JwtVerifier, KeyError};
use rstream_well_known::{
    MemoryStore, StaticTokenVerifier, TokenSource, TokenVerifier, TokenVerifierChain, User,
    WellKnownLayer,
};
use serde_json::{Value, json};

/// A layer with `verifier` for tokens and a memory store for sessions.
fn layer_for<V: TokenVerifier>(verifier: V) -> WellKnownLayer<V, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier)
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap()
}

/// The session endpoint's answer for `token` in the `Authorization` header.
async fn session_with<V: TokenVerifier>(
    layer: &WellKnownLayer<V, MemoryStore>,
    token: &str,
) -> Value {
    let recorder = Recorder::default();
    let request = get(SESSION)
        .header("authorization", format!("Bearer {token}"))
        .body(empty())
        .unwrap();
    let answer = send(layer, &recorder, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(recorder.count(), 0);
    answer.json()
}

/// Who `token` authenticates through `verifier`, if anyone.
async fn who<V: TokenVerifier>(verifier: V, token: &str) -> Option<String> {
    user_of(&session_with(&layer_for(verifier), token).await)
}

fn user_of(json: &Value) -> Option<String> {
    if json["auth"]["authenticated"] == true {
        assert_eq!(json["auth"]["method"], "token-auth");
        Some(json["user"]["userId"].as_str().unwrap().to_owned())
    } else {
        assert_eq!(json, &json!({ "auth": { "authenticated": false } }));
        None
    }
}

fn ada() -> Option<String> {
    Some("user-ada".to_owned())
}

/// A verifier trusting `signer`'s public key (its secret for HS256), read
/// from a JWK with `kid`.
fn trusting(signer: &Signer, kid: Option<&str>) -> JwtVerifier {
    JwtVerifier::new(JwkSet::from_json(&jwk_set(&[signer.jwk(kid)])).unwrap())
}

fn all_signers() -> Vec<Signer> {
    let mut all = vec![Signer::hs256(SECRET)];
    all.extend(Signer::asymmetric());
    all
}

/// The claims with `changes` applied (`null` removes a claim).
fn claims_with(changes: Value) -> Value {
    let mut claims = ada_claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn every_algorithm_authenticates_and_fills_the_profile() {
    for signer in all_signers() {
        let token = signer.token(Some("k1"), &ada_claims());
        let json = session_with(&layer_for(trusting(&signer, Some("k1"))), &token).await;
        assert_eq!(
            json,
            json!({
                "auth": { "authenticated": true, "method": "token-auth" },
                "user": {
                    "userId": "user-ada",
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "image": "https://example.com/ada.png"
                },
                "tunnel": { "host": HOST, "workspaceId": "workspace-id", "projectId": "project-id" },
                "policies": ["token-auth", "rstream-auth"]
            }),
            "{}",
            signer.alg()
        );
    }
}

#[tokio::test]
async fn raw_keys_work_like_jwks() {
    for signer in all_signers() {
        let key = match (signer.public_pem(), &signer) {
            (Some(pem), _) => {
                let algorithm = Algorithm::from_name(signer.alg()).unwrap();
                let from_der = JwtKey::from_der(algorithm, &signer.public_der().unwrap()).unwrap();
                let token = signer.token(None, &ada_claims());
                assert_eq!(
                    who(JwtVerifier::new(from_der), &token).await,
                    ada(),
                    "{} DER",
                    signer.alg()
                );
                JwtKey::from_pem(algorithm, &pem).unwrap()
            }
            (None, _) => JwtKey::hs256(SECRET).unwrap(),
        };
        // A raw key without an id checks tokens with or without a `kid`.
        for kid in [None, Some("any")] {
            let token = signer.token(kid, &ada_claims());
            assert_eq!(
                who(JwtVerifier::new(key.clone()), &token).await,
                ada(),
                "{} {kid:?}",
                signer.alg()
            );
        }
    }
}

#[tokio::test]
async fn tokens_signed_by_another_implementation_verify() {
    // Signed by Python's `cryptography` (OpenSSL), not by RustCrypto.
    let fixture: Value = serde_json::from_str(include_str!("fixtures/jwt_interop.json")).unwrap();
    let vectors = fixture["vectors"].as_array().unwrap();
    let jwks: Vec<Value> = vectors.iter().map(|v| v["jwk"].clone()).collect();
    let set = JwkSet::from_json(&jwk_set(&jwks)).unwrap();
    assert_eq!(set.len(), 5);
    let verifier = JwtVerifier::new(set);
    for vector in vectors {
        let token = vector["token"].as_str().unwrap();
        assert_eq!(
            who(verifier.clone(), token).await.as_deref(),
            Some("interop-user"),
            "{}",
            vector["alg"]
        );
        if let Some(pem) = vector["pem"].as_str() {
            let algorithm = Algorithm::from_name(vector["alg"].as_str().unwrap()).unwrap();
            let key = JwtKey::from_pem(algorithm, pem).unwrap();
            assert_eq!(
                who(JwtVerifier::new(key), token).await.as_deref(),
                Some("interop-user")
            );
        }
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let signer = Signer::es512(1);
    let verifier = trusting(&signer, None).leeway(Duration::ZERO);
    let now = now();
    let cases = [
        (json!({ "exp": now - 5 }), None),
        (json!({ "exp": now + 60 }), ada()),
        (json!({ "exp": null }), None),
        (json!({ "exp": "never" }), None),
        (json!({ "nbf": now + 60 }), None),
        (json!({ "nbf": now - 5 }), ada()),
        (json!({ "nbf": "soon" }), None),
    ];
    for (changes, expected) in cases {
        let token = signer.token(None, &claims_with(changes.clone()));
        assert_eq!(who(verifier.clone(), &token).await, expected, "{changes}");
    }
}

#[tokio::test]
async fn the_leeway_is_exact_at_its_edges() {
    let signer = Signer::hs256(SECRET);
    // A fixed clock: 1,800,000,000 s after the epoch.
    let t = 1_800_000_000i64;
    let at = |secs: i64| move || UNIX_EPOCH + Duration::from_secs(secs as u64);
    let verifier = |leeway: u64| {
        trusting(&signer, None)
            .leeway(Duration::from_secs(leeway))
            .clock(at(t))
    };
    let token = |changes: Value| signer.token(None, &claims_with(changes));
    // exp: valid while now < exp + leeway.
    assert_eq!(
        who(verifier(0), &token(json!({ "exp": t + 1 }))).await,
        ada()
    );
    assert_eq!(who(verifier(0), &token(json!({ "exp": t }))).await, None);
    assert_eq!(
        who(verifier(30), &token(json!({ "exp": t - 29 }))).await,
        ada()
    );
    assert_eq!(
        who(verifier(30), &token(json!({ "exp": t - 30 }))).await,
        None
    );
    // Fractional times count.
    assert_eq!(
        who(verifier(0), &token(json!({ "exp": t as f64 + 0.5 }))).await,
        ada()
    );
    // nbf: valid from nbf - leeway on.
    let valid = json!({ "exp": t + 100 });
    let nbf = |nbf: i64| {
        let mut changes = valid.clone();
        changes["nbf"] = json!(nbf);
        token(changes)
    };
    assert_eq!(who(verifier(0), &nbf(t)).await, ada());
    assert_eq!(who(verifier(0), &nbf(t + 1)).await, None);
    assert_eq!(who(verifier(30), &nbf(t + 30)).await, ada());
    assert_eq!(who(verifier(30), &nbf(t + 31)).await, None);
    // The default leeway is 30 s.
    let default = trusting(&signer, None).clock(at(t));
    assert_eq!(
        who(default.clone(), &token(json!({ "exp": t - 29 }))).await,
        ada()
    );
    assert_eq!(who(default, &token(json!({ "exp": t - 31 }))).await, None);
    // A clock before 1970 decides nothing: not authenticated.
    let broken = trusting(&signer, None).clock(|| UNIX_EPOCH - Duration::from_secs(1));
    assert_eq!(who(broken, &token(json!({ "exp": t + 100 }))).await, None);
}

#[tokio::test]
async fn a_wrong_key_is_refused() {
    let pairs = [
        (Signer::hs256(SECRET), Signer::hs256(OTHER_SECRET)),
        (Signer::es256(1), Signer::es256(2)),
        (Signer::es512(1), Signer::es512(2)),
        (Signer::eddsa(1), Signer::eddsa(2)),
    ];
    for (trusted, other) in pairs {
        let verifier = trusting(&trusted, None);
        assert_eq!(
            who(verifier.clone(), &trusted.token(None, &ada_claims())).await,
            ada()
        );
        assert_eq!(
            who(verifier, &other.token(None, &ada_claims())).await,
            None,
            "{}",
            other.alg()
        );
    }
    // RS256: one test key; another key's signature is a random one.
    let rs = Signer::rs256();
    let token = rs.token(None, &ada_claims());
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64(&[0x5a; 256]));
    assert_eq!(who(trusting(&rs, None), &token).await, ada());
    assert_eq!(who(trusting(&rs, None), &forged).await, None);
}

#[tokio::test]
async fn only_the_keys_algorithm_is_accepted() {
    let es256 = Signer::es256(1);
    let verifier = trusting(&es256, None);
    let claims = ada_claims();
    // Signed with another algorithm's key: no key of that algorithm.
    for other in [
        Signer::es512(1),
        Signer::eddsa(1),
        Signer::hs256(SECRET),
        Signer::rs256(),
    ] {
        assert_eq!(
            who(verifier.clone(), &other.token(None, &claims)).await,
            None,
            "{}",
            other.alg()
        );
    }
    // An ES256 signature under another `alg`, and `alg` spelled otherwise.
    for alg in [
        "ES512", "es256", "ES256 ", "RS256", "HS256", "PS256", "ES384",
    ] {
        let token = es256.token_with_header(&json!({ "alg": alg }), &claims);
        assert_eq!(who(verifier.clone(), &token).await, None, "{alg}");
    }
    // A header without `alg`, or with a non-string one.
    for header in [json!({}), json!({ "alg": 1 }), json!({ "alg": null })] {
        let token = es256.token_with_header(&header, &claims);
        assert_eq!(who(verifier.clone(), &token).await, None, "{header}");
    }
    let token = es256.token_with_header(&json!({ "alg": "ES256" }), &claims);
    assert_eq!(who(verifier, &token).await, ada());
}

#[tokio::test]
async fn alg_none_is_refused() {
    let signer = Signer::hs256(SECRET);
    let verifier = trusting(&signer, None);
    let payload = b64(ada_claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({ "alg": alg, "typ": "JWT" }).to_string().as_bytes());
        for signature in ["", "AAAA"] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(
                who(verifier.clone(), &token).await,
                None,
                "{alg} {signature:?}"
            );
        }
        // Even "signed" with the verifier's own secret.
        let token = signer.sign_parts(&header, &payload);
        assert_eq!(who(verifier.clone(), &token).await, None, "{alg}");
    }
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    // The classic confusion: the attacker knows the public key and uses its
    // bytes as an HMAC secret, hoping the verifier does the same.
    for signer in [
        Signer::es256(1),
        Signer::es512(1),
        Signer::rs256(),
        Signer::eddsa(1),
    ] {
        let pem = signer.public_pem().unwrap();
        let der = signer.public_der().unwrap();
        let jwk = signer.jwk(Some("k1")).to_string();
        let algorithm = Algorithm::from_name(signer.alg()).unwrap();
        let verifiers = [
            JwtVerifier::new(JwtKey::from_pem(algorithm, &pem).unwrap()),
            trusting(&signer, Some("k1")),
        ];
        for verifier in verifiers {
            assert_eq!(
                who(verifier.clone(), &signer.token(Some("k1"), &ada_claims())).await,
                ada()
            );
            for secret in [pem.as_bytes(), pem.trim().as_bytes(), &der, jwk.as_bytes()] {
                let forged = Signer::hs256(secret).token(Some("k1"), &ada_claims());
                assert_eq!(
                    who(verifier.clone(), &forged).await,
                    None,
                    "{}",
                    signer.alg()
                );
            }
        }
    }
    // A public key cannot even be configured as an HS256 key.
    let pem = Signer::es256(1).public_pem().unwrap();
    assert_eq!(
        JwtKey::from_pem(Algorithm::Hs256, &pem).unwrap_err(),
        KeyError::WrongKeyForm
    );
}

#[tokio::test]
async fn tampering_with_any_part_is_refused() {
    for signer in all_signers() {
        let verifier = trusting(&signer, None);
        let token = signer.token(None, &ada_claims());
        assert_eq!(who(verifier.clone(), &token).await, ada());
        let parts: Vec<&str> = token.split('.').collect();

        // Another payload under the original signature.
        let forged_claims = claims_with(json!({ "sub": "user-admin" }));
        let payload = b64(forged_claims.to_string().as_bytes());
        let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            who(verifier.clone(), &forged).await,
            None,
            "{} payload",
            signer.alg()
        );

        // Another header under the original signature.
        let header = b64(json!({ "alg": signer.alg(), "typ": "JWT", "kid": "x" })
            .to_string()
            .as_bytes());
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            who(verifier.clone(), &forged).await,
            None,
            "{} header",
            signer.alg()
        );

        // One character changed anywhere: in each part, first and last.
        for (part, at) in [
            (0, 0),
            (0, usize::MAX),
            (1, 0),
            (1, usize::MAX),
            (2, 0),
            (2, usize::MAX),
        ] {
            let mut parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            let text = &mut parts[part];
            let index = at.min(text.len() - 1);
            let original = text.as_bytes()[index];
            let replacement = if original == b'A' { 'B' } else { 'A' };
            text.replace_range(index..=index, &replacement.to_string());
            let forged = parts.join(".");
            assert_eq!(
                who(verifier.clone(), &forged).await,
                None,
                "{} part {part} at {at}",
                signer.alg()
            );
        }

        // A truncated signature, an empty one, extra bytes after it.
        for forged in [
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 4]
            ),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{token}AAAA"),
            format!("{token}="),
            format!("{token}.x"),
            format!("{}.{}", parts[0], parts[1]),
        ] {
            assert_eq!(
                who(verifier.clone(), &forged).await,
                None,
                "{} {forged}",
                signer.alg()
            );
        }
    }
}

#[tokio::test]
async fn a_token_without_a_user_id_is_refused() {
    let signer = Signer::hs256(SECRET);
    let verifier = trusting(&signer, None);
    for sub in [
        json!(null),
        json!(""),
        json!(42),
        json!(["user-ada"]),
        json!({ "id": "user-ada" }),
    ] {
        let token = signer.token(None, &claims_with(json!({ "sub": sub })));
        assert_eq!(who(verifier.clone(), &token).await, None, "sub {sub}");
    }
    // Another claim named as the user id.
    let token = signer.token(
        None,
        &claims_with(json!({ "sub": null, "uid": "user-ada" })),
    );
    assert_eq!(who(verifier.clone(), &token).await, None);
    assert_eq!(who(verifier.user_id_claim("uid"), &token).await, ada());
}

#[tokio::test]
async fn claim_names_are_configurable() {
    let signer = Signer::hs256(SECRET);
    let claims = json!({
        "uid": "u-7", "display": "Grace", "mail": "grace@example.com", "avatar": "https://example.com/g.png",
        "name": "not this one", "exp": now() + 60,
    });
    let verifier = trusting(&signer, None)
        .user_id_claim("uid")
        .name_claim("display")
        .email_claim("mail")
        .image_claim("avatar");
    let json = session_with(&layer_for(verifier), &signer.token(None, &claims)).await;
    assert_eq!(
        json["user"],
        json!({ "userId": "u-7", "name": "Grace", "email": "grace@example.com", "image": "https://example.com/g.png" })
    );
    // Profile claims that are not strings are left out.
    let claims = claims_with(json!({ "name": 7, "email": ["a@example.com"], "picture": null }));
    let json = session_with(
        &layer_for(trusting(&signer, None)),
        &signer.token(None, &claims),
    )
    .await;
    assert_eq!(
        json["user"],
        json!({ "userId": "user-ada", "name": null, "email": null, "image": null })
    );
}

#[tokio::test]
async fn a_huge_token_is_refused_before_decoding() {
    let signer = Signer::hs256(SECRET);
    // A valid token, made long by a claim.
    let claims = claims_with(json!({ "padding": "x".repeat(9000) }));
    let token = signer.token(None, &claims);
    assert!(token.len() > JwtVerifier::DEFAULT_MAX_TOKEN_LEN);
    assert_eq!(who(trusting(&signer, None), &token).await, None);
    assert_eq!(
        who(trusting(&signer, None).max_token_len(token.len()), &token).await,
        ada()
    );
    assert_eq!(
        who(
            trusting(&signer, None).max_token_len(token.len() - 1),
            &token
        )
        .await,
        None
    );
    // 60 KB of junk in the query parameter.
    let layer = layer_for(trusting(&signer, None));
    let junk = "A.".repeat(30_000);
    let answer = send(
        &layer,
        &Recorder::default(),
        get(&format!("{SESSION}?rstream.token={junk}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.json(), json!({ "auth": { "authenticated": false } }));
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let signer = Signer::es256(1);
    let verifier = trusting(&signer, Some("k1"));
    assert_eq!(
        who(verifier.clone(), &signer.token(Some("k1"), &ada_claims())).await,
        ada()
    );
    assert_eq!(
        who(verifier.clone(), &signer.token(Some("k2"), &ada_claims())).await,
        None
    );
    // A token without a kid is checked against every key of its algorithm.
    assert_eq!(
        who(verifier.clone(), &signer.token(None, &ada_claims())).await,
        ada()
    );
    // A kid that is not a string makes the header malformed.
    let token = signer.token_with_header(&json!({ "alg": "ES256", "kid": 1 }), &ada_claims());
    assert_eq!(who(verifier, &token).await, None);
}

#[tokio::test]
async fn keys_rotate_by_kid() {
    let (old, new) = (Signer::es512(1), Signer::es512(2));
    let both = JwtVerifier::new(
        JwkSet::from_json(&jwk_set(&[old.jwk(Some("2024")), new.jwk(Some("2025"))])).unwrap(),
    );
    let old_token = old.token(Some("2024"), &ada_claims());
    let new_token = new.token(Some("2025"), &ada_claims());
    assert_eq!(who(both.clone(), &old_token).await, ada());
    assert_eq!(who(both.clone(), &new_token).await, ada());
    // A token naming the other key's id is checked against that key only.
    assert_eq!(
        who(both, &old.token(Some("2025"), &ada_claims())).await,
        None
    );
    // The old key retired.
    let new_only = trusting(&new, Some("2025"));
    assert_eq!(who(new_only.clone(), &old_token).await, None);
    assert_eq!(who(new_only, &new_token).await, ada());
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    let signer = Signer::hs256(SECRET);
    let iss = "https://auth.example.com";
    let verifier = trusting(&signer, None)
        .issuer(iss)
        .issuer("https://other.example.com")
        .audience("orders");
    let cases = [
        (json!({ "iss": iss, "aud": "orders" }), ada()),
        (
            json!({ "iss": "https://other.example.com", "aud": ["billing", "orders"] }),
            ada(),
        ),
        (
            json!({ "iss": "https://evil.example.com", "aud": "orders" }),
            None,
        ),
        (
            json!({ "iss": "https://auth.example.com/", "aud": "orders" }),
            None,
        ),
        (json!({ "aud": "orders" }), None),
        (json!({ "iss": [iss], "aud": "orders" }), None),
        (json!({ "iss": iss, "aud": "billing" }), None),
        (json!({ "iss": iss, "aud": ["billing"] }), None),
        (json!({ "iss": iss, "aud": [] }), None),
        (json!({ "iss": iss }), None),
        (json!({ "iss": iss, "aud": ["orders", 1] }), None),
        (json!({ "iss": iss, "aud": "ORDERS" }), None),
    ];
    for (changes, expected) in cases {
        let token = signer.token(None, &claims_with(changes.clone()));
        assert_eq!(who(verifier.clone(), &token).await, expected, "{changes}");
    }
    // No audience configured: a token meant for some audience is refused,
    // one without `aud` accepted; no issuer configured: any `iss`.
    let open = trusting(&signer, None);
    assert_eq!(
        who(
            open.clone(),
            &signer.token(None, &claims_with(json!({ "aud": "orders" })))
        )
        .await,
        None
    );
    assert_eq!(
        who(
            open,
            &signer.token(None, &claims_with(json!({ "iss": "anyone" })))
        )
        .await,
        ada()
    );
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let signer = Signer::hs256(SECRET);
    let verifier = trusting(&signer, None);
    let claims = b64(ada_claims().to_string().as_bytes());
    let header = b64(br#"{"alg":"HS256"}"#);
    let cases: Vec<(String, &str)> = vec![
        (signer.sign_parts(&header, &claims), "control"),
        // `crit` names an extension this verifier does not implement.
        (
            signer.sign_parts(&b64(br#"{"alg":"HS256","crit":["exp"],"exp":1}"#), &claims),
            "crit",
        ),
        // A header member named twice.
        (
            signer.sign_parts(&b64(br#"{"alg":"none","alg":"HS256"}"#), &claims),
            "duplicate alg",
        ),
        // A claim named twice.
        (
            signer.sign_parts(
                &header,
                &b64(format!(
                    r#"{{"sub":"user-ada","sub":"user-admin","exp":{}}}"#,
                    now() + 60
                )
                .as_bytes()),
            ),
            "duplicate sub",
        ),
        // Payloads that are not JSON objects.
        (signer.sign_parts(&header, &b64(b"[1,2]")), "array payload"),
        (
            signer.sign_parts(&header, &b64(b"not json")),
            "text payload",
        ),
        (signer.sign_parts(&header, ""), "empty payload"),
        // Headers that are not JSON objects.
        (
            signer.sign_parts(&b64(b"\"HS256\""), &claims),
            "string header",
        ),
        (signer.sign_parts("", &claims), "empty header"),
        // Padding and standard base64 are not base64url.
        (
            signer.sign_parts(&format!("{header}="), &claims),
            "padded header",
        ),
        (
            signer.sign_parts(&header, &format!("{claims}==")),
            "padded payload",
        ),
        // Five parts: a JWE.
        (
            format!("{}.a.b", signer.sign_parts(&header, &claims)),
            "five parts",
        ),
    ];
    for (token, case) in cases {
        let expected = if case == "control" { ada() } else { None };
        assert_eq!(who(verifier.clone(), &token).await, expected, "{case}");
    }
}

#[tokio::test]
async fn the_scope_check_refuses_valid_tokens_on_both_endpoints() {
    let signer = Signer::hs256(SECRET);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let verifier = trusting(&signer, None).scope_check(move |claims, cx| {
        record.lock().unwrap().push((
            claims.subject().map(str::to_owned),
            cx.tunnel().project_id().map(str::to_owned),
            cx.method().clone(),
            cx.path().to_owned(),
            cx.source(),
        ));
        claims.scopes().any(|scope| scope == "session:read") && cx.source() == TokenSource::Header
    });
    let layer = layer_for(verifier);
    let allowed = signer.token(
        None,
        &claims_with(json!({ "scope": "profile session:read" })),
    );
    let denied = signer.token(None, &claims_with(json!({ "scope": "profile" })));
    assert_eq!(user_of(&session_with(&layer, &allowed).await), ada());
    assert_eq!(user_of(&session_with(&layer, &denied).await), None);
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            Some("user-ada".to_owned()),
            Some("project-id".to_owned()),
            http::Method::GET,
            SESSION.to_owned(),
            TokenSource::Header
        )
    );
    // The same token from the query parameter is out of scope.
    let recorder = Recorder::default();
    let by_query = get(&format!("{SESSION}?rstream.token={allowed}"))
        .body(empty())
        .unwrap();
    assert_eq!(
        user_of(&send(&layer, &recorder, by_query).await.json()),
        None
    );
    assert_eq!(seen.lock().unwrap().last().unwrap().4, TokenSource::Query);

    // Logout: an accepted token makes it a token-authenticated logout, which
    // clears nothing even with a session cookie; a refused one leaves the
    // request to its cookie, whose session is revoked and cleared.
    for (token, clears) in [(&allowed, false), (&denied, true)] {
        let cookie = sign_in(&layer, common::ada()).await;
        let request = logout_request()
            .header("authorization", format!("Bearer {token}"))
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        assert_eq!(
            answer.headers.contains_key("set-cookie"),
            clears,
            "clears: {clears}"
        );
        let session = send(
            &layer,
            &Recorder::default(),
            get(SESSION)
                .header("cookie", &cookie)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(session.json()["auth"]["authenticated"], !clears);
    }
    // Without a cookie, logout with a refused token is the anonymous 204.
    let request = logout_request()
        .header("authorization", format!("Bearer {denied}"))
        .body(empty())
        .unwrap();
    let answer = send(&layer, &Recorder::default(), request).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(!answer.headers.contains_key("set-cookie"));
}

#[tokio::test]
async fn other_claims_reach_the_user_attributes() {
    // What the app's handlers would see: the verifier's user, through a
    // chain (whose user is the JWT verifier's, unchanged).
    let signer = Signer::hs256(SECRET);
    let claims = claims_with(json!({ "roles": ["admin"], "tenant": "t-1", "iss": "me" }));
    let token = signer.token(None, &claims);
    let chain = TokenVerifierChain::new().verifier(trusting(&signer, None));
    let json = session_with(&layer_for(chain), &token).await;
    // The endpoint's JSON stays exactly the spec's: no attribute in it.
    assert_eq!(json["user"].as_object().unwrap().len(), 4);
    assert!(!json.to_string().contains("admin"));
}

#[tokio::test]
async fn a_chain_tries_jwts_then_static_tokens() {
    let signer = Signer::es512(1);
    let chain = TokenVerifierChain::new()
        .verifier(trusting(&signer, None))
        .verifier(StaticTokenVerifier::new().with_token(TOKEN, User::new("ci-bot")));
    assert_eq!(
        who(chain.clone(), &signer.token(None, &ada_claims())).await,
        ada()
    );
    assert_eq!(who(chain.clone(), TOKEN).await.as_deref(), Some("ci-bot"));
    assert_eq!(who(chain.clone(), "nobody").await, None);
    let expired = signer.token(None, &claims_with(json!({ "exp": now() - 3600 })));
    assert_eq!(who(chain, &expired).await, None);
}

#[tokio::test]
async fn a_failing_verifier_in_a_chain_neither_blocks_nor_accepts() {
    let failing =
        FaultyVerifier::new(StaticTokenVerifier::new().with_token(TOKEN, User::new("never")));
    let chain = TokenVerifierChain::new()
        .verifier(failing.clone())
        .verifier(StaticTokenVerifier::new().with_token(TOKEN, User::new("ci-bot")));
    for fault in [Fault::Error, Fault::Panic, Fault::PanicEagerly] {
        failing.set(fault);
        // The next verifier still decides.
        assert_eq!(
            who(chain.clone(), TOKEN).await.as_deref(),
            Some("ci-bot"),
            "{fault:?}"
        );
        // No verifier accepts: the chain fails, the layer falls back to the
        // cookie, and the cookie's session authenticates.
        let layer = layer_for(chain.clone());
        let cookie = sign_in(&layer, common::ada()).await;
        let request = get(SESSION)
            .header("authorization", "Bearer unknown")
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let answer = send(&layer, &Recorder::default(), request).await;
        assert_eq!(answer.json()["auth"]["method"], "rstream-auth", "{fault:?}");
    }
    failing.set(Fault::Pass);
    assert_eq!(who(chain, TOKEN).await.as_deref(), Some("never"));
}

#[test]
fn keys_are_checked_when_configured() {
    assert_eq!(
        JwtKey::hs256([7u8; 31]).unwrap_err(),
        KeyError::SecretTooShort
    );
    assert!(JwtKey::hs256([7u8; 32]).is_ok());
    let es256 = Signer::es256(1).public_pem().unwrap();
    // A P-256 key is no ES512 key, nor an EdDSA one.
    assert_eq!(
        JwtKey::from_pem(Algorithm::Es512, &es256).unwrap_err(),
        KeyError::InvalidPublicKey
    );
    assert_eq!(
        JwtKey::from_pem(Algorithm::EdDsa, &es256).unwrap_err(),
        KeyError::InvalidPublicKey
    );
    assert_eq!(
        JwtKey::from_pem(Algorithm::Rs256, &es256).unwrap_err(),
        KeyError::InvalidPublicKey
    );
    // A private key is no public key.
    let private = include_str!("fixtures/rsa_test_key.pem");
    assert_eq!(
        JwtKey::from_pem(Algorithm::Rs256, private).unwrap_err(),
        KeyError::InvalidPublicKey
    );
    // RSA keys under 2048 bits are refused.
    let small = include_str!("fixtures/rsa_1024_public.pem");
    assert!(JwtKey::from_pem(Algorithm::Rs256, small).is_err());
    assert!(JwtKey::from_pem(Algorithm::Rs256, &Signer::rs256().public_pem().unwrap()).is_ok());
}

#[test]
fn jwk_sets_keep_what_verifies_and_refuse_what_is_broken() {
    let es256 = Signer::es256(1).jwk(Some("a"));
    let mut enc = es256.clone();
    enc["use"] = json!("enc");
    let mut secp256k1 = es256.clone();
    secp256k1["crv"] = json!("secp256k1");
    let mut oaep = Signer::rs256().jwk(Some("r"));
    oaep["alg"] = json!("RSA-OAEP");
    let mut sign_only = es256.clone();
    sign_only["key_ops"] = json!(["sign"]);
    let set = JwkSet::from_json(&jwk_set(&[
        es256.clone(),
        enc,
        secp256k1,
        oaep,
        sign_only,
        json!({ "kty": "XYZ" }),
    ]))
    .unwrap();
    assert_eq!((set.len(), set.skipped()), (1, 5));

    let broken = |change: &dyn Fn(&mut Value)| {
        let mut jwk = es256.clone();
        change(&mut jwk);
        JwkSet::from_json(&jwk_set(&[jwk]))
    };
    // A point off the curve, a short coordinate, a contradicting alg.
    assert!(broken(&|jwk| jwk["y"] = jwk["x"].clone()).is_err());
    assert!(broken(&|jwk| jwk["x"] = json!(b64(&[1; 31]))).is_err());
    assert!(broken(&|jwk| jwk["alg"] = json!("ES512")).is_err());
    assert!(broken(&|jwk| jwk["x"] = json!("not base64!")).is_err());
    assert!(
        broken(&|jwk| {
            jwk.as_object_mut().unwrap().remove("kty");
        })
        .is_err()
    );
    // Not a set at all.
    assert!(matches!(
        JwkSet::from_json(r#"{"keys":[1]}"#),
        Err(KeyError::InvalidJwk(_))
    ));
    for text in ["", "[]", "{}", r#"{"keys":{}}"#] {
        assert_eq!(
            JwkSet::from_json(text).unwrap_err(),
            KeyError::InvalidJwkSet,
            "{text}"
        );
    }
    // Published symmetric keys are never trusted.
    let oct = Signer::hs256(SECRET).jwk(Some("s"));
    assert_eq!(
        JwkSet::from_json(&jwk_set(std::slice::from_ref(&oct)))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        JwkSet::from_public_json(jwk_set(&[oct]).as_bytes())
            .unwrap()
            .len(),
        0
    );
    // Small RSA keys are refused.
    let mut small = Signer::rs256().jwk(None);
    small["n"] = json!(b64(&[0xff; 128]));
    assert!(JwkSet::from_json(&jwk_set(&[small])).is_err());
}

#[test]
fn debug_output_shows_no_key_material() {
    let key = JwtKey::hs256(SECRET).unwrap().with_kid("k1");
    let text = format!("{:?} {:?}", key, JwtVerifier::new(key.clone()));
    assert!(text.contains("k1") && text.contains("Hs256"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    let _ = SystemTime::now();
}
