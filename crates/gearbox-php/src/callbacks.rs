//! Calling user PHP code: worker functions and task callbacks, the only places the extension
//! enters it. The caller must hold no `RefCell` borrow across [`call`], since the user code may
//! call back into any Gearman object. An exception the code throws stays pending in the engine
//! and reaches the PHP caller of `work()` or `runTasks()` unchanged.

use ext_php_rs::convert::{IntoZval, IntoZvalDyn};
use ext_php_rs::exception::throw_object;
use ext_php_rs::exception::PhpException;
use ext_php_rs::types::{ZendCallable, Zval};
use ext_php_rs::zend::ExecutorGlobals;

/// The user code threw; its exception is pending in the engine.
#[derive(Debug)]
pub struct Threw;

/// Call `function` with `args`: what it returned, or [`Threw`].
pub fn call(function: &Zval, args: &[&Zval]) -> Result<Zval, Threw> {
    let function = ZendCallable::new_owned(function.shallow_clone()).map_err(|_| Threw)?;
    let args: Vec<&dyn IntoZvalDyn> = args.iter().map(|a| *a as &dyn IntoZvalDyn).collect();
    function.try_call(args).map_err(|_| Threw)
}

/// The message of the exception pending in the engine (for WORK_EXCEPTION); empty when there
/// is none. The exception is taken out to ask it (the engine calls no method while one is
/// pending, and `message` is protected) and thrown again as it was, trace and all.
pub fn pending_exception_message() -> Vec<u8> {
    let Some(exception) = ExecutorGlobals::take_exception() else {
        return Vec::new();
    };
    let message = exception
        .try_call_method("getMessage", vec![])
        .ok()
        .and_then(|m| m.binary::<u8>())
        .unwrap_or_default();
    if let Ok(zval) = exception.into_zval(false) {
        // An exception object is always an object: this cannot fail.
        let _ = throw_object(zval);
    }
    message
}

/// What a method returns to let the pending exception propagate: ext-php-rs sees an error,
/// and PHP throws the exception already pending, not this one.
pub fn propagate(_: Threw) -> PhpException {
    PhpException::from_message("a Gearman callback threw".into())
}

/// A callback's return value as libgearman's return code: PHP's `(int)` of it (arrays are 0
/// when empty and 1 otherwise, objects 1).
pub fn return_code(value: &Zval) -> i64 {
    if let Some(array) = value.array() {
        return i64::from(!array.is_empty());
    }
    value.coerce_to_long().unwrap_or(1)
}
