//! `/api/v1/authorizationServers`: the custom servers an org with API Access Management has,
//! each valid against Okta's `AuthorizationServer`; an org without the feature answers 401
//! E0000015 whatever the credentials, as Okta does for a feature it is not licensed for.

use serde_json::Value;

use crate::spec::MANAGEMENT;
use crate::util::{http, sandbox, ssws};

#[tokio::test]
async fn an_org_lists_its_custom_servers_or_says_it_lacks_the_feature() {
    let licensed = sandbox(|_| {}).await;
    let list = |sb: &okta_sandbox::Sandbox, auth: String, path: &str| {
        let req = http().get(format!("{}{path}", sb.url())).header("authorization", auth);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res.bytes().await.unwrap();
            (status, headers, body)
        }
    };
    let (status, headers, body) = list(&licensed, ssws(&licensed), "/api/v1/authorizationServers").await;
    assert_eq!(status, 200);
    assert!(
        MANAGEMENT
            .check_response("GET", "/api/v1/authorizationServers", status, &headers, &body)
            .is_empty()
    );
    let servers: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(servers[0]["id"], "default");
    assert_eq!(servers[0]["issuer"], format!("{}/oauth2/default", licensed.url()));
    let (status, _, body) = list(&licensed, ssws(&licensed), "/api/v1/authorizationServers/default").await;
    assert_eq!(status, 200);
    MANAGEMENT.assert_valid("AuthorizationServer", &serde_json::from_slice(&body).unwrap());
    let (status, _, body) = list(&licensed, "SSWS wrong".to_owned(), "/api/v1/authorizationServers").await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, &body["errorCode"]), (401, &Value::from("E0000011")));

    let unlicensed = sandbox(|c| c.authorization_servers.clear()).await;
    for auth in [ssws(&unlicensed), "SSWS wrong".to_owned()] {
        for path in ["/api/v1/authorizationServers", "/api/v1/authorizationServers/default"] {
            let (status, _, body) = list(&unlicensed, auth.clone(), path).await;
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(status, 401, "{path}: {body}");
            assert_eq!(body["errorCode"], "E0000015", "{body}");
            assert_eq!(
                body["errorSummary"],
                "You do not have permission to access the feature you are requesting"
            );
            MANAGEMENT.assert_valid("Error", &body);
        }
    }
    // The rest of the org works as ever with the same credentials.
    let (status, _, _) = list(&unlicensed, ssws(&unlicensed), "/api/v1/users?limit=1").await;
    assert_eq!(status, 200);
}
