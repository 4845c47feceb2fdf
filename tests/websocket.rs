//! WebSocket upgrades pass through the layer: an axum WebSocket route
//! behind it, with identity off, on, and with authentication required,
//! over a real socket. The `rstream.token` query parameter (what it exists
//! for: a browser's `WebSocket` cannot set headers) authenticates the
//! handshake. A handshake authenticated by the session cookie must come
//! from a page of the tunnel's origin (or one the application allows).

use crate::common;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Extension;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use common::*;
use futures::{SinkExt, StreamExt};
use rstream_well_known::{
    Caller, ConfigError, MemoryStore, Paths, StaticTokenVerifier, WellKnownBuilder, WellKnownLayer,
};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, http::HeaderValue};

/// Greets the caller over the socket (with the URI the handler saw), then
/// echoes one message.
async fn socket(
    upgrade: WebSocketUpgrade,
    caller: Option<Extension<Caller>>,
    uri: Uri,
) -> Response {
    let greeting = match caller {
        None => "no caller".to_owned(),
        Some(Extension(caller)) => match (caller.user(), caller.method()) {
            (Some(user), Some(method)) => format!("hello, {} via {method}", user.user_id()),
            _ => "hello, stranger".to_owned(),
        },
    };
    upgrade.on_upgrade(move |mut socket| async move {
        let _ = socket
            .send(Message::Text(format!("{greeting} at {uri}").into()))
            .await;
        if let Some(Ok(message)) = socket.recv().await {
            let _ = socket.send(message).await;
        }
    })
}

fn builder() -> WellKnownBuilder<StaticTokenVerifier, MemoryStore> {
    WellKnownLayer::builder()
        .tunnel(tunnel())
        .with_token_verifier(verifier())
        .with_session_store(MemoryStore::new())
}

async fn serve(layer: WellKnownLayer) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/ws", get(socket)).layer(layer);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, server)
}

/// Another origin of the tunnel's site: the browser sends the tunnel's
/// cookie with the handshakes of its pages (`SameSite` is about sites).
const SIBLING: &str = "https://sibling.example.com";

/// A handshake the server refused: its status, and the layer's answer.
#[derive(Debug, PartialEq)]
struct Refused {
    status: u16,
    cache_control: Option<String>,
    body: String,
}

/// Opens a WebSocket to `path` (naming the tunnel's host) with `cookie` and
/// `origin`, reads the greeting, checks the echo; or the handshake's
/// refusal.
async fn handshake(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<String, Refused> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("host", HeaderValue::from_static(HOST));
    for (name, value) in [("cookie", cookie), ("origin", origin)] {
        if let Some(value) = value {
            request
                .headers_mut()
                .insert(name, HeaderValue::from_str(value).unwrap());
        }
    }
    let (mut stream, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tungstenite::Error::Http(response)) => {
            return Err(Refused {
                status: response.status().as_u16(),
                cache_control: response
                    .headers()
                    .get("cache-control")
                    .map(|value| value.to_str().unwrap().to_owned()),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            });
        }
        Err(error) => panic!("handshake failed: {error}"),
    };
    let greeting = match stream.next().await {
        Some(Ok(tungstenite::Message::Text(text))) => text.to_string(),
        other => panic!("no greeting: {other:?}"),
    };
    stream
        .send(tungstenite::Message::Text("ping".into()))
        .await
        .unwrap();
    match stream.next().await {
        Some(Ok(tungstenite::Message::Text(text))) => assert_eq!(text.as_str(), "ping"),
        other => panic!("no echo: {other:?}"),
    }
    Ok(greeting)
}

/// [`handshake`] without `Origin` (as a non-browser client), the refusal
/// reduced to its status.
async fn open(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Result<String, u16> {
    handshake(addr, path, cookie, None)
        .await
        .map_err(|refused| refused.status)
}

/// The layer's refusal of a handshake from a page of another origin.
fn origin_mismatch() -> Refused {
    Refused {
        status: 403,
        cache_control: Some("no-store".to_owned()),
        body: r#"{"error":"origin_mismatch"}"#.to_owned(),
    }
}

#[tokio::test]
async fn upgrades_pass_through_untouched_when_identity_is_off() {
    let (addr, server) = serve(builder().build().unwrap()).await;
    let path = format!("/ws?rstream.token={TOKEN}");
    assert_eq!(
        open(addr, &path, None).await,
        Ok(format!("no caller at {path}"))
    );
    assert_eq!(
        handshake(addr, "/ws", Some("a=b"), Some(SIBLING)).await,
        Ok("no caller at /ws".to_owned()),
        "without identity or enforcement the layer checks nothing"
    );
    server.abort();
}

#[tokio::test]
async fn the_token_parameter_authenticates_a_handshake() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let (addr, server) = serve(layer).await;
    assert_eq!(
        open(addr, &format!("/ws?room=1&rstream.token={TOKEN}"), None).await,
        Ok("hello, user-id via token-auth at /ws?room=1".to_owned()),
        "the handler never sees the token"
    );
    assert_eq!(
        open(addr, "/ws", Some(&cookie)).await,
        Ok("hello, user-id via rstream-auth at /ws".to_owned())
    );
    assert_eq!(
        open(addr, "/ws?rstream.token=wrong", None).await,
        Ok("hello, stranger at /ws".to_owned())
    );
    server.abort();
}

#[tokio::test]
async fn a_guarded_handshake_needs_a_credential_and_is_never_redirected() {
    let layer = builder()
        .require_authentication(Paths::prefix("/ws"))
        .sign_in_url("/login")
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let (addr, server) = serve(layer).await;
    assert_eq!(open(addr, "/ws", None).await, Err(401));
    assert_eq!(open(addr, "/ws?rstream.token=wrong", None).await, Err(401));
    assert_eq!(
        open(addr, &format!("/ws?rstream.token={TOKEN}"), None).await,
        Ok("hello, user-id via token-auth at /ws".to_owned())
    );
    assert_eq!(
        open(addr, "/ws", Some(&cookie)).await,
        Ok("hello, user-id via rstream-auth at /ws".to_owned())
    );
    server.abort();
}

#[tokio::test]
async fn a_cookie_handshake_from_a_page_of_another_origin_is_refused() {
    for (what, guard) in [
        ("identity", builder().identity(Paths::prefix("/ws"))),
        (
            "enforcement",
            builder()
                .require_authentication(Paths::prefix("/ws"))
                .sign_in_url("/login"),
        ),
    ] {
        let layer = guard.build().unwrap();
        let cookie = sign_in(&layer, ada()).await;
        let (addr, server) = serve(layer).await;
        let as_ada = Ok("hello, user-id via rstream-auth at /ws".to_owned());
        for origin in [
            SIBLING,
            "http://app.example.com",
            "https://app.example.com:8443",
            "null",
        ] {
            let refused = handshake(addr, "/ws", Some(&cookie), Some(origin)).await;
            assert_eq!(refused, Err(origin_mismatch()), "{what}: {origin}");
            assert!(!format!("{refused:?}").contains(cookie_value(&cookie)));
        }
        for origin in [ORIGIN, "https://APP.example.com:443"] {
            let opened = handshake(addr, "/ws", Some(&cookie), Some(origin)).await;
            assert_eq!(opened, as_ada, "{what}: the tunnel's own pages");
        }
        assert_eq!(
            handshake(addr, "/ws", Some(&cookie), None).await,
            as_ada,
            "{what}: a client that is no browser sends no Origin"
        );
        assert_eq!(
            handshake(
                addr,
                &format!("/ws?rstream.token={TOKEN}"),
                None,
                Some(SIBLING)
            )
            .await,
            Ok("hello, user-id via token-auth at /ws".to_owned()),
            "{what}: a token is no ambient credential"
        );
        assert_eq!(
            handshake(
                addr,
                &format!("/ws?rstream.token={TOKEN}"),
                Some(&cookie),
                Some(SIBLING)
            )
            .await,
            Ok("hello, user-id via token-auth at /ws".to_owned()),
            "{what}: the token decides, the cookie is not used"
        );
        assert_eq!(
            handshake(
                addr,
                "/ws?rstream.token=wrong",
                Some(&cookie),
                Some(SIBLING)
            )
            .await,
            Err(origin_mismatch()),
            "{what}: a refused token falls back to the cookie, which is checked"
        );
        server.abort();
    }
}

#[tokio::test]
async fn an_anonymous_handshake_from_another_origin_borrows_nobody() {
    let layer = builder().identity(Paths::all()).build().unwrap();
    let (addr, server) = serve(layer).await;
    assert_eq!(
        handshake(addr, "/ws", None, Some(SIBLING)).await,
        Ok("hello, stranger at /ws".to_owned())
    );
    assert_eq!(
        handshake(
            addr,
            "/ws",
            Some("__Host-rstream_session=ended"),
            Some(SIBLING)
        )
        .await,
        Ok("hello, stranger at /ws".to_owned()),
        "a cookie of no live session authenticates nobody"
    );
    server.abort();

    let layer = builder()
        .require_authentication(Paths::all())
        .build()
        .unwrap();
    let (addr, server) = serve(layer).await;
    assert_eq!(
        handshake(addr, "/ws", None, Some(SIBLING))
            .await
            .map_err(|r| r.status),
        Err(401),
        "a guarded path still needs a credential"
    );
    server.abort();
}

#[tokio::test]
async fn the_application_can_allow_pages_of_other_origins() {
    let layer = builder()
        .require_authentication(Paths::all())
        .websocket_origin(SIBLING)
        .websocket_origin("http://localhost:5173")
        .build()
        .unwrap();
    let cookie = sign_in(&layer, ada()).await;
    let (addr, server) = serve(layer).await;
    let as_ada = Ok("hello, user-id via rstream-auth at /ws".to_owned());
    for origin in [SIBLING, "http://localhost:5173", ORIGIN] {
        assert_eq!(
            handshake(addr, "/ws", Some(&cookie), Some(origin)).await,
            as_ada,
            "{origin}"
        );
    }
    for origin in ["https://other.example.com", "http://localhost:5174", "null"] {
        assert_eq!(
            handshake(addr, "/ws", Some(&cookie), Some(origin)).await,
            Err(origin_mismatch()),
            "{origin}"
        );
    }
    server.abort();

    for bad in [
        "null",
        "https://a.example.com/",
        "sibling.example.com",
        "https://u@a.example.com",
    ] {
        assert_eq!(
            builder().websocket_origin(bad).build().unwrap_err(),
            ConfigError::InvalidWebSocketOrigin(bad.to_owned()),
            "{bad}"
        );
    }
}
