//! What changed between two bundles, as an admin and a regulator read it: entries added,
//! removed and changed per table (tenants, carriers, inventory items, sample items and
//! regulators by `id`, contract filings and HGR approvals by `reference`), field by field, and
//! the changed settings (`[parameters]`, `[catalogue]`, `[calendar.*]`) by dotted key. It compares what the files say: an omitted parameter and one
//! written with its default value differ here, although they evaluate the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use super::diagnostic::Diagnostics;
use crate::error::PolicyError;

/// The entry tables and the key naming each entry.
const ENTRIES: [(&str, &str); 7] = [
    ("tenant", "id"),
    ("inventory_item", "id"),
    ("contract_filing", "reference"),
    ("carrier", "id"),
    ("sample_item", "id"),
    ("hgr_approval", "reference"),
    ("regulator", "id"),
];

/// A value as the diff shows it: TOML dates and times become their TOML text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Plain {
    /// A string, or a date/time in its TOML spelling.
    String(String),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// An array.
    Array(Vec<Plain>),
    /// A table.
    Table(BTreeMap<String, Plain>),
}

impl From<&Value> for Plain {
    fn from(value: &Value) -> Self {
        match value {
            Value::String(s) => Plain::String(s.clone()),
            Value::Integer(i) => Plain::Integer(*i),
            Value::Float(f) => Plain::Float(*f),
            Value::Boolean(b) => Plain::Boolean(*b),
            Value::Datetime(d) => Plain::String(d.to_string()),
            Value::Array(a) => Plain::Array(a.iter().map(Plain::from).collect()),
            Value::Table(t) => {
                Plain::Table(t.iter().map(|(k, v)| (k.clone(), Plain::from(v))).collect())
            }
        }
    }
}

/// One value before and after (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The old value.
    pub from: Option<Plain>,
    /// The new value.
    pub to: Option<Plain>,
}

/// The changes to one table of entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryChanges {
    /// Keys of new entries.
    pub added: Vec<String>,
    /// Keys of entries no longer there.
    pub removed: Vec<String>,
    /// Per changed entry, its changed fields.
    pub changed: BTreeMap<String, BTreeMap<String, Change>>,
}

impl EntryChanges {
    /// Whether nothing changed in this table.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Everything that differs between two bundles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BundleDiff {
    /// `[[tenant]]` entries, by `id`.
    pub tenant: EntryChanges,
    /// `[[inventory_item]]` entries, by `id`.
    pub inventory_item: EntryChanges,
    /// `[[contract_filing]]` entries, by `reference`.
    pub contract_filing: EntryChanges,
    /// `[[carrier]]` entries, by `id` (absent from the JSON when unchanged, as in records
    /// written before the second version).
    #[serde(default, skip_serializing_if = "EntryChanges::is_empty")]
    pub carrier: EntryChanges,
    /// `[[sample_item]]` entries, by `id` (absent when unchanged).
    #[serde(default, skip_serializing_if = "EntryChanges::is_empty")]
    pub sample_item: EntryChanges,
    /// `[[hgr_approval]]` entries, by `reference` (absent when unchanged).
    #[serde(default, skip_serializing_if = "EntryChanges::is_empty")]
    pub hgr_approval: EntryChanges,
    /// `[[regulator]]` entries, by `id` (absent when unchanged).
    #[serde(default, skip_serializing_if = "EntryChanges::is_empty")]
    pub regulator: EntryChanges,
    /// Other settings by dotted key (`parameters.threshold_contract`, `catalogue.categories`,
    /// `calendar.mainland.holidays`).
    pub settings: BTreeMap<String, Change>,
}

impl BundleDiff {
    /// Whether the two bundles say the same thing.
    pub fn is_empty(&self) -> bool {
        self.tables().iter().all(|(_, changes)| changes.is_empty()) && self.settings.is_empty()
    }

    /// Every entry table's changes with its name (`tenant`, `inventory_item`, ...), in a
    /// fixed order.
    pub fn tables(&self) -> [(&'static str, &EntryChanges); 7] {
        [
            ("tenant", &self.tenant),
            ("carrier", &self.carrier),
            ("inventory_item", &self.inventory_item),
            ("sample_item", &self.sample_item),
            ("contract_filing", &self.contract_filing),
            ("hgr_approval", &self.hgr_approval),
            ("regulator", &self.regulator),
        ]
    }

    /// Every entry of `new` added, as the diff from an empty registry.
    pub fn from_empty(new: &str) -> Result<Self, PolicyError> {
        diff_tables(&Table::new(), &table(new)?)
    }
}

/// A change that takes a suspension, revocation or termination back: an entry whose `status`
/// goes from a withdrawn value to the one that lets requests through. `policy apply` calls
/// each out and applies them only with `--yes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lift {
    /// The entry table (`tenant`, `carrier`, `inventory_item`, `sample_item`,
    /// `contract_filing`, `hgr_approval`).
    pub table: &'static str,
    /// The entry's `id` or `reference`.
    pub id: String,
    /// The status lifted (`suspended`, `revoked`, `terminated`).
    pub from: String,
    /// The status in force after the change (`approved`, `effective`).
    pub to: String,
}

impl Lift {
    /// What is lifted, as a noun: `suspension`, `revocation` or `termination`.
    pub fn what(&self) -> &'static str {
        match self.from.as_str() {
            "suspended" => "suspension",
            "terminated" => "termination",
            _ => "revocation",
        }
    }
}

/// Per entry table with a `status`, the value that lets requests through and the withdrawn
/// values a change may lift.
const LIFTABLE: [(&str, &str, &[&str]); 6] = [
    ("tenant", "approved", &["suspended", "revoked"]),
    ("carrier", "approved", &["suspended", "revoked"]),
    ("inventory_item", "approved", &["suspended", "revoked"]),
    ("sample_item", "approved", &["suspended", "revoked"]),
    ("contract_filing", "effective", &["suspended", "terminated"]),
    ("hgr_approval", "effective", &["revoked"]),
];

impl BundleDiff {
    /// Every suspension, revocation or termination this change lifts, in table order.
    pub fn lifts(&self) -> Vec<Lift> {
        let mut out = Vec::new();
        for (table, changes) in self.tables() {
            let Some((_, active, withdrawn)) = LIFTABLE.iter().find(|(t, _, _)| *t == table) else {
                continue;
            };
            for (id, fields) in &changes.changed {
                let Some(Change {
                    from: Some(Plain::String(from)),
                    to: Some(Plain::String(to)),
                }) = fields.get("status")
                else {
                    continue;
                };
                if to == active && withdrawn.contains(&from.as_str()) {
                    out.push(Lift {
                        table,
                        id: id.clone(),
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
            }
        }
        out
    }
}

/// What changed from bundle text `old` to bundle text `new`. Both must be TOML documents (call
/// it on validated bundles; an entry without its key is listed under its position).
pub fn diff(old: &str, new: &str) -> Result<BundleDiff, PolicyError> {
    diff_tables(&table(old)?, &table(new)?)
}

fn table(text: &str) -> Result<Table, PolicyError> {
    text.parse::<Table>().map_err(|e| {
        let mut d = Diagnostics::new(text);
        d.error(
            &e.span().unwrap_or(0..0),
            format!("invalid TOML: {}", e.message().trim()),
        );
        PolicyError::InvalidBundle {
            problems: d.into_sorted(),
        }
    })
}

fn diff_tables(old: &Table, new: &Table) -> Result<BundleDiff, PolicyError> {
    let mut out = BundleDiff::default();
    for (name, key) in ENTRIES {
        let changes = entry_changes(entries(old, name, key), entries(new, name, key));
        match name {
            "tenant" => out.tenant = changes,
            "inventory_item" => out.inventory_item = changes,
            "contract_filing" => out.contract_filing = changes,
            "carrier" => out.carrier = changes,
            "sample_item" => out.sample_item = changes,
            "hgr_approval" => out.hgr_approval = changes,
            _ => out.regulator = changes,
        }
    }
    let mut old_settings = BTreeMap::new();
    let mut new_settings = BTreeMap::new();
    for (side, settings) in [(old, &mut old_settings), (new, &mut new_settings)] {
        for (name, value) in side {
            if !ENTRIES.iter().any(|(entry, _)| entry == name) {
                flatten(name, value, settings);
            }
        }
    }
    out.settings = changed_fields(&old_settings, &new_settings);
    Ok(out)
}

/// The entries of `[[name]]` by their key (or `#<position>` when it has none).
fn entries<'t>(doc: &'t Table, name: &str, key: &str) -> BTreeMap<String, &'t Table> {
    let Some(Value::Array(array)) = doc.get(name) else {
        return BTreeMap::new();
    };
    array
        .iter()
        .enumerate()
        .filter_map(|(at, entry)| {
            let table = entry.as_table()?;
            let id = match table.get(key) {
                Some(Value::String(id)) => id.clone(),
                _ => format!("#{}", at + 1),
            };
            Some((id, table))
        })
        .collect()
}

fn entry_changes(old: BTreeMap<String, &Table>, new: BTreeMap<String, &Table>) -> EntryChanges {
    let mut out = EntryChanges::default();
    for (id, before) in &old {
        match new.get(id) {
            None => out.removed.push(id.clone()),
            Some(after) => {
                let fields = changed_fields(&plain_fields(before), &plain_fields(after));
                if !fields.is_empty() {
                    out.changed.insert(id.clone(), fields);
                }
            }
        }
    }
    out.added = new
        .keys()
        .filter(|id| !old.contains_key(*id))
        .cloned()
        .collect();
    out
}

fn plain_fields(table: &Table) -> BTreeMap<String, Plain> {
    table
        .iter()
        .map(|(k, v)| (k.clone(), Plain::from(v)))
        .collect()
}

/// Settings tables flattened to dotted keys, down to non-table values.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Plain>) {
    match value {
        Value::Table(table) => {
            for (k, v) in table {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), Plain::from(other));
        }
    }
}

fn changed_fields(
    old: &BTreeMap<String, Plain>,
    new: &BTreeMap<String, Plain>,
) -> BTreeMap<String, Change> {
    let mut out = BTreeMap::new();
    for (key, before) in old {
        if new.get(key) != Some(before) {
            out.insert(
                key.clone(),
                Change {
                    from: Some(before.clone()),
                    to: new.get(key).cloned(),
                },
            );
        }
    }
    for (key, after) in new {
        if !old.contains_key(key) {
            out.insert(
                key.clone(),
                Change {
                    from: None,
                    to: Some(after.clone()),
                },
            );
        }
    }
    out
}
