//! Helpers: a raw HTTP/1.1 server that answers with canned responses and records requests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a raw server saw: each request's head (request line and headers).
pub type Seen = Arc<Mutex<Vec<String>>>;

/// Serves `respond(request_head, base_url) -> full HTTP response` on 127.0.0.1:0.
pub async fn raw_server(respond: impl Fn(&str, &str) -> String + Send + Sync + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let seen: Seen = Arc::default();
    let (seen2, base2) = (seen.clone(), base.clone());
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (seen, base, respond) = (seen2.clone(), base2.clone(), respond.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                seen.lock().unwrap().push(head.clone());
                let _ = sock.write_all(respond(&head, &base).as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (base, seen)
}

/// A complete HTTP response with `connection: close`.
pub fn response(status: &str, headers: &[(&str, String)], body: &str) -> String {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

/// The path and query of a request head.
pub fn target(head: &str) -> &str {
    head.split_whitespace().nth(1).unwrap_or("")
}

pub const USER: &str = r#"{"id":"00u1","status":"ACTIVE","profile":{"login":"a@example.com"}}"#;

/// The sandbox's own answer to a GET as its admin, as the reference for what the client saw.
pub async fn server(sb: &okta_sandbox::Sandbox, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}{path}", sb.url()))
        .header("authorization", format!("SSWS {}", sb.config().api_token_value()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
