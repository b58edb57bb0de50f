//! One `add-checkpoint` request to a witness (C2SP `tlog-witness`): HTTP/1.1, TLS for an
//! `https` url (trusting only the `[[witness]] ca`), the whole exchange bounded by
//! [`REQUEST_TIMEOUT`] and the answer by [`MAX_ANSWER`].
//!
//! The connection is kept open for the next request (at most one request is in flight per
//! witness, so one connection is all a witness needs). A new connection per request cost a
//! TCP handshake (and for `https` a TLS handshake) per round, on both sides. A kept connection
//! the witness closed meanwhile fails before an answer arrives; the request is then sent once
//! more on a new connection (the witness may have handled the first: the second then gets a
//! 409 naming the size it holds, which the cosigning task resends from, as after any 409).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
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
    /// The connection of the last request, kept for the next one.
    kept: Mutex<Option<Connection>>,
}

/// An open HTTP/1.1 connection to the witness.
#[derive(Debug)]
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// Drives the connection; aborted when the connection is dropped.
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why one attempt got no answer, and whether it may be sent again on a new connection.
struct Failure {
    why: String,
    /// The request went out on a kept connection and failed before any answer arrived.
    retry: bool,
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
            kept: Mutex::new(None),
        })
    }

    /// The witness's name.
    pub(super) fn name(&self) -> &str {
        &self.target.name
    }

    /// Posts `body` to `<url>/add-checkpoint`; `Err` says why no answer came.
    pub(super) async fn add_checkpoint(&self, body: String) -> Result<Answer, String> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.post(Bytes::from(body))).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        }
    }

    async fn post(&self, body: Bytes) -> Result<Answer, String> {
        if let Some(connection) = self.take_kept() {
            match self.exchange(connection, body.clone(), true).await {
                Ok(answer) => return Ok(answer),
                Err(failure) if !failure.retry => return Err(failure.why),
                Err(_) => {}
            }
        }
        let connection = self.connect().await?;
        self.exchange(connection, body, false)
            .await
            .map_err(|f| f.why)
    }

    /// The kept connection, when it is still open.
    fn take_kept(&self) -> Option<Connection> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|c| !c.sender.is_closed())
    }

    async fn connect(&self) -> Result<Connection, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.handshake(tcp).await,
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| format!("{:?} is not a TLS server name", self.host))?;
                let stream = TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.authority))?;
                self.handshake(stream).await
            }
        }
    }

    async fn handshake<IO>(&self, io: IO) -> Result<Connection, String>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender, task })
    }

    /// Sends one request on `connection` and reads the answer; the connection is kept when
    /// the exchange completed and the witness did not close it.
    async fn exchange(
        &self,
        mut connection: Connection,
        body: Bytes,
        reused: bool,
    ) -> Result<Answer, Failure> {
        let failed = |why: String, before_answer: bool| Failure {
            why,
            retry: reused && before_answer,
        };
        let uri: Uri = self
            .path
            .parse()
            .map_err(|_| failed(format!("bad path {:?}", self.path), false))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(body))
            .map_err(|e| failed(format!("cannot build the request: {e}"), false))?;
        let response = connection
            .sender
            .send_request(request)
            .await
            .map_err(|e| failed(format!("HTTP: {e}"), true))?;
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
            .map_err(|e| failed(format!("cannot read the answer: {e}"), false))?
            .to_bytes();
        if !connection.sender.is_closed() {
            *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(connection);
        }
        Ok(Answer {
            status,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use loopgate_audit::WitnessSigningKey;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// A witness stand-in on loopback that counts the connections it accepts and answers
    /// `requests_per_connection` requests on each (then closes it without answering the next
    /// one, as a witness that timed out an idle connection just as a request went out).
    async fn server(requests_per_connection: usize) -> (Client, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut answered = 0;
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = tcp.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // One whole request: its head and its Content-Length of body.
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() < end + 4 + len {
                            continue;
                        }
                        buf.drain(..end + 4 + len);
                        if answered == requests_per_connection {
                            return; // closed without an answer
                        }
                        answered += 1;
                        let body = format!("answer {answered}\n");
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tcp.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let key = WitnessSigningKey::generate("w.example").unwrap();
        let client = Client::new(WitnessTarget {
            name: "w".into(),
            url: format!("http://{addr}").parse().unwrap(),
            key: key.verifier().clone(),
            ca: None,
        })
        .unwrap();
        (client, accepted)
    }

    #[tokio::test]
    async fn requests_share_one_kept_connection() {
        let (client, accepted) = server(usize::MAX).await;
        for n in 1..=3 {
            let answer = client.add_checkpoint("body".into()).await.unwrap();
            assert_eq!((answer.status, answer.body), (200, format!("answer {n}\n")));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    /// The kept connection fails before any answer: the request goes out once more, on a new
    /// connection, and the caller sees only the answer.
    #[tokio::test]
    async fn a_kept_connection_closed_under_a_request_is_replaced_at_once() {
        let (client, accepted) = server(1).await;
        for _ in 0..3 {
            let answer = client.add_checkpoint("body".into()).await.unwrap();
            assert_eq!((answer.status, answer.body.as_str()), (200, "answer 1\n"));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_new_connection_that_fails_is_an_error_not_a_loop() {
        let (client, accepted) = server(0).await;
        let err = client.add_checkpoint("body".into()).await.unwrap_err();
        assert!(err.starts_with("HTTP:"), "{err}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
