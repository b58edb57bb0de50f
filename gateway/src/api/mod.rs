//! The HTTPS API (SPEC.md sections 2-4 and 6): each request is authenticated, resolved against
//! the one route table (`routes`), checked for its role, served by its endpoint, counted in
//! `/metrics` and logged in one line. What the endpoints do lives beside the data they work on
//! (`transfer`, `registry`, `views`, the audit log); here is their HTTP side.

mod admin;
mod audit;
mod body;
mod lifecycle;
mod linger;
mod listing;
pub(crate) mod quota;
pub(crate) mod receipt;
pub(crate) mod routes;
pub(crate) mod shipment;
mod transfer;
pub(crate) mod view;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use loopgate_audit::Verdict;
use loopgate_policy::ReasonCode;

use crate::identity::{IdentityError, Principal};
use crate::reply::{ApiError, Reply};
use crate::state::AppState;
pub(crate) use linger::RequestBody;
use routes::{Endpoint, Resolved};

/// An error that ends a streamed response body (the client sees the body cut off, never a
/// complete-looking one).
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every API response: a whole body, or one streamed as it is produced (the
/// regulator's export).
pub(crate) type ApiBody = UnsyncBoxBody<Bytes, BodyError>;

/// What a handler answers: a whole status and body (what `Idempotency-Key` retries replay), or a
/// response with its own headers (a streamed body, a TOML bundle, a 405's `Allow`).
pub(crate) enum Answer {
    /// Status and a whole body (JSON, or text for the checkpoint).
    Whole(Reply),
    /// A response with its own headers and body.
    Response(Response<ApiBody>),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Whole(reply)
    }
}

impl From<ApiError> for Answer {
    fn from(error: ApiError) -> Self {
        Answer::Whole(error.reply())
    }
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Whole((status, _)) => *status,
            Answer::Response(response) => response.status(),
        }
    }

    fn into_response(self) -> Response<ApiBody> {
        match self {
            Answer::Whole(reply) => json_response(reply),
            Answer::Response(response) => response,
        }
    }
}

/// What a handler tells the request log (and `/metrics`) besides the status.
#[derive(Debug, Default, Clone)]
pub(crate) struct Logged {
    /// The transfer's decision, for `POST /v1/transfers`.
    pub(crate) verdict: Option<Verdict>,
    /// The reason code of a refusal or a failed transfer.
    pub(crate) reason: Option<ReasonCode>,
    /// Body bytes transferred (the metrics' transfer bytes; the request log counts its own).
    pub(crate) bytes: u64,
    /// The answer is an `Idempotency-Key` retry's: the first request's result, replayed.
    pub(crate) replay: bool,
}

impl Logged {
    /// A refusal with `error`'s code.
    fn refused(error: &ApiError) -> Self {
        Logged {
            verdict: None,
            reason: Some(error.code),
            bytes: 0,
            replay: false,
        }
    }
}

/// Serves one request from an authenticated (or not) connection.
pub(crate) async fn handle(
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
    // Dropped unread, the body is drained (`linger`): the answer reaches the client.
    let (parts, body) = request.into_parts();
    let (body, mut finished) = RequestBody::new(body, state.clone());
    let bytes_in = body.bytes_read();
    let request = Request::from_parts(parts, body);
    let (answer, logged) = match admit(&state, principal, &request) {
        Ok(principal) => route(&state, &principal, request).await,
        Err(error) => {
            let logged = Logged::refused(&error);
            (error.into(), logged)
        }
    };
    if answer.status().is_success() && !finished.is_done() {
        // A replay: answered once its unread body is drained (see `linger`).
        finished.wait().await;
    }
    // 401/403 into the log (rate-limited), Retry-After on a 429.
    let answer = quota::after(&state, &who, (&method, &path), answer, &logged).await;
    // The console's refusals (logged above like any other) reach a browser: as a page.
    let answer = if crate::console::is_console(&path) {
        crate::console::error_page(answer)
    } else {
        answer
    };
    let label = routes::label(&path);
    record_metrics(&state, label, answer.status(), &logged);
    let mut response = answer.into_response();
    if method == Method::HEAD {
        response = without_content(response);
    }
    tracing::info!(
        principal = %who,
        method = %method,
        route = label,
        path = %path,
        decision = logged.verdict.map_or("-", verdict_str),
        reason = logged.reason.map_or("-", |r| r.as_str()),
        status = response.status().as_u16(),
        bytes_in = bytes_in.load(Ordering::Relaxed),
        bytes_out = response.body().size_hint().exact(),
        replay = logged.replay,
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// A HEAD answer: the headers GET would have, no content (RFC 9110 section 9.3.2). hyper leaves
/// out the content of an HTTP/1.1 HEAD answer itself, but sends it over HTTP/2.
fn without_content(response: Response<ApiBody>) -> Response<ApiBody> {
    let (mut parts, body) = response.into_parts();
    if let Some(length) = body.size_hint().exact() {
        parts
            .headers
            .entry(header::CONTENT_LENGTH)
            .or_insert_with(|| HeaderValue::from(length));
    }
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::from_parts(parts, empty)
}

/// Refuses a request without a principal (401), over its principal's quota (429, before
/// anything is logged) or with a head above `[limits] max_header_bytes` (431).
fn admit(
    state: &AppState,
    principal: Result<Principal, IdentityError>,
    request: &Request<RequestBody>,
) -> Result<Principal, ApiError> {
    let principal =
        principal.map_err(|e| ApiError::new(ReasonCode::AuthBadIdentity).message(e.to_string()))?;
    quota::check(state, &principal)?;
    let max_head = state.config().limits.max_header_bytes;
    if head_bytes(request) > max_head {
        return Err(
            ApiError::new(ReasonCode::RequestHeadersTooLarge).message(format!(
                "the request line and headers take more than {max_head} bytes; send less"
            )),
        );
    }
    Ok(principal)
}

fn verdict_str(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    }
}

fn record_metrics(state: &AppState, route: &'static str, status: StatusCode, logged: &Logged) {
    state.metrics.request(route, status.as_u16());
    if let Some(verdict) = logged.verdict {
        let allowed = verdict == Verdict::Allow;
        state
            .metrics
            .decision(allowed, logged.reason.map(ReasonCode::as_str));
        if allowed {
            state.metrics.transfer_bytes(logged.bytes);
        }
    }
}

/// The size of the request line and headers as sent (names, values, separators), the measure
/// `[limits] max_header_bytes` bounds.
fn head_bytes(request: &Request<RequestBody>) -> usize {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    request.headers().iter().fold(line, |total, (name, value)| {
        total + name.as_str().len() + value.len() + 4
    })
}

/// Resolves the request against the route table, checks the caller's role and serves it.
async fn route(
    state: &Arc<AppState>,
    principal: &Principal,
    request: Request<RequestBody>,
) -> (Answer, Logged) {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let refused = |error: ApiError| {
        let logged = Logged::refused(&error);
        (Answer::from(error), logged)
    };
    let (route, params) = match routes::resolve(&method, &path) {
        Resolved::Found { route, params } => (route, params),
        Resolved::WrongMethod { path, allowed } => {
            let (answer, logged) = refused(not_allowed(path, &allowed));
            return (with_allow(answer, &allowed), logged);
        }
        Resolved::NotFound => {
            return refused(
                ApiError::new(ReasonCode::RequestNotFound)
                    .message(format!("no endpoint {method} {path}")),
            );
        }
    };
    if !route.roles.contains(&principal.role) {
        let roles: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
        return refused(ApiError::new(ReasonCode::AuthForbidden).message(format!(
            "{method} {path} is for the {} role, not {}",
            roles.join(" or "),
            principal.role.as_str()
        )));
    }
    let param = params.first().copied().unwrap_or_default().to_owned();
    dispatch(state, principal, route.endpoint, &param, request).await
}

/// Serves a resolved request: one arm per endpoint of the route table.
async fn dispatch(
    state: &Arc<AppState>,
    principal: &Principal,
    endpoint: Endpoint,
    param: &str,
    request: Request<RequestBody>,
) -> (Answer, Logged) {
    let uri = request.uri().clone();
    let query = uri.query();
    let answer: Result<Answer, ApiError> = match endpoint {
        Endpoint::PostTransfer => {
            let (reply, logged) = transfer::post(state, &principal.id, request).await;
            return (reply.into(), logged);
        }
        Endpoint::ListTransfers => listing::list(state, &principal.id, query)
            .await
            .map(Answer::from),
        Endpoint::GetTransfer => view::get(state, &principal.id, param)
            .await
            .map(Answer::from),
        Endpoint::PostEvent => lifecycle::post(state, &principal.id, param, request)
            .await
            .map(Answer::from),
        Endpoint::PostShipment => {
            let (answer, replay) = shipment::post(state, &principal.id, request).await;
            let logged = match &answer {
                Ok(_) => Logged::default(),
                Err(error) => Logged::refused(error),
            };
            let answer = answer.map_or_else(Answer::from, Answer::from);
            return (answer, Logged { replay, ..logged });
        }
        Endpoint::GetShipment => shipment::get(state, principal, param)
            .await
            .map(Answer::from),
        Endpoint::PostCustody => shipment::post_event(state, principal, param, request)
            .await
            .map(Answer::from),
        Endpoint::Shipments => audit::shipments(state, &principal.id, query).await,
        Endpoint::Checkpoint => Ok(audit::checkpoint(state)),
        Endpoint::Records => audit::records(state, &principal.id, query).await,
        Endpoint::Record => audit::record(state, &principal.id, param, query).await,
        Endpoint::Inclusion => audit::inclusion(state, query).await,
        Endpoint::Consistency => audit::consistency(state, query).await,
        Endpoint::Export => audit::export(state, &principal.id, query).await,
        Endpoint::Overdue => audit::overdue(state, &principal.id, query).await,
        Endpoint::Counters => audit::counters(state, &principal.id, query).await,
        Endpoint::Stats => audit::stats(state, &principal.id, query).await,
        Endpoint::Whoami => audit::whoami(state, &principal.id),
        Endpoint::Report => audit::report(state, &principal.id, query).await,
        Endpoint::Tile => audit::tile(state, param, query).await,
        Endpoint::EntryBundle => audit::entries(state, &principal.id, param, query).await,
        Endpoint::GetPolicy => Ok(admin::get(state)),
        Endpoint::PutPolicy => Ok(admin::put(state, &principal.id, request).await.into()),
        Endpoint::Suspend => Ok(admin::suspend(state, &principal.id, param, request)
            .await
            .into()),
        Endpoint::Unsuspend => Ok(admin::unsuspend(state, &principal.id, param, request)
            .await
            .into()),
        Endpoint::Console => crate::console::shell(state, &principal.id),
        Endpoint::ConsoleAsset => crate::console::asset(param, request.headers()),
    };
    match answer {
        Ok(answer) => (answer, Logged::default()),
        Err(error) => {
            let logged = Logged::refused(&error);
            (error.into(), logged)
        }
    }
}

/// 405 for a path that takes other methods.
fn not_allowed(path: &str, allowed: &[&Method]) -> ApiError {
    let methods: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    ApiError::new(ReasonCode::RequestMethodNotAllowed)
        .message(format!("{path} takes {} only", methods.join(" or ")))
}

/// The answer with an `Allow` header listing `allowed` (RFC 9110 section 15.5.6).
fn with_allow(answer: Answer, allowed: &[&Method]) -> Answer {
    let mut response = answer.into_response();
    let methods: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Answer::Response(response)
}

/// A whole reply as a response: JSON, or plain text (the checkpoint) when it is not an object.
/// Every whole answer of the API leaves through here (the refusals `server::accept` answers
/// itself too), so this is where a JSON body gets its final newline: a `curl` of it ends its
/// line, and line-oriented tools read it as one line.
pub(crate) fn json_response((status, body): Reply) -> Response<ApiBody> {
    let json = body.first() == Some(&b'{');
    let content_type = if json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let body = if json && body.last() != Some(&b'\n') {
        let mut ended = Vec::with_capacity(body.len() + 1);
        ended.extend_from_slice(&body);
        ended.push(b'\n');
        Bytes::from(ended)
    } else {
        body
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
