//! WebSocket upgrades pass through the layer: an axum WebSocket route
//! behind it, with identity off, on, and with authentication required,
//! over a real socket. The `rstream.token` query parameter (what it exists
//! for: a browser's `WebSocket` cannot set headers) authenticates the
//! handshake.

mod common;

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
    Caller, MemoryStore, Paths, StaticTokenVerifier, WellKnownBuilder, WellKnownLayer,
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

/// Opens a WebSocket to `path` (naming the tunnel's host), reads the
/// greeting, checks the echo; or the handshake's refusal status.
async fn open(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Result<String, u16> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("host", HeaderValue::from_static(HOST));
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(cookie).unwrap());
    }
    let (mut stream, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tungstenite::Error::Http(response)) => return Err(response.status().as_u16()),
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

#[tokio::test]
async fn upgrades_pass_through_untouched_when_identity_is_off() {
    let (addr, server) = serve(builder().build().unwrap()).await;
    let path = format!("/ws?rstream.token={TOKEN}");
    assert_eq!(
        open(addr, &path, None).await,
        Ok(format!("no caller at {path}"))
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
