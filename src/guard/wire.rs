//! The wire form of a guarded action: what a client sends to `POST /v1/actions` and what the
//! server answers. The target's fields are the client's claims: the server acts only through
//! its own executor, whose identity checks (pid + backend_start + query_start, pod uid, group
//! emptiness) run against the live target on the server's side.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::kafka::{KafkaAction, KafkaGroupTarget, KafkaResetTarget};
use super::kube::{DeploymentTarget, KubeAction, PodTarget};
use super::{ActionReport, GuardedAction, PgTarget};
use crate::backends::kafka::{PartitionReset, ResetPlan, ResetTo};

/// `POST /v1/actions`: one action, the user's reason, what they typed to confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: WireAction,
    pub reason: String,
    #[serde(default)]
    pub typed_context: Option<String>,
}

/// The action as `{"name": "pg.cancel", "target": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "target")]
pub enum WireAction {
    #[serde(rename = "pg.cancel")]
    PgCancel(WirePg),
    #[serde(rename = "pg.terminate")]
    PgTerminate(WirePg),
    #[serde(rename = "kafka.delete_group")]
    KafkaDeleteGroup(WireGroup),
    #[serde(rename = "kafka.reset_offsets")]
    KafkaResetOffsets(WireReset),
    #[serde(rename = "kafka.undo_reset")]
    KafkaUndoReset(WireReset),
    #[serde(rename = "kube.delete_pod")]
    KubeDeletePod(WirePod),
    #[serde(rename = "kube.rollout_restart")]
    KubeRolloutRestart(WireDeployment),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePg {
    pub context: String,
    pub pid: i32,
    /// RFC 3339 with microseconds (the precision PostgreSQL reports).
    pub backend_start: Option<String>,
    pub query_start: Option<String>,
    pub user: Option<String>,
    pub application: String,
    pub database: Option<String>,
    pub state: Option<String>,
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireGroup {
    pub context: String,
    pub group: String,
    pub state: String,
    pub members: usize,
    pub topics: Vec<String>,
    pub total_lag: i64,
}

/// A reset (or the undo of one) as previewed by the client. The server re-plans a reset with
/// the same `to` and `topic`, and re-reads the committed offsets and log bounds for an undo:
/// what it commits and records is its own reading, not these claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireReset {
    pub context: String,
    pub group: String,
    pub topic: Option<String>,
    pub to: WireResetTo,
    /// For an undo: the audit id of the reset it reverses.
    pub undoes: Option<String>,
    pub partitions: Vec<WirePartition>,
}

/// [`ResetTo`] on the wire: `{"earliest": null}`, `{"datetime": "2026-11-26T10:00:00Z"}`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WireResetTo {
    Earliest,
    Latest,
    /// RFC 3339 with microseconds.
    Datetime(String),
    Offset(i64),
    ShiftBy(i64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePartition {
    pub topic: String,
    pub partition: i32,
    pub current: Option<i64>,
    pub target: i64,
    pub earliest: i64,
    pub latest: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePod {
    pub context: String,
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub grace_period: Option<i64>,
    pub status: String,
    pub node: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireDeployment {
    pub context: String,
    pub namespace: String,
    pub deployment: String,
    pub from_pod: Option<String>,
}

/// The server's answer: the same fields as a local [`ActionReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionReply {
    pub ok: bool,
    pub executed: bool,
    #[serde(default)]
    pub unknown: bool,
    pub detail: String,
    #[serde(default)]
    pub audit_id: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ActionReply {
    /// Nothing was run, for this reason.
    pub fn not_done(detail: String) -> ActionReply {
        ActionReply {
            ok: false,
            executed: false,
            unknown: false,
            detail,
            audit_id: None,
            warnings: Vec::new(),
        }
    }

    pub fn of(report: &ActionReport) -> ActionReply {
        ActionReply {
            ok: report.ok,
            executed: report.executed,
            unknown: report.unknown,
            detail: report.detail.clone(),
            audit_id: report.audit_id.clone(),
            warnings: report.warnings.clone(),
        }
    }

    /// The report the client shows, for the action it asked for.
    pub fn into_report(self, action: GuardedAction) -> ActionReport {
        ActionReport {
            action,
            ok: self.ok,
            executed: self.executed,
            unknown: self.unknown,
            detail: self.detail,
            audit_id: self.audit_id,
            warnings: self.warnings,
        }
    }
}

fn time_out(t: Option<SystemTime>) -> Option<String> {
    t.map(|t| humantime::format_rfc3339_micros(t).to_string())
}

fn time_in(field: &str, t: Option<&str>) -> Result<Option<SystemTime>, String> {
    t.map(|s| {
        humantime::parse_rfc3339(s)
            .map_err(|e| format!("{field}: {s:?} is not an RFC 3339 UTC time: {e}"))
    })
    .transpose()
}

impl WireAction {
    /// The wire form of `action`; `Err` for actions that cannot be delegated.
    pub fn of(action: &GuardedAction) -> Result<WireAction, String> {
        Ok(match action {
            GuardedAction::PgCancel(t) => WireAction::PgCancel(wire_pg(t)),
            GuardedAction::PgTerminate(t) => WireAction::PgTerminate(wire_pg(t)),
            GuardedAction::Kafka(KafkaAction::DeleteGroup(g)) => {
                WireAction::KafkaDeleteGroup(WireGroup {
                    context: g.context.clone(),
                    group: g.group.clone(),
                    state: g.state.clone(),
                    members: g.members,
                    topics: g.topics.clone(),
                    total_lag: g.total_lag,
                })
            }
            GuardedAction::Kafka(KafkaAction::ResetOffsets(t)) => {
                WireAction::KafkaResetOffsets(wire_reset(t))
            }
            GuardedAction::Kafka(KafkaAction::UndoReset(t)) => {
                WireAction::KafkaUndoReset(wire_reset(t))
            }
            GuardedAction::Kube(KubeAction::DeletePod(p)) => WireAction::KubeDeletePod(WirePod {
                context: p.context.clone(),
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
                uid: p.uid.clone(),
                grace_period: p.grace_period,
                status: p.status.clone(),
                node: p.node.clone(),
                owner: p.owner.clone(),
            }),
            GuardedAction::Kube(KubeAction::RolloutRestart(d)) => {
                WireAction::KubeRolloutRestart(WireDeployment {
                    context: d.context.clone(),
                    namespace: d.namespace.clone(),
                    deployment: d.deployment.clone(),
                    from_pod: d.from_pod.clone(),
                })
            }
        })
    }

    /// The guarded action this asks for; `Err` names the field that is not valid.
    pub fn to_action(&self) -> Result<GuardedAction, String> {
        Ok(match self {
            WireAction::PgCancel(t) => GuardedAction::PgCancel(pg_target(t)?),
            WireAction::PgTerminate(t) => GuardedAction::PgTerminate(pg_target(t)?),
            WireAction::KafkaDeleteGroup(g) => {
                GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget {
                    context: g.context.clone(),
                    group: g.group.clone(),
                    state: g.state.clone(),
                    members: g.members,
                    topics: g.topics.clone(),
                    total_lag: g.total_lag,
                }))
            }
            WireAction::KafkaResetOffsets(r) => {
                GuardedAction::Kafka(KafkaAction::ResetOffsets(reset_target(r)?))
            }
            WireAction::KafkaUndoReset(r) => {
                GuardedAction::Kafka(KafkaAction::UndoReset(reset_target(r)?))
            }
            WireAction::KubeDeletePod(p) => GuardedAction::Kube(KubeAction::DeletePod(PodTarget {
                context: p.context.clone(),
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
                uid: p.uid.clone(),
                grace_period: p.grace_period,
                status: p.status.clone(),
                node: p.node.clone(),
                owner: p.owner.clone(),
            })),
            WireAction::KubeRolloutRestart(d) => {
                GuardedAction::Kube(KubeAction::RolloutRestart(DeploymentTarget {
                    context: d.context.clone(),
                    namespace: d.namespace.clone(),
                    deployment: d.deployment.clone(),
                    from_pod: d.from_pod.clone(),
                }))
            }
        })
    }
}

fn wire_reset(t: &KafkaResetTarget) -> WireReset {
    let plan = &t.plan;
    WireReset {
        context: t.context.clone(),
        group: plan.group.clone(),
        topic: plan.topic.clone(),
        to: match plan.to {
            ResetTo::Earliest => WireResetTo::Earliest,
            ResetTo::Latest => WireResetTo::Latest,
            ResetTo::Datetime(at) => {
                WireResetTo::Datetime(humantime::format_rfc3339_micros(at).to_string())
            }
            ResetTo::Offset(n) => WireResetTo::Offset(n),
            ResetTo::ShiftBy(n) => WireResetTo::ShiftBy(n),
        },
        undoes: t.undoes.clone(),
        partitions: plan
            .partitions
            .iter()
            .map(|p| WirePartition {
                topic: p.topic.clone(),
                partition: p.partition,
                current: p.current,
                target: p.target,
                earliest: p.earliest,
                latest: p.latest,
            })
            .collect(),
    }
}

fn reset_target(r: &WireReset) -> Result<KafkaResetTarget, String> {
    let to = match &r.to {
        WireResetTo::Earliest => ResetTo::Earliest,
        WireResetTo::Latest => ResetTo::Latest,
        WireResetTo::Datetime(at) => {
            ResetTo::Datetime(time_in("to.datetime", Some(at))?.ok_or("to.datetime: missing")?)
        }
        WireResetTo::Offset(n) if *n >= 0 => ResetTo::Offset(*n),
        WireResetTo::Offset(n) => return Err(format!("to.offset: {n} is not an offset (>= 0)")),
        WireResetTo::ShiftBy(n) => ResetTo::ShiftBy(*n),
    };
    if r.partitions.is_empty() {
        return Err("partitions: the plan has none".into());
    }
    let partitions = r
        .partitions
        .iter()
        .map(|p| PartitionReset {
            topic: p.topic.clone(),
            partition: p.partition,
            current: p.current,
            target: p.target,
            earliest: p.earliest,
            latest: p.latest,
        })
        .collect();
    let plan = ResetPlan {
        group: r.group.clone(),
        topic: r.topic.clone(),
        to,
        partitions,
    };
    Ok(KafkaResetTarget::new(&r.context, plan, r.undoes.clone()))
}

fn wire_pg(t: &PgTarget) -> WirePg {
    WirePg {
        context: t.context.clone(),
        pid: t.pid,
        backend_start: time_out(t.backend_start),
        query_start: time_out(t.query_start),
        user: t.user.clone(),
        application: t.application.clone(),
        database: t.database.clone(),
        state: t.state.clone(),
        query: t.query.clone(),
    }
}

fn pg_target(t: &WirePg) -> Result<PgTarget, String> {
    Ok(PgTarget {
        context: t.context.clone(),
        pid: t.pid,
        backend_start: time_in("backend_start", t.backend_start.as_deref())?,
        query_start: time_in("query_start", t.query_start.as_deref())?,
        user: t.user.clone(),
        application: t.application.clone(),
        database: t.database.clone(),
        state: t.state.clone(),
        query: t.query.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_pg_action_survives_the_wire_to_the_microsecond() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        let action = GuardedAction::PgTerminate(PgTarget {
            context: "prod".into(),
            pid: 77,
            backend_start: Some(start),
            query_start: None,
            user: Some("app".into()),
            application: "api".into(),
            database: Some("shop".into()),
            state: Some("active".into()),
            query: "select 1".into(),
        });
        let wire = WireAction::of(&action).expect("delegable");
        let text = serde_json::to_string(&wire).expect("json");
        assert!(text.contains(r#""name":"pg.terminate""#), "{text}");
        let back: WireAction = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.to_action().expect("valid"), action);
    }

    #[test]
    fn a_reset_and_its_undo_survive_the_wire() {
        let mut plan = crate::backends::kafka::fixtures::plan(25);
        plan.to = ResetTo::Datetime(
            SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456),
        );
        for action in [
            KafkaAction::ResetOffsets(KafkaResetTarget::new("k1", plan.clone(), None)),
            KafkaAction::UndoReset(KafkaResetTarget::new("k1", plan.undo(), Some("a-1".into()))),
        ] {
            let action = GuardedAction::Kafka(action);
            let text =
                serde_json::to_string(&WireAction::of(&action).expect("delegable")).expect("json");
            let back: WireAction = serde_json::from_str(&text).expect("parse");
            assert_eq!(back.to_action().expect("valid"), action, "{text}");
        }
        let bad = r#"{"name":"kafka.reset_offsets","target":{"context":"k","group":"g","topic":null,"to":{"offset":-1},"undoes":null,"partitions":[{"topic":"t","partition":0,"current":null,"target":0,"earliest":0,"latest":0}]}}"#;
        let wire: WireAction = serde_json::from_str(bad).expect("shape");
        assert!(
            wire.to_action()
                .expect_err("negative")
                .starts_with("to.offset:")
        );
    }

    #[test]
    fn bad_fields_are_refused_with_their_name() {
        let bad = r#"{"name":"pg.cancel","target":{"context":"p","pid":1,"backend_start":"yesterday","query_start":null,"user":null,"application":"","database":null,"state":null,"query":""}}"#;
        let wire: WireAction = serde_json::from_str(bad).expect("shape");
        let e = wire.to_action().expect_err("bad time");
        assert!(e.starts_with("backend_start:"), "{e}");
        let unknown = r#"{"name":"pg.drop_database","target":{}}"#;
        assert!(serde_json::from_str::<WireAction>(unknown).is_err());
    }
}
