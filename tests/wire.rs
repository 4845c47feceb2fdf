//! What actually goes over the wire from a hyper 1 server: HEAD keeps GET's
//! Content-Length and sends no body; 204 sends neither a body nor a length.

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = ServiceBuilder::new().layer(layer()).service_fn(
        |_req: http::Request<hyper::body::Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"app"))))
        },
    );
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Sends raw bytes and reads until the server closes the connection.
async fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

fn split(response: &str) -> (String, String) {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    (head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn head_keeps_the_get_content_length_and_sends_no_body() {
    let addr = server().await;
    let get = exchange(addr, "GET /.well-known/rstream/session HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n").await;
    let head = exchange(addr, "HEAD /.well-known/rstream/session HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n").await;
    let (get_head, get_body) = split(&get);
    let (head_head, head_body) = split(&head);
    assert!(get_head.starts_with("http/1.1 200"), "{get}");
    assert!(head_head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(get_body, r#"{"auth":{"authenticated":false}}"#);
    assert!(
        get_head.contains(&format!("content-length: {}", get_body.len())),
        "{get_head}"
    );
    assert!(
        head_head.contains(&format!("content-length: {}", get_body.len())),
        "{head_head}"
    );
    assert_eq!(head_body, "");
    for header in [
        "cache-control: no-store",
        "content-type: application/json",
        "x-content-type-options: nosniff",
    ] {
        assert!(head_head.contains(header), "{header} in {head_head}");
    }
}

#[tokio::test]
async fn no_content_has_no_length_and_no_body() {
    let addr = server().await;
    let response = exchange(
        addr,
        "POST /.well-known/rstream/logout HTTP/1.1\r\nHost: app.example.com\r\nOrigin: https://app.example.com\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = split(&response);
    assert!(head.starts_with("http/1.1 204"), "{response}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(head.contains("cache-control: no-store"));
    assert_eq!(body, "");
}

#[tokio::test]
async fn logout_bodies_are_judged_by_their_headers_alone() {
    let addr = server().await;
    let post = "POST /.well-known/rstream/logout HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n";
    // A form body of declared length: 415.
    let response = exchange(
        addr,
        &format!(
            "{post}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 415"), "{response}");
    // A body of undeclared length that is not JSON: 411, even when it turns
    // out to be empty, because the layer does not wait to find out.
    for body in ["3\r\na=b\r\n0\r\n\r\n", "0\r\n\r\n"] {
        let response = exchange(
            addr,
            &format!("{post}Transfer-Encoding: chunked\r\n\r\n{body}"),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 411"), "{response}");
        assert!(
            response.contains(r#"{"error":"length_required"}"#),
            "{response}"
        );
    }
    // A JSON body is never read, whatever its framing.
    let response = exchange(
        addr,
        &format!("{post}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
}

/// A logout whose chunked body never sends a byte is answered at once: the
/// layer decides from the headers and never waits for the body.
#[tokio::test]
async fn a_body_that_never_arrives_is_not_waited_for() {
    let addr = server().await;
    for content_type in ["", "Content-Type: application/json\r\n"] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /.well-known/rstream/logout HTTP/1.1\r\nHost: app.example.com\r\n{content_type}Transfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buffer = [0u8; 512];
        // Generous: a hang is what fails, not slowness.
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buffer))
                .await
                .expect("the layer answered without the body")
                .unwrap();
        let response = String::from_utf8_lossy(&buffer[..read]);
        let expected = if content_type.is_empty() {
            "HTTP/1.1 411"
        } else {
            "HTTP/1.1 204"
        };
        assert!(response.starts_with(expected), "{response}");
    }
}

#[tokio::test]
async fn other_paths_reach_the_app_over_http1_and_http2() {
    let addr = server().await;
    let response = exchange(
        addr,
        "GET /anything HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(split(&response).1, "app");

    // HTTP/2 (prior knowledge): the tunnel comes from :authority.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get("http://app.example.com/.well-known/rstream/session")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let request = http::Request::get("http://app.example.com/x")
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    use http_body_util::BodyExt;
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "app"
    );
}

/// Over the wire too, a well-known request with two `Host` fields (even the
/// tunnel's, twice) or none is answered `400` and never reaches the app.
#[tokio::test]
async fn ambiguous_hosts_are_refused_over_the_wire() {
    let addr = server().await;
    for (hosts, reason) in [
        (
            "Host: app.example.com\r\nHost: app.example.com\r\n",
            "ambiguous_host",
        ),
        (
            "Host: app.example.com\r\nHost: other.example.com\r\n",
            "ambiguous_host",
        ),
        ("Host: app.example.com..\r\n", "invalid_host"),
        ("", "invalid_host"),
    ] {
        let response = exchange(
            addr,
            &format!(
                "GET /.well-known/rstream/session HTTP/1.1\r\n{hosts}Connection: close\r\n\r\n"
            ),
        )
        .await;
        let (head, body) = split(&response);
        assert!(head.starts_with("http/1.1 400"), "{hosts:?}: {response}");
        assert_eq!(body, format!(r#"{{"error":"{reason}"}}"#), "{hosts:?}");
    }
}
