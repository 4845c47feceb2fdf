//! `TowerSessionsStore`: the shared store suite on tower-sessions stores
//! (SQLite through `tower-sessions-sqlx-store`, and tower-sessions' memory
//! store), then from the outside: sign-in, the session endpoint, sliding
//! expiry and logout through the layer; tower-sessions' own layer on the same
//! app and store (`examples/tower_sessions.rs`); the records in the store;
//! a failing and a hanging store; a touch racing a logout.

#[allow(dead_code)]
#[path = "../examples/tower_sessions.rs"]
mod tower_sessions_example;

use crate::common;

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing;
use http::header::{COOKIE, HOST, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use rstream_well_known::{
    Session, SessionCookie, SessionId, SessionStore, SignInError, TokioTimer, TowerSessionsStore,
    TowerSessionsStoreErrorKind, Tunnel, User, WellKnownLayer, test_util,
};
use tokio::sync::oneshot;
use tower::ServiceExt;
use tower_sessions::SessionManagerLayer;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore as TowerStore};
use tower_sessions_sqlx_store::SqliteStore;
use tower_sessions_sqlx_store::sqlx::{self, SqlitePool};

use common::{COOKIE_NAME, Captured, LOGOUT, Recorder, SESSION, cookie_value, empty, get, send};

/// A fresh in-memory SQLite database (one connection, kept for the life of
/// the pool) with the sessions table.
async fn pool() -> SqlitePool {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .min_connections(1)
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    SqliteStore::new(pool.clone()).migrate().await.unwrap();
    pool
}

/// The example's store: a fresh in-memory SQLite database.
async fn sqlite() -> SqliteStore {
    tower_sessions_example::store("sqlite::memory:")
        .await
        .unwrap()
}

/// A fresh SQLite database in a file of its own, for the shared suite: its
/// cut-off check drops queries in flight, and sqlx then closes the
/// connection, which would take an in-memory database with it.
async fn sqlite_file() -> SqliteStore {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = format!(
        "{}/tower_sessions_suite_{}.db",
        env!("CARGO_TARGET_TMPDIR"),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    tower_sessions_example::store(&format!("sqlite://{path}?mode=rwc"))
        .await
        .unwrap()
}

test_util::session_store_suite!(TowerSessionsStore::new(sqlite_file().await));

/// The suite again on tower-sessions' memory store: the adapter is for any
/// tower-sessions store.
mod on_the_memory_store {
    use super::*;

    test_util::session_store_suite!(TowerSessionsStore::new(
        tower_sessions::MemoryStore::default()
    ));
}

/// Rows in the sessions table, both kinds of session (and tombstones).
async fn rows(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("select count(*) from tower_sessions")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The id of the record that holds the session a cookie value names, as
/// `TowerSessionsStore`'s documentation gives it: the cookie's id XOR the
/// ASCII bytes of `rstream-session!`.
fn record_id(value: &str) -> Id {
    let id: Id = value.parse().expect("a tower-sessions id");
    Id(id.0 ^ i128::from_be_bytes(*b"rstream-session!"))
}

/// The record that holds the session a cookie value of ours names, read
/// through the tower-sessions store.
async fn record(store: &SqliteStore, value: &str) -> Option<Record> {
    TowerStore::load(store, &record_id(value)).await.unwrap()
}

/// The record of the app's tower-sessions session that its cookie value
/// names.
async fn app_record(store: &SqliteStore, value: &str) -> Option<Record> {
    let id: Id = value.parse().expect("a tower-sessions id");
    TowerStore::load(store, &id).await.unwrap()
}

fn layer_on<St: SessionStore>(
    store: St,
) -> WellKnownLayer<rstream_well_known::StaticTokenVerifier, St> {
    common::layer_with(store)
}

fn with_cookie(builder: http::request::Builder, pair: &str) -> http::request::Builder {
    builder.header(COOKIE, pair)
}

/// Sign-in through the layer's session manager, the session endpoint, logout:
/// the cookie is the record's id, the record holds the session under the
/// documented key, logout deletes it.
#[tokio::test]
async fn sign_in_authenticates_and_logout_revokes() {
    let pool = pool().await;
    let sqlite = SqliteStore::new(pool.clone());
    let layer = layer_on(TowerSessionsStore::new(sqlite.clone()));
    let recorder = Recorder::default();

    let pair = common::sign_in(&layer, common::ada().with_attribute("tenant", "t-1")).await;
    let value = cookie_value(&pair).to_owned();
    assert_eq!(value.len(), 22, "tower-sessions' spelling of an id");
    assert_eq!(rows(&pool).await, 1);

    let record = record(&sqlite, &value).await.expect("the record");
    assert_eq!(record.id, record_id(&value));
    assert!(
        app_record(&sqlite, &value).await.is_none(),
        "nothing where tower-sessions' layer would look for the cookie's value"
    );
    let keys: Vec<_> = record.data.keys().map(String::as_str).collect();
    assert_eq!(keys, [TowerSessionsStore::<SqliteStore>::DATA_KEY]);
    let stored = &record.data["rstream_well_known.session"];
    assert_eq!(stored["v"], 1);
    // The expiry date is the deadline in the value, to the nanosecond.
    assert_eq!(
        record.expiry_date.unix_timestamp_nanos(),
        i128::from(stored["expiresAt"].as_u64().unwrap()) * 1_000_000
    );
    assert_eq!(stored["user"]["userId"], "user-id");
    assert_eq!(stored["user"]["attributes"]["tenant"], "t-1");
    // The record expires with the session (24 hours, the default lifetime).
    let day = time::Duration::hours(24);
    let left = record.expiry_date - time::OffsetDateTime::now_utc();
    assert!(
        left > day - time::Duration::minutes(1) && left <= day,
        "{left}"
    );

    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    assert_eq!(answer.json()["user"]["userId"], "user-id");
    assert!(answer.json()["user"].get("attributes").is_none());

    let answer = send(
        &layer,
        &recorder,
        with_cookie(common::logout_request(), &pair)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(
        answer
            .header("set-cookie")
            .unwrap()
            .starts_with(COOKIE_NAME)
    );
    assert_eq!(rows(&pool).await, 0, "logout deleted the record");

    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as(), None);
    assert_eq!(
        recorder.count(),
        0,
        "well-known requests never reach the app"
    );
}

/// A cookie value is only ever looked up: a well-formed id nobody issued, a
/// non-canonical spelling of an issued one, or another format authenticate
/// nobody, and nothing is stored for them, logout included.
#[tokio::test]
async fn client_chosen_ids_are_never_stored() {
    let pool = pool().await;
    let layer = layer_on(TowerSessionsStore::new(SqliteStore::new(pool.clone())));
    let recorder = Recorder::default();
    let pair = common::sign_in(&layer, common::ada()).await;
    let issued = cookie_value(&pair);

    let chosen = Id(42).to_string();
    let mut non_canonical = issued.to_owned();
    // Standard base64 for base64url, where the id has one.
    non_canonical = non_canonical.replace('-', "+").replace('_', "/");
    for value in [
        chosen.as_str(),
        non_canonical.as_str(),
        "x",
        &"A".repeat(64),
    ] {
        if value == issued {
            continue;
        }
        let pair = format!("{COOKIE_NAME}={value}");
        let answer = send(
            &layer,
            &recorder,
            with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
        )
        .await;
        assert_eq!(answer.authenticated_as(), None, "{value}");
        let answer = send(
            &layer,
            &recorder,
            with_cookie(common::logout_request(), &pair)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{value}");
        assert_eq!(
            answer.header("set-cookie"),
            None,
            "not signed in: nothing to clear"
        );
    }
    assert_eq!(rows(&pool).await, 1, "only the issued session");
    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
}

/// Sliding expiry through the layer: a use once a quarter of the idle
/// timeout has passed moves the idle deadline (and the record's expiry
/// date); without use, the session ends at its idle deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_endpoint_slides_the_idle_deadline_in_the_record() {
    const IDLE: Duration = Duration::from_millis(600);
    let sqlite = sqlite().await;
    let layer = WellKnownLayer::builder()
        .tunnel(common::tunnel())
        .with_session_store(TowerSessionsStore::new(sqlite.clone()))
        .idle_timeout(IDLE)
        .build()
        .unwrap();
    let recorder = Recorder::default();
    let pair = common::sign_in(&layer, common::ada()).await;
    let created = record(&sqlite, cookie_value(&pair))
        .await
        .unwrap()
        .expiry_date;

    tokio::time::sleep(IDLE / 2).await;
    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    let touched = record(&sqlite, cookie_value(&pair))
        .await
        .unwrap()
        .expiry_date;
    assert!(
        touched - created >= time::Duration::milliseconds(250),
        "{created} -> {touched}"
    );

    // Past the first idle deadline, alive thanks to the touch.
    tokio::time::sleep(IDLE / 2 + IDLE / 6).await;
    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));

    // Unused for longer than the idle timeout: gone.
    tokio::time::sleep(IDLE + IDLE / 3).await;
    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as(), None);
}

/// Sign-out everywhere does not exist for this store (a compile error, shown
/// in the type's documentation); signing in twice gives two sessions, and
/// logging one out leaves the other.
#[tokio::test]
async fn two_sign_ins_are_two_records() {
    let pool = pool().await;
    let layer = layer_on(TowerSessionsStore::new(SqliteStore::new(pool.clone())));
    let recorder = Recorder::default();
    let laptop = common::sign_in(&layer, common::ada()).await;
    let phone = common::sign_in(&layer, common::ada()).await;
    assert_ne!(laptop, phone);
    assert_eq!(rows(&pool).await, 2);
    send(
        &layer,
        &recorder,
        with_cookie(common::logout_request(), &laptop)
            .body(empty())
            .unwrap(),
    )
    .await;
    let answer = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &phone).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.authenticated_as().as_deref(), Some("rstream-auth"));
    assert_eq!(rows(&pool).await, 1);
}

// --- tower-sessions' own layer beside ours: the example app -----------------

const EXAMPLE_HOST: &str = "127.0.0.1:3000";

struct Reply {
    status: StatusCode,
    set_cookies: Vec<String>,
    body: String,
}

impl Reply {
    /// The `name=value` pair of the cookie `name` this reply sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

async fn call(app: &Router, method: &str, path: &str, cookies: &[&str]) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, EXAMPLE_HOST)
        .header("origin", format!("http://{EXAMPLE_HOST}"));
    if !cookies.is_empty() {
        request = request.header(COOKIE, cookies.join("; "));
    }
    if method == "POST" {
        request = request.header("content-length", "0");
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set_cookies = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        set_cookies,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn signed_in_as(reply: &Reply) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    (json["auth"]["authenticated"] == true)
        .then(|| json["user"]["userId"].as_str().unwrap().to_owned())
}

/// `examples/tower_sessions.rs`: one SQLite store behind tower-sessions'
/// layer and ours. Each reads its own cookie; the records are separate;
/// each logout ends only its own session; crossed cookies change nothing.
#[tokio::test]
async fn tower_sessions_own_layer_keeps_working_beside_ours() {
    let pool = pool().await;
    let sqlite = SqliteStore::new(pool.clone());
    let app = tower_sessions_example::app(sqlite.clone(), 3000).unwrap();

    // The app's own session, before anyone signs in.
    let first = call(&app, "GET", "/visits", &[]).await;
    assert_eq!(first.body, "visits: 1\n");
    let app_cookie = first.cookie("app_session").expect("tower-sessions' cookie");
    assert_eq!(first.set_cookies.len(), 1);
    let again = call(&app, "GET", "/visits", &[&app_cookie]).await;
    assert_eq!(again.body, "visits: 2\n");
    assert_eq!(rows(&pool).await, 1);

    // Sign-in: our cookie, and the app's session is written too.
    let login = call(&app, "POST", "/login", &[&app_cookie]).await;
    assert_eq!(login.status, StatusCode::NO_CONTENT);
    let ours = login.cookie("rstream_session").expect("our cookie");
    assert_eq!(rows(&pool).await, 2, "two records: the app's and ours");
    let theirs = app_record(&sqlite, cookie_value(&app_cookie))
        .await
        .unwrap();
    assert_eq!(theirs.data["signed_in_as"], "ada");
    assert!(!theirs.data.contains_key("rstream_well_known.session"));
    let our_record = record(&sqlite, cookie_value(&ours)).await.unwrap();
    assert!(!our_record.data.contains_key("visits"));

    // Each layer reads its own cookie, with both sent.
    let session = call(&app, "GET", SESSION, &[&app_cookie, &ours]).await;
    assert_eq!(signed_in_as(&session).as_deref(), Some("ada"));
    assert!(
        session.set_cookies.is_empty(),
        "tower-sessions never saw it"
    );
    let visits = call(&app, "GET", "/visits", &[&app_cookie, &ours]).await;
    assert_eq!(visits.body, "visits: 3\n");
    let only_app = call(&app, "GET", SESSION, &[&app_cookie]).await;
    assert_eq!(signed_in_as(&only_app), None);

    // Crossed cookies: the app's session id as ours authenticates nobody,
    // and logging out with it deletes nothing.
    let crossed = format!("rstream_session={}", cookie_value(&app_cookie));
    assert_eq!(
        signed_in_as(&call(&app, "GET", SESSION, &[&crossed]).await),
        None
    );
    let logout = call(&app, "POST", LOGOUT, &[&crossed]).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(rows(&pool).await, 2);
    // Our session id as the app's cookie: tower-sessions finds no record
    // under it (ours is elsewhere) and starts a fresh session of its own,
    // under another id; ours is untouched and still works.
    let crossed = format!("app_session={}", cookie_value(&ours));
    let fresh = call(&app, "GET", "/visits", &[&crossed]).await;
    assert_eq!(fresh.body, "visits: 1\n");
    let fresh = fresh.cookie("app_session").unwrap();
    assert_ne!(fresh, crossed);
    assert!(app_record(&sqlite, cookie_value(&fresh)).await.is_some());
    let our_record = record(&sqlite, cookie_value(&ours)).await.unwrap();
    assert!(!our_record.data.contains_key("visits"));
    assert_eq!(rows(&pool).await, 3, "the app's two sessions and ours");
    let session = call(&app, "GET", SESSION, &[&ours]).await;
    assert_eq!(signed_in_as(&session).as_deref(), Some("ada"));

    // The well-known logout ends ours only.
    let logout = call(&app, "POST", LOGOUT, &[&app_cookie, &ours]).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(logout.cookie("rstream_session").is_some(), "removal cookie");
    assert_eq!(
        signed_in_as(&call(&app, "GET", SESSION, &[&ours]).await),
        None
    );
    assert_eq!(
        call(&app, "GET", "/visits", &[&app_cookie]).await.body,
        "visits: 4\n"
    );
    assert!(record(&sqlite, cookie_value(&ours)).await.is_none());
    assert!(
        app_record(&sqlite, cookie_value(&app_cookie))
            .await
            .is_some()
    );
    // The app's two records, and the logout's tombstone (the example's
    // sessions have an idle timeout).
    assert_eq!(rows(&pool).await, 3);

    // And ending the app's session (what `Session::flush` does: delete the
    // record) leaves a new well-known session alone.
    let login = call(&app, "POST", "/login", &[&app_cookie]).await;
    let ours = login.cookie("rstream_session").unwrap();
    let app_id: Id = cookie_value(&app_cookie).parse().unwrap();
    TowerStore::delete(&sqlite, &app_id).await.unwrap();
    assert_eq!(
        call(&app, "GET", "/visits", &[&app_cookie]).await.body,
        "visits: 1\n"
    );
    assert_eq!(
        signed_in_as(&call(&app, "GET", SESSION, &[&ours]).await).as_deref(),
        Some("ada")
    );
}

/// tower-sessions' layer and ours on one store, as the example has them,
/// with `store` (a `Cued` SQLite store) behind both and our sessions' idle
/// timeout `idle`: `GET /write` writes the app's tower-sessions session
/// (cookie `app_session`).
fn app_beside_ours(
    store: Cued<SqliteStore>,
    idle: Option<Duration>,
) -> (
    Router,
    WellKnownLayer<rstream_well_known::StaticTokenVerifier, TowerSessionsStore<Cued<SqliteStore>>>,
) {
    let mut builder = WellKnownLayer::builder()
        .tunnel(
            Tunnel::new(EXAMPLE_HOST, "ws", "proj")
                .unwrap()
                .with_origin(&format!("http://{EXAMPLE_HOST}"))
                .unwrap(),
        )
        .with_session_store(TowerSessionsStore::new(store.clone()))
        .session_cookie(SessionCookie::new("rstream_session").secure(false));
    if let Some(idle) = idle {
        builder = builder.idle_timeout(idle);
    }
    let well_known = builder.build().unwrap();
    let app = Router::new()
        .route(
            "/write",
            routing::get(|session: tower_sessions::Session| async move {
                match session.insert("written", true).await {
                    Ok(_) => StatusCode::NO_CONTENT,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            }),
        )
        .layer(
            SessionManagerLayer::new(store)
                .with_name("app_session")
                .with_secure(false),
        )
        .layer(well_known.clone());
    (app, well_known)
}

/// The attack on a logout through tower-sessions' own layer: whoever holds
/// a session id sends it as the app's cookie to a route that writes the
/// app's session; a logout lands while that request is in flight, and the
/// app's write at the end of the request must not bring the session back.
/// Played with the cookie's value and with the id of the record that holds
/// the session (whatever a client works out), for sessions with and without
/// an idle timeout, the app's write held until the logout returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_write_in_flight_never_undoes_a_logout() {
    let idle_timeouts = [Some(Duration::from_secs(30 * 60)), None];
    for (app_cookie_names, idle) in ["the cookie's id", "the record's id"]
        .into_iter()
        .flat_map(|names| idle_timeouts.map(|idle| (names, idle)))
    {
        let pool = pool().await;
        let cued = Cued::new(SqliteStore::new(pool.clone()));
        let (app, layer) = app_beside_ours(cued.clone(), idle);
        let signed_in = layer
            .session_manager()
            .sign_in(User::new("ada"))
            .await
            .unwrap();
        let ours = signed_in
            .set_cookie()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let signed_in_now = |app: Router, ours: String| async move {
            signed_in_as(&call(&app, "GET", SESSION, &[&ours]).await)
        };
        assert_eq!(
            signed_in_now(app.clone(), ours.clone()).await.as_deref(),
            Some("ada")
        );
        let id = match app_cookie_names {
            "the cookie's id" => cookie_value(&ours).to_owned(),
            _ => {
                let ids: Vec<String> = sqlx::query_scalar("select id from tower_sessions")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                assert_eq!(ids.len(), 1, "our record only");
                ids[0].clone()
            }
        };

        // The app's request loads, writes, and waits at the store.
        let write = cued.gate_next(&cued.cues.write_gate);
        let in_flight = tokio::spawn({
            let app = app.clone();
            let crossed = format!("app_session={id}");
            async move { call(&app, "GET", "/write", &[&crossed]).await }
        });
        write.arrived.await.unwrap();

        // The logout, meanwhile.
        let logout = call(&app, "POST", LOGOUT, &[&ours]).await;
        assert_eq!(logout.status, StatusCode::NO_CONTENT);
        assert!(logout.cookie("rstream_session").is_some(), "removal cookie");
        assert_eq!(signed_in_now(app.clone(), ours.clone()).await, None);

        // The app's write goes through, and the session stays ended.
        write.release.send(()).unwrap();
        assert_eq!(in_flight.await.unwrap().status, StatusCode::NO_CONTENT);
        assert_eq!(
            signed_in_now(app.clone(), ours.clone()).await,
            None,
            "the app's write brought the session back ({app_cookie_names}, idle {idle:?})"
        );
        // Nor does a later touch (the layer's sliding expiry) or logout
        // change that.
        let store = TowerSessionsStore::new(cued.clone());
        let session_id = SessionId::new(cookie_value(&ours)).unwrap();
        store
            .touch(&session_id, SystemTime::now() + Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(store.load(&session_id).await.unwrap(), None, "touched");
        assert_eq!(signed_in_now(app.clone(), ours.clone()).await, None);
    }
}

// --- failures ------------------------------------------------------------------

/// A tower-sessions store whose calls fail (with the session id in the
/// message, as a careless store might), hang, wait at a gate, or each give
/// way once (return `Pending` once) before going to the store.
#[derive(Clone)]
struct Cued<S> {
    inner: S,
    cues: Arc<Cues>,
}

#[derive(Default)]
struct Cues {
    fail: AtomicBool,
    hang_load: AtomicBool,
    give_way: AtomicBool,
    /// Holds the next write: `save`, or `create` (tower-sessions' layer
    /// creates where the record it looked for was missing).
    write_gate: Mutex<Option<Gate>>,
    load_gate: Mutex<Option<Gate>>,
}

/// Holds the next call: says it arrived (with the id of the record it is
/// for), waits to be released.
struct Gate {
    arrived: oneshot::Sender<Id>,
    release: oneshot::Receiver<()>,
}

/// The test's ends of a gate.
struct GateHandle {
    arrived: oneshot::Receiver<Id>,
    release: oneshot::Sender<()>,
}

fn gate() -> (Gate, GateHandle) {
    let (arrived_tx, arrived_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    (
        Gate {
            arrived: arrived_tx,
            release: release_rx,
        },
        GateHandle {
            arrived: arrived_rx,
            release: release_tx,
        },
    )
}

impl<S> fmt::Debug for Cued<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cued")
    }
}

impl<S: TowerStore> Cued<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            cues: Arc::default(),
        }
    }

    fn failure(&self, id: &Id) -> session_store::Result<()> {
        if self.cues.fail.load(Ordering::SeqCst) {
            // A store that puts the key in its message: the adapter redacts.
            return Err(session_store::Error::Backend(format!(
                "no connection (while reading {id}, {id:?})"
            )));
        }
        Ok(())
    }

    /// Each call first gives way once, when asked to: the caller's future
    /// is `Pending` at every store call, and can be dropped there.
    async fn give_way(&self) {
        if self.cues.give_way.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
    }

    async fn pass(gate: &Mutex<Option<Gate>>, id: Id) {
        let taken = gate.lock().unwrap().take();
        if let Some(gate) = taken {
            let _ = gate.arrived.send(id);
            let _ = gate.release.await;
        }
    }

    fn gate_next(&self, which: &Mutex<Option<Gate>>) -> GateHandle {
        let (gate, handle) = gate();
        *which.lock().unwrap() = Some(gate);
        handle
    }
}

#[async_trait]
impl<S: TowerStore> TowerStore for Cued<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.failure(&record.id)?;
        self.give_way().await;
        Self::pass(&self.cues.write_gate, record.id).await;
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.failure(&record.id)?;
        self.give_way().await;
        Self::pass(&self.cues.write_gate, record.id).await;
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.failure(id)?;
        if self.cues.hang_load.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.give_way().await;
        Self::pass(&self.cues.load_gate, *id).await;
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.failure(id)?;
        self.give_way().await;
        self.inner.delete(id).await
    }
}

/// A failing store: not authenticated, a `503` logout that keeps the cookie,
/// a sign-in error, and never the session id in an answer or the log.
#[tokio::test]
async fn a_failing_store_fails_closed_and_never_shows_the_id() {
    let cued = Cued::new(sqlite().await);
    let layer = layer_on(TowerSessionsStore::new(cued.clone()));
    let recorder = Recorder::default();
    let pair = common::sign_in(&layer, common::ada()).await;
    let value = cookie_value(&pair).to_owned();
    let number = value.parse::<Id>().unwrap().0.to_string();

    let (log, _guard) = Captured::install();
    cued.cues.fail.store(true, Ordering::SeqCst);
    let session = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.authenticated_as(), None);
    let logout = send(
        &layer,
        &recorder,
        with_cookie(common::logout_request(), &pair)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(logout.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(logout.header("set-cookie"), None);
    let error = layer
        .session_manager()
        .sign_in(User::new("grace"))
        .await
        .unwrap_err();
    let SignInError::Store(error) = error else {
        panic!("{error:?}");
    };
    assert_eq!(error.kind(), TowerSessionsStoreErrorKind::Store);
    assert!(error.to_string().contains("no connection"), "{error}");

    let logged = log.text();
    assert!(
        logged.contains("no connection"),
        "the failure is logged: {logged}"
    );
    assert!(logged.contains("<session id>"), "{logged}");
    for shown in [
        logged,
        session.everything(),
        logout.everything(),
        error.to_string(),
    ] {
        assert!(
            !shown.contains(&value) && !shown.contains(&number),
            "{shown}"
        );
    }

    // Back up: the session was never lost.
    cued.cues.fail.store(false, Ordering::SeqCst);
    let session = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(session.authenticated_as().as_deref(), Some("rstream-auth"));
}

/// A store that never answers is bounded by the layer's backend timeout:
/// not authenticated, logout `503`, both within about the timeout.
#[tokio::test]
async fn the_layer_backend_timeout_bounds_a_hanging_store() {
    const TIMEOUT: Duration = Duration::from_millis(150);
    let cued = Cued::new(sqlite().await);
    let layer = WellKnownLayer::builder()
        .tunnel(common::tunnel())
        .with_session_store(TowerSessionsStore::new(cued.clone()))
        .backend_timeout(TIMEOUT, TokioTimer)
        .build()
        .unwrap();
    let recorder = Recorder::default();
    let pair = common::sign_in(&layer, common::ada()).await;
    cued.cues.hang_load.store(true, Ordering::SeqCst);

    let started = Instant::now();
    let session = send(
        &layer,
        &recorder,
        with_cookie(get(SESSION), &pair).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(session.authenticated_as(), None);
    let logout = send(
        &layer,
        &recorder,
        with_cookie(common::logout_request(), &pair)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(logout.status, StatusCode::SERVICE_UNAVAILABLE);
    let took = started.elapsed();
    assert!(
        took >= 2 * TIMEOUT && took < 2 * TIMEOUT + Duration::from_secs(2),
        "{took:?}"
    );
}

/// A record under our key that this version cannot read is refused
/// cleanly: an error of its own kind, not a session.
#[tokio::test]
async fn values_of_an_unknown_layout_are_refused() {
    let sqlite = sqlite().await;
    let store = TowerSessionsStore::new(sqlite.clone());
    let now = SystemTime::now();
    let id = store
        .create(Session::new(
            User::new("ada"),
            now,
            now + Duration::from_secs(60),
        ))
        .await
        .unwrap();
    let mut record = record(&sqlite, id.expose()).await.unwrap();
    record.data.get_mut("rstream_well_known.session").unwrap()["v"] = 2.into();
    TowerStore::save(&sqlite, &record).await.unwrap();
    let error = store.load(&id).await.unwrap_err();
    assert_eq!(
        error.kind(),
        TowerSessionsStoreErrorKind::UnsupportedVersion(2)
    );

    record
        .data
        .insert("rstream_well_known.session".into(), "garbage".into());
    TowerStore::save(&sqlite, &record).await.unwrap();
    assert_eq!(
        store.load(&id).await.unwrap_err().kind(),
        TowerSessionsStoreErrorKind::Corrupt
    );
    // Such a record can still be revoked.
    store.revoke(&id).await.unwrap();
    assert!(
        TowerStore::load(&sqlite, &record.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// The race tower-sessions' API leaves open, played step by step: a touch
/// loads the session, a logout deletes it, the touch's save writes it back.
/// Whether the touch then runs to the end (its check finds the logout's
/// tombstone and ends the session again) or is cut off right there (dropped,
/// as the layer's backend timeout drops it), the session never loads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touch_racing_a_revoke_never_leaves_the_session_alive() {
    for cut_off in [false, true] {
        let cued = Cued::new(sqlite().await);
        let store = Arc::new(TowerSessionsStore::new(cued.clone()));
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let id = store
            .create(
                Session::new(User::new("ada"), now, now + 4 * hour)
                    .with_idle_expires_at(now + hour),
            )
            .await
            .unwrap();

        // The touch loads, then waits at its save.
        let save = cued.gate_next(&cued.cues.write_gate);
        let touch = tokio::spawn({
            let store = Arc::clone(&store);
            let id = id.clone();
            async move { store.touch(&id, now + 2 * hour).await }
        });
        let record = save.arrived.await.unwrap();

        // Meanwhile the logout.
        store.revoke(&id).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap(), None);

        // The touch's save goes through: the record is back (the window).
        let check = cued.gate_next(&cued.cues.load_gate);
        save.release.send(()).unwrap();
        check.arrived.await.unwrap();
        assert!(
            TowerStore::load(&cued.inner, &record)
                .await
                .unwrap()
                .is_some(),
            "the save wrote it back"
        );

        if cut_off {
            // The touch is dropped before its check: the record stays, and
            // still never loads.
            touch.abort();
            assert!(touch.await.unwrap_err().is_cancelled());
            for _ in 0..2 {
                assert_eq!(store.load(&id).await.unwrap(), None, "cut off");
            }
            // Nor does a later touch bring it back.
            store.touch(&id, now + 3 * hour).await.unwrap();
            assert_eq!(store.load(&id).await.unwrap(), None, "touched again");
        } else {
            // Its check finds the tombstone and ends the session again.
            check.release.send(()).unwrap();
            touch.await.unwrap().unwrap();
            assert_eq!(store.load(&id).await.unwrap(), None);
        }
        assert!(
            TowerStore::load(&cued.inner, &record)
                .await
                .unwrap()
                .is_none(),
            "the record is deleted again (cut off: {cut_off})"
        );
    }
}

/// On a store whose every call gives way once (is `Pending` once), a touch
/// is cut off at each of its store calls in turn, with the logout run in
/// full between two of them: whatever the cut, the session never loads
/// again. And the shared suite's cut-off check, on that store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touch_cut_off_at_each_store_call_never_undoes_a_revoke() {
    let cued = Cued::new(tower_sessions::MemoryStore::default());
    cued.cues.give_way.store(true, Ordering::SeqCst);
    let store = TowerSessionsStore::new(cued);
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    for before in 0..4 {
        for after in 0..4 {
            let id = store
                .create(
                    Session::new(User::new("ada"), now, now + 4 * hour)
                        .with_idle_expires_at(now + hour),
                )
                .await
                .unwrap();
            let mut touch = Box::pin(store.touch(&id, now + 2 * hour));
            let mut finished = false;
            for _ in 0..before {
                finished = finished || futures::poll!(touch.as_mut()).is_ready();
            }
            store.revoke(&id).await.unwrap();
            for _ in 0..after {
                finished = finished || futures::poll!(touch.as_mut()).is_ready();
            }
            drop(touch);
            assert_eq!(
                store.load(&id).await.unwrap(),
                None,
                "a touch polled {before} times before the logout and {after} after \
                 (finished: {finished}) brought the session back"
            );
        }
    }
    test_util::a_touch_cut_off_anywhere_never_undoes_a_revoke(store).await;
}

/// Without a race, a revoke of a session with an idle deadline leaves one
/// tombstone (never a session), and sessions without one leave none.
#[tokio::test]
async fn tombstones_only_where_a_touch_could_race() {
    let pool = pool().await;
    let store = TowerSessionsStore::new(SqliteStore::new(pool.clone()));
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let plain = store
        .create(Session::new(User::new("ada"), now, now + hour))
        .await
        .unwrap();
    let idle = store
        .create(
            Session::new(User::new("ada"), now, now + hour).with_idle_expires_at(now + hour / 2),
        )
        .await
        .unwrap();
    store.revoke(&plain).await.unwrap();
    assert_eq!(rows(&pool).await, 1);
    store.revoke(&idle).await.unwrap();
    assert_eq!(rows(&pool).await, 1, "the tombstone");
    let ids: HashSet<String> = sqlx::query_scalar("select id from tower_sessions")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(!ids.contains(idle.expose()));
    // A tombstone's id as a cookie is no session, and revoking it deletes
    // nothing.
    let tombstone = SessionId::new(ids.iter().next().unwrap()).unwrap();
    assert_eq!(store.load(&tombstone).await.unwrap(), None);
    store.revoke(&tombstone).await.unwrap();
    assert_eq!(rows(&pool).await, 1);
    // A touch of the revoked session changes nothing.
    store.touch(&idle, now + hour).await.unwrap();
    assert_eq!(store.load(&idle).await.unwrap(), None);
    assert_eq!(rows(&pool).await, 1);
}

/// The adapter is a store like any other: through `Arc` and boxed.
#[tokio::test]
async fn shared_and_boxed() {
    let store = Arc::new(TowerSessionsStore::new(sqlite().await));
    let boxed = rstream_well_known::BoxSessionStore::new(Arc::clone(&store));
    let now = SystemTime::now();
    let id = boxed
        .create(Session::new(
            User::new("ada"),
            now,
            now + Duration::from_secs(60),
        ))
        .await
        .unwrap();
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().user().user_id(),
        "ada"
    );
    let debug = format!("{:?}", store);
    assert!(debug.contains("SqliteStore"), "{debug}");
    assert!(!debug.contains("memory"), "no connection settings: {debug}");
    let _ = Tunnel::new("app.example.com", "ws", "proj").unwrap();
}

/// The adapter cannot revoke by tag, but a session's tags travel in its
/// record all the same (the value's `tags`, only when there are some), come
/// back on load in order, and survive a touch, which rewrites the record.
#[tokio::test]
async fn tags_travel_in_the_record() {
    let pool = pool().await;
    let sqlite = SqliteStore::new(pool.clone());
    let store = TowerSessionsStore::new(sqlite.clone());
    let now = SystemTime::now();
    let tagged = Session::new(User::new("ada"), now, now + Duration::from_secs(3600))
        .with_idle_expires_at(now + Duration::from_secs(60))
        .with_tag("sid:1")
        .with_tag("sub:ada");
    let id = store.create(tagged).await.unwrap();
    let stored = &record(&sqlite, id.expose()).await.unwrap().data["rstream_well_known.session"];
    assert_eq!(stored["tags"], serde_json::json!(["sid:1", "sub:ada"]));

    store
        .touch(&id, now + Duration::from_secs(600))
        .await
        .unwrap();
    let loaded = store.load(&id).await.unwrap().expect("live");
    assert_eq!(loaded.tags().collect::<Vec<_>>(), ["sid:1", "sub:ada"]);
    assert!(loaded.idle_expires_at() > Some(now + Duration::from_secs(60)));
    let stored = &record(&sqlite, id.expose()).await.unwrap().data["rstream_well_known.session"];
    assert_eq!(stored["tags"], serde_json::json!(["sid:1", "sub:ada"]));

    let plain = store
        .create(Session::new(
            User::new("bob"),
            now,
            now + Duration::from_secs(3600),
        ))
        .await
        .unwrap();
    let stored = &record(&sqlite, plain.expose()).await.unwrap().data["rstream_well_known.session"];
    assert!(stored.get("tags").is_none(), "{stored}");
    assert_eq!(store.load(&plain).await.unwrap().unwrap().tags().len(), 0);
}
