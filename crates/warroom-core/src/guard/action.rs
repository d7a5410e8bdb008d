//! `GuardedAction`: a destructive action as a value, with the exact effect in words. One
//! variant per kind of context, each with its own action enum.

use serde::{Deserialize, Serialize};

use super::kafka::KafkaAction;
use super::kube::KubeAction;
use super::pg::{PgAction, PgTarget};
use super::{ActionName, ContextId, ContextKind};
use crate::audit::IntentDraft;

/// In JSON (`POST /v1/actions`) an action is `{"name": "pg.cancel", "target": {...}}`
/// ([`super::wire`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "super::wire::WireAction", from = "super::wire::WireAction")]
pub enum GuardedAction {
    Pg(PgAction),
    Kafka(KafkaAction),
    Kube(KubeAction),
}

impl GuardedAction {
    pub fn pg_cancel(target: PgTarget) -> GuardedAction {
        GuardedAction::Pg(PgAction::Cancel(target))
    }

    pub fn pg_terminate(target: PgTarget) -> GuardedAction {
        GuardedAction::Pg(PgAction::Terminate(target))
    }

    pub fn context(&self) -> &str {
        match self {
            GuardedAction::Pg(p) => &p.target().context,
            GuardedAction::Kafka(k) => k.context(),
            GuardedAction::Kube(k) => k.context(),
        }
    }

    pub fn context_kind(&self) -> ContextKind {
        self.name().kind()
    }

    /// The context this action is for, kind and name: the executor's key for its backend.
    pub fn context_id(&self) -> ContextId {
        ContextId::new(self.context_kind(), self.context())
    }

    /// The action's name in the registry (wire, policy, audit records).
    pub fn name(&self) -> ActionName {
        match self {
            GuardedAction::Pg(p) => p.name(),
            GuardedAction::Kafka(k) => k.name(),
            GuardedAction::Kube(k) => k.name(),
        }
    }

    /// A short verb phrase for titles and results.
    pub fn title(&self) -> String {
        match self {
            GuardedAction::Pg(p) => p.title(),
            GuardedAction::Kafka(k) => k.title(),
            GuardedAction::Kube(k) => k.title(),
        }
    }

    /// The PostgreSQL session targeted, for PostgreSQL actions.
    pub fn pg_target(&self) -> Option<&PgTarget> {
        match self {
            GuardedAction::Pg(p) => Some(p.target()),
            GuardedAction::Kafka(_) | GuardedAction::Kube(_) => None,
        }
    }

    /// One line naming the target, for the reason prompt: who and what.
    pub fn target_summary(&self) -> String {
        let details = match self {
            GuardedAction::Pg(p) => Some(p.target_details()),
            GuardedAction::Kafka(k) => Some(k.target_details()),
            GuardedAction::Kube(k) => k.target_details(),
        };
        match details {
            Some(d) => format!("{} — {d}", self.title()),
            None => self.title(),
        }
    }

    /// The exact effect, in words, with the target's details. Shown in the confirmation.
    pub fn describe(&self) -> Vec<String> {
        match self {
            GuardedAction::Pg(p) => p.describe(),
            GuardedAction::Kafka(k) => k.describe(),
            GuardedAction::Kube(k) => k.describe(),
        }
    }

    /// What goes into the audit record's `target`.
    pub fn audit_target(&self) -> serde_json::Value {
        match self {
            GuardedAction::Pg(p) => p.audit_target(),
            GuardedAction::Kafka(k) => k.audit_target(),
            GuardedAction::Kube(k) => k.audit_target(),
        }
    }

    /// The intent record of this action: its audit target, with `delegation` (who asked, who
    /// approved, under which rule) added when the server runs it for someone.
    pub fn intent_draft(&self, reason: &str, delegation: Option<serde_json::Value>) -> IntentDraft {
        let mut target = self.audit_target();
        if let (Some(note), Some(map)) = (delegation, target.as_object_mut()) {
            map.insert("delegation".into(), note);
        }
        IntentDraft {
            context_kind: self.context_kind().as_str().into(),
            context_name: self.context().into(),
            action: self.name().as_str().into(),
            target,
            reason: reason.to_string(),
        }
    }
}
