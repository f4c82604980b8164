//! The JSON API under `/api/`: functions, connections, jobs (paged), what is scheduled, dead
//! letters and kept results, and the operator's actions (cancel a job or a schedule, retry or
//! purge dead letters, set a queue limit).
//!
//! A request becomes an [`ApiRequest`], sent to the network layer's thread, which calls
//! [`answer`] with the engine: the answer is built there, from the engine's views, and only
//! the finished JSON crosses back. Actions run as the admin commands of the same name, so
//! their rules (and their answers) are the text protocol's; who may run them is
//! `guard.rs`'s decision.

use axum::extract::{ConnectInfo, Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bytes::Bytes;
use gearbox_proto::{AdminCommand, DeadSelector, ResultKey};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::guard::Rights;
use super::listen::Caller;
use super::{AppState, Query};
use crate::engine::{Answer, Engine, Outbox};

/// Most jobs one page of `/api/jobs` lists.
const MAX_PAGE: usize = 1_000;

/// What an API request asks of the engine.
#[derive(Debug)]
pub enum ApiRequest {
    /// Every function with its counts.
    Functions,
    /// Every connection.
    Connections,
    /// A page of the jobs in memory.
    Jobs {
        /// The first job's position.
        offset: usize,
        /// Jobs at most.
        limit: usize,
    },
    /// Epoch jobs, retries and schedules due later.
    Scheduled,
    /// The dead letters, of one function or all.
    Dead(Option<Bytes>),
    /// An admin command, run with the operator's rights.
    Admin(AdminCommand),
}

/// An HTTP status and a JSON body.
pub type ApiAnswer = (u16, Value);

/// The engine's answer to an API request.
#[derive(Debug)]
pub enum Answered {
    /// Here it is.
    Now(ApiAnswer),
    /// A command that waits for the store (in a cluster: `cancel` of another node's job, a
    /// result another node kept): the engine gives its admin answer under this token
    /// (`Engine::take_operator_answers`), for [`admin_reply`], with whether it is a `result`.
    Later(u64, bool),
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn utc(secs: u64) -> String {
    crate::engine::utc_text(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn priorities<T: serde::Serialize + Copy>(values: [T; 3]) -> Value {
    json!({"high": values[0], "normal": values[1], "low": values[2]})
}

/// Answer `request` from the engine; called on the engine's thread.
pub fn answer(
    engine: &mut Engine,
    request: ApiRequest,
    now: u64,
    out: &mut impl Outbox,
) -> Answered {
    let body = match request {
        ApiRequest::Functions => Value::from_iter(engine.snapshot().functions.iter().map(|f| {
            let s = &f.stats;
            let submitted: u64 = s.submitted.iter().flatten().sum();
            json!({
                "name": text(&f.name),
                "queued": priorities(f.waiting),
                "running": f.running,
                "workers": f.workers,
                "submitted": submitted,
                "completed": s.completed,
                "failed": s.failed,
                "exceptions": s.exceptions,
                "retried": s.retried,
                "coalesced": s.coalesced,
            })
        })),
        ApiRequest::Connections => {
            Value::from_iter(engine.connections_view().into_iter().map(|c| {
                json!({
                    "id": c.label,
                    "ip": c.ip.to_string(),
                    "client_id": text(&c.client_id),
                    "functions": c.functions.iter().map(|f| text(f)).collect::<Vec<_>>(),
                    "identity": c.identity,
                    "waiting": c.waiting,
                    "running": c.running,
                })
            }))
        }
        ApiRequest::Jobs { offset, limit } => {
            let page = engine.jobs_view(offset, limit.min(MAX_PAGE));
            let jobs = Value::from_iter(page.jobs.iter().map(|j| {
                json!({
                    "handle": j.handle,
                    "function": text(&j.function),
                    "unique": text(&j.unique),
                    "priority": j.priority.name(),
                    "state": j.state,
                    "background": j.background,
                    "retries": j.retries,
                    "size": j.size,
                    "clients": j.clients,
                })
            }));
            json!({"total": page.total, "offset": offset, "jobs": jobs})
        }
        ApiRequest::Scheduled => Value::from_iter(engine.scheduled().into_iter().map(|s| {
            json!({
                "handle": s.handle,
                "function": text(&s.function),
                "unique": text(&s.unique),
                "due": utc(s.due),
                "priority": s.priority.name(),
                "cron": s.cron,
            })
        })),
        ApiRequest::Dead(function) => Value::from_iter(
            engine
                .dead_letters_view(function.as_deref())
                .into_iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "function": text(&d.function),
                        "unique": text(&d.unique),
                        "priority": d.priority.name(),
                        "attempts": d.attempts,
                        "failure": d.failure,
                        "detail": text(&d.detail),
                        "worker": text(&d.worker),
                        "failed_at": utc(d.failed_at),
                        "size": d.workload.len(),
                        "workload_base64": b64(&d.workload),
                    })
                }),
        ),
        ApiRequest::Admin(command) => {
            let result = matches!(command, AdminCommand::Result(_));
            return match engine.admin_as_operator(command, now, out) {
                Answer::Now(reply) => {
                    Answered::Now(admin_answer(&String::from_utf8_lossy(&reply), result))
                }
                Answer::Later(token) => Answered::Later(token, result),
            };
        }
    };
    Answered::Now((200, body))
}

/// An admin answer that came later ([`Answered::Later`]) as the API's answer.
pub fn admin_reply(text: &[u8], result: bool) -> ApiAnswer {
    admin_answer(&String::from_utf8_lossy(text), result)
}

/// An admin command's one-line answer as JSON: `OK N` is `{"count": N}`, `OK` is
/// `{"ok": true}`, a `result` line is `{"state", "size", "data_base64"}`, and `ERR CODE text`
/// is an error with the matching HTTP status.
fn admin_answer(line: &str, result: bool) -> ApiAnswer {
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("ERR ") {
        let (code, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        let status = match code {
            "UNKNOWN_JOB" | "NOT_FOUND" => 404,
            "PERMISSION_DENIED" => 403,
            _ => 400,
        };
        return (
            status,
            json!({"error": code, "detail": detail.replace('+', " ")}),
        );
    }
    let rest = line.strip_prefix("OK").unwrap_or(line).trim();
    if result {
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("unknown");
        let size: u64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let data = fields.next().unwrap_or("");
        return (
            200,
            json!({"state": state, "size": size, "data_base64": data}),
        );
    }
    match rest.parse::<u64>() {
        Ok(count) => (200, json!({"count": count})),
        Err(_) => (200, json!({"ok": true})),
    }
}

/// The `/api/` routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/functions", get(functions))
        .route("/api/functions/{name}/maxqueue", post(maxqueue))
        .route("/api/connections", get(connections))
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/{handle}/cancel", post(cancel))
        .route("/api/scheduled", get(scheduled))
        .route("/api/dead", get(dead))
        .route("/api/dead/{which}/retry", post(dead_retry))
        .route("/api/dead/{which}/purge", post(dead_purge))
        .route("/api/results/{handle}", get(result_by_handle))
        .route("/api/results/{function}/{unique}", get(result_by_unique))
}

/// Send `request` to the engine and turn its answer into a response. Actions are written to
/// the access log, as the admin commands are.
async fn ask(state: &AppState, request: ApiRequest) -> Response {
    if let ApiRequest::Admin(command) = &request {
        if command.changes_state() {
            tracing::info!(target: "gearboxd::access", command = ?command, "HTTP API");
        }
    }
    let (reply, replied) = oneshot::channel();
    if state
        .queries
        .send(Query::Api(request, reply))
        .await
        .is_err()
    {
        return unavailable();
    }
    match replied.await {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response(),
        Err(_) => unavailable(),
    }
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "UNAVAILABLE", "detail": "the server is not serving"})),
    )
        .into_response()
}

async fn functions(State(state): State<AppState>) -> Response {
    ask(&state, ApiRequest::Functions).await
}

async fn connections(State(state): State<AppState>) -> Response {
    ask(&state, ApiRequest::Connections).await
}

#[derive(Debug, Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn jobs(State(state): State<AppState>, UrlQuery(page): UrlQuery<Page>) -> Response {
    let request = ApiRequest::Jobs {
        offset: page.offset.unwrap_or(0),
        limit: page.limit.unwrap_or(100),
    };
    ask(&state, request).await
}

async fn scheduled(State(state): State<AppState>) -> Response {
    ask(&state, ApiRequest::Scheduled).await
}

#[derive(Debug, Deserialize)]
struct DeadFilter {
    function: Option<String>,
}

async fn dead(State(state): State<AppState>, UrlQuery(filter): UrlQuery<DeadFilter>) -> Response {
    ask(&state, ApiRequest::Dead(filter.function.map(Bytes::from))).await
}

async fn result_by_handle(State(state): State<AppState>, Path(handle): Path<String>) -> Response {
    let key = ResultKey::Handle(Bytes::from(handle));
    ask(&state, ApiRequest::Admin(AdminCommand::Result(key))).await
}

async fn result_by_unique(
    State(state): State<AppState>,
    Path((function, unique)): Path<(String, String)>,
) -> Response {
    let key = ResultKey::Unique {
        function: Bytes::from(function),
        unique: Bytes::from(unique),
    };
    ask(&state, ApiRequest::Admin(AdminCommand::Result(key))).await
}

/// The selector of a dead-letter action: an id, `all`, or a function name.
fn selector(which: String) -> DeadSelector {
    match which.parse::<u64>() {
        Ok(id) if which.bytes().all(|b| b.is_ascii_digit()) => DeadSelector::Id(id),
        _ if which.eq_ignore_ascii_case("all") => DeadSelector::All,
        _ => DeadSelector::Function(Bytes::from(which)),
    }
}

/// Run an action if the caller may.
async fn act(state: &AppState, caller: &Caller, command: AdminCommand) -> Response {
    match Rights::of(state, caller).act(&command) {
        Err(refusal) => refusal.into_response(),
        Ok(()) => ask(state, ApiRequest::Admin(command)).await,
    }
}

async fn dead_retry(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    Path(which): Path<String>,
) -> Response {
    act(&state, &caller, AdminCommand::DeadRetry(selector(which))).await
}

async fn dead_purge(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    Path(which): Path<String>,
) -> Response {
    act(&state, &caller, AdminCommand::DeadPurge(selector(which))).await
}

async fn cancel(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    Path(handle): Path<String>,
) -> Response {
    let handle = Bytes::from(handle);
    act(&state, &caller, AdminCommand::Cancel { handle }).await
}

#[derive(Debug, Deserialize)]
struct Limits {
    high: Option<u32>,
    normal: Option<u32>,
    low: Option<u32>,
}

async fn maxqueue(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    Path(name): Path<String>,
    UrlQuery(limits): UrlQuery<Limits>,
) -> Response {
    let command = AdminCommand::MaxQueue {
        function: Bytes::from(name),
        limits: [limits.high, limits.normal, limits.low].map(|l| l.unwrap_or(0)),
    };
    act(&state, &caller, command).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_lines_become_json() {
        assert_eq!(admin_answer("OK 3\r\n", false), (200, json!({"count": 3})));
        assert_eq!(admin_answer("OK\r\n", false), (200, json!({"ok": true})));
        assert_eq!(
            admin_answer("ERR NOT_FOUND No+such+dead+letter\r\n", false),
            (
                404,
                json!({"error": "NOT_FOUND", "detail": "No such dead letter"})
            )
        );
        assert_eq!(
            admin_answer("OK complete 3 YWJj\r\n", true),
            (
                200,
                json!({"state": "complete", "size": 3, "data_base64": "YWJj"})
            )
        );
        assert_eq!(
            admin_answer("OK unknown 0\r\n", true),
            (
                200,
                json!({"state": "unknown", "size": 0, "data_base64": ""})
            )
        );
        assert_eq!(selector("12".into()), DeadSelector::Id(12));
        assert_eq!(selector("ALL".into()), DeadSelector::All);
        assert_eq!(
            selector("f".into()),
            DeadSelector::Function(Bytes::from("f"))
        );
    }
}
