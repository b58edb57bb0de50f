//! The HTTP side of shipments (SPEC.md section 3): `POST /v1/shipments` (a declaration, from its
//! sender), `POST /v1/shipments/{id}/events` (a custody event, from the party whose step it
//! is) and `GET /v1/shipments/{id}` (the chain, for its sender, recipient and named carrier).
//! Bodies are JSON objects read whole; unknown keys, wrong types, negative or enormous numbers
//! and oversized lists are refused with 400 `request.malformed_body` before anything is logged.
//! The rules and the records are `crate::shipment`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use loopgate_policy::{Custody, CustodyEvent, Overdue, Parameters, ReasonCode};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::body::{self, bounded, malformed};
use super::lifecycle;
use super::receipt::{Receipt, entry};
use super::view::Proven;
use crate::api::RequestBody;
use crate::identity::Principal;
use crate::reply::{ApiError, Reply};
use crate::shipment::chain::Chain;
use crate::shipment::custody::{self, Accepted, not_a_party, not_found};
use crate::shipment::records::{Declaration, Event, party_of};
use crate::shipment::{declare, view::Tracked};
use crate::state::{self, AppState};

/// Largest declaration or event body, bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most seal ids one event may list.
pub const MAX_SEALS: usize = 100;
/// Longest id (sample item, recipient, purpose, carrier, seal, key), characters.
pub const MAX_ID_CHARS: usize = 256;
/// Longest free text (`note`, `project`, `method`, `customs_declaration`, `facility`).
pub const MAX_TEXT_CHARS: usize = crate::transfer::lifecycle::MAX_TEXT_CHARS;

/// A declaration as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclaration {
    sample_item: String,
    recipient: String,
    quantity: i64,
    purpose: String,
    carrier: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Parses a declaration body.
pub(crate) fn parse_declaration(body: &[u8]) -> Result<Declaration, ApiError> {
    let raw: RawDeclaration = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the body is not a shipment declaration ({e}); send {{\"sample_item\": \"...\", \"recipient\": \"...\", \"quantity\": <integer>, \"purpose\": \"...\", \"carrier\": \"...\", \"idempotency_key\": \"...\" (optional)}}"
        ))
    })?;
    for (name, text) in [
        ("sample_item", Some(&raw.sample_item)),
        ("recipient", Some(&raw.recipient)),
        ("purpose", Some(&raw.purpose)),
        ("carrier", Some(&raw.carrier)),
        ("idempotency_key", raw.idempotency_key.as_ref()),
    ] {
        bounded(name, text.map(String::as_str), MAX_ID_CHARS)?;
    }
    if raw.idempotency_key.as_deref().is_some_and(str::is_empty) {
        return Err(malformed(
            "idempotency_key is empty; leave it out or give a non-empty key",
        ));
    }
    Ok(Declaration {
        sample_item: raw.sample_item,
        recipient: raw.recipient,
        quantity: raw.quantity,
        purpose: raw.purpose,
        carrier: raw.carrier,
        idempotency_key: raw.idempotency_key,
    })
}

/// A custody event as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    event: String,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    seal_ids: Option<Vec<String>>,
    #[serde(default)]
    customs_declaration: Option<String>,
    #[serde(default)]
    quantity: Option<u64>,
    #[serde(default)]
    facility: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    certificate_sha256: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// Parses a custody event body.
pub(crate) fn parse_event(body: &[u8]) -> Result<(CustodyEvent, Event), ApiError> {
    let raw: RawEvent = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the body is not a custody event ({e}); send {{\"event\": \"...\", \"at\": \"<RFC 3339>\"}} with the fields the event needs: seal_ids (list of strings), customs_declaration, quantity (non-negative integer), facility, project, method, certificate_sha256, note"
        ))
    })?;
    let event = CustodyEvent::parse(&raw.event).ok_or_else(|| {
        let all: Vec<&str> = CustodyEvent::ALL.iter().map(|e| e.as_str()).collect();
        malformed(format!(
            "event {:?} is not a custody event; use one of {}",
            raw.event,
            all.join(", ")
        ))
    })?;
    let at = raw.at.map(|text| lifecycle::instant(&text)).transpose()?;
    if let Some(seals) = &raw.seal_ids {
        if seals.len() > MAX_SEALS {
            return Err(malformed(format!(
                "seal_ids lists {} seals; list at most {MAX_SEALS}",
                seals.len()
            )));
        }
        for seal in seals {
            bounded("a seal id", Some(seal), MAX_ID_CHARS)?;
        }
    }
    for (name, text) in [
        ("customs_declaration", &raw.customs_declaration),
        ("facility", &raw.facility),
        ("project", &raw.project),
        ("method", &raw.method),
        ("certificate_sha256", &raw.certificate_sha256),
        ("note", &raw.note),
    ] {
        bounded(name, text.as_deref(), MAX_TEXT_CHARS)?;
    }
    Ok((
        event,
        Event {
            at,
            seal_ids: raw.seal_ids,
            customs_declaration: raw.customs_declaration,
            quantity: raw.quantity,
            facility: raw.facility,
            project: raw.project,
            method: raw.method,
            certificate_sha256: raw.certificate_sha256,
            note: raw.note,
        },
    ))
}

/// What a shipment body parsed to, as far as the fuzz targets and property tests check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentBody {
    /// A declaration.
    Declaration {
        /// The quantity as sent.
        quantity: i64,
        /// Its longest id, in characters.
        longest_id: usize,
    },
    /// A custody event.
    Event {
        /// Which step.
        event: CustodyEvent,
        /// How many seal ids it lists.
        seals: usize,
        /// Its longest text or seal id, in characters.
        longest_text: usize,
    },
}

/// Parses `body` as `POST /v1/shipments` (`custody` false) or `POST
/// /v1/shipments/{id}/events` (`custody` true) would: what it parsed to, or the refusal's code
/// and message. For the fuzz target and the property tests of the parsers.
pub fn parse_shipment_body(
    custody: bool,
    body: &[u8],
) -> Result<ShipmentBody, (ReasonCode, String)> {
    let chars = |t: &str| t.chars().count();
    let refused = |e: ApiError| (e.code, e.message);
    if custody {
        let (event, body) = parse_event(body).map_err(refused)?;
        let texts = [
            &body.customs_declaration,
            &body.facility,
            &body.project,
            &body.method,
            &body.certificate_sha256,
            &body.note,
        ];
        let seals = body.seal_ids.iter().flatten();
        let longest_text = texts
            .iter()
            .filter_map(|t| t.as_deref())
            .chain(seals.map(String::as_str))
            .map(chars)
            .max()
            .unwrap_or(0);
        Ok(ShipmentBody::Event {
            event,
            seals: body.seal_ids.map_or(0, |s| s.len()),
            longest_text,
        })
    } else {
        let declared = parse_declaration(body).map_err(refused)?;
        let ids = [
            &declared.sample_item,
            &declared.recipient,
            &declared.purpose,
            &declared.carrier,
        ];
        let longest_id = ids
            .iter()
            .map(|t| chars(t))
            .chain(declared.idempotency_key.as_deref().map(chars))
            .max()
            .unwrap_or(0);
        Ok(ShipmentBody::Declaration {
            quantity: declared.quantity,
            longest_id,
        })
    }
}

/// `request.not_found` unless `shipment_id` looks like an id (at most 64 hex digits), so
/// nothing else reaches the index.
fn check_id(shipment_id: &str) -> Result<(), ApiError> {
    if crate::transfer::id::is_plausible(shipment_id) {
        Ok(())
    } else {
        Err(not_found(shipment_id))
    }
}

/// `POST /v1/shipments` from tenant `sender`, and whether the answer is a replay.
pub(super) async fn post(
    state: &Arc<AppState>,
    sender: &str,
    request: Request<RequestBody>,
) -> (Result<Reply, ApiError>, bool) {
    let idle = state.config().limits.body_idle_timeout;
    let declared = match body::read_whole(request, MAX_BODY_BYTES, idle).await {
        Ok(body) => parse_declaration(&body),
        Err(e) => Err(e),
    };
    match declared {
        Ok(declared) => declare::declare(state, sender, declared).await,
        Err(e) => (Err(e), false),
    }
}

/// `POST /v1/shipments/{id}/events` from `principal`.
pub(super) async fn post_event(
    state: &Arc<AppState>,
    principal: &Principal,
    shipment_id: &str,
    request: Request<RequestBody>,
) -> Result<Reply, ApiError> {
    check_id(shipment_id)?;
    let idle = state.config().limits.body_idle_timeout;
    let body = body::read_whole(request, MAX_BODY_BYTES, idle).await?;
    let (event, body) = parse_event(&body)?;
    let Accepted {
        appended,
        leaf,
        flags,
    } = custody::report(state, principal, shipment_id, event, &body).await?;
    let witnessed = crate::cosign::witness(state, &appended).await;
    let receipt = Receipt::proven(
        appended.index,
        &leaf,
        Some(appended.leaf_hash),
        &appended.checkpoint,
        &appended.inclusion_proof,
    )
    .witnessed(&witnessed)
    .shipment(shipment_id)
    .flags(&flags)
    .to_vec();
    Ok((StatusCode::CREATED, Bytes::from(receipt)))
}

/// `GET /v1/shipments/{id}` for `principal`.
pub(super) async fn get(
    state: &Arc<AppState>,
    principal: &Principal,
    shipment_id: &str,
) -> Result<Reply, ApiError> {
    check_id(shipment_id)?;
    let (principal, id) = (principal.clone(), shipment_id.to_owned());
    state::blocking(state, move |state| view(state, &principal, &id)).await
}

fn rfc3339(t: OffsetDateTime) -> Value {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_or(Value::Null, Value::String)
}

/// The custody state of a shipment as both views show it: status, who holds the samples,
/// quantities, flags, the last step and the next ones, and why it is overdue.
pub(crate) fn state_json(
    custody: &Custody,
    parties: [&str; 3],
    now: OffsetDateTime,
    params: &Parameters,
) -> serde_json::Map<String, Value> {
    let [sender, carrier, recipient] = parties;
    let holder = custody.holder();
    let holder_id = holder.map(|party| match party {
        loopgate_policy::CustodyParty::Sender => sender,
        loopgate_policy::CustodyParty::Carrier => carrier,
        loopgate_policy::CustodyParty::Recipient => recipient,
    });
    let overdue = match custody.overdue(now, params) {
        None => Value::Null,
        Some(Overdue::Handover { since }) => json!({"kind": "handover", "since": rfc3339(since)}),
        Some(Overdue::Retention { due }) => json!({"kind": "retention", "due": rfc3339(due)}),
    };
    let next: Vec<&str> = custody.next_events().iter().map(|e| e.as_str()).collect();
    let mut map = serde_json::Map::new();
    map.insert("status".into(), json!(custody.status(now, params).as_str()));
    map.insert("holder".into(), json!(holder.map(|p| p.as_str())));
    map.insert("holder_id".into(), json!(holder_id));
    map.insert("quantity_held".into(), json!(custody.held()));
    map.insert("quantity_received".into(), json!(custody.received()));
    map.insert("quantity_consumed".into(), json!(custody.consumed()));
    map.insert("flags".into(), json!(custody.flags()));
    map.insert(
        "last_event".into(),
        json!(custody.last_event().map(|e| e.as_str())),
    );
    map.insert("next_events".into(), json!(next));
    map.insert("overdue".into(), overdue);
    map
}

fn view(state: &AppState, principal: &Principal, shipment_id: &str) -> Result<Reply, ApiError> {
    let chain = Chain::read(&state.log, shipment_id)
        .map_err(|e| ApiError::audit_unavailable("the audit log cannot be read", e))?;
    let (Some(declaration), Some(details), Some(last)) =
        (chain.declaration(), chain.details(), chain.last())
    else {
        return Err(not_found(shipment_id));
    };
    if party_of(
        &declaration.record,
        &details.carrier,
        principal.role,
        &principal.id,
    )
    .is_none()
    {
        return Err(not_a_party(shipment_id));
    }
    let now = state.clock.now();
    let params = state.policy().registry.parameters.clone();
    let sender = declaration.record.sender.as_deref().unwrap_or_default();
    let recipient = declaration.record.recipient.as_deref().unwrap_or_default();
    let mut body = match chain.custody() {
        Some(custody) => state_json(
            &custody,
            [sender, &details.carrier, recipient],
            now,
            &params,
        ),
        None => {
            let mut map = serde_json::Map::new();
            map.insert("status".into(), json!("denied"));
            map.insert(
                "reason".into(),
                json!(declaration.reason().map(|r| r.as_str())),
            );
            map
        }
    };
    let custody_entries: Vec<Value> = chain
        .events()
        .map(|(found, event)| {
            json!({
                "log_index": found.index,
                "time": found.record.time,
                "event": event.event.as_str(),
                "principal": event.principal,
                "reported_at": event.reported_at.map_or(Value::Null, rfc3339),
                "refused": found.record.reason.clone().flatten(),
                "flags": event.flags,
                "held": event.held,
            })
        })
        .collect();
    let proven = Proven::latest(state, last)?;
    let receipt = proven.of(last).shipment(shipment_id);
    let records: Vec<_> = chain
        .records()
        .iter()
        .map(|f| entry(f.index, &f.leaf))
        .collect();
    body.insert("shipment_id".into(), json!(shipment_id));
    body.insert("sender".into(), json!(sender));
    body.insert("recipient".into(), json!(recipient));
    body.insert("carrier".into(), json!(details.carrier));
    body.insert("sample_item".into(), json!(declaration.record.sample_item));
    body.insert("quantity_declared".into(), json!(details.quantity));
    body.insert("custody".into(), Value::Array(custody_entries));
    body.insert("receipt".into(), to_value(&receipt));
    body.insert("records".into(), to_value(&records));
    Ok((StatusCode::OK, Bytes::from(Value::Object(body).to_string())))
}

/// `value` as a JSON value (the record's raw leaf parsed once); `null`, logged, on a failure,
/// as `receipt::to_vec` does.
fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise a JSON answer");
        Value::Null
    })
}

/// One shipment of the regulators' list.
pub(crate) fn tracked_json(tracked: &Tracked, now: OffsetDateTime, params: &Parameters) -> Value {
    let mut map = state_json(
        &tracked.custody,
        [&tracked.sender, &tracked.carrier, &tracked.recipient],
        now,
        params,
    );
    map.insert("shipment_id".into(), json!(tracked.shipment_id));
    map.insert("sender".into(), json!(tracked.sender));
    map.insert("recipient".into(), json!(tracked.recipient));
    map.insert("carrier".into(), json!(tracked.carrier));
    map.insert("sample_item".into(), json!(tracked.sample_item));
    map.insert("quantity_declared".into(), json!(tracked.declared_quantity));
    map.insert("declared_log_index".into(), json!(tracked.declared_index));
    map.insert("last_log_index".into(), json!(tracked.last_index));
    Value::Object(map)
}
