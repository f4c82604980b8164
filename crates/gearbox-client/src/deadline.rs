//! Bounding a call in time: the one place a client future meets its deadline.

use tokio::time::Instant;

use crate::error::Error;

/// Run `fut` until `deadline` (none: no limit).
pub(crate) async fn with_deadline<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, fut)
            .await
            .unwrap_or(Err(Error::Timeout)),
        None => fut.await,
    }
}
