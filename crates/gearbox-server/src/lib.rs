//! gearboxd, the Gearbox job server: a Gearman server wire-compatible with gearmand.
//!
//! [`engine`] owns every job and rule and does no I/O; [`net`] is the thin tokio layer that
//! accepts connections, frames bytes, feeds the engine and writes its answers; [`config`] holds
//! what the `gearboxd` binary reads from its command line; [`tls`] reads TLS certificates
//! and [`acl`] the access list. Nothing in this library installs a
//! logger or reads the process environment: the binary does that.

pub mod acl;
pub mod config;
pub mod config_file;
pub mod cron;
pub mod engine;
pub mod file_error;
pub mod http;
pub mod net;
pub mod tls;
pub mod zone;
