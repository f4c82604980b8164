//! Prometheus's own check of a `/metrics` page: `promtool check metrics` (Debian's
//! `prometheus` package), for format and naming conventions.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Panic with what `promtool check metrics` says about `page` unless it says nothing. Without
/// promtool: a failure in CI, a skip elsewhere (see [`crate::require`]).
pub fn assert_clean(page: &str) {
    if !crate::require("promtool") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(page.as_bytes())
        .expect("write the page to promtool");
    let out = child.wait_with_output().expect("promtool's answer");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}
