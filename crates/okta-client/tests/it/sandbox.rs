//! The client against a real okta-sandbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::TryStreamExt;
use okta_client::{AccessToken, Client, Error, TokenSource, TokenSourceError, UserStatus};
use okta_sandbox::{Sandbox, SandboxConfig};

async fn sandbox(users: usize) -> Sandbox {
    Sandbox::spawn(SandboxConfig {
        users,
        redirect_uris: vec![REDIRECT.into()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn client(sb: &Sandbox) -> Client {
    Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .build()
        .unwrap()
}

#[tokio::test]
async fn stream_yields_every_user_across_pages() {
    let sb = sandbox(130).await;
    let users: Vec<_> = client(&sb)
        .users()
        .list()
        .limit(20)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(ids, sb.state().listed_user_ids());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 130);
    let pages: Vec<_> = client(&sb)
        .users()
        .list()
        .limit(20)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 7);
    assert!(pages[..6].iter().all(|p| p.items.len() == 20 && p.next.is_some()));
    assert!(pages[6].next.is_none());
    let rl = pages[0].rate_limit.expect("rate limit headers are read");
    assert_eq!(rl.limit, 600);
    assert!(pages[0].request_id.is_some());
}

#[tokio::test]
async fn one_page_then_resume_from_its_cursor() {
    let sb = sandbox(40).await;
    let c = client(&sb);
    let first = c.users().list().limit(10).send().await.unwrap();
    let cursor = first.next_cursor().expect("more pages");
    let second = c.users().list().limit(10).after(cursor).send().await.unwrap();
    let ids = sb.state().listed_user_ids();
    assert_eq!(
        first.items.iter().map(|u| &u.id).collect::<Vec<_>>(),
        ids[..10].iter().collect::<Vec<_>>()
    );
    assert_eq!(
        second.items.iter().map(|u| &u.id).collect::<Vec<_>>(),
        ids[10..20].iter().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn get_by_id_or_login_gives_a_typed_user() {
    let sb = sandbox(10).await;
    let c = client(&sb);
    let admin = c.users().get("admin@example.com").await.unwrap();
    assert_eq!(admin.status, UserStatus::Active);
    assert_eq!(admin.profile.login, "admin@example.com");
    let expected = sb.state().user_json(&admin.id).unwrap();
    assert_eq!(
        admin.profile.first_name.as_deref(),
        expected["profile"]["firstName"].as_str()
    );
    assert_eq!(
        admin.profile.extra["department"], expected["profile"]["department"],
        "other profile attributes are kept"
    );
    assert!(admin.created.is_some() && admin.last_updated.is_some());
    assert_eq!(c.users().get(&admin.id).await.unwrap().id, admin.id);
}

#[tokio::test]
async fn okta_errors_are_typed() {
    let sb = sandbox(3).await;
    let err = client(&sb).users().get("nobody@example.com").await.unwrap_err();
    let Error::Api(api) = &err else { panic!("{err:?}") };
    assert_eq!(api.status.as_u16(), 404);
    assert_eq!(api.error_code.as_deref(), Some("E0000007"));
    assert!(api.error_summary.as_deref().unwrap().contains("Not found"));
    assert!(api.error_id.as_deref().unwrap().starts_with("oae"));
    assert!(api.request_id.is_some() && api.rate_limit.is_some());

    let bad = Client::builder(sb.url())
        .unwrap()
        .api_token("wrong-token")
        .build()
        .unwrap();
    let err = bad.users().list().send().await.unwrap_err();
    assert_eq!(err.error_code(), Some("E0000011"));
    assert!(!err.to_string().contains("wrong-token"));
}

const REDIRECT: &str = "http://127.0.0.1:3000/oauth/okta_callback";

/// Signs the admin in through the sandbox's authorization server; returns an access token.
async fn admin_access_token(sb: &Sandbox) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let c = sb.config();
    let page = http
        .get(format!("{}/oauth2/v1/authorize", sb.url()))
        .query(&[
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "okta.users.read"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request_id = page
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = http
        .post(format!("{}/login/signin", sb.url()))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", &c.admin_login),
            ("password", c.user_password_value()),
        ])
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .basic_auth(&c.client_id, Some(c.client_secret_value()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

struct Counting {
    token: Option<String>,
    calls: AtomicUsize,
}

#[async_trait]
impl TokenSource for Counting {
    async fn access_token(&self) -> Result<AccessToken, TokenSourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.token
            .clone()
            .map(AccessToken::new)
            .ok_or_else(|| TokenSourceError::new("connection revoked: reconnect"))
    }
}

#[tokio::test]
async fn a_token_source_supplies_bearer_tokens_per_request() {
    let sb = sandbox(45).await;
    let source = Arc::new(Counting {
        token: Some(admin_access_token(&sb).await),
        calls: AtomicUsize::new(0),
    });
    let c = Client::builder(sb.url())
        .unwrap()
        .token_source(source.clone())
        .build()
        .unwrap();
    let users: Vec<_> = c.users().list().limit(10).stream().try_collect().await.unwrap();
    assert_eq!(users.len(), 45);
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        5,
        "asked once per request (5 pages)"
    );

    let failing = Client::builder(sb.url())
        .unwrap()
        .token_source(Arc::new(Counting {
            token: None,
            calls: AtomicUsize::new(0),
        }))
        .build()
        .unwrap();
    let err = failing.users().list().send().await.unwrap_err();
    assert!(
        matches!(&err, Error::TokenSource(e) if e.to_string().contains("reconnect")),
        "{err:?}"
    );
}
