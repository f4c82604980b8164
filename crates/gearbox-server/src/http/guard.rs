//! Who may do what over HTTP. With an access list (`--acl`), a caller's rights are those of
//! its identity (its client certificate's names, or `anonymous`), exactly as on the Gearman
//! port: admin `read` for the dashboard, `/metrics` and every read of the API, the admin right
//! an action's command needs for that action (cancel, retry, purge and maxqueue need `all`),
//! and a `submit` rule for gearmand's `POST /FUNCTION`. Without an access list, reads and
//! submissions are open (as gearmand's ports are) and actions are accepted only from loopback
//! addresses. `/healthz` and `/readyz` are always open: probes carry no certificate.
//!
//! This module decides and answers refusals (403, written to the access log once per
//! request); it never reaches the engine.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gearbox_proto::AdminCommand;
use serde_json::json;

use super::listen::Caller;
use super::AppState;
use crate::acl::{Access, AdminRight};

/// Paths anyone may read, with or without an access list.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// A caller's rights.
pub(super) enum Rights {
    /// No access list: reads and submissions for all, actions from loopback only.
    Open {
        /// The caller is on this machine.
        loopback: bool,
    },
    /// What the access list gives the caller's identity.
    Listed(Access),
}

impl Rights {
    pub(super) fn of(state: &AppState, caller: &Caller) -> Rights {
        match &state.acl {
            None => Rights::Open {
                loopback: caller.addr.ip().to_canonical().is_loopback(),
            },
            Some(file) => Rights::Listed(file.current().access(caller.identity.as_deref())),
        }
    }

    /// Refuse the admin `command` unless the caller may run it.
    pub(super) fn act(&self, command: &AdminCommand) -> Result<(), Refusal> {
        match self {
            Rights::Open { loopback: true } => Ok(()),
            Rights::Open { loopback: false } => Err(denied(
                "anonymous",
                "without an access list, actions are accepted only from loopback addresses",
            )),
            Rights::Listed(access) if access.may_admin(command) => Ok(()),
            Rights::Listed(access) => Err(denied(
                access.label(),
                &format!("may not use the admin command {}", command.name()),
            )),
        }
    }

    /// Refuse a submission to `function` unless the caller may submit to it.
    pub(super) fn submit(&self, function: &str) -> Result<(), Refusal> {
        match self {
            Rights::Open { .. } => Ok(()),
            Rights::Listed(access) if access.may_submit(function.as_bytes()) => Ok(()),
            Rights::Listed(access) => Err(denied(
                access.label(),
                &format!("may not submit jobs to {function}"),
            )),
        }
    }

    fn read(&self) -> Result<(), Refusal> {
        match self {
            Rights::Open { .. } => Ok(()),
            Rights::Listed(access) if access.admin() >= AdminRight::Read => Ok(()),
            Rights::Listed(access) => Err(denied(
                access.label(),
                "may not read the server's state (admin = \"read\" is needed)",
            )),
        }
    }
}

/// A request refused: answered 403 with the reason, written to the access log.
#[derive(Debug)]
pub(super) struct Refusal {
    detail: String,
}

fn denied(who: &str, what: &str) -> Refusal {
    Refusal {
        detail: format!("{who} {what}"),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let detail = self.detail;
        tracing::info!(target: "gearboxd::access", %detail, "HTTP request refused");
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "PERMISSION_DENIED", "detail": detail})),
        )
            .into_response()
    }
}

/// Middleware: every GET beyond the open paths needs the admin `read` right.
pub(super) async fn reads(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    request: Request,
    next: Next,
) -> Response {
    let is_read =
        request.method() == axum::http::Method::GET || request.method() == axum::http::Method::HEAD;
    if is_read && !OPEN_PATHS.contains(&request.uri().path()) {
        if let Err(refusal) = Rights::of(&state, &caller).read() {
            return refusal.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Acl, Identity};

    fn listed(acl: &str, cn: Option<&str>) -> Rights {
        let acl = Acl::parse(acl, std::path::Path::new("acl.toml")).unwrap();
        let identity = cn.map(|cn| Identity {
            common_names: vec![cn.to_owned()],
            dns_names: Vec::new(),
        });
        Rights::Listed(acl.access(identity.as_ref()))
    }

    #[test]
    fn rights_follow_the_access_list_or_loopback() {
        let cancel = AdminCommand::Cancel {
            handle: bytes::Bytes::from_static(b"H:x:1"),
        };
        assert!(Rights::Open { loopback: true }.act(&cancel).is_ok());
        let refusal = Rights::Open { loopback: false }.act(&cancel).unwrap_err();
        assert_eq!(refusal.into_response().status(), StatusCode::FORBIDDEN);
        assert!(Rights::Open { loopback: false }.read().is_ok());
        assert!(Rights::Open { loopback: false }.submit("f").is_ok());

        let acl = "[[rule]]\nidentity = \"r\"\nadmin = \"read\"\nsubmit = [\"f.*\"]\n\
                   [[rule]]\nidentity = \"o\"\nadmin = \"all\"\n";
        let reader = listed(acl, Some("r"));
        assert!(reader.read().is_ok());
        assert!(reader.act(&AdminCommand::Status).is_ok());
        assert!(reader.act(&cancel).is_err());
        assert!(reader.submit("f.one").is_ok());
        assert!(reader.submit("g").is_err());
        assert!(listed(acl, Some("o")).act(&cancel).is_ok());
        let anonymous = listed(acl, None);
        assert!(anonymous.read().is_err());
        assert!(anonymous.submit("f.one").is_err());
    }
}
