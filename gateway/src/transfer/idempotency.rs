//! `Idempotency-Key`: a retry with the same key and sender gets the first request's answer,
//! never a second transfer. Keys made since start keep the first request's reply (once it has
//! one); keys found in the log at start (`state::rebuild`) keep the transfer id, whose reply is
//! rebuilt from its records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::reply::Reply;

/// What a key is remembered as.
#[derive(Debug, Clone)]
pub(crate) enum Remembered {
    /// Made since start: the first request's reply, once it has one.
    Live(Arc<OnceCell<Reply>>),
    /// Found in the log at start: the transfer it started.
    Logged(String),
}

/// The keys of every sender.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    keys: Mutex<HashMap<(String, String), Remembered>>,
}

impl Idempotency {
    /// The entry for `(sender, key)`, and whether it was made now (then the caller runs the
    /// transfer and sets its reply).
    pub(crate) fn remember(&self, sender: &str, key: &str) -> (Remembered, bool) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = (sender.to_owned(), key.to_owned());
        match keys.get(&entry) {
            Some(found) => (found.clone(), false),
            None => {
                let live = Remembered::Live(Arc::new(OnceCell::new()));
                keys.insert(entry, live.clone());
                (live, true)
            }
        }
    }

    /// Remembers a key found in the log: `sender`'s `key` started `transfer_id`.
    pub(crate) fn logged(&self, sender: &str, key: &str, transfer_id: &str) {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (sender.to_owned(), key.to_owned()),
                Remembered::Logged(transfer_id.to_owned()),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_per_sender() {
        let keys = Idempotency::default();
        let (first, made) = keys.remember("sz-genomics", "k1");
        assert!(made && matches!(first, Remembered::Live(_)));
        let (again, made) = keys.remember("sz-genomics", "k1");
        assert!(!made);
        let (Remembered::Live(a), Remembered::Live(b)) = (first, again) else {
            panic!("both live");
        };
        assert!(
            Arc::ptr_eq(&a, &b),
            "a retry shares the first request's reply"
        );
        // The same key from another sender is another key.
        assert!(keys.remember("hk-biolab", "k1").1);
        keys.logged("sz-genomics", "k2", "ab12");
        assert!(
            matches!(keys.remember("sz-genomics", "k2"), (Remembered::Logged(id), false) if id == "ab12")
        );
    }
}
