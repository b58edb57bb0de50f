//! One record with its inclusion proof to the latest checkpoint, and the RFC 9162 inclusion and
//! consistency proofs between tree sizes the regulator names.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::Hash;
use loopgate_policy::ReasonCode;
use serde_json::{Value, json};

use super::query::{Params, malformed};
use super::reader::Reader;
use super::{blocking, unreadable};
use crate::api::receipt::Receipt;
use crate::cosign::Witnessed;
use crate::reply::ApiError;
use crate::state::AppState;

fn hashes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|h| STANDARD.encode(h)).collect()
}

/// `GET /v1/audit/records/{log_index}`: `{"log_index", "leaf", "leaf_hash", "record",
/// "checkpoint", "inclusion_proof"}`, the proof leading to the latest checkpoint's root; as JSON
/// bytes.
pub(super) async fn record(
    state: &Arc<AppState>,
    reader: Reader,
    index: &str,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    Params::parse(query, &[])?;
    let not_found = || {
        ApiError::new(ReasonCode::RequestNotFound).message(format!(
            "no record {index:?}; give a log index below the latest checkpoint's size"
        ))
    };
    let index: u64 = index.parse().map_err(|_| not_found())?;
    let checkpoint = state.log.latest_checkpoint();
    if index >= checkpoint.size() {
        return Err(not_found());
    }
    // With witnesses: the latest cosigned checkpoint when it covers the record.
    let cosigned = state
        .cosigning
        .latest()
        .filter(|c| c.checkpoint.size() > index);
    let checkpoint = cosigned
        .as_ref()
        .map_or(checkpoint, |c| c.checkpoint.clone());
    blocking(state, move |state| {
        let leaf = state.log.read(index).map_err(unreadable)?;
        if !reader.sees_leaf(&leaf) {
            return Err(ApiError::new(ReasonCode::AuthForbidden).message(format!(
                "record {index} is outside what regulator/{} sees ([[regulator]] sees)",
                reader.id()
            )));
        }
        let proof = state
            .log
            .inclusion_proof(index, checkpoint.size())
            .map_err(unreadable)?;
        let witnessed = match cosigned {
            Some(cosigned) => Witnessed::Cosigned {
                cosigned,
                proof: proof.clone(),
            },
            None if state.cosigning.enabled() => Witnessed::NotCosigned,
            None => Witnessed::Off,
        };
        let receipt = Receipt::proven(index, &leaf, None, &checkpoint, &proof);
        Ok(receipt.witnessed(&witnessed).to_vec())
    })
    .await
}

/// The tree size the regulator asked for, or the latest checkpoint's when absent; never beyond
/// the log.
fn tree_size(state: &AppState, asked: Option<u64>, name: &str) -> Result<u64, ApiError> {
    let signed = state.log.latest_checkpoint().size();
    match asked {
        None => Ok(signed),
        Some(size) if size > signed => Err(malformed(format!(
            "{name}={size} is beyond the log: its current size is {signed}; ask for at most {signed}"
        ))),
        Some(size) => Ok(size),
    }
}

/// `GET /v1/audit/proof/inclusion?log_index=&tree_size=`: `{"log_index", "tree_size",
/// "hashes"}`. `tree_size` defaults to the latest checkpoint's size.
pub(super) async fn inclusion(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let params = Params::parse(query, &["log_index", "tree_size"])?;
    let index = params
        .number("log_index")?
        .ok_or_else(|| malformed("log_index is required: the record's index"))?;
    let size = match (params.number("tree_size")?, state.cosigning.latest()) {
        // With witnesses, by default the proof leads to the latest cosigned checkpoint
        // (`GET /v1/audit/checkpoint`) when it covers the record.
        (None, Some(cosigned)) if cosigned.checkpoint.size() > index => cosigned.checkpoint.size(),
        (asked, _) => tree_size(state, asked, "tree_size")?,
    };
    if index >= size {
        return Err(malformed(format!(
            "log_index={index} is not in the tree of {size} records; ask for an index below tree_size"
        )));
    }
    blocking(state, move |state| {
        let proof = state.log.inclusion_proof(index, size).map_err(unreadable)?;
        Ok(json!({ "log_index": index, "tree_size": size, "hashes": hashes(&proof) }))
    })
    .await
}

/// `GET /v1/audit/proof/consistency?from=&to=`: `{"from", "to", "hashes"}` proving the tree of
/// `to` records extends the tree of `from` records. `to` defaults to the latest checkpoint's
/// size; `from` is required and at most `to` (equal sizes, or `from=0`, give an empty proof).
pub(super) async fn consistency(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let params = Params::parse(query, &["from", "to"])?;
    let from = params
        .number("from")?
        .ok_or_else(|| malformed("from is required: the smaller tree size"))?;
    let to = tree_size(state, params.number("to")?, "to")?;
    if from > to {
        return Err(malformed(format!(
            "from={from} is larger than to={to}; give the smaller tree size first"
        )));
    }
    blocking(state, move |state| {
        let proof = state.log.consistency_proof(from, to).map_err(unreadable)?;
        Ok(json!({ "from": from, "to": to, "hashes": hashes(&proof) }))
    })
    .await
}
