//! What the App asks of the runtime (`Command`) and what a poller reads (`Polled`): shared by
//! the App and the panes, which return commands in their effects, so neither imports the other.

use std::time::Duration;

use warroom_core::backends::kafka::ResetSpec;
use warroom_core::backends::kube::{LogRequest, LogSelection};
use warroom_core::guard::GuardRequest;

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    /// Poll `what` of `context` every `interval` while `active`; stop polling otherwise.
    Poll {
        what: Polled,
        context: String,
        active: bool,
        interval: Duration,
    },
    /// EXPLAIN (never ANALYZE) what session `pid` of `context` runs; answer with `Event::PgPlan`.
    PgExplain {
        context: String,
        pid: i32,
    },
    /// Read what a reset would do (no change on the cluster), answer with `Event::KafkaPlan`.
    KafkaPlanReset {
        context: String,
        group: String,
        spec: ResetSpec,
    },
    /// Keep a pod watch open on `context` while `active` (the Pods pane is shown).
    KubeWatch {
        context: String,
        active: bool,
    },
    /// Read the events of one pod once.
    KubeEvents {
        context: String,
        namespace: String,
        pod: String,
    },
    /// List the pods of a `:logs` selection; answer with `Event::KubeLogsLookup`.
    KubeLogsLookup {
        id: u64,
        context: String,
        selection: LogSelection,
    },
    /// Stop the previous log streams and follow these (one request per container).
    KubeLogs {
        session: u64,
        context: String,
        requests: Vec<LogRequest>,
    },
    /// Run confirmed actions through the guard executor.
    Execute(GuardRequest),
    /// Withdraw a pending delegated request on the server (the requester's Esc).
    WithdrawRequest(String),
    /// Read the pending requests for `:approvals`; answer with `Msg::ApprovalsList`.
    ListApprovals,
    /// Approve or deny a request with the approver's reason (bound to what was shown).
    DecideRequest {
        id: String,
        approve: bool,
        reason: String,
        binding: String,
    },
    /// Write a file (e.g. the saved log buffer) off the UI task; answer with `Msg::Notice`.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
        what: String,
    },
}

impl Command {
    /// The poll commands of `what`, one per context (a constructor for `ContextSet::polls`).
    pub fn poll(what: Polled) -> impl Fn(String, bool, Duration) -> Command {
        move |context, active, interval| Command::Poll {
            what,
            context,
            active,
            interval,
        }
    }
}

/// What a poller reads: the runtime keeps one poller per kind and context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polled {
    /// pg_stat_activity and the locks (the sessions table).
    PgSessions,
    /// pg_stat_statements (only while the statements view is shown).
    PgStatements,
    /// The consumer groups and their lag.
    Kafka,
}
