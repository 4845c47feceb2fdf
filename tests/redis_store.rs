//! `RedisStore` (feature `redis`) against a real `redis-server`, which each
//! test starts on a free loopback port (see `tests/redis_server`): the shared
//! store suite, then two independent layers on one Redis, an outage and the
//! recovery after it, the stored form, zero ttl and key prefixes.
//!
//! Without `redis-server` on `PATH` every test here says SKIPPED loudly and
//! passes, except under `CI=true`, where that is a failure.
#![cfg(feature = "redis")]

use crate::common;
use crate::demo_process;
use crate::redis_server;

#[allow(dead_code)]
#[path = "../examples/redis.rs"]
mod redis_example;

use std::time::{Duration, Instant, SystemTime};

use common::{
    COOKIE_NAME, Captured, Recorder, SESSION, ada, cookie_value, empty, get, logout_request, send,
    verifier,
};
use demo_process::{DemoProcess, demo_binary};
use http::StatusCode;
use redis_server::RedisServer;
use rstream_well_known::{
    ListSessions, RedisStore, RedisStoreErrorKind, RevokeAll, Session, SessionId, SessionStore,
    SignInError, StaticTokenVerifier, User, WellKnownLayer, test_util,
};

/// A session of `user` from now, lasting `ttl` (saturating).
fn session(user: User, ttl: Duration) -> Session {
    let now = SystemTime::now();
    Session::new(
        user,
        now,
        now.checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(1 << 40)),
    )
}

/// The user of the live session `id`, if any.
async fn user_of(store: &RedisStore, id: &SessionId) -> Option<User> {
    store.load(id).await.unwrap().map(Session::into_user)
}

/// A store on `server` under `prefix`, with a short timeout.
async fn store_on(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::builder(server.url())
        .key_prefix(prefix)
        .timeout(TIMEOUT)
        .connect()
        .await
        .expect("the store connects")
}

/// The stores' timeout in these tests: short, so an outage shows at once.
const TIMEOUT: Duration = Duration::from_millis(500);

/// How long any answer may take during an outage: the timeout, and slack
/// for a loaded machine.
const BOUND: Duration = Duration::from_millis(2500);

/// A layer over its own store (its own connection) on `server`.
async fn layer_on(
    server: &RedisServer,
    prefix: &str,
) -> WellKnownLayer<StaticTokenVerifier, RedisStore> {
    WellKnownLayer::builder()
        .tunnel(common::tunnel())
        .with_token_verifier(verifier())
        .with_session_store(store_on(server, prefix).await)
        .build()
        .unwrap()
}

/// Runs each named check of the public store suite (`test_util`) on a
/// fresh server. (The suite's own macros evaluate the store expression per
/// check; a test here must also keep its server alive, and skip without one.)
macro_rules! suite_on_redis {
    ($($check:ident),* $(,)?) => {
        mod suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(server) = RedisServer::start(concat!("redis_store suite ", stringify!($check))) else {
                        return;
                    };
                    test_util::$check(store_on(&server, "suite:").await).await;
                }
            )*
        }
    };
}

// Every check of `session_store_suite!`, `revoke_all_suite!` and
// `list_sessions_suite!`.
suite_on_redis!(
    create_then_load_round_trips_every_profile_field,
    ids_are_fresh_long_and_cookie_safe,
    unknown_ids_do_not_load,
    revoked_sessions_do_not_load,
    revoke_is_idempotent_and_unknown_ids_are_fine,
    zero_ttl_sessions_never_load,
    deadlines_in_the_past_never_load,
    huge_ttls_load,
    sessions_are_independent,
    concurrent_creates_never_overwrite,
    touch_moves_the_idle_deadline_within_bounds,
    touch_never_revives_a_session,
    a_touch_cut_off_anywhere_never_undoes_a_revoke,
    sessions_expire_when_their_time_comes,
    revoke_all_ends_every_session_of_the_user_only,
    revoke_all_ends_sessions_created_before_it_under_concurrent_creates,
    revoke_tagged_ends_the_sessions_carrying_the_tag_only,
    revoke_tagged_ends_sessions_created_before_it_under_concurrent_creates,
    expired_tagged_sessions_leave_their_tag_working,
    list_shows_the_live_sessions_of_one_user,
);

async fn session_answer<V, St>(layer: &WellKnownLayer<V, St>, cookie: &str) -> common::Answer
where
    St: rstream_well_known::StoreSlot,
    WellKnownLayer<V, St>: tower::Layer<Recorder>,
    <WellKnownLayer<V, St> as tower::Layer<Recorder>>::Service: tower::Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<
                rstream_well_known::ResponseBody<http_body_util::Full<bytes::Bytes>>,
            >,
        >,
    <<WellKnownLayer<V, St> as tower::Layer<Recorder>>::Service as tower::Service<
        http::Request<http_body_util::Full<bytes::Bytes>>,
    >>::Error: std::fmt::Debug,
{
    send(
        layer,
        &Recorder::default(),
        get(SESSION).header("cookie", cookie).body(empty()).unwrap(),
    )
    .await
}

async fn signed_in_user(
    layer: &WellKnownLayer<StaticTokenVerifier, RedisStore>,
    cookie: &str,
) -> Option<String> {
    let answer = session_answer(layer, cookie).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    (json["auth"]["authenticated"] == true)
        .then(|| json["user"]["userId"].as_str().unwrap().to_owned())
}

async fn logout(
    layer: &WellKnownLayer<StaticTokenVerifier, RedisStore>,
    cookie: &str,
) -> common::Answer {
    send(
        layer,
        &Recorder::default(),
        logout_request()
            .header("cookie", cookie)
            .body(empty())
            .unwrap(),
    )
    .await
}

async fn sign_in(layer: &WellKnownLayer<StaticTokenVerifier, RedisStore>, user: User) -> String {
    common::sign_in(layer, user).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_on_one_redis_share_sessions_and_logouts() {
    let Some(server) = RedisServer::start("redis_store two layers") else {
        return;
    };
    let one = layer_on(&server, "shared:").await;
    let two = layer_on(&server, "shared:").await;

    // Created through one, seen by the other.
    let cookie = sign_in(&one, ada()).await;
    assert_eq!(
        signed_in_user(&two, &cookie).await.as_deref(),
        Some("user-id")
    );
    assert_eq!(
        signed_in_user(&one, &cookie).await.as_deref(),
        Some("user-id")
    );

    // Logout through the other ends it on both.
    let answer = logout(&two, &cookie).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(signed_in_user(&one, &cookie).await, None);
    assert_eq!(signed_in_user(&two, &cookie).await, None);
    // And nothing of it is left in Redis.
    assert!(server.keys("shared:*").is_empty(), "{:?}", server.keys("*"));

    // Sign out everywhere through one: Ada's sessions made through either
    // end on both; another user's session stays.
    let laptop = sign_in(&one, ada()).await;
    let phone = sign_in(&two, ada()).await;
    let grace = sign_in(&one, User::new("grace")).await;
    let sessions = two.session_manager();
    assert_eq!(sessions.sessions_of("user-id").await.unwrap().len(), 2);
    sessions.revoke_all("user-id").await.unwrap();
    for cookie in [&laptop, &phone] {
        assert_eq!(signed_in_user(&one, cookie).await, None);
        assert_eq!(signed_in_user(&two, cookie).await, None);
    }
    assert_eq!(signed_in_user(&two, &grace).await.as_deref(), Some("grace"));
    assert!(sessions.sessions_of("user-id").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_hold_no_session_id_and_no_user_id() {
    let Some(server) = RedisServer::start("redis_store keys") else {
        return;
    };
    let store = store_on(&server, "app:").await;
    let id = store
        .create(session(
            User::new("ada@example.com"),
            Duration::from_secs(60),
        ))
        .await
        .unwrap();
    let keys = server.keys("*");
    assert_eq!(keys.len(), 2, "the session and the user's index: {keys:?}");
    let (random, tag) = id.expose().split_once('.').unwrap();
    for key in &keys {
        assert!(key.starts_with("app:{"), "{key}");
        assert!(!key.contains(random) && !key.contains("ada"), "{key}");
        // Both in the user's hash slot.
        assert!(key.contains(&format!("{{{tag}}}")), "{key}");
    }
    // And both expire.
    for key in &keys {
        let ttl = server.command(&[b"PTTL", key.as_bytes()]);
        let ttl: i64 = std::str::from_utf8(&ttl[1..ttl.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        // Rounded up to the millisecond.
        assert!((50_000..=60_001).contains(&ttl), "{key}: {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_ttl_stores_nothing_and_never_loads() {
    let Some(server) = RedisServer::start("redis_store zero ttl") else {
        return;
    };
    let store = store_on(&server, "zero:").await;
    let id = store.create(session(ada(), Duration::ZERO)).await.unwrap();
    assert_eq!(user_of(&store, &id).await, None);
    assert!(server.keys("*").is_empty());
    // A huge one stores a session that loads.
    let id = store.create(session(ada(), Duration::MAX)).await.unwrap();
    assert_eq!(user_of(&store, &id).await, Some(ada()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_with_other_prefixes_never_see_each_others_sessions() {
    let Some(server) = RedisServer::start("redis_store prefixes") else {
        return;
    };
    let a = store_on(&server, "a:").await;
    let b = store_on(&server, "b:").await;
    let id = a
        .create(session(ada(), Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(user_of(&b, &id).await, None);
    b.revoke(&id).await.unwrap();
    assert_eq!(user_of(&a, &id).await, Some(ada()));
    // Revoke-all and listing too stay within their prefix.
    rstream_well_known::RevokeAll::revoke_all(&b, "user-id")
        .await
        .unwrap();
    assert!(b.list("user-id").await.unwrap().is_empty());
    assert_eq!(a.list("user-id").await.unwrap().len(), 1);
    assert_eq!(user_of(&a, &id).await, Some(ada()));
    assert!(server.keys("b:*").is_empty());
    assert_eq!(server.keys("a:*").len(), 2);
}

/// The expiry of `key` in ms (`PTTL`).
fn pttl(server: &RedisServer, key: &str) -> i64 {
    let ttl = server.command(&[b"PTTL", key.as_bytes()]);
    std::str::from_utf8(&ttl[1..ttl.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

/// Session tags are kept as the documented key layout says: one index per
/// tag in a slot of its own, named by a digest, holding the users (by their
/// tag) and expiring with the latest absolute deadline of its sessions; the
/// session's `t` field names the digests. No key or field outside the
/// encoded value holds a tag's text, and every key goes when its sessions
/// expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_indexes_hold_no_tag_and_expire_with_their_sessions() {
    let Some(server) = RedisServer::start("redis_store tags") else {
        return;
    };
    let store = store_on(&server, "app:").await;
    let secret = "sid:provider-session-0123";
    let now = SystemTime::now();
    let short = Duration::from_millis(700);
    let ada = store
        .create(
            Session::new(User::new("ada"), now, now + short)
                .with_tag(secret)
                .with_tag("sub:ada"),
        )
        .await
        .unwrap();
    // Idle deadline soon, absolute deadline later: the tag's index keeps
    // the user until the absolute one, which a touch could reach.
    let grace = store
        .create(
            Session::new(User::new("grace"), now, now + 2 * short)
                .with_idle_expires_at(now + short)
                .with_tag(secret),
        )
        .await
        .unwrap();
    let tag_keys = server.keys("app:*:t");
    assert_eq!(tag_keys.len(), 2, "{:?}", server.keys("*"));
    assert_eq!(
        server.keys("*").len(),
        4 + 2,
        "two sessions, two user indexes"
    );
    for key in server.keys("*") {
        assert!(!key.contains("provider") && !key.contains("sub:"), "{key}");
    }
    let user_tag = |id: &SessionId| id.expose().split_once('.').unwrap().1.to_owned();
    let digest_of = |key: &str| key.split(['{', '}']).nth(1).unwrap().to_owned();
    // The secret's index holds both users, scored by grace's later deadline.
    let shared = tag_keys
        .iter()
        .find(|key| {
            let members = server.command(&[b"ZRANGE", key.as_bytes(), b"0", b"-1"]);
            String::from_utf8_lossy(&members).contains(&user_tag(&grace))
        })
        .expect("the shared tag's index");
    let members =
        String::from_utf8(server.command(&[b"ZRANGE", shared.as_bytes(), b"0", b"-1"])).unwrap();
    assert!(members.contains(&user_tag(&ada)), "{members}");
    let ttl = pttl(&server, shared);
    assert!(
        ttl > short.as_millis() as i64 && ttl <= 2 * short.as_millis() as i64 + 1,
        "{ttl}"
    );
    for key in server.keys("app:*:s:*") {
        let t = String::from_utf8(server.command(&[b"HGET", key.as_bytes(), b"t"])).unwrap();
        assert!(!t.contains("provider"), "{t}");
        assert!(t.contains(&format!(" {} ", digest_of(shared))), "{t}");
    }

    tokio::time::sleep(2 * short + Duration::from_millis(200)).await;
    assert!(server.keys("*").is_empty(), "{:?}", server.keys("*"));
    store.revoke_tagged(secret).await.unwrap();
}

/// The data of a RESP bulk-string reply (`$<len>\r\n<data>\r\n`).
fn bulk(reply: &[u8]) -> &[u8] {
    let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    &reply[start..reply.len() - 2]
}

/// The session hash's `v` is the crate's public stored form, which any
/// version of the form reads or refuses cleanly: a later crate version's
/// extra fields load, another version and anything else (the binary
/// encoding of earlier builds included) is an error the layer answers "not
/// authenticated" to, never another user, and logout still deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_values_of_other_versions_load_or_are_refused_cleanly() {
    let Some(server) = RedisServer::start("redis_store encoding") else {
        return;
    };
    let store = store_on(&server, "enc:").await;
    let layer = WellKnownLayer::builder()
        .tunnel(common::tunnel())
        .with_session_store(store.clone())
        .build()
        .unwrap();
    let created =
        session(User::new("someone").with_name("S"), Duration::from_secs(60)).with_tag("sid:1");
    let id = store.create(created.clone()).await.unwrap();
    let keys = server.keys("enc:*:s:*");
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_bytes();

    // What Redis holds is the public form: it decodes to the session.
    let stored = server.command(&[b"HGET", key, b"v"]);
    let decoded = Session::decode(bulk(&stored)).expect("the public stored form");
    assert_eq!(decoded.user(), created.user());
    assert_eq!(decoded.tags().collect::<Vec<_>>(), ["sid:1"]);
    assert!(!String::from_utf8_lossy(&stored).contains(id.expose()));

    let set = |value: &[u8]| {
        let reply = server.command(&[b"HSET", key, b"v", value]);
        assert_eq!(reply, b":0\r\n");
    };
    let cookie = format!("{COOKIE_NAME}={}", id.expose());
    let now_ms = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let in_an_hour = now_ms + 3_600_000;

    // Fields a later crate version adds are ignored.
    set(format!(
        r#"{{"v":1,"user":{{"userId":"ada","name":"Ada"}},"createdAt":{now_ms},"expiresAt":{in_an_hour},"tags":["sid:1",""],"device":"phone"}}"#
    )
    .as_bytes());
    let loaded = store
        .load(&id)
        .await
        .unwrap()
        .expect("a value with extra fields loads");
    assert_eq!(loaded.user(), &User::new("ada").with_name("Ada"));
    assert_eq!(loaded.tags().collect::<Vec<_>>(), ["sid:1", ""]);
    let answer = session_answer(&layer, &cookie).await;
    assert_eq!(answer.json()["user"]["name"], "Ada");

    // Another version of the form is refused: an error, never another user.
    set(format!(
        r#"{{"v":2,"user":{{"userId":"mallory"}},"createdAt":{now_ms},"expiresAt":{in_an_hour}}}"#
    )
    .as_bytes());
    let error = store.load(&id).await.unwrap_err();
    assert_eq!(error.kind(), RedisStoreErrorKind::UnsupportedVersion(2));
    assert!(error.to_string().contains("version 2"), "{error}");
    let answer = session_answer(&layer, &cookie).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["auth"]["authenticated"], false);

    // Garbage is refused the same way, whatever it is: among it, a value
    // of the binary encoding of earlier (unreleased) builds, for "mallory".
    for garbage in [
        &b""[..],
        b"\x01",
        b"\x01\x01\x80\xd8\xc6\xd5\x0c\x00\xa0\xf6\xc6\xd5\x0c\x00\x07mallory\x00",
        b"{\"userId\":\"mallory\"}",
        b"{\"v\":1,\"user\":{\"userId\":\"mallory\"},\"createdAt\":-1,\"expiresAt\":0}",
    ] {
        set(garbage);
        let error = store.load(&id).await.unwrap_err();
        assert!(
            matches!(error.kind(), RedisStoreErrorKind::Corrupt(_)),
            "{garbage:?}: {error}"
        );
        assert!(!error.to_string().contains("mallory"), "{error}");
        let answer = session_answer(&layer, &cookie).await;
        assert_eq!(answer.json()["auth"]["authenticated"], false);
    }

    // Logout still ends such a session.
    let answer = send(
        &layer,
        &Recorder::default(),
        logout_request()
            .header("cookie", &cookie)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(server.keys("enc:*:s:*").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_another_shape_are_unknown_without_asking_redis() {
    let Some(mut server) = RedisServer::start("redis_store foreign ids") else {
        return;
    };
    let store = store_on(&server, "ids:").await;
    let ours = store
        .create(session(ada(), Duration::from_secs(60)))
        .await
        .unwrap();
    // One of the store's own shape needs Redis.
    assert!(store.load_now(&ours).is_none());
    server.kill();
    for foreign in [
        SessionId::generate().unwrap(),
        SessionId::new("x").unwrap(),
        SessionId::new(&format!("{}.{}", "a".repeat(43), "b".repeat(15))).unwrap(),
        SessionId::new(&format!("{}.{}", "a".repeat(43), "b!".repeat(8))).unwrap(),
    ] {
        assert_eq!(store.load(&foreign).await.unwrap(), None);
        assert!(matches!(store.load_now(&foreign), Some(Ok(None))));
        store.revoke(&foreign).await.unwrap();
        store.touch(&foreign, SystemTime::now()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_never_hangs_never_500s_never_logs_secrets_and_heals() {
    let Some(mut server) = RedisServer::start_durable("redis_store outage") else {
        return;
    };
    let (captured, _guard) = Captured::install();
    let layer = layer_on(&server, "outage:").await;
    let sessions = layer.session_manager();
    let cookie = sign_in(&layer, ada()).await;
    let secret = cookie_value(&cookie).to_owned();
    assert_eq!(
        signed_in_user(&layer, &cookie).await.as_deref(),
        Some("user-id")
    );

    server.kill();

    // The session endpoint: not authenticated, in time.
    let started = Instant::now();
    let answer = session_answer(&layer, &cookie).await;
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["auth"]["authenticated"], false);
    assert!(!answer.everything().contains(&secret));

    // Logout: 503, the cookie left in place.
    let started = Instant::now();
    let answer = logout(&layer, &cookie).await;
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["error"], "session_store_unavailable");
    assert_eq!(answer.header("set-cookie"), None);
    assert!(!answer.everything().contains(&secret));

    // Sign-in: a store error.
    let started = Instant::now();
    let error = sessions.sign_in(ada()).await.unwrap_err();
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert!(matches!(error, SignInError::Store(_)), "{error}");

    // Token auth does not need Redis.
    let answer = send(
        &layer,
        &Recorder::default(),
        get(SESSION)
            .header("authorization", format!("Bearer {}", common::TOKEN))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("token-auth"));

    // Many calls at once during the outage: each bounded, none a 500.
    let started = Instant::now();
    let answers = futures::future::join_all((0..20).map(|_| session_answer(&layer, &cookie))).await;
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert!(
        answers
            .iter()
            .all(|a| a.status == StatusCode::OK && a.json()["auth"]["authenticated"] == false)
    );

    // The failures were logged, without the cookie or the session id.
    let log = captured.text();
    assert!(log.contains("session store"), "{log}");
    assert!(!log.contains(&secret), "{log}");

    // Redis comes back with what it had: the same layer, not rebuilt,
    // works again. The session that logout could not end is still live (its
    // cookie was left in place), and logout now ends it.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while signed_in_user(&layer, &cookie).await.is_none() {
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        signed_in_user(&layer, &cookie).await.as_deref(),
        Some("user-id")
    );
    let answer = logout(&layer, &cookie).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(signed_in_user(&layer, &cookie).await, None);
    // Sign-in works again too.
    let fresh = sign_in(&layer, ada()).await;
    assert_eq!(
        signed_in_user(&layer, &fresh).await.as_deref(),
        Some("user-id")
    );
    let log = captured.text();
    assert!(!log.contains(&secret), "{log}");
    assert!(!log.contains(cookie_value(&fresh)), "{log}");
}

/// The same store on a Redis Cluster (one node holding every slot: Redis
/// refuses a script whose keys are in different slots all the same, so this
/// proves the keys of one user share a slot).
#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_on_a_redis_cluster() {
    let Some(server) = RedisServer::start_cluster("redis_store cluster") else {
        return;
    };
    let store_under = |prefix: &'static str| {
        RedisStore::cluster_builder([server.url()])
            .key_prefix(prefix)
            .timeout(TIMEOUT)
            .connect()
    };
    let store = store_under("cluster:").await.unwrap();
    let layer = WellKnownLayer::builder()
        .tunnel(common::tunnel())
        .with_token_verifier(verifier())
        .with_session_store(store.clone())
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    assert_eq!(
        signed_in_user(&layer, &cookie).await.as_deref(),
        Some("user-id")
    );
    assert_eq!(logout(&layer, &cookie).await.status, StatusCode::NO_CONTENT);
    assert_eq!(signed_in_user(&layer, &cookie).await, None);
    test_util::sessions_are_independent(store_under("c1:").await.unwrap()).await;
    test_util::revoke_all_ends_every_session_of_the_user_only(store_under("c2:").await.unwrap())
        .await;
    test_util::list_shows_the_live_sessions_of_one_user(store_under("c3:").await.unwrap()).await;
    test_util::touch_moves_the_idle_deadline_within_bounds(store_under("c4:").await.unwrap()).await;
    // A tag carried by two users' sessions: one script per user's slot.
    test_util::revoke_tagged_ends_the_sessions_carrying_the_tag_only(
        store_under("c5:").await.unwrap(),
    )
    .await;
    test_util::revoke_tagged_ends_sessions_created_before_it_under_concurrent_creates(
        store_under("c6:").await.unwrap(),
    )
    .await;
}

/// `examples/redis.rs` as its doc says: two instances on one Redis, a
/// sign-in on one, the cookie honoured by the other, a logout on the other
/// that ends it on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_example_shares_sessions_between_two_instances() {
    use http::Request;
    use http_body_util::BodyExt;

    let Some(server) = RedisServer::start("redis_store example") else {
        return;
    };
    let one = redis_example::app(&server.url(), 3001).unwrap();
    let two = redis_example::app(&server.url(), 3002).unwrap();
    let call = |app: &axum::Router, request: Request<axum::body::Body>| {
        let app = app.clone();
        async move {
            let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, headers, body)
        }
    };
    let (status, headers, _) = call(
        &one,
        Request::post("/login")
            .header("host", "127.0.0.1:3001")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("rstream_session="));
    let session = |port: u16| {
        Request::get(SESSION)
            .header("host", format!("127.0.0.1:{port}"))
            .header("cookie", &cookie)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let (_, _, body) = call(&two, session(3002)).await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["user"]["userId"], "ada", "{json}");
    let (status, _, _) = call(
        &two,
        Request::post(common::LOGOUT)
            .header("host", "127.0.0.1:3002")
            .header("cookie", &cookie)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (app, port) in [(&one, 3001), (&two, 3002)] {
        let (_, _, body) = call(app, session(port)).await;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["auth"]["authenticated"], false, "{json}");
    }
    // Keys under the example's prefix only.
    assert!(
        server
            .keys("*")
            .iter()
            .all(|k| k.starts_with("example:session:"))
    );
}

/// `cargo run --example demo` twice with one `REDIS_URL`: the two demos
/// share sessions. And without `REDIS_URL`, the demo says it is in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_processes_with_one_redis_url_share_sessions() {
    let Some(server) = RedisServer::start("redis_store two demos") else {
        return;
    };
    let Some(binary) = demo_binary() else {
        assert!(
            !redis_server::in_ci(),
            "the demo binary was not built (cargo test --all-features builds it)"
        );
        redis_server::skip(
            "redis_store two demos (the demo binary was not built: run `cargo test --all-features`)",
        );
        return;
    };
    let memory = DemoProcess::start(&binary, &[]);
    assert_eq!(memory.lines[1], "demo token: demo-binary-token");
    assert_eq!(memory.lines.last().unwrap(), "session store: memory");
    drop(memory);

    let url = server.url();
    let one = DemoProcess::start(&binary, &[("REDIS_URL", &url)]);
    let two = DemoProcess::start(&binary, &[("REDIS_URL", &url)]);
    for demo in [&one, &two] {
        assert!(demo.lines[0].starts_with("listening on http://127.0.0.1:"));
        assert_eq!(demo.lines[1], "demo token: demo-binary-token");
        assert_eq!(
            demo.lines.last().unwrap(),
            "session store: redis (REDIS_URL)"
        );
    }

    let (status, cookie, _) = one.call("POST", "/demo/login", None).await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    for demo in [&one, &two] {
        let (status, _, body) = demo.call("GET", SESSION, Some(&cookie)).await;
        assert_eq!(status, 200);
        assert!(body.contains(r#""userId":"user-ada""#), "{body}");
    }
    let (status, cleared, _) = two.call("POST", common::LOGOUT, Some(&cookie)).await;
    assert_eq!(status, 204);
    assert!(cleared.is_some(), "logout clears the cookie");
    for demo in [&one, &two] {
        let (_, _, body) = demo.call("GET", SESSION, Some(&cookie)).await;
        assert_eq!(body, r#"{"auth":{"authenticated":false}}"#);
    }
    assert!(
        server
            .keys("*")
            .iter()
            .all(|k| k.starts_with("demo:session:"))
    );
}

/// A Redis URL the store cannot use is refused with what is wrong in it,
/// never with the URL itself (it may hold a password).
#[tokio::test]
async fn a_refused_redis_url_says_why_and_never_shows_the_password() {
    for (url, why) in [
        ("", "the Redis URL is empty"),
        ("127.0.0.1:6379", "has no scheme: write redis://host:port"),
        ("localhost", "has no scheme"),
        (
            "http://hunter2@127.0.0.1:6379",
            "scheme is not redis://, rediss:// or redis+unix://",
        ),
        (
            "redis://:hunter2@127.0.0.1:63x9",
            "port is not a number from 0 to 65535",
        ),
        ("redis://127.0.0.1:99999", "port is not a number"),
        (
            "redis://:hun/ter2@127.0.0.1:6379",
            "must be percent-encoded",
        ),
        ("redis://user:hunter2@/0", "no host after its credentials"),
        ("redis:///0", "has no host"),
        ("redis://127.0.0.1:6379/zero", "not a database number"),
        ("redis://0.0.0.0:6379", "wildcard address"),
        (
            "redis://:hunter2@127.0.0.1/?protocol=resp9",
            "neither resp2 nor resp3",
        ),
        (
            "redis+unix://host/tmp/redis.sock",
            "absolute path and no host",
        ),
    ] {
        let error = RedisStore::builder(url).build().unwrap_err();
        let shown = error.to_string();
        assert!(
            matches!(error.kind(), RedisStoreErrorKind::Config(_)),
            "{url}: {shown}"
        );
        assert!(shown.contains(why), "{url}: {shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hun/ter2"),
            "{shown}"
        );
        let chain = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            !chain.unwrap_or_default().contains("hunter2"),
            "{url}: the source shows the password"
        );
    }
    // What the client accepts is not second-guessed.
    for url in [
        "redis://127.0.0.1:6379",
        "redis://:p%2Fss@localhost/2",
        "redis+unix:///tmp/redis.sock",
    ] {
        assert!(RedisStore::builder(url).build().is_ok(), "{url}");
    }
}
