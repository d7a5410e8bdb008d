//! What workers report: their own type, so they know nothing of the App. `app::wiring`
//! is the one place that turns an event into an App message and names the pane it is for.

use std::time::Duration;

use warroom_core::backends::BackendError;
use warroom_core::backends::kafka::{KafkaSnapshot, ResetPlan};
use warroom_core::backends::kube::{LogBatch, LogSelection, PodEvent, PodFeed, PodRow};
use warroom_core::backends::postgres::ActivitySnapshot;
use warroom_core::backends::postgres::explain::ExplainResult;
use warroom_core::backends::postgres::statements::StatementsReport;

/// One answer of a poller for `context`: data, or a classified error and when the next try
/// comes (`retry_in`, only with an error).
#[derive(Debug, Clone)]
pub struct Update<T> {
    pub context: String,
    pub result: Result<T, BackendError>,
    pub retry_in: Option<Duration>,
}

/// A worker's answer: data, or a classified error (`BackendError::kind`).
#[derive(Debug, Clone)]
pub enum Event {
    /// A snapshot or an error from the PostgreSQL worker.
    PgUpdate(Update<ActivitySnapshot>),
    /// Statement deltas (or why there are none) from the statements worker.
    PgStatements(Update<StatementsReport>),
    /// The plan of a session's query, or why there is none.
    PgPlan {
        context: String,
        result: Result<ExplainResult, BackendError>,
    },
    /// A snapshot or an error from the Kafka worker.
    KafkaUpdate(Update<KafkaSnapshot>),
    /// The preview of an offset reset, or why it could not be made.
    KafkaPlan {
        context: String,
        result: Result<ResetPlan, BackendError>,
    },
    /// A listing, a change or a broken watch from the pod worker of `context`.
    KubePods { context: String, feed: PodFeed },
    /// The events of one pod, warnings first.
    KubeEvents {
        context: String,
        namespace: String,
        pod: String,
        result: Result<Vec<PodEvent>, BackendError>,
    },
    /// Lines (and notes, and a count of undelivered lines) from a log stream.
    KubeLogs(LogBatch),
    /// The pods a `:logs` selection names (lookup `id`), or why they could not be listed.
    KubeLogsLookup {
        id: u64,
        context: String,
        selection: LogSelection,
        result: Result<Vec<PodRow>, BackendError>,
    },
}
