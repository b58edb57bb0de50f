use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use hyper::body::Body;
use ring::digest;

use super::*;

fn sha(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

fn expected(length: Option<u64>, sha256: Option<[u8; 32]>, max_bytes: u64) -> Expected {
    Expected {
        length,
        sha256,
        max_bytes,
        idle_timeout: Duration::from_secs(5),
    }
}

/// Sends `chunks` through a channel body and collects what the wrapper lets through, frame by
/// frame, until it ends or fails.
async fn forward(
    chunks: &[&'static [u8]],
    expect: Expected,
) -> (Vec<Bytes>, Option<BodyFault>, BodyReport) {
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(chunks.len().max(1));
    for chunk in chunks {
        tx.send_data(Bytes::from_static(chunk)).await.unwrap();
    }
    drop(tx);
    let (mut body, report) = VerifyingBody::new(rx, expect);
    let mut out = Vec::new();
    let mut fault = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => out.push(frame.into_data().unwrap()),
            Err(e) => {
                fault = Some(e);
                break;
            }
        }
    }
    (out, fault, report)
}

#[tokio::test]
async fn a_matching_body_passes_whole_and_is_reported_verified() {
    let data = b"hello, hong kong park";
    let expect = expected(Some(data.len() as u64), Some(sha(data)), 1024);
    let (out, fault, report) = forward(&[b"hello, ", b"hong kong", b" park"], expect).await;
    assert_eq!(fault, None);
    assert_eq!(out.concat(), data);
    assert_eq!(
        *report.lock().unwrap(),
        Some(Ok(Verified {
            size: data.len() as u64,
            sha256: sha(data)
        }))
    );
}

#[tokio::test]
async fn a_digest_mismatch_never_releases_the_last_chunk() {
    let expect = expected(Some(9), Some(sha(b"something else")), 1024);
    let (out, fault, report) = forward(&[b"abc", b"def", b"ghi"], expect).await;
    assert_eq!(fault, Some(BodyFault::DigestMismatch));
    assert_eq!(out.concat(), b"abcdef", "the final chunk must be held back");
    assert_eq!(
        *report.lock().unwrap(),
        Some(Err(BodyFault::DigestMismatch))
    );
}

#[tokio::test]
async fn a_short_body_fails_before_its_last_chunk() {
    let (out, fault, _) = forward(&[b"abc", b"def"], expected(Some(10), None, 1024)).await;
    assert_eq!(
        fault,
        Some(BodyFault::LengthMismatch {
            declared: 10,
            actual: 6
        })
    );
    assert_eq!(out.concat(), b"abc");
}

#[tokio::test]
async fn a_long_body_fails_as_soon_as_it_passes_the_declared_length() {
    let (out, fault, _) = forward(&[b"abc", b"def", b"ghi"], expected(Some(5), None, 1024)).await;
    assert_eq!(
        fault,
        Some(BodyFault::LengthMismatch {
            declared: 5,
            actual: 6
        })
    );
    assert_eq!(
        out.concat(),
        b"",
        "nothing past the first chunk, and the first is held"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_item_limit_fails_while_streaming() {
    let (out, fault, _) = forward(&[b"0123", b"4567", b"89"], expected(None, None, 8)).await;
    assert_eq!(fault, Some(BodyFault::TooLarge { limit: 8 }));
    assert_eq!(out.concat(), b"0123");
}

#[tokio::test]
async fn an_empty_body_is_verified_with_the_empty_digest() {
    let (out, fault, report) = forward(&[], expected(Some(0), Some(sha(b"")), 8)).await;
    assert_eq!((out.len(), fault), (0, None));
    assert_eq!(
        *report.lock().unwrap(),
        Some(Ok(Verified {
            size: 0,
            sha256: sha(b"")
        }))
    );
}

#[tokio::test]
async fn a_client_error_mid_body_is_a_fault() {
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(2);
    tx.send_data(Bytes::from_static(b"abc")).await.unwrap();
    tx.abort(std::io::Error::other("connection reset"));
    let (mut body, report) = VerifyingBody::new(rx, expected(None, None, 1024));
    let frame = body.frame().await.unwrap();
    assert!(matches!(frame, Err(BodyFault::Client(_))), "{frame:?}");
    assert!(matches!(
        *report.lock().unwrap(),
        Some(Err(BodyFault::Client(_)))
    ));
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn a_body_cut_short_of_its_content_length_is_a_length_mismatch() {
    // Regression: hyper reports a body that ends before its Content-Length as an error, which
    // was logged as request.body_incomplete; SPEC.md names it request.length_mismatch.
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(2);
    tx.send_data(Bytes::from_static(b"abc")).await.unwrap();
    tx.abort(std::io::Error::other("incomplete message"));
    let (mut body, report) = VerifyingBody::new(rx, expected(Some(10), None, 1024));
    let fault = BodyFault::LengthMismatch {
        declared: 10,
        actual: 3,
    };
    assert_eq!(body.frame().await.unwrap().unwrap_err(), fault);
    assert_eq!(*report.lock().unwrap(), Some(Err(fault)));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_sender_times_out() {
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(2);
    tx.send_data(Bytes::from_static(b"abc")).await.unwrap();
    let mut expect = expected(None, None, 1024);
    expect.idle_timeout = Duration::from_secs(30);
    let (mut body, _report) = VerifyingBody::new(rx, expect);
    let frame = body.frame().await.unwrap();
    assert_eq!(
        frame.unwrap_err(),
        BodyFault::IdleTimeout(Duration::from_secs(30))
    );
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn a_slow_sender_that_keeps_sending_never_times_out_and_a_stall_does() {
    // A chunk every 20 s against a 30 s idle timeout, for longer than the timeout several
    // times over, then a stall: the idle clock counts from the last chunk, not from the start.
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(1);
    let (last_sent, mut sent) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        for _ in 0..5 {
            tx.send_data(Bytes::from_static(b"abc")).await.unwrap();
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
        tx.send_data(Bytes::from_static(b"end")).await.unwrap();
        let _ = last_sent.send(tokio::time::Instant::now());
        std::future::pending::<()>().await;
    });
    let mut expect = expected(None, None, 1024);
    expect.idle_timeout = Duration::from_secs(30);
    let (mut body, report) = VerifyingBody::new(rx, expect);
    let mut passed = 0;
    let fault = loop {
        match body.frame().await.unwrap() {
            Ok(_) => passed += 1,
            Err(fault) => break fault,
        }
    };
    let stalled_at = tokio::time::Instant::now();
    // The last chunk is held back (the body never ended), the five before it went through.
    assert_eq!(passed, 5);
    assert_eq!(fault, BodyFault::IdleTimeout(Duration::from_secs(30)));
    let last = sent.try_recv().unwrap();
    assert_eq!(stalled_at - last, Duration::from_secs(30));
    assert_eq!(*report.lock().unwrap(), Some(Err(fault)));
}

#[test]
fn the_size_hint_is_the_declared_length() {
    let (tx, rx) = Channel::<Bytes, std::io::Error>::new(1);
    drop(tx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (body, _) = VerifyingBody::new(rx, expected(Some(42), None, 1024));
    assert_eq!(body.size_hint().exact(), Some(42));
}

#[tokio::test]
async fn progress_tells_whether_the_transfer_waits_for_the_sender_or_the_upstream() {
    let timeout = Duration::from_secs(60);
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(4);
    let (mut body, _report) = VerifyingBody::new(rx, expected(None, None, 1024));
    let progress = body.progress();
    // Not polled yet (the upstream connection is being opened): the upstream is timed.
    assert!(progress.upstream_deadline(timeout).is_some());
    tx.send_data(Bytes::from_static(b"ab")).await.unwrap();
    tx.send_data(Bytes::from_static(b"cd")).await.unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "ab");
    // A chunk handed on: whether more is taken is up to the upstream.
    assert!(progress.upstream_deadline(timeout).is_some());
    // Asked for more while the sender sends nothing: only its idle timeout applies.
    let waiting = tokio::time::timeout(Duration::from_millis(50), body.frame()).await;
    assert!(waiting.is_err(), "nothing to hand on yet");
    assert_eq!(progress.upstream_deadline(timeout), None);
    // The body's end: the upstream's answer is timed again.
    drop(tx);
    let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(last, "cd");
    assert!(progress.upstream_deadline(timeout).is_some());
}
