//! One `add-checkpoint` request to a witness (C2SP `tlog-witness`): HTTP/1.1 over a new
//! connection, TLS for an `https` url (trusting only the `[[witness]] ca`), the whole exchange
//! bounded by [`REQUEST_TIMEOUT`] and the answer by [`MAX_ANSWER`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::WitnessTarget;
use crate::tls::TlsError;

/// The longest one request may take, connection and answer included.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a few signature lines, or a short refusal).
const MAX_ANSWER: usize = 64 << 10;

/// What a witness answered.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) body: String,
}

/// A configured witness: where to send and how to reach it.
#[derive(Debug)]
pub(super) struct Client {
    pub(super) target: WitnessTarget,
    host: String,
    port: u16,
    authority: String,
    path: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    /// Loads the TLS trust of an `https` witness.
    pub(super) fn new(target: WitnessTarget) -> Result<Self, TlsError> {
        let https = target.url.scheme_str() == Some("https");
        let tls = match (&target.ca, https) {
            (Some(ca), true) => {
                let mut config = (*crate::tls::upstream_client_config(ca)?).clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(Arc::new(config))
            }
            _ => None,
        };
        let host = target
            .url
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = target
            .url
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let authority = target
            .url
            .authority()
            .map_or_else(|| host.clone(), ToString::to_string);
        let path = format!("{}/add-checkpoint", target.url.path().trim_end_matches('/'));
        Ok(Self {
            target,
            host,
            port,
            authority,
            path,
            tls,
        })
    }

    /// The witness's name.
    pub(super) fn name(&self) -> &str {
        &self.target.name
    }

    /// Posts `body` to `<url>/add-checkpoint`; `Err` says why no answer came.
    pub(super) async fn add_checkpoint(&self, body: String) -> Result<Answer, String> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.post(body)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }

    async fn post(&self, body: String) -> Result<Answer, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.exchange(tcp, body).await,
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| format!("{:?} is not a TLS server name", self.host))?;
                let stream = TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.authority))?;
                self.exchange(stream, body).await
            }
        }
    }

    async fn exchange<IO>(&self, io: IO, body: String) -> Result<Answer, String>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let http = |e: hyper::Error| format!("HTTP: {e}");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(http)?;
        let connection = tokio::spawn(connection);
        let uri: Uri = self
            .path
            .parse()
            .map_err(|_| format!("bad path {:?}", self.path))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let sent = async {
            let response = sender.send_request(request).await.map_err(http)?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("cannot read the answer: {e}"))?
                .to_bytes();
            Ok(Answer {
                status,
                content_type,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        }
        .await;
        connection.abort();
        sent
    }
}
