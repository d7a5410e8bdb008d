//! PostgreSQL: the activity snapshot model, the blocking tree, and the real client.

mod activity;
mod blocking;
mod client;
pub mod explain;
pub mod header;
pub mod locks;
mod model;
pub mod statements;
mod tls;
pub mod waits;

pub use activity::{ACTIVITY_MARK, activity_sql};
pub use blocking::{BlockingNode, blocking_tree};
pub use client::{ConnectSpec, PrepareMode, RealPg, SessionLimits, SslMode};
pub use model::{
    ActivitySnapshot, PgSession, SessionIdentity, SessionState, SignalKind, SignalOutcome,
    SignalRequest, hidden_session_refusal, is_idle_state,
};

use super::{BackendError, BoxFuture, ErrorKind};

/// Errors from a PostgreSQL backend, in words a user can act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PgError {
    /// No session: `kind` says whether the server refused our credentials, could not be
    /// reached, or did not answer in time.
    #[error("cannot connect to {target}: {detail}")]
    Connect {
        target: String,
        detail: String,
        kind: ErrorKind,
    },
    #[error("query failed: {0}")]
    Query(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Refused before anything was sent to the server; the text says why.
    #[error("{0}")]
    Refused(String),
}

impl PgError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PgError::Connect { kind, .. } => *kind,
            PgError::Timeout(_) => ErrorKind::Timeout,
            PgError::Query(_) | PgError::Refused(_) => ErrorKind::Other,
        }
    }
}

impl From<PgError> for BackendError {
    fn from(e: PgError) -> BackendError {
        BackendError::new(e.kind(), e.to_string())
    }
}

/// Reads activity. One call = one SQL statement on the watched server.
pub trait PgSource: Send + Sync {
    fn activity(&self) -> BoxFuture<'_, Result<ActivitySnapshot, PgError>>;
    /// Human description of where this source points, without secrets.
    fn describe_target(&self) -> String;
}

/// Signals sessions. Only the guard executor holds one of these.
pub trait PgSignaller: Send + Sync {
    fn signal(&self, request: SignalRequest) -> BoxFuture<'_, Result<SignalOutcome, PgError>>;

    /// The role warroom connects as, to name in "grant ... to ROLE" advice.
    fn role(&self) -> Option<String> {
        None
    }
}

/// The statements feature's own reads: the statements view (only while it is visible) and
/// the plan of a running query (on demand). Neither is destructive.
pub trait PgStatements: Send + Sync {
    /// One pg_stat_statements sample against the tracker's baseline.
    fn statements<'a>(
        &'a self,
        tracker: &'a statements::StatementsTracker,
    ) -> BoxFuture<'a, Result<statements::StatementsRead, PgError>>;
    /// EXPLAIN (never ANALYZE) of what `pid` runs now, or why not.
    fn explain(&self, pid: i32) -> BoxFuture<'_, Result<explain::ExplainResult, PgError>>;
}

impl PgStatements for RealPg {
    fn statements<'a>(
        &'a self,
        tracker: &'a statements::StatementsTracker,
    ) -> BoxFuture<'a, Result<statements::StatementsRead, PgError>> {
        Box::pin(RealPg::statements(self, tracker))
    }

    fn explain(&self, pid: i32) -> BoxFuture<'_, Result<explain::ExplainResult, PgError>> {
        Box::pin(RealPg::explain(self, pid))
    }
}
