//! Raw HTTP/1.1 over the gateway's TLS, for requests no client library sends: bytes that are
//! not UTF-8 in a header, a `Content-Length` that is not a number, unknown methods, paths that
//! are not normalised. Unlike [`Client::raw_http1`] it does not half-close: the request is
//! complete, and the connection stays open until the gateway has answered and closed it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{Client, runtime};

/// How long one raw exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status, head and the body as JSON (`Null` when it is not JSON).
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: serde_json::Value,
    /// Everything received, for failure messages.
    pub text: String,
}

/// Sends `request` (send `Connection: close`), reads until the gateway closes, parses the
/// first answer. `Err` when the connection ended without any answer.
pub fn exchange(client: &Client, request: &[u8]) -> Result<RawAnswer, String> {
    let run = async {
        let mut tls = client.connect().await?;
        tls.write_all(request).await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        // A close without close_notify after a whole answer is still an answer.
        let read = tls.read_to_end(&mut out).await;
        match read {
            Err(e) if out.is_empty() => Err(format!("no answer: {e}")),
            _ => Ok(String::from_utf8_lossy(&out).into_owned()),
        }
    };
    let text = runtime().block_on(async {
        tokio::time::timeout(TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err("no answer in time".to_owned()))
    })?;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok(RawAnswer {
        status,
        head: head.to_owned(),
        body: serde_json::from_str(payload).unwrap_or(serde_json::Value::Null),
        text: text.clone(),
    })
}
