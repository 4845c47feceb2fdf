//! The session endpoint with a session cookie, on the Redis store and on the
//! memory store, in the same run: what a shared store costs per request.
//!
//! - `session_store/memory`: `GET /.well-known/rstream/session` with a live
//!   session's cookie, the layer on a `MemoryStore`.
//! - `session_store/redis`: the same request and the same layer
//!   configuration on a `RedisStore`, talking to a `redis-server` that the
//!   bench starts on a free loopback port (one `HMGET` round trip per
//!   request).
//!
//! - `stored_form/bare`, `stored_form/oidc`: `Session::encode` then
//!   `Session::decode` of a typical session (a user with a name; a user
//!   with a full profile, an idle deadline and the two tags the OpenID
//!   Connect sign-in adds), the form the Redis store keeps in each session
//!   and decodes on each load: its share of the `redis` figure above.
//!
//! Both stores are driven the same way: each call runs to completion on a
//! current-thread Tokio runtime (`block_on`), so the runtime's overhead is in
//! both figures and their ratio is the store's. Before timing, each case is
//! run once and its answer checked (authenticated through `rstream-auth`),
//! so a broken store cannot produce a fast but meaningless figure.
//!
//! Run: `cargo bench --features redis --bench stores`. Without
//! `redis-server` on `PATH`, only the memory case runs, and the bench says
//! so.

use std::fmt::Debug;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::StatusCode;
use http::header::COOKIE;
use http_body_util::BodyExt;
use std::time::SystemTime;

use rstream_well_known::{
    MemoryStore, RedisStore, Session, SessionStore, StaticTokenVerifier, Tunnel, User,
    WellKnownLayer,
};
use tower::{Layer, Service, ServiceExt, service_fn};

mod common;
#[path = "../tests/redis_server/mod.rs"]
mod redis_server;

use common::{HOST_NAME, SESSION_PATH, inner_service, request};

/// The layer of `benches/common`, on `store`.
fn layer_on<St: SessionStore>(store: St) -> WellKnownLayer<StaticTokenVerifier, St> {
    WellKnownLayer::builder()
        .tunnel(Tunnel::new(HOST_NAME, "workspace-id", "project-id").expect("a valid tunnel"))
        .with_token_verifier(StaticTokenVerifier::new())
        .with_session_store(store)
        .build()
        .expect("a valid configuration")
}

/// Signs Ada in and returns the `Cookie` header a browser sends back.
async fn cookie_of<St: SessionStore>(layer: &WellKnownLayer<StaticTokenVerifier, St>) -> String
where
    St::Error: Debug,
{
    let signed_in = layer
        .session_manager()
        .sign_in(User::new("user-id").with_name("Ada Lovelace"))
        .await
        .expect("sign-in succeeds");
    let pair = signed_in.set_cookie().to_str().expect("a visible cookie");
    format!(
        "theme=dark; {}",
        pair.split(';').next().unwrap_or_default().trim()
    )
}

/// Times the session endpoint with `cookie` through `layer`.
fn bench_store<St: SessionStore>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    layer: WellKnownLayer<StaticTokenVerifier, St>,
) where
    St::Error: Debug,
{
    let cookie = runtime.block_on(cookie_of(&layer));
    let service = layer.layer(service_fn(inner_service));
    let session = || request(SESSION_PATH, Some((COOKIE, cookie.as_str())));

    // Checked before timing: the cookie authenticates.
    runtime.block_on(async {
        let response = service.clone().oneshot(session()).await.expect("answers");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.expect("a body");
        let json: serde_json::Value = serde_json::from_slice(&body.to_bytes()).expect("JSON");
        assert_eq!(json["auth"]["method"], "rstream-auth", "{name}: {json}");
    });

    c.bench_function(name, |b| {
        let mut service = service.clone();
        b.iter_batched(
            session,
            |request| {
                runtime.block_on(async {
                    let ready = service.ready().await.expect("ready");
                    black_box(ready.call(black_box(request)).await.expect("answers"))
                })
            },
            BatchSize::SmallInput,
        );
    });
}

fn session_store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let server = redis_server::RedisServer::start("the Redis case of benches/stores.rs");

    let mut group = c.benchmark_group("session_store");
    bench_store(&mut group, "memory", &runtime, layer_on(MemoryStore::new()));
    if let Some(server) = &server {
        let store = runtime
            .block_on(
                RedisStore::builder(server.url())
                    .key_prefix("bench:")
                    .timeout(Duration::from_secs(2))
                    .connect(),
            )
            .expect("the store connects");
        bench_store(&mut group, "redis", &runtime, layer_on(store));
    }
    group.finish();
}

fn stored_form(c: &mut Criterion) {
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let bare = Session::new(
        User::new("user-id").with_name("Ada Lovelace"),
        now,
        now + 8 * hour,
    );
    let oidc = Session::new(
        User::new("248289761001")
            .with_name("Ada Lovelace")
            .with_email("ada@example.com")
            .with_image("https://example.com/ada.png"),
        now,
        now + 8 * hour,
    )
    .with_idle_expires_at(now + hour / 2)
    .with_tag("sid:https://idp.example.com/\u{0}0e3c6f1a-0f2b-4b7e-9d1c-7f3b2a1e5c9d")
    .with_tag("sub:https://idp.example.com/\u{0}248289761001");

    let mut group = c.benchmark_group("stored_form");
    for (name, session) in [("bare", bare), ("oidc", oidc)] {
        // Checked before timing: the form gives the session back.
        let back = Session::decode(&session.encode()).expect("decodes");
        assert_eq!(back.user(), session.user(), "{name}");
        assert!(back.tags().eq(session.tags()), "{name}");
        group.bench_function(name, |b| {
            b.iter(|| Session::decode(&black_box(&session).encode()).expect("decodes"));
        });
    }
    group.finish();
}

criterion_group!(benches, session_store, stored_form);
criterion_main!(benches);
