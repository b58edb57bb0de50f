//! Lifecycle event bodies (`POST /v1/transfers/{id}/events`) as rule 20 accepts them: `at` is
//! the test's clock, now, and each event carries the evidence it needs (`project` for
//! `accessed`, `method` and `certificate_sha256` for `destroyed`). Tests that check a refusal
//! build the body by hand so the case reads in the test.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

/// A destruction certificate's digest: 64 hex digits.
pub const CERTIFICATE_SHA256: &str =
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Now, RFC 3339 in UTC with the clock's full precision (a transfer completed a moment ago has
/// a record time after a whole-second `at` of the same second).
pub fn now() -> String {
    loopgate::Clock::system()
        .now()
        .format(&Rfc3339)
        .expect("the clock's year has four digits")
}

/// A body for `event` (`stored`, `accessed` or `destroyed`) happening now, with its evidence.
pub fn body(event: &str) -> Value {
    let mut body = json!({ "event": event, "at": now() });
    match event {
        "accessed" => body["project"] = json!("tumour panel re-analysis"),
        "destroyed" => {
            body["method"] = json!("crypto-shredded");
            body["certificate_sha256"] = json!(CERTIFICATE_SHA256);
        }
        _ => {}
    }
    body
}

/// [`body`] as the text to send.
pub fn valid(event: &str) -> String {
    body(event).to_string()
}

/// [`body`] with `extra`'s fields set over it (`null` removes one), as text.
pub fn with(event: &str, extra: Value) -> String {
    let mut body = body(event);
    merge(&mut body, &extra);
    body.to_string()
}

/// Sets `extra`'s fields over `body`'s (`null` removes one).
pub fn merge(body: &mut Value, extra: &Value) {
    if let (Some(fields), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            if value.is_null() {
                fields.remove(key);
            } else {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
}
