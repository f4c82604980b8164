//! PHP values PECL returns that ext-php-rs cannot declare: `string|false`, the status arrays,
//! bytes as PHP strings. The declared return type becomes `mixed`; what PHP receives is
//! PECL's (PHP-EXTENSION.md, row 14).

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
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
