//! `[server] worker_threads`: that many connection lanes serve the API (0 or absent: one per
//! CPU), as the `loopgate ready` line reports; a transfer goes through with one lane, and
//! connections dealt to every lane of three each carry their transfers to the upstream.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};

/// The `workers` field of the gateway's `loopgate ready` line.
fn workers(gw: &Gateway) -> usize {
    let stderr = gw.stderr_once(|s| s.contains("loopgate ready"));
    let line = stderr
        .lines()
        .find(|l| l.contains("loopgate ready"))
        .unwrap_or_else(|| panic!("no ready line: {stderr}"));
    let value = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("workers="))
        .unwrap_or_else(|| panic!("no workers field: {line}"));
    value.parse().unwrap()
}

#[test]
fn the_runtime_has_the_configured_number_of_workers() {
    for n in [1, 3] {
        let gw = Gateway::dev()
            .config(move |c: ConfigToml| c.set("server", "worker_threads", n))
            .start();
        assert_eq!(workers(&gw), n as usize);
        let r = Client::tenant(&gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .body("one worker or three")
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

#[test]
fn by_default_the_runtime_has_a_worker_per_cpu() {
    let gw = Gateway::dev().start();
    assert_eq!(workers(&gw), loopgate::default_worker_threads());
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.set("server", "worker_threads", 0))
        .start();
    assert_eq!(workers(&gw), loopgate::default_worker_threads());
}

#[test]
fn connections_on_every_lane_carry_their_transfers_and_reads() {
    let gw = Gateway::dev()
        .config(|c: ConfigToml| c.set("server", "worker_threads", 3))
        .start();
    assert_eq!(workers(&gw), 3);
    let pid = gw.pid().expect("the gateway runs");
    let mut lanes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("loopgate-lane-"))
        .collect();
    lanes.sort();
    assert_eq!(
        lanes,
        ["loopgate-lane-1", "loopgate-lane-2", "loopgate-lane-3"]
    );
    // Six transfers at once, each on a connection of its own, dealt in turn: two per lane.
    let clients: Vec<Client> = (0..6).map(|_| Client::tenant(&gw, "sz-genomics")).collect();
    let sent: Vec<(String, String)> = std::thread::scope(|scope| {
        let calls: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, client)| {
                scope.spawn(move || {
                    let body = format!("lane test body {i}");
                    let r = client
                        .post_transfer()
                        .non_personal()
                        .body(body.clone())
                        .send();
                    assert_eq!(r.status, 201, "{}", r.text());
                    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
                    (id, body)
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (client, (id, body)) in clients.iter().zip(&sent) {
        assert_eq!(gw.received_body(id).unwrap(), body.as_bytes());
        // Each call is a connection of its own: the reads go round the lanes too.
        let r = client.get(&format!("/v1/transfers/{id}"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["transfer_id"], id.as_str());
    }
}
