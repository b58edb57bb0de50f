//! TLS with rustls and the ring provider: the API listener's server config (TLS 1.3, client
//! certificate required and verified against the park CA and its CRLs) and the upstream client
//! config (server authentication against the upstream's CA).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

/// What is wrong with the TLS material; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{}: {what}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// The parse or I/O error.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds none of what it should.
    #[error("{}: no {what} found; the file must hold PEM blocks", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// rustls refused a certificate, key or CA.
    #[error("{context}: {source}")]
    Rustls {
        /// Which part of the configuration.
        context: &'static str,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// An upstream URL that TLS cannot connect to (its host cannot name a certificate).
    #[error(
        "upstream URL {url}: {reason}; use https://HOST:PORT/PATH with a DNS name or an IP address"
    )]
    UpstreamUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CRL whose entries cannot be read (to close connections it revokes).
    #[error("{}: the CRL cannot be parsed: {why}", path.display())]
    Crl {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The client verifier could not be built (e.g. a CRL that does not parse).
    #[error("client certificate verifier: {0}; check the CA bundle and CRL files")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The one crypto provider loopgate uses: rustls' ring provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Files that make the API listener's TLS configuration.
#[derive(Debug, Clone)]
pub struct ServerTlsFiles {
    /// Park CA bundle (PEM) that client certificates must chain to.
    pub client_ca: PathBuf,
    /// Certificate revocation lists (PEM), checked for every client certificate.
    pub crls: Vec<PathBuf>,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Also offer TLS 1.2 (off unless the config says so).
    pub allow_tls12: bool,
}

/// Builds the API listener's config: client certificates required, ALPN h2 and http/1.1.
pub(crate) fn server_config(files: &ServerTlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let roots = Arc::new(root_store(&files.client_ca, "park CA")?);
    let mut crls = Vec::new();
    for path in &files.crls {
        crls.extend(read_all(
            path,
            "CRL",
            CertificateRevocationListDer::pem_file_iter(path),
        )?);
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(crls)
        .build()?;
    let versions: &[&SupportedProtocolVersion] = if files.allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let (certs, key) = cert_and_key(&files.cert, &files.key)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(rustls_error("protocol versions"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(rustls_error("server certificate and key"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate as CRLs name it: its issuer's DER-encoded name and its serial number's bytes.
pub(crate) type CertId = (Vec<u8>, Vec<u8>);

/// The certificates the CRL files list, each as its issuer's DER-encoded name and its serial
/// number's bytes (how an open connection's certificate is matched on reload). The files are
/// the operator's and `server_config` verifies them against the CA at each handshake; here
/// only their entries are read.
pub(crate) fn revoked(paths: &[PathBuf]) -> Result<HashSet<CertId>, TlsError> {
    let mut revoked = HashSet::new();
    for path in paths {
        let crls = read_all(
            path,
            "CRL",
            CertificateRevocationListDer::pem_file_iter(path),
        )?;
        for der in crls {
            let (_, crl) =
                x509_parser::parse_x509_crl(der.as_ref()).map_err(|e| TlsError::Crl {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
            let issuer = crl.issuer().as_raw().to_vec();
            for entry in crl.iter_revoked_certificates() {
                revoked.insert((issuer.clone(), entry.raw_serial().to_vec()));
            }
        }
    }
    Ok(revoked)
}

/// A server config without client authentication (the dev-mode demo upstream).
pub fn plain_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let (certs, key) = cert_and_key(cert, key)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error("protocol versions"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rustls_error("server certificate and key"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate chain and its private key, from PEM files.
fn cert_and_key(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs = read_all(cert, "certificate", CertificateDer::pem_file_iter(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Pem {
        path: key.to_owned(),
        what: "private key",
        source,
    })?;
    Ok((certs, key))
}

fn rustls_error(context: &'static str) -> impl Fn(rustls::Error) -> TlsError {
    move |source| TlsError::Rustls { context, source }
}

/// A client config that trusts only `ca` (an upstream's CA bundle), TLS 1.3 and 1.2, offering
/// HTTP/2 and HTTP/1.1 in ALPN (the upstream pool speaks whichever the upstream picks).
pub(crate) fn upstream_client_config(ca: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = root_store(ca, "upstream CA")?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error("protocol versions"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client config presenting `cert`/`key` and trusting only `ca`, TLS 1.3 only (the CLI's
/// `policy apply` calling the admin API).
pub fn client_auth_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = root_store(ca, "park CA")?;
    let (certs, key) = cert_and_key(cert, key)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(rustls_error("protocol versions"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(rustls_error("client certificate and key"))?;
    Ok(Arc::new(config))
}

fn root_store(path: &Path, what: &'static str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in read_all(path, what, CertificateDer::pem_file_iter(path))? {
        store.add(cert).map_err(rustls_error(what))?;
    }
    Ok(store)
}

/// Every PEM item of one kind in a file; at least one.
fn read_all<T>(
    path: &Path,
    what: &'static str,
    items: Result<
        impl Iterator<Item = Result<T, rustls::pki_types::pem::Error>>,
        rustls::pki_types::pem::Error,
    >,
) -> Result<Vec<T>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        path: path.to_owned(),
        what,
        source,
    };
    let items = items
        .map_err(pem_error)?
        .collect::<Result<Vec<T>, _>>()
        .map_err(pem_error)?;
    if items.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_owned(),
            what,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests;
