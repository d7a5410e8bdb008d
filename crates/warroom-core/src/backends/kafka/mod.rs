//! Kafka: consumer groups and their lag. Reads (`KafkaSource`) and destructive calls
//! (`KafkaAdmin`, held only by the guard executor) on separate traits; the real client on
//! rdkafka; history, status and reset planning as pure functions.

mod assignment;
mod client;
mod ffi;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub mod history;
mod model;
pub mod plan;

pub use assignment::{decode_assignment, encode_assignment};
pub use client::{KafkaSpec, RealKafka};
pub use history::{History, LagStatus, Moved, TimeLag};
pub use model::{
    ConsumerGroup, GroupMember, GroupState, KafkaSnapshot, NO_OFFSET, PartitionOffsets, RefreshCost,
};
pub use plan::{PartitionReset, PlanInputs, ResetPlan, ResetSpec, ResetTo};

use super::{BackendError, BoxFuture, ErrorKind};

/// Errors from a Kafka backend, in words a user can act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum KafkaError {
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The cluster did not serve us: `kind` says whether it refused our credentials or
    /// ACLs, or could not be reached.
    #[error("cannot reach the cluster {target}: {detail}")]
    Unreachable {
        target: String,
        detail: String,
        kind: ErrorKind,
    },
    #[error("{0}")]
    Request(String),
    /// The broker refused the operation; its error name and words.
    #[error("the broker refused: {0}")]
    Refused(String),
}

impl KafkaError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KafkaError::Unreachable { kind, .. } => *kind,
            KafkaError::Config(_) | KafkaError::Request(_) | KafkaError::Refused(_) => {
                ErrorKind::Other
            }
        }
    }
}

impl From<KafkaError> for BackendError {
    fn from(e: KafkaError) -> BackendError {
        BackendError::new(e.kind(), e.to_string())
    }
}

/// Reads consumer groups and plans resets. No call changes anything on the cluster.
pub trait KafkaSource: Send + Sync {
    /// Every consumer group with members, committed offsets and log end offsets.
    fn snapshot(&self) -> BoxFuture<'_, Result<KafkaSnapshot, KafkaError>>;
    /// The preview of a reset: per partition, current -> target.
    fn plan_reset(
        &self,
        group: &str,
        spec: &ResetSpec,
    ) -> BoxFuture<'_, Result<ResetPlan, KafkaError>>;
    /// Where this source points, without secrets.
    fn describe_target(&self) -> String;
}

/// Destructive calls. Only the guard executor holds one of these.
pub trait KafkaAdmin: Send + Sync {
    /// The group's state and member count right now (re-checked before acting).
    fn group_state(&self, group: &str) -> BoxFuture<'_, Result<GroupState, KafkaError>>;
    fn delete_group(&self, group: &str) -> BoxFuture<'_, Result<(), KafkaError>>;
    /// Commit these offsets for the group (it must have no members).
    fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<(String, i32, i64)>,
    ) -> BoxFuture<'_, Result<(), KafkaError>>;
}
