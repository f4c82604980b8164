//! Store errors. Each one reaches the submitter as an ERROR packet (never a silent drop) and
//! the log; none stops the server.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store's table exists with columns this version cannot read.
    #[error("table {table} has an unknown layout: {detail}")]
    Layout {
        /// The table name.
        table: String,
        /// What did not match.
        detail: String,
    },
    /// The committer thread is gone.
    #[error("the store thread has stopped")]
    Stopped,
}
