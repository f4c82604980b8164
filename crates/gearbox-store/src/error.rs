//! Store errors. Each one reaches the submitter as an ERROR packet (never a silent drop) and
//! the log; none stops the server.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error, or could not be reached.
    #[cfg(feature = "postgres")]
    #[error("postgres: {}", with_sources(.0))]
    Postgres(#[from] ::postgres::Error),
    /// MySQL/MariaDB reported an error, or could not be reached.
    #[cfg(feature = "mysql")]
    #[error("mysql: {0}")]
    Mysql(#[from] ::mysql::Error),
    /// Redis reported an error, or could not be reached.
    #[cfg(feature = "redis")]
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// A thread the store needs could not be started.
    #[error("cannot start a store thread: {0}")]
    Thread(std::io::Error),
    /// The store's settings cannot be used (a malformed URL, a missing database name).
    #[error("store settings: {0}")]
    Settings(String),
    /// A stored job could not be read back.
    #[error("table {table}: unreadable job {id}: {detail}")]
    Corrupt {
        /// The table or key holding the job.
        table: String,
        /// The job's id.
        id: u64,
        /// What was wrong.
        detail: String,
    },
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

/// An error and its causes, `outer: inner: …` (the PostgreSQL client keeps the reason a
/// connection failed in the source chain).
#[cfg(feature = "postgres")]
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
