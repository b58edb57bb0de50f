//! Crash test (DESIGN invariant 3): a child appending under load is killed with SIGKILL; on
//! reopen every record it had acknowledged (reported on a pipe only after the
//! acknowledgement) is present with identical bytes, and the log verifies.
//! `AUDIT_HEAVY=1` runs more rounds.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loopgate_audit::{leaf_hash, verify_dir};

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_record() {
    let rounds = if std::env::var_os("AUDIT_HEAVY").is_some() {
        10
    } else {
        3
    };
    let dir = tempfile::tempdir().unwrap();
    let bin = common::child_binary();
    let mut acked: Vec<(u64, String)> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(&bin)
            .args([dir.path().to_str().unwrap(), "crash", "16", "300"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let opened = lines.next().unwrap().unwrap();
        assert!(opened.starts_with("open "), "{opened}");
        // Let it run for a varying while, then kill it mid-flight.
        let deadline = Instant::now() + Duration::from_millis(150 + 70 * round);
        let mut this_round = 0;
        while Instant::now() < deadline {
            let line = lines.next().unwrap().unwrap();
            let mut parts = line.split(' ');
            match parts.next() {
                Some("ack") => {
                    let index: u64 = parts.next().unwrap().parse().unwrap();
                    acked.push((index, parts.next().unwrap().to_owned()));
                    this_round += 1;
                }
                _ => panic!("unexpected line from child: {line}"),
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements still in the pipe were acknowledged before the kill: they count too.
        for line in lines {
            let line = line.unwrap();
            let mut parts = line.split(' ');
            if parts.next() == Some("ack") {
                let index: u64 = parts.next().unwrap().parse().unwrap();
                acked.push((index, parts.next().unwrap().to_owned()));
            }
        }
        assert!(
            this_round > 0,
            "the child acknowledged nothing in round {round}"
        );

        let log = common::open(dir.path());
        for (index, hash) in &acked {
            let leaf = log
                .read(*index)
                .unwrap_or_else(|e| panic!("acknowledged record {index} lost: {e}"));
            assert_eq!(&hex(&leaf_hash(&leaf)), hash, "record {index} changed");
        }
        assert!(log.size() as usize >= acked.len());
        drop(log);
        let report = verify_dir(dir.path(), None).unwrap();
        assert!(report.torn_tail.is_none(), "recovery cut the tail already");
    }
}
