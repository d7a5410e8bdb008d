//! Guarded actions running right now, so that quitting can wait for their outcomes instead of
//! dropping them mid-call (an intent without an outcome, a signal that may have been sent).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// A shared count of running actions. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    count: AtomicUsize,
    idle: Notify,
}

/// Held while an action runs; dropping it (even on cancellation) ends it.
#[derive(Debug)]
pub struct Running {
    inner: Arc<Inner>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.inner.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

impl InFlight {
    pub fn start(&self) -> Running {
        self.inner.count.fetch_add(1, Ordering::AcqRel);
        Running {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Actions running now.
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Waits until no action runs, at most `limit`. True when none runs.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.idle.notified();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_running_actions_up_to_the_limit() {
        let flight = InFlight::default();
        assert!(flight.wait_idle(Duration::from_millis(10)).await);
        let running = flight.start();
        assert_eq!(flight.count(), 1);
        assert!(!flight.wait_idle(Duration::from_millis(50)).await);
        let waiter = {
            let flight = flight.clone();
            tokio::spawn(async move { flight.wait_idle(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(running);
        assert!(waiter.await.expect("join"));
        assert_eq!(flight.count(), 0);
    }
}
