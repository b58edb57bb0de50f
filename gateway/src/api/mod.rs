//! The HTTPS API (SPEC.md sections 2-4): routing by path and role, JSON errors, and one tracing
//! line per request.

mod admin;
mod audit;
mod lifecycle;
mod receipt;
mod transfer;
mod view;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use loopgate_policy::ReasonCode;
use serde_json::json;

use crate::identity::{IdentityError, Principal, Role};
use crate::state::{AppState, Reply};

/// An error response: the code decides the status; `log_index` when a record was written.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The reason code.
    pub code: ReasonCode,
    /// A sentence for the caller.
    pub message: String,
    /// The record that logged it, if any.
    pub log_index: Option<u64>,
}

impl ApiError {
    /// An error with the code's own meaning as message.
    pub fn new(code: ReasonCode) -> Self {
        Self {
            code,
            message: code.meaning().to_owned(),
            log_index: None,
        }
    }

    /// With a more specific message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// With the index of the record that logged it.
    pub fn logged(mut self, index: u64) -> Self {
        self.log_index = Some(index);
        self
    }

    /// The JSON error body of SPEC.md section 2.
    pub fn reply(&self) -> Reply {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "error": self.code.as_str(),
            "message": self.message,
            "log_index": self.log_index,
        });
        (status, Bytes::from(body.to_string()))
    }
}

/// An error that ends a streamed response body (the client sees the body cut off, never a
/// complete-looking one).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every API response: a whole body, or one streamed as it is produced (the
/// regulator's export).
pub type ApiBody = UnsyncBoxBody<Bytes, BodyError>;

/// What a handler answers: a whole status and body (what `Idempotency-Key` retries replay), or a
/// response whose body is streamed.
pub(crate) enum Answer {
    /// Status and a whole body (JSON, or text for the checkpoint).
    Whole(Reply),
    /// A response with a streamed body and its own headers.
    Streamed(Response<ApiBody>),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Whole(reply)
    }
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Whole((status, _)) => *status,
            Answer::Streamed(response) => response.status(),
        }
    }

    fn into_response(self) -> Response<ApiBody> {
        match self {
            Answer::Whole(reply) => json_response(reply),
            Answer::Streamed(response) => response,
        }
    }
}

/// What a handler tells the request log besides the status.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outcome {
    pub(crate) decision: Option<&'static str>,
    pub(crate) reason: Option<ReasonCode>,
    pub(crate) bytes: u64,
}

/// Serves one request from an authenticated (or not) connection.
pub async fn handle(
    state: Arc<AppState>,
    principal: Result<Principal, IdentityError>,
    request: Request<Incoming>,
) -> Response<ApiBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let who = principal
        .as_ref()
        .map_or_else(|_| "unauthenticated".to_owned(), ToString::to_string);
    let max_head = state.config().limits.max_header_bytes;
    let (reply, outcome) = match principal {
        Err(e) => {
            let error = ApiError::new(ReasonCode::AuthBadIdentity).message(e.to_string());
            (error.reply().into(), outcome_of(&error))
        }
        Ok(_) if head_bytes(&request) > max_head => {
            let error = ApiError::new(ReasonCode::RequestHeadersTooLarge).message(format!(
                "the request line and headers take more than {max_head} bytes; send less"
            ));
            (error.reply().into(), outcome_of(&error))
        }
        Ok(principal) => route(&state, &principal, request).await,
    };
    let template = route_template(&path);
    record_metrics(&state, template, reply.status(), &outcome);
    tracing::info!(
        principal = %who,
        method = %method,
        route = template,
        path = %path,
        decision = outcome.decision.unwrap_or("-"),
        reason = outcome.reason.map_or("-", |r| r.as_str()),
        status = reply.status().as_u16(),
        bytes = outcome.bytes,
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    reply.into_response()
}

/// The route template of `path` (a bounded label: never the raw path).
fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["v1", "transfers"] => "/v1/transfers",
        ["v1", "transfers", _] => "/v1/transfers/{transfer_id}",
        ["v1", "audit", "checkpoint"] => "/v1/audit/checkpoint",
        ["v1", "admin", "policy"] => "/v1/admin/policy",
        ["v1", "admin", "tenants", _, "suspend"] => "/v1/admin/tenants/{id}/suspend",
        ["v1", "transfers", _, "events"] => "/v1/transfers/{transfer_id}/events",
        ["v1", "audit", rest @ ..] => audit::route_template(rest),
        _ => "other",
    }
}

fn record_metrics(state: &AppState, route: &'static str, status: StatusCode, outcome: &Outcome) {
    state.metrics.request(route, status.as_u16());
    if let Some(decision) = outcome.decision {
        let allowed = decision == "allow";
        state
            .metrics
            .decision(allowed, outcome.reason.map(ReasonCode::as_str));
        if allowed {
            state.metrics.transfer_bytes(outcome.bytes);
        }
    }
}

/// The size of the request line and headers as sent (names, values, separators), the measure
/// `[limits] max_header_bytes` bounds.
fn head_bytes(request: &Request<Incoming>) -> usize {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    request.headers().iter().fold(line, |total, (name, value)| {
        total + name.as_str().len() + value.len() + 4
    })
}

fn outcome_of(error: &ApiError) -> Outcome {
    Outcome {
        decision: None,
        reason: Some(error.code),
        bytes: 0,
    }
}

async fn route(
    state: &Arc<AppState>,
    principal: &Principal,
    request: Request<Incoming>,
) -> (Answer, Outcome) {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = request.method().clone();
    let (endpoint, role): (Endpoint, Role) = match (segments.as_slice(), &method) {
        (["v1", "transfers"], &Method::POST) => (Endpoint::PostTransfer, Role::Tenant),
        (["v1", "transfers", _], &Method::GET) => (Endpoint::GetTransfer, Role::Tenant),
        (["v1", "audit", "checkpoint"], &Method::GET) => (Endpoint::Checkpoint, Role::Regulator),
        (["v1", "admin", "policy"], &Method::GET) => (Endpoint::GetPolicy, Role::Admin),
        (["v1", "admin", "policy"], &Method::PUT) => (Endpoint::PutPolicy, Role::Admin),
        (["v1", "admin", "tenants", _, "suspend"], &Method::POST) => {
            (Endpoint::Suspend, Role::Admin)
        }
        (["v1", "transfers", _, "events"], &Method::POST) => (Endpoint::Event, Role::Tenant),
        // The rest of /v1/audit/* (404 and 405 included); GET checkpoint is matched above.
        (["v1", "audit", rest @ ..], _) => match audit::endpoint(rest, &method, &path) {
            Ok(endpoint) => (Endpoint::Audit(endpoint), Role::Regulator),
            Err(error) => return (error.reply().into(), outcome_of(&error)),
        },
        (
            ["v1", "transfers"]
            | ["v1", "transfers", _]
            | ["v1", "transfers", _, "events"]
            | ["v1", "admin", "policy"]
            | ["v1", "admin", "tenants", _, "suspend"],
            _,
        ) => {
            let error = ApiError::new(ReasonCode::RequestMethodNotAllowed);
            return (error.reply().into(), outcome_of(&error));
        }
        _ => {
            let error = ApiError::new(ReasonCode::RequestNotFound)
                .message(format!("no endpoint {method} {path}"));
            return (error.reply().into(), outcome_of(&error));
        }
    };
    if principal.role != role {
        let error = ApiError::new(ReasonCode::AuthForbidden).message(format!(
            "{method} {path} is for the {} role, not {}",
            role.as_str(),
            principal.role.as_str()
        ));
        return (error.reply().into(), outcome_of(&error));
    }
    let id = segments.get(2).copied().unwrap_or_default();
    match endpoint {
        Endpoint::PostTransfer => {
            let (reply, outcome) = transfer::post(state, &principal.id, request).await;
            (reply.into(), outcome)
        }
        Endpoint::GetTransfer => {
            let reply = view::get(state, &principal.id, id).await;
            let outcome = Outcome::default();
            (reply.unwrap_or_else(|e| e.reply()).into(), outcome)
        }
        Endpoint::Checkpoint => {
            let checkpoint = state.log.latest_checkpoint();
            let body = Bytes::from(checkpoint.text().to_owned());
            ((StatusCode::OK, body).into(), Outcome::default())
        }
        Endpoint::Event => {
            let reply = lifecycle::post(state, &principal.id, id, request).await;
            let outcome = reply.as_ref().err().map(outcome_of).unwrap_or_default();
            (reply.unwrap_or_else(|e| e.reply()).into(), outcome)
        }
        Endpoint::Audit(endpoint) => match audit::serve(state, endpoint, request.uri()).await {
            Ok(answer) => (answer, Outcome::default()),
            Err(error) => (error.reply().into(), outcome_of(&error)),
        },
        Endpoint::GetPolicy => (admin::get(state), Outcome::default()),
        Endpoint::PutPolicy => (
            admin::put(state, &principal.id, request).await.into(),
            Outcome::default(),
        ),
        Endpoint::Suspend => {
            let tenant = segments.get(3).copied().unwrap_or_default().to_owned();
            let reply = admin::suspend(state, &principal.id, &tenant, request).await;
            (reply.into(), Outcome::default())
        }
    }
}

enum Endpoint {
    PostTransfer,
    GetTransfer,
    Checkpoint,
    GetPolicy,
    PutPolicy,
    Suspend,
    Event,
    Audit(audit::Endpoint),
}

fn json_response((status, body): Reply) -> Response<ApiBody> {
    let content_type = if body.first() == Some(&b'{') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
