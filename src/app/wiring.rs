//! Wiring: which panes the App has and which pane each worker message is for. The only
//! place in `app` that names the concrete panes.

use std::time::Duration;

use super::{App, GuardInfo, Msg};
use crate::config::{Keymap, Theme};
use crate::panes::PaneId;
use crate::panes::kafka::KafkaPane;
use crate::panes::logs::LogsPane;
use crate::panes::pg::PgPane;
use crate::panes::pods::PodsPane;

impl App {
    /// The four panes in tab order; Kafka, Pods and Logs without contexts (they show how to
    /// configure them) until `with_kafka` / `with_kube` give them theirs.
    pub fn new(pg: PgPane, keymap: Keymap, theme: Theme, guard: GuardInfo) -> App {
        App::with_panes(
            vec![
                Box::new(pg),
                Box::new(KafkaPane::new(Vec::new(), None, Duration::from_secs(2))),
                Box::new(PodsPane::new(Vec::new(), None)),
                Box::new(LogsPane::new(
                    crate::config::LogsConfig::default().buffer_bytes as usize,
                )),
            ],
            keymap,
            theme,
            guard,
        )
    }

    /// The Kafka pane with its contexts.
    pub fn with_kafka(self, kafka: KafkaPane) -> App {
        self.with_pane(Box::new(kafka))
    }

    /// The Pods and Logs panes with their Kubernetes contexts.
    pub fn with_kube(self, pods: PodsPane, logs: LogsPane) -> App {
        self.with_pane(Box::new(pods)).with_pane(Box::new(logs))
    }
}

/// The pane a worker message is for (`None` for messages the App handles itself).
pub(super) fn owner(msg: &Msg) -> Option<PaneId> {
    match msg {
        Msg::PgUpdate { .. } | Msg::PgStatements { .. } | Msg::PgPlan { .. } => {
            Some(PaneId::Postgres)
        }
        Msg::KafkaUpdate { .. } | Msg::KafkaPlan { .. } => Some(PaneId::Kafka),
        Msg::KubePods { .. } | Msg::KubeEvents { .. } => Some(PaneId::Pods),
        Msg::KubeLogs(_) | Msg::KubeLogsLookup { .. } => Some(PaneId::Logs),
        Msg::Key(_)
        | Msg::Resize
        | Msg::Tick
        | Msg::GuardDone(_)
        | Msg::Shutdown
        | Msg::Paste(_)
        | Msg::Notice { .. }
        | Msg::ApprovalsWaiting(_)
        | Msg::ApprovalPending(_)
        | Msg::ApprovalsList(_) => None,
    }
}
