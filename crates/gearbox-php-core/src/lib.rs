//! What the `gearman` PHP extension (`crates/gearbox-php`) decides without PHP, so that plain
//! `cargo test` covers it: PECL gearman's constants, libgearman's return codes and how the
//! client library's errors map onto them, and the state of PECL's client between calls.
//!
//! Nothing here may link against PHP or call into it: the binding crate is a thin layer that
//! turns these results into PHP values (PHP-EXTENSION.md, pitfall 9).

pub mod client;
pub mod codes;
pub mod constants;
pub mod servers;
pub mod ssl;
pub mod tasks;
pub mod worker;
