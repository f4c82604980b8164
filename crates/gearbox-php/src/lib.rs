//! The `gearman` PHP extension: a drop-in for PECL gearman, written in Rust on ext-php-rs and
//! built on gearbox-client. The module is named `gearman`, so existing PHP code runs unchanged
//! with it loaded instead of PECL's (which must then be disabled: the two cannot share a
//! process).
//!
//! This crate is the thin layer between PHP values and `gearbox-php-core`, where every
//! decision is made and tested without PHP. Rules the binding keeps (PHP-EXTENSION.md): every
//! method takes `&self` with its state in a `RefCell`, and no borrow is held across a call
//! into PHP; no thread or runtime exists before the first call that does network I/O (the
//! core's blocking client builds it lazily and again after a fork); `GearmanException` is
//! registered by hand so that its file, line and trace are PHP's.

#![allow(non_snake_case)]

mod callbacks;
mod client;
mod exception;
mod functions;
mod ini;
mod job;
mod run;
mod task;
mod values;
mod worker;

use ext_php_rs::prelude::*;
use ext_php_rs::zend::ModuleEntry;
use ext_php_rs::{info_table_end, info_table_row, info_table_start};
use gearbox_php_core::constants::{Value, CONSTANTS};

/// What `phpversion('gearman')` reports: the PECL API this module implements.
pub const VERSION: &str = "2.1.5";

extern "C" fn module_info(_module: *mut ModuleEntry) {
    info_table_start!();
    info_table_row!("gearman support", "enabled");
    info_table_row!("extension version", VERSION);
    info_table_row!("implementation", "Gearbox (Rust), not libgearman");
    info_table_end!();
}

/// Module startup: register `GearmanException` and the ini settings, and keep the default
/// panic hook from printing to stderr (a panic still reaches PHP as an `Error` carrying its
/// message).
extern "C" fn startup(kind: i32, module_number: i32) -> i32 {
    std::panic::set_hook(Box::new(|_| {}));
    ini::register(module_number);
    exception::register(kind, module_number)
}

/// The module entry PHP asks for; in a private module, since the macro's exported alias of it
/// carries no documentation.
mod entry {
    use super::*;

    /// The module: its name, version, constants, classes and functions.
    #[php_module]
    pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
        let mut module = module
            .name("gearman")
            .version(VERSION)
            .startup_function(startup)
            .info_function(module_info)
            .class::<client::GearmanClient>()
            .class::<worker::GearmanWorker>()
            .class::<job::GearmanJob>()
            .class::<task::GearmanTask>();
        for (name, value) in CONSTANTS {
            module = match value {
                Value::Int(n) => module.constant((*name, *n, &[])),
                Value::Str(s) => module.constant((*name, *s, &[])),
            };
        }
        functions::register(module)
    }
}
