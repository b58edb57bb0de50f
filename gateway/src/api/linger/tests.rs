use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};

use super::*;

const BOUNDS: Lingering = Lingering {
    bytes: 10,
    time: Duration::from_secs(5),
    timeout: Duration::from_secs(5),
};

async fn sent(parts: &[&'static [u8]]) -> (Sender<Bytes, String>, Channel<Bytes, String>) {
    let (mut sender, body) = Channel::new(8);
    for part in parts {
        sender
            .send_data(Bytes::from_static(part))
            .await
            .expect("sent");
    }
    (sender, body)
}

#[tokio::test]
async fn a_body_within_the_bound_is_read_to_its_end() {
    let (sender, body) = sent(&[b"abcd", b"efgh"]).await;
    drop(sender);
    assert_eq!(drain(body, BOUNDS).await, (Drained::ToEnd, 8));
}

#[tokio::test]
async fn a_body_past_the_byte_bound_is_cut() {
    let (_sender, body) = sent(&[b"abcdef", b"ghijkl", b"mnop"]).await;
    assert_eq!(drain(body, BOUNDS).await, (Drained::Bytes, 12));
    let nothing = Lingering { bytes: 0, ..BOUNDS };
    let (_sender, body) = sent(&[b"a"]).await;
    assert_eq!(drain(body, nothing).await, (Drained::Bytes, 0));
}

#[tokio::test]
async fn a_client_that_stops_sending_is_cut_at_the_idle_or_total_bound() {
    let quick = Lingering {
        timeout: Duration::from_millis(50),
        ..BOUNDS
    };
    let (_sender, body) = sent(&[b"abc"]).await;
    assert_eq!(drain(body, quick).await, (Drained::Idle, 3));

    let short = Lingering {
        time: Duration::from_millis(200),
        timeout: Duration::from_millis(150),
        bytes: 1 << 20,
    };
    let (mut sender, body) = sent(&[]).await;
    // A trickle that never pauses for the idle bound still ends at the total one.
    let trickle = tokio::spawn(async move {
        while sender.send_data(Bytes::from_static(b"x")).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let (outcome, read) = drain(body, short).await;
    assert_eq!(outcome, Drained::Time);
    assert!(read > 0);
    trickle.await.expect("the trickle ended");
}

#[tokio::test]
async fn a_body_the_client_aborts_ends_the_drain() {
    let (sender, body) = sent(&[b"abc"]).await;
    sender.abort("reset".to_owned());
    assert_eq!(drain(body, BOUNDS).await, (Drained::Closed, 3));
}
