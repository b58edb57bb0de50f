//! systemd `Type=notify` (SPEC.md section 8): the gateway, given a `NOTIFY_SOCKET` and a
//! `WATCHDOG_USEC`, says `READY=1` only once its API listener answers, pings `WATCHDOG=1`
//! every half period, brackets a SIGHUP reload with `RELOADING=1` (and `MONOTONIC_USEC`) and
//! `READY=1`, says `STOPPING=1` at SIGTERM, and exits 0. The socket is the test's own unix
//! datagram socket, standing in for systemd.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};

/// A loopback port reserved for the gateway: a socket bound with `SO_REUSEADDR` that never
/// listens holds it, so the OS hands it to no one else, while the gateway (whose listener sets
/// `SO_REUSEADDR` too) can still bind it and listen. Keep the socket until the gateway runs.
fn reserved_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Each datagram, and for the first one whether the API port took a connection at the moment
/// it arrived.
fn listen(socket: UnixDatagram, api: SocketAddr) -> mpsc::Receiver<(String, Option<bool>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut first = true;
        while let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let answered = first.then(|| TcpStream::connect(api).is_ok());
            first = false;
            if tx.send((message, answered)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Messages until one satisfies `until` (which is returned with those before it).
fn until(
    rx: &mpsc::Receiver<(String, Option<bool>)>,
    what: &str,
    until: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (message, _) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {what} from the gateway; got {seen:?}"));
        let done = until(&message);
        seen.push(message);
        if done {
            return seen;
        }
    }
}

#[test]
fn systemd_hears_ready_after_the_api_answers_then_watchdog_reloading_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let (_reserved, api) = reserved_port();
    let messages = listen(socket, api);
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.set("server", "listen", api.to_string()))
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .start();

    // The first message is READY=1, and the API port took a connection when it came.
    let (first, answered) = messages
        .recv_timeout(Duration::from_secs(15))
        .expect("READY=1");
    assert_eq!(first, "READY=1\n");
    assert_eq!(answered, Some(true), "READY=1 came before the API listened");
    let r = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.text());

    // WATCHDOG=1 every 200 ms: at least three within a second and a half.
    let started = Instant::now();
    let pings: Vec<String> = (0..3)
        .flat_map(|_| until(&messages, "WATCHDOG=1", |_| true))
        .collect();
    assert!(
        pings.iter().all(|m| m == "WATCHDOG=1\n"),
        "only pings while serving: {pings:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));

    // SIGHUP: RELOADING=1 with the monotonic time, then READY=1 again.
    gw.begin_reload();
    let reload = until(&messages, "RELOADING=1", |m| m.starts_with("RELOADING=1\n"));
    let reloading = reload.last().unwrap();
    let usec = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("RELOADING=1 without MONOTONIC_USEC: {reloading:?}"));
    assert!(usec.trim_end().parse::<u64>().unwrap() > 0, "{reloading:?}");
    let ready = until(&messages, "READY=1 after the reload", |m| m == "READY=1\n");
    assert!(ready[..ready.len() - 1].iter().all(|m| m == "WATCHDOG=1\n"));

    // SIGTERM: STOPPING=1, then a clean exit.
    gw.begin_stop();
    until(&messages, "STOPPING=1", |m| m == "STOPPING=1\n");
    gw.stop();
}

#[test]
fn without_notify_socket_the_gateway_serves_and_stops_as_before() {
    // The harness never passes its own NOTIFY_SOCKET on: nothing is sent, nothing fails.
    let gw = Gateway::dev().env("WATCHDOG_USEC", "400000").start();
    let r = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.text());
    std::thread::sleep(Duration::from_millis(500));
    let stderr = gw.stderr();
    assert!(!stderr.contains("cannot notify systemd"), "{stderr}");
    gw.stop();
}
