//! Kubernetes: pod status logic, log line handling, the backend traits and the kube-rs client.
//!
//! Reads, watches and log streams are on `KubeSource`; the two destructive calls are on
//! `KubeActor`, which only the guard executor holds.

mod client;
pub mod logline;
mod model;
pub mod selection;
pub mod status;

pub use client::RealKube;
pub use logline::{LineSplitter, RawLogLine, ResumePoint};
pub use model::{
    Health, LogBatch, LogPods, LogRequest, LogSelection, LogSource, Owner, PodChange, PodEvent,
    PodFeed, PodKey, PodList, PodRow, Since, StreamNote, Tail, Termination, sort_events,
};

use futures::stream::BoxStream;

use super::{BackendError, BoxFuture, ErrorKind};

/// Errors from the API server, sorted by what the caller does about them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KubeError {
    /// 410 Gone: the resourceVersion is too old; list again.
    #[error("resource version too old (410 Gone): {0}")]
    Gone(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: a precondition (the pod's uid) did not hold.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("API error {code}: {message}")]
    Api { code: u16, message: String },
    /// The API server was not reached, did not answer in time, or our credentials could
    /// not be used (an exec plugin or token file failed): `kind` says which.
    #[error("{detail}")]
    Transport { detail: String, kind: ErrorKind },
    /// Connection, TLS, kubeconfig or decoding problems.
    #[error("{0}")]
    Other(String),
}

impl KubeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KubeError::Api { code, .. } => status_kind(*code),
            KubeError::Transport { kind, .. } => *kind,
            KubeError::Gone(_)
            | KubeError::NotFound(_)
            | KubeError::Conflict(_)
            | KubeError::Other(_) => ErrorKind::Other,
        }
    }
}

/// The kind of an HTTP status from the API server.
pub fn status_kind(code: u16) -> ErrorKind {
    match code {
        401 => ErrorKind::AuthFailed,
        403 => ErrorKind::PermissionDenied,
        408 | 504 => ErrorKind::Timeout,
        502 | 503 => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    }
}

impl From<KubeError> for BackendError {
    fn from(e: KubeError) -> BackendError {
        BackendError::new(e.kind(), e.to_string())
    }
}

/// A pod watch: changes until the server closes it (then resume from the last version).
pub type PodWatch = BoxStream<'static, Result<PodChange, KubeError>>;
/// Raw log bytes as they arrive.
pub type LogStream = BoxStream<'static, Result<Vec<u8>, KubeError>>;

/// Where to look: a namespace (None = all) and a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PodScope {
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
}

/// Reads: pod lists and watches, events, logs.
pub trait KubeSource: Send + Sync {
    fn list_pods(&self, scope: &PodScope) -> BoxFuture<'_, Result<PodList, KubeError>>;
    /// Changes after `resource_version`, with bookmarks.
    fn watch_pods(
        &self,
        scope: &PodScope,
        resource_version: &str,
    ) -> BoxFuture<'_, Result<PodWatch, KubeError>>;
    fn pod_events(
        &self,
        namespace: &str,
        pod: &str,
    ) -> BoxFuture<'_, Result<Vec<PodEvent>, KubeError>>;
    /// Log bytes with `timestamps=true` prefixes.
    fn logs(&self, request: &LogRequest) -> BoxFuture<'_, Result<LogStream, KubeError>>;
    /// Where this source points, without secrets.
    fn describe_target(&self) -> String;
}

/// What a rollout restart writes on the Deployment's pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartRequest {
    pub namespace: String,
    pub deployment: String,
    /// RFC 3339, like kubectl's restartedAt.
    pub restarted_at: String,
    pub reason: String,
    pub audit_id: String,
    /// The pod the user was looking at: the restart goes ahead only if that pod's ReplicaSet is
    /// owned (by uid) by this Deployment.
    pub from_pod: Option<String>,
}

/// The annotations a rollout restart sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
pub const RESTART_REASON: &str = "warroom.dev/restart-reason";
pub const RESTART_AUDIT_ID: &str = "warroom.dev/audit-id";

impl RestartRequest {
    /// The strategic-merge patch body (also a valid JSON merge patch).
    pub fn patch(&self) -> serde_json::Value {
        serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
            RESTARTED_AT: self.restarted_at,
            RESTART_REASON: self.reason,
            RESTART_AUDIT_ID: self.audit_id,
        }}}}})
    }

    /// The patch with `metadata.uid`: the API server applies it only to the Deployment with that
    /// uid (a precondition; a Deployment deleted and recreated under the name gets 409 Conflict).
    pub fn patch_with_uid(&self, uid: &str) -> serde_json::Value {
        let mut patch = self.patch();
        patch["metadata"] = serde_json::json!({ "uid": uid });
        patch
    }
}

/// Destructive calls. Only the guard executor holds one of these.
pub trait KubeActor: Send + Sync {
    /// Delete a pod, only if it is still the pod with `uid` (a precondition).
    fn delete_pod(
        &self,
        pod: &PodKey,
        uid: Option<&str>,
        grace_period: Option<i64>,
    ) -> BoxFuture<'_, Result<String, KubeError>>;
    fn rollout_restart(&self, request: RestartRequest) -> BoxFuture<'_, Result<String, KubeError>>;
}
