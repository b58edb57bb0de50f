//! The witness's HTTP server (hyper 1, HTTP/1.1 with keep-alive; HTTPS with rustls when the
//! config has `[tls]`): one log line per request, and on SIGTERM or SIGINT it stops accepting,
//! lets the requests in flight finish (each already persisted before it answers) and returns.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use super::{Answer, Witness, WitnessConfig, WitnessError};
use crate::clock::Clock;

/// The largest `add-checkpoint` body: 63 proof lines (3 KiB) and a checkpoint with the 16
/// signatures a note verifier must accept, even post-quantum ones (about 3.3 KiB each in
/// base64), fit with room to spare.
const MAX_BODY: usize = 128 << 10;
/// How long a client may take to send a request head, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the requests in flight get to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(10);

/// Where a started witness listens.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The bound address (the OS's port when the config said port 0).
    pub addr: SocketAddr,
    /// Whether it serves HTTPS.
    pub tls: bool,
    /// The witness's verifier key, `<name>+<hex id>+<base64(0x04 || public key)>`.
    pub verifier: String,
}

impl Bound {
    /// The submission prefix's base URL, `http(s)://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// Opens the state, binds, calls `on_bound` and serves until SIGTERM or SIGINT (what
/// `loopgate witness serve` runs).
pub async fn run(config: WitnessConfig, on_bound: impl FnOnce(&Bound)) -> Result<(), WitnessError> {
    let watch = |kind, name| signal(kind).map_err(|source| WitnessError::Signal { name, source });
    let mut terminate = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = watch(SignalKind::interrupt(), "SIGINT")?;
    let stop = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    };
    run_until(config, on_bound, stop).await
}

/// Opens the state, binds, calls `on_bound` and serves until `stop` completes, then lets the
/// requests in flight finish (up to 10 s). For a witness inside another process (dev mode's
/// two witnesses on loopback): `listen = 127.0.0.1:0` and the address from [`Bound`].
pub async fn run_until(
    config: WitnessConfig,
    on_bound: impl FnOnce(&Bound),
    stop: impl Future<Output = ()>,
) -> Result<(), WitnessError> {
    let WitnessConfig {
        listen,
        key,
        state_dir,
        prefix,
        tls,
        logs,
    } = config;
    let witness = Arc::new(Witness::open(key, &state_dir, logs)?);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| WitnessError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| WitnessError::Bind {
        addr: listen,
        source,
    })?;
    let bound = Bound {
        addr,
        tls: tls.is_some(),
        verifier: witness.verifier().to_string(),
    };
    tracing::info!(url = %bound.url(), key = %bound.verifier, "witness listening");
    on_bound(&bound);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let prefix: Arc<str> = prefix.into();
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "witness: accept failed; pausing 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let witness = witness.clone();
        let prefix = prefix.clone();
        let service = service_fn(move |request| {
            let (witness, prefix) = (witness.clone(), prefix.clone());
            async move { Ok::<_, Infallible>(handle(&witness, &prefix, peer, request).await) }
        });
        match &acceptor {
            None => serve_connection(tcp, service, &graceful),
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(READ_TIMEOUT, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let conn = builder().serve_connection(TokioIo::new(tls), service);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(listener);
    tracing::info!("witness: stopping; finishing the requests in flight");
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("witness: requests still open after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

fn builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT);
    builder
}

fn serve_connection<S, IO>(io: IO, service: S, graceful: &GracefulShutdown)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder().serve_connection(TokioIo::new(io), service);
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        let _ = conn.await;
    });
}

/// Routes one request and logs it.
async fn handle(
    witness: &Arc<Witness>,
    prefix: &str,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let answer = route(witness, prefix, request).await;
    tracing::info!(
        %peer,
        %method,
        %path,
        status = answer.status,
        origin = answer.origin.as_deref().unwrap_or(""),
        size = answer.size,
        outcome = answer.outcome,
        "witness request"
    );
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    if answer.status == 405 {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

async fn route(witness: &Arc<Witness>, prefix: &str, request: Request<Incoming>) -> Answer {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix(prefix) else {
        return not_found();
    };
    if rest == "/add-checkpoint" {
        if request.method() != Method::POST {
            return plain(405, "method not allowed", "add-checkpoint takes POST");
        }
        let body = Limited::new(request.into_body(), MAX_BODY).collect();
        let body = match tokio::time::timeout(READ_TIMEOUT, body).await {
            Err(_) => return plain(408, "slow body", "the body took too long to arrive"),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return plain(
                    413,
                    "body too large",
                    "the body is larger than 128 KiB; an add-checkpoint body is far smaller",
                );
            }
            Ok(Err(_)) => return plain(400, "body not read", "the body could not be read"),
            Ok(Ok(body)) => body.to_bytes(),
        };
        let now = u64::try_from(Clock::system().now().unix_timestamp()).unwrap_or(0);
        let witness = witness.clone();
        // Blocking (a signature check, a signature and one fdatasync). On a multi-threaded
        // runtime (`witness serve`'s, dev mode's) in place: a hop to a blocking thread and
        // back added 0.15 ms to the 0.8 ms a request took on the benchmark's busy 2-core
        // machine. Requests to one log wait for each other on its lock either way.
        let cosign = move || witness.add_checkpoint(&body, now);
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            return tokio::task::block_in_place(cosign);
        }
        return tokio::task::spawn_blocking(cosign)
            .await
            .unwrap_or_else(|_| {
                plain(500, "panicked", "the witness failed; nothing was cosigned")
            });
    }
    if let Some(hash) = rest
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix("/checkpoint"))
        && request.method() == Method::GET
    {
        return match witness.latest(hash) {
            Some(text) => Answer {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: text,
                origin: None,
                size: None,
                outcome: "latest checkpoint",
            },
            None => plain(404, "no checkpoint", "no cosigned checkpoint of this log"),
        };
    }
    not_found()
}

fn not_found() -> Answer {
    plain(
        404,
        "no such path",
        "not found; a witness serves POST <prefix>/add-checkpoint",
    )
}

fn plain(status: u16, outcome: &'static str, message: &str) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{message}\n"),
        origin: None,
        size: None,
        outcome,
    }
}
