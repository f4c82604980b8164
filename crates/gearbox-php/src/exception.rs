//! `GearmanException`: `final class GearmanException extends Exception` with a public `$code`,
//! as PECL declares it. Registered by hand at module startup, because a `#[php_class]`
//! exception loses the file, line and trace PHP records when an exception is created
//! (PHP-EXTENSION.md, row 20); nothing else lives here.

use ext_php_rs::builders::{ClassBuilder, ClassProperty};
use ext_php_rs::exception::PhpException;
use ext_php_rs::flags::{ClassFlags, PropertyFlags};
use ext_php_rs::types::Zval;
use ext_php_rs::zend::{ce, ClassEntry};

const NAME: &str = "GearmanException";

/// Registers the class; the module's startup function.
pub extern "C" fn register(_type: i32, _module_number: i32) -> i32 {
    let registered = ClassBuilder::new(NAME)
        .extends((ce::exception, "Exception"))
        .flags(ClassFlags::Final)
        .property(ClassProperty {
            name: "code".into(),
            flags: PropertyFlags::Public,
            // As Exception's own: 0 until a code is given.
            default: Some(Box::new(|| {
                let mut code = Zval::new();
                code.set_long(0);
                Ok(code)
            })),
            docs: &[],
            ty: None,
            nullable: false,
            readonly: false,
            default_stub: None,
        })
        // Found again by name when thrown (`gearman_exception`).
        .registration(|_class, _arg_info| {})
        .register();
    i32::from(registered.is_err())
}

/// A `GearmanException` carrying `message` and `code`, to return as an `Err`.
pub fn gearman_exception(message: impl Into<String>, code: i32) -> PhpException {
    // Registered at startup, before any PHP code can run; `Exception` if that failed.
    let class: &'static ClassEntry = ClassEntry::try_find(NAME).unwrap_or_else(ce::exception);
    PhpException::new(message.into(), code, class)
}
