//! `loopgate policy migrate`: a first-version bundle rewritten in the second version's schema,
//! by span-based text edits (as [`super::set_tenant_status`] does) so comments, order and layout
//! survive. What is mechanical is done; what is not is left as `# migrate:` comments.
//!
//! - `filed_on` / `authority` of a `[[contract_filing]]` become `filings = [...]`: the first
//!   version's one filing is the processor's when its authority is `guangdong_cac` and the
//!   recipient's when it is `dpo` (each party files with its own side's authority); every other
//!   party the route needs gets an entry without `filed_on` and a comment (its date and number
//!   were not in the first version). A `certification` or `security_assessment` entry gets a
//!   commented `valid_until` to fill in.
//! - `hgr_filing = "X"` becomes `hgr_approvals = ["X"]` and an `[[hgr_approval]]` skeleton of
//!   kind `information_filing` whose window is commented (not in the first version); a comment
//!   asks for the `information_backup` rule 9 also needs.
//! - A consent-based personal item (no `legal_basis` means consent) that a filing with
//!   `separate_consent` unset or false covers gets a comment: the second version denies it.
//! - A bundle without `[[regulator]]` entries gets a commented one at its end: the second
//!   version lets only listed regulators read the audit trail, so until the operator lists
//!   them every regulator principal is refused.
//!
//! A bundle without first-version fields is returned unchanged.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::reader::type_name;
use crate::error::PolicyError;
use crate::model::{DataClass, Parameters, Party, Route};

/// What [`migrate`] made of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The bundle in the second version's schema (the input itself when `changed` is false).
    pub text: String,
    /// Whether anything was rewritten (false: the input had no first-version field).
    pub changed: bool,
    /// Whether `text` validates as a second-version bundle. When false, a human must fill in
    /// what the `# migrate:` comments name before it does.
    pub complete: bool,
    /// What the `# migrate:` comments say, in order (one line each).
    pub notes: Vec<String>,
}

/// The prefix of every comment `migrate` writes.
const MARK: &str = "# migrate:";

/// One replacement of `range` of the input: `text` in the output, `check` in the variant whose
/// undecidable fields are filled with placeholders (to tell a bundle that only needs a human
/// from one that is invalid).
struct Edit {
    range: Range<usize>,
    text: String,
    check: String,
}

impl Edit {
    fn same(range: Range<usize>, text: String) -> Self {
        Self {
            range,
            check: text.clone(),
            text,
        }
    }
}

/// Rewrites a first-version bundle as a second-version one; see the module documentation.
///
/// Fails when the input is not valid TOML, when a first-version value is not what that version
/// allowed, when a first-version key is not on a line of its own, or when the input would be
/// invalid even with every undecidable field filled in (the problems are located in the input).
pub fn migrate(text: &str) -> Result<Migrated, PolicyError> {
    let refuse = |d: Diagnostics<'_>| PolicyError::InvalidBundle {
        problems: d.into_sorted(),
    };
    let mut d = Diagnostics::new(text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(error) => {
            // parse_bundle reports every syntax problem (and the size limit) located.
            return Err(super::parse_bundle(text).err().unwrap_or_else(|| {
                d.error(
                    &error.span().unwrap_or(0..0),
                    format!("invalid TOML: {}", error.message().trim()),
                );
                refuse(d)
            }));
        }
    };
    let root = doc.get_ref();
    let mut plan = Plan {
        text,
        edits: Vec::new(),
        notes: Vec::new(),
        skeletons: Vec::new(),
    };
    let filings = tables(root, "contract_filing");
    let items = tables(root, "inventory_item");
    for filing in &filings {
        plan.filing(&mut d, filing);
    }
    for item in &items {
        plan.item(&mut d, item);
    }
    if d.has_errors() {
        return Err(refuse(d));
    }
    if plan.edits.is_empty() {
        super::parse_bundle(text)?;
        return Ok(Migrated {
            text: text.to_owned(),
            changed: false,
            complete: true,
            notes: Vec::new(),
        });
    }
    for item in &items {
        plan.consent(item, &filings);
    }
    plan.end_with_newline();
    plan.append_skeletons();
    if tables(root, "regulator").is_empty() {
        plan.append_regulator();
    }
    let (output, check) = plan.apply();
    let complete = super::parse_bundle(&output).is_ok();
    if !complete {
        if let Err(PolicyError::InvalidBundle { problems }) = super::parse_bundle(&check) {
            return Err(PolicyError::InvalidBundle {
                problems: plan.locate_in_input(&check, problems),
            });
        }
    }
    Ok(Migrated {
        text: output,
        changed: true,
        complete,
        notes: plan.notes,
    })
}

/// The entries of `[[name]]` (those that are tables).
fn tables<'a, 'i>(root: &'a DeTable<'i>, name: &str) -> Vec<&'a DeTable<'i>> {
    let Some(DeValue::Array(array)) = root.get(name).map(toml::Spanned::get_ref) else {
        return Vec::new();
    };
    array
        .iter()
        .filter_map(|entry| match entry.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => None,
        })
        .collect()
}

fn string<'a>(table: &'a DeTable<'_>, key: &str) -> Option<&'a str> {
    table.get(key).and_then(|v| v.get_ref().as_str())
}

/// An `[[hgr_approval]]` to append for a first-version `hgr_filing`.
struct Skeleton {
    reference: String,
    owners: Vec<String>,
    covers: Vec<String>,
}

struct Plan<'t> {
    text: &'t str,
    edits: Vec<Edit>,
    notes: Vec<String>,
    skeletons: Vec<Skeleton>,
}

impl Plan<'_> {
    fn note(&mut self, note: String) -> String {
        self.notes.push(note.clone());
        format!("{MARK} {note}")
    }

    /// The whole line holding `span` (from its start to after its newline), if the line holds
    /// nothing else but a comment.
    fn own_line(&self, span: &Range<usize>, value_end: usize) -> Option<(Range<usize>, String)> {
        let start = self.text[..span.start].rfind('\n').map_or(0, |at| at + 1);
        let indent = &self.text[start..span.start];
        let end = self.text[value_end..]
            .find('\n')
            .map_or(self.text.len(), |at| value_end + at + 1);
        let rest = self.text[value_end..end].trim();
        let alone = indent.trim().is_empty() && (rest.is_empty() || rest.starts_with('#'));
        alone.then(|| (start..end, indent.to_owned()))
    }

    /// The line range of first-version key `key`, or an error at it.
    fn line_of(
        &self,
        d: &mut Diagnostics<'_>,
        table: &DeTable<'_>,
        key: &str,
    ) -> Option<(Range<usize>, String)> {
        let (name, value) = table.get_key_value(key)?;
        let found = self.own_line(&name.span(), value.span().end);
        if found.is_none() {
            d.error(
                &name.span(),
                format!("`{key}` is not on a line of its own, so it cannot be rewritten in place; put it on its own line (or write the second version's fields by hand) and migrate again"),
            );
        }
        found
    }

    fn filing(&mut self, d: &mut Diagnostics<'_>, filing: &DeTable<'_>) {
        let filed_on = filing.get("filed_on");
        let authority = filing.get("authority");
        if filed_on.is_none() && authority.is_none() {
            return;
        }
        let what = |key: &str| {
            format!(
                "`{key}` of [[contract_filing]] {:?}",
                string(filing, "reference").unwrap_or("")
            )
        };
        let party = match authority.map(|a| (a, a.get_ref().as_str())) {
            None | Some((_, Some("guangdong_cac"))) => Party::Processor,
            Some((_, Some("dpo"))) => Party::Recipient,
            Some((value, _)) => {
                d.error(
                    &value.span(),
                    format!("{} must be \"guangdong_cac\" or \"dpo\" (the first version's values); fix it and migrate again", what("authority")),
                );
                return;
            }
        };
        let filed_on = match filed_on.map(|v| (v, v.get_ref())) {
            None => None,
            Some((value, DeValue::Datetime(day))) if day.time.is_none() && day.offset.is_none() => {
                Some(self.text[value.span()].to_owned())
            }
            Some((value, DeValue::String(day)))
                if day
                    .parse::<toml::value::Datetime>()
                    .is_ok_and(|dt| dt.time.is_none() && dt.offset.is_none()) =>
            {
                Some(self.text[value.span()].to_owned())
            }
            Some((value, other)) => {
                d.error(
                    &value.span(),
                    format!(
                        "{} must be a date such as 2026-03-02, found {}; fix it and migrate again",
                        what("filed_on"),
                        type_name(other)
                    ),
                );
                return;
            }
        };
        let lines: Vec<(Range<usize>, String)> = ["filed_on", "authority"]
            .iter()
            .filter(|key| filing.contains_key(**key))
            .filter_map(|key| self.line_of(d, filing, key))
            .collect();
        if lines.len()
            != usize::from(filing.contains_key("filed_on"))
                + usize::from(filing.contains_key("authority"))
        {
            return;
        }
        let route = string(filing, "route").and_then(Route::parse);
        let mut block = String::from("filings = [\n");
        let mut check = block.clone();
        let authority_of = |party: Party| match party {
            Party::Processor => "guangdong_cac",
            Party::Recipient => "dpo",
        };
        let filed = filed_on.map_or(String::new(), |day| format!(", filed_on = {day}"));
        let entry = format!(
            "  {{ party = \"{}\", authority = \"{}\"{filed} }},\n",
            party.as_str(),
            authority_of(party)
        );
        block.push_str(&entry);
        check.push_str(&entry);
        let needed = route.map_or_else(Vec::new, |route| {
            Parameters::default_filing_parties()
                .remove(&route)
                .unwrap_or_default()
        });
        for other in needed.iter().filter(|p| p.party != party) {
            let comment = self.note(format!(
                "the {}'s filing (with {}) was not in the first version: add `filed_on = …` and `number = \"…\"` once it has filed; until then it counts as not filed (rule 14)",
                other.party.as_str(),
                other.authority.as_str()
            ));
            let entry = format!(
                "  {{ party = \"{}\", authority = \"{}\" }},\n",
                other.party.as_str(),
                other.authority.as_str()
            );
            block.push_str(&format!("  {comment}\n{entry}"));
            check.push_str(&entry);
        }
        block.push_str("]\n");
        check.push_str("]\n");
        if let Some(route @ (Route::Certification | Route::SecurityAssessment)) = route {
            if !filing.contains_key("valid_until") {
                let comment = self.note(format!(
                    "route {} needs `valid_until` (its approval expires): write the last day it is valid",
                    route.as_str()
                ));
                block.push_str(&format!("{comment}\n# valid_until = YYYY-MM-DD\n"));
                check.push_str("valid_until = 9999-12-31\n");
            }
        }
        let mut lines = lines;
        lines.sort_by_key(|(range, _)| range.start);
        let mut lines = lines.into_iter();
        if let Some((first, indent)) = lines.next() {
            let indent_all = |text: &str| {
                text.lines()
                    .map(|l| format!("{indent}{l}\n"))
                    .collect::<String>()
            };
            self.edits.push(Edit {
                range: first,
                text: indent_all(&block),
                check: indent_all(&check),
            });
        }
        for (other, _) in lines {
            self.edits.push(Edit::same(other, String::new()));
        }
    }

    fn item(&mut self, d: &mut Diagnostics<'_>, item: &DeTable<'_>) {
        let Some((key, value)) = item.get_key_value("hgr_filing") else {
            return;
        };
        let id = string(item, "id").unwrap_or("");
        let reference = match value.get_ref().as_str() {
            Some(reference)
                if !reference.trim().is_empty()
                    && reference.len() <= 128
                    && reference.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                reference.to_owned()
            }
            _ => {
                d.error(
                    &value.span(),
                    format!("`hgr_filing` of [[inventory_item]] {id:?} must be a reference such as \"HGR-2026-0001\"; fix it and migrate again"),
                );
                return;
            }
        };
        let Some((line, indent)) = self.own_line(&key.span(), value.span().end) else {
            d.error(
                &key.span(),
                "`hgr_filing` is not on a line of its own, so it cannot be rewritten in place; put it on its own line (or write the second version's fields by hand) and migrate again",
            );
            return;
        };
        let comment = self.note(format!(
            "inventory item {id:?}: rule 9 also needs an effective information_backup approval: add its reference here and an [[hgr_approval]] of kind \"information_backup\" for it"
        ));
        self.edits.push(Edit {
            range: line,
            text: format!("{indent}hgr_approvals = [\"{reference}\"]\n{indent}{comment}\n"),
            check: format!("{indent}hgr_approvals = [\"{reference}\"]\n"),
        });
        let owner = string(item, "owner").unwrap_or("").to_owned();
        match self.skeletons.iter_mut().find(|s| s.reference == reference) {
            Some(skeleton) => {
                skeleton.covers.push(id.to_owned());
                if !skeleton.owners.contains(&owner) {
                    skeleton.owners.push(owner);
                }
            }
            None => self.skeletons.push(Skeleton {
                reference,
                owners: vec![owner],
                covers: vec![id.to_owned()],
            }),
        }
    }

    /// A comment before a consent-based personal item that a filing without separate consent
    /// covers: rule 17 now denies it.
    fn consent(&mut self, item: &DeTable<'_>, filings: &[&DeTable<'_>]) {
        let personal = string(item, "data_class")
            .and_then(DataClass::parse)
            .is_some_and(DataClass::is_personal);
        let consent = string(item, "legal_basis").is_none_or(|basis| basis == "consent");
        if !personal || !consent {
            return;
        }
        let (Some(owner), Some(id)) = (string(item, "owner"), string(item, "id")) else {
            return;
        };
        let recipients: Vec<&str> = match item.get("recipients").map(toml::Spanned::get_ref) {
            Some(DeValue::Array(list)) => {
                list.iter().filter_map(|r| r.get_ref().as_str()).collect()
            }
            _ => Vec::new(),
        };
        let without: Vec<&str> = filings
            .iter()
            .filter(|f| {
                string(f, "processor") == Some(owner)
                    && string(f, "recipient").is_some_and(|r| recipients.contains(&r))
                    && f.get("separate_consent")
                        .and_then(|v| v.get_ref().as_bool())
                        != Some(true)
            })
            .filter_map(|f| string(f, "reference"))
            .collect();
        if without.is_empty() {
            return;
        }
        let Some((key, _)) = item.get_key_value("id") else {
            return;
        };
        // Before the `[[inventory_item]]` line that opens this entry.
        let at = self.text[..key.span().start]
            .rfind("[[")
            .map_or(0, |at| self.text[..at].rfind('\n').map_or(0, |nl| nl + 1));
        let comment = self.note(format!(
            "inventory item {id:?} is consent-based (no `legal_basis` means consent) and filing(s) {} have separate_consent unset or false: the second version denies its transfers with contract.consent_missing (rule 17); obtain separate consent and set `separate_consent = true`, or write the item's `legal_basis`",
            without.join(", ")
        ));
        self.edits.push(Edit::same(at..at, format!("{comment}\n")));
    }

    /// A newline at the end of a bundle whose last line has none, before anything is appended
    /// (edits at the same place apply in the order they were made).
    fn end_with_newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            let end = self.text.len();
            self.edits.push(Edit::same(end..end, "\n".to_owned()));
        }
    }

    /// A commented `[[regulator]]` at the end, for a bundle that lists none.
    fn append_regulator(&mut self) {
        let end = self.text.len();
        let comment = self.note(
            "the second version lists the regulators who may read the audit trail and what each sees (rule scopes: personal, hgr, important, samples, non_personal, all); a regulator principal that is not listed gets 403: add one [[regulator]] per regulator certificate".to_owned(),
        );
        self.edits.push(Edit::same(
            end..end,
            format!(
                "\n{comment}\n# [[regulator]]\n# id = \"…\"                  # the principal regulator/<id>\n# authority = \"…\"\n# sees = [\"all\"]\n"
            ),
        ));
    }

    fn append_skeletons(&mut self) {
        let end = self.text.len();
        let skeletons = std::mem::take(&mut self.skeletons);
        for skeleton in skeletons {
            let covers: Vec<String> = skeleton.covers.iter().map(|id| format!("{id:?}")).collect();
            let covers = covers.join(", ");
            let window = self.note(format!(
                "HGR approval {:?} (the first version's `hgr_filing`): its validity window was not in the first version: write `valid_from` and `valid_until` and check `kind`, `holder` and `status`",
                skeleton.reference
            ));
            let (holder, holder_check) = match skeleton.owners.as_slice() {
                [owner] => (
                    format!("holder = {owner:?}\n"),
                    format!("holder = {owner:?}\n"),
                ),
                owners => {
                    let comment = self.note(format!(
                        "HGR approval {:?} is named by items of several owners ({}): write the one `holder` that holds it (the others need their own approvals)",
                        skeleton.reference,
                        owners.join(", ")
                    ));
                    (
                        format!("{comment}\n# holder = \"…\"\n"),
                        format!("holder = {:?}\n", owners.first().map_or("", String::as_str)),
                    )
                }
            };
            let head = format!(
                "\n{window}\n[[hgr_approval]]\nreference = {:?}\nkind = \"information_filing\"\nauthority = \"nhc\"\n",
                skeleton.reference
            );
            let tail = format!("covers = [{covers}]\n");
            self.edits.push(Edit {
                range: end..end,
                text: format!("{head}{holder}{tail}# valid_from = YYYY-MM-DD\n# valid_until = YYYY-MM-DD\nstatus = \"effective\"\n"),
                check: format!("{head}{holder_check}{tail}valid_from = 2000-01-01\nvalid_until = 9999-12-31\nstatus = \"effective\"\n"),
            });
        }
    }

    /// The output and the placeholder-filled variant.
    fn apply(&mut self) -> (String, String) {
        self.edits.sort_by_key(|e| (e.range.start, e.range.end));
        let mut output = String::with_capacity(self.text.len() + 1024);
        let mut check = String::with_capacity(self.text.len() + 1024);
        let mut at = 0;
        for edit in &self.edits {
            let start = edit.range.start.max(at);
            output.push_str(&self.text[at..start]);
            check.push_str(&self.text[at..start]);
            output.push_str(&edit.text);
            check.push_str(&edit.check);
            at = edit.range.end.max(start);
        }
        output.push_str(&self.text[at..]);
        check.push_str(&self.text[at..]);
        (output, check)
    }

    /// Problems found in the placeholder-filled variant, moved to where they are in the input
    /// (a problem inside rewritten text points at what was rewritten).
    fn locate_in_input(&self, check: &str, problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(check.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        let mut d = Diagnostics::new(self.text);
        for problem in problems {
            let start = line_starts
                .get(problem.line.saturating_sub(1))
                .copied()
                .unwrap_or(0);
            let offset = check[start..]
                .char_indices()
                .nth(problem.column.saturating_sub(1))
                .map_or(check.len(), |(i, _)| start + i);
            let mut delta: isize = 0;
            let mut input = None;
            for edit in &self.edits {
                let out_start =
                    usize::try_from(isize::try_from(edit.range.start).unwrap_or(0) + delta)
                        .unwrap_or(0);
                let out_end = out_start + edit.check.len();
                if offset < out_start {
                    break;
                }
                if offset < out_end {
                    input = Some(edit.range.start);
                    break;
                }
                delta += isize::try_from(edit.check.len()).unwrap_or(0)
                    - isize::try_from(edit.range.len()).unwrap_or(0);
            }
            let input = input.unwrap_or_else(|| {
                usize::try_from(isize::try_from(offset).unwrap_or(0) - delta).unwrap_or(0)
            });
            match problem.severity {
                super::Severity::Error => d.error(&(input..input), problem.message),
                super::Severity::Warning => d.warn(&(input..input), problem.message),
            }
        }
        d.into_sorted()
    }
}
