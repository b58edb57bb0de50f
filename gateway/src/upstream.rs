//! The recipients' upstreams: pooled HTTPS clients per recipient tenant (rustls + ring through
//! hyper-rustls), each trusting only that upstream's CA.
//!
//! Each connection lane (see `server::lanes`) has its own pool, so a transfer's upstream
//! connection lives on the thread that serves its client connection: no request crosses threads
//! on its way to the upstream. Threads outside every lane share one more pool.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use hyper::body::{Body, Bytes};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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
}

type Connector = HttpsConnector<HttpConnector>;

struct Target {
    url: Uri,
}

/// Pooled clients for every configured recipient: per recipient, one per lane and one for
/// threads outside every lane (index 0).
pub struct Upstreams<B> {
    targets: BTreeMap<String, (Target, Vec<Client<Connector, B>>)>,
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
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_connect_timeout(Some(limits.upstream_connect_timeout));
            http.set_nodelay(true);
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls).clone())
                .https_only()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http);
            let clients = (0..=lanes)
                .map(|_| {
                    Client::builder(TokioExecutor::new())
                        .pool_idle_timeout(Duration::from_secs(90))
                        .build(connector.clone())
                })
                .collect();
            targets.insert(
                tenant.clone(),
                (
                    Target {
                        url: upstream.url.clone(),
                    },
                    clients,
                ),
            );
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
    /// answered. The upstream's response body is drained and dropped.
    pub async fn send(
        &self,
        tenant: &str,
        headers: HeaderMap,
        body: B,
    ) -> Result<StatusCode, UpstreamError> {
        let (target, clients) = self
            .targets
            .get(tenant)
            .ok_or_else(|| UpstreamError::NotConfigured(tenant.to_owned()))?;
        let client = clients
            .get(crate::server::lanes::current())
            .or_else(|| clients.first())
            .ok_or_else(|| UpstreamError::NotConfigured(tenant.to_owned()))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(target.url.clone())
            .body(body)
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        *request.headers_mut() = headers;
        request
            .headers_mut()
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/octet-stream"));
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| UpstreamError::Unavailable(error_chain(&e)))?;
            let status = response.status();
            // Read the (small) answer so the connection can go back to the pool.
            let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            Ok(status)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
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
