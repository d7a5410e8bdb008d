//! The one registry of guarded actions: every destructive action warroom can take has one
//! `ActionName`. The wire form (`{"name": ...}`), the server's policy globs, the audit
//! records' `action` and the keymap's guarded keys all name actions through it.

use std::fmt;

use super::ContextKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionName {
    PgCancel,
    PgTerminate,
    KafkaDeleteGroup,
    KafkaResetOffsets,
    KafkaUndoReset,
    KubeDeletePod,
    KubeRolloutRestart,
}

impl ActionName {
    pub const ALL: [ActionName; 7] = [
        ActionName::PgCancel,
        ActionName::PgTerminate,
        ActionName::KafkaDeleteGroup,
        ActionName::KafkaResetOffsets,
        ActionName::KafkaUndoReset,
        ActionName::KubeDeletePod,
        ActionName::KubeRolloutRestart,
    ];

    /// The name in the wire form, policy rules and audit records.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionName::PgCancel => "pg.cancel",
            ActionName::PgTerminate => "pg.terminate",
            ActionName::KafkaDeleteGroup => "kafka.delete_group",
            ActionName::KafkaResetOffsets => "kafka.reset_offsets",
            ActionName::KafkaUndoReset => "kafka.undo_reset",
            ActionName::KubeDeletePod => "kube.delete_pod",
            ActionName::KubeRolloutRestart => "kube.rollout_restart",
        }
    }

    pub fn parse(name: &str) -> Option<ActionName> {
        ActionName::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The kind of context the action is taken on.
    pub const fn kind(self) -> ContextKind {
        match self {
            ActionName::PgCancel | ActionName::PgTerminate => ContextKind::Postgres,
            ActionName::KafkaDeleteGroup
            | ActionName::KafkaResetOffsets
            | ActionName::KafkaUndoReset => ContextKind::Kafka,
            ActionName::KubeDeletePod | ActionName::KubeRolloutRestart => ContextKind::Kubernetes,
        }
    }
}

impl fmt::Display for ActionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_is_prefixed_by_its_kind() {
        for a in ActionName::ALL {
            assert_eq!(ActionName::parse(a.as_str()), Some(a));
            let prefix = match a.kind() {
                ContextKind::Postgres => "pg.",
                ContextKind::Kafka => "kafka.",
                ContextKind::Kubernetes => "kube.",
            };
            assert!(a.as_str().starts_with(prefix), "{a}");
        }
        assert_eq!(ActionName::parse("pg.vacuum"), None);
    }
}
