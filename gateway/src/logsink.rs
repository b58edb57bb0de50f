//! Where the diagnostic lines go: a buffer that one thread writes to stderr every 50 ms, so
//! the tokio workers never make a `write` syscall per request line nor wake
//! another thread per line.
//!
//! `tracing-appender`'s non-blocking writer moved the `write` off the workers, but its thread
//! waits on a channel, and a waiting receiver is woken by every line: with one line per
//! request, that thread took about 4.6% of the gateway's CPU on 1 KiB transfers, mostly in
//! context switches. Here a line is appended to a buffer under a short lock, and nobody is
//! woken unless the buffer passes 256 KiB.
//!
//! Bounded: past 4 MiB of buffered lines (stderr blocked or far behind), the thread that
//! logs writes the buffer out itself, so a stuck stderr slows logging down rather than growing
//! memory. Lines keep their order: the buffer is only ever taken and written under the `out`
//! lock. What is buffered when the process is killed (at most about 50 ms of lines) is
//! lost; dropping the [`LogSinkGuard`] writes it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line waits in the buffer at most (when nothing else wakes the writer).
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Buffered bytes at which the writer thread is woken before `FLUSH_EVERY`.
const WAKE_AT: usize = 256 << 10;

/// Buffered bytes at which the logging thread writes the buffer out itself.
const WRITE_AT: usize = 4 << 20;

struct Shared {
    buffer: Mutex<Vec<u8>>,
    /// Where lines go (stderr). Held while a taken buffer is written, so buffers are written
    /// in the order taken.
    out: Mutex<Box<dyn Write + Send>>,
    wake: Condvar,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            buffer: Mutex::new(Vec::new()),
            out: Mutex::new(out),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        }
    }

    /// Takes what is buffered and writes it out (errors are dropped: there is nowhere left to
    /// report them).
    fn write_out(&self) {
        let mut out = lock(&self.out);
        let taken = std::mem::take(&mut *lock(&self.buffer));
        if !taken.is_empty() {
            let _ = out.write_all(&taken);
            let _ = out.flush();
        }
    }

    fn run(&self) {
        loop {
            {
                let buffer = lock(&self.buffer);
                if buffer.len() < WAKE_AT && !self.stop.load(Ordering::Acquire) {
                    let _ = self.wake.wait_timeout(buffer, FLUSH_EVERY);
                }
            }
            self.write_out();
            if self.stop.load(Ordering::Acquire) {
                // Lines logged while stopping were taken above or are taken here.
                self.write_out();
                return;
            }
        }
    }
}

/// The `MakeWriter` for tracing's fmt layer.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Stops the writer thread and writes what is buffered when dropped.
pub struct LogSinkGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogSink {
    /// Starts the thread that writes to stderr. Without a thread (the system refused one),
    /// lines are written by the thread that logs them.
    pub fn start() -> (LogSink, LogSinkGuard) {
        Self::start_to(Box::new(std::io::stderr()))
    }

    fn start_to(out: Box<dyn Write + Send>) -> (LogSink, LogSinkGuard) {
        let shared = Arc::new(Shared::new(out));
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("loopgate-log".into())
            .spawn(move || worker.run())
            .ok();
        if thread.is_none() {
            shared.stop.store(true, Ordering::Release);
        }
        (
            LogSink {
                shared: shared.clone(),
            },
            LogSinkGuard { shared, thread },
        )
    }
}

impl Drop for LogSinkGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.write_out();
    }
}

/// One line's writer (tracing's fmt layer formats a whole event, then writes it at once).
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let len = {
            let mut buffer = lock(&self.shared.buffer);
            buffer.extend_from_slice(bytes);
            buffer.len()
        };
        if len >= WRITE_AT || self.shared.stop.load(Ordering::Acquire) {
            self.shared.write_out();
        } else if len >= WAKE_AT {
            self.shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cloneable in-memory output.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn numbers(bytes: &[u8]) -> Vec<usize> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .map(|l| l.trim_start_matches("line ").parse().unwrap())
            .collect()
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let out = Captured::default();
        let (sink, guard) = LogSink::start_to(Box::new(out.clone()));
        for i in 0..10_000 {
            writeln!(sink.make_writer(), "line {i}").unwrap();
        }
        drop(guard);
        assert_eq!(numbers(&lock(&out.0)), (0..10_000).collect::<Vec<_>>());
        // After the guard, a line goes straight out.
        writeln!(sink.make_writer(), "line 10000").unwrap();
        assert_eq!(numbers(&lock(&out.0)).last(), Some(&10_000));
    }

    #[test]
    fn lines_reach_the_output_within_the_flush_interval() {
        let out = Captured::default();
        let (sink, _guard) = LogSink::start_to(Box::new(out.clone()));
        writeln!(sink.make_writer(), "line 1").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lock(&out.0).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(numbers(&lock(&out.0)), vec![1]);
    }

    #[test]
    fn a_full_buffer_is_written_by_the_logging_thread() {
        let out = Captured::default();
        let shared = Shared::new(Box::new(out.clone()));
        let mut w = LineWriter { shared: &shared };
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..(WRITE_AT / chunk.len()) {
            w.write_all(&chunk).unwrap();
        }
        assert!(lock(&shared.buffer).len() < WRITE_AT);
        assert_eq!(lock(&out.0).len(), WRITE_AT);
    }
}
