//! Shipment bodies as the dev bundle accepts them (SPEC.md section 3, RULES.md S1-S12): a
//! declaration of the dev sample item, and each custody step with the evidence it needs,
//! happening now. Tests that check a refusal change one field with [`with`] so the case reads in
//! the test.

use serde_json::{Value, json};

use crate::event::{CERTIFICATE_SHA256, merge, now};

/// Units the dev declaration ships.
pub const QUANTITY: u64 = 24;
/// The seals the sender puts on.
pub const SEALS: [&str; 2] = ["SEAL-0001", "SEAL-0002"];
/// The dev sample item's storage facility.
pub const FACILITY: &str = "HKP-BIOBANK-1";

/// The dev sample item shipped from `sz-genomics` to `hk-biolab` by `hkp-logistics`.
pub fn declaration() -> Value {
    json!({
        "sample_item": "SMP-BLOOD-001",
        "recipient": "hk-biolab",
        "quantity": QUANTITY,
        "purpose": "research.cohort_study",
        "carrier": "hkp-logistics",
    })
}

/// Custody step `event` happening now, with its evidence (quantities for a whole chain: 24
/// received, 4 used, the other 20 destroyed).
pub fn step(event: &str) -> Value {
    let mut body = json!({ "event": event, "at": now() });
    let fields = match event {
        "sealed" | "picked_up" => json!({ "seal_ids": SEALS }),
        "border_cleared" => json!({ "customs_declaration": "HK-CUS-2026-000123" }),
        "received" => json!({ "quantity": QUANTITY, "seal_ids": SEALS }),
        "stored" => json!({ "facility": FACILITY }),
        "checked_out" | "used" => json!({ "quantity": 4, "project": "cohort-7" }),
        "returned" => json!({ "quantity": 1 }),
        "destroyed" => json!({
            "quantity": QUANTITY - 4,
            "method": "autoclave",
            "certificate_sha256": CERTIFICATE_SHA256,
        }),
        _ => json!({}),
    };
    merge(&mut body, &fields);
    body
}

/// `body` with `extra`'s fields set over it (`null` removes one).
pub fn with(mut body: Value, extra: Value) -> Value {
    merge(&mut body, &extra);
    body
}

/// The party whose step `event` is: `sender`, `carrier` or `recipient`.
pub fn party(event: &str) -> &'static str {
    match event {
        "sealed" => "sender",
        "picked_up" | "border_cleared" | "delivered" => "carrier",
        _ => "recipient",
    }
}

/// The steps of a whole chain, in order, up to the closing `destroyed`.
pub const CHAIN: [&str; 8] = [
    "sealed",
    "picked_up",
    "border_cleared",
    "delivered",
    "received",
    "stored",
    "used",
    "destroyed",
];

/// Every custody event.
pub const EVENTS: [&str; 10] = [
    "sealed",
    "picked_up",
    "border_cleared",
    "delivered",
    "received",
    "stored",
    "checked_out",
    "used",
    "returned",
    "destroyed",
];
