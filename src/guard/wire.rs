//! The wire form of a guarded action: what a client sends to `POST /v1/actions` and what the
//! server answers. The target's fields are the client's claims: the server acts only through
//! its own executor, whose identity checks (pid + backend_start + query_start, pod uid, group
//! emptiness) run against the live target on the server's side.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::kafka::{KafkaAction, KafkaGroupTarget};
use super::kube::{DeploymentTarget, KubeAction, PodTarget};
use super::{ActionReport, GuardedAction, PgTarget};

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
            other => {
                return Err(format!(
                    "{} cannot be sent to the server yet (not delegated: run it on a context \
                     without via = \"server\")",
                    other.name()
                ));
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
    fn bad_fields_are_refused_with_their_name() {
        let bad = r#"{"name":"pg.cancel","target":{"context":"p","pid":1,"backend_start":"yesterday","query_start":null,"user":null,"application":"","database":null,"state":null,"query":""}}"#;
        let wire: WireAction = serde_json::from_str(bad).expect("shape");
        let e = wire.to_action().expect_err("bad time");
        assert!(e.starts_with("backend_start:"), "{e}");
        let unknown = r#"{"name":"pg.drop_database","target":{}}"#;
        assert!(serde_json::from_str::<WireAction>(unknown).is_err());
    }
}
