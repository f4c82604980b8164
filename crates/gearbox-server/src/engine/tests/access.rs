//! The access list as the engine applies it to the HTTP front-end's own connection: the
//! secret client id from a loopback peer lifts the list (the HTTP side checked its caller),
//! a wrong secret or another machine does not, and the secret is never shown.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::acl::Acl;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn harness() -> Harness {
    let mut h = Harness::with(EngineConfig {
        handle_prefix: "H:test".into(),
        internal_client_id: Some(Bytes::from_static(SECRET.as_bytes())),
        ..EngineConfig::default()
    });
    h.engine.set_acl(Some(readers_only()));
    h
}

/// Anonymous peers may read the admin state; nobody may submit.
fn readers_only() -> Arc<Acl> {
    let text = "[[rule]]\nidentity = \"anonymous\"\nadmin = \"read\"\n";
    Arc::new(Acl::parse(text, std::path::Path::new("acl.toml")).unwrap())
}

fn refused(sent: &[Sent]) -> bool {
    sent.iter()
        .any(|s| matches!(s, Sent::Packet(_, T::Error, args) if args[0] == b"PERMISSION_DENIED"))
}

#[test]
fn the_secret_client_id_lifts_the_access_list_for_loopback_only() {
    let mut h = harness();
    let front = h.connect(1);
    h.send(front, T::SetClientId, &[SECRET.as_bytes()]);
    h.submit(front, T::SubmitJobBg, "f", "u1", "x");

    let wrong = h.connect(2);
    h.send(
        wrong,
        T::SetClientId,
        &[b"0123456789abcdef0123456789abcdeX"],
    );
    let sent = h.send(wrong, T::SubmitJobBg, &[b"f", b"u2", b"x"]);
    assert!(refused(&sent), "{sent:?}");

    let remote = h.connect_from(3, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
    h.send(remote, T::SetClientId, &[SECRET.as_bytes()]);
    let sent = h.send(remote, T::SubmitJobBg, &[b"f", b"u3", b"x"]);
    assert!(refused(&sent), "{sent:?}");

    // The list re-read (SIGHUP) keeps the front-end's exemption.
    h.engine.set_acl(Some(readers_only()));
    h.submit(front, T::SubmitJobBg, "f", "u4", "x");

    let viewer = h.connect(4);
    let workers = h.admin(viewer, "workers");
    assert!(
        workers
            .lines()
            .any(|l| l == "101 127.0.0.1 gearboxd-http :"),
        "{workers}"
    );
}
