//! The first version's fields, refused where they are written with what to write instead, so
//! an operator migrates a bundle by reading `policy check`'s output (or runs
//! `loopgate policy migrate`).

use toml::de::DeValue;

use super::diagnostic::Diagnostics;
use super::reader::Table;

const SEE: &str = "(see `loopgate policy migrate`)";

/// A value as it would be written back in a suggestion.
fn written(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(text) => Some(format!("{text:?}")),
        DeValue::Datetime(day) => Some(day.to_string()),
        _ => None,
    }
}

/// The `filings` entry the first version's `filed_on` and `authority` describe: the authority
/// tells whose filing it was (`guangdong_cac` the processor's, `dpo` the recipient's).
fn entry(t: &Table<'_, '_>) -> String {
    let authority = t
        .get("authority")
        .and_then(|v| v.get_ref().as_str().map(str::to_owned));
    let (party, authority) = match authority.as_deref() {
        Some("dpo") => ("recipient", "dpo"),
        _ => ("processor", "guangdong_cac"),
    };
    let filed_on = t
        .get("filed_on")
        .and_then(|v| written(v.get_ref()))
        .map_or(String::new(), |day| format!(", filed_on = {day}"));
    format!("{{ party = \"{party}\", authority = \"{authority}\"{filed_on} }}")
}

/// Reports `filed_on` and `authority` of a `[[contract_filing]]`.
pub(crate) fn filing(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) {
    let entry = entry(t);
    if let Some(value) = t.get("filed_on") {
        d.error(
            &value.span(),
            format!(
                "{} is the first version's; write `filings = [{entry}, …]`, one entry per party the route needs, without `filed_on` while a party has not filed {SEE}",
                t.what("filed_on")
            ),
        );
    }
    if let Some(value) = t.get("authority") {
        d.error(
            &value.span(),
            format!(
                "{} is the first version's; each party now files with the authority of its own side: write `filings = [{entry}, …]` {SEE}",
                t.what("authority")
            ),
        );
    }
}

/// Reports `hgr_filing` of an `[[inventory_item]]`.
pub(crate) fn item(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) {
    let Some(value) = t.get("hgr_filing") else {
        return;
    };
    let reference = written(value.get_ref()).unwrap_or_else(|| "\"…\"".to_owned());
    d.error(
        &value.span(),
        format!(
            "{} is the first version's; write `hgr_approvals = [{reference}, …]` and an [[hgr_approval]] entry for each: one of kind information_filing and one of kind information_backup, held by the owner and covering this item {SEE}",
            t.what("hgr_filing")
        ),
    );
}
