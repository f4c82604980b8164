//! PHP values PECL returns that ext-php-rs cannot declare: `string|false`, the status arrays,
//! bytes as PHP strings. The declared return type becomes `mixed`; what PHP receives is
//! PECL's (PHP-EXTENSION.md, row 14). And the arguments whose declared type must be PECL's
//! (or narrower) for PHP subclasses that override the methods with PECL's signatures, while
//! the method itself decides what it accepts.

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::FromZval;
use ext_php_rs::flags::DataType;
use ext_php_rs::types::{ZendHashTable, Zval};

/// A PHP string holding `bytes` as they are.
pub fn bytes(bytes: &[u8]) -> Binary<u8> {
    Binary::new(bytes.to_vec())
}

/// `string|false`: the string, or `false` for `None`.
pub fn string_or_false(text: Option<&str>) -> Zval {
    let mut zval = Zval::new();
    match text {
        Some(text) => {
            let _ = zval.set_string(text, false);
        }
        None => zval.set_bool(false),
    }
    zval
}

/// `[known, running, numerator, denominator]`, as `jobStatus()` returns it.
pub fn status_array(status: (bool, bool, u32, u32)) -> ZBox<ZendHashTable> {
    let mut array = ZendHashTable::new();
    let (known, running, numerator, denominator) = status;
    let _ = array.push(known);
    let _ = array.push(running);
    let _ = array.push(i64::from(numerator));
    let _ = array.push(i64::from(denominator));
    array
}

/// `string|false`: the bytes, or `false` when there are none.
pub fn bytes_or_false(data: &[u8]) -> Zval {
    let mut zval = Zval::new();
    if data.is_empty() {
        zval.set_bool(false);
    } else {
        zval.set_binary(data.to_vec());
    }
    zval
}

/// What a PHP function returned, as the bytes of a job result: a string as it is, anything
/// else converted as PHP's `(string)` would (`null` and `false` are empty, arrays `Array`).
pub fn result_bytes(value: &Zval) -> Vec<u8> {
    if let Some(bytes) = value.binary::<u8>() {
        return bytes;
    }
    if value.is_array() {
        return b"Array".to_vec();
    }
    value.coerce_to_string().unwrap_or_default().into_bytes()
}

/// `string|false`: the bytes (even empty), or `false` for `None`.
pub fn optional_bytes(data: Option<bytes::Bytes>) -> Zval {
    let mut zval = Zval::new();
    match data {
        Some(data) => zval.set_binary(data.to_vec()),
        None => zval.set_bool(false),
    }
    zval
}

/// `int|false`: the number, or `false` for `None`.
pub fn optional_int(n: Option<i64>) -> Zval {
    let mut zval = Zval::new();
    match n {
        Some(n) => zval.set_long(n),
        None => zval.set_bool(false),
    }
    zval
}

/// A callable argument, declared `callable` as PECL declares it (a subclass may override the
/// method with `callable $function`); the method checks it, and warns as PECL does.
pub struct CallableArg(pub Zval);

impl FromZval<'_> for CallableArg {
    const TYPE: DataType = DataType::Callable;

    fn from_zval(zval: &Zval) -> Option<Self> {
        Some(CallableArg(zval.shallow_clone()))
    }
}

/// `addTask()`'s workload: PECL declares `string|int|float`, which ext-php-rs cannot; it is
/// declared `string` (a subclass may widen it) and any value is taken as PHP's `(string)`.
pub struct WorkloadArg(pub Zval);

impl FromZval<'_> for WorkloadArg {
    const TYPE: DataType = DataType::String;

    fn from_zval(zval: &Zval) -> Option<Self> {
        Some(WorkloadArg(zval.shallow_clone()))
    }
}
