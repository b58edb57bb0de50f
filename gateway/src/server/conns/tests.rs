use std::collections::HashSet;

use super::*;

fn config(max: usize, handshakes: usize, per_principal: usize) -> Connections {
    Connections {
        max,
        per_principal,
        handshakes,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        keepalive_interval: Duration::from_secs(30),
        max_streams: 100,
        stop_timeout: Duration::from_secs(30),
    }
}

fn conns(max: usize, handshakes: usize, per_principal: usize) -> Arc<Conns> {
    let caps = Caps::new(&config(max, handshakes, per_principal), None);
    Conns::new(caps, crate::metrics::Metrics::new().connections().clone())
}

#[test]
fn the_descriptor_limit_lowers_the_cap_after_the_reserve_two_per_connection() {
    let wanted = config(4096, 256, 64);
    assert_eq!(Caps::new(&wanted, None).max, 4096);
    assert_eq!(Caps::new(&wanted, Some(1 << 20)).max, 4096);
    let low = Caps::new(&wanted, Some(512));
    assert_eq!(low.max, (512 - RESERVED_DESCRIPTORS) / 2);
    assert_eq!(low.handshakes, low.max / 2, "handshakes take at most half");
    assert!(Caps::new(&wanted, Some(10)).max >= 2);
}

#[test]
fn the_soft_descriptor_limit_is_read_from_proc() {
    let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n\
                Max open files            512                  4096                 files     \n";
    assert_eq!(parse_descriptor_limit(text), Some(512));
    let unlimited = "Max open files            unlimited            unlimited            files\n";
    assert_eq!(parse_descriptor_limit(unlimited), None);
    assert!(descriptor_limit().is_some(), "this process has a limit");
}

#[tokio::test]
async fn a_full_handshake_pool_evicts_its_oldest_for_a_new_connection() {
    let conns = conns(100, 2, 64);
    let mut first = conns.admit().unwrap();
    let _second = conns.admit().unwrap();
    assert_eq!(conns.open(), 2);
    let _third = conns.admit().unwrap();
    assert_eq!(conns.open(), 2, "the oldest left");
    tokio::time::timeout(Duration::from_secs(1), first.evicted())
        .await
        .expect("the first was told to close");
    drop(first);
    assert_eq!(conns.open(), 2);
}

#[tokio::test]
async fn established_connections_are_never_evicted_and_a_full_house_refuses() {
    let conns = conns(4, 4, 64);
    let a = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), None)
        .unwrap();
    let b = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/b".into()), None)
        .unwrap();
    let _pending = conns.admit().unwrap();
    assert_eq!(conns.caps().handshakes, 2);
    let _pending2 = conns.admit().unwrap();
    assert_eq!(conns.open(), 4);
    // Full: a new one evicts a pending handshake, never an established connection.
    let _pending3 = conns.admit().unwrap();
    assert_eq!(conns.open(), 4);
    drop(_pending2);
    drop(_pending3);
    let _c = conns.admit().unwrap().establish(None, None).unwrap();
    let _d = conns.admit().unwrap().establish(None, None).unwrap();
    assert_eq!(conns.open(), 4);
    assert!(conns.admit().is_none(), "every slot is established");
    drop(a);
    assert!(conns.admit().is_some());
    drop(b);
}

#[tokio::test]
async fn a_principal_over_its_cap_is_flagged_and_its_slots_come_back() {
    let conns = conns(100, 10, 2);
    let one = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), None)
        .unwrap();
    let two = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), None)
        .unwrap();
    let three = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), None)
        .unwrap();
    let other = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/b".into()), None)
        .unwrap();
    assert!(!one.over_cap() && !two.over_cap() && !other.over_cap());
    assert!(three.over_cap());
    drop(three);
    let again = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), None)
        .unwrap();
    assert!(again.over_cap(), "an over-cap connection freed no slot");
    drop(one);
    let now = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), None)
        .unwrap();
    assert!(!now.over_cap());
    drop((two, again, now, other));
    assert_eq!(conns.open(), 0);
}

#[tokio::test]
async fn revocation_marks_and_closes_only_the_listed_certificates_once() {
    let conns = conns(100, 10, 64);
    let cert = |serial: u8| Some((b"issuer".to_vec(), vec![serial]));
    let revoked_one = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/a".into()), cert(1))
        .unwrap();
    let kept = conns
        .admit()
        .unwrap()
        .establish(Some("tenant/b".into()), cert(2))
        .unwrap();
    let listed: HashSet<CertId> = [(b"issuer".to_vec(), vec![1]), (b"other".to_vec(), vec![2])]
        .into_iter()
        .collect();
    assert_eq!(conns.revoke(&listed), 1);
    assert!(revoked_one.conn().revoked());
    assert!(!kept.conn().revoked(), "same serial, another issuer");
    tokio::time::timeout(Duration::from_secs(1), revoked_one.conn().closing())
        .await
        .expect("told to close");
    assert_eq!(conns.revoke(&listed), 0, "counted once");
}

#[tokio::test]
async fn a_handshake_that_finishes_after_the_revocation_sweep_is_refused_too() {
    let conns = conns(100, 10, 64);
    let cert = |serial: u8| Some((b"issuer".to_vec(), vec![serial]));
    // Accepted (and handshaking against the old CRLs) before the reload...
    let pending = conns.admit().unwrap();
    let other = conns.admit().unwrap();
    let listed: HashSet<CertId> = [(b"issuer".to_vec(), vec![1])].into_iter().collect();
    assert_eq!(conns.revoke(&listed), 0, "nothing established to sweep");
    // ... and established after its sweep.
    let late = pending.establish(Some("tenant/a".into()), cert(1)).unwrap();
    assert!(late.conn().revoked(), "checked against the reloaded CRLs");
    tokio::time::timeout(Duration::from_secs(1), late.conn().closing())
        .await
        .expect("told to close");
    let fine = other.establish(Some("tenant/b".into()), cert(2)).unwrap();
    assert!(!fine.conn().revoked());
}

#[tokio::test]
async fn an_evicted_handshake_that_completes_anyway_is_not_established() {
    let conns = conns(3, 1, 64);
    let _held = conns.admit().unwrap().establish(None, None).unwrap();
    let evicted = conns.admit().unwrap();
    // The pool (one) is full: this one evicts the pending one.
    let newer = conns.admit().unwrap();
    assert_eq!(conns.open(), 2);
    assert!(
        evicted.establish(Some("tenant/a".into()), None).is_none(),
        "its slot went to the newer connection"
    );
    assert_eq!(conns.open(), 2);
    let _newer = newer.establish(Some("tenant/b".into()), None).unwrap();
    let _third = conns.admit().unwrap().establish(None, None).unwrap();
    assert_eq!(conns.open(), 3);
    assert!(conns.admit().is_none(), "never over the cap");
}

#[tokio::test]
async fn the_drain_waits_for_every_connection() {
    let conns = conns(100, 10, 64);
    let open = conns.admit().unwrap().establish(None, None).unwrap();
    let mut draining = conns.draining();
    assert!(!conns.drain(Duration::from_millis(50)).await);
    assert!(*draining.wait_for(|d| *d).await.unwrap());
    let closer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(open);
    });
    assert!(conns.drain(Duration::from_secs(5)).await);
    closer.await.unwrap();
}

#[test]
fn a_throttled_line_comes_in_bursts_and_says_how_many_were_suppressed() {
    let start = Instant::now();
    let mut lines = Throttled::new(Duration::from_secs(5), 2);
    assert_eq!(lines.hit(start), Some(0));
    assert_eq!(lines.hit(start), Some(0));
    for _ in 0..1000 {
        assert_eq!(lines.hit(start + Duration::from_secs(1)), None);
    }
    assert_eq!(lines.hit(start + Duration::from_secs(5)), Some(1000));
    assert_eq!(lines.hit(start + Duration::from_secs(6)), Some(0));
    assert_eq!(lines.hit(start + Duration::from_secs(6)), None);
}
