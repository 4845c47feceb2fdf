//! JWT verification behind the layer (feature `jwt`; `jwks` for a key URL).
//!
//! ```text
//! cargo run --example jwt --features jwt
//! ```
//!
//! Serves the well-known endpoints on `JWT_ADDR` (default `127.0.0.1:3001`),
//! accepting:
//!
//! - HS256 tokens signed with `JWT_SECRET` (32 bytes or more; default: a
//!   random secret, printed), such as rstream's self-hosted engine issues;
//! - with `JWKS_URL` set (and `--features jwks`), tokens signed by a key of
//!   that JWK set, fetched at start-up and refreshed in the background;
//! - the static service token `JWT_SERVICE_TOKEN`, after the JWTs, through a
//!   `TokenVerifierChain`.
//!
//! Tokens must carry `exp`; with `JWT_ISSUER` / `JWT_AUDIENCE` set, `iss` /
//! `aud` must match. Tokens from the `rstream.token` query parameter are
//! only accepted with a `session:read` scope, to show the scope check.
//!
//! It prints a ready-made HS256 token for `user-demo`, valid for an hour,
//! and the `curl` line that uses it.

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64ct::{Base64UrlUnpadded, Encoding as _};
use hmac::{KeyInit as _, Mac as _};
use rstream_well_known::jwt::{JwtKey, JwtVerifier};
use rstream_well_known::{
    SessionId, StaticTokenVerifier, TokenSource, TokenVerifierChain, Tunnel, User, WellKnownLayer,
};
use tokio::net::TcpListener;

type BoxError = Box<dyn Error + Send + Sync>;

/// The verifier for HS256 tokens signed with `secret`, with the optional
/// issuer and audience, and the scope check for query-parameter tokens.
///
/// # Errors
///
/// For a secret shorter than 32 bytes.
pub fn hs256_verifier(
    secret: &str,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<JwtVerifier, BoxError> {
    let mut verifier = JwtVerifier::new(JwtKey::hs256(secret)?)
        .leeway(Duration::from_secs(30))
        .scope_check(|claims, cx| {
            // A token in a URL leaks into logs and history: accept it only
            // when it was issued for that, and only to read.
            cx.source() == TokenSource::Header
                || (cx.method() == "GET" && claims.scopes().any(|s| s == "session:read"))
        });
    if let Some(issuer) = issuer {
        verifier = verifier.issuer(issuer);
    }
    if let Some(audience) = audience {
        verifier = verifier.audience(audience);
    }
    Ok(verifier)
}

/// An HS256 token for `user-demo`, valid for `ttl`, signed with `secret`
/// (what an identity provider would issue).
pub fn mint(secret: &str, ttl: Duration, issuer: Option<&str>, audience: Option<&str>) -> String {
    let exp = SystemTime::now()
        .checked_add(ttl)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut claims = serde_json::json!({
        "sub": "user-demo",
        "name": "Demo User",
        "email": "demo@example.com",
        "exp": exp,
        "roles": ["reader"],
    });
    if let Some(issuer) = issuer {
        claims["iss"] = issuer.into();
    }
    if let Some(audience) = audience {
        claims["aud"] = audience.into();
    }
    let b64 = |bytes: &[u8]| Base64UrlUnpadded::encode_string(bytes);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length");
    };
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// The app: a greeting behind the layer, for `host` (`127.0.0.1:<port>`).
///
/// # Errors
///
/// For a configuration the layer refuses.
pub fn app(host: &str, verifier: TokenVerifierChain) -> Result<Router, BoxError> {
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::new(host, "workspace-id", "project-id")?)
        .with_token_verifier(verifier)
        .build()?;
    Ok(Router::new()
        .route("/", get(|| async { "hello\n" }))
        .layer(layer))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let addr = env("JWT_ADDR").unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let secret = match env("JWT_SECRET") {
        Some(secret) => secret,
        None => SessionId::generate()?.expose().to_owned(),
    };
    let (issuer, audience) = (env("JWT_ISSUER"), env("JWT_AUDIENCE"));

    let mut chain = TokenVerifierChain::new();
    chain.push(hs256_verifier(
        &secret,
        issuer.as_deref(),
        audience.as_deref(),
    )?);
    #[cfg(feature = "jwks")]
    if let Some(url) = env("JWKS_URL") {
        let keys = rstream_well_known::jwt::JwksSource::builder(url).build()?;
        if let Err(error) = keys.refresh().await {
            eprintln!("JWKS not available yet ({error}); retrying in the background");
        }
        let mut verifier = JwtVerifier::from_jwks(keys);
        if let Some(issuer) = &issuer {
            verifier = verifier.issuer(issuer);
        }
        if let Some(audience) = &audience {
            verifier = verifier.audience(audience);
        }
        chain.push(verifier);
        println!("also accepting tokens signed by the keys at JWKS_URL");
    }
    if let Some(token) = env("JWT_SERVICE_TOKEN") {
        chain.push(StaticTokenVerifier::new().with_token(token, User::new("service")));
    }

    let listener = TcpListener::bind(&addr).await?;
    let host = listener.local_addr()?.to_string();
    let token = mint(
        &secret,
        Duration::from_secs(3600),
        issuer.as_deref(),
        audience.as_deref(),
    );
    println!("listening on http://{host}");
    println!("HS256 secret: {secret}");
    println!("a token for user-demo, valid for an hour:\n  {token}");
    println!(
        "  curl -s http://{host}/.well-known/rstream/session -H 'Authorization: Bearer {token}'"
    );
    axum::serve(listener, app(&host, chain)?).await?;
    Ok(())
}
