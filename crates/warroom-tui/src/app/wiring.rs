//! Wiring: which panes the App has and which pane each worker event is for. The only
//! place in `app` that names the concrete panes.

use std::time::Duration;

use super::{App, GuardInfo, Msg};
use crate::keymap::Keymap;
use crate::panes::PaneId;
use crate::panes::kafka::KafkaPane;
use crate::panes::logs::LogsPane;
use crate::panes::pg::PgPane;
use crate::panes::pods::PodsPane;
use crate::theme::Theme;
use crate::workers::Event;

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
                    warroom_core::config::LogsConfig::default().buffer_bytes as usize,
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

/// The pane a worker's event is for: the one place that turns events into App messages.
pub(super) fn owner(event: &Event) -> PaneId {
    match event {
        Event::PgUpdate { .. } | Event::PgStatements { .. } | Event::PgPlan { .. } => {
            PaneId::Postgres
        }
        Event::KafkaUpdate { .. } | Event::KafkaPlan { .. } => PaneId::Kafka,
        Event::KubePods { .. } | Event::KubeEvents { .. } => PaneId::Pods,
        Event::KubeLogs(_) | Event::KubeLogsLookup { .. } => PaneId::Logs,
    }
}

impl From<Event> for Msg {
    fn from(event: Event) -> Msg {
        Msg::Worker(event)
    }
}
