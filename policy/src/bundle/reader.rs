//! Typed, located access to a parsed TOML document: every wrong type, unknown key or missing key
//! becomes a diagnostic at its position, and reading goes on so every problem is reported at once.

use std::ops::Range;

use time::{Date, Month};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostics;
use crate::model::Spelled;

pub(crate) type Span = Range<usize>;

/// A string value with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub(crate) text: String,
    pub(crate) span: Span,
}

/// One TOML table being read, with a label for messages (`[[tenant]] "sz-genomics"`).
pub(crate) struct Table<'a, 'i> {
    pub(crate) table: &'a DeTable<'i>,
    pub(crate) span: Span,
    pub(crate) label: String,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Reads a value as a table, or reports what it is instead.
    pub(crate) fn from_value(
        d: &mut Diagnostics<'_>,
        value: &'a Spanned<DeValue<'i>>,
        label: String,
    ) -> Option<Self> {
        match value.get_ref() {
            DeValue::Table(table) => Some(Self {
                table,
                span: value.span(),
                label,
            }),
            other => {
                let found = type_name(other);
                d.error(
                    &value.span(),
                    format!("{label} must be a table, found {found}"),
                );
                None
            }
        }
    }

    /// Reports every key not in `allowed`: a silently ignored key is a compliance bug.
    pub(crate) fn check_keys(&self, d: &mut Diagnostics<'_>, allowed: &[&str]) {
        for (key, _) in self.table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                d.error(
                    &key.span(),
                    format!(
                        "unknown key `{}` in {}; allowed keys are: {}",
                        key.get_ref(),
                        self.label,
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table.get(key)
    }

    /// The value of a key that must be present.
    pub(crate) fn required(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
    ) -> Option<&'a Spanned<DeValue<'i>>> {
        let value = self.get(key);
        if value.is_none() {
            d.error(
                &self.span,
                format!("{} is missing the required key `{key}`", self.label),
            );
        }
        value
    }

    pub(crate) fn req_str(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Located> {
        let value = self.required(d, key)?;
        string(d, value, &self.what(key))
    }

    pub(crate) fn opt_str(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Option<Located>> {
        match self.get(key) {
            None => Some(None),
            Some(value) => string(d, value, &self.what(key)).map(Some),
        }
    }

    /// A string that is an id: printable ASCII, no spaces, at most 128 characters.
    pub(crate) fn req_id(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Located> {
        let id = self.req_str(d, key)?;
        check_id(d, &id, &self.what(key)).then_some(id)
    }

    pub(crate) fn req_date(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<(Date, Span)> {
        let value = self.required(d, key)?;
        date(d, value, &self.what(key)).map(|day| (day, value.span()))
    }

    pub(crate) fn opt_date(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Option<Date>> {
        match self.get(key) {
            None => Some(None),
            Some(value) => date(d, value, &self.what(key)).map(Some),
        }
    }

    pub(crate) fn bool_or(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
        default: bool,
    ) -> Option<bool> {
        match self.get(key).map(|value| (value, value.get_ref())) {
            None => Some(default),
            Some((_, DeValue::Boolean(flag))) => Some(*flag),
            Some((value, other)) => {
                let found = type_name(other);
                d.error(
                    &value.span(),
                    format!("{} must be true or false, found {found}", self.what(key)),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(crate) fn req_int(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let value = self.required(d, key)?;
        integer(d, value, &self.what(key), min, max)
    }

    pub(crate) fn int_or(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
        (min, max): (u64, u64),
        default: u64,
    ) -> Option<u64> {
        match self.get(key) {
            None => Some(default),
            Some(value) => integer(d, value, &self.what(key), min, max),
        }
    }

    /// One of a fixed set of spellings.
    pub(crate) fn req_enum<T: Spelled>(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<T> {
        let value = self.required(d, key)?;
        spelled(d, value, &self.what(key))
    }

    /// One of a fixed set of spellings, `None` when the key is absent.
    pub(crate) fn opt_enum<T: Spelled>(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
    ) -> Option<Option<T>> {
        match self.get(key) {
            None => Some(None),
            Some(value) => spelled(d, value, &self.what(key)).map(Some),
        }
    }

    /// An array of spellings.
    pub(crate) fn enum_list<T: Spelled>(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
    ) -> Option<Option<Vec<(T, Span)>>> {
        match self.get(key) {
            None => Some(None),
            Some(value) => list(d, value, &self.what(key), |d, item, what| {
                spelled(d, item, what).map(|v| (v, item.span()))
            })
            .map(Some),
        }
    }

    /// An id that may be omitted.
    pub(crate) fn opt_id(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Option<Located>> {
        match self.opt_str(d, key)? {
            None => Some(None),
            Some(id) => check_id(d, &id, &self.what(key)).then_some(Some(id)),
        }
    }

    /// A SHA-256 digest written as 64 hex digits, which may be omitted.
    pub(crate) fn opt_sha256(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Option<String>> {
        let Some(digest) = self.opt_str(d, key)? else {
            return Some(None);
        };
        if is_sha256_hex(&digest.text) {
            Some(Some(digest.text))
        } else {
            d.error(
                &digest.span,
                format!(
                    "{} must be a SHA-256 digest written as 64 hex digits, found {:?}",
                    self.what(key),
                    digest.text
                ),
            );
            None
        }
    }

    /// An array of tables (`[{ ... }, ...]`), each labelled `` `key` #n of <this table> ``.
    pub(crate) fn tables(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
    ) -> Option<Option<Vec<Table<'a, 'i>>>> {
        let Some(value) = self.get(key) else {
            return Some(None);
        };
        let DeValue::Array(items) = value.get_ref() else {
            let found = type_name(value.get_ref());
            d.error(
                &value.span(),
                format!(
                    "{} must be an array of tables, found {found}",
                    self.what(key)
                ),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (at, item) in items.iter().enumerate() {
            let label = format!("`{key}` #{} of {}", at + 1, self.label);
            match Table::from_value(d, item, label) {
                Some(table) => out.push(table),
                None => ok = false,
            }
        }
        ok.then_some(Some(out))
    }

    /// An array of strings (each with its position).
    pub(crate) fn req_list(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Vec<Located>> {
        let value = self.required(d, key)?;
        list(d, value, &self.what(key), string)
    }

    pub(crate) fn opt_list(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
    ) -> Option<Option<Vec<Located>>> {
        match self.get(key) {
            None => Some(None),
            Some(value) => list(d, value, &self.what(key), string).map(Some),
        }
    }

    /// An array of dates.
    pub(crate) fn date_list(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
    ) -> Option<Vec<(Date, Span)>> {
        match self.get(key) {
            None => Some(Vec::new()),
            Some(value) => list(d, value, &self.what(key), |d, item, what| {
                date(d, item, what).map(|day| (day, item.span()))
            }),
        }
    }

    /// How a key of this table is named in messages.
    pub(crate) fn what(&self, key: &str) -> String {
        format!("`{key}` of {}", self.label)
    }
}

/// Every element of an array, read with `read`; `None` if any element is wrong.
fn list<'i, T>(
    d: &mut Diagnostics<'_>,
    value: &Spanned<DeValue<'i>>,
    what: &str,
    read: impl Fn(&mut Diagnostics<'_>, &Spanned<DeValue<'i>>, &str) -> Option<T>,
) -> Option<Vec<T>> {
    let DeValue::Array(items) = value.get_ref() else {
        let found = type_name(value.get_ref());
        d.error(
            &value.span(),
            format!("{what} must be an array, found {found}"),
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items.iter() {
        match read(d, item, what) {
            Some(read) => out.push(read),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

pub(crate) fn string(
    d: &mut Diagnostics<'_>,
    value: &Spanned<DeValue<'_>>,
    what: &str,
) -> Option<Located> {
    match value.get_ref() {
        DeValue::String(text) if text.trim().is_empty() => {
            d.error(&value.span(), format!("{what} must not be empty"));
            None
        }
        DeValue::String(text) => Some(Located {
            text: text.to_string(),
            span: value.span(),
        }),
        other => {
            let found = type_name(other);
            d.error(
                &value.span(),
                format!("{what} must be a string, found {found}"),
            );
            None
        }
    }
}

/// One of a fixed set of spellings, or an error naming them all.
fn spelled<T: Spelled>(
    d: &mut Diagnostics<'_>,
    value: &Spanned<DeValue<'_>>,
    what: &str,
) -> Option<T> {
    let text = string(d, value, what)?;
    let found = T::ALL.iter().copied().find(|v| v.as_str() == text.text);
    if found.is_none() {
        let allowed: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
        d.error(
            &text.span,
            format!(
                "{what} is {:?}; use one of: {}",
                text.text,
                allowed.join(", ")
            ),
        );
    }
    found
}

/// 64 hex digits (either case).
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Ids travel in HTTP headers and SPIFFE paths: visible ASCII only, at most 128 characters.
pub(crate) fn check_id(d: &mut Diagnostics<'_>, id: &Located, what: &str) -> bool {
    let ok = id.text.len() <= 128 && id.text.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        d.error(
            &id.span,
            format!(
                "{what} {:?} is not a valid id; use at most 128 visible ASCII characters without spaces",
                id.text
            ),
        );
    }
    ok
}

/// City names compare in lower case with `_` for spaces and hyphens ("Hong Kong" is `hong_kong`).
pub(crate) fn normalize_city(city: &str) -> String {
    city.trim().to_lowercase().replace([' ', '-'], "_")
}

/// A TOML local date (`2026-03-02`); a quoted `"2026-03-02"` is read the same way.
fn date(d: &mut Diagnostics<'_>, value: &Spanned<DeValue<'_>>, what: &str) -> Option<Date> {
    let local = match value.get_ref() {
        DeValue::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.date,
        DeValue::String(text) => match text.parse::<toml::value::Datetime>() {
            Ok(dt) if dt.time.is_none() && dt.offset.is_none() => dt.date,
            _ => None,
        },
        _ => None,
    };
    let parsed = local.and_then(|day| {
        let month = Month::try_from(day.month).ok()?;
        Date::from_calendar_date(i32::from(day.year), month, day.day).ok()
    });
    if parsed.is_none() {
        d.error(
            &value.span(),
            format!(
                "{what} must be a date such as 2026-03-02 (a TOML local date, no time or offset)"
            ),
        );
    }
    parsed
}

fn integer(
    d: &mut Diagnostics<'_>,
    value: &Spanned<DeValue<'_>>,
    what: &str,
    min: u64,
    max: u64,
) -> Option<u64> {
    let DeValue::Integer(int) = value.get_ref() else {
        let found = type_name(value.get_ref());
        d.error(
            &value.span(),
            format!("{what} must be an integer, found {found}"),
        );
        return None;
    };
    let digits = int.as_str().replace('_', "");
    let parsed = u64::from_str_radix(digits.trim_start_matches('+'), int.radix())
        .ok()
        .filter(|n| (min..=max).contains(n));
    if parsed.is_none() {
        d.error(
            &value.span(),
            format!("{what} must be a whole number from {min} to {max}, found {int}"),
        );
    }
    parsed
}

pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date or time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
