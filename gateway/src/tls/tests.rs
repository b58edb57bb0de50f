//! Real handshakes on loopback: the verifier accepts the park's clients and nobody else.

use std::path::Path;

use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::identity::{Role, principal_from_cert};
use crate::pki::{DevCa, Issued};

const DOMAIN: &str = "loop.example";

struct Pki {
    dir: tempfile::TempDir,
    ca: DevCa,
    now: OffsetDateTime,
}

impl Pki {
    fn new() -> Self {
        // Certificates are checked against the real clock by rustls, so issue them around it.
        #[allow(clippy::disallowed_methods)] // test certificates must be valid now
        let now = OffsetDateTime::now_utc();
        let ca = DevCa::generate("park CA", now).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        let server = ca
            .issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()], now)
            .unwrap();
        write(dir.path(), "server", &server);
        Self { dir, ca, now }
    }

    fn files(&self) -> ServerTlsFiles {
        let path = |name: &str| self.dir.path().join(name);
        ServerTlsFiles {
            client_ca: path("ca.pem"),
            crls: Vec::new(),
            cert: path("server.pem"),
            key: path("server.key"),
            allow_tls12: false,
        }
    }
}

fn write(dir: &Path, name: &str, issued: &Issued) {
    std::fs::write(dir.join(format!("{name}.pem")), &issued.cert_pem).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), &issued.key_pem).unwrap();
}

/// Runs one handshake; returns the principal the server saw, or the client's error.
async fn handshake(
    server: Arc<ServerConfig>,
    ca_pem: &str,
    client: Option<&Issued>,
) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let der = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let principal = principal_from_cert(&der, DOMAIN).map_err(|e| e.to_string())?;
        assert_eq!(
            tls.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        tls.write_all(b"ok").await.unwrap();
        tls.shutdown().await.ok();
        Ok::<_, String>(principal.to_string())
    });

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
    let roots = root_store(&dir.path().join("ca.pem"), "CA").unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(issued) => {
            write(dir.path(), "client", issued);
            let certs = read_all(
                &dir.path().join("client.pem"),
                "cert",
                CertificateDer::pem_file_iter(dir.path().join("client.pem")),
            )
            .unwrap();
            let key = PrivateKeyDer::from_pem_file(dir.path().join("client.key")).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = TlsConnector::from(Arc::new(config));
    let client_result = async {
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    }
    .await;
    let server_result = server_task.await.unwrap();
    match (client_result, server_result) {
        (Ok(buf), Ok(principal)) if buf == b"ok" => Ok(principal),
        (client, server) => Err(format!("client: {client:?}, server: {server:?}")),
    }
}

#[tokio::test]
async fn a_park_client_is_accepted_and_named_by_its_spiffe_id() {
    let pki = Pki::new();
    let client = pki
        .ca
        .issue_client("spiffe://loop.example/tenant/sz-genomics", pki.now)
        .unwrap();
    let server = server_config(&pki.files()).unwrap();
    let principal = handshake(server, pki.ca.cert_pem(), Some(&client)).await;
    assert_eq!(principal, Ok("tenant/sz-genomics".to_owned()));
    assert_eq!(Role::Tenant.as_str(), "tenant");
}

#[tokio::test]
async fn no_client_certificate_fails_the_handshake() {
    let pki = Pki::new();
    let server = server_config(&pki.files()).unwrap();
    let result = handshake(server, pki.ca.cert_pem(), None).await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake() {
    let pki = Pki::new();
    let other = DevCa::generate("another CA", pki.now).unwrap();
    let client = other
        .issue_client("spiffe://loop.example/tenant/sz-genomics", pki.now)
        .unwrap();
    let server = server_config(&pki.files()).unwrap();
    let result = handshake(server, pki.ca.cert_pem(), Some(&client)).await;
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn upstream_configs_offer_http2_and_http1() {
    let pki = Pki::new();
    let config = upstream_client_config(&pki.dir.path().join("ca.pem")).unwrap();
    assert_eq!(
        config.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn missing_or_empty_files_name_the_file() {
    let pki = Pki::new();
    let mut files = pki.files();
    files.client_ca = pki.dir.path().join("nope.pem");
    let err = server_config(&files).unwrap_err().to_string();
    assert!(err.contains("nope.pem"), "{err}");

    std::fs::write(pki.dir.path().join("empty.pem"), "").unwrap();
    let mut files = pki.files();
    files.cert = pki.dir.path().join("empty.pem");
    let err = server_config(&files).unwrap_err().to_string();
    assert!(
        err.contains("empty.pem") && err.contains("no certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn a_revoked_certificate_fails_the_handshake_when_a_crl_is_configured() {
    let pki = Pki::new();
    let revoked = pki
        .ca
        .issue_client("spiffe://loop.example/tenant/sz-genomics", pki.now)
        .unwrap();
    let kept = pki
        .ca
        .issue_client("spiffe://loop.example/tenant/hk-biolab", pki.now)
        .unwrap();
    let crl = pki
        .ca
        .revocation_list(&[&revoked.serial], 1, pki.now)
        .unwrap();
    std::fs::write(pki.dir.path().join("park.crl"), crl).unwrap();
    let mut files = pki.files();
    files.crls = vec![pki.dir.path().join("park.crl")];
    let server = server_config(&files).unwrap();

    let result = handshake(server.clone(), pki.ca.cert_pem(), Some(&revoked)).await;
    assert!(result.is_err(), "{result:?}");
    let result = handshake(server, pki.ca.cert_pem(), Some(&kept)).await;
    assert_eq!(result, Ok("tenant/hk-biolab".to_owned()));
}
