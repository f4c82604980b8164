//! Reading the identifiers and numbers that arrive in packets, as gearmand reads them. Pure
//! functions over byte slices: no engine state, no allocation.

/// Strip exactly one trailing NUL from an identifier sent as a final field (PROTOCOL.md §3.2).
pub(super) fn ident(field: &[u8]) -> &[u8] {
    field.strip_suffix(b"\0").unwrap_or(field)
}

/// Progress numbers as gearmand reads them: at most the first 10 bytes, C `atoi` (optional
/// sign, leading digits) stored into a u32, wrapping; so `-5` reads as 4294967291 and
/// `99999999999` as 1410065407. Anything else is 0.
pub(super) fn atoi_u32(text: &[u8]) -> u32 {
    let text = &text[..text.len().min(10)];
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: u32 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
    }
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

/// A decimal number of at most 20 digits, or `None` when it has more or overflows u64.
/// Text that does not start with a digit reads as 0, as gearmand's `strtoll` does.
pub(super) fn parse_decimal(text: &[u8]) -> Option<u64> {
    let digits: &[u8] = &text[..text.iter().take_while(|b| b.is_ascii_digit()).count()];
    if digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Offset of `part` within `whole`; `part` must be a sub-slice of it.
pub(super) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// A length as the u16 a job keeps for its field ranges (fields are far shorter).
pub(super) fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
