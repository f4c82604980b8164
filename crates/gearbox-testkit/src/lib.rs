//! The test kit shared by the integration tests of every Gearbox crate.
//!
//! Scenarios run against two servers: Debian's `gearmand` 1.1.20 (the oracle) and our
//! `gearboxd`, either as a separate process ([`Server`]) or, for tests that need only protocol
//! behaviour, inside the test process ([`InProcessServer`]). Real, independently written
//! Gearman clients (the PECL `gearman` extension for PHP, the CPAN `Gearman::Client` and
//! `Gearman::Worker` for Perl, the `gearman`/`gearadmin` tools) run against them, with the
//! client scripts kept in this crate's `clients/` directory.
//!
//! Rules every module keeps:
//! * every wait is bounded in time; an external program that hangs is killed and reported;
//! * everything talks to 127.0.0.1 only, never to a fixed port (except the database services
//!   of [`services`], which are the machine's own);
//! * a missing tool or service skips the test locally and fails it when `CI` is set
//!   ([`in_ci`], the one place that reads it).
//!
//! This crate is only ever a `[dev-dependency]`: nothing here may be used by a crate's
//! library code (gearbox-server's own `src/` unit tests included, since the kit links the
//! non-test build of gearbox-server).
//!
//! Set `GEARBOX_TEST_KEEP=1` to keep the temporary directories (server logs, program output)
//! under `target/tmp` after the test.
//!
//! `use gearbox_testkit::*;` brings in what the process-level scenarios use; the raw-socket
//! helpers stay in [`wire`], the differential harness in [`differential`] and the database
//! services in [`services`].

pub mod admin;
pub mod differential;
pub mod env;
pub mod inprocess;
pub mod pki;
pub mod procs;
pub mod prometheus;
pub mod server;
pub mod services;
pub mod tempdir;
pub mod wire;

pub use admin::{admin_command, get_status_unique, read_admin_response, ADMIN_IO_TIMEOUT};
pub use env::{
    client_script, in_ci, missing, profile_dir, require, require_perl, require_php, which,
};
pub use inprocess::{start_server, InProcessServer, ServerOptions, StoreMode};
pub use procs::{
    assert_lines, field_after, lines_without, run, sorted, strings, wait_until, Gate, Output, Proc,
    PROC_TIMEOUT,
};
pub use server::{
    free_port, gearbox_bin, gearboxd_bin, server_available, with_slow_store, Kind, Server,
    SLOW_STORE_MS, START_TIMEOUT, STATE_TIMEOUT,
};
pub use tempdir::TempDir;

/// Expands to one module per scenario with a `gearmand`, a `gearboxd` and a
/// `gearboxd_slow_store` test, all calling the scenario function `fn name(kind: Kind)` defined
/// next to the macro call. The third runs gearboxd with every store transaction delayed by
/// [`SLOW_STORE_MS`], since a fast disk hides races between a commit and the traffic around it.
/// Test names read `<scenario>::gearmand` and `<scenario>::gearboxd`, so `cargo test
/// <scenario>` runs all three and `cargo test gearboxd` runs every scenario against our server
/// only.
///
/// ```no_run
/// use gearbox_testkit::*;
///
/// both_servers!(version_answers);
///
/// fn version_answers(kind: Kind) {
///     let server = Server::start(kind, &[]);
///     assert!(server.admin("version")[0].starts_with("OK "));
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! both_servers {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn gearmand() {
                    if $crate::server_available($crate::Kind::Gearmand) {
                        super::$name($crate::Kind::Gearmand);
                    }
                }

                #[test]
                fn gearboxd() {
                    if $crate::server_available($crate::Kind::Gearboxd) {
                        super::$name($crate::Kind::Gearboxd);
                    }
                }

                #[test]
                fn gearboxd_slow_store() {
                    $crate::with_slow_store(|| super::$name($crate::Kind::Gearboxd));
                }
            }
        )*
    };
}

/// For scenarios that need only protocol behaviour: one module per scenario with a `gearmand`
/// test (Debian's gearmand as a process, skipped or failed by [`server_available`] as usual) and
/// a `gearboxd` test (an [`InProcessServer`] with the default, memory-only options), both
/// calling `fn name(kind: Kind, addr: SocketAddr)` defined next to the macro call. The server
/// lives until the scenario returns.
///
/// There is no slow-store variant: use it for scenarios whose traffic never reaches a job
/// store (foreground jobs, echo, admin), and [`both_servers!`] for the rest.
///
/// ```no_run
/// use std::net::SocketAddr;
///
/// use gearbox_testkit::*;
///
/// gearmand_and_in_process!(echo_answers);
///
/// fn echo_answers(kind: Kind, addr: SocketAddr) {
///     let mut c = wire::Conn::connect(addr);
///     c.send(&wire::raw_packet(b"\0REQ", 16, b"ping"));
///     assert_eq!(c.recv().packet().body.as_ref(), b"ping", "[{kind}]");
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! gearmand_and_in_process {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn gearmand() {
                    if $crate::server_available($crate::Kind::Gearmand) {
                        let server = $crate::Server::start($crate::Kind::Gearmand, &[]);
                        super::$name($crate::Kind::Gearmand, server.addr);
                    }
                }

                #[test]
                fn gearboxd() {
                    let server = $crate::start_server($crate::ServerOptions::default());
                    super::$name($crate::Kind::Gearboxd, server.addr());
                }
            }
        )*
    };
}
