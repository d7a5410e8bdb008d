//! PostgreSQL's guarded actions: cancel a session's query, terminate its backend. The target
//! is the session as it was on screen; the executor signals it only if it is still the same.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ActionName;
use crate::backends::postgres::{PgSession, SessionState};
use crate::sanitize::sanitize;

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

/// A guarded PostgreSQL action and its session.
#[derive(Debug, Clone, PartialEq)]
pub enum PgAction {
    Cancel(PgTarget),
    Terminate(PgTarget),
}

impl PgAction {
    pub fn target(&self) -> &PgTarget {
        match self {
            PgAction::Cancel(t) | PgAction::Terminate(t) => t,
        }
    }

    /// The same action on another reading of its session (the server re-reads it).
    pub fn with_target(&self, target: PgTarget) -> PgAction {
        match self {
            PgAction::Cancel(_) => PgAction::Cancel(target),
            PgAction::Terminate(_) => PgAction::Terminate(target),
        }
    }

    pub fn name(&self) -> ActionName {
        match self {
            PgAction::Cancel(_) => ActionName::PgCancel,
            PgAction::Terminate(_) => ActionName::PgTerminate,
        }
    }

    pub fn title(&self) -> String {
        match self {
            PgAction::Cancel(t) => format!("cancel query of pid {}", t.pid),
            PgAction::Terminate(t) => format!("terminate backend {}", t.pid),
        }
    }

    /// Who and what: user, application, query.
    pub fn target_details(&self) -> String {
        let t = self.target();
        format!(
            "{} {} {}",
            t.user
                .as_deref()
                .map_or("-".into(), |u| sanitize(u, 20).into_owned()),
            sanitize(&t.application, 24),
            sanitize(&t.query, 60)
        )
    }

    /// What goes into the audit record's `target`: the query redacted of passwords.
    pub fn audit_target(&self) -> serde_json::Value {
        let t = self.target();
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

    /// The exact effect, in words, with the session's details.
    pub fn describe(&self) -> Vec<String> {
        let t = self.target();
        let mut lines = Vec::new();
        lines.push(match self {
            PgAction::Cancel(_) => format!(
                "Cancel the running query of PostgreSQL session {} on context {} (pg_cancel_backend).",
                t.pid, t.context
            ),
            PgAction::Terminate(_) => format!(
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
        if matches!(self, PgAction::Cancel(_))
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
        let text = PgAction::Cancel(PgTarget::fixture()).describe().join("\n");
        assert!(text.contains("session 4242 on context pg1"), "{text}");
        assert!(text.contains("user deploy, application migrate, database shop"));
        assert!(text.contains("cancel has no effect"));
        assert!(!text.contains("hunter2"));
        let audit = PgAction::Terminate(PgTarget::fixture())
            .audit_target()
            .to_string();
        assert!(!audit.contains("hunter2"), "{audit}");
    }
}
