//! What verifying a bearer token costs on the session endpoint, per
//! verifier, in one run: `StaticTokenVerifier` (the baseline), then
//! `JwtVerifier` with HS256, ES512 (rstream application tokens), ES256,
//! RS256 and EdDSA keys with its verified-token cache off (every request
//! verifies the signature), the same token again with the cache on (the
//! default: a repeated token skips the signature), and a
//! `TokenVerifierChain` (JWTs, then static tokens) reaching its static token.
//!
//! Each case is `GET /.well-known/rstream/session` with a valid
//! `Authorization: Bearer` token through the layer, polled once with
//! `now_or_never` (the verifiers are ready at once: no runtime is measured).
//! Requests are built outside the timed routine. Before timing, each case's
//! answer is checked to be the authenticated user, so a broken token cannot
//! produce a fast but meaningless figure.
//!
//! Run: `cargo bench --bench verifiers -- --warm-up-time 1 --measurement-time 3`;
//! divide each `jwt_*` time by `static_token`'s for the ratio.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use rstream_well_known::jwt::{JwkSet, JwtVerifier};
use rstream_well_known::{
    MemoryStore, StaticTokenVerifier, TokenVerifier, TokenVerifierChain, Tunnel, User,
    WellKnownLayer,
};
use tower::{Layer, service_fn};

mod common;
use common::*;

#[path = "../tests/jwt_mint/mod.rs"]
mod jwt_mint;
use jwt_mint::Signer;

fn layer_for<V: TokenVerifier>(verifier: V) -> WellKnownLayer<V, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(Tunnel::new(HOST_NAME, "workspace-id", "project-id").expect("a valid tunnel"))
        .with_token_verifier(verifier)
        .with_session_store(MemoryStore::new())
        .build()
        .expect("a valid configuration")
}

/// A JWT verifier trusting `signer`'s key, as a JWK with a `kid`, its
/// verified-token cache off.
fn jwt_verifier(signer: &Signer) -> JwtVerifier {
    let set = jwt_mint::jwk_set(&[signer.jwk(Some("k1"))]);
    JwtVerifier::new(JwkSet::from_json(&set).expect("a valid JWK set")).cache_capacity(0)
}

/// Claims like an identity provider's: the profile, issuer, audience, a
/// scope and a role, valid for a day.
fn claims() -> serde_json::Value {
    serde_json::json!({
        "sub": "user-id",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "picture": "https://example.com/ada.png",
        "iss": "https://auth.example.com",
        "exp": jwt_mint::now() + 86_400,
        "iat": jwt_mint::now(),
        "scope": "session:read profile",
        "roles": ["reader"],
    })
}

/// Benches one verifier: `token` must authenticate `user-id`.
fn bench<V: TokenVerifier>(c: &mut Criterion, name: &str, verifier: V, token: &str) {
    let mut service = layer_for(verifier).layer(service_fn(inner_service));
    let bearer = format!("Bearer {token}");
    let (status, _, body) = collect(call_now(
        &mut service,
        request(SESSION_PATH, Some((AUTHORIZATION, &bearer))),
    ));
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(json["auth"]["method"], "token-auth", "{name}: {json}");
    assert_eq!(json["user"]["userId"], "user-id", "{name}");
    c.bench_function(&format!("verifiers/{name}"), |b| {
        b.iter_batched(
            || request(SESSION_PATH, Some((AUTHORIZATION, &bearer))),
            |request| black_box(call_now(&mut service, request)),
            BatchSize::SmallInput,
        )
    });
}

fn verifiers(c: &mut Criterion) {
    let statics =
        || StaticTokenVerifier::new().with_token(TOKEN, User::new("user-id").with_name("Ada"));
    bench(c, "static_token", statics(), TOKEN);
    for signer in [
        Signer::hs256(jwt_mint::SECRET),
        Signer::es512(1),
        Signer::es256(1),
        Signer::rs256(),
        Signer::eddsa(1),
    ] {
        let token = signer.token(Some("k1"), &claims());
        let name = format!("jwt_{}", signer.alg().to_ascii_lowercase());
        bench(c, &name, jwt_verifier(&signer), &token);
    }
    for signer in [Signer::hs256(jwt_mint::SECRET), Signer::es512(1)] {
        let token = signer.token(Some("k1"), &claims());
        let name = format!("jwt_{}_cached", signer.alg().to_ascii_lowercase());
        let cached = jwt_verifier(&signer).cache_capacity(JwtVerifier::DEFAULT_CACHE_CAPACITY);
        bench(c, &name, cached, &token);
    }
    let hs256 = Signer::hs256(jwt_mint::SECRET);
    let chain = TokenVerifierChain::new()
        .verifier(jwt_verifier(&hs256))
        .verifier(statics());
    bench(c, "chain_static_token", chain, TOKEN);
}

criterion_group!(benches, verifiers);
criterion_main!(benches);
