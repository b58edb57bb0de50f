//! The upstream client against the real demo upstream on loopback: exact bytes arrive when the
//! body matches; a body that does not match never arrives complete (DESIGN.md invariant 6).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::channel::Channel;
use loopgate::DevCa;
use loopgate::dev::{DemoUpstream, received};
use loopgate::plain_server_config;
use loopgate::{BodyFault, Expected, VerifyingBody};
use loopgate::{Limits, Upstream};
use loopgate::{UpstreamError, Upstreams};
use ring::digest;
use tokio::net::TcpListener;

type Sent = VerifyingBody<Channel<Bytes, std::io::Error>>;

struct Setup {
    dir: tempfile::TempDir,
    _upstream: Option<DemoUpstream>,
    upstreams: Upstreams<Sent>,
}

fn limits() -> Limits {
    Limits {
        max_header_bytes: 16 * 1024,
        header_timeout: Duration::from_secs(5),
        body_idle_timeout: Duration::from_secs(5),
        upstream_connect_timeout: Duration::from_secs(2),
        upstream_timeout: Duration::from_secs(3),
        drain_timeout: Duration::from_secs(5),
        connections: loopgate::Connections::default(),
        idempotency_retention: Duration::from_secs(86_400),
        requests_per_second: 200,
        request_burst: 400,
        max_exports: 64,
        max_exports_per_principal: 8,
    }
}

/// A directory with an upstream CA (`ca.pem`) and a server certificate it issued for
/// localhost and 127.0.0.1 (`up.pem`, `up.key`).
fn certs() -> tempfile::TempDir {
    #[allow(clippy::disallowed_methods)] // rustls checks certificates against the real clock
    let now = time::OffsetDateTime::now_utc();
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::generate("upstream CA", now).unwrap();
    let server = ca
        .issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()], now)
        .unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(path("up.pem"), &server.cert_pem).unwrap();
    std::fs::write(path("up.key"), &server.key_pem).unwrap();
    dir
}

/// Upstreams with `hk-biolab` at `addr`, trusting the CA in `dir`.
fn upstreams_at(dir: &Path, addr: std::net::SocketAddr) -> Upstreams<Sent> {
    let config = BTreeMap::from([(
        "hk-biolab".to_owned(),
        Upstream {
            url: format!("https://{addr}/ingest").parse().unwrap(),
            ca: dir.join("ca.pem"),
        },
    )]);
    Upstreams::new(&config, &limits(), 1).unwrap()
}

/// A demo upstream for `hk-biolab`, or with `at`, whatever the test has at that address.
async fn setup(at: Option<std::net::SocketAddr>) -> Setup {
    let dir = certs();
    let path = |name: &str| dir.path().join(name);
    let (addr, upstream) = match at {
        Some(addr) => (addr, None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let tls = plain_server_config(&path("up.pem"), &path("up.key")).unwrap();
            let demo = DemoUpstream::start(listener, tls, path("received"))
                .await
                .unwrap();
            (demo.addr(), Some(demo))
        }
    };
    let upstreams = upstreams_at(dir.path(), addr);
    Setup {
        dir,
        _upstream: upstream,
        upstreams,
    }
}

fn sha(data: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .try_into()
        .unwrap()
}

/// Sends `chunks` as one transfer with id `id` and the given declarations.
async fn send(
    setup: &Setup,
    id: &'static str,
    chunks: Vec<Vec<u8>>,
    expected: Expected,
) -> (
    Result<http::StatusCode, UpstreamError>,
    Option<Result<loopgate::Verified, BodyFault>>,
) {
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(4);
    let (body, report) = VerifyingBody::new(rx, expected.clone());
    let mut headers = HeaderMap::new();
    headers.insert("loop-transfer-id", id.parse().unwrap());
    if let Some(length) = expected.length {
        headers.insert(http::header::CONTENT_LENGTH, length.into());
    }
    let feeder = tokio::spawn(async move {
        for chunk in chunks {
            if tx.send_data(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let result = setup.upstreams.send("hk-biolab", headers, body).await;
    feeder.abort();
    let outcome = report.lock().unwrap().clone();
    (result, outcome)
}

fn expected(length: Option<u64>, sha256: Option<[u8; 32]>) -> Expected {
    Expected {
        length,
        sha256,
        max_bytes: 64 << 20,
        idle_timeout: Duration::from_secs(5),
    }
}

fn received_in(dir: &Path) -> Vec<String> {
    received(&dir.join("received")).unwrap()
}

/// Waits (up to 10 s) until the demo upstream has seen body `name` cut off: `<name>.aborted`.
async fn aborted(dir: &Path, name: &str) {
    let path = dir.join("received").join(format!("{name}.aborted"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream never saw {name} cut off"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_matching_body_arrives_with_its_exact_bytes() {
    let setup = setup(None).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let chunks = data.chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    let (status, report) = send(
        &setup,
        "t-ok",
        chunks,
        expected(Some(data.len() as u64), Some(sha(&data))),
    )
    .await;
    assert_eq!(status.unwrap(), http::StatusCode::CREATED);
    assert_eq!(report.unwrap().unwrap().size, data.len() as u64);
    assert_eq!(received_in(setup.dir.path()), ["t-ok"]);
    assert_eq!(
        std::fs::read(setup.dir.path().join("received/t-ok")).unwrap(),
        data
    );
}

#[tokio::test]
async fn a_digest_mismatch_never_arrives_complete() {
    let setup = setup(None).await;
    let data = vec![7u8; 100_000];
    let chunks = data.chunks(10_000).map(<[u8]>::to_vec).collect();
    let (status, report) = send(
        &setup,
        "t-bad",
        chunks,
        expected(Some(100_000), Some(sha(b"other"))),
    )
    .await;
    assert!(
        matches!(status, Err(UpstreamError::Unavailable(_))),
        "{status:?}"
    );
    assert_eq!(report, Some(Err(BodyFault::DigestMismatch)));
    // Once the upstream has seen the reset it is done with the body: never complete.
    aborted(setup.dir.path(), "t-bad").await;
    assert!(received_in(setup.dir.path()).is_empty());
}

#[tokio::test]
async fn a_short_chunked_body_never_arrives_complete() {
    let setup = setup(None).await;
    let chunks = vec![vec![1u8; 1000], vec![2u8; 1000]];
    let (status, report) = send(&setup, "t-short", chunks, expected(None, Some(sha(b"x")))).await;
    assert!(status.is_err(), "{status:?}");
    assert_eq!(report, Some(Err(BodyFault::DigestMismatch)));
    aborted(setup.dir.path(), "t-short").await;
    assert!(received_in(setup.dir.path()).is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    // A port that was just free: bind it, note it, close it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let setup = setup(Some(closed)).await;
    let (status, _) = send(
        &setup,
        "t-down",
        vec![b"abc".to_vec()],
        expected(Some(3), None),
    )
    .await;
    assert!(
        matches!(status, Err(UpstreamError::Unavailable(_))),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_hanging_upstream_times_out() {
    // The kernel completes the TCP handshake from the backlog; nothing ever speaks TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let setup = setup(Some(listener.local_addr().unwrap())).await;
    let (status, _) = send(
        &setup,
        "t-hang",
        vec![b"abc".to_vec()],
        expected(Some(3), None),
    )
    .await;
    assert!(
        matches!(status, Err(UpstreamError::Timeout(_))),
        "{status:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn an_unknown_recipient_has_no_upstream() {
    let setup = setup(None).await;
    assert!(setup.upstreams.has("hk-biolab"));
    assert!(!setup.upstreams.has("hk-other"));
}

/// What a probe upstream saw of one request: HTTP version, `Host` header, request target.
type Seen = (http::Version, Option<String>, String);

/// A test upstream on loopback that offers `alpn` and counts its TCP connections; with
/// `close`, it closes each connection after its first answer (`Connection: close`).
struct Probe {
    addr: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn probe(dir: &Path, alpn: &[&[u8]], close: bool) -> Probe {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::sync::atomic::Ordering;

    let mut tls = (*plain_server_config(&dir.join("up.pem"), &dir.join("up.key")).unwrap()).clone();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (count, log) = (connections.clone(), seen.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let host = request
                                .headers()
                                .get(http::header::HOST)
                                .map(|h| h.to_str().unwrap().to_owned());
                            let seen = (request.version(), host, request.uri().path().to_owned());
                            let _ = request.into_body().collect().await;
                            log.lock().unwrap().push(seen);
                            let mut answer = http::Response::builder().status(201);
                            if close {
                                answer = answer.header(http::header::CONNECTION, "close");
                            }
                            Ok::<_, std::convert::Infallible>(
                                answer
                                    .body(Full::new(Bytes::from_static(b"stored")))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Probe {
        addr,
        connections,
        seen,
        task,
    }
}

/// Sends three transfers one after the other to a probe; returns what it saw and how many
/// connections it accepted.
async fn three_through(alpn: &[&[u8]], close: bool) -> (Vec<Seen>, usize, std::net::SocketAddr) {
    let dir = certs();
    let probe = probe(dir.path(), alpn, close).await;
    let setup = Setup {
        upstreams: upstreams_at(dir.path(), probe.addr),
        dir,
        _upstream: None,
    };
    for _ in 0..3 {
        let (status, _) = send(
            &setup,
            "t-pool",
            vec![b"abc".to_vec()],
            expected(Some(3), None),
        )
        .await;
        assert_eq!(status.unwrap(), http::StatusCode::CREATED);
    }
    let seen = probe.seen.lock().unwrap().clone();
    let connections = probe.connections.load(std::sync::atomic::Ordering::SeqCst);
    (seen, connections, probe.addr)
}

#[tokio::test]
async fn http1_transfers_reuse_one_connection_with_origin_form_and_host() {
    let (seen, connections, addr) = three_through(&[b"http/1.1"], false).await;
    assert_eq!(
        connections, 1,
        "one kept-alive connection for three transfers"
    );
    let expected = (
        http::Version::HTTP_11,
        Some(addr.to_string()),
        "/ingest".to_owned(),
    );
    assert_eq!(seen, vec![expected.clone(), expected.clone(), expected]);
}

#[tokio::test]
async fn http2_transfers_share_one_connection() {
    let (seen, connections, _) = three_through(&[b"h2", b"http/1.1"], false).await;
    assert_eq!(connections, 1, "one HTTP/2 connection for three transfers");
    assert_eq!(seen.len(), 3);
    for (version, _, path) in seen {
        assert_eq!(version, http::Version::HTTP_2);
        assert_eq!(path, "/ingest");
    }
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_not_reused() {
    let (seen, connections, _) = three_through(&[b"http/1.1"], true).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(connections, 3, "each answer closed its connection");
}
