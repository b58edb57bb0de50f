//! `loopgate policy apply FILE`: validates the bundle offline, shows the diff against the bundle
//! in force (fetched with `GET /v1/admin/policy`), then applies it with `PUT /v1/admin/policy`
//! over mutual TLS as an admin. Exit 0 when applied (or shown, with `--dry-run`), 2 when the
//! bundle is invalid (offline or as the gateway says), 1 when the gateway cannot be reached or
//! refuses the change for another reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use loopgate_policy::{BundleDiff, Change, Plain};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::load;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The policy bundle (TOML) to put in force.
    file: PathBuf,
    /// The gateway's API listener.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    url: String,
    /// The admin's client certificate (PEM); the default is dev mode's admin.
    #[arg(long, default_value = "loopgate-dev/pki/admin-park-ops.pem")]
    cert: PathBuf,
    /// The admin's private key (PEM).
    #[arg(long, default_value = "loopgate-dev/pki/admin-park-ops.key")]
    key: PathBuf,
    /// The CA bundle the gateway's certificate must chain to.
    #[arg(long, default_value = "loopgate-dev/pki/ca.pem")]
    ca: PathBuf,
    /// Only show the diff; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error("--url {0:?} is not an https:// URL with a host; write e.g. https://127.0.0.1:8443")]
    Url(String),
    #[error(transparent)]
    Tls(#[from] loopgate::TlsError),
    #[error("cannot connect to {0}: {1}; is the gateway running there?")]
    Connect(String, std::io::Error),
    #[error("TLS handshake with {0} failed: {1}; check --ca, --cert and --key")]
    Handshake(String, std::io::Error),
    #[error("HTTP exchange with the gateway failed: {0}")]
    Http(String),
    #[error("the gateway answered {status} to {what}: {body}")]
    Refused {
        what: &'static str,
        status: StatusCode,
        body: String,
    },
}

pub(crate) fn run(args: &ApplyArgs) -> Exit {
    let shown = args.file.display();
    if let Err(problems) = load(&args.file) {
        for problem in problems {
            eprintln!("{shown}:{problem}");
        }
        return Exit::Usage;
    }
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{shown}: cannot read the bundle: {e}");
            return Exit::Usage;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return Exit::Failure;
        }
    };
    match runtime.block_on(apply(args, text)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("policy apply: {e}");
            Exit::Failure
        }
    }
}

async fn apply(args: &ApplyArgs, text: String) -> Result<Exit, ApplyError> {
    let gateway = Gateway::new(&args.url, &args.ca, &args.cert, &args.key)?;
    let (status, current) = gateway
        .call(Method::GET, "/v1/admin/policy", Bytes::new())
        .await?;
    if status != StatusCode::OK {
        return Err(refused("GET /v1/admin/policy", status, &current));
    }
    let current = String::from_utf8_lossy(&current);
    match loopgate_policy::diff(&current, &text) {
        Ok(diff) if diff.is_empty() => println!("no changes to the bundle in force"),
        Ok(diff) => print!("{}", render(&diff)),
        Err(_) => println!("(the bundle in force cannot be compared)"),
    }
    if args.dry_run {
        println!("dry run: nothing applied");
        return Ok(Exit::Success);
    }
    let (status, body) = gateway
        .call(Method::PUT, "/v1/admin/policy", Bytes::from(text))
        .await?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    match (status, json) {
        (StatusCode::OK, Some(json)) => {
            println!("applied: policy_version {}", json["policy_version"]);
            Ok(Exit::Success)
        }
        (StatusCode::UNPROCESSABLE_ENTITY, Some(json)) => {
            let shown = args.file.display();
            for problem in json["problems"].as_array().into_iter().flatten() {
                eprintln!(
                    "{shown}:{}:{}: {}",
                    problem["line"],
                    problem["column"],
                    problem["message"].as_str().unwrap_or_default()
                );
            }
            eprintln!("the gateway refused the bundle; nothing was changed");
            Ok(Exit::Usage)
        }
        (status, _) => Err(refused("PUT /v1/admin/policy", status, &body)),
    }
}

fn refused(what: &'static str, status: StatusCode, body: &[u8]) -> ApplyError {
    ApplyError::Refused {
        what,
        status,
        body: String::from_utf8_lossy(body).trim().to_owned(),
    }
}

/// The diff as lines: `+`/`-` for added and removed entries, `~` for changed fields.
fn render(diff: &BundleDiff) -> String {
    let mut out = String::new();
    for (table, changes) in diff.tables() {
        for id in &changes.added {
            out.push_str(&format!("+ [[{table}]] {id}\n"));
        }
        for id in &changes.removed {
            out.push_str(&format!("- [[{table}]] {id}\n"));
        }
        for (id, fields) in &changes.changed {
            for (field, change) in fields {
                out.push_str(&format!("~ [[{table}]] {id} {field}: {}\n", shown(change)));
            }
        }
    }
    for (key, change) in &diff.settings {
        out.push_str(&format!("~ {key}: {}\n", shown(change)));
    }
    out
}

fn shown(change: &Change) -> String {
    let value = |v: &Option<Plain>| match v {
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "(absent)".to_owned(),
    };
    format!("{} -> {}", value(&change.from), value(&change.to))
}

/// One gateway's API listener, called as an admin.
struct Gateway {
    host: String,
    port: u16,
    authority: String,
    tls: Arc<ClientConfig>,
}

impl Gateway {
    fn new(url: &str, ca: &Path, cert: &Path, key: &Path) -> Result<Self, ApplyError> {
        let uri: Uri = url.parse().map_err(|_| ApplyError::Url(url.to_owned()))?;
        let (Some("https"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(ApplyError::Url(url.to_owned()));
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            host,
            port: authority.port_u16().unwrap_or(443),
            authority: authority.to_string(),
            tls: loopgate::client_auth_config(ca, cert, key)?,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ApplyError> {
        let address = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ApplyError::Connect(address.clone(), e))?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| ApplyError::Url(self.authority.clone()))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| ApplyError::Handshake(address, e))?;
        let http = |e: hyper::Error| ApplyError::Http(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http)?;
        let connection = tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/toml")
            .body(Full::new(body))
            .map_err(|e| ApplyError::Http(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(http)?;
        connection.abort();
        Ok((status, body.to_bytes()))
    }
}
