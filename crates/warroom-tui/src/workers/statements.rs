//! The statements view's poller (only while the view is visible: the caller's `PollControl`)
//! and the one-shot plan of a running query.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use warroom_core::backends::BackendError;
use warroom_core::backends::postgres::PgStatements;
use warroom_core::backends::postgres::explain::ExplainResult;
use warroom_core::backends::postgres::statements::{StatementsReport, StatementsTracker};

use super::poller::PollControl;

/// Poll pg_stat_statements for `context`; the baseline lives in the worker, so each message
/// carries the deltas since the previous read.
pub fn spawn_statements<M: Send + 'static>(
    context: String,
    source: Arc<dyn PgStatements>,
    tx: mpsc::Sender<M>,
    control: watch::Receiver<PollControl>,
    to_msg: fn(crate::workers::Update<StatementsReport>) -> M,
) -> tokio::task::JoinHandle<()> {
    let tracker = Arc::new(tokio::sync::Mutex::new(StatementsTracker::default()));
    super::poller::spawn(
        context,
        "pg_stat_statements",
        tx,
        control,
        move || {
            let source = source.clone();
            let tracker = tracker.clone();
            async move {
                let mut tracker = tracker.lock().await;
                let read = source.statements(&tracker).await?;
                Ok(tracker.report(read))
            }
        },
        to_msg,
    )
}

/// EXPLAIN what `pid` of `context` runs now (`source` is `None` when the context has no
/// connection) and send the answer as `Event::PgPlan`.
pub fn spawn_explain(
    context: String,
    source: Option<Arc<dyn PgStatements>>,
    pid: i32,
    tx: mpsc::Sender<crate::workers::Event>,
) {
    super::spawn_answer(tx, async move {
        let result: Result<ExplainResult, BackendError> = match source {
            Some(source) => source.explain(pid).await.map_err(Into::into),
            None => Err(format!("no connection for context {context}").into()),
        };
        crate::workers::Event::PgPlan { context, result }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use warroom_core::backends::postgres::statements::StatementsUpdate;
    use warroom_demo::{DemoClock, DemoPg};

    #[tokio::test]
    async fn first_read_is_the_baseline_then_deltas_and_nothing_while_hidden() {
        let clock = DemoClock::wall(50.0);
        let demo: Arc<dyn PgStatements> = Arc::new(DemoPg::new(1, clock));
        let (tx, mut rx) = mpsc::channel(4);
        let (control_tx, control) = watch::channel(PollControl {
            active: true,
            interval: Duration::from_millis(100),
        });
        let task = spawn_statements("demo".into(), demo, tx, control, |u| {
            (u.context, u.result, u.retry_in)
        });
        let (context, first, _) = rx.recv().await.expect("first read");
        assert_eq!(context, "demo");
        assert_eq!(first.expect("ok").update, StatementsUpdate::Baseline);
        let (_, second, _) = rx.recv().await.expect("second read");
        match second.expect("ok").update {
            StatementsUpdate::Deltas(d) => assert!(!d.statements.is_empty()),
            other => panic!("expected deltas, got {other:?}"),
        }
        control_tx
            .send(PollControl {
                active: false,
                interval: Duration::from_millis(100),
            })
            .expect("control");
        // At most the read already in flight arrives; then nothing.
        let _ = tokio::time::timeout(Duration::from_millis(150), rx.recv()).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(400), rx.recv())
                .await
                .is_err(),
            "hidden: no reads"
        );
        task.abort();
    }
}
