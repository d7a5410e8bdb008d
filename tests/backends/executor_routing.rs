//! The guard executor routes each action to a backend of its own kind and name.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use warroom_core::audit::{AuditLog, AuditSettings};
use warroom_core::guard::kafka::{KafkaAction, KafkaGroupTarget};
use warroom_core::guard::{
    ContextId, ContextKind, Executor, GuardRequest, GuardedAction, Outcome, Policy, ReasonRules,
};
use warroom_demo::kafka::DemoKafka;
use warroom_demo::{DemoClock, DemoPg};

/// Backends are keyed by kind and name: a Kafka action for a name that only a
/// PostgreSQL context has finds no backend, and nothing is recorded.
#[tokio::test]
async fn an_action_reaches_only_a_backend_of_its_own_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("audit.jsonl");
    let audit = AuditLog::new(AuditSettings::local(&file), "s1");
    let clock = DemoClock::wall(10.0);
    let policy = Policy {
        global_read_only: false,
        contexts: HashMap::from([("shared".to_string(), Default::default())]),
    };
    let executor = Executor::new(
        audit,
        policy,
        ReasonRules::default(),
        Duration::from_secs(1),
    )
    .with_pg("shared", Arc::new(DemoPg::new(1, clock.clone())))
    .with_kafka(
        "other",
        Arc::new(DemoKafka::new(1, clock, Default::default())),
    );
    let delete = GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget::empty(
        "shared", "billing",
    )));
    assert_eq!(
        delete.context_id(),
        ContextId::new(ContextKind::Kafka, "shared")
    );
    let reports = executor
        .run(GuardRequest {
            actions: vec![delete],
            reason: "clean up the billing group".into(),
            typed_context: None,
        })
        .await;
    assert_eq!(reports[0].outcome, Outcome::Refused, "{reports:?}");
    assert_eq!(
        reports[0].detail,
        "no connection for context shared (nothing was done)"
    );
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        !written.contains("billing"),
        "nothing audited for an action that cannot run: {written}"
    );
}
