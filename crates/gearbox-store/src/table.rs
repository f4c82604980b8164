//! The SQL backends' shared rules about their table: which names may be written into SQL text,
//! and what an existing table is (ours, gearmand's to take over, or something else). No SQL is
//! run here; each backend asks its own database for the column names.

use crate::StoreError;

/// Refuse a table name that is not letters, digits and `_`, or longer than `max_len` bytes:
/// table names are written into SQL text.
pub(crate) fn check_table_name(name: &str, max_len: usize) -> Result<(), StoreError> {
    if !name.is_empty()
        && name.len() <= max_len
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Ok(());
    }
    let limit = if max_len == usize::MAX {
        String::new()
    } else {
        format!(", at most {max_len} of them")
    };
    Err(StoreError::Layout {
        table: name.to_owned(),
        detail: format!("table names may hold only letters, digits and '_'{limit}"),
    })
}

/// What an existing queue table is, judged by its column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableLayout {
    /// No such table yet.
    Missing,
    /// Ours (an `id` key and a `reducer` column).
    Ours,
    /// Written by gearmand: its five columns and no order key; to be taken over.
    Gearmand,
}

/// Classify `table` by its `columns` (compared without regard to case, as MySQL reports
/// them); a layout that is neither ours nor gearmand's is an error.
pub(crate) fn table_layout(table: &str, columns: &[String]) -> Result<TableLayout, StoreError> {
    let has = |c: &str| columns.iter().any(|x| x.eq_ignore_ascii_case(c));
    const GEARMAND: [&str; 5] = [
        "unique_key",
        "function_name",
        "priority",
        "data",
        "when_to_run",
    ];
    if columns.is_empty() {
        Ok(TableLayout::Missing)
    } else if has("id") && has("reducer") {
        Ok(TableLayout::Ours)
    } else if GEARMAND.iter().all(|c| has(c)) {
        Ok(TableLayout::Gearmand)
    } else {
        Err(StoreError::Layout {
            table: table.to_owned(),
            detail: format!("columns {columns:?}"),
        })
    }
}
