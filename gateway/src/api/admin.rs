//! The admin API (SPEC.md section 6, role `admin`): the policy bundle in force, whole-bundle
//! changes, emergency suspensions and their lifting. Each change is validated, logged as one `policy_change`
//! record with the admin's principal and the diff, and only then put in force (see
//! [`crate::registry`]). Admins change the registry, never the log's past.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use loopgate_policy::{Diagnostic, MAX_BUNDLE_BYTES, ReasonCode, Severity, Status};
use serde_json::{Value, json};

use super::{Answer, body};
use crate::api::RequestBody;
use crate::registry::{self, Applied, ChangeError, Source};
use crate::reply::{ApiError, Reply};
use crate::state::AppState;

/// Largest suspension request body (`{"reason": "..."}`).
const MAX_SUSPEND_BYTES: usize = 16 * 1024;

/// `GET /v1/admin/policy`: the bundle in force, exactly as applied, as `application/toml`, with
/// its version in `Loop-Policy-Version`.
pub(super) fn get(state: &AppState) -> Answer {
    let snapshot = state.policy();
    let body = Full::new(Bytes::from(snapshot.text.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/toml; charset=utf-8"),
    );
    headers.insert("loop-policy-version", HeaderValue::from(snapshot.version));
    Answer::Response(response)
}

/// `PUT /v1/admin/policy`: validates the body as a bundle and puts it in force.
pub(super) async fn put(state: &AppState, admin: &str, request: Request<RequestBody>) -> Reply {
    let result = async {
        let idle = state.config().limits.body_idle_timeout;
        let body = body::read_whole(request, MAX_BUNDLE_BYTES, idle).await?;
        let text = String::from_utf8(body.to_vec()).map_err(|e| {
            invalid(&[Diagnostic {
                severity: Severity::Error,
                line: 1,
                column: 1,
                message: format!(
                    "the bundle is not UTF-8 (invalid byte at offset {}); save it as UTF-8",
                    e.utf8_error().valid_up_to()
                ),
            }])
        })?;
        let applied = registry::apply(state, text, Source::Admin(admin), None)
            .await
            .map_err(change_error)?;
        if applied.unchanged {
            tracing::info!(principal = %format!("admin/{admin}"), policy_version = applied.version, "the bundle applied is the one in force; nothing changed");
            return Ok(applied_reply(&applied, IDENTICAL));
        }
        tracing::info!(principal = %format!("admin/{admin}"), policy_version = applied.version, "policy bundle applied through the admin API");
        Ok(applied_reply(&applied, IDENTICAL))
    }
    .await;
    result.unwrap_or_else(|e: Refusal| e.0)
}

/// `POST /v1/admin/tenants/{id}/suspend`: suspends one tenant at once. The optional JSON body
/// `{"reason": "..."}` is logged with the change.
pub(super) async fn suspend(
    state: &AppState,
    admin: &str,
    tenant: &str,
    request: Request<RequestBody>,
) -> Reply {
    change_tenant(state, admin, tenant, request, TenantChange::Suspend).await
}

/// `POST /v1/admin/tenants/{id}/unsuspend`: lifts one tenant's suspension at once (its `status`
/// back to `approved`). The optional JSON body `{"reason": "..."}` is logged with the change.
/// A tenant that is not suspended: 409 `policy.not_suspended`, nothing logged.
pub(super) async fn unsuspend(
    state: &AppState,
    admin: &str,
    tenant: &str,
    request: Request<RequestBody>,
) -> Reply {
    change_tenant(state, admin, tenant, request, TenantChange::Unsuspend).await
}

/// Which way an admin changes a tenant's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TenantChange {
    Suspend,
    Unsuspend,
}

/// Reads the optional reason, applies `change` to `tenant` and answers with the version.
async fn change_tenant(
    state: &AppState,
    admin: &str,
    tenant: &str,
    request: Request<RequestBody>,
    change: TenantChange,
) -> Reply {
    let result = async {
        let idle = state.config().limits.body_idle_timeout;
        let body = body::read_whole(request, MAX_SUSPEND_BYTES, idle).await?;
        let reason = suspension_reason(&body)?;
        let applied = match change {
            TenantChange::Suspend => {
                registry::suspend(state, admin, tenant, reason.as_deref()).await
            }
            TenantChange::Unsuspend => {
                registry::unsuspend(state, admin, tenant, reason.as_deref()).await
            }
        }
        .map_err(change_error)?;
        let principal = format!("admin/{admin}");
        let version = applied.version;
        match (change, applied.unchanged) {
            (TenantChange::Suspend, true) => {
                tracing::info!(%principal, tenant, policy_version = version, "tenant already suspended; nothing changed");
            }
            (TenantChange::Suspend, false) => {
                tracing::warn!(%principal, tenant, policy_version = version, "tenant suspended through the admin API");
            }
            (TenantChange::Unsuspend, _) => {
                tracing::warn!(%principal, tenant, policy_version = version, "tenant's suspension lifted through the admin API");
            }
        }
        // Only a suspension can leave things as they were (an unsuspension that would is
        // refused with 409).
        Ok(applied_reply(&applied, ALREADY_SUSPENDED))
    }
    .await;
    result.unwrap_or_else(|e: Refusal| e.0)
}

/// What an unchanged `PUT /v1/admin/policy` says.
const IDENTICAL: &str =
    "the bundle is identical to the one in force; nothing was changed or logged";

/// What a suspension of a suspended tenant says.
const ALREADY_SUSPENDED: &str = "the tenant is suspended already; nothing was changed or logged";

/// An error reply, built where the problem is found.
struct Refusal(Reply);

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal(error.reply())
    }
}

/// 200 `{"policy_version", "diff"}`, with `"unchanged": true` and `message` when nothing
/// changed.
fn applied_reply(applied: &Applied, unchanged_message: &str) -> Reply {
    let mut body = json!({"policy_version": applied.version, "diff": applied.diff});
    if applied.unchanged {
        body["unchanged"] = json!(true);
        body["message"] = json!(unchanged_message);
    }
    (StatusCode::OK, Bytes::from(body.to_string()))
}

/// The `reason` of a suspension body: none for an empty body, else a JSON object whose only
/// key is an optional string `reason`.
fn suspension_reason(body: &[u8]) -> Result<Option<String>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let malformed = |why: &str| {
        Refusal::from(
            ApiError::new(ReasonCode::RequestMalformedBody).message(format!(
                "the body must be empty or {{\"reason\": \"<text>\"}}: {why}"
            )),
        )
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(malformed("not a JSON object"));
    };
    if let Some(key) = object.keys().find(|k| k.as_str() != "reason") {
        return Err(malformed(&format!("unknown key {key:?}")));
    }
    match object.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(reason)) if reason.chars().count() <= 1024 => Ok(Some(reason.clone())),
        Some(Value::String(_)) => Err(malformed("reason is longer than 1024 characters")),
        Some(_) => Err(malformed("reason must be a string")),
    }
}

/// 422 `policy.invalid` with every problem and its location.
fn invalid(problems: &[Diagnostic]) -> Refusal {
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let listed: Vec<Value> = problems
        .iter()
        .map(|p| {
            json!({
                "line": p.line,
                "column": p.column,
                "severity": match p.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": p.message,
            })
        })
        .collect();
    let body = json!({
        "error": ReasonCode::PolicyInvalid.as_str(),
        "message": format!("the policy bundle has {errors} error(s); nothing was changed; fix each problem listed and apply it again"),
        "log_index": null,
        "problems": listed,
    });
    Refusal((
        StatusCode::UNPROCESSABLE_ENTITY,
        Bytes::from(body.to_string()),
    ))
}

fn change_error(e: ChangeError) -> Refusal {
    match e {
        ChangeError::Invalid(problems) => invalid(&problems),
        ChangeError::UnknownTenant(id) => ApiError::new(ReasonCode::RequestNotFound)
            .message(format!("no tenant {id:?} in the bundle in force"))
            .into(),
        ChangeError::NotSuspended { tenant, status } => {
            let fix = match status {
                Status::Revoked => {
                    "a revocation is lifted only by a new bundle (PUT /v1/admin/policy, `loopgate policy apply --yes`)"
                }
                _ => "there is no suspension to lift; nothing was changed or logged",
            };
            ApiError::new(ReasonCode::PolicyNotSuspended)
                .message(format!(
                    "tenant {tenant:?} is {}, not suspended: {fix}",
                    status.as_str()
                ))
                .into()
        }
        ChangeError::Audit(e) => ApiError::audit_unavailable(
            "the policy_change record cannot be written, so nothing was changed",
            e,
        )
        .into(),
    }
}
