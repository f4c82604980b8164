//! `contrib/gearboxd.service` is a valid systemd unit (`systemd-analyze verify`, with the
//! binary under test in place of the installed path), and its sandbox does not forbid what
//! gearboxd needs: /proc/meminfo readable (ProcSubset=pid would hide it), the state directory
//! as --data-dir, and a SIGHUP reload.

use gearbox_testkit::{gearboxd_bin, require, run, TempDir, PROC_TIMEOUT};

const UNIT: &str = include_str!("../../../contrib/gearboxd.service");

#[test]
fn the_systemd_unit_verifies() {
    if !require("systemd-analyze") {
        return;
    }
    let dir = TempDir::new("unit");
    let unit = dir.path().join("gearboxd.service");
    let bin = gearboxd_bin();
    std::fs::write(
        &unit,
        UNIT.replace("/usr/local/bin/gearboxd", &bin.to_string_lossy()),
    )
    .unwrap();
    let mut verify = std::process::Command::new("systemd-analyze");
    verify.arg("verify").arg(&unit);
    let out = run(verify, PROC_TIMEOUT);
    out.assert_success();
    assert!(out.stderr.trim().is_empty(), "{out}");
    for needed in [
        "--data-dir /var/lib/gearboxd",
        "StateDirectory=gearboxd",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
    ] {
        assert!(UNIT.contains(needed), "the unit lost {needed}");
    }
    assert!(
        !UNIT.contains("ProcSubset=pid"),
        "gearboxd reads /proc/meminfo"
    );
}
