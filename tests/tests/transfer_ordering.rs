//! No byte reaches the upstream before the decision is durable, deterministically: the log's
//! writes are held (the audit crate's test hook, as a disk that stalls would hold them) while a
//! transfer is sent; with its decision record queued but not written, the upstream sees no
//! connection at all, and the sender no answer. Released, the decision is written and synced,
//! then the body goes through whole and the receipt comes back.
//!
//! The gateway runs in this test process (`loopgate::serve`, the code `loopgate serve` runs):
//! the hook holds the writes of every log in the process, so this file holds one test.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::Duration;

use loopgate_audit::test_hooks::hold_writes;
use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Folder, eventually};
use loopgate_tests::upstream::Answering;

#[test]
fn the_upstream_sees_nothing_until_the_decision_is_durable() {
    let probe = Answering::start(201);
    let folder = Folder::init();
    let path = folder.path().join("gateway.toml");
    let config = ConfigToml(std::fs::read_to_string(&path).unwrap().parse().unwrap())
        .set("server", "listen", "127.0.0.1:0")
        .set("server", "ops_listen", "127.0.0.1:0")
        .upstream_with_ca("hk-biolab", &probe.url(), &probe.ca_path());
    std::fs::write(&path, toml::to_string(&config.0).unwrap()).unwrap();
    let config = loopgate::Config::load(&path).unwrap();
    let (bound, ready) = mpsc::channel();
    // The server thread ends with the test process.
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
        if let Err(e) = served {
            panic!("loopgate::serve: {e}");
        }
    });
    let addresses = ready.recv_timeout(Duration::from_secs(30)).unwrap();
    let sender = Client::principal_of(folder.path(), addresses.api, "tenant", "sz-genomics");
    let body = b"qc run 7: sensors nominal".to_vec();

    let held = hold_writes();
    let expected = body.clone();
    let sending =
        std::thread::spawn(move || sender.post_transfer().non_personal().body(expected).send());
    assert!(
        held.wait_for_batch(Duration::from_secs(10)),
        "the decision record reached the log's writer"
    );
    // Its decision is queued, not durable: nothing may have left the gateway. (A broken order
    // would connect at once; half a second is ample for it to show, and the hold keeps the
    // window open however long the check takes.)
    let early = eventually(Duration::from_millis(500), || {
        (probe.connections() > 0).then_some(probe.connections())
    });
    assert_eq!(
        early, None,
        "the upstream was reached before the decision was durable"
    );
    assert!(
        !sending.is_finished(),
        "no answer before the decision is durable"
    );

    drop(held);
    let answer = sending.join().unwrap();
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(probe.bodies(), [body]);
    assert_eq!((probe.connections(), probe.incomplete()), (1, 0));
    let receipt = answer.json();
    assert_eq!(receipt["record"]["outcome"], "completed");
    assert!(receipt["log_index"].as_u64().unwrap() > 0);
}
