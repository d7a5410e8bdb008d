//! PostgreSQL: the activity snapshot model, the blocking tree, and the real client.

mod blocking;
mod client;
mod model;
mod tls;

pub use blocking::{BlockingNode, blocking_tree};
pub use client::{ConnectSpec, RealPg, SessionLimits, SslMode};
pub use model::{
    ActivitySnapshot, PgSession, SessionState, SignalKind, SignalOutcome, SignalRequest,
    hidden_session_refusal, is_idle_state,
};

use super::BoxFuture;

/// Errors from a PostgreSQL backend, in words a user can act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PgError {
    #[error("cannot connect to {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("query failed: {0}")]
    Query(String),
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Refused before anything was sent to the server; the text says why.
    #[error("{0}")]
    Refused(String),
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
