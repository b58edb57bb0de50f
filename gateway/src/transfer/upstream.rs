//! The recipients' upstreams: pooled HTTPS connections per recipient tenant (rustls + ring,
//! HTTP/1.1 or HTTP/2 as the upstream's ALPN says), each trusting only that upstream's CA.
//!
//! Each connection lane (see `server::lanes`) has its own pool, so a transfer's upstream
//! connection lives on the thread that serves its client connection: no request crosses threads
//! on its way to the upstream. Threads outside every lane share one more pool (see `pool`).

mod pool;

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::body::{Body, Bytes};

use crate::config::{Limits, Upstream};
use crate::tls::{TlsError, upstream_client_config};

/// Why an upstream did not take a body.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No upstream is configured for this recipient.
    #[error("no upstream is configured for recipient {0:?}; add an [[upstream]] to the config")]
    NotConfigured(String),
    /// Connection refused, TLS failure, reset, or the request body was aborted.
    #[error("the upstream failed: {0}")]
    Unavailable(String),
    /// No answer within the configured time.
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The gateway itself could not open the connection: it ran out of a local resource
    /// (file descriptors, memory). The recipient is not at fault (`gateway.unavailable`).
    #[error("the gateway cannot open a connection to the upstream: {0}")]
    Local(String),
}

/// Whether an I/O error is the gateway's own shortage (EMFILE, ENFILE, ENOMEM, ENOBUFS)
/// rather than anything the upstream did.
pub(crate) fn is_local_shortage(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
    )
}

/// Connection pools for every configured recipient, each with a slot per lane and one for
/// threads outside every lane (slot 0).
pub struct Upstreams<B> {
    targets: BTreeMap<String, pool::Pool<B>>,
    timeout: Duration,
}

impl<B> Upstreams<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Builds the clients of every upstream for `lanes` connection lanes; fails on the first CA
    /// bundle that cannot be loaded.
    pub fn new(
        upstreams: &BTreeMap<String, Upstream>,
        limits: &Limits,
        lanes: usize,
    ) -> Result<Self, TlsError> {
        let mut targets = BTreeMap::new();
        for (tenant, upstream) in upstreams {
            let tls = upstream_client_config(&upstream.ca)?;
            let pool = pool::Pool::new(
                &upstream.url,
                tls,
                limits.upstream_connect_timeout,
                lanes + 1,
            )?;
            targets.insert(tenant.clone(), pool);
        }
        Ok(Self {
            targets,
            timeout: limits.upstream_timeout,
        })
    }

    /// Whether `tenant` has an upstream.
    pub fn has(&self, tenant: &str) -> bool {
        self.targets.contains_key(tenant)
    }

    /// POSTs `body` to `tenant`'s upstream with `headers` and returns its status once it has
    /// answered, all within `[limits] upstream_timeout_secs`. The upstream's response body is
    /// drained and dropped.
    pub async fn send(
        &self,
        tenant: &str,
        headers: HeaderMap,
        body: B,
    ) -> Result<StatusCode, UpstreamError> {
        tokio::time::timeout(self.timeout, self.send_untimed(tenant, headers, body))
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }

    /// As [`Upstreams::send`] without its total timeout: the caller times it (a transfer from
    /// the progress of its body, `transfer::forward`).
    pub(crate) async fn send_untimed(
        &self,
        tenant: &str,
        mut headers: HeaderMap,
        body: B,
    ) -> Result<StatusCode, UpstreamError> {
        let pool = self
            .targets
            .get(tenant)
            .ok_or_else(|| UpstreamError::NotConfigured(tenant.to_owned()))?;
        headers
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/octet-stream"));
        let lane = crate::server::lanes::current();
        pool.post(lane, headers, body).await
    }

    /// `[limits] upstream_timeout_secs`.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// An error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_or_memory_is_the_gateways_own_fault() {
        for local in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS] {
            assert!(is_local_shortage(&std::io::Error::from_raw_os_error(local)));
        }
        for remote in [
            libc::ECONNREFUSED,
            libc::ECONNRESET,
            libc::ETIMEDOUT,
            libc::EHOSTUNREACH,
        ] {
            assert!(!is_local_shortage(&std::io::Error::from_raw_os_error(
                remote
            )));
        }
        assert!(!is_local_shortage(&std::io::Error::other("tls")));
    }
}
