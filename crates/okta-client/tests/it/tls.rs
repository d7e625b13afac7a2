//! An org served over https with a CA the system does not know (the sandbox's own, or a
//! TLS-inspecting proxy's): trusted when the builder is told, refused otherwise.

use futures::TryStreamExt;
use okta_client::{Client, Error};
use okta_sandbox::{Sandbox, SandboxConfig};

async fn tls_sandbox() -> Sandbox {
    Sandbox::spawn(SandboxConfig {
        users: 230,
        tls: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn an_org_with_its_own_ca_is_trusted_when_told() {
    let sb = tls_sandbox().await;
    assert!(sb.url().starts_with("https://127.0.0.1:"), "{}", sb.url());
    let ca = sb.ca_pem().expect("a TLS sandbox has a CA");
    let client = Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .trust_pem(ca.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let users: Vec<_> = client.users().list().limit(100).stream().try_collect().await.unwrap();
    assert_eq!(users.len(), 230, "every page, over https (Link URLs are https too)");

    // Without the CA the handshake fails, and says so.
    let untrusting = Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .max_retries(0)
        .build()
        .unwrap();
    let err = untrusting.users().list().send().await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn a_ca_file_without_certificates_is_refused_clearly() {
    let err = Client::builder("https://example.okta.com")
        .unwrap()
        .trust_pem(b"not a certificate")
        .unwrap_err();
    assert!(err.to_string().contains("PEM"), "{err}");
}
