//! What a server should not do, and what the client then does.

use futures::{StreamExt, TryStreamExt};
use std::time::Duration;

use okta_client::{Client, Error, RetryPolicy};

use crate::util::{USER, raw_server, response, target};

fn client(base: &str) -> Client {
    Client::builder(base)
        .unwrap()
        .api_token("00-test-token")
        .retry(RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let (elsewhere, elsewhere_seen) = raw_server(|_, _| response("200 OK", &[], "[]")).await;
    let (base, _) =
        raw_server(move |_, _| response("302 Found", &[("location", format!("{elsewhere}/api/v1/users"))], "")).await;
    let err = client(&base).users().list().send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(302));
    assert!(err.to_string().contains("never follows"), "{err}");
    assert!(elsewhere_seen.lock().unwrap().is_empty(), "the token went nowhere else");
}

#[tokio::test]
async fn a_repeated_next_link_is_an_error_not_a_loop() {
    let (base, seen) = raw_server(|_, base| {
        response(
            "200 OK",
            &[("link", format!("<{base}/api/v1/users?after=same>; rel=\"next\""))],
            &format!("[{USER}]"),
        )
    })
    .await;
    let items: Vec<_> = client(&base).users().list().stream().collect().await;
    assert_eq!(items.len(), 3, "two pages of one user, then the error: {items:?}");
    assert!(items[0].is_ok() && items[1].is_ok());
    assert!(
        matches!(&items[2], Err(Error::Pagination(m)) if m.contains("repeated")),
        "{:?}",
        items[2]
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_next_link_to_another_host_gets_no_credentials() {
    let (evil, evil_seen) = raw_server(|_, _| response("200 OK", &[], "[]")).await;
    let (base, _) = raw_server(move |_, _| {
        response(
            "200 OK",
            &[("link", format!("<{evil}/api/v1/users?after=x>; rel=\"next\""))],
            &format!("[{USER}]"),
        )
    })
    .await;
    let items: Vec<_> = client(&base).users().list().stream().collect().await;
    assert!(items[0].is_ok());
    assert!(
        matches!(&items[1], Err(Error::Pagination(m)) if m.contains("refusing")),
        "{:?}",
        items[1]
    );
    assert!(evil_seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_error_mid_stream_is_an_item_never_a_silent_end() {
    let (base, seen) = raw_server(|head, base| {
        if target(head).contains("after=") {
            response(
                "500 Internal Server Error",
                &[("x-okta-request-id", "req-500".into())],
                r#"{"errorCode":"E0000009","errorSummary":"Internal Server Error","errorId":"oae500","errorCauses":[]}"#,
            )
        } else {
            response("200 OK", &[("link", format!("<{base}/api/v1/users?after=00u1>; rel=\"next\""))], &format!("[{USER}]"))
        }
    })
    .await;
    let result: Result<Vec<_>, _> = client(&base).users().list().stream().try_collect().await;
    let err = result.unwrap_err();
    let Error::Api(api) = &err else { panic!("{err:?}") };
    assert_eq!(
        (
            api.status.as_u16(),
            api.error_code.as_deref(),
            api.request_id.as_deref()
        ),
        (500, Some("E0000009"), Some("req-500"))
    );
    let tries = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|h| target(h).contains("after="))
        .count();
    assert_eq!(tries, 3, "the first attempt and max_retries retries, then the error");
}

#[tokio::test]
async fn undecodable_bodies_are_reported_with_an_excerpt() {
    let (base, _) = raw_server(|_, _| response("200 OK", &[], "<html>maintenance</html>")).await;
    let err = client(&base).users().get("x").await.unwrap_err();
    assert!(
        matches!(&err, Error::Decode { excerpt, .. } if excerpt.contains("maintenance")),
        "{err:?}"
    );
}

#[tokio::test]
async fn requests_name_the_client_and_send_the_token_as_ssws() {
    let (base, seen) = raw_server(|_, _| response("200 OK", &[], "[]")).await;
    client(&base).users().list().limit(5).send().await.unwrap();
    let head = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /api/v1/users?limit=5 "), "{head}");
    assert!(
        head.contains(&format!("user-agent: okta-client/{}", env!("CARGO_PKG_VERSION"))),
        "{head}"
    );
    assert!(head.contains("authorization: ssws 00-test-token"));
    assert!(head.contains("accept: application/json"));
}

#[test]
fn org_urls_are_checked_and_credentials_required() {
    let err = Client::builder("http://dev-1.okta.com").unwrap_err().to_string();
    assert!(err.contains("https is required"), "{err}");
    let err = Client::builder("https://dev-1.okta.com")
        .unwrap()
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no credentials"), "{err}");
    let debug = format!(
        "{:?}",
        Client::builder("https://dev-1.okta.com")
            .unwrap()
            .api_token("00secret-token")
            .build()
            .unwrap()
    );
    assert!(!debug.contains("00secret-token"), "{debug}");
}

/// A token endpoint that says its token lives for `u64::MAX` seconds (a panic once:
/// `Instant::now() + lifetime`): the client uses the token, believing it for a day at most.
#[tokio::test]
async fn a_huge_expires_in_is_capped_not_a_panic() {
    let (base, seen) = raw_server(|req, _| {
        if req.contains("/oauth2/v1/token") {
            response(
                "200 OK",
                &[("content-type", "application/json".to_owned())],
                &format!(
                    r#"{{"token_type":"Bearer","access_token":"at-1","expires_in":{},"scope":"okta.users.read"}}"#,
                    u64::MAX
                ),
            )
        } else {
            response("200 OK", &[("content-type", "application/json".to_owned())], "[]")
        }
    })
    .await;
    let key = rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048).unwrap();
    let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, rsa::pkcs8::LineEnding::LF).unwrap();
    let pk = okta_client::PrivateKey::parse(&pem).unwrap().with_key_id("k1");
    let c = Client::builder(&base)
        .unwrap()
        .service_app(okta_client::ServiceApp::new("0oaSvc", &["okta.users.read"], pk))
        .build()
        .unwrap();
    for _ in 0..2 {
        let page = c.users().list().send().await.unwrap();
        assert!(page.items.is_empty());
    }
    let token_requests = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("/oauth2/v1/token"))
        .count();
    assert_eq!(token_requests, 1, "the token is kept, not asked for again");
}

/// A page larger than the client reads ([`okta_client::body::MAX_PAGE_BYTES`]), said by its
/// `Content-Length` or not said at all: an error, never the process's memory.
#[tokio::test]
async fn an_endless_page_is_refused() {
    let huge = format!(
        "[{}]",
        vec![USER; okta_client::body::MAX_PAGE_BYTES / USER.len() + 1].join(",")
    );
    let body = huge.clone();
    let (declared, _) = raw_server(move |_, _| response("200 OK", &[], &body)).await;
    let err = client(&declared).users().list().send().await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("larger than"), "{err}");

    // No Content-Length: read until the connection closes, and stopped at the limit.
    let (undeclared, _) = raw_server(move |_, _| format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{huge}")).await;
    let err = client(&undeclared).users().list().send().await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");

    // A page of normal size is read.
    let (fine, _) = raw_server(|_, _| response("200 OK", &[], &format!("[{USER}]"))).await;
    assert_eq!(client(&fine).users().list().send().await.unwrap().items.len(), 1);
}

/// An error body larger than [`okta_client::body::MAX_SMALL_BYTES`] is not read either.
#[tokio::test]
async fn a_huge_error_body_is_refused() {
    let body = "x".repeat(okta_client::body::MAX_SMALL_BYTES + 1);
    let (base, _) = raw_server(move |_, _| response("400 Bad Request", &[], &body)).await;
    let err = client(&base).users().list().send().await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}
