//! The PostgreSQL poller: one per context, one statement per refresh, nothing while its pane
//! is hidden, reconnecting with backoff when the server is away (see `poller`).

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::workers::Event;
use warroom_core::backends::postgres::PgSource;

pub use super::poller::PollControl;

/// Start polling `source` for `context`.
pub fn spawn(
    context: String,
    source: Arc<dyn PgSource>,
    tx: mpsc::Sender<Event>,
    control: watch::Receiver<PollControl>,
) -> tokio::task::JoinHandle<()> {
    super::poller::spawn(
        context,
        "postgres",
        tx,
        control,
        move || {
            let source = source.clone();
            async move { Ok(source.activity().await?) }
        },
        Event::PgUpdate,
    )
}
