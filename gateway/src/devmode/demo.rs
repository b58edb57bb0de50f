//! The built-in demo upstream of dev mode: an HTTPS server on loopback that stores each body it
//! receives under `received/`. A body is written to `<name>.part` and renamed to `<name>` only
//! once it arrived complete, so a transfer the gateway aborted never appears as a file; one cut
//! off (the gateway aborted it) is renamed to `<name>.aborted` once the demo has seen the end
//! of it, so what arrived stays visible and a test can wait for that instead of sleeping.
//! Tests use it as the real upstream on loopback.
//!
//! [`start`] is its wiring into a gateway whose config has a `[demo_upstream]`: bound before
//! the gateway serves, and the upstream of the recipient it stands in for.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use ring::digest;
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{DemoUpstreamConfig, Upstream};
use crate::tls::TlsError;

/// Why the demo upstream cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Its address cannot be bound (or read back).
    #[error("cannot start the demo upstream on {addr}: {source}")]
    Bind {
        /// The `[demo_upstream] listen` address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Its certificate or key.
    #[error("[demo_upstream]: {0}")]
    Tls(#[from] TlsError),
}

/// The demo upstream of a running gateway, and the `[[upstream]]` entry it is for the tenant
/// it stands in for.
pub(crate) struct Demo {
    pub(crate) upstream: DemoUpstream,
    pub(crate) tenant: String,
    pub(crate) entry: Upstream,
}

impl Demo {
    /// The tenant it stands in for and its `[[upstream]]` entry.
    pub(crate) fn target(&self) -> (&str, &Upstream) {
        (&self.tenant, &self.entry)
    }
}

/// Starts the demo upstream `[demo_upstream]` describes.
pub(crate) async fn start(settings: &DemoUpstreamConfig) -> Result<Demo, DemoError> {
    let bind = |source| DemoError::Bind {
        addr: settings.listen,
        source,
    };
    let listener = TcpListener::bind(settings.listen).await.map_err(bind)?;
    let tls = crate::tls::plain_server_config(&settings.cert, &settings.key)?;
    let upstream = DemoUpstream::start(listener, tls, settings.received.clone())
        .await
        .map_err(bind)?;
    let url = format!("https://localhost:{}/ingest", upstream.addr().port())
        .parse()
        .map_err(|_| bind(std::io::Error::other("no URL for the demo upstream")))?;
    Ok(Demo {
        entry: Upstream {
            url,
            ca: settings.ca.clone(),
        },
        tenant: settings.tenant.clone(),
        upstream,
    })
}

/// A running demo upstream; it stops when this is dropped.
pub struct DemoUpstream {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl DemoUpstream {
    /// Serves on `listener` with `tls`, storing bodies in `dir` (created if missing).
    pub async fn start(
        listener: TcpListener,
        tls: Arc<ServerConfig>,
        dir: PathBuf,
    ) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(&dir).await?;
        let swept = dir.clone();
        tokio::task::spawn_blocking(move || abort_leftovers(&swept)).await??;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let acceptor = TlsAcceptor::from(tls);
        let store = Arc::new(Store {
            dir,
            next: AtomicU64::new(1),
        });
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => return,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let store = store.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |request| {
                        let store = store.clone();
                        async move { Ok::<_, Infallible>(store.receive(request).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, stop })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DemoUpstream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Store {
    dir: PathBuf,
    next: AtomicU64,
}

/// A body's `.part` file until it is complete: dropped before, it becomes `.aborted`.
struct Unfinished(Option<PathBuf>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(part) = self.0.take() {
            // A rename within one directory: quick enough for the demo's async context.
            let _ = std::fs::rename(&part, part.with_extension("aborted"));
        }
    }
}

impl Store {
    async fn receive(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let name = request
            .headers()
            .get("loop-transfer-id")
            .and_then(|v| v.to_str().ok())
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 64
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .map(str::to_owned)
            .unwrap_or_else(|| format!("body-{}", self.next.fetch_add(1, Ordering::Relaxed)));
        match self.write(&name, request.into_body()).await {
            Ok((bytes, sha256)) => json(
                StatusCode::CREATED,
                format!(r#"{{"stored":"{name}","bytes":{bytes},"sha256":"{sha256}"}}"#),
            ),
            Err(e) => json(
                StatusCode::BAD_REQUEST,
                format!(
                    r#"{{"error":"incomplete body","message":"{}"}}"#,
                    e.to_string().replace('"', "'")
                ),
            ),
        }
    }

    async fn write(&self, name: &str, mut body: Incoming) -> std::io::Result<(u64, String)> {
        let part = self.dir.join(format!("{name}.part"));
        // Created before the first await, and marked aborted however this ends early: an
        // error, or (HTTP/2) the stream reset, when hyper drops this future at any await. (A
        // create on the blocking pool could finish after such a drop and leave a `.part` that
        // nothing ever ends.)
        let file = std::fs::File::create(&part)?;
        let mut unfinished = Unfinished(Some(part.clone()));
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = digest::Context::new(&digest::SHA256);
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(std::io::Error::other)?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                bytes += data.len() as u64;
                file.write_all(&data).await?;
            }
        }
        file.sync_all().await?;
        tokio::fs::rename(&part, self.dir.join(name)).await?;
        unfinished.0 = None;
        let hex: String = hasher
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((bytes, hex))
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Marks the `.part` files a stopped process left (killed or crashed while a body arrived; a
/// running demo renames them itself) as `.aborted`: what arrived stays visible, and nothing in
/// `received/` stays unfinished across a restart.
fn abort_leftovers(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "part") {
            tracing::info!(file = %path.display(), "a body cut off by the last stop: renamed .aborted");
            std::fs::rename(&path, path.with_extension("aborted"))?;
        }
    }
    Ok(())
}

/// The completed bodies in `dir` (`.part` and `.aborted` files are incomplete and left out),
/// sorted.
pub fn received(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.ends_with(".part") && !name.ends_with(".aborted"))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_cut_off_by_the_last_stop_is_marked_aborted_at_start() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["done", "cut.part", "earlier.aborted"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        abort_leftovers(dir.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["cut.aborted", "done", "earlier.aborted"]);
        assert_eq!(received(dir.path()).unwrap(), ["done"]);
    }
}
