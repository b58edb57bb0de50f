//! How the gateway's sled views encode their keys and values: ids prefixed by their length (so
//! a pair of ids is one unambiguous key), dates and counts as fixed-width big-endian numbers
//! (so keys sort as the values do), small entries as JSON.

use std::collections::BTreeMap;

use loopgate_audit::Log;
use serde::Serialize;
use time::Date;

/// The gateway's views tree (`state::follow`'s [`TREE`](super::follow)), looked up in the log's
/// sled database for each use rather than held: a log whose index failed reopens its sled
/// database in the same process (`Log::heal`), and a handle kept across that would hold the
/// old database, and its lock on the folder, open. While the log reopens, a use fails as the
/// log does (unavailable) and the views catch up once it is back.
#[derive(Debug, Clone)]
pub(crate) struct ViewsTree(Source);

#[derive(Debug, Clone)]
enum Source {
    /// The named tree of the log's database, looked up each time.
    Log(Log, &'static str),
    /// A tree of its own (unit tests).
    #[cfg(test)]
    Fixed(sled::Tree),
}

impl ViewsTree {
    /// The tree `name` of `log`'s database.
    pub(crate) fn of_log(log: Log, name: &'static str) -> Self {
        Self(Source::Log(log, name))
    }

    /// A tree of a temporary database (unit tests).
    #[cfg(test)]
    pub(crate) fn temporary() -> Self {
        Self(Source::Fixed(temporary_tree()))
    }

    /// The tree, for one use.
    pub(crate) fn now(&self) -> Result<sled::Tree, sled::Error> {
        match &self.0 {
            Source::Log(log, name) => log
                .view_tree(name)
                .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string()))),
            #[cfg(test)]
            Source::Fixed(tree) => Ok(tree.clone()),
        }
    }
}

/// The writes of consecutive records to the views tree, gathered for one sled batch. sled
/// 0.34 writes a fragment (and now and then the whole page) of every page a batch touches, so
/// one batch per record wrote several KiB per record to its log (most of it the page of
/// `m/covered`); gathered, the records share those writes. Reads go through the gathered
/// writes first, so each record sees what the records before it in the batch left.
#[derive(Debug)]
pub(crate) struct Changes {
    tree: sled::Tree,
    /// Each key's value after the gathered records (`None`: removed).
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Changes {
    /// No writes yet, over `tree`.
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self {
            tree,
            writes: BTreeMap::new(),
        }
    }

    /// The value of `key` after the gathered writes.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, sled::Error> {
        match self.writes.get(key) {
            Some(written) => Ok(written.as_deref().map(sled::IVec::from)),
            None => self.tree.get(key),
        }
    }

    /// Whether `key` has a value after the gathered writes.
    pub(crate) fn contains_key(&self, key: &[u8]) -> Result<bool, sled::Error> {
        Ok(self.get(key)?.is_some())
    }

    pub(crate) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl AsRef<[u8]>) {
        self.writes
            .insert(key.into(), Some(value.as_ref().to_vec()));
    }

    pub(crate) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.writes.insert(key.into(), None);
    }

    /// Writes what was gathered as one atomic sled batch.
    pub(crate) fn apply(self) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for (key, value) in self.writes {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        self.tree.apply_batch(batch)
    }
}

/// The key prefixes of the views tree, one per view: each view owns the keys under its prefix
/// (and clears, purges and scans only those), so two views given one prefix would read each
/// other's keys as their own. They are all listed here, where a test checks that none is a
/// prefix of another.
pub(crate) mod prefix {
    /// `crate::views`: admitted transfers waiting for their outcome.
    pub(crate) const ADMITTED: &[u8] = b"a/";
    /// `crate::views`: completed transfers' retention due times.
    pub(crate) const RETAINED: &[u8] = b"r/";
    /// `crate::views`: open retention entries, by due time.
    pub(crate) const DUE: &[u8] = b"d/";
    /// `crate::views`: rule 19's counters for the regulator.
    pub(crate) const COUNTER: &[u8] = b"c/";
    /// `crate::views::stats`: the overview's per-day aggregates.
    pub(crate) const STATS: &[u8] = b"o/";
    /// `crate::shipment::view`: the shipments' list.
    pub(crate) const SHIPMENTS: &[u8] = b"s/";
    /// `crate::shipment::view`: declarations' idempotency keys.
    pub(crate) const SHIPMENT_KEYS: &[u8] = b"k/";
    /// `crate::shipment::view`: declarations' idempotency keys, by time.
    pub(crate) const SHIPMENT_KEYS_BY_TIME: &[u8] = b"q/";
    /// `crate::transfer::idempotency`: transfers' idempotency keys.
    pub(crate) const TRANSFER_KEYS: &[u8] = b"i/";
    /// `crate::transfer::idempotency`: transfers' idempotency keys, by time.
    pub(crate) const TRANSFER_KEYS_BY_TIME: &[u8] = b"t/";
    /// `crate::transfer::volume`: rule 19's counters the decisions use.
    pub(crate) const VOLUMES: &[u8] = b"v/";
    /// `crate::state::follow`: the tree's own metadata (layout, coverage, last leaf hash), whose
    /// three keys are spelt out there (`m/version`, `m/covered`, `m/last`).
    #[cfg(test)]
    pub(crate) const META: &[u8] = b"m/";

    /// Every prefix, for the test that keeps them apart.
    #[cfg(test)]
    pub(crate) const ALL: &[&[u8]] = &[
        ADMITTED,
        RETAINED,
        DUE,
        COUNTER,
        STATS,
        SHIPMENTS,
        SHIPMENT_KEYS,
        SHIPMENT_KEYS_BY_TIME,
        TRANSFER_KEYS,
        TRANSFER_KEYS_BY_TIME,
        VOLUMES,
        META,
    ];
}

/// `text` prefixed by its length (two bytes, big-endian; ids are at most 256 characters, and
/// longer text is cut at 65535 bytes, which no caller sends).
pub(crate) fn sized(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + usize::from(len));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
    out
}

/// `sized(a)` followed by `b`: the key of a pair such as (sender, idempotency key).
pub(crate) fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut out = sized(a);
    out.extend_from_slice(b.as_bytes());
    out
}

/// [`sized`] read back: the text and what follows it.
pub(crate) fn split_sized(bytes: &[u8]) -> Option<(String, &[u8])> {
    let len = usize::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]));
    let text = bytes.get(2..2 + len)?;
    Some((
        String::from_utf8_lossy(text).into_owned(),
        &bytes[2 + len..],
    ))
}

/// A date as four bytes (its Julian day number, big-endian; every date the gateway sees is
/// after 4713 BC, so positive).
pub(crate) fn date(d: Date) -> [u8; 4] {
    d.to_julian_day().to_be_bytes()
}

/// [`date`] read back.
pub(crate) fn read_date(bytes: &[u8]) -> Option<Date> {
    let day = i32::from_be_bytes(bytes.try_into().ok()?);
    Date::from_julian_day(day).ok()
}

/// Two counts as 16 bytes.
pub(crate) fn pair_u64(a: u64, b: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

/// [`pair_u64`] read back (zeros for anything else).
pub(crate) fn two_u64(bytes: &[u8]) -> (u64, u64) {
    (u64_at(bytes, 0), u64_at(bytes, 8))
}

/// The big-endian number at `at` of `bytes`, 0 when it is too short.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// A value as JSON (the types given here always serialise).
pub(crate) fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Forgets the remembered keys made before `cutoff` (Unix seconds): `by_time` indexes them as
/// `<by_time><made, 8 bytes><key>`, `entries` holds them as `<entries><key>` with the time
/// they were made as the value's first 8 bytes. An entry made again since (its time differs)
/// stays. Returns how many were forgotten.
pub(crate) fn purge_before(
    tree: &sled::Tree,
    by_time: &[u8],
    entries: &[u8],
    cutoff: u64,
) -> Result<usize, sled::Error> {
    let mut end = by_time.to_vec();
    end.extend_from_slice(&cutoff.to_be_bytes());
    let mut forgotten = 0;
    loop {
        // In slices, so a long backlog is not one huge batch.
        let mut batch = sled::Batch::default();
        let mut seen = 0;
        for item in tree.range(by_time.to_vec()..end.clone()).take(4096) {
            let (k, _) = item?;
            seen += 1;
            batch.remove(k.clone());
            let made = u64_at(&k, by_time.len());
            let Some(rest) = k.get(by_time.len() + 8..) else {
                continue;
            };
            let mut entry = entries.to_vec();
            entry.extend_from_slice(rest);
            if tree.get(&entry)?.is_some_and(|v| u64_at(&v, 0) == made) {
                batch.remove(entry);
                forgotten += 1;
            }
        }
        if seen == 0 {
            return Ok(forgotten);
        }
        tree.apply_batch(batch)?;
    }
}

/// A tree of a temporary sled database (unit tests).
#[cfg(test)]
pub(crate) fn temporary_tree() -> sled::Tree {
    sled::Config::new()
        .temporary(true)
        .open()
        .and_then(|db| db.open_tree("views"))
        .expect("a temporary sled database")
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn no_views_prefix_is_a_prefix_of_another() {
        for (i, a) in prefix::ALL.iter().enumerate() {
            for (j, b) in prefix::ALL.iter().enumerate() {
                if i != j {
                    assert!(
                        !b.starts_with(a),
                        "the views' prefix {:?} starts {:?}: two views would share keys",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }

    #[test]
    fn keys_read_back() {
        let k = pair("sz-genomics", "k1");
        assert_eq!(
            split_sized(&k),
            Some(("sz-genomics".to_owned(), &b"k1"[..]))
        );
        assert_eq!(split_sized(&[0, 5, b'a']), None);
        assert_eq!(
            read_date(&date(date!(2026 - 01 - 01))),
            Some(date!(2026 - 01 - 01))
        );
        assert!(date(date!(2026 - 01 - 01)) < date(date!(2026 - 01 - 02)));
        assert_eq!(two_u64(&pair_u64(3, u64::MAX)), (3, u64::MAX));
        assert_eq!(two_u64(b"short"), (0, 0));
    }
}
