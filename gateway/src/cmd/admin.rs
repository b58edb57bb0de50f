//! The admin API as the CLI calls it (`policy apply`, `tenant suspend`, `tenant unsuspend`):
//! the connection flags they share, with dev mode's defaults, and one HTTPS call at a time over
//! mutual TLS as an admin.
//!
//! A file that cannot be read is named with the flag that sets it and, when it is a default,
//! with the folder the default was taken relative to: run from another folder, the defaults
//! point nowhere, and "No such file" alone does not say which flag to pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The admin API's listener in dev mode.
const DEFAULT_URL: &str = "https://127.0.0.1:8443";
/// Dev mode's admin certificate, relative to the working directory.
const DEFAULT_CERT: &str = "loopgate-dev/pki/admin-park-ops.pem";
/// Dev mode's admin key.
const DEFAULT_KEY: &str = "loopgate-dev/pki/admin-park-ops.key";
/// Dev mode's CA.
const DEFAULT_CA: &str = "loopgate-dev/pki/ca.pem";

/// Where the admin API is and who calls it. Without flags: dev mode's gateway and admin, from
/// the folder that holds `loopgate-dev/`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The gateway's API listener [default: https://127.0.0.1:8443].
    #[arg(long, visible_alias = "api", value_name = "URL")]
    url: Option<String>,
    /// The admin's client certificate (PEM) [default: loopgate-dev/pki/admin-park-ops.pem,
    /// dev mode's admin].
    #[arg(long, value_name = "PEM")]
    cert: Option<PathBuf>,
    /// The admin's private key (PEM) [default: loopgate-dev/pki/admin-park-ops.key].
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
    /// The CA bundle the gateway's certificate must chain to [default: loopgate-dev/pki/ca.pem].
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
}

impl ConnectArgs {
    /// The URL the calls go to.
    pub(crate) fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_URL)
    }
}

/// Why an admin API call did not get an answer it could use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    /// `--url` is not an https URL with a host.
    #[error("--url {0:?} is not an https:// URL with a host; write e.g. https://127.0.0.1:8443")]
    Url(String),
    /// A file a connection flag names (or defaults to) cannot be read.
    #[error("cannot read {what} {}{}: {source}; {fix}", path.display(), default_note(*default))]
    File {
        /// What it should be (`the admin certificate (--cert)`).
        what: &'static str,
        /// The path tried.
        path: PathBuf,
        /// Whether it was the flag's default.
        default: bool,
        /// What to do.
        fix: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The files are there but do not make a TLS client.
    #[error("{0}; check --ca, --cert and --key")]
    Tls(#[from] loopgate::TlsError),
    /// Nothing listens there.
    #[error(
        "cannot connect to {0}: {1}; is the gateway running there? (set its address with --url)"
    )]
    Connect(String, std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake with {0} failed: {1}; check --ca, --cert and --key")]
    Handshake(String, std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP exchange with the gateway failed: {0}")]
    Http(String),
    /// The gateway answered with an error.
    #[error("the gateway answered {status} to {what}: {body}")]
    Refused {
        /// The call.
        what: String,
        /// Its status.
        status: StatusCode,
        /// The answer's body (the JSON error, with its reason code).
        body: String,
    },
}

/// " (the default, relative to /where/you/are)" for a default path.
fn default_note(default: bool) -> String {
    if !default {
        return String::new();
    }
    match std::env::current_dir() {
        Ok(dir) => format!(" (the default, relative to {})", dir.display()),
        Err(_) => " (the default)".to_owned(),
    }
}

/// The answer to a call that got one.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// An error for an answer the caller did not expect.
    pub(crate) fn refused(&self, what: impl Into<String>) -> AdminError {
        AdminError::Refused {
            what: what.into(),
            status: self.status,
            body: String::from_utf8_lossy(&self.body).trim().to_owned(),
        }
    }
}

/// One gateway's API listener, called as an admin.
pub(crate) struct AdminClient {
    host: String,
    port: u16,
    authority: String,
    tls: Arc<ClientConfig>,
}

impl AdminClient {
    /// Checks the flags and reads the TLS files (no connection yet).
    pub(crate) fn new(args: &ConnectArgs) -> Result<Self, AdminError> {
        let url = args.url();
        let uri: Uri = url.parse().map_err(|_| AdminError::Url(url.to_owned()))?;
        let (Some("https"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(AdminError::Url(url.to_owned()));
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let ca = readable(
            "the CA bundle (--ca)",
            args.ca.as_deref(),
            DEFAULT_CA,
            "--ca",
        )?;
        let cert = readable(
            "the admin certificate (--cert)",
            args.cert.as_deref(),
            DEFAULT_CERT,
            "--cert",
        )?;
        let key = readable(
            "the admin key (--key)",
            args.key.as_deref(),
            DEFAULT_KEY,
            "--key",
        )?;
        Ok(Self {
            host,
            port: authority.port_u16().unwrap_or(443),
            authority: authority.to_string(),
            tls: loopgate::client_auth_config(&ca, &cert, &key)?,
        })
    }

    /// One request; any answer the gateway gives is `Ok`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Answer, AdminError> {
        let address = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| AdminError::Connect(address.clone(), e))?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| AdminError::Url(self.authority.clone()))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| AdminError::Handshake(address, e))?;
        let http = |e: hyper::Error| AdminError::Http(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http)?;
        let connection = tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|e| AdminError::Http(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(http)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(http)?;
        connection.abort();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.to_bytes(),
        })
    }
}

/// The path a connection flag gives, or its default, once it is known to be readable.
fn readable(
    what: &'static str,
    given: Option<&Path>,
    default: &str,
    flag: &str,
) -> Result<PathBuf, AdminError> {
    let path = given.map_or_else(|| PathBuf::from(default), Path::to_path_buf);
    match std::fs::File::open(&path) {
        Ok(_) => Ok(path),
        Err(source) => Err(AdminError::File {
            what,
            default: given.is_none(),
            fix: if given.is_none() {
                format!(
                    "pass {flag} FILE, or run from the folder that holds dev mode's loopgate-dev/"
                )
            } else {
                format!("check the path given to {flag}")
            },
            path,
            source,
        }),
    }
}

/// A one-thread runtime for one command's calls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, std::io::Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
