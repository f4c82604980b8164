//! The in-process server itself: it answers on its address at once, stops and frees its port
//! when dropped, keeps background jobs across a restart on the same SQLite file, and notices
//! the admin `shutdown`.

use std::net::TcpStream;
use std::time::Duration;

use gearbox_proto::PacketType as T;
use gearbox_testkit::wire::{assert_serving, Conn};
use gearbox_testkit::{start_server, wait_until, ServerOptions, StoreMode, TempDir};

#[test]
fn serves_on_loopback_and_stops_when_dropped() {
    let server = start_server(ServerOptions::default());
    let addr = server.addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert_eq!(server.database(), None);
    assert_serving(addr);
    let mut c = Conn::connect(addr);
    let replies = c.request_req(T::SubmitJobBg, &[b"f", b"", b"x"]);
    assert!(replies[0].is(T::JobCreated), "{:?}", replies[0].describe());
    assert_eq!(
        c.admin_list("status"),
        [b"f\t1\t0\t0\n".to_vec(), b".\n".to_vec()]
    );
    drop(c);
    drop(server);
    // The listener is closed once the handle is gone.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn a_sqlite_store_keeps_background_jobs_across_a_restart() {
    let dir = TempDir::new("in-process-restart");
    let options = ServerOptions {
        store: StoreMode::SqliteAt(dir.join("queue.db")),
        ..ServerOptions::default()
    };
    let first = start_server(options.clone());
    assert_eq!(first.database(), Some(dir.join("queue.db").as_path()));
    let mut c = Conn::connect(first.addr());
    for unique in [&b"a"[..], b"b"] {
        let replies = c.request_req(T::SubmitJobBg, &[b"kept", unique, b"payload"]);
        assert!(replies[0].is(T::JobCreated), "{:?}", replies[0].describe());
    }
    drop(c);
    drop(first);

    let second = start_server(options);
    let mut c = Conn::connect(second.addr());
    assert_eq!(
        c.admin_list("status"),
        [b"kept\t2\t0\t0\n".to_vec(), b".\n".to_vec()]
    );
    c.send_req(T::CanDo, &[b"kept"]);
    let assigned = c.request_req(T::GrabJobUniq, &[]);
    assert!(
        assigned[0].is(T::JobAssignUniq),
        "{:?}",
        assigned[0].describe()
    );
    assert_eq!(assigned[0].args()[3], b"payload");
}

#[test]
fn the_admin_shutdown_stops_it() {
    let server = start_server(ServerOptions::sqlite());
    assert!(server.database().is_some_and(|db| db.exists()));
    assert!(server.is_running());
    let mut c = Conn::connect(server.addr());
    assert_eq!(c.admin_line("shutdown"), b"OK\r\n");
    assert!(wait_until(Duration::from_secs(10), || !server.is_running()));
    server
        .stop(gearbox_server::net::Stop::Immediate)
        .expect("serve returned an error");
}
