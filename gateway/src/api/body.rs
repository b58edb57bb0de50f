//! The one reader of whole request bodies (JSON events and suspensions, TOML bundles): at most
//! the endpoint's limit, refused up front when `Content-Length` declares more; a body that
//! stops arriving for `[limits] body_idle_timeout_secs` is refused as stalled; a body the
//! client cut off is refused as incomplete. Transfer bodies are streamed instead
//! (`transfer::body`).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, header};
use http_body_util::BodyExt;
use hyper::body::Body;
use loopgate_policy::ReasonCode;

use crate::api::RequestBody;
use crate::reply::ApiError;

/// 400 `request.malformed_body`: a body read whole that is not what the endpoint takes.
pub(crate) fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ReasonCode::RequestMalformedBody).message(message)
}

/// `request.malformed_body` when the text of field `name` has more than `max` characters.
pub(crate) fn bounded(name: &str, text: Option<&str>, max: usize) -> Result<(), ApiError> {
    let chars = text.map_or(0, |t| t.chars().count());
    if chars > max {
        return Err(malformed(format!(
            "{name} has {chars} characters; keep it to {max}"
        )));
    }
    Ok(())
}

/// Reads the whole body of `request`, at most `limit` bytes, with `idle` the longest pause
/// between two of its chunks.
pub(crate) async fn read_whole(
    request: Request<RequestBody>,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, ApiError> {
    read(request, limit, idle).await
}

async fn read<B>(request: Request<B>, limit: usize, idle: Duration) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let too_large = || {
        ApiError::new(ReasonCode::RequestBodyTooLarge).message(format!(
            "the body is larger than {limit} bytes; send at most {limit}"
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    let mut collected = BytesMut::new();
    loop {
        let frame = tokio::time::timeout(idle, body.frame())
            .await
            .map_err(|_| {
                ApiError::new(ReasonCode::RequestStalled).message(format!(
                    "the request body stopped arriving for {} s; send it without pauses",
                    idle.as_secs()
                ))
            })?;
        let Some(frame) = frame else {
            return Ok(collected.freeze());
        };
        let frame = frame.map_err(|e| {
            ApiError::new(ReasonCode::RequestBodyIncomplete)
                .message(format!("the request body was cut off: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if collected.len() + data.len() > limit {
                return Err(too_large());
            }
            collected.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::channel::{Channel, Sender};

    use super::*;

    const IDLE: Duration = Duration::from_secs(5);
    const LIMIT: usize = 16;

    /// A body fed through a channel, and the request carrying it.
    fn request(declared: Option<u64>) -> (Sender<Bytes, String>, Request<Channel<Bytes, String>>) {
        let (sender, body) = Channel::new(8);
        let mut builder = Request::post("/");
        if let Some(n) = declared {
            builder = builder.header(header::CONTENT_LENGTH, n);
        }
        (sender, builder.body(body).expect("a request"))
    }

    async fn code(
        declared: Option<u64>,
        parts: &[&'static [u8]],
        end: Result<(), &str>,
        idle: Duration,
    ) -> Result<Bytes, ReasonCode> {
        let (mut sender, request) = request(declared);
        for part in parts {
            sender
                .send_data(Bytes::from_static(part))
                .await
                .expect("sent");
        }
        let reading = tokio::spawn(async move { read(request, LIMIT, idle).await });
        match end {
            Ok(()) => drop(sender),
            Err(why) => sender.abort(why.to_owned()),
        }
        reading.await.expect("the reader ran").map_err(|e| e.code)
    }

    #[tokio::test]
    async fn bodies_within_the_limit_are_read_whole() {
        let read = code(Some(8), &[b"abcd", b"efgh"], Ok(()), IDLE).await;
        assert_eq!(read.as_deref(), Ok(&b"abcdefgh"[..]));
        let exact = code(None, &[b"0123456789abcdef"], Ok(()), IDLE).await;
        assert_eq!(exact.map(|b| b.len()), Ok(LIMIT));
        assert_eq!(code(None, &[], Ok(()), IDLE).await.map(|b| b.len()), Ok(0));
    }

    #[tokio::test]
    async fn too_large_bodies_are_refused_declared_or_not() {
        let too_large = ReasonCode::RequestBodyTooLarge;
        assert_eq!(code(Some(17), &[], Ok(()), IDLE).await, Err(too_large));
        assert_eq!(
            code(None, &[b"0123456789", b"abcdefg"], Ok(()), IDLE).await,
            Err(too_large),
            "a body past the limit without Content-Length"
        );
    }

    #[tokio::test]
    async fn cut_off_and_stalled_bodies_are_refused() {
        assert_eq!(
            code(None, &[b"abc"], Err("reset"), IDLE).await,
            Err(ReasonCode::RequestBodyIncomplete)
        );
        let (mut sender, request) = request(Some(10));
        sender
            .send_data(Bytes::from_static(b"abc"))
            .await
            .expect("sent");
        let stalled = read(request, LIMIT, Duration::from_millis(50)).await;
        assert_eq!(stalled.map_err(|e| e.code), Err(ReasonCode::RequestStalled));
        drop(sender);
    }
}
