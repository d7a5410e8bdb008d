//! `GuardedAction`: a destructive action as a value, with the exact effect in words.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ContextId, ContextKind};
use crate::audit::IntentDraft;
use crate::backends::postgres::{PgSession, SessionState};
use crate::widgets::sanitize;

/// The session an action targets, as it was on screen when the key was pressed. In JSON (the
/// target of `POST /v1/actions`) the times are RFC 3339 with microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgTarget {
    pub context: String,
    pub pid: i32,
    #[serde(with = "crate::serde_time::micros_opt", default)]
    pub backend_start: Option<SystemTime>,
    #[serde(with = "crate::serde_time::micros_opt", default)]
    pub query_start: Option<SystemTime>,
    pub user: Option<String>,
    pub application: String,
    pub database: Option<String>,
    pub state: Option<String>,
    pub query: String,
}

impl PgTarget {
    /// Why this session cannot be acted on, when its identity cannot be checked (its
    /// `backend_start` is hidden from the monitoring role). `None` when it can.
    pub fn identity_refusal(&self, monitor_role: Option<&str>) -> Option<String> {
        self.backend_start
            .is_none()
            .then(|| crate::backends::postgres::hidden_session_refusal(self.pid, monitor_role))
    }

    pub fn from_session(context: &str, s: &PgSession) -> PgTarget {
        PgTarget {
            context: context.to_string(),
            pid: s.pid,
            backend_start: s.backend_start,
            query_start: s.query_start,
            user: s.user.clone(),
            application: s.application.clone(),
            database: s.database.clone(),
            state: s.state.clone(),
            query: s.query.clone(),
        }
    }
}

/// In JSON (`POST /v1/actions`) an action is `{"name": "pg.cancel", "target": {...}}`
/// ([`super::wire`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "super::wire::WireAction", from = "super::wire::WireAction")]
pub enum GuardedAction {
    PgCancel(PgTarget),
    PgTerminate(PgTarget),
    Kafka(super::kafka::KafkaAction),
    Kube(super::kube::KubeAction),
}

impl GuardedAction {
    pub fn context(&self) -> &str {
        match self {
            GuardedAction::PgCancel(t) | GuardedAction::PgTerminate(t) => &t.context,
            GuardedAction::Kafka(k) => k.context(),
            GuardedAction::Kube(k) => k.context(),
        }
    }

    pub fn context_kind(&self) -> ContextKind {
        match self {
            GuardedAction::PgCancel(_) | GuardedAction::PgTerminate(_) => ContextKind::Postgres,
            GuardedAction::Kafka(_) => ContextKind::Kafka,
            GuardedAction::Kube(_) => ContextKind::Kubernetes,
        }
    }

    /// The context this action is for, kind and name: the executor's key for its backend.
    pub fn context_id(&self) -> ContextId {
        ContextId::new(self.context_kind(), self.context())
    }

    /// The action name in audit records.
    pub fn name(&self) -> &'static str {
        match self {
            GuardedAction::PgCancel(_) => "pg.cancel",
            GuardedAction::PgTerminate(_) => "pg.terminate",
            GuardedAction::Kafka(k) => k.name(),
            GuardedAction::Kube(k) => k.name(),
        }
    }

    /// A short verb phrase for titles and results.
    pub fn title(&self) -> String {
        match self {
            GuardedAction::PgCancel(t) => format!("cancel query of pid {}", t.pid),
            GuardedAction::PgTerminate(t) => format!("terminate backend {}", t.pid),
            GuardedAction::Kafka(k) => k.title(),
            GuardedAction::Kube(k) => k.title(),
        }
    }

    /// The PostgreSQL session targeted, for PostgreSQL actions.
    pub fn pg_target(&self) -> Option<&PgTarget> {
        match self {
            GuardedAction::PgCancel(t) | GuardedAction::PgTerminate(t) => Some(t),
            GuardedAction::Kafka(_) | GuardedAction::Kube(_) => None,
        }
    }

    /// One line naming the target, for the reason prompt: who and what.
    pub fn target_summary(&self) -> String {
        let details = match self {
            GuardedAction::PgCancel(t) | GuardedAction::PgTerminate(t) => Some(format!(
                "{} {} {}",
                t.user
                    .as_deref()
                    .map_or("-".into(), |u| sanitize(u, 20).into_owned()),
                sanitize(&t.application, 24),
                sanitize(&t.query, 60)
            )),
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
            GuardedAction::PgCancel(t) | GuardedAction::PgTerminate(t) => self.describe_pg(t),
            GuardedAction::Kafka(k) => k.describe(),
            GuardedAction::Kube(k) => k.describe(),
        }
    }

    /// What goes into the audit record's `target`.
    pub fn audit_target(&self) -> serde_json::Value {
        match self {
            GuardedAction::PgCancel(t) | GuardedAction::PgTerminate(t) => pg_audit_target(t),
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
            action: self.name().into(),
            target,
            reason: reason.to_string(),
        }
    }

    fn describe_pg(&self, t: &PgTarget) -> Vec<String> {
        let mut lines = Vec::new();
        lines.push(match self {
            GuardedAction::PgCancel(_) => format!(
                "Cancel the running query of PostgreSQL session {} on context {} (pg_cancel_backend).",
                t.pid, t.context
            ),
            _ => format!(
                "Terminate PostgreSQL backend {} on context {} (pg_terminate_backend): its connection closes and its open transaction rolls back.",
                t.pid, t.context
            ),
        });
        lines.push(format!(
            "  user {}, application {}, database {}, state {}",
            show(t.user.as_deref()),
            show(Some(&t.application)),
            show(t.database.as_deref()),
            show(t.state.as_deref())
        ));
        lines.push(format!(
            "  session started {}, query started {}",
            time_text(t.backend_start),
            time_text(t.query_start)
        ));
        lines.push(format!(
            "  query: {}",
            sanitize(&redact_query(&t.query), 300)
        ));
        if matches!(self, GuardedAction::PgCancel(_))
            && matches!(
                SessionState::of(t.state.as_deref()),
                SessionState::Idle | SessionState::IdleInTransaction
            )
        {
            lines.push(
                "  Note: this session is idle; cancel has no effect on an idle transaction. Terminate ends it."
                    .into(),
            );
        }
        lines.push(format!(
            "Only if pid {} is still the same session running the same query; otherwise nothing is signalled.",
            t.pid
        ));
        lines
    }
}

/// Query text is redacted of passwords.
fn pg_audit_target(t: &PgTarget) -> serde_json::Value {
    json!({
            "pid": t.pid,
            "backend_start": t.backend_start.map(crate::serde_time::text),
            "query_start": t.query_start.map(crate::serde_time::text),
            "user": t.user,
            "application": t.application,
            "database": t.database,
            "state": t.state,
            "query": redact_query(&t.query),
    })
}

fn show(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => sanitize(s, 64).into_owned(),
        _ => "-".into(),
    }
}

fn time_text(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "(unknown)".into(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

/// Query text can carry secrets (`ALTER ROLE ... PASSWORD '...'`): keep them out of audit
/// records and off the confirmation screen. The one redaction function, [`crate::redact`].
pub fn redact_query(query: &str) -> String {
    crate::redact::redact_secrets(query).into_owned()
}

#[cfg(test)]
impl PgTarget {
    /// A session for unit tests: pid 4242 on `pg1`, idle in transaction, a password in its query.
    pub(crate) fn fixture() -> PgTarget {
        PgTarget {
            context: "pg1".into(),
            pid: 4242,
            backend_start: None,
            query_start: None,
            user: Some("deploy".into()),
            application: "migrate".into(),
            database: Some("shop".into()),
            state: Some("idle in transaction".into()),
            query: "ALTER ROLE x PASSWORD 'hunter2'".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_target_and_hides_secrets() {
        let text = GuardedAction::PgCancel(PgTarget::fixture())
            .describe()
            .join("\n");
        assert!(text.contains("session 4242 on context pg1"), "{text}");
        assert!(text.contains("user deploy, application migrate, database shop"));
        assert!(text.contains("cancel has no effect"));
        assert!(!text.contains("hunter2"));
        let audit = GuardedAction::PgTerminate(PgTarget::fixture())
            .audit_target()
            .to_string();
        assert!(!audit.contains("hunter2"), "{audit}");
    }
}
