//! The gateway's side of the records it writes (SPEC.md section 5).
//!
//! `loopgate-audit` keeps what a record says beyond its common fields (kind, time, transfer,
//! parties, verdict, reason, outcome) as a JSON map, `Record::details`, and knows nothing of
//! what the keys mean. Here each kind's details are a serde struct, declared beside the code
//! that writes them (`transfer::records` for decisions and outcomes, `lifecycle` for lifecycle
//! events, `registry` for policy changes, `server::start` for the start record). They are
//! written with [`write`] and read back with [`read`], so a key is spelled once, in its struct:
//! a renamed field changes what is written and what is read together.
//!
//! The map is sorted by key (serde_json's map), so a struct's field order does not change the
//! bytes of the leaf. Reading is lenient where the log is old: a missing key reads as its
//! default, an unknown key is ignored. Every record is stamped in time order by [`stamp`].

pub(crate) mod stamp;

use loopgate_audit::{Kind, Record};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The details of one record kind. Their text fields may borrow from the record they are read
/// from (`Cow<'a, str>` with `#[serde(borrow)]`), so reading a record on the request path (the
/// views observe every append) allocates no strings.
pub(crate) trait Details: Serialize {
    /// The kind whose records carry these details.
    const KIND: Kind;
}

/// Puts `details` into `record` (whose kind must be `D::KIND`).
pub(crate) fn write<D: Details>(
    record: &mut Record,
    details: &D,
) -> Result<(), loopgate_audit::Error> {
    if record.kind != D::KIND {
        return Err(invalid(format!(
            "{:?} details on a {:?} record",
            D::KIND,
            record.kind
        )));
    }
    match serde_json::to_value(details) {
        Ok(serde_json::Value::Object(map)) if record.details.is_empty() => {
            record.details = map;
            Ok(())
        }
        Ok(serde_json::Value::Object(map)) => {
            record.details.extend(map);
            Ok(())
        }
        Ok(other) => Err(invalid(format!("details must be an object, not {other}"))),
        Err(e) => Err(invalid(format!("details cannot be written: {e}"))),
    }
}

/// The details of `record` as `D`: `None` when it is of another kind, or when its details do
/// not read as `D` (logged: the log holds a record this version cannot read).
pub(crate) fn read<'r, D: Details + Deserialize<'r>>(record: &'r Record) -> Option<D> {
    if record.kind != D::KIND {
        return None;
    }
    match D::deserialize(&record.details) {
        Ok(details) => Some(details),
        Err(e) => {
            tracing::warn!(kind = ?D::KIND, time = %record.time, error = %e, "a record's details cannot be read; it is left out of the views");
            None
        }
    }
}

/// Optional text of a request as a detail that borrows it.
pub(crate) fn borrowed(text: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
    text.as_deref().map(std::borrow::Cow::Borrowed)
}

fn invalid(why: String) -> loopgate_audit::Error {
    loopgate_audit::Error::InvalidRecord(why)
}

/// A calendar day, written `YYYY-MM-DD` (how `time::Date` displays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Day(pub(crate) time::Date);

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
            time::macros::format_description!("[year]-[month]-[day]");
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        time::Date::parse(&text, FORMAT)
            .map(Day)
            .map_err(serde::de::Error::custom)
    }
}

/// For `#[serde(deserialize_with)]` on a detail that only informs readers (never decides
/// anything): a value that does not read as `T` reads as `T::default()` instead of making the
/// whole record unreadable.
pub(crate) fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

/// A SHA-256 digest as standard base64 (how records carry digests), for `#[serde(with)]`.
pub(crate) mod base64_sha256 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        digest: &[u8; 32],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(digest))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        <[u8; 32]>::try_from(bytes)
            .map_err(|b| serde::de::Error::custom(format!("{} bytes, not 32", b.len())))
    }
}

#[cfg(test)]
mod tests;
