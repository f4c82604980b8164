//! gearmand's HTTP front-end (PROTOCOL.md Appendix B), so tools written for `gearmand -r http`
//! work: `POST /FUNCTION` submits one job with the request body as its workload;
//! `X-Gearman-Unique` (default `-`: coalesce identical bodies), `X-Gearman-Background: true`
//! and `X-Gearman-Priority: high|low` choose the submission. The answer comes when the job
//! finishes (a background job: when it is created), with `X-Gearman-Job-Handle` and
//! `X-Gearman-Command` (the final packet's name) and the result as its body.
//!
//! The HTTP thread submits as an ordinary Gearman client of this server, over one of its own
//! plaintext job listeners, so the job follows every rule a client's job does. Without a
//! plaintext job listener (a TLS-only server) the front-end answers 503. The caller's right
//! to submit is checked here (`guard.rs`); the connection identifies itself as the server's
//! own with a secret client id, so the engine does not check the access list again for a
//! connection that has no certificate.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gearbox_client::{Client, Error, JobRequest, Priority};

use super::guard::Rights;
use super::listen::Caller;
use super::AppState;

/// How long a job submitted over HTTP may take before the request gives up (the job goes on).
const JOB_DEADLINE: Duration = Duration::from_secs(3600);

/// The client the front-end submits with, connected to `target` (a plaintext job listener),
/// identified by the server's secret client id when there is one.
pub(super) fn client(target: SocketAddr, internal_id: Option<bytes::Bytes>) -> Option<Client> {
    let client = Client::new();
    client.add_server(&target.to_string()).ok()?;
    if let Some(id) = internal_id {
        client.set_client_id(id);
    }
    client.set_exceptions(true);
    client.set_timeout(Some(JOB_DEADLINE));
    Some(client)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn answer(status: StatusCode, handle: &[u8], command: &str, body: Bytes) -> Response {
    (
        status,
        [
            (
                "X-Gearman-Job-Handle",
                String::from_utf8_lossy(handle).into_owned(),
            ),
            ("X-Gearman-Command", command.to_owned()),
        ],
        body,
    )
        .into_response()
}

/// `POST /FUNCTION`.
pub(super) async fn submit(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Rights::of(&state, &caller).submit(&function) {
        return refusal.into_response();
    }
    let Some(client) = state.submitter.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "job submission over HTTP needs a plaintext job listener (--plain-listen)\n",
        )
            .into_response();
    };
    let unique = header(&headers, "X-Gearman-Unique")
        .unwrap_or("-")
        .to_owned();
    let background =
        header(&headers, "X-Gearman-Background").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let priority = match header(&headers, "X-Gearman-Priority") {
        Some(p) if p.eq_ignore_ascii_case("high") => Priority::High,
        Some(p) if p.eq_ignore_ascii_case("low") => Priority::Low,
        _ => Priority::Normal,
    };
    let request = JobRequest::new(function, body)
        .unique(unique)
        .priority(priority);
    if background {
        return match client.submit_background(request).await {
            Ok(handle) => answer(StatusCode::OK, &handle, "JOB_CREATED", Bytes::new()),
            Err(e) => failed(&e),
        };
    }
    let job = match client.submit(request).await {
        Ok(job) => job,
        Err(e) => return failed(&e),
    };
    let handle = job.handle().clone();
    match job.result().await {
        Ok(result) => answer(StatusCode::OK, &handle, "WORK_COMPLETE", result),
        Err(Error::WorkFail { .. }) => answer(StatusCode::OK, &handle, "WORK_FAIL", Bytes::new()),
        Err(Error::WorkException { data, .. }) => {
            answer(StatusCode::OK, &handle, "WORK_EXCEPTION", data)
        }
        Err(e) => failed(&e),
    }
}

/// A submission that got no job answer: the server's refusal (ERROR) or a lost connection.
fn failed(e: &Error) -> Response {
    let status = match e {
        Error::Timeout => StatusCode::GATEWAY_TIMEOUT,
        Error::Server { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, format!("{e}\n")).into_response()
}
