//! The shutdown order every transport's `close()` follows.

use std::time::Duration;

use tokio_util::task::TaskTracker;

/// Closes both trackers and waits, within `timeout`, first for the `loops` (they stop
/// receiving, hand back what they buffered, and may still start handlers for what they
/// already took), then for the `handlers` to finish and settle. True when everything
/// finished in time.
pub async fn drain_tasks(loops: &TaskTracker, handlers: &TaskTracker, timeout: Duration) -> bool {
    loops.close();
    handlers.close();
    tokio::time::timeout(timeout, async {
        loops.wait().await;
        handlers.wait().await;
    })
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_loops_then_handlers_and_reports_a_timeout() {
        let (loops, handlers) = (TaskTracker::new(), TaskTracker::new());
        loops.spawn(tokio::time::sleep(Duration::from_secs(1)));
        handlers.spawn(tokio::time::sleep(Duration::from_secs(2)));
        assert!(drain_tasks(&loops, &handlers, Duration::from_secs(3)).await);
        let (loops, handlers) = (TaskTracker::new(), TaskTracker::new());
        handlers.spawn(tokio::time::sleep(Duration::from_secs(10)));
        assert!(!drain_tasks(&loops, &handlers, Duration::from_secs(3)).await);
        assert!(loops.is_closed() && handlers.is_closed());
    }
}
