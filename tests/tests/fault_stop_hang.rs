//! Stopping is bounded in time (issue 20, security probe item 1): a log whose flush hangs (here
//! its writes are held by the audit crate's test hook, as a disk that stopped answering would
//! hold them) no longer keeps the process alive after SIGTERM. `serve` gives up after `[limits]
//! stop_timeout_secs` with `ServeError::StopTimedOut`, which `loopgate serve` turns into exit
//! status 75 (EX_TEMPFAIL: systemd restarts it; unit test in `cmd::serve`).
//!
//! The gateway runs in this test process (`loopgate::serve`, the code `loopgate serve` runs):
//! the hook holds the writes of every log in the process, so this file holds one test.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use loopgate_audit::test_hooks::hold_writes;
use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Folder};

#[test]
fn a_flush_that_hangs_ends_serve_with_stop_timed_out() {
    let folder = Folder::init();
    let path = folder.path().join("gateway.toml");
    let config = ConfigToml(std::fs::read_to_string(&path).unwrap().parse().unwrap())
        .set("server", "listen", "127.0.0.1:0")
        .set("server", "ops_listen", "127.0.0.1:0")
        .set("demo_upstream", "listen", "127.0.0.1:0")
        .limit("drain_timeout_secs", 1)
        .limit("stop_timeout_secs", 1);
    std::fs::write(&path, toml::to_string(&config.0).unwrap()).unwrap();
    let config = loopgate::Config::load(&path).unwrap();
    let (bound, ready) = mpsc::channel();
    let (ended, end) = mpsc::channel();
    // The server thread ends with the test process (its log stays stuck in the hook).
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let served = runtime.block_on(loopgate::serve(
            config,
            loopgate::Clock::system(),
            move |addresses| {
                let _ = bound.send(addresses);
            },
        ));
        let _ = ended.send(served.map_err(|e| e.to_string()));
        runtime.shutdown_timeout(Duration::from_millis(100));
    });
    let addresses = ready.recv_timeout(Duration::from_secs(30)).unwrap();
    let sender = Client::principal_of(folder.path(), addresses.api, "tenant", "sz-genomics");

    let held = hold_writes();
    std::thread::spawn(move || sender.post_transfer().non_personal().body("x").try_send());
    assert!(
        held.wait_for_batch(Duration::from_secs(10)),
        "the decision record reached the log's writer"
    );
    let stopping = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let served = end
        .recv_timeout(Duration::from_secs(30))
        .expect("serve did not return although the log's flush hangs");
    let error = served.expect_err("a stop whose flush hung is an error");
    assert!(error.contains("stop_timeout_secs"), "{error}");
    assert!(error.contains("status 75"), "{error}");
    // The drain (1 s) and the stop bound (1 s), not the hang, decided when.
    assert!(stopping.elapsed() < Duration::from_secs(10));
    drop(held);
}
