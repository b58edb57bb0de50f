//! The policy bundle: the TOML file of `examples/policy.toml`, parsed and validated into a
//! [`Registry`]. Every problem is reported at once, each with its line and column.

mod diagnostic;
mod diff;
mod edit;
mod objects;
mod reader;
mod settings;
mod validate;

use std::collections::{BTreeMap, BTreeSet};

use toml::de::{DeTable, DeValue};

use diagnostic::Diagnostics;
pub use diagnostic::{Diagnostic, Severity};
pub use diff::{BundleDiff, Change, EntryChanges, Plain, diff};
pub use edit::set_tenant_status;
use reader::Table;

use crate::error::PolicyError;
use crate::model::{Calendars, Registry};

/// Largest bundle accepted, in bytes. The reference bundle is under 4 KiB; a registry of
/// thousands of tenants and items stays far below this.
pub const MAX_BUNDLE_BYTES: usize = 8 * 1024 * 1024;

/// Largest bundle whose every syntax error is reported.
const RECOVERABLE_BYTES: usize = 256 * 1024;

const TOP_KEYS: &[&str] = &[
    "parameters",
    "catalogue",
    "calendar",
    "tenant",
    "inventory_item",
    "contract_filing",
];

/// A bundle that validated, with the warnings found on the way (things that are allowed but
/// will make some transfers be denied).
#[derive(Debug, Clone)]
pub struct ValidBundle {
    /// The registry to evaluate against.
    pub registry: Registry,
    /// Warnings, in source order.
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates a policy bundle. On failure the error lists every problem (errors and
/// warnings, in source order) with its line and column.
pub fn parse_bundle(text: &str) -> Result<ValidBundle, PolicyError> {
    let mut d = Diagnostics::new(text);
    if text.len() > MAX_BUNDLE_BYTES {
        d.error(
            &(0..0),
            format!(
                "the bundle is {} bytes; the limit is {MAX_BUNDLE_BYTES} bytes",
                text.len()
            ),
        );
        return Err(PolicyError::InvalidBundle {
            problems: d.into_sorted(),
        });
    }
    // Recovering after a syntax error finds the next ones too, but can produce one error per byte;
    // past 256 KiB only the first syntax error is reported.
    let (doc, syntax) = if text.len() <= RECOVERABLE_BYTES {
        DeTable::parse_recoverable(text)
    } else {
        match DeTable::parse(text) {
            Ok(doc) => (doc, Vec::new()),
            Err(error) => (toml::Spanned::new(0..0, DeTable::default()), vec![error]),
        }
    };
    if !syntax.is_empty() {
        for error in syntax {
            let span = error.span().unwrap_or(0..0);
            d.error(&span, format!("invalid TOML: {}", error.message().trim()));
        }
        return Err(PolicyError::InvalidBundle {
            problems: d.into_sorted(),
        });
    }
    let root = Table {
        table: doc.get_ref(),
        span: doc.span(),
        label: "the bundle".to_owned(),
    };
    let registry = read(&mut d, &root);
    match registry {
        Some(registry) if !d.has_errors() => Ok(ValidBundle {
            registry,
            warnings: d.into_sorted(),
        }),
        _ => Err(PolicyError::InvalidBundle {
            problems: d.into_sorted(),
        }),
    }
}

fn read(d: &mut Diagnostics<'_>, root: &Table<'_, '_>) -> Option<Registry> {
    root.check_keys(d, TOP_KEYS);
    let parameters = {
        let table = sub_table(d, root, "parameters");
        settings::parameters(d, table.as_ref())
    };
    let catalogue = match sub_table(d, root, "catalogue") {
        Some(table) => settings::catalogue(d, &table),
        None => {
            d.warn(
                &(0..0),
                "the bundle has no [catalogue]; every inventory item will be denied with inventory.category_not_in_catalogue",
            );
            Some(BTreeSet::new())
        }
    };
    let calendars = calendars(d, root);

    let tenants = entries(d, root, "tenant", objects::tenant);
    let items = entries(d, root, "inventory_item", objects::item);
    let filings = entries(d, root, "contract_filing", objects::filing);
    let tenants = validate::unique(d, "tenant id", tenants, |t| (&t.tenant.id, &t.id_span));
    let items = validate::unique(d, "inventory item id", items, |i| (&i.item.id, &i.id_span));
    let filings = validate::unique(d, "contract filing reference", filings, |f| {
        (&f.filing.reference, &f.id_span)
    });
    let catalogue = catalogue?;
    let tenant_ids: BTreeSet<String> = tenants.keys().cloned().collect();
    validate::tenants(d, &tenants);
    validate::items(d, &items, &tenant_ids, &catalogue);
    validate::filings(d, &filings, &items, &tenant_ids, &catalogue);

    Some(Registry {
        parameters: parameters?,
        catalogue,
        calendars: calendars?,
        tenants: into_values(tenants, |t| t.tenant),
        items: into_values(items, |i| i.item),
        filings: into_values(filings, |f| f.filing),
    })
}

fn into_values<S, T>(map: BTreeMap<String, S>, f: impl Fn(S) -> T) -> BTreeMap<String, T> {
    map.into_iter().map(|(id, src)| (id, f(src))).collect()
}

/// A `[name]` table under `parent`, if present.
fn sub_table<'a, 'i>(
    d: &mut Diagnostics<'_>,
    parent: &Table<'a, 'i>,
    name: &str,
) -> Option<Table<'a, 'i>> {
    let value = parent.get(name)?;
    Table::from_value(d, value, format!("[{name}]"))
}

fn calendars(d: &mut Diagnostics<'_>, root: &Table<'_, '_>) -> Option<Calendars> {
    let mut calendars = Calendars::default();
    let Some(table) = sub_table(d, root, "calendar") else {
        return Some(calendars);
    };
    table.check_keys(d, &["mainland", "hong_kong"]);
    let mut ok = true;
    for (side, slot) in [
        ("mainland", &mut calendars.mainland),
        ("hong_kong", &mut calendars.hong_kong),
    ] {
        let Some(value) = table.get(side) else {
            continue;
        };
        let parsed = Table::from_value(d, value, format!("[calendar.{side}]"))
            .and_then(|t| settings::calendar(d, &t));
        match parsed {
            Some(calendar) => *slot = calendar,
            None => ok = false,
        }
    }
    ok.then_some(calendars)
}

/// Every `[[name]]` entry, read with `read`; broken entries are reported and skipped.
fn entries<T>(
    d: &mut Diagnostics<'_>,
    root: &Table<'_, '_>,
    name: &str,
    read: impl Fn(&mut Diagnostics<'_>, &Table<'_, '_>) -> Option<T>,
) -> Vec<T> {
    let Some(value) = root.get(name) else {
        return Vec::new();
    };
    let DeValue::Array(array) = value.get_ref() else {
        d.error(
            &value.span(),
            format!("`{name}` must be an array of tables: write each entry under [[{name}]]"),
        );
        return Vec::new();
    };
    array
        .iter()
        .enumerate()
        .filter_map(|(at, entry)| {
            let table = Table::from_value(d, entry, format!("[[{name}]] #{}", at + 1))?;
            read(d, &table)
        })
        .collect()
}
