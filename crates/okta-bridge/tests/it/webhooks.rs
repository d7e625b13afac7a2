//! `/api/webhooks`: endpoints made with a secret shown once and sealed at rest, listed and read
//! without it, changed, rotated with an overlap, deleted; URLs by the org-URL rules.

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::util::{AppOptions, TestDb, api, spawn_app};

async fn endpoints(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let (status, made) = api(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({ "url": "http://127.0.0.1:9/okta", "events": ["user.created", "group.user_added"], "connections": ["acme"] })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("wh_") && secret.starts_with("whsec_") && secret.len() > 40,
        "{made}"
    );
    assert_eq!(made["events"], json!(["user.created", "group.user_added"]));
    assert_eq!(made["connections"], json!(["acme"]));
    assert_eq!(made["status"], "active");

    // Listed and read without the secret; sealed at rest.
    for path in ["/api/webhooks".to_owned(), format!("/api/webhooks/{id}")] {
        let (status, body) = api(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.to_string().contains(&id) && !body.to_string().contains(&secret),
            "{body}"
        );
    }
    let signing = app.store.webhook_secrets(&id).await.unwrap();
    assert_eq!(signing.len(), 1);
    assert_eq!(signing[0].expose_secret(), secret);
    let raw = raw_secret_column(&db, &id).await;
    assert!(
        !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is sealed at rest"
    );

    // Bad input: 400 naming the field and what to do; nothing stored.
    for (body, field, says) in [
        (
            json!({ "url": "http://127.0.0.1:9/x", "events": ["user.exploded"] }),
            "events",
            "user.created",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/x", "events": [] }),
            "events",
            "leave events out",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/x", "connections": ["Not Valid"] }),
            "connections",
            "",
        ),
        (json!({ "url": "ftp://127.0.0.1/x" }), "url", "http(s)"),
        (json!({ "url": "not a url" }), "url", "not a URL"),
        (
            json!({ "url": "http://127.0.0.1:9/x", "secret": "mine" }),
            "body",
            "secret",
        ),
    ] {
        let (status, answer) = api(&app, Method::POST, "/api/webhooks", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let text = answer.to_string();
        assert!(text.contains(field) && text.contains(says), "{body}: {answer}");
    }
    let (_, all) = api(&app, Method::GET, "/api/webhooks", None).await;
    assert_eq!(all["webhooks"].as_array().unwrap().len(), 1);

    // Changed: every event type (null), another URL; only "active" can be set.
    let (status, changed) = api(
        &app,
        Method::PATCH,
        &format!("/api/webhooks/{id}"),
        Some(json!({ "events": null, "url": "http://127.0.0.1:9/v2" })),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed.get("events").is_none_or(Value::is_null), "{changed}");
    assert_eq!(changed["connections"], json!(["acme"]), "what was not given stays");
    assert_eq!(changed["url"], "http://127.0.0.1:9/v2");
    let (status, answer) = api(
        &app,
        Method::PATCH,
        &format!("/api/webhooks/{id}"),
        Some(json!({ "status": "failing" })),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Rotated: a new secret, the old one signing too for the overlap; at most 7 days.
    let (status, rotated) = api(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/rotate-secret"),
        Some(json!({ "overlapSeconds": 3600 })),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, secret);
    assert!(rotated["previousSecretUntil"].as_i64().unwrap() > okta_bridge::model::now());
    let signing: Vec<String> = app
        .store
        .webhook_secrets(&id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.expose_secret().to_owned())
        .collect();
    assert_eq!(signing, [second.clone(), secret.clone()]);
    let (status, rotated) = api(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/rotate-secret"),
        Some(json!({ "overlapSeconds": 0 })),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let signing = app.store.webhook_secrets(&id).await.unwrap();
    assert_eq!(signing.len(), 1, "no overlap: only the new secret signs");
    assert_eq!(signing[0].expose_secret(), rotated["secret"].as_str().unwrap());
    let (status, answer) = api(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/rotate-secret"),
        Some(json!({ "overlapSeconds": 8 * 24 * 3600 })),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Deleted; then unknown.
    let (status, _) = api(&app, Method::DELETE, &format!("/api/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    for method in [Method::GET, Method::DELETE] {
        let (status, answer) = api(&app, method, &format!("/api/webhooks/{id}"), None).await;
        assert_eq!(status, 404, "{answer}");
    }
}

on_both_databases!(webhook_endpoints_are_made_changed_rotated_and_deleted, super::endpoints);

/// The sealed `secret` column of endpoint `id`, as stored.
async fn raw_secret_column(db: &TestDb, id: &str) -> Vec<u8> {
    use sqlx::Connection;
    let sql = "SELECT secret FROM webhooks WHERE id = $1";
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).bind(id).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).bind(id).fetch_one(&mut c).await.unwrap()
    }
}

/// Without the development switch, endpoints are https on public addresses.
#[tokio::test]
async fn webhook_urls_are_https_on_public_addresses() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            allow_private_orgs: false,
            ..AppOptions::default()
        },
    )
    .await;
    for (url, says) in [
        ("http://hooks.example.com/okta", "not https"),
        ("https://127.0.0.1/okta", "private"),
        ("https://10.1.2.3/okta", "private"),
        ("https://[::1]/okta", "private"),
        ("https://localhost:8443/okta", "private"),
        ("https://app.localhost/okta", "private"),
    ] {
        let (status, answer) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
        assert_eq!(status, 400, "{url}: {answer}");
        assert!(answer.to_string().contains(says), "{url}: {answer}");
    }
    let (status, made) = api(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({ "url": "https://93.184.215.14/okta" })),
    )
    .await;
    assert_eq!(status, 201, "a public address: {made}");
}
