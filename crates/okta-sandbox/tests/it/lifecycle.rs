//! Creating, changing and deleting users, and their lifecycle.

use reqwest::Method;
use serde_json::{Value, json};

use crate::spec::MANAGEMENT;
use crate::util::{api, sandbox, send, ssws};

fn new_user(login: &str) -> Value {
    json!({ "profile": { "firstName": "Isaac", "lastName": "Brock", "email": login, "login": login, "mobilePhone": "555-415-1337", "favouriteColour": "teal" } })
}

async fn status_of(sb: &okta_sandbox::Sandbox, id: &str) -> String {
    let u: Value = api(sb, &format!("/api/v1/users/{id}"), &ssws(sb))
        .await
        .json()
        .await
        .unwrap();
    u["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_with_and_without_credentials() {
    let sb = sandbox(|_| {}).await;
    let mut with_password = new_user("isaac.brock@example.com");
    with_password["credentials"] = json!({ "password": { "value": "tlpWENT2m7Ll" } });
    let res = send(&sb, Method::POST, "/api/v1/users?activate=true", Some(with_password)).await;
    assert_eq!(res.status(), 200);
    let u: Value = res.json().await.unwrap();
    MANAGEMENT.assert_valid("User", &u);
    assert_eq!(u["status"], "ACTIVE");
    assert_eq!(u["profile"]["favouriteColour"], "teal", "custom attributes are kept");
    assert!(u["id"].as_str().unwrap().starts_with("00u") && !u["passwordChanged"].is_null());

    let staged: Value = send(
        &sb,
        Method::POST,
        "/api/v1/users?activate=false",
        Some(new_user("staged@example.com")),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(staged["status"], "STAGED");
    assert!(staged["activated"].is_null());
    let provisioned: Value = send(&sb, Method::POST, "/api/v1/users", Some(new_user("prov@example.com")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(provisioned["status"], "PROVISIONED", "activated without a password");

    // The new users are found, listed and searchable.
    let found: Vec<Value> = api(
        &sb,
        "/api/v1/users?search=profile.favouriteColour%20eq%20%22teal%22",
        &ssws(&sb),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(found.len(), 3);
    assert!(
        sb.state()
            .listed_user_ids()
            .contains(&u["id"].as_str().unwrap().to_owned())
    );

    for (body, cause) in [
        (
            new_user("isaac.brock@example.com"),
            "login: An object with this field already exists",
        ),
        (
            json!({ "profile": { "firstName": "A", "lastName": "B", "login": "ab@example.com" } }),
            "email: The field cannot be left blank",
        ),
        (new_user("not-an-email"), "login: Does not match required pattern"),
        (
            json!({ "profile": new_user("short@example.com")["profile"], "credentials": { "password": { "value": "short" } } }),
            "password: Password requirements were not met",
        ),
    ] {
        let res = send(&sb, Method::POST, "/api/v1/users", Some(body)).await;
        assert_eq!(res.status(), 400);
        let err: Value = res.json().await.unwrap();
        MANAGEMENT.assert_valid("Error", &err);
        assert_eq!(err["errorCode"], "E0000001");
        assert!(
            err["errorCauses"][0]["errorSummary"]
                .as_str()
                .unwrap()
                .starts_with(cause),
            "{err}"
        );
    }
}

#[tokio::test]
async fn partial_update_replace_and_password() {
    let sb = sandbox(|_| {}).await;
    let u: Value = send(
        &sb,
        Method::POST,
        "/api/v1/users?activate=false",
        Some(new_user("upd@example.com")),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = u["id"].as_str().unwrap();
    let partial: Value = send(
        &sb,
        Method::POST,
        &format!("/api/v1/users/{id}"),
        Some(json!({ "profile": { "nickName": "Ike" } })),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (
            partial["profile"]["nickName"].as_str(),
            partial["profile"]["favouriteColour"].as_str()
        ),
        (Some("Ike"), Some("teal"))
    );
    let replaced: Value = send(
        &sb,
        Method::PUT,
        &format!("/api/v1/users/{id}"),
        Some(json!({ "profile": { "firstName": "Isaac", "lastName": "Brock", "email": "upd@example.com", "login": "upd@example.com" } })),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        replaced["profile"].get("nickName").is_none(),
        "PUT replaces the whole profile"
    );
    let res = send(
        &sb,
        Method::PUT,
        &format!("/api/v1/users/{id}"),
        Some(json!({ "profile": { "firstName": "Only" } })),
    )
    .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn lifecycle_transitions_follow_okta() {
    let sb = sandbox(|_| {}).await;
    let mut body = new_user("life@example.com");
    body["credentials"] = json!({ "password": { "value": "Sandbox-Passw0rd" } });
    let u: Value = send(&sb, Method::POST, "/api/v1/users?activate=false", Some(body))
        .await
        .json()
        .await
        .unwrap();
    let id = u["id"].as_str().unwrap().to_owned();
    let op = |name: &str| format!("/api/v1/users/{id}/lifecycle/{name}");

    let res = send(&sb, Method::POST, &format!("{}?sendEmail=false", op("activate")), None).await;
    assert_eq!(res.status(), 200);
    let token: Value = res.json().await.unwrap();
    assert!(token["activationToken"].is_string() && token["activationUrl"].is_string());
    assert_eq!(
        status_of(&sb, &id).await,
        "ACTIVE",
        "a user with a password becomes ACTIVE"
    );
    let again = send(&sb, Method::POST, &op("activate"), None).await;
    assert_eq!(again.status(), 403);
    assert_eq!(again.json::<Value>().await.unwrap()["errorCode"], "E0000016");

    for (name, expected) in [
        ("suspend", "SUSPENDED"),
        ("unsuspend", "ACTIVE"),
        ("expire_password", "PASSWORD_EXPIRED"),
        ("reset_password", "RECOVERY"),
        ("deactivate", "DEPROVISIONED"),
    ] {
        let res = send(&sb, Method::POST, &op(name), None).await;
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(status_of(&sb, &id).await, expected, "{name}");
    }
    let res = send(&sb, Method::POST, &op("suspend"), None).await;
    assert_eq!(res.status(), 400, "only ACTIVE users can be suspended");
    assert_eq!(res.json::<Value>().await.unwrap()["errorCode"], "E0000001");
    assert!(
        !sb.state().listed_user_ids().contains(&id),
        "DEPROVISIONED users are not listed without a query"
    );
    let found: Vec<Value> = api(&sb, &format!("/api/v1/users?filter=id%20eq%20%22{id}%22"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "but filter finds them");
}

#[tokio::test]
async fn delete_deactivates_first_then_deletes() {
    let sb = sandbox(|_| {}).await;
    let u: Value = send(&sb, Method::POST, "/api/v1/users", Some(new_user("del@example.com")))
        .await
        .json()
        .await
        .unwrap();
    let id = u["id"].as_str().unwrap();
    assert_eq!(
        send(&sb, Method::DELETE, &format!("/api/v1/users/{id}"), None)
            .await
            .status(),
        204
    );
    assert_eq!(status_of(&sb, id).await, "DEPROVISIONED");
    assert_eq!(
        send(&sb, Method::DELETE, &format!("/api/v1/users/{id}"), None)
            .await
            .status(),
        204
    );
    assert_eq!(api(&sb, &format!("/api/v1/users/{id}"), &ssws(&sb)).await.status(), 404);
    let admin = send(&sb, Method::DELETE, "/api/v1/users/admin@example.com", None).await;
    assert_eq!(admin.status(), 403, "the API token's owner stays");
}

#[tokio::test]
async fn a_password_set_through_the_api_signs_in() {
    let sb = sandbox(|_| {}).await;
    let mut body = new_user("pw.user@example.com");
    body["credentials"] = json!({ "password": { "value": "Own-Passw0rd!" } });
    send(&sb, Method::POST, "/api/v1/users", Some(body)).await;
    let page = crate::util::authorize(&sb, &[("response_type", "code"), ("scope", "openid"), ("state", "s")]).await;
    let html = page.text().await.unwrap();
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let signin = |pw: &'static str| {
        let (url, rid) = (format!("{}/login/signin", sb.url()), request_id.clone());
        async move {
            crate::util::http()
                .post(url)
                .form(&[
                    ("request_id", rid.as_str()),
                    ("username", "pw.user@example.com"),
                    ("password", pw),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(signin("not-it").await, 401);
    assert_eq!(signin("Own-Passw0rd!").await, 303);
}
