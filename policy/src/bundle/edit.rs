//! Edits of a bundle's text that keep everything else byte for byte (comments, order, layout):
//! an emergency suspension changes one `status` value and nothing more, so the bundle in force
//! stays the file an admin wrote, with one word changed.

use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostics;
use crate::error::PolicyError;
use crate::model::Status;

/// The bundle `text` with the `status` of `[[tenant]]` `id` set to `status`.
///
/// Returns `Ok(None)` when no tenant has that id. Fails when `text` is not a valid bundle (so an
/// edit never produces one from a broken text).
pub fn set_tenant_status(
    text: &str,
    id: &str,
    status: Status,
) -> Result<Option<String>, PolicyError> {
    super::parse_bundle(text)?;
    let invalid = |message: String| {
        let mut d = Diagnostics::new(text);
        d.error(&(0..0), message);
        PolicyError::InvalidBundle {
            problems: d.into_sorted(),
        }
    };
    let doc = DeTable::parse(text).map_err(|e| invalid(e.message().to_owned()))?;
    let Some(tenants) = doc.get_ref().get("tenant") else {
        return Ok(None);
    };
    let DeValue::Array(tenants) = tenants.get_ref() else {
        return Ok(None);
    };
    for tenant in tenants {
        let DeValue::Table(table) = tenant.get_ref() else {
            continue;
        };
        let is_it = table
            .get("id")
            .is_some_and(|v| matches!(v.get_ref(), DeValue::String(s) if s.as_ref() == id));
        if !is_it {
            continue;
        }
        let Some(current) = table.get("status") else {
            return Err(invalid(format!("tenant {id:?} has no status")));
        };
        let span = current.span();
        let mut edited = String::with_capacity(text.len() + 16);
        edited.push_str(&text[..span.start]);
        edited.push('"');
        edited.push_str(status.as_str());
        edited.push('"');
        edited.push_str(&text[span.end..]);
        return Ok(Some(edited));
    }
    Ok(None)
}
