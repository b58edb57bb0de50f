//! One upstream's connections, pooled per connection lane.
//!
//! Built on hyper's connection-level client (`hyper::client::conn`): each lane keeps its own
//! idle HTTP/1.1 connections (a stack: the most recently used goes out first, so a quiet
//! period lets the oldest expire) and at most one shared HTTP/2 connection, behind a mutex only
//! its own lane takes (threads outside every lane share slot 0). A request checks out an idle
//! connection or opens one (TCP; TLS offering `h2` and `http/1.1` in ALPN, see
//! `tls::upstream_client_config`; the HTTP handshake; the connection's task runs on the lane
//! that opened it), and an HTTP/1.1 connection goes back once the answer has been read.
//!
//! Why not hyper-util's pooled `Client`: per request it cloned and dropped its connector, keyed
//! and locked a pool shared by every lane and raced a lazy connect against the checkout. On 2
//! CPUs this pool took about 4 µs off the lanes' CPU per 1 KiB transfer (42-48 → 39-44 µs,
//! `bench/ab.sh`, six alternating pairs).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use hyper::Response;
use hyper::body::{Body, Bytes, Incoming};
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{UpstreamError, error_chain};
use crate::tls::TlsError;

/// How long a connection may sit idle in a pool before it is closed rather than reused (checked
/// when the lane next sends to this upstream; the upstream's own keep-alive timeout closes it
/// otherwise).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where an upstream is and how to talk to it.
struct Target {
    /// Host to connect to (an IPv6 address without its brackets).
    host: String,
    port: u16,
    /// The name its certificate must carry.
    server_name: ServerName<'static>,
    /// `Host` of HTTP/1.1 requests: the host, and the port unless it is 443.
    host_header: HeaderValue,
    /// The request target of HTTP/1.1 requests (origin form).
    path: Uri,
    /// The URL itself (HTTP/2 requests carry scheme and authority).
    url: Uri,
}

/// A connection ready for one request.
enum Sender<B> {
    Http1(http1::SendRequest<B>),
    Http2(http2::SendRequest<B>),
}

/// One lane's idle connections.
struct Idle<B> {
    /// Oldest first; each with the time it went idle.
    http1: VecDeque<(Instant, http1::SendRequest<B>)>,
    /// The shared HTTP/2 connection and when it was last used.
    http2: Option<(Instant, http2::SendRequest<B>)>,
}

/// An upstream's connections for every lane.
pub(super) struct Pool<B> {
    target: Target,
    tls: TlsConnector,
    connect_timeout: Duration,
    lanes: Vec<Mutex<Idle<B>>>,
}

impl<B> Pool<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A pool for the upstream at `url` (an `https` URL, as the config checks), trusting what
    /// `tls` trusts, with `slots` lane slots.
    pub(super) fn new(
        url: &Uri,
        tls: Arc<ClientConfig>,
        connect_timeout: Duration,
        slots: usize,
    ) -> Result<Self, TlsError> {
        let bad = |why: &str| TlsError::UpstreamUrl {
            url: url.to_string(),
            reason: why.to_owned(),
        };
        let raw_host = url.host().ok_or_else(|| bad("no host"))?;
        let host = raw_host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_u16().unwrap_or(443);
        let server_name = ServerName::try_from(host.to_owned()).map_err(|e| {
            bad(&format!(
                "the host is neither a DNS name nor an IP address ({e})"
            ))
        })?;
        let authority = match url.port_u16() {
            Some(port) if port != 443 => format!("{raw_host}:{port}"),
            _ => raw_host.to_owned(),
        };
        let host_header = HeaderValue::from_str(&authority).map_err(|e| bad(&e.to_string()))?;
        let path = url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        Ok(Self {
            target: Target {
                host: host.to_owned(),
                port,
                server_name,
                host_header,
                path,
                url: url.clone(),
            },
            tls: TlsConnector::from(tls),
            connect_timeout,
            lanes: (0..slots.max(1))
                .map(|_| {
                    Mutex::new(Idle {
                        http1: VecDeque::new(),
                        http2: None,
                    })
                })
                .collect(),
        })
    }

    /// POSTs `body` with `headers` from lane `lane` and returns the upstream's status once its
    /// answer has been read (and dropped). A pooled connection that turns out closed before
    /// the request went out is replaced and the request sent again; once any of it went out,
    /// an error is the transfer's.
    pub(super) async fn post(
        &self,
        lane: usize,
        headers: HeaderMap,
        body: B,
    ) -> Result<StatusCode, UpstreamError> {
        let slot = &self.lanes[lane.min(self.lanes.len() - 1)];
        let mut message = (headers, body);
        loop {
            let (sender, reused) = match self.checkout(slot).await {
                Some(sender) => (sender, true),
                // Boxed: opening a connection (TLS, HTTP/2 handshake) is a large future and a
                // rare one, and every transfer's task would otherwise carry its size.
                None => (Box::pin(self.connect(slot)).await?, false),
            };
            let (headers, body) = message;
            let sent = match sender {
                Sender::Http1(mut sender) => {
                    let request = self.request(Version::HTTP_11, headers, body)?;
                    let answer = read(sender.try_send_request(request).await).await;
                    if answer.is_ok() && !sender.is_closed() {
                        lock(slot).http1.push_back((Instant::now(), sender));
                    }
                    answer
                }
                Sender::Http2(mut sender) => {
                    let request = self.request(Version::HTTP_2, headers, body)?;
                    read(sender.try_send_request(request).await).await
                }
            };
            match sent {
                Ok(status) => return Ok(status),
                Err(mut e) => match e.take_message() {
                    Some(request) if reused => {
                        tracing::debug!(error = %e.error(), "pooled upstream connection was closed; sending on another");
                        let (mut parts, body) = request.into_parts();
                        // Set again for the next connection, whose protocol may differ.
                        parts.headers.remove(header::HOST);
                        message = (parts.headers, body);
                    }
                    _ => return Err(UpstreamError::Unavailable(error_chain(e.error()))),
                },
            }
        }
    }

    /// The request for a connection of `version`.
    fn request(
        &self,
        version: Version,
        mut headers: HeaderMap,
        body: B,
    ) -> Result<Request<B>, UpstreamError> {
        let uri = if version == Version::HTTP_2 {
            self.target.url.clone()
        } else {
            headers.insert(header::HOST, self.target.host_header.clone());
            self.target.path.clone()
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .version(version)
            .body(body)
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// An idle connection of the lane that is still open and ready, if any; expired and closed
    /// ones are dropped on the way.
    async fn checkout(&self, slot: &Mutex<Idle<B>>) -> Option<Sender<B>> {
        loop {
            let next = {
                let mut idle = lock(slot);
                while idle
                    .http1
                    .front()
                    .is_some_and(|(since, _)| since.elapsed() > IDLE_TIMEOUT)
                {
                    idle.http1.pop_front();
                }
                if let Some((since, sender)) = &mut idle.http2 {
                    if sender.is_closed() || since.elapsed() > IDLE_TIMEOUT {
                        idle.http2 = None;
                    } else {
                        *since = Instant::now();
                    }
                }
                if let Some((_, shared)) = &idle.http2 {
                    Sender::Http2(shared.clone())
                } else if let Some((_, sender)) = idle.http1.pop_back() {
                    Sender::Http1(sender)
                } else {
                    return None;
                }
            };
            match next {
                Sender::Http1(mut sender) => {
                    if !sender.is_closed() && sender.ready().await.is_ok() {
                        return Some(Sender::Http1(sender));
                    }
                }
                Sender::Http2(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Some(Sender::Http2(sender));
                    }
                    lock(slot).http2 = None;
                }
            }
        }
    }

    /// Opens a connection (the TCP connection within the connect timeout) and starts its task
    /// on this thread's runtime. An HTTP/2 connection becomes the lane's shared one.
    async fn connect(&self, slot: &Mutex<Idle<B>>) -> Result<Sender<B>, UpstreamError> {
        let target = &self.target;
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            UpstreamError::Unavailable(format!("{what} {}:{}: {e}", target.host, target.port))
        };
        let connecting = TcpStream::connect((target.host.as_str(), target.port));
        let tcp = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| {
                unavailable(
                    "no TCP connection within the connect timeout to",
                    &format_args!("{:?}", self.connect_timeout),
                )
            })?
            .map_err(|e| {
                if super::is_local_shortage(&e) {
                    UpstreamError::Local(format!("{}:{}: {e}", target.host, target.port))
                } else {
                    unavailable("cannot connect to", &e)
                }
            })?;
        // TLS and the HTTP handshake count against the transfer's answer timeout, as an
        // upstream that accepts and then says nothing has not answered in time.
        tcp.set_nodelay(true)
            .map_err(|e| unavailable("cannot set TCP_NODELAY on", &e))?;
        let tls = self
            .tls
            .connect(target.server_name.clone(), tcp)
            .await
            .map_err(|e| unavailable("TLS handshake failed with", &e))?;
        let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| unavailable("HTTP/2 handshake failed with", &e))?;
            drive(connection, "HTTP/2");
            lock(slot).http2 = Some((Instant::now(), sender.clone()));
            Ok(Sender::Http2(sender))
        } else {
            let (sender, connection) = http1::handshake(io)
                .await
                .map_err(|e| unavailable("HTTP/1.1 handshake failed with", &e))?;
            drive(connection, "HTTP/1.1");
            Ok(Sender::Http1(sender))
        }
    }
}

/// Runs a connection's task on this thread's runtime until the connection ends.
fn drive<C>(connection: C, protocol: &'static str)
where
    C: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream {protocol} connection ended");
        }
    });
}

/// The status of an answer, after reading its (small) body so that the connection is ready for
/// the next request.
async fn read<B>(
    answer: Result<Response<Incoming>, TrySendError<Request<B>>>,
) -> Result<StatusCode, TrySendError<Request<B>>> {
    let response = answer?;
    let status = response.status();
    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
    Ok(status)
}

fn lock<B>(slot: &Mutex<Idle<B>>) -> std::sync::MutexGuard<'_, Idle<B>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use http_body_util::Empty;
    use rustls::RootCertStore;

    use super::*;

    fn pool(url: &str) -> Pool<Empty<Bytes>> {
        let tls = ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        Pool::new(
            &url.parse().unwrap(),
            Arc::new(tls),
            Duration::from_secs(1),
            3,
        )
        .unwrap()
    }

    #[test]
    fn the_target_comes_from_the_url() {
        let p = pool("https://[::1]:9443/ingest?batch=1");
        assert_eq!((p.target.host.as_str(), p.target.port), ("::1", 9443));
        assert_eq!(p.target.host_header, "[::1]:9443");
        assert_eq!(p.target.path, "/ingest?batch=1");
        assert_eq!(p.target.server_name, ServerName::try_from("::1").unwrap());
        assert_eq!(p.lanes.len(), 3);

        // The default port is not written into Host, written or not.
        for url in ["https://up.example/", "https://up.example:443/"] {
            let p = pool(url);
            assert_eq!((p.target.host.as_str(), p.target.port), ("up.example", 443));
            assert_eq!(p.target.host_header, "up.example");
            assert_eq!(p.target.path, "/");
        }
        assert_eq!(pool("https://10.0.0.5:8443").target.path, "/");
    }
}
