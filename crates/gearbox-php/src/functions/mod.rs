//! The procedural API PECL keeps beside the classes: `gearman_version()`,
//! `gearman_verbose_name()`, and one `gearman_<class>_<method>()` function for each method,
//! taking the object first and calling the method, so that each behaviour has one
//! implementation.

/// One `#[php_function]` per entry, taking the object of `$class` first and calling its
/// method with the rest, and a `register()` adding them (and the `extra` functions written
/// out by hand in the same file) to the module.
macro_rules! procedural {
    (
        class $class:ty;
        extra $($extra:ident),*;
        $(
            $(#[$attr:meta])*
            fn $name:ident => $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty;
        )*
    ) => {
        $(
            #[php_function]
            $(#[$attr])*
            pub fn $name(obj: &ext_php_rs::types::ZendClassObject<$class>, $($arg: $ty),*) -> $ret {
                obj.$method($($arg),*)
            }
        )*

        /// Add every function of this file to the module.
        pub fn register(module: ModuleBuilder) -> ModuleBuilder {
            module
                $(.function(wrap_function!($extra)))*
                $(.function(wrap_function!($name)))*
        }
    };
}

mod client;
mod job;
mod task;
mod worker;

use ext_php_rs::prelude::*;
use gearbox_php_core::constants::{Value, CONSTANTS};

/// The protocol level this implementation answers for: libgearman 1.1.20's.
#[php_function]
pub fn gearman_version() -> &'static str {
    "1.1.20"
}

/// Where to report bugs.
#[php_function]
pub fn gearman_bugreport() -> &'static str {
    "https://example.invalid/gearbox/issues"
}

/// The name of a verbosity level (`FATAL`, `ERROR`, …), `UNKNOWN` for another number.
#[php_function]
pub fn gearman_verbose_name(verbose: i64) -> &'static str {
    CONSTANTS
        .iter()
        .filter_map(|(name, v)| name.strip_prefix("GEARMAN_VERBOSE_").zip(Some(v)))
        .find(|(name, v)| *name != "MAX" && **v == Value::Int(verbose))
        .map_or("UNKNOWN", |(name, _)| name)
}

/// Add every procedural function to the module.
pub fn register(module: ModuleBuilder) -> ModuleBuilder {
    let module = module
        .function(wrap_function!(gearman_version))
        .function(wrap_function!(gearman_bugreport))
        .function(wrap_function!(gearman_verbose_name));
    let module = client::register(module);
    let module = worker::register(module);
    let module = task::register(module);
    job::register(module)
}
