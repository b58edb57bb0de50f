//! Record times that never go backwards along the log.
//!
//! Every record the gateway writes is stamped and queued under one lock: its `time` is the
//! clock's now, or the previous record's time when the clock is behind it (a step back of the
//! system clock, or a restart on a machine whose clock is late). So the log's order is also its
//! time order, and the regulator's `from`/`to` filters are an index range of the log
//! (`loopgate_audit::Log::time_bounds`). The lock covers only building the record and handing
//! it to the log's writer; waiting for durability happens outside it.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use loopgate_audit::{Appended, Log, Record};
use time::OffsetDateTime;

use crate::clock::Clock;

/// Stamps records and queues them in time order.
#[derive(Debug)]
pub(crate) struct Stamper {
    clock: Clock,
    last: Mutex<OffsetDateTime>,
}

impl Stamper {
    /// A stamper whose first time is at least the time of the log's last record.
    pub(crate) fn new(clock: Clock, log: &Log) -> Result<Self, loopgate_audit::Error> {
        let last = match log.size() {
            0 => OffsetDateTime::UNIX_EPOCH,
            size => Record::from_leaf(&log.read(size - 1)?)?.instant()?,
        };
        Ok(Self {
            clock,
            last: Mutex::new(last),
        })
    }

    /// The clock the stamps come from.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Builds the record with `build(at)`, `at` being the next log time, and queues it on `log`.
    /// Returns the record, its leaf and the future of its durability (the record is queued even
    /// if the future is dropped). `build` runs under the lock: keep it short and free of I/O.
    #[allow(clippy::type_complexity)]
    pub(crate) fn append<F>(
        &self,
        log: &Log,
        build: F,
    ) -> Result<
        (
            Record,
            Vec<u8>,
            impl Future<Output = Result<Appended, loopgate_audit::Error>> + Send + 'static,
        ),
        loopgate_audit::Error,
    >
    where
        F: FnOnce(OffsetDateTime) -> Result<Record, loopgate_audit::Error>,
    {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let at = self.clock.now().max(*last);
        // append_record indexes the record by its fields: no parsing of the leaf back.
        let record = build(at)?;
        let (leaf, durable) = log.append_record(&record)?;
        *last = at;
        Ok((record, leaf, durable))
    }

    /// As [`Stamper::append`] for `count` records, built by `build(i, at)`, queued one after
    /// the other under one hold of the lock: no other record the gateway writes comes between
    /// them in the log. On an error the records queued before it are written all the same.
    #[allow(clippy::type_complexity)]
    pub(crate) fn append_consecutive<F>(
        &self,
        log: &Log,
        count: usize,
        mut build: F,
    ) -> Result<
        Vec<(
            Record,
            Vec<u8>,
            impl Future<Output = Result<Appended, loopgate_audit::Error>> + Send + 'static + use<F>,
        )>,
        loopgate_audit::Error,
    >
    where
        F: FnMut(usize, OffsetDateTime) -> Result<Record, loopgate_audit::Error>,
    {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let at = self.clock.now().max(*last);
        let mut queued = Vec::with_capacity(count);
        for i in 0..count {
            let record = build(i, at)?;
            let (leaf, durable) = log.append_record(&record)?;
            *last = at;
            queued.push((record, leaf, durable));
        }
        Ok(queued)
    }
}

#[cfg(test)]
mod tests;
