//! Fail closed on a real write error: the child runs under a file-size limit (RLIMIT_FSIZE set
//! by `ulimit -S -f`, SIGXFSZ ignored) so the segment write fails with EFBIG. Nothing of the
//! failing batches is acknowledged, the log reports itself unavailable, and once the limit is
//! lifted (`prlimit` on the running child) the same process appends again without a gap.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use loopgate_audit::verify_dir;

#[test]
fn a_file_size_limit_fails_appends_closed_and_the_log_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::child_binary();
    // 2048 blocks of 512 bytes: 1 MiB per file; records of 16 KiB reach it after ~60.
    let script = format!(
        "trap '' XFSZ; ulimit -S -f 2048 && exec '{}' '{}' fsize 4 16384",
        bin.display(),
        dir.path().display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let mut errors = 0;
    loop {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            acked.push(rest.split(' ').next().unwrap().parse::<u64>().unwrap());
        } else if line.starts_with("err ") {
            assert!(line.contains("unavailable"), "{line}");
            errors += 1;
        } else if line == "unavailable" {
            break;
        } else if line != "open 0" {
            panic!("unexpected line {line} (the log should be unavailable after errors)");
        }
    }
    assert!(
        errors >= 20 && !acked.is_empty(),
        "{errors} errors, {} acks",
        acked.len()
    );
    acked.sort_unstable();
    assert_eq!(
        acked,
        (0..acked.len() as u64).collect::<Vec<_>>(),
        "acks are contiguous"
    );
    let before = acked.len() as u64;

    // Lift the limit on the running child; it must append again without a restart.
    let lifted = Command::new("prlimit")
        .args(["--pid", &child.id().to_string(), "--fsize=unlimited"])
        .status()
        .is_ok_and(|s| s.success());
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    drop(stdin);
    let mut after = Vec::new();
    for line in lines {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            after.push(rest.split(' ').next().unwrap().parse::<u64>().unwrap());
        } else if line == "done" {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
    if lifted {
        assert_eq!(
            after,
            (before..before + 5).collect::<Vec<_>>(),
            "recovered without a gap"
        );
    } else {
        eprintln!("!!!!! prlimit is missing: in-process recovery after EFBIG not checked");
    }

    // Nothing unacknowledged became part of the log ambiguously; reopened, it is sound.
    let log = common::open(dir.path());
    assert_eq!(log.size(), before + after.len() as u64);
    drop(log);
    assert_eq!(
        verify_dir(dir.path(), None).unwrap().size,
        before + after.len() as u64
    );
}
