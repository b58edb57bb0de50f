use std::sync::Arc;

use loopgate_audit::{Kind, LogConfig, SigningKey};
use time::Duration;

use super::*;

fn open(dir: &std::path::Path) -> Log {
    let key = SigningKey::generate("test.example/log").unwrap();
    Log::open(LogConfig::new(dir.join("data"), "test.example/log", key)).unwrap()
}

fn system(at: OffsetDateTime) -> Result<Record, loopgate_audit::Error> {
    Record::new(Kind::System, at)
}

fn times(log: &Log) -> Vec<OffsetDateTime> {
    (0..log.size())
        .map(|i| {
            Record::from_leaf(&log.read(i).unwrap())
                .unwrap()
                .instant()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_clock_behind_the_log_stamps_the_last_records_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let now = Stamper::new(Clock::system(), &log).unwrap();
    let (_, _, durable) = now.append(&log, system).unwrap();
    durable.await.unwrap();
    // A restart on a machine whose clock is a day late.
    let late = Stamper::new(Clock::shifted(Duration::days(-1)), &log).unwrap();
    let (_, _, durable) = late.append(&log, system).unwrap();
    durable.await.unwrap();
    let times = times(&log);
    assert_eq!(times[1], times[0], "the stamp must not go back a day");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let stamper = Arc::new(Stamper::new(Clock::system(), &log).unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (log, stamper) = (log.clone(), stamper.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let (_, _, durable) = stamper.append(&log, system).unwrap();
                    durable.await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let times = times(&log);
    assert_eq!(times.len(), 400);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}
