//! Connection lanes: the threads that serve API connections, each running a single-threaded
//! runtime. The accept loop deals connections to them round-robin, and a connection, the
//! transfers on it and their upstream connections (see `transfer::upstream`) stay on its lane.
//!
//! Why not one work-stealing runtime: on a small machine whose CPUs the client, the upstream
//! and the audit log's own threads share, tokio's multi-threaded scheduler moved a transfer's
//! tasks between workers and woke idle workers for them. On 2 CPUs two lanes made 0.39-0.42x
//! nginx's 1 KiB transfers/s where two work-stealing workers made 0.35-0.37x, measured in
//! alternating runs (`bench/transfer.sh` setup, 2026-11-25). Large bodies still use every CPU,
//! because concurrent connections land on different lanes; one connection stays on one.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How long a stopping lane waits for its blocking tasks (file reads of regulator queries).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

thread_local! {
    /// The lane this thread serves (1-based), or 0 outside every lane.
    static LANE: Cell<usize> = const { Cell::new(0) };
}

/// The lane the calling thread serves, 1-based; 0 on threads outside every lane.
pub(crate) fn current() -> usize {
    LANE.with(Cell::get)
}

/// Running lanes. Dropping them stops their runtimes (tasks still on them are dropped) and
/// joins their threads, so call it from a thread that may block.
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
}

struct Lane {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Lanes {
    /// Starts `count` lanes (at least one), each a thread named `loopgate-lane-N` running a
    /// current-thread runtime with its own blocking pool.
    pub(crate) fn start(count: usize) -> std::io::Result<Self> {
        let mut lanes = Vec::with_capacity(count.max(1));
        for number in 1..=count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                // For the runtime's blocking threads; the lane's own thread (which runs
                // `block_on`) is not started by the runtime and sets it below.
                .on_thread_start(move || LANE.with(|lane| lane.set(number)))
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("loopgate-lane-{number}"))
                .spawn(move || {
                    LANE.with(|lane| lane.set(number));
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    runtime.shutdown_timeout(SHUTDOWN_GRACE);
                })?;
            lanes.push(Lane {
                handle,
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Self {
            lanes,
            next: AtomicUsize::new(0),
        })
    }

    /// How many lanes run.
    pub(crate) fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Runs `task` on the next lane, round-robin.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        self.lanes[at].handle.spawn(task);
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for lane in &mut self.lanes {
            if let Some(stop) = lane.stop.take() {
                let _ = stop.send(());
            }
        }
        for lane in &mut self.lanes {
            if let Some(thread) = lane.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_their_lanes_in_turn_and_know_which() {
        let lanes = Lanes::start(3).unwrap();
        assert_eq!(lanes.len(), 3);
        assert_eq!(current(), 0, "the test thread is in no lane");
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..6 {
            let tx = tx.clone();
            lanes.spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((current(), name)).unwrap();
            });
        }
        let mut seen: Vec<_> = (0..6).map(|_| rx.recv().unwrap()).collect();
        seen.sort();
        let expected: Vec<_> = [1, 1, 2, 2, 3, 3]
            .into_iter()
            .map(|n| (n, Some(format!("loopgate-lane-{n}"))))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn blocking_tasks_of_a_lane_know_it_too() {
        let lanes = Lanes::start(2).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let tx = tx.clone();
            lanes.spawn(async move {
                let outer = current();
                let inner = tokio::task::spawn_blocking(current).await.unwrap();
                tx.send((outer, inner)).unwrap();
            });
        }
        let mut seen: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, vec![(1, 1), (2, 2)]);
    }

    #[test]
    fn dropping_lanes_stops_their_threads_and_drops_pending_tasks() {
        let lanes = Lanes::start(2).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        lanes.spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        });
        drop(lanes);
        // The task (and the sender it held) is gone: the channel is closed, not pending.
        assert!(rx.recv().is_err());
    }
}
