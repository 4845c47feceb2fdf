//! Composing verifiers, outside-in: `Arc<V>`, `BoxTokenVerifier` and
//! `TokenVerifierChain` behind the layer, and the chain's rules for refusals
//! and failures.

use crate::common;

use std::sync::Arc;

use common::*;
use http::StatusCode;
use rstream_well_known::{
    BoxTokenVerifier, MemoryStore, StaticTokenVerifier, TokenVerifier, TokenVerifierChain, User,
    WellKnownLayer,
};
use serde_json::json;

fn layer_for<V: TokenVerifier>(verifier: V) -> WellKnownLayer<V, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier)
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap()
}

/// The session endpoint's answer for a bearer `token` and an optional cookie.
async fn session<V: TokenVerifier>(
    layer: &WellKnownLayer<V, MemoryStore>,
    token: &str,
    cookie: Option<&str>,
) -> Answer {
    let mut request = get(SESSION).header("authorization", format!("Bearer {token}"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let answer = send(layer, &Recorder::default(), request.body(empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    answer
}

async fn who<V: TokenVerifier>(verifier: V, token: &str) -> Option<String> {
    let json = session(&layer_for(verifier), token, None).await.json();
    json["user"]["userId"].as_str().map(str::to_owned)
}

fn tokens(token: &str, user: &str) -> StaticTokenVerifier {
    StaticTokenVerifier::new().with_token(token, User::new(user))
}

#[tokio::test]
async fn a_shared_verifier_serves_several_layers() {
    let shared = Arc::new(tokens(TOKEN, "ci-bot"));
    let (one, two) = (layer_for(Arc::clone(&shared)), layer_for(shared));
    for layer in [&one, &two] {
        let json = session(layer, TOKEN, None).await.json();
        assert_eq!(json["user"]["userId"], "ci-bot");
    }
}

#[tokio::test]
async fn a_boxed_verifier_chosen_at_run_time_behaves_like_the_original() {
    for kind in ["static", "chain", "recording"] {
        let verifier = match kind {
            "static" => BoxTokenVerifier::new(tokens(TOKEN, "user-id")),
            "chain" => {
                BoxTokenVerifier::new(TokenVerifierChain::new().verifier(tokens(TOKEN, "user-id")))
            }
            _ => BoxTokenVerifier::new(RecordingVerifier::default()),
        };
        assert_eq!(
            who(verifier.clone(), TOKEN).await.as_deref(),
            Some("user-id"),
            "{kind}"
        );
        assert_eq!(who(verifier, "other").await, None, "{kind}");
    }
    let boxed = BoxTokenVerifier::new(tokens(TOKEN, "user-id"));
    assert!(format!("{boxed:?}").contains("StaticTokenVerifier"));
}

#[tokio::test]
async fn a_boxed_verifier_error_falls_back_like_any_verifier_error() {
    let recording = RecordingVerifier::default();
    recording
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let layer = layer_for(BoxTokenVerifier::new(recording));
    let cookie = sign_in(&layer, ada()).await;
    let (captured, _guard) = Captured::install();
    let answer = session(&layer, TOKEN, Some(&cookie)).await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    let log = captured.text();
    assert!(log.contains("backend down"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test]
async fn the_first_verifier_to_accept_decides_and_later_ones_are_not_asked() {
    let later = RecordingVerifier::default();
    let chain = TokenVerifierChain::new()
        .verifier(tokens("first", "first-user"))
        .verifier(later.clone());
    assert_eq!(
        who(chain.clone(), "first").await.as_deref(),
        Some("first-user")
    );
    assert!(later.asked.lock().unwrap().is_empty());
    // A refusal passes the token on.
    assert_eq!(who(chain.clone(), TOKEN).await.as_deref(), Some("user-id"));
    assert_eq!(later.asked.lock().unwrap().len(), 1);
    // Everybody refuses: refused.
    assert_eq!(who(chain, "nobody's").await, None);
    // Two verifiers that accept the same token: the first one's user.
    let both = TokenVerifierChain::new()
        .verifier(tokens(TOKEN, "first"))
        .verifier(tokens(TOKEN, "second"));
    assert_eq!(who(both, TOKEN).await.as_deref(), Some("first"));
}

#[tokio::test]
async fn an_empty_chain_refuses_everything() {
    let chain = TokenVerifierChain::new();
    assert!(chain.is_empty());
    assert_eq!(who(chain, TOKEN).await, None);
}

#[tokio::test]
async fn a_failure_never_becomes_an_accept_and_is_reported_when_nobody_accepts() {
    let failing = RecordingVerifier::default();
    failing
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let chain = TokenVerifierChain::new()
        .verifier(failing.clone())
        .verifier(tokens("service", "svc"));
    let layer = layer_for(chain);
    // A later verifier accepts: authenticated by it, the failure logged.
    let (captured, guard) = Captured::install();
    let answer = session(&layer, "service", None).await;
    assert_eq!(answer.json()["user"]["userId"], "svc");
    assert!(
        captured.text().contains("backend down"),
        "{}",
        captured.text()
    );
    drop(guard);

    // Nobody accepts: the chain fails, so the layer falls back to the
    // cookie, as for a failing verifier, and logs each failure.
    let cookie = sign_in(&layer, ada()).await;
    let (captured, _guard) = Captured::install();
    let answer = session(&layer, TOKEN, Some(&cookie)).await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    let log = captured.text();
    assert!(log.contains("verifier 0 failed: backend down"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
    // Without a cookie: not authenticated, never a 500.
    let answer = session(&layer, TOKEN, None).await;
    assert_eq!(answer.json(), json!({ "auth": { "authenticated": false } }));
    // The failing verifier saw both tokens: it was asked first each time.
    assert_eq!(failing.asked.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_panicking_verifier_in_a_chain_is_a_failure_of_its_own() {
    let panicking = FaultyVerifier::new(tokens(TOKEN, "never"));
    panicking.set(Fault::Panic);
    let chain = TokenVerifierChain::new()
        .verifier(panicking.clone())
        .verifier(tokens("service", "svc"));
    assert_eq!(who(chain.clone(), "service").await.as_deref(), Some("svc"));
    assert_eq!(who(chain.clone(), TOKEN).await, None);
    panicking.set(Fault::PanicEagerly);
    assert_eq!(who(chain, "service").await.as_deref(), Some("svc"));
}

/// Answers one fixed verdict, at once or only when awaited.
struct Fixed {
    verdict: rstream_well_known::TokenVerdict,
    at_once: bool,
}

impl TokenVerifier for Fixed {
    type Error = std::convert::Infallible;

    async fn verify(
        &self,
        _: &str,
        _: rstream_well_known::TokenContext<'_>,
    ) -> Result<rstream_well_known::TokenVerdict, Self::Error> {
        Ok(self.verdict.clone())
    }

    fn verify_now(
        &self,
        _: &str,
        _: rstream_well_known::TokenContext<'_>,
    ) -> Option<Result<rstream_well_known::TokenVerdict, Self::Error>> {
        self.at_once.then(|| Ok(self.verdict.clone()))
    }
}

#[tokio::test]
async fn the_chain_ranks_failure_over_out_of_scope_over_refused_and_answers_at_once_when_it_can() {
    use rstream_well_known::{TokenContext, TokenSource, TokenVerdict};
    let tunnel = tunnel();
    let cx = TokenContext::new(&tunnel, &http::Method::GET, SESSION, TokenSource::Header);
    let fixed = |verdict: TokenVerdict, at_once: bool| Fixed { verdict, at_once };
    let out_of_scope = TokenVerifierChain::new()
        .verifier(fixed(TokenVerdict::Refused, true))
        .verifier(fixed(TokenVerdict::OutOfScope, true))
        .verifier(fixed(TokenVerdict::Refused, true));
    assert_eq!(
        out_of_scope.verify("t", cx).await.unwrap(),
        TokenVerdict::OutOfScope
    );
    assert_eq!(
        out_of_scope.verify_now("t", cx).unwrap().unwrap(),
        TokenVerdict::OutOfScope
    );
    // A valid token out of scope is no identity on the session endpoint.
    assert_eq!(who(out_of_scope, "t").await, None);

    let failing = RecordingVerifier::default();
    failing
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = TokenVerifierChain::new()
        .verifier(fixed(TokenVerdict::OutOfScope, true))
        .verifier(failing);
    let error = failed.verify("t", cx).await.unwrap_err();
    assert_eq!(
        error.failures().map(|(index, _)| index).collect::<Vec<_>>(),
        [1]
    );

    // At once only when every verifier asked answers at once; an accept at
    // once ends the chain before a verifier that must be awaited.
    let accepted = TokenVerdict::Accepted(User::new("u"));
    let first_accepts = TokenVerifierChain::new()
        .verifier(fixed(accepted.clone(), true))
        .verifier(fixed(TokenVerdict::Refused, false));
    assert_eq!(
        first_accepts.verify_now("t", cx).unwrap().unwrap(),
        accepted
    );
    let must_wait = TokenVerifierChain::new()
        .verifier(fixed(TokenVerdict::Refused, true))
        .verifier(fixed(accepted.clone(), false));
    assert!(must_wait.verify_now("t", cx).is_none());
    assert_eq!(must_wait.verify("t", cx).await.unwrap(), accepted);
    assert_eq!(who(must_wait, "t").await.as_deref(), Some("u"));
    // Boxed and shared verifiers pass `verify_now` through.
    let boxed = BoxTokenVerifier::new(fixed(accepted.clone(), true));
    assert_eq!(boxed.verify_now("t", cx).unwrap().unwrap(), accepted);
    let shared = Arc::new(fixed(accepted.clone(), false));
    assert!(shared.verify_now("t", cx).is_none());
}
