//! The PostgreSQL poller: one per context, at most one statement in flight, sleeping while
//! its pane is hidden, reconnecting with backoff when the server is away.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::app::Msg;
use crate::backends::postgres::PgSource;

/// What the App wants from this worker right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollControl {
    pub active: bool,
    pub interval: Duration,
}

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Start polling `source` for `context`. The task ends when the control sender or the
/// App's receiver is dropped.
pub fn spawn(
    context: String,
    source: Arc<dyn PgSource>,
    tx: mpsc::Sender<Msg>,
    mut control: watch::Receiver<PollControl>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = BACKOFF_START;
        loop {
            let ctl = *control.borrow_and_update();
            if !ctl.active {
                // Hidden pane: no statement reaches the server until it is shown again.
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let (result, wait) = match source.activity().await {
                Ok(snap) => {
                    backoff = BACKOFF_START;
                    (Ok(snap), ctl.interval)
                }
                Err(e) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    tracing::warn!(%context, error = %e, retry_in = ?wait, "postgres refresh failed");
                    (Err(e.to_string()), wait)
                }
            };
            let retry_in = result.is_err().then_some(wait);
            let msg = Msg::PgUpdate {
                context: context.clone(),
                result,
                retry_in,
            };
            if tx.send(msg).await.is_err() {
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
