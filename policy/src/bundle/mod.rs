//! The policy bundle (the rules' second version; see the crate's README for every table and
//! key), parsed and validated into a [`Registry`]. Every problem is reported at once, each with
//! its line and column; a first-version bundle is refused with one message per field to change.

mod diagnostic;
mod diff;
mod edit;
mod first_version;
mod migrate;
mod objects;
mod reader;
mod settings;
mod validate;

use std::collections::{BTreeMap, BTreeSet};

use toml::de::{DeTable, DeValue};

use diagnostic::Diagnostics;
pub use diagnostic::{Diagnostic, Severity};
pub use diff::{BundleDiff, Change, EntryChanges, Lift, Plain, diff};
pub use edit::set_tenant_status;
pub use migrate::{Migrated, migrate};
use reader::Table;
pub(crate) use reader::is_sha256_hex;

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
    "carrier",
    "inventory_item",
    "sample_item",
    "contract_filing",
    "hgr_approval",
    "regulator",
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

/// Why `text` is not a policy bundle at all, when it is not: TOML with none of a bundle's
/// top-level keys (e.g. the gateway's own config), or text that is not TOML and names none of
/// them (e.g. a PEM file). A config whose bundle path points at the wrong file then gets this
/// one line instead of one error per table or per line of that file. `None` for anything that
/// looks like a bundle, valid or not: [`parse_bundle`] reports its problems.
pub fn not_a_bundle(text: &str) -> Option<String> {
    let names = TOP_KEYS.join(", ");
    match text.parse::<toml::Table>() {
        Ok(table) if !table.is_empty() && !table.keys().any(|k| TOP_KEYS.contains(&k.as_str())) => {
            Some(format!(
                "it is not a policy bundle: it has none of a bundle's tables ({names})"
            ))
        }
        Ok(_) => None,
        Err(error) => {
            let header = |key: &&str| {
                text.contains(&format!("[{key}]"))
                    || text.contains(&format!("[{key}."))
                    || text.contains(&format!("[[{key}]]"))
            };
            if TOP_KEYS.iter().any(header) {
                return None;
            }
            let at = error.span().map_or(1, |span| {
                text.get(..span.start)
                    .map_or(1, |before| before.matches('\n').count() + 1)
            });
            Some(format!(
                "it is not a policy bundle: not TOML (line {at}: {}) and none of a bundle's tables ({names})",
                error.message().trim()
            ))
        }
    }
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
    let carriers = entries(d, root, "carrier", objects::carrier);
    let items = entries(d, root, "inventory_item", objects::item);
    let samples = entries(d, root, "sample_item", objects::sample);
    let filings = entries(d, root, "contract_filing", objects::filing);
    let approvals = entries(d, root, "hgr_approval", objects::approval);
    let regulators = entries(d, root, "regulator", objects::regulator);
    let tenants = validate::unique(d, "tenant id", tenants, |t| (&t.tenant.id, &t.id_span));
    let carriers = validate::unique(d, "carrier id", carriers, |c| (&c.carrier.id, &c.id_span));
    let items = validate::unique(d, "inventory item id", items, |i| (&i.item.id, &i.id_span));
    let samples = validate::unique(d, "sample item id", samples, |s| (&s.sample.id, &s.id_span));
    let filings = validate::unique(d, "contract filing reference", filings, |f| {
        (&f.filing.reference, &f.id_span)
    });
    let approvals = validate::unique(d, "HGR approval reference", approvals, |a| {
        (&a.approval.reference, &a.id_span)
    });
    let regulators = validate::unique(d, "regulator id", regulators, |r| {
        (&r.regulator.id, &r.id_span)
    });
    let catalogue = catalogue?;
    let tenant_ids: BTreeSet<String> = tenants.keys().cloned().collect();
    for src in tenants.values() {
        let t = &src.tenant;
        let what = format!("tenant {:?}", t.id);
        validate::window(d, &what, t.valid_from, t.valid_until, &src.valid_span);
    }
    for src in carriers.values() {
        let c = &src.carrier;
        let what = format!("carrier {:?}", c.id);
        validate::window(d, &what, c.valid_from, c.valid_until, &src.valid_span);
    }
    validate::items(d, &items, &tenant_ids, &catalogue, &approvals);
    validate::samples(d, &samples, &items, &tenant_ids, &approvals);
    validate::approvals(d, &approvals, &tenant_ids, &items, &samples);
    validate::filings(
        d,
        &filings,
        &items,
        &tenants,
        &catalogue,
        parameters.as_ref(),
    );

    Some(Registry {
        parameters: parameters?,
        catalogue,
        calendars: calendars?,
        tenants: into_values(tenants, |t| t.tenant),
        carriers: into_values(carriers, |c| c.carrier),
        items: into_values(items, |i| i.item),
        sample_items: into_values(samples, |s| s.sample),
        filings: into_values(filings, |f| f.filing),
        hgr_approvals: into_values(approvals, |a| a.approval),
        regulators: into_values(regulators, |r| r.regulator),
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
