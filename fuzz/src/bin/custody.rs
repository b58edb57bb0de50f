//! AFL target for the shipment body parsers (`loopgate::parse_shipment_body`): any bytes, as a
//! declaration (`POST /v1/shipments`) when the first byte is even and as a custody event (`POST
//! /v1/shipments/{id}/events`) otherwise, must parse or be refused with `request.malformed_body`
//! and a message, never a panic. What a parse accepts stays inside the documented bounds: ids of
//! at most 256 characters, texts of at most 1024, at most 100 seal ids.

use loopgate::{MAX_ID_CHARS, MAX_SEALS, MAX_TEXT_CHARS, ShipmentBody, parse_shipment_body};
use loopgate_policy::ReasonCode;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((first, body)) = data.split_first() else {
            return;
        };
        match parse_shipment_body(first % 2 == 1, body) {
            Ok(ShipmentBody::Declaration { longest_id, .. }) => {
                assert!(longest_id <= MAX_ID_CHARS);
            }
            Ok(ShipmentBody::Event {
                seals,
                longest_text,
                ..
            }) => {
                assert!(seals <= MAX_SEALS);
                assert!(longest_text <= MAX_TEXT_CHARS.max(MAX_ID_CHARS));
            }
            Err((code, message)) => {
                assert_eq!(code, ReasonCode::RequestMalformedBody);
                assert!(!message.is_empty());
            }
        }
    });
}
