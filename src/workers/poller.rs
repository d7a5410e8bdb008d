//! The polling loop every polled pane shares: at most one refresh in flight, nothing at all
//! while the pane is hidden, backoff while the server is away, and an immediate refresh when
//! the App changes the control (pane shown, interval changed).

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// What the App wants from a poller right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollControl {
    pub active: bool,
    pub interval: Duration,
}

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Poll with `fetch`, wrap each result with `to_msg` (context, result, retry_in) and send it
/// to the App (the message type is the caller's). The task ends when the control sender or the App's receiver is dropped.
pub fn spawn<T, F, Fut, M>(
    context: String,
    what: &'static str,
    tx: mpsc::Sender<M>,
    mut control: watch::Receiver<PollControl>,
    fetch: F,
    to_msg: fn(String, Result<T, String>, Option<Duration>) -> M,
) -> tokio::task::JoinHandle<()>
where
    T: Send + 'static,
    M: Send + 'static,
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>> + Send,
{
    tokio::spawn(async move {
        let mut backoff = BACKOFF_START;
        loop {
            let ctl = *control.borrow_and_update();
            if !ctl.active {
                // Hidden pane: no request reaches the server until it is shown again.
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let result = fetch().await;
            let wait = match &result {
                Ok(_) => {
                    backoff = BACKOFF_START;
                    ctl.interval
                }
                Err(e) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    tracing::warn!(%context, error = %e, retry_in = ?wait, "{what} refresh failed");
                    wait
                }
            };
            let retry_in = result.is_err().then_some(wait);
            if tx
                .send(to_msg(context.clone(), result, retry_in))
                .await
                .is_err()
            {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = control.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    })
}
