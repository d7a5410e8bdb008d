//! Plain owned data about pods, events and log lines: what workers send and panes draw.

use std::time::SystemTime;

/// How bad a pod's state is, for colour and sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    Ok,
    /// Completed or succeeded: nothing to do.
    Done,
    Warn,
    Bad,
}

/// The workload a pod belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

impl Owner {
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// How the last container run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub container: String,
    pub reason: String,
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished_at: Option<SystemTime>,
}

impl Termination {
    /// "OOMKilled (exit 137)".
    pub fn label(&self) -> String {
        format!("{} (exit {})", self.reason, self.exit_code)
    }
}

/// One pod, as the Pods pane shows it. Strings are raw: panes sanitize.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub ready: u32,
    pub total: u32,
    /// Phase or the reason that matters more (CrashLoopBackOff, OOMKilled, Evicted, ...).
    pub status: String,
    /// Why, when the status alone does not say (Pending: Unschedulable: 0/3 nodes ...).
    pub status_detail: Option<String>,
    pub health: Health,
    pub restarts: u32,
    pub last_restart: Option<SystemTime>,
    pub last_termination: Option<Termination>,
    pub created: Option<SystemTime>,
    pub node: Option<String>,
    pub pod_ip: Option<String>,
    pub owner: Option<Owner>,
    /// The Deployment behind the ReplicaSet owner, when there is one.
    pub deployment: Option<String>,
    pub containers: Vec<String>,
    pub grace_period: Option<i64>,
    pub deleting: bool,
    /// metadata.labels (services match pods by label selector).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What names a pod within a context: its namespace and name (shown as "namespace/name").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl PodRow {
    /// A Running pod, one container of one ready, with nothing else known yet (no owner,
    /// containers, labels, node or history): the simulated cluster and tests start from it.
    pub fn running(namespace: &str, name: &str) -> PodRow {
        PodRow {
            namespace: namespace.into(),
            name: name.into(),
            uid: String::new(),
            resource_version: String::new(),
            ready: 1,
            total: 1,
            status: "Running".into(),
            status_detail: None,
            health: Health::Ok,
            restarts: 0,
            last_restart: None,
            last_termination: None,
            created: None,
            node: None,
            pod_ip: None,
            owner: None,
            deployment: None,
            containers: Vec::new(),
            grace_period: None,
            deleting: false,
            labels: Default::default(),
        }
    }

    /// Namespace and name: unique within a context.
    pub fn key(&self) -> PodKey {
        PodKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// "ready/total".
    /// The workload people think in: the Deployment behind a ReplicaSet, else the direct
    /// owner (StatefulSet/x, Job/x, ...).
    pub fn workload_label(&self) -> Option<String> {
        match (&self.deployment, &self.owner) {
            (Some(d), _) => Some(format!("Deployment/{d}")),
            (None, Some(o)) => Some(o.label()),
            (None, None) => None,
        }
    }

    pub fn ready_text(&self) -> String {
        format!("{}/{}", self.ready, self.total)
    }
}

/// A core/v1 event about a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub last_seen: Option<SystemTime>,
}

/// Warnings first, then the most recent first.
pub fn sort_events(events: &mut [PodEvent]) {
    events.sort_by(|a, b| {
        b.warning
            .cmp(&a.warning)
            .then_with(|| b.last_seen.cmp(&a.last_seen))
    });
}

/// A full listing with the version to watch from.
#[derive(Debug, Clone, PartialEq)]
pub struct PodList {
    pub pods: Vec<PodRow>,
    pub resource_version: String,
}

/// One change from a pod watch.
#[derive(Debug, Clone, PartialEq)]
pub enum PodChange {
    Upsert(Box<PodRow>),
    Delete(Box<PodRow>),
    /// Nothing changed, but the watch may resume from here.
    Bookmark(String),
}

/// What to stream logs of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogRequest {
    pub pod: PodKey,
    pub container: Option<String>,
    pub previous: bool,
    pub follow: bool,
    /// The API takes one of sinceSeconds (whole seconds) and sinceTime (RFC 3339, second
    /// precision), never both.
    pub since: Option<Since>,
    pub tail_lines: Option<i64>,
}

/// What a pod watch worker tells the App.
#[derive(Debug, Clone, PartialEq)]
pub enum PodFeed {
    /// A full listing of `scope` (the first one, or after 410 Gone): it replaces every pod
    /// of that scope at once, so nothing flickers.
    Listed {
        scope: super::PodScope,
        pods: Vec<PodRow>,
    },
    Changed(PodChange),
    /// The watch broke; the worker retries from the last resourceVersion.
    Broken {
        error: crate::backends::BackendError,
        retry_in: std::time::Duration,
    },
}

/// Where a log line came from: a pod's container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogSource {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl LogSource {
    pub fn label(&self) -> String {
        format!("{}/{}", self.pod, self.container)
    }
}

/// Something that happened to a log stream, shown inline.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamNote {
    /// Reconnected after a cut, from this time (lines already shown are skipped).
    Resumed {
        from: Option<SystemTime>,
    },
    /// The server ended the stream (not following, or the container is gone).
    Ended,
    Failed(String),
}

/// Lines from one stream, plus how many could not be delivered since the last batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LogBatch {
    /// The Logs pane's session: batches of an older session are ignored.
    pub session: u64,
    pub source: LogSource,
    pub lines: Vec<super::RawLogLine>,
    /// Lines read from the server that the App's channel could not take (it was full).
    pub undelivered: u64,
    pub note: Option<StreamNote>,
}

/// Where a log tail starts, besides its last N lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Since {
    /// The last d (the API's sinceSeconds, whole seconds).
    Ago(std::time::Duration),
    /// From this time on (the API's sinceTime).
    Time(SystemTime),
}

/// Which pods `:logs` follows: one pod by name, or every pod matching a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogPods {
    Pod(String),
    Selector(String),
}

/// How much of the log before now a `:logs` session shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tail {
    /// The pane's default tail (none when --since is given).
    #[default]
    Default,
    /// The whole log (--tail -1).
    All,
    /// The last n lines.
    Last(i64),
}

/// What `:logs` asks to follow, before it is resolved against the pods of a context: one
/// pod (all its containers or one), or every pod matching a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogSelection {
    pub pods: LogPods,
    pub namespace: Option<String>,
    pub container: Option<String>,
    pub previous: bool,
    pub since: Option<Since>,
    pub tail: Tail,
}

impl LogSelection {
    /// Every pod matching `selector`, all containers, default tail.
    pub fn selector(selector: String) -> LogSelection {
        LogSelection {
            pods: LogPods::Selector(selector),
            namespace: None,
            container: None,
            previous: false,
            since: None,
            tail: Tail::Default,
        }
    }

    /// The pod's name, when one pod is selected.
    pub fn pod(&self) -> Option<&str> {
        match &self.pods {
            LogPods::Pod(p) => Some(p),
            LogPods::Selector(_) => None,
        }
    }

    /// The label selector, when pods are selected by label.
    pub fn label_selector(&self) -> Option<&str> {
        match &self.pods {
            LogPods::Selector(s) => Some(s),
            LogPods::Pod(_) => None,
        }
    }
}

impl LogSelection {
    /// The listings that find the selected pods, within a context's scopes: its namespaces
    /// (or the one asked for), its label selector and-ed with the one asked for.
    pub fn scopes(&self, context: &[super::PodScope]) -> Vec<super::PodScope> {
        let and = |base: Option<&String>| match (base, self.label_selector()) {
            (Some(a), Some(b)) => Some(format!("{a},{b}")),
            (a, b) => a.map(String::as_str).or(b).map(str::to_string),
        };
        let base = context.first().and_then(|s| s.label_selector.as_ref());
        match &self.namespace {
            Some(ns) => vec![super::PodScope {
                namespace: Some(ns.clone()),
                label_selector: and(base),
            }],
            None if context.is_empty() => vec![super::PodScope {
                namespace: None,
                label_selector: and(None),
            }],
            None => context
                .iter()
                .map(|s| super::PodScope {
                    namespace: s.namespace.clone(),
                    label_selector: and(s.label_selector.as_ref()),
                })
                .collect(),
        }
    }
}
