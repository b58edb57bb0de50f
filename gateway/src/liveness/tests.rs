use std::time::{Duration, Instant};

use super::{Liveness, Stalled};

const LIMIT: Duration = Duration::from_millis(200);

#[test]
fn fresh_is_alive() {
    let t0 = Instant::now();
    let live = Liveness::new(t0);
    assert_eq!(live.check(t0 + LIMIT, LIMIT), Ok(()));
}

#[test]
fn an_accept_loop_that_stops_beating_is_stalled_unless_stopping() {
    let t0 = Instant::now();
    let live = Liveness::new(t0);
    let later = t0 + LIMIT * 2;
    assert!(matches!(
        live.check(later, LIMIT),
        Err(Stalled::AcceptLoop(_))
    ));
    live.beat_accept(later);
    assert_eq!(live.check(later, LIMIT), Ok(()));
    live.stopping();
    assert_eq!(live.check(later + LIMIT * 10, LIMIT), Ok(()));
}

/// Regression guard: a writer stuck in fdatasync has an empty queue (the batch was taken), so
/// the check must look at the gateway's own pending appends, not only at the log's queue.
#[test]
fn an_append_without_progress_for_longer_than_the_limit_is_a_stuck_writer() {
    let t0 = Instant::now();
    let live = Liveness::new(t0);
    // Idle for a long time: an append queued now is not late yet.
    let t1 = t0 + Duration::from_secs(3600);
    live.beat_accept(t1);
    let pending = live.append_started(t1);
    assert_eq!(live.check(t1 + LIMIT / 2, LIMIT), Ok(()));
    let t2 = t1 + LIMIT * 2;
    live.beat_accept(t2);
    assert!(matches!(
        live.check(t2, LIMIT),
        Err(Stalled::LogWriter { pending: 1, .. })
    ));
    // It is acknowledged: alive again.
    live.appended(t2);
    drop(pending);
    assert_eq!(live.check(t2, LIMIT), Ok(()));
    assert_eq!(live.last_appended(), t2);
}

#[test]
fn appends_that_keep_completing_are_alive_even_when_always_pending() {
    let t0 = Instant::now();
    let live = Liveness::new(t0);
    let _first = live.append_started(t0);
    for step in 1..10u32 {
        let now = t0 + LIMIT / 2 * step;
        live.beat_accept(now);
        let _next = live.append_started(now);
        live.appended(now);
        assert_eq!(live.check(now, LIMIT), Ok(()));
    }
}
