//! What start-up brings up to date from the log before the gateway serves: the views in sled
//! (`state::follow`) replay only the records past the index they cover (the whole log when they
//! are missing or stale), rule 19's counters and the shipments' list are loaded from them, and
//! the admitted transfers the last stop cut off (an allow decision with no outcome, which
//! recovery then closes with `interrupted`) are read from their tree. O(records since the last
//! stop), not O(log).

use loopgate_audit::Record;

use super::AppState;

/// What the rebuild found.
#[derive(Debug)]
pub(crate) struct Rebuilt {
    /// Records replayed into the views (those past what they covered).
    pub(crate) records: u64,
    /// The allow decisions without an outcome, in log order.
    pub(crate) unfinished: Vec<Record>,
}

impl AppState {
    /// Brings the views up to date with the log and loads what is kept in memory from them;
    /// returns how many records it replayed and the transfers left unfinished. Blocking.
    pub(crate) fn rebuild(&self) -> Result<Rebuilt, loopgate_audit::Error> {
        let size = self.log.size();
        // Loads the shipments' list too, before the records past it are applied to it.
        let kept = self.open_views()?;
        let records = self.catch_up(size)?;
        let read = |index: u64| -> Result<Record, loopgate_audit::Error> {
            Record::from_leaf(&self.log.read(index)?)
        };
        self.volumes.load(&self.views_tree.now()?)?;
        let shipments = self.shipments.list().len();
        let unfinished = self
            .views
            .admitted()?
            .into_iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(
            records_replayed = records,
            log_size = size,
            views_rebuilt = !kept,
            shipments_listed = shipments,
            unfinished = unfinished.len(),
            "views caught up with the log"
        );
        self.start_following();
        Ok(Rebuilt {
            records,
            unfinished,
        })
    }
}
