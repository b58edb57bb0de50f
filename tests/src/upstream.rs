//! Test-owned upstreams on loopback, for what the dev-mode demo upstream never does: a port
//! nobody listens on, a server that accepts and then never answers, one that answers with a
//! chosen status, and one that resets the connection mid-body. Each stops when dropped.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::client::runtime;

/// A loopback port that refuses connections: held by a socket that is bound but never listens,
/// so no other process can take the port while the test runs (a port bound and released could
/// be handed to someone else before the test connects to it).
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    port: u16,
}

impl ClosedPort {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A loopback port with nothing listening on it, held until the result is dropped.
pub fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    ClosedPort {
        _socket: socket,
        port,
    }
}

/// Accepts TCP connections and never sends a byte (no TLS handshake, no answer).
pub struct Silent {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

impl Silent {
    /// Starts listening on `127.0.0.1:0`.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        accepted2.fetch_add(1, Ordering::Relaxed);
                        held.push(tcp);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            addr,
            stop,
            accepted,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An HTTPS upstream with a CA of its own, HTTP/1.1 only, that reads each body and answers
/// `status`. It counts what it saw: TCP connections, requests whose head arrived, and bodies
/// that ended before their framing said (the sender aborted), beside the bodies it received
/// whole.
pub struct Answering {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    seen: Arc<Seen>,
    ca: tempfile::TempDir,
}

/// What an [`Answering`] upstream saw.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicUsize,
    started: AtomicUsize,
    incomplete: AtomicUsize,
}

impl Answering {
    /// Serves HTTP/1.1 on `127.0.0.1:0` as `localhost`.
    pub fn start(status: u16) -> Self {
        let (acceptor, dir) = loopback_tls();
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let kept = bodies.clone();
        let seen = Arc::new(Seen::default());
        let counted = seen.clone();
        let task = runtime().spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let kept = kept.clone();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let kept = kept.clone();
                            let counted = counted.clone();
                            async move {
                                counted.started.fetch_add(1, Ordering::SeqCst);
                                match request.into_body().collect().await {
                                    Ok(body) => kept.lock().expect("lock").push(body.to_bytes()),
                                    Err(_) => {
                                        counted.incomplete.fetch_add(1, Ordering::SeqCst);
                                    }
                                }
                                let mut response = http::Response::new(Full::new(Bytes::from(
                                    r#"{"error":"test upstream"}"#,
                                )));
                                *response.status_mut() =
                                    http::StatusCode::from_u16(status).expect("a status");
                                Ok::<_, Infallible>(response)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            task,
            bodies,
            seen,
            ca: dir,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// Requests whose head arrived so far.
    pub fn started(&self) -> usize {
        self.seen.started.load(Ordering::SeqCst)
    }

    /// Requests whose body ended before its framing said (`Content-Length` short, chunked
    /// without its last chunk).
    pub fn incomplete(&self) -> usize {
        self.seen.incomplete.load(Ordering::SeqCst)
    }

    /// Its CA certificate (PEM file), for the gateway's `[[upstream]] ca`.
    pub fn ca_path(&self) -> std::path::PathBuf {
        self.ca.path().join("ca.pem")
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/ingest", self.addr.port())
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bodies it received completely.
    pub fn bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().expect("lock").clone()
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTPS upstream with a CA of its own that reads the first `after` bytes of each request
/// (head and body) and then resets the connection (TCP RST, `SO_LINGER` 0): an upstream that
/// fails mid-body.
pub struct Resetting {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    resets: Arc<AtomicUsize>,
    ca: tempfile::TempDir,
}

impl Resetting {
    /// Serves on `127.0.0.1:0` as `localhost`.
    pub fn start(after: usize) -> Self {
        let (acceptor, ca) = loopback_tls();
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let resets = Arc::new(AtomicUsize::new(0));
        let counted = resets.clone();
        let task = runtime().spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counted) = (acceptor.clone(), counted.clone());
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut read = 0;
                    while read < after {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let (tcp, _) = tls.into_inner();
                    let _ = tcp.set_zero_linger();
                    drop(tcp);
                    counted.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        Self {
            addr,
            task,
            resets,
            ca,
        }
    }

    /// Its CA certificate (PEM file), for the gateway's `[[upstream]] ca`.
    pub fn ca_path(&self) -> std::path::PathBuf {
        self.ca.path().join("ca.pem")
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/ingest", self.addr.port())
    }

    /// Connections it reset so far.
    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::Relaxed)
    }
}

impl Drop for Resetting {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTPS upstream with a CA of its own that reads the first `after` bytes of each request
/// (head and body) and then stops reading while keeping the connection open: an upstream that
/// takes no more of the body and never answers.
pub struct Stalling {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    stalled: Arc<AtomicUsize>,
    ca: tempfile::TempDir,
}

impl Stalling {
    /// Serves on `127.0.0.1:0` as `localhost`.
    pub fn start(after: usize) -> Self {
        let (acceptor, ca) = loopback_tls();
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stalled = Arc::new(AtomicUsize::new(0));
        let counted = stalled.clone();
        let task = runtime().spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counted) = (acceptor.clone(), counted.clone());
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut read = 0;
                    while read < after {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    counted.fetch_add(1, Ordering::Relaxed);
                    // Held, never read again, until the peer goes away or the test ends.
                    std::future::pending::<()>().await;
                    drop(tls);
                });
            }
        });
        Self {
            addr,
            task,
            stalled,
            ca,
        }
    }

    /// Its CA certificate (PEM file), for the gateway's `[[upstream]] ca`.
    pub fn ca_path(&self) -> std::path::PathBuf {
        self.ca.path().join("ca.pem")
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/ingest", self.addr.port())
    }

    /// Connections on which it stopped reading so far.
    pub fn stalled(&self) -> usize {
        self.stalled.load(Ordering::Relaxed)
    }
}

impl Drop for Stalling {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TLS acceptor for `localhost` / `127.0.0.1` (HTTP/1.1) and the directory holding its CA as
/// `ca.pem`.
fn loopback_tls() -> (TlsAcceptor, tempfile::TempDir) {
    let now = loopgate::Clock::system().now();
    let ca = loopgate::DevCa::generate("test upstream CA", now).expect("a CA");
    let issued = ca
        .issue_server(&["localhost"], &["127.0.0.1".parse().expect("ip")], now)
        .expect("a server certificate");
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).expect("write ca.pem");
    let certs = CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key");
    let mut tls =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    (TlsAcceptor::from(Arc::new(tls)), dir)
}
