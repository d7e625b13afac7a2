//! An org exported as a document and loaded into a new sandbox is the same org.

use okta_sandbox::snapshot::OrgSnapshot;
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{api, sandbox, send, ssws};

#[tokio::test]
async fn export_then_load_gives_the_same_org() {
    let sb = sandbox(|c| {
        c.users = 60;
        c.groups = 4;
    })
    .await;
    let body = json!({
        "profile": { "firstName": "Kept", "lastName": "User", "email": "kept@example.com", "login": "kept@example.com", "favouriteColour": "teal" },
        "credentials": { "password": { "value": "Sandb0x-Passw0rd!" } },
    });
    let kept: Value = send(&sb, Method::POST, "/api/v1/users", Some(body))
        .await
        .json()
        .await
        .unwrap();
    let export = send(&sb, Method::GET, "/__sandbox/export", None).await;
    assert_eq!(export.status(), 200);
    let text = export.text().await.unwrap();
    let doc: OrgSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(doc.users(), 61);

    // Through a file, as `--load` and `--state` do.
    let dir = std::env::temp_dir().join(format!("okta-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("org.json");
    doc.write(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let loaded_doc = OrgSnapshot::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let api_token = sb.config().api_token_value().to_owned();
    let loaded = sandbox(move |c| {
        c.org = Some(loaded_doc);
        c.api_token = api_token.into();
    })
    .await;
    assert_eq!(loaded.state().listed_user_ids(), sb.state().listed_user_ids());
    let get = |s: &okta_sandbox::Sandbox, path: String| {
        let (addr, token) = (s.addr(), ssws(s));
        async move {
            reqwest::Client::new()
                .get(format!("http://{addr}{path}"))
                .header("authorization", token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let strip_links = |mut v: Value| {
        for item in v.as_array_mut().into_iter().flatten() {
            item.as_object_mut().unwrap().remove("_links");
        }
        v
    };
    assert_eq!(
        strip_links(get(&loaded, "/api/v1/groups".into()).await),
        strip_links(get(&sb, "/api/v1/groups".into()).await)
    );
    assert_eq!(
        strip_links(get(&loaded, "/api/v1/apps".into()).await),
        strip_links(get(&sb, "/api/v1/apps".into()).await)
    );
    let id = kept["id"].as_str().unwrap();
    let again = get(&loaded, format!("/api/v1/users/{id}")).await;
    assert_eq!(again["profile"]["favouriteColour"], "teal");
    assert_eq!(again["status"], kept["status"]);
    let groups_before = get(&sb, format!("/api/v1/users/{id}/groups")).await;
    assert_eq!(
        strip_links(get(&loaded, format!("/api/v1/users/{id}/groups")).await),
        strip_links(groups_before)
    );
    assert_eq!(
        api(&loaded, "/api/v1/users?limit=1", &ssws(&loaded)).await.status(),
        200
    );
}

#[test]
fn broken_documents_are_explained() {
    let dir = std::env::temp_dir().join(format!("okta-sandbox-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"version": 1}"#).unwrap();
    assert!(
        OrgSnapshot::read(&path)
            .unwrap_err()
            .contains("is not an okta-sandbox org")
    );
    std::fs::write(
        &path,
        r#"{"version": 9, "userTypeId": "oty1", "users": [], "groups": [], "apps": []}"#,
    )
    .unwrap();
    assert!(OrgSnapshot::read(&path).unwrap_err().contains("version 9"));
    assert!(
        OrgSnapshot::read(&dir.join("missing.json"))
            .unwrap_err()
            .contains("cannot read")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
