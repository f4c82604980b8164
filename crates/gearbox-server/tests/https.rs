//! The HTTP listener with TLS and the access list, driven with curl: with `--ssl` the HTTP
//! listener speaks HTTPS with the server's certificates (plaintext is refused there), client
//! certificates give the access list's identities, admin `read` is needed for the dashboard,
//! `/metrics` and the API's reads, `all` for its actions, a `submit` rule for gearmand's
//! `POST /FUNCTION` (which then goes through although anonymous Gearman connections may not
//! submit), and `/healthz` and `/readyz` stay open. A plaintext HTTP listener beside it
//! (`--http-plain-listen`) is held to the same list, its callers anonymous.

use std::path::Path;

use gearbox_testkit::pki::{CertFiles, Pki};
use gearbox_testkit::{free_port, require, Kind, Server, TempDir};

const ACL: &str = r#"
[[rule]]
identity = "reader"
admin = "read"

[[rule]]
identity = "ops"
admin = "all"

[[rule]]
identity = "web"
submit = ["echo"]
"#;

/// One curl request: the status (0 when no HTTP answer came) and the body.
struct Curl<'a> {
    pki: &'a Pki,
    cert: Option<CertFiles>,
}

impl Curl<'_> {
    fn call(&self, method: &str, url: &str, headers: &[&str]) -> (u16, String) {
        let mut cmd = std::process::Command::new("curl");
        cmd.args([
            "-s",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ])
        .arg("--cacert")
        .arg(self.pki.ca());
        if let Some(cert) = &self.cert {
            cmd.arg("--cert")
                .arg(&cert.cert)
                .arg("--key")
                .arg(&cert.key);
        }
        if method == "POST" {
            cmd.args(["--data-binary", "hello"]);
        }
        for h in headers {
            cmd.args(["-H", h]);
        }
        let out = cmd.arg(url).output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn get(&self, url: &str) -> (u16, String) {
        self.call("GET", url, &[])
    }

    fn post(&self, url: &str) -> (u16, String) {
        self.call("POST", url, &[])
    }
}

fn arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn https_and_the_access_list_guard_the_http_listener() {
    if !require("curl") {
        return;
    }
    let pki = Pki::new("https");
    let dir = TempDir::new("https");
    let acl = dir.path().join("acl.toml");
    std::fs::write(&acl, ACL).unwrap();
    let plain_jobs = format!("127.0.0.1:{}", free_port());
    let server = Server::start(
        Kind::Gearboxd,
        &[
            "--ssl",
            "--ssl-certificate",
            &arg(&pki.server.cert),
            "--ssl-key",
            &arg(&pki.server.key),
            "--ssl-ca-file",
            &arg(pki.ca()),
            "--acl",
            &arg(&acl),
            "--plain-listen",
            &plain_jobs,
            "--http-listen",
            "127.0.0.1:0",
            "--http-plain-listen",
            "127.0.0.1:0",
        ],
    );
    let https = format!("https://localhost:{}", server.http[0].port());
    let plain = format!("http://{}", server.http[1]);
    let as_who = |cn: Option<&str>| Curl {
        pki: &pki,
        cert: cn.map(|cn| pki.client(cn)),
    };
    let (anonymous, reader, ops, web) = (
        as_who(None),
        as_who(Some("reader")),
        as_who(Some("ops")),
        as_who(Some("web")),
    );

    // Probes are open; plaintext on the HTTPS port gets no HTTP answer.
    assert_eq!(
        anonymous.get(&format!("{https}/healthz")),
        (200, "ok\n".into())
    );
    assert_eq!(anonymous.get(&format!("{https}/readyz")).0, 200);
    assert_eq!(anonymous.get(&format!("{plain}/healthz")).0, 200);
    let (status, _) = anonymous.get(&format!("http://{}/healthz", server.http[0]));
    assert_ne!(status, 200, "plaintext HTTP answered on the HTTPS listener");

    // Reads need admin `read`.
    for path in [
        "/metrics",
        "/",
        "/api/functions",
        "/api/summary",
        "/api/dead",
    ] {
        let url = format!("{https}{path}");
        assert_eq!(reader.get(&url).0, 200, "reader GET {path}");
        assert_eq!(ops.get(&url).0, 200, "ops GET {path}");
        let (status, body) = anonymous.get(&url);
        assert_eq!(status, 403, "anonymous GET {path}: {body}");
        assert!(body.contains("PERMISSION_DENIED"), "{body}");
        assert_eq!(web.get(&url).0, 403, "web GET {path}");
        assert_eq!(anonymous.get(&format!("{plain}{path}")).0, 403);
    }
    assert!(reader
        .get(&format!("{https}/metrics"))
        .1
        .contains("gearbox_connections"));

    // Actions need admin `all`: a reader is refused before the engine is asked, an operator
    // reaches it (no such job: 404; no dead letters: 0 purged).
    let cancel = format!("{https}/api/jobs/H:nowhere:1/cancel");
    assert_eq!(reader.post(&cancel).0, 403);
    assert_eq!(anonymous.post(&cancel).0, 403);
    let (status, body) = ops.post(&cancel);
    assert_eq!(status, 404, "{body}");
    let (status, body) = ops.post(&format!("{https}/api/dead/all/purge"));
    assert_eq!((status, body.as_str()), (200, r#"{"count":0}"#));

    // gearmand's HTTP submissions need a `submit` rule for the function.
    let background = ["X-Gearman-Background: true", "X-Gearman-Unique: u1"];
    let echo = format!("{https}/echo");
    assert_eq!(reader.call("POST", &echo, &background).0, 403);
    assert_eq!(
        anonymous
            .call("POST", &format!("{plain}/echo"), &background)
            .0,
        403
    );
    assert_eq!(
        web.call("POST", &format!("{https}/other"), &background).0,
        403
    );
    let (status, body) = web.call("POST", &echo, &background);
    assert_eq!(status, 200, "{body}");
    let (_, functions) = reader.get(&format!("{https}/api/functions"));
    let functions: serde_json::Value = serde_json::from_str(&functions).unwrap();
    let echo_fn = functions
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "echo")
        .unwrap_or_else(|| panic!("no echo in {functions}"));
    assert_eq!(echo_fn["queued"]["normal"], 1, "{functions}");

    // The front-end's own connection shows as such, never with its secret.
    let (_, connections) = reader.get(&format!("{https}/api/connections"));
    let connections: serde_json::Value = serde_json::from_str(&connections).unwrap();
    let ids: Vec<&str> = connections
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert!(ids.contains(&"gearboxd-http"), "{connections}");
    assert!(ids.iter().all(|id| id.len() < 64), "{connections}");
}
