//! The Kafka poller: one per context, at most one refresh in flight, sleeping while its
//! pane is hidden, backing off while the cluster is away. Reset previews run as one-shot
//! tasks next to it.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::workers::Event;
use crate::workers::poller::PollControl;
use warroom_core::backends::kafka::{KafkaSource, ResetSpec};

/// Start polling `source` for `context` (see `poller`).
pub fn spawn(
    context: String,
    source: Arc<dyn KafkaSource>,
    tx: mpsc::Sender<Event>,
    control: watch::Receiver<PollControl>,
) -> tokio::task::JoinHandle<()> {
    let label = context.clone();
    super::poller::spawn(
        context,
        "kafka",
        tx,
        control,
        move || {
            let (source, label) = (source.clone(), label.clone());
            async move {
                let snap = source.snapshot().await?;
                tracing::debug!(context = %label, cost = %snap.cost.debug_line(), "kafka refresh");
                Ok(snap)
            }
        },
        Event::KafkaUpdate,
    )
}

/// Read the preview of a reset and send it back as `Event::KafkaPlan`.
pub fn plan_reset(
    context: String,
    group: String,
    spec: ResetSpec,
    source: Arc<dyn KafkaSource>,
    tx: mpsc::Sender<Event>,
) -> tokio::task::JoinHandle<()> {
    super::spawn_answer(tx, async move {
        let result = source.plan_reset(&group, &spec).await.map_err(Into::into);
        Event::KafkaPlan { context, result }
    })
}
