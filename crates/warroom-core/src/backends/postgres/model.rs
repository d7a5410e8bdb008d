//! Plain data for one activity snapshot. Owned, cloneable, sent from workers to the UI.

use std::time::SystemTime;

use serde::Serialize;

use super::header::ServerHeader;
use super::locks::LockDetail;

/// One row of pg_stat_activity, as warroom needs it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PgSession {
    pub pid: i32,
    pub database: Option<String>,
    pub user: Option<String>,
    pub application: String,
    pub client_addr: Option<String>,
    pub state: Option<String>,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    /// Seconds since the current (or last) query started.
    pub query_seconds: Option<f64>,
    /// Seconds since the current transaction started.
    pub xact_seconds: Option<f64>,
    pub blocked_by: Vec<i32>,
    pub query: String,
    /// Identity of the session, used to refuse acting on a recycled pid.
    #[serde(skip)]
    pub backend_start: Option<SystemTime>,
    #[serde(skip)]
    pub query_start: Option<SystemTime>,
    /// pg_stat_activity.query_id (PostgreSQL 14+, with compute_query_id on): links the
    /// session to its pg_stat_statements entry.
    pub query_id: Option<i64>,
    /// For a session waiting on a lock: what it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockDetail>,
}

/// What a session is doing, from pg_stat_activity's `state` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    Idle,
    /// "idle in transaction" and "idle in transaction (aborted)": it holds its locks.
    IdleInTransaction,
    /// Another state (fastpath function call, disabled), or none shown.
    Other,
}

impl SessionState {
    pub fn of(state: Option<&str>) -> SessionState {
        match state {
            Some("active") => SessionState::Active,
            Some("idle") => SessionState::Idle,
            Some(s) if s.starts_with("idle in transaction") => SessionState::IdleInTransaction,
            _ => SessionState::Other,
        }
    }
}

impl PgSession {
    pub fn identity(&self) -> SessionIdentity {
        SessionIdentity {
            pid: self.pid,
            backend_start: self.backend_start,
            query_start: self.query_start,
        }
    }

    pub fn session_state(&self) -> SessionState {
        SessionState::of(self.state.as_deref())
    }

    pub fn is_idle(&self) -> bool {
        is_idle_state(self.state.as_deref())
    }

    pub fn waits_on_lock(&self) -> bool {
        !self.blocked_by.is_empty()
    }
}

/// `idle` only: "idle in transaction" is never hidden, it is what holds locks.
pub fn is_idle_state(state: Option<&str>) -> bool {
    SessionState::of(state) == SessionState::Idle
}

/// One refresh of the PostgreSQL pane.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActivitySnapshot {
    pub sessions: Vec<PgSession>,
    /// Sessions whose details the monitoring role may not see (no pg_monitor).
    pub hidden_sessions: usize,
    /// The monitoring role, for the privilege hint.
    pub monitor_role: String,
    /// SQL statements this refresh cost the server (always 1 for the real backend).
    pub statements: u32,
    /// Server-side wall time of the statement, as seen by the client.
    pub elapsed: std::time::Duration,
    /// Server-wide figures read in the same statement, rates against the previous refresh.
    pub header: Option<Box<ServerHeader>>,
}

impl ActivitySnapshot {
    /// What the pane says when privileges hide details; `None` when nothing is hidden.
    pub fn privilege_note(&self) -> Option<String> {
        (self.hidden_sessions > 0).then(|| {
            format!(
                "{} session(s) of other roles hide query, client and wait details from role {}: grant pg_monitor to it",
                self.hidden_sessions, self.monitor_role
            )
        })
    }
}

/// Why a session whose `backend_start` is hidden (NULL) cannot be signalled, and what to grant.
/// The same words in the pane, the CLI, the executor and the backend.
///
/// PostgreSQL shows `backend_start` and `query_start` as NULL for sessions of other roles unless
/// the monitoring role has pg_read_all_stats (pg_monitor includes it). Without them warroom cannot
/// check that the pid still belongs to the session that was chosen, so it refuses.
pub fn hidden_session_refusal(pid: i32, monitor_role: Option<&str>) -> String {
    let role = monitor_role.map_or_else(|| "<monitoring role>".to_string(), str::to_string);
    format!(
        "pid {pid} belongs to another role and its session start time is hidden from the \
         monitoring role, so warroom cannot check that it is still the session you chose; \
         nothing was done. Grant the monitoring role pg_read_all_stats (or pg_monitor): \
         GRANT pg_read_all_stats TO {role};"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    Cancel,
    Terminate,
}

/// A session and its query as they were seen: the pid alone may belong to a newer session
/// by now (`backend_start` tells them apart), and the session may run another query
/// (`query_start`). Checked again in the statement that signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionIdentity {
    pub pid: i32,
    /// None when the monitoring role may not see it: such a session cannot be signalled.
    pub backend_start: Option<SystemTime>,
    pub query_start: Option<SystemTime>,
}

/// What to signal, and how to make sure it is still the same session and query.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRequest {
    pub kind: SignalKind,
    pub session: SessionIdentity,
    /// Carried as an SQL comment so the server log ties to the audit record.
    pub audit_id: String,
    pub reason: String,
    /// Terminate waits up to this long for the backend to exit (PostgreSQL 14+).
    pub terminate_wait: std::time::Duration,
}

/// PostgreSQL's own answer, or why nothing was signalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalOutcome {
    /// The function ran; `returned` is its real boolean.
    Signalled { returned: bool },
    /// The pid no longer exists.
    Gone,
    /// The pid now belongs to another session (started at a different time).
    DifferentSession,
    /// Same session, but it runs another query now.
    DifferentQuery,
}

impl SignalOutcome {
    pub fn ok(&self) -> bool {
        matches!(self, SignalOutcome::Signalled { returned: true })
    }

    pub fn explain(&self, kind: SignalKind, pid: i32) -> String {
        let verb = match kind {
            SignalKind::Cancel => "pg_cancel_backend",
            SignalKind::Terminate => "pg_terminate_backend",
        };
        match self {
            SignalOutcome::Signalled { returned: true } => format!("{verb}({pid}) returned true"),
            SignalOutcome::Signalled { returned: false } => format!(
                "{verb}({pid}) returned false: the server did not signal it (no permission, or it did not exit in time)"
            ),
            SignalOutcome::Gone => {
                format!("nothing signalled: pid {pid} no longer exists")
            }
            SignalOutcome::DifferentSession => format!(
                "nothing signalled: pid {pid} now belongs to a different session than the one you chose"
            ),
            SignalOutcome::DifferentQuery => format!(
                "nothing signalled: session {pid} runs a different query than the one you chose"
            ),
        }
    }
}

#[cfg(test)]
mod session_state_tests {
    use super::SessionState;

    #[test]
    fn states_are_read_once_from_the_text() {
        assert_eq!(SessionState::of(Some("active")), SessionState::Active);
        assert_eq!(SessionState::of(Some("idle")), SessionState::Idle);
        assert_eq!(
            SessionState::of(Some("idle in transaction (aborted)")),
            SessionState::IdleInTransaction
        );
        assert_eq!(
            SessionState::of(Some("fastpath function call")),
            SessionState::Other
        );
        assert_eq!(SessionState::of(None), SessionState::Other);
    }
}
