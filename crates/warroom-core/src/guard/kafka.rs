//! Kafka actions as values: delete a consumer group, reset its offsets, undo a reset.
//! What the confirmation shows and what the audit record keeps (the offsets from before a
//! reset, so an undo can put them back).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backends::kafka::{ResetPlan, ResetTo};
use crate::sanitize::sanitize;

/// The group as it was on screen when the key was pressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaGroupTarget {
    pub context: String,
    pub group: String,
    pub state: String,
    pub members: usize,
    pub topics: Vec<String>,
    pub total_lag: i64,
}

impl KafkaGroupTarget {
    /// The one way to target a group (the Kafka pane and `warroom kafka consumer-groups`).
    pub fn of(context: &str, g: &crate::backends::kafka::ConsumerGroup) -> KafkaGroupTarget {
        KafkaGroupTarget {
            context: context.to_string(),
            group: g.id.clone(),
            state: g.state.clone(),
            members: g.members.len(),
            topics: g.topics(),
            total_lag: g.total_lag(),
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl KafkaGroupTarget {
    /// For tests: an Empty group with no members, topics or lag.
    pub fn empty(context: &str, group: &str) -> KafkaGroupTarget {
        KafkaGroupTarget {
            context: context.into(),
            group: group.into(),
            state: "Empty".into(),
            members: 0,
            topics: vec![],
            total_lag: 0,
        }
    }
}

/// A reset the user previewed and acknowledged. Its JSON is [`super::wire::WireReset`]: the
/// plan's fields beside the context, its `to` in the wire's own form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "super::wire::WireReset", try_from = "super::wire::WireReset")]
pub struct KafkaResetTarget {
    pub context: String,
    pub plan: ResetPlan,
    /// For an undo: the audit id of the reset it reverses.
    pub undoes: Option<String>,
}

impl KafkaResetTarget {
    /// The one way to target a reset (the Kafka pane's preview and undo, and `warroom kafka
    /// consumer-groups reset-offsets`); `undoes` is the audit id of the reset it reverses.
    pub fn new(context: &str, plan: ResetPlan, undoes: Option<String>) -> KafkaResetTarget {
        KafkaResetTarget {
            context: context.to_string(),
            plan,
            undoes,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum KafkaAction {
    DeleteGroup(KafkaGroupTarget),
    ResetOffsets(KafkaResetTarget),
    /// Restores the offsets from before a reset (`plan` is the reset's `undo()`).
    UndoReset(KafkaResetTarget),
}

impl KafkaAction {
    pub fn context(&self) -> &str {
        match self {
            KafkaAction::DeleteGroup(t) => &t.context,
            KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t) => &t.context,
        }
    }

    pub fn group(&self) -> &str {
        match self {
            KafkaAction::DeleteGroup(t) => &t.group,
            KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t) => &t.plan.group,
        }
    }

    pub fn name(&self) -> super::ActionName {
        match self {
            KafkaAction::DeleteGroup(_) => super::ActionName::KafkaDeleteGroup,
            KafkaAction::ResetOffsets(_) => super::ActionName::KafkaResetOffsets,
            KafkaAction::UndoReset(_) => super::ActionName::KafkaUndoReset,
        }
    }

    pub fn title(&self) -> String {
        match self {
            KafkaAction::DeleteGroup(t) => {
                format!("delete consumer group {}", sanitize(&t.group, 60))
            }
            KafkaAction::ResetOffsets(t) => format!(
                "reset offsets of group {} to {}",
                sanitize(&t.plan.group, 60),
                t.plan.to.text()
            ),
            KafkaAction::UndoReset(t) => {
                format!(
                    "undo the last reset of group {}",
                    sanitize(&t.plan.group, 60)
                )
            }
        }
    }

    /// What the reason prompt shows after the title (see `GuardedAction::target_summary`).
    pub fn target_details(&self) -> String {
        match self {
            KafkaAction::DeleteGroup(t) => format!(
                "{} with {} member(s), lag {}, topics {}",
                sanitize(&t.state, 20),
                t.members,
                t.total_lag,
                sanitize(&t.topics.join(","), 60)
            ),
            KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t) => format!(
                "{} partition(s), {} skipped, {} replayed",
                t.plan.partitions.len(),
                t.plan.skipped(),
                t.plan.replayed()
            ),
        }
    }

    pub fn describe(&self) -> Vec<String> {
        match self {
            KafkaAction::DeleteGroup(t) => vec![
                format!(
                    "Delete consumer group {} on Kafka context {}: its committed offsets are gone for good.",
                    sanitize(&t.group, 80),
                    t.context
                ),
                format!(
                    "  state {}, {} member(s), total lag {}, topics {}",
                    sanitize(&t.state, 20),
                    t.members,
                    t.total_lag,
                    sanitize(&t.topics.join(", "), 120)
                ),
                "Only if the group is still Empty: its state is read again right before deleting, and the broker refuses a group with members.".into(),
            ],
            KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t) => {
                let mut lines = vec![match self {
                    KafkaAction::UndoReset(_) => format!(
                        "Put back the committed offsets of group {} on Kafka context {} as they were before the reset{}:",
                        sanitize(&t.plan.group, 80),
                        t.context,
                        t.undoes.as_ref().map_or(String::new(), |id| format!(" (audit {id})"))
                    ),
                    _ => format!(
                        "Commit new offsets for group {} on Kafka context {} ({}):",
                        sanitize(&t.plan.group, 80),
                        t.context,
                        t.plan.to.text()
                    ),
                }];
                lines.extend(
                    t.plan
                        .preview_lines()
                        .into_iter()
                        .skip(1)
                        .take(40)
                        .map(|l| sanitize(&l, 160).into_owned()),
                );
                if t.plan.partitions.len() > 40 {
                    lines.push(format!("  … and {} more partition(s)", t.plan.partitions.len() - 40));
                }
                lines.push(format!(
                    "In total {} message(s) skipped, {} replayed. Only if the group still has no members: re-checked right before committing.",
                    t.plan.skipped(),
                    t.plan.replayed()
                ));
                lines
            }
        }
    }

    pub fn audit_target(&self) -> serde_json::Value {
        match self {
            KafkaAction::DeleteGroup(t) => json!({
                "group": t.group,
                "state": t.state,
                "members": t.members,
                "topics": t.topics,
                "total_lag": t.total_lag,
            }),
            KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t) => json!({
                "group": t.plan.group,
                "topic": t.plan.topic,
                "to": reset_to_json(&t.plan.to),
                "undoes": t.undoes,
                "partitions": t.plan.partitions.iter().map(|p| json!({
                    "topic": p.topic,
                    "partition": p.partition,
                    "previous": p.current,
                    "target": p.target,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

fn reset_to_json(to: &ResetTo) -> serde_json::Value {
    serde_json::to_value(to).unwrap_or_else(|_| json!(to.text()))
}

/// The destructive call, after the intent was recorded. Called only by the executor.
/// Re-reads the group's state right before acting: a consumer that joined since the
/// preview makes the action stop here, with nothing changed.
pub(super) async fn act(
    admin: &dyn crate::backends::kafka::KafkaAdmin,
    action: &KafkaAction,
) -> (bool, String) {
    let group = action.group();
    let state = match admin.group_state(group).await {
        Ok(s) => s,
        Err(e) => {
            return (
                false,
                format!("cannot re-check the group's state, nothing was done: {e}"),
            );
        }
    };
    if !state.is_empty() {
        return (
            false,
            format!(
                "group {} is {} with {} member(s) now: nothing was done (stop its consumers first)",
                sanitize(group, 60),
                sanitize(&state.state, 20),
                state.members
            ),
        );
    }
    match action {
        KafkaAction::DeleteGroup(_) => match admin.delete_group(group).await {
            Ok(()) => (true, format!("group {} deleted", sanitize(group, 60))),
            Err(e) => (false, sanitize(&e.to_string(), 300).into_owned()),
        },
        KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t) => {
            match admin.commit_offsets(group, t.plan.commits()).await {
                Ok(()) => (
                    true,
                    format!(
                        "committed {} offset(s) for group {} ({} skipped, {} replayed)",
                        t.plan.partitions.len(),
                        sanitize(group, 60),
                        t.plan.skipped(),
                        t.plan.replayed()
                    ),
                ),
                Err(e) => (false, sanitize(&e.to_string(), 300).into_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ResetPlan {
        crate::backends::kafka::fixtures::plan(25)
    }

    #[test]
    fn reset_audit_keeps_previous_offsets_and_describe_shows_them() {
        let a = KafkaAction::ResetOffsets(KafkaResetTarget {
            context: "k1".into(),
            plan: plan(),
            undoes: None,
        });
        let audit = a.audit_target();
        assert_eq!(audit["partitions"][0]["previous"], 10);
        assert_eq!(audit["partitions"][0]["target"], 25);
        assert_eq!(audit["to"], "Latest");
        let text = a.describe().join("\n");
        assert!(
            text.contains("orders[0]  10 -> 25  (skips 15 messages)"),
            "{text}"
        );
        assert!(text.contains("re-checked right before committing"));
    }

    /// A cluster whose state read says Empty but whose broker then refuses, as when a
    /// consumer joins between the re-check and the call.
    struct Racy;

    impl crate::backends::kafka::KafkaAdmin for Racy {
        fn group_state(
            &self,
            _group: &str,
        ) -> crate::backends::BoxFuture<
            '_,
            Result<crate::backends::kafka::GroupState, crate::backends::kafka::KafkaError>,
        > {
            Box::pin(async {
                Ok(crate::backends::kafka::GroupState {
                    state: "Empty".into(),
                    members: 0,
                })
            })
        }
        fn delete_group(
            &self,
            _group: &str,
        ) -> crate::backends::BoxFuture<'_, Result<(), crate::backends::kafka::KafkaError>>
        {
            Box::pin(async {
                Err(crate::backends::kafka::KafkaError::Refused(
                    "NonEmptyGroup: Broker: The group is not empty".into(),
                ))
            })
        }
        fn commit_offsets(
            &self,
            _group: &str,
            _offsets: Vec<(String, i32, i64)>,
        ) -> crate::backends::BoxFuture<'_, Result<(), crate::backends::kafka::KafkaError>>
        {
            Box::pin(async {
                Err(crate::backends::kafka::KafkaError::Refused(
                    "UnknownMemberId: Broker: Unknown member".into(),
                ))
            })
        }
    }

    #[tokio::test]
    async fn the_brokers_refusal_is_shown_plainly() {
        let delete = KafkaAction::DeleteGroup(KafkaGroupTarget::empty("k1", "billing"));
        let (ok, detail) = act(&Racy, &delete).await;
        assert!(!ok);
        assert_eq!(
            detail,
            "the broker refused: NonEmptyGroup: Broker: The group is not empty"
        );
        let reset = KafkaAction::ResetOffsets(KafkaResetTarget {
            context: "k1".into(),
            plan: plan(),
            undoes: None,
        });
        let (ok, detail) = act(&Racy, &reset).await;
        assert!(!ok);
        assert!(detail.contains("refused: UnknownMemberId"), "{detail}");
    }

    #[test]
    fn group_names_are_sanitized() {
        let a = KafkaAction::DeleteGroup(KafkaGroupTarget::empty("k1", "evil\u{1b}[2Jgroup"));
        assert!(!a.describe().join("").contains('\u{1b}'));
        assert!(!a.title().contains('\u{1b}'));
    }
}
