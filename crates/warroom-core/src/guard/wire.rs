//! The wire form of a guarded action: what a client sends to `POST /v1/actions` and what the
//! server answers. The target's fields are the client's claims: the server acts only through
//! its own executor, whose identity checks (pid + backend_start + query_start, pod uid, group
//! emptiness) run against the live target on the server's side.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::kafka::{KafkaAction, KafkaGroupTarget, KafkaResetTarget};
use super::kube::{DeploymentTarget, KubeAction, PodTarget};
use super::{ActionReport, GuardedAction, Outcome, PgAction, PgTarget};
use crate::backends::kafka::{PartitionReset, ResetPlan, ResetTo};

/// `POST /v1/actions`: one action, the user's reason, what they typed to confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: GuardedAction,
    pub reason: String,
    #[serde(default)]
    pub typed_context: Option<String>,
}

/// Parses a JSON body; a field that is not valid is named by its path
/// (`action.target.backend_start: "yesterday" is not an RFC 3339 UTC time ...`).
pub fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// The JSON form of a [`GuardedAction`]: `{"name": "pg.cancel", "target": {...}}`, the target
/// being the domain target itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "target")]
pub(super) enum WireAction {
    #[serde(rename = "pg.cancel")]
    PgCancel(PgTarget),
    #[serde(rename = "pg.terminate")]
    PgTerminate(PgTarget),
    #[serde(rename = "kafka.delete_group")]
    KafkaDeleteGroup(KafkaGroupTarget),
    #[serde(rename = "kafka.reset_offsets")]
    KafkaResetOffsets(KafkaResetTarget),
    #[serde(rename = "kafka.undo_reset")]
    KafkaUndoReset(KafkaResetTarget),
    #[serde(rename = "kube.delete_pod")]
    KubeDeletePod(PodTarget),
    #[serde(rename = "kube.rollout_restart")]
    KubeRolloutRestart(DeploymentTarget),
}

impl From<GuardedAction> for WireAction {
    fn from(action: GuardedAction) -> WireAction {
        match action {
            GuardedAction::Pg(PgAction::Cancel(t)) => WireAction::PgCancel(t),
            GuardedAction::Pg(PgAction::Terminate(t)) => WireAction::PgTerminate(t),
            GuardedAction::Kafka(KafkaAction::DeleteGroup(t)) => WireAction::KafkaDeleteGroup(t),
            GuardedAction::Kafka(KafkaAction::ResetOffsets(t)) => WireAction::KafkaResetOffsets(t),
            GuardedAction::Kafka(KafkaAction::UndoReset(t)) => WireAction::KafkaUndoReset(t),
            GuardedAction::Kube(KubeAction::DeletePod(t)) => WireAction::KubeDeletePod(t),
            GuardedAction::Kube(KubeAction::RolloutRestart(t)) => WireAction::KubeRolloutRestart(t),
        }
    }
}

impl From<WireAction> for GuardedAction {
    fn from(wire: WireAction) -> GuardedAction {
        match wire {
            WireAction::PgCancel(t) => GuardedAction::pg_cancel(t),
            WireAction::PgTerminate(t) => GuardedAction::pg_terminate(t),
            WireAction::KafkaDeleteGroup(t) => GuardedAction::Kafka(KafkaAction::DeleteGroup(t)),
            WireAction::KafkaResetOffsets(t) => GuardedAction::Kafka(KafkaAction::ResetOffsets(t)),
            WireAction::KafkaUndoReset(t) => GuardedAction::Kafka(KafkaAction::UndoReset(t)),
            WireAction::KubeDeletePod(t) => GuardedAction::Kube(KubeAction::DeletePod(t)),
            WireAction::KubeRolloutRestart(t) => GuardedAction::Kube(KubeAction::RolloutRestart(t)),
        }
    }
}

/// A reset (or the undo of one) as previewed by the client: the JSON of a
/// [`KafkaResetTarget`], its plan's fields beside the context. The server re-plans a reset with
/// the same `to` and `topic`, and re-reads the committed offsets and log bounds for an undo:
/// what it commits and records is its own reading, not these claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireReset {
    context: String,
    group: String,
    topic: Option<String>,
    to: WireResetTo,
    /// For an undo: the audit id of the reset it reverses.
    undoes: Option<String>,
    partitions: Vec<PartitionReset>,
}

/// [`ResetTo`] on the wire: `"earliest"`, `{"datetime": "2026-11-26T10:00:00.000000Z"}`, ...
/// (the audit records keep `ResetTo`'s own form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum WireResetTo {
    Earliest,
    Latest,
    Datetime(#[serde(with = "crate::serde_time::micros")] SystemTime),
    Offset(i64),
    ShiftBy(i64),
}

impl From<KafkaResetTarget> for WireReset {
    fn from(t: KafkaResetTarget) -> WireReset {
        let plan = t.plan;
        WireReset {
            context: t.context,
            group: plan.group,
            topic: plan.topic,
            to: match plan.to {
                ResetTo::Earliest => WireResetTo::Earliest,
                ResetTo::Latest => WireResetTo::Latest,
                ResetTo::Datetime(at) => WireResetTo::Datetime(at),
                ResetTo::Offset(n) => WireResetTo::Offset(n),
                ResetTo::ShiftBy(n) => WireResetTo::ShiftBy(n),
            },
            undoes: t.undoes,
            partitions: plan.partitions,
        }
    }
}

impl TryFrom<WireReset> for KafkaResetTarget {
    type Error = String;

    /// `Err` names the field that is not valid.
    fn try_from(r: WireReset) -> Result<KafkaResetTarget, String> {
        let to = match r.to {
            WireResetTo::Earliest => ResetTo::Earliest,
            WireResetTo::Latest => ResetTo::Latest,
            WireResetTo::Datetime(at) => ResetTo::Datetime(at),
            WireResetTo::Offset(n) if n >= 0 => ResetTo::Offset(n),
            WireResetTo::Offset(n) => {
                return Err(format!("to.offset: {n} is not an offset (>= 0)"));
            }
            WireResetTo::ShiftBy(n) => ResetTo::ShiftBy(n),
        };
        if r.partitions.is_empty() {
            return Err("partitions: the plan has none".into());
        }
        let plan = ResetPlan {
            group: r.group,
            topic: r.topic,
            to,
            partitions: r.partitions,
        };
        Ok(KafkaResetTarget::new(&r.context, plan, r.undoes))
    }
}

/// The server's answer: a local [`ActionReport`] without its action, its [`Outcome`] as the
/// three flags clients read (`ok`, `executed`, `unknown`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
            detail,
            ..ActionReply::default()
        }
    }

    pub fn of(report: &ActionReport) -> ActionReply {
        let outcome = report.outcome;
        ActionReply {
            ok: outcome.ok(),
            executed: outcome.executed(),
            unknown: outcome.unknown(),
            detail: report.detail.clone(),
            audit_id: report.audit_id.clone(),
            warnings: report.warnings.clone(),
        }
    }

    pub fn outcome(&self) -> Outcome {
        Outcome::from_flags(self.ok, self.executed, self.unknown)
    }

    /// The report the client shows, for the action it asked for.
    pub fn into_report(self, action: GuardedAction) -> ActionReport {
        ActionReport {
            action,
            outcome: self.outcome(),
            detail: self.detail,
            audit_id: self.audit_id,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn round_trip(action: &GuardedAction) -> (String, GuardedAction) {
        let text = serde_json::to_string(action).expect("json");
        let back = from_json(text.as_bytes()).expect("parse");
        (text, back)
    }

    #[test]
    fn a_pg_action_survives_the_wire_to_the_microsecond() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        let action = GuardedAction::pg_terminate(PgTarget {
            backend_start: Some(start),
            query_start: Some(start + Duration::from_micros(1)),
            ..PgTarget::fixture()
        });
        let (text, back) = round_trip(&action);
        assert!(text.contains(r#""name":"pg.terminate""#), "{text}");
        assert!(
            text.contains(r#""query_start":"2025-11-24T16:00:00.123457Z""#),
            "{text}"
        );
        assert_eq!(back, action);
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
            let (text, back) = round_trip(&action);
            assert!(
                text.contains(r#""to":{"datetime":"2025-11-24T16:00:00.123456Z"}"#),
                "{text}"
            );
            assert_eq!(back, action, "{text}");
        }
        let bad = r#"{"name":"kafka.reset_offsets","target":{"context":"k","group":"g","topic":null,"to":{"offset":-1},"undoes":null,"partitions":[{"topic":"t","partition":0,"current":null,"target":0,"earliest":0,"latest":0}]}}"#;
        let e = from_json::<GuardedAction>(bad.as_bytes()).expect_err("negative");
        assert!(e.starts_with("target: to.offset:"), "{e}");
        let none = r#"{"name":"kafka.undo_reset","target":{"context":"k","group":"g","topic":null,"to":"earliest","undoes":null,"partitions":[]}}"#;
        let e = from_json::<GuardedAction>(none.as_bytes()).expect_err("empty plan");
        assert!(e.starts_with("target: partitions:"), "{e}");
    }

    /// Each outcome keeps the three flags clients and stored replies have always had, and
    /// comes back the same from them.
    #[test]
    fn an_outcome_is_three_flags_on_the_wire() {
        let cases = [
            (
                Outcome::Done,
                r#""ok":true,"executed":true,"unknown":false"#,
            ),
            (
                Outcome::Refused,
                r#""ok":false,"executed":false,"unknown":false"#,
            ),
            (
                Outcome::Failed,
                r#""ok":false,"executed":true,"unknown":false"#,
            ),
            (
                Outcome::Unknown,
                r#""ok":false,"executed":true,"unknown":true"#,
            ),
        ];
        for (outcome, flags) in cases {
            let report = ActionReport {
                outcome,
                ..ActionReport::not_done(&GuardedAction::pg_cancel(PgTarget::fixture()), "d".into())
            };
            let text = serde_json::to_string(&ActionReply::of(&report)).expect("json");
            assert_eq!(
                text,
                format!(r#"{{{flags},"detail":"d","audit_id":null,"warnings":[]}}"#),
                "{outcome:?}"
            );
            let back: ActionReply = from_json(text.as_bytes()).expect("parse");
            assert_eq!(back.into_report(report.action.clone()), report);
        }
    }

    #[test]
    fn bad_fields_are_refused_with_their_name() {
        let bad = r#"{"action":{"name":"pg.cancel","target":{"context":"p","pid":1,"backend_start":"yesterday","query_start":null,"user":null,"application":"","database":null,"state":null,"query":""}},"reason":"r"}"#;
        let e = from_json::<ActionRequest>(bad.as_bytes()).expect_err("bad time");
        assert!(e.starts_with("action.target.backend_start:"), "{e}");
        let unknown = r#"{"name":"pg.drop_database","target":{}}"#;
        assert!(from_json::<GuardedAction>(unknown.as_bytes()).is_err());
        let extra = r#"{"name":"kube.rollout_restart","target":{"context":"k","namespace":"n","deployment":"d","from_pod":null,"replicas":0}}"#;
        let e = from_json::<GuardedAction>(extra.as_bytes()).expect_err("unknown field");
        assert!(e.starts_with("target.replicas: unknown field"), "{e}");
    }

    /// The wire's `name` of every action is its name in the registry, and every name in the
    /// registry has a wire form.
    #[test]
    fn every_registered_action_is_sent_under_its_name() {
        let plan = crate::backends::kafka::fixtures::plan(2);
        let pod = PodTarget {
            context: "k".into(),
            namespace: "shop".into(),
            pod: "api-1".into(),
            uid: "u1".into(),
            grace_period: None,
            status: "Running".into(),
            node: None,
            owner: None,
        };
        let actions = [
            GuardedAction::pg_cancel(PgTarget::fixture()),
            GuardedAction::pg_terminate(PgTarget::fixture()),
            GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget::empty("k", "g"))),
            GuardedAction::Kafka(KafkaAction::ResetOffsets(KafkaResetTarget::new(
                "k",
                plan.clone(),
                None,
            ))),
            GuardedAction::Kafka(KafkaAction::UndoReset(KafkaResetTarget::new(
                "k",
                plan.undo(),
                Some("a-1".into()),
            ))),
            GuardedAction::Kube(KubeAction::DeletePod(pod)),
            GuardedAction::Kube(KubeAction::RolloutRestart(DeploymentTarget::new(
                "k", "shop", "api", None,
            ))),
        ];
        let names: Vec<super::super::ActionName> =
            actions.iter().map(GuardedAction::name).collect();
        assert_eq!(names, super::super::ActionName::ALL);
        for action in &actions {
            let (text, back) = round_trip(action);
            let wire: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(wire["name"], action.name().as_str(), "{text}");
            assert_eq!(&back, action);
        }
    }
}
