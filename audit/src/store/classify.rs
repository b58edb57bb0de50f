//! Deciding what a bad frame at the end of the log means: a torn tail (an unacknowledged
//! batch cut by a crash, safe to cut) or damage to records that were durable (never cut).

use std::path::Path;

use super::{BadFrame, later_batch_after};
use crate::error::{Error, Result};

/// What a bad frame is.
#[derive(Debug)]
pub(crate) enum Damage {
    /// An unacknowledged tail: cut at `offset`.
    TornTail,
    /// Durable records are damaged: refuse.
    Corrupt(Error),
}

/// Classifies the bad frame found in segment `path`. `last` says whether it is the last
/// segment; `floor` is the largest checkpoint size the log is known to have signed (records
/// below it were acknowledged). A bad frame is a torn tail only in the last segment, at or above
/// the floor, and when no frame of a later commit batch follows it (a batch is written only after
/// the previous one was synced, so a later batch proves the bad frame had been durable).
pub(crate) fn classify(path: &Path, bad: &BadFrame, last: bool, floor: u64) -> Result<Damage> {
    let corrupt = |what: String| {
        Damage::Corrupt(Error::Corrupt {
            segment: path.to_owned(),
            offset: bad.offset,
            index: bad.index,
            what,
        })
    };
    if !last {
        return Ok(corrupt(bad.what.clone()));
    }
    if bad.index < floor {
        return Ok(corrupt(format!(
            "{} (below the {floor} records this log has signed)",
            bad.what
        )));
    }
    if later_batch_after(path, bad.offset, bad.index)? {
        return Ok(corrupt(format!("{} (a later batch follows it)", bad.what)));
    }
    Ok(Damage::TornTail)
}
