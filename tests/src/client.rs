//! An HTTPS client of the gateway's API: real TLS 1.3 with a client certificate (or none), HTTP/1.1
//! or HTTP/2 chosen by ALPN, one fresh connection per request so every test sees its own
//! handshake (or, with `open`, one [`Connection`] kept for several requests). Calls block; they
//! run on one shared tokio runtime.
//!
//! ```text
//! let sz = Client::tenant(&gw, "sz-genomics");
//! let r = sz.post_transfer().non_personal().body("qc run 42").send();
//! assert_eq!(r.status, 201);
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::gateway::Gateway;

const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// The longest any one request may take before the test fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The runtime every client call runs on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Which HTTP version to ask for in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    /// `http/1.1`.
    One,
    /// `h2`.
    Two,
}

/// A client of one gateway with one identity.
#[derive(Clone)]
pub struct Client {
    api: SocketAddr,
    ca: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    http: Http,
    tls12: bool,
}

/// A response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The HTTP version the connection negotiated.
    pub version: http::Version,
}

impl Response {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` code of an error body.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {} {}", self.status, self.text()))
            .to_owned()
    }

    /// The `log_index` of an error body or receipt, when it has one.
    pub fn log_index(&self) -> Option<u64> {
        self.json()["log_index"].as_u64()
    }

    /// Asserts the SPEC.md section 2 error body: this status and code, and a `log_index`
    /// exactly when `logged`. Returns the log index.
    pub fn assert_error(&self, status: u16, code: &str, logged: bool) -> Option<u64> {
        let json = self.json();
        assert_eq!(
            (self.status, json["error"].as_str()),
            (status, Some(code)),
            "{}",
            self.text()
        );
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        let index = json["log_index"].as_u64();
        // Refusals by identity or role are logged at a limited rate per principal (README,
        // "Quotas"): a `false` for them means "not logged as a decision", either is fine.
        let rate_limited = matches!(code, "auth.forbidden" | "auth.bad_identity") && !logged;
        if !rate_limited {
            assert_eq!(index.is_some(), logged, "log_index: {}", self.text());
        }
        index
    }
}

fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

impl Client {
    /// No client certificate at all.
    pub fn anonymous(gw: &Gateway) -> Self {
        let ca = std::fs::read_to_string(gw.pki("ca.pem")).expect("ca.pem");
        Self {
            api: gw.api(),
            ca: pem_certs(&ca),
            identity: None,
            http: Http::One,
            tls12: false,
        }
    }

    /// With this certificate chain and key (PEM).
    pub fn with_cert(gw: &Gateway, cert_pem: &str, key_pem: &str) -> Self {
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM private key");
        Self {
            identity: Some((pem_certs(cert_pem), Arc::new(key))),
            ..Self::anonymous(gw)
        }
    }

    /// The dev folder's `pki/<role>-<id>.{pem,key}`.
    pub fn principal(gw: &Gateway, role: &str, id: &str) -> Self {
        Self::principal_of(gw.dir(), gw.api(), role, id)
    }

    /// `pki/<role>-<id>.{pem,key}` of the dev folder `dir`, for a gateway listening on `api`
    /// (one run in this process rather than by [`Gateway`]).
    pub fn principal_of(
        dir: &std::path::Path,
        api: std::net::SocketAddr,
        role: &str,
        id: &str,
    ) -> Self {
        let read = |name: &str| {
            let path = dir.join("pki").join(name);
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let key = read(&format!("{role}-{id}.key"));
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("a PEM private key");
        Self {
            api,
            ca: pem_certs(&read("ca.pem")),
            identity: Some((pem_certs(&read(&format!("{role}-{id}.pem"))), Arc::new(key))),
            http: Http::One,
            tls12: false,
        }
    }

    /// A tenant of the dev folder.
    pub fn tenant(gw: &Gateway, id: &str) -> Self {
        Self::principal(gw, "tenant", id)
    }

    /// A carrier of the dev folder.
    pub fn carrier(gw: &Gateway, id: &str) -> Self {
        Self::principal(gw, "carrier", id)
    }

    /// A regulator of the dev folder.
    pub fn regulator(gw: &Gateway, id: &str) -> Self {
        Self::principal(gw, "regulator", id)
    }

    /// The same identity over HTTP/2 (ALPN `h2`).
    pub fn http2(mut self) -> Self {
        self.http = Http::Two;
        self
    }

    /// The same identity over this HTTP version.
    pub fn with_http(mut self, http: Http) -> Self {
        self.http = http;
        self
    }

    /// Offers TLS 1.2 only (the gateway allows it only when configured to).
    pub fn tls12_only(mut self) -> Self {
        self.tls12 = true;
        self
    }

    /// Another gateway (e.g. after a restart on the same folder), same identity.
    pub fn to(mut self, gw: &Gateway) -> Self {
        self.api = gw.api();
        self
    }

    fn tls_config(&self) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in &self.ca {
            roots.add(cert.clone()).expect("the dev CA is a valid root");
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(if self.tls12 { TLS12 } else { TLS13 })
                .expect("a TLS version")
                .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .expect("a usable client certificate"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = match self.http {
            Http::One => vec![b"http/1.1".to_vec()],
            Http::Two => vec![b"h2".to_vec()],
        };
        Arc::new(config)
    }

    /// TCP and TLS to the API listener; the error says why the handshake failed.
    pub async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        let tcp = TcpStream::connect(self.api)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).ok();
        let name = ServerName::try_from("localhost").expect("a server name");
        TlsConnector::from(self.tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    }

    /// A request on a fresh connection: the response, or why there was none.
    pub fn try_request(&self, request: Request<TestBody>) -> Result<Response, String> {
        let mut connection = self.try_open()?;
        connection.try_request(request)
    }

    /// A connection kept open for several requests (HTTP/1.1 keep-alive or HTTP/2).
    pub fn open(&self) -> Connection {
        self.try_open()
            .unwrap_or_else(|e| panic!("no connection: {e}"))
    }

    /// A connection kept open, or why there is none.
    pub fn try_open(&self) -> Result<Connection, String> {
        let run = async {
            let tls = self.connect().await?;
            let version = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => http::Version::HTTP_2,
                _ => http::Version::HTTP_11,
            };
            let peer_certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|der| der.to_vec())
                .unwrap_or_default();
            let io = TokioIo::new(tls);
            let sender = if version == http::Version::HTTP_2 {
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(|e| format!("h2 handshake: {e}"))?;
                tokio::spawn(conn);
                Sender::Two(sender)
            } else {
                let (sender, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| format!("http/1.1 handshake: {e}"))?;
                tokio::spawn(conn);
                Sender::One(sender)
            };
            Ok(Connection {
                sender,
                version,
                peer_certificate,
            })
        };
        runtime().block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, run)
                .await
                .unwrap_or_else(|_| Err("no connection in time".to_owned()))
        })
    }

    /// A request that must get a response.
    pub fn request(&self, request: Request<TestBody>) -> Response {
        self.try_request(request)
            .unwrap_or_else(|e| panic!("no response: {e}"))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.request(
            self.builder(Method::GET, path)
                .body(TestBody::empty())
                .unwrap(),
        )
    }

    /// `POST path` with a whole body (e.g. JSON for lifecycle events).
    pub fn post(&self, path: &str, body: impl Into<Bytes>) -> Response {
        self.request(
            self.builder(Method::POST, path)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(TestBody::full(body.into()))
                .unwrap(),
        )
    }

    /// `POST /v1/shipments` with the declaration `body`.
    pub fn declare(&self, body: &serde_json::Value) -> Response {
        self.post("/v1/shipments", body.to_string())
    }

    /// `POST /v1/shipments/{id}/events` with `body`.
    pub fn custody(&self, shipment_id: &str, body: &serde_json::Value) -> Response {
        self.post(
            &format!("/v1/shipments/{shipment_id}/events"),
            body.to_string(),
        )
    }

    /// `POST /v1/transfers/{id}/events` with `body`.
    pub fn post_event(&self, transfer_id: &str, body: &str) -> Response {
        self.post(
            &format!("/v1/transfers/{transfer_id}/events"),
            body.to_owned(),
        )
    }

    /// `GET /v1/transfers/{id}`.
    pub fn get_transfer(&self, transfer_id: &str) -> Response {
        self.get(&format!("/v1/transfers/{transfer_id}"))
    }

    /// The decision record of a transfer this tenant is a party to, from its view.
    pub fn decision_of(&self, transfer_id: &str) -> serde_json::Value {
        let view = self.get_transfer(transfer_id).json();
        view["records"]
            .as_array()
            .and_then(|records| {
                records
                    .iter()
                    .map(|r| r["record"].clone())
                    .find(|r| r["kind"] == "decision")
            })
            .unwrap_or_else(|| panic!("no decision record in {view}"))
    }

    /// A request builder for this gateway.
    pub fn builder(&self, method: Method, path: &str) -> http::request::Builder {
        let builder = Request::builder().method(method);
        match self.http {
            // HTTP/2 needs the full URI (scheme and authority); HTTP/1.1 the Host header.
            Http::Two => builder.uri(format!("https://localhost:{}{path}", self.api.port())),
            Http::One => builder
                .uri(path)
                .header(http::header::HOST, format!("localhost:{}", self.api.port())),
        }
    }

    /// Sends `count` transfers denied for their purpose (403, one record each) over one
    /// connection: a quick way to a log of many records.
    pub fn post_denials(&self, count: usize) {
        let mut connection = self.open();
        for _ in 0..count {
            let r = connection
                .try_request(
                    self.post_transfer()
                        .non_personal()
                        .set("Loop-Purpose", "marketing")
                        .body("x")
                        .build(),
                )
                .expect("a denial");
            assert_eq!(r.status, 403);
        }
    }

    /// `POST /v1/transfers`, to be filled in.
    pub fn post_transfer(&self) -> TransferCall<'_> {
        TransferCall {
            client: self,
            headers: Vec::new(),
            body: TestBody::empty(),
        }
    }

    /// Writes a raw HTTP/1.1 request over TLS, half-closes, and reads the raw response (or
    /// whatever arrives before the gateway closes). For bodies shorter than their
    /// `Content-Length`, which no well-behaved client library sends.
    pub fn raw_http1(&self, head: &str, body: &[u8]) -> Result<String, String> {
        let run = async {
            let mut tls = self.connect().await?;
            tls.write_all(head.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(body).await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())?;
            // close_notify and FIN: the gateway sees the body end early.
            tls.shutdown().await.map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            let read = tls.read_to_end(&mut out).await;
            let text = String::from_utf8_lossy(&out).into_owned();
            match read {
                Ok(_) => Ok(text),
                Err(_) if !text.is_empty() => Ok(text),
                Err(e) => Err(e.to_string()),
            }
        };
        runtime().block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, run)
                .await
                .unwrap_or_else(|_| Err("no response in time".to_owned()))
        })
    }
}

enum Sender {
    One(hyper::client::conn::http1::SendRequest<TestBody>),
    Two(hyper::client::conn::http2::SendRequest<TestBody>),
}

/// One open TLS connection to the gateway.
pub struct Connection {
    sender: Sender,
    version: http::Version,
    peer_certificate: Vec<u8>,
}

impl Connection {
    /// The gateway's certificate as presented in this connection's handshake (DER).
    pub fn peer_certificate(&self) -> &[u8] {
        &self.peer_certificate
    }

    /// The HTTP version ALPN chose.
    pub fn version(&self) -> http::Version {
        self.version
    }

    /// A request on this connection: the response, or why there was none (e.g. the
    /// connection was closed).
    pub fn try_request(&mut self, request: Request<TestBody>) -> Result<Response, String> {
        let version = self.version;
        let sender = &mut self.sender;
        let run = async {
            let response = match sender {
                Sender::One(sender) => {
                    sender
                        .ready()
                        .await
                        .map_err(|e| format!("request: connection closed: {}", chain(&e)))?;
                    sender.send_request(request).await
                }
                Sender::Two(sender) => {
                    sender
                        .ready()
                        .await
                        .map_err(|e| format!("request: connection closed: {}", chain(&e)))?;
                    sender.send_request(request).await
                }
            }
            .map_err(|e| format!("request: {}", chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok(Response {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
                version,
            })
        };
        runtime().block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, run)
                .await
                .unwrap_or_else(|_| Err("no response in time".to_owned()))
        })
    }
}

/// An error and its sources on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The dev bundle's non-personal item and its purpose.
pub const NP_ITEM: (&str, &str) = ("INV-NP-001", "research.instrument_qc");
/// The dev bundle's personal item, its purpose and its filing.
pub const PI_ITEM: (&str, &str, &str) = ("INV-PI-001", "research.cohort_study", "GBA-SC-DEMO-001");

/// One `POST /v1/transfers`: headers and a body, then `send()`.
#[must_use]
pub struct TransferCall<'a> {
    client: &'a Client,
    headers: Vec<(String, String)>,
    body: TestBody,
}

impl TransferCall<'_> {
    /// Adds a header (a second call with the same name sends it twice).
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    /// Removes every header with this name.
    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Sets the header, replacing any value it had.
    pub fn set(self, name: &str, value: impl ToString) -> Self {
        self.without(name).header(name, value)
    }

    /// The dev bundle's allowed non-personal transfer to `hk-biolab`.
    pub fn non_personal(self) -> Self {
        self.set("Loop-Inventory-Item", NP_ITEM.0)
            .set("Loop-Recipient", "hk-biolab")
            .set("Loop-Purpose", NP_ITEM.1)
    }

    /// The dev bundle's allowed personal transfer to `hk-biolab` about `subjects` people.
    pub fn personal(self, subjects: u64) -> Self {
        self.set("Loop-Inventory-Item", PI_ITEM.0)
            .set("Loop-Recipient", "hk-biolab")
            .set("Loop-Purpose", PI_ITEM.1)
            .set("Loop-Contract-Filing", PI_ITEM.2)
            .set("Loop-Data-Subjects", subjects)
    }

    /// A transfer of `INV-HGR-001` (`Bundle::with_hgr_item`) to `hk-biolab`, allowed for
    /// `research.cohort_study` (another purpose: denied by rule 6).
    pub fn hgr(self) -> Self {
        self.set("Loop-Inventory-Item", "INV-HGR-001")
            .set("Loop-Recipient", "hk-biolab")
            .set("Loop-Purpose", "research.cohort_study")
    }

    /// `Idempotency-Key`.
    pub fn idempotency_key(self, key: &str) -> Self {
        self.set("Idempotency-Key", key)
    }

    /// `Content-Digest: sha-256=:...:` of `bytes`.
    pub fn digest_of(self, bytes: &[u8]) -> Self {
        self.set("Content-Digest", content_digest(bytes))
    }

    /// A body of known length (`Content-Length`).
    pub fn body(mut self, bytes: impl Into<Bytes>) -> Self {
        self.body = TestBody::full(bytes.into());
        self
    }

    /// A body of unknown length (HTTP/1.1 chunked; HTTP/2 without `Content-Length`).
    pub fn chunked<I, C>(mut self, chunks: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Bytes>,
    {
        self.body = TestBody::chunks(chunks.into_iter().map(Into::into).collect(), None, false);
        self
    }

    /// Chunks of unknown total length with `pause` before each one after the first.
    pub fn slow<I, C>(mut self, chunks: I, pause: Duration) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Bytes>,
    {
        self.body = TestBody::chunks(
            chunks.into_iter().map(Into::into).collect(),
            Some(pause),
            false,
        );
        self
    }

    /// `first`, then nothing until the returned [`Gate`] is opened (or dropped), then `rest`:
    /// a transfer held mid-body for as long as the test needs, with no timing involved.
    pub fn held(mut self, first: impl Into<Bytes>, rest: impl Into<Bytes>) -> (Self, Gate) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut body = TestBody::chunks(vec![first.into(), rest.into()], None, false);
        body.gate = Some(rx);
        self.body = body;
        (self, Gate(Some(tx)))
    }

    /// Chunks, then the body fails (the client aborts the request mid-body). Each chunk and
    /// the failure come 100 ms apart, so the gateway has the request before the abort.
    pub fn failing<I, C>(mut self, chunks: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Bytes>,
    {
        self.body = TestBody::chunks(
            chunks.into_iter().map(Into::into).collect(),
            Some(Duration::from_millis(100)),
            true,
        );
        self
    }

    /// The request as built.
    pub fn build(self) -> Request<TestBody> {
        let mut request = self
            .client
            .builder(Method::POST, "/v1/transfers")
            .body(self.body)
            .expect("a valid request");
        for (name, value) in self.headers {
            request.headers_mut().append(
                HeaderName::try_from(name).expect("a header name"),
                HeaderValue::try_from(value).expect("a header value"),
            );
        }
        request
    }

    /// Sends it; panics when there is no response.
    pub fn send(self) -> Response {
        let client = self.client.clone();
        client.request(self.build())
    }

    /// Sends it; the response or why there was none.
    pub fn try_send(self) -> Result<Response, String> {
        let client = self.client.clone();
        client.try_request(self.build())
    }
}

/// `sha-256=:<base64>:` (RFC 9530) of `bytes`.
pub fn content_digest(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// A request body: whole, chunked, slow or failing.
pub struct TestBody {
    full: Option<Full<Bytes>>,
    chunks: std::collections::VecDeque<Bytes>,
    pause: Option<Duration>,
    sleeping: Option<Pin<Box<tokio::time::Sleep>>>,
    started: bool,
    fail_at_end: bool,
    /// Held after the first chunk until this resolves (see [`TransferCall::held`]).
    gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Opens a held body ([`TransferCall::held`]): its remaining chunks go once this is opened or
/// dropped.
pub struct Gate(Option<tokio::sync::oneshot::Sender<()>>);

impl Gate {
    /// Lets the rest of the body go.
    pub fn open(mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The error a failing body ends with.
#[derive(Debug)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the test aborted the body")
    }
}

impl std::error::Error for Aborted {}

impl TestBody {
    /// No body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body sent whole, with its `Content-Length`.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self::full(bytes.into())
    }

    fn full(bytes: Bytes) -> Self {
        Self {
            full: Some(Full::new(bytes)),
            chunks: Default::default(),
            pause: None,
            sleeping: None,
            started: false,
            fail_at_end: false,
            gate: None,
        }
    }

    fn chunks(chunks: Vec<Bytes>, pause: Option<Duration>, fail_at_end: bool) -> Self {
        Self {
            full: None,
            chunks: chunks.into(),
            pause,
            sleeping: None,
            started: false,
            fail_at_end,
            gate: None,
        }
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        let this = &mut *self;
        if let Some(full) = this.full.as_mut() {
            return Pin::new(full)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|e: Infallible| match e {})));
        }
        if this.chunks.is_empty() && !this.fail_at_end {
            return Poll::Ready(None);
        }
        if let (Some(gate), true) = (this.gate.as_mut(), this.started) {
            if Pin::new(gate).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.gate = None;
        }
        if let (Some(pause), true) = (this.pause, this.started) {
            let sleeping = this
                .sleeping
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if sleeping.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleeping = None;
        }
        this.started = true;
        match this.chunks.pop_front() {
            Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            None => Poll::Ready(Some(Err(Aborted))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.full {
            Some(full) => full.is_end_stream(),
            None => self.chunks.is_empty() && !self.fail_at_end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.full {
            Some(full) => full.size_hint(),
            None => SizeHint::default(),
        }
    }
}

impl Client {
    /// A client of the API at `api` from PEM files (no [`Gateway`] handle): for a load driver
    /// pointed at a gateway, or a baseline, it did not start. `api` is dialled as `localhost`.
    pub fn from_files(
        api: SocketAddr,
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Self, String> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let key = PrivateKeyDer::from_pem_slice(read(key)?.as_bytes())
            .map_err(|e| format!("{}: {e}", key.display()))?;
        let chain = CertificateDer::pem_slice_iter(read(cert)?.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        let roots = CertificateDer::pem_slice_iter(read(ca)?.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", ca.display()))?;
        Ok(Self {
            api,
            ca: roots,
            identity: Some((chain, Arc::new(key))),
            http: Http::One,
            tls12: false,
        })
    }
}
