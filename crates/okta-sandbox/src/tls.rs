//! https for the sandbox: a certificate authority generated at start (never written anywhere
//! unless asked) and a server certificate it issues for `127.0.0.1`, `localhost` and the public
//! URL's host, served with rustls. Clients that insist on https (Okta's SDKs without their
//! testing switches, Ruby's `signet`) then run against the sandbox unchanged, trusting the CA
//! through `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` or a builder option.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The sandbox's certificate authority and the server configuration it signed.
#[derive(Clone)]
pub struct SandboxTls {
    ca_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for SandboxTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxTls").finish_non_exhaustive()
    }
}

impl SandboxTls {
    /// A new CA and a server certificate for `hosts` (IP addresses or DNS names) issued by it.
    ///
    /// # Errors
    /// When a key or certificate cannot be made (a host name that is not one).
    pub fn generate(hosts: &[String]) -> Result<Self, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("TLS: cannot make {what}: {e}");
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("the CA", &e))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "okta-sandbox local CA (generated at start)");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(|e| err("the CA key", &e))?;
        let ca_cert = ca.self_signed(&ca_key).map_err(|e| err("the CA", &e))?;
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf = CertificateParams::new(hosts.to_vec()).map_err(|e| err("the server certificate", &e))?;
        leaf.distinguished_name.push(DnType::CommonName, "okta-sandbox");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().map_err(|e| err("the server key", &e))?;
        let leaf_cert = leaf
            .signed_by(&leaf_key, &issuer)
            .map_err(|e| err("the server certificate", &e))?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err("the TLS configuration", &e))?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone(), CertificateDer::from(ca_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .map_err(|e| err("the TLS configuration", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Serves `router` over TLS on `listener` until `shutdown` completes. A client whose
    /// handshake fails (it does not trust the CA, it spoke plain http) is dropped alone.
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn serve(
        &self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (tcp, _) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let (acceptor, router) = (self.acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let service = TowerToHyperService::new(router);
                if let Err(e) = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    }
}
