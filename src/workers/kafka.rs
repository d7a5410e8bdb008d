//! The Kafka poller: one per context, at most one refresh in flight, sleeping while its
//! pane is hidden, backing off while the cluster is away. Reset previews run as one-shot
//! tasks next to it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::app::Msg;
use crate::backends::kafka::{KafkaSource, ResetSpec};
use crate::workers::pg::PollControl;

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Start polling `source` for `context`. The task ends when the control sender or the
/// App's receiver is dropped.
pub fn spawn(
    context: String,
    source: Arc<dyn KafkaSource>,
    tx: mpsc::Sender<Msg>,
    mut control: watch::Receiver<PollControl>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = BACKOFF_START;
        loop {
            let ctl = *control.borrow_and_update();
            if !ctl.active {
                // Hidden pane: no request reaches the cluster until it is shown again.
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let (result, wait) = match source.snapshot().await {
                Ok(snap) => {
                    backoff = BACKOFF_START;
                    tracing::debug!(%context, cost = %snap.cost.debug_line(), "kafka refresh");
                    (Ok(snap), ctl.interval)
                }
                Err(e) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    tracing::warn!(%context, error = %e, retry_in = ?wait, "kafka refresh failed");
                    (Err(e.to_string()), wait)
                }
            };
            let retry_in = result.is_err().then_some(wait);
            let msg = Msg::KafkaUpdate {
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

/// Read the preview of a reset and send it back as `Msg::KafkaPlan`.
pub fn plan_reset(
    context: String,
    group: String,
    spec: ResetSpec,
    source: Arc<dyn KafkaSource>,
    tx: mpsc::Sender<Msg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let result = source
            .plan_reset(&group, &spec)
            .await
            .map_err(|e| e.to_string());
        let _ = tx.send(Msg::KafkaPlan { context, result }).await;
    })
}
