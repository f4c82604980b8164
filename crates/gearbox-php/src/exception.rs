//! How failures reach PHP code, as PECL reports them: `GearmanException` (`final class
//! GearmanException extends Exception` with a public `$code`), registered by hand at module
//! startup because a `#[php_class]` exception loses the file, line and trace PHP records when
//! an exception is created (PHP-EXTENSION.md, row 20); and the `E_WARNING`s PECL raises where
//! a call fails, which frameworks that turn warnings into exceptions depend on. Which calls
//! warn is decided by the classes; nothing here knows Gearman.

use ext_php_rs::builders::{ClassBuilder, ClassProperty};
use ext_php_rs::error::php_error;
use ext_php_rs::exception::PhpException;
use ext_php_rs::flags::{ClassFlags, ErrorType, PropertyFlags};
use ext_php_rs::types::Zval;
use ext_php_rs::zend::{ce, ClassEntry};
use gearbox_php_core::codes::ReturnCode;

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

/// What PECL throws when `addServer()` cannot reach the server to set its exceptions option.
pub fn server_unreachable() -> PhpException {
    gearman_exception("Failed to set exception option", 0)
}

/// Raise an `E_WARNING` with `message`; PHP puts the calling method's name in front.
pub fn warn(message: &str) {
    php_error(&ErrorType::Warning, message);
}

/// Warn about a failed call: its error message, or its code's name when it has none.
pub fn warn_failure(code: ReturnCode, error: Option<&str>) {
    warn(error.unwrap_or(code.name()));
}
