//! The one place where destructive backend methods are called.
//!
//! For each target: re-check policy and reason (fail closed even if a caller skipped the
//! prompt), write and deliver the audit intent, act with an identity check, record the
//! outcome. The TUI and the CLI subcommands share this code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Default bound on one destructive call (`[guard] action_timeout`).
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(15);

use futures::future::BoxFuture;

use crate::audit::AuditLog;
use crate::backends::postgres::{PgSignaller, SessionIdentity, SignalKind, SignalRequest};

use super::wire::ActionRequest;
use super::{ContextId, ContextKind, GuardedAction, PgAction, Policy, ReasonRules};
use crate::backends::kafka::KafkaAdmin;
use crate::backends::kube::KubeActor;

/// The destructive side of one context's backend.
#[derive(Clone)]
enum ActingBackend {
    Pg(Arc<dyn PgSignaller>),
    Kafka(Arc<dyn KafkaAdmin>),
    Kube(Arc<dyn KubeActor>),
}

/// Confirmed by the user: the actions, one reason for all of them, and what they typed to
/// confirm a protected context.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardRequest {
    pub actions: Vec<GuardedAction>,
    pub reason: String,
    pub typed_context: Option<String>,
}

/// The result for one target, as the user reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionReport {
    pub action: GuardedAction,
    pub outcome: Outcome,
    pub detail: String,
    pub audit_id: Option<String>,
    /// Break-glass or undelivered-outcome warnings.
    pub warnings: Vec<String>,
}

/// How one action ended: one of four states, so "done but not executed" cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran and the backend said it worked.
    Done,
    /// Nothing was executed (refused, not sent, denied, ...).
    Refused,
    /// It ran and the backend said it failed.
    Failed,
    /// Whether it took effect is not known: the call timed out after it may have reached the
    /// server (recorded as outcome `unknown`).
    Unknown,
}

impl Outcome {
    /// The action ran and worked.
    pub fn ok(self) -> bool {
        self == Outcome::Done
    }

    /// Anything was executed at all (false only when refused before acting).
    pub fn executed(self) -> bool {
        self != Outcome::Refused
    }

    pub fn unknown(self) -> bool {
        self == Outcome::Unknown
    }

    /// From the three flags of the wire reply, read in the order they always were: `ok` wins,
    /// then `unknown`, then `executed`.
    pub fn from_flags(ok: bool, executed: bool, unknown: bool) -> Outcome {
        if ok {
            Outcome::Done
        } else if unknown {
            Outcome::Unknown
        } else if executed {
            Outcome::Failed
        } else {
            Outcome::Refused
        }
    }

    /// As the result line says it.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Refused => "NOT DONE",
            Outcome::Failed => "FAILED",
            Outcome::Unknown => "UNKNOWN (it may have happened: check the target)",
        }
    }
}

impl ActionReport {
    /// Nothing was run, for this reason (refused, not sent, denied, ...).
    pub fn not_done(action: &GuardedAction, detail: String) -> ActionReport {
        super::wire::ActionReply::not_done(detail).into_report(action.clone())
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} — {}",
            self.action.title(),
            self.outcome.label(),
            self.detail
        );
        if let Some(id) = &self.audit_id {
            s.push_str(&format!(" (audit {id})"));
        }
        for w in &self.warnings {
            s.push_str(&format!(" [{w}]"));
        }
        s
    }
}

/// Runs an action somewhere else (a `warroom server` holding the acting credentials) and
/// reports as if it ran here. Called after the local policy and reason checks, with the
/// request as the server takes it: the action, the checked reason, what the user typed.
pub trait Delegate: Send + Sync {
    fn run(&self, request: ActionRequest) -> BoxFuture<'_, ActionReport>;
}

pub struct Executor {
    audit: AuditLog,
    policy: Policy,
    rules: ReasonRules,
    /// By kind and name: an action only reaches a backend of its own kind.
    backends: HashMap<ContextId, ActingBackend>,
    /// Contexts whose actions run on `warroom server` (`via = "server"`), not here.
    delegates: HashMap<String, Arc<dyn Delegate>>,
    /// Added to every intent's target as `delegation` (the server: requester, approver).
    record_note: Option<serde_json::Value>,
    terminate_wait: Duration,
    action_timeout: Duration,
    in_flight: super::InFlight,
}

impl Executor {
    pub fn new(
        audit: AuditLog,
        policy: Policy,
        rules: ReasonRules,
        terminate_wait: Duration,
    ) -> Self {
        Executor {
            audit,
            policy,
            rules,
            backends: HashMap::new(),
            delegates: HashMap::new(),
            record_note: None,
            terminate_wait,
            action_timeout: DEFAULT_ACTION_TIMEOUT,
            in_flight: super::InFlight::default(),
        }
    }

    /// Bounds every destructive call (connect, TLS, auth and the statement or API call).
    pub fn with_action_timeout(mut self, timeout: Duration) -> Self {
        self.action_timeout = timeout;
        self
    }

    fn with_backend(mut self, kind: ContextKind, context: &str, backend: ActingBackend) -> Self {
        self.backends.insert(ContextId::new(kind, context), backend);
        self
    }

    pub fn with_pg(self, context: &str, signaller: Arc<dyn PgSignaller>) -> Self {
        self.with_backend(ContextKind::Postgres, context, ActingBackend::Pg(signaller))
    }

    pub fn with_kafka(self, context: &str, admin: Arc<dyn KafkaAdmin>) -> Self {
        self.with_backend(ContextKind::Kafka, context, ActingBackend::Kafka(admin))
    }

    pub fn with_kube(self, context: &str, actor: Arc<dyn KubeActor>) -> Self {
        self.with_backend(ContextKind::Kubernetes, context, ActingBackend::Kube(actor))
    }

    fn backend(&self, action: &GuardedAction) -> Option<&ActingBackend> {
        self.backends.get(&action.context_id())
    }

    /// Actions on `context` are sent to a server that acts and audits (`via = "server"`).
    pub fn with_delegate(mut self, context: &str, delegate: Arc<dyn Delegate>) -> Self {
        self.delegates.insert(context.to_string(), delegate);
        self
    }

    /// Who asked and who approved, written into each intent record's target as `delegation`.
    pub fn with_record_note(mut self, note: serde_json::Value) -> Self {
        self.record_note = Some(note);
        self
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn rules(&self) -> &ReasonRules {
        &self.rules
    }

    /// The actions running now (a quit waits for them).
    pub fn in_flight(&self) -> &super::InFlight {
        &self.in_flight
    }

    /// The configured bound on one destructive call.
    pub fn action_timeout(&self) -> Duration {
        self.action_timeout
    }

    /// Run every action of the request, one audit record pair per target, in order.
    pub async fn run(&self, request: GuardRequest) -> Vec<ActionReport> {
        let _running = self.in_flight.start();
        let mut reports = Vec::with_capacity(request.actions.len());
        for action in &request.actions {
            reports.push(self.run_one(action, &request).await);
        }
        reports
    }

    async fn run_one(&self, action: &GuardedAction, request: &GuardRequest) -> ActionReport {
        let refused = |detail: String| ActionReport::not_done(action, detail);
        let must_type = match self.policy.check(action) {
            Ok(m) => m,
            Err(r) => return refused(r.0),
        };
        if let Some(name) = must_type
            && request.typed_context.as_deref() != Some(name.as_str())
        {
            return refused(format!(
                "context {name} is protected: type its name to confirm (nothing was done)"
            ));
        }
        let reason = match self.rules.validate(&request.reason) {
            Ok(r) => r,
            Err(why) => return refused(format!("{why} (nothing was done)")),
        };
        // Delegated: the server checks its policy, re-checks the target, records and acts.
        if let Some(delegate) = self.delegates.get(action.context()) {
            let delegated = ActionRequest {
                action: action.clone(),
                reason,
                typed_context: request.typed_context.clone(),
            };
            return delegate.run(delegated).await;
        }
        if let Err(why) = self.can_act(action) {
            return refused(format!("{why} (nothing was done)"));
        }
        if let GuardedAction::Kube(k) = action
            && let Some(why) = k.problem()
        {
            return refused(format!("{why} (nothing was done)"));
        }
        // Fail closed before any record: a hidden backend_start makes the identity check void.
        if let Some(t) = action.pg_target() {
            let role = match self.backend(action) {
                Some(ActingBackend::Pg(pg)) => pg.role(),
                _ => None,
            };
            if let Some(why) = t.identity_refusal(role.as_deref()) {
                return refused(why);
            }
        }
        let draft = action.intent_draft(&reason, self.record_note.clone());
        let receipt = match self.audit.record_intent(draft).await {
            Ok(r) => r,
            Err(refusal) => {
                let mut report = refused(refusal.to_string());
                report.audit_id = refusal.audit_id().map(str::to_string);
                return report;
            }
        };
        let mut warnings: Vec<String> = receipt.warning().map(str::to_string).into_iter().collect();
        let acted = tokio::time::timeout(
            self.action_timeout,
            self.act(action, receipt.audit_id(), reason),
        )
        .await;
        let (outcome, detail, delivery) = match acted {
            Ok((ok, detail)) => {
                let delivery = self
                    .audit
                    .record_outcome(&receipt, ok, detail.clone())
                    .await;
                let outcome = if ok { Outcome::Done } else { Outcome::Failed };
                (outcome, detail, delivery)
            }
            Err(_) => {
                // The call was cut off: it may or may not have reached the server.
                let detail = format!(
                    "no answer within the action timeout of {}: the request may or may not have \
                     taken effect; check the target ([guard] action_timeout)",
                    humantime::format_duration(self.action_timeout)
                );
                let delivery = self
                    .audit
                    .record_unknown_outcome(&receipt, detail.clone())
                    .await;
                (Outcome::Unknown, detail, delivery)
            }
        };
        // A lost or undelivered outcome is always reported, with or without an endpoint.
        if !delivery.written_locally
            || (!delivery.delivered && self.audit.settings().endpoint.is_some())
        {
            warnings.push(delivery.note.clone());
        }
        ActionReport {
            action: action.clone(),
            outcome,
            detail,
            audit_id: Some(receipt.audit_id().to_string()),
            warnings,
        }
    }

    /// Is there a backend for this action's context? Checked before anything is audited.
    fn can_act(&self, action: &GuardedAction) -> Result<(), String> {
        match self.backend(action) {
            Some(_) => Ok(()),
            None => Err(no_connection(action)),
        }
    }

    /// The destructive call itself, after the intent was recorded: (ok, what happened).
    async fn act(&self, action: &GuardedAction, audit_id: &str, reason: String) -> (bool, String) {
        match (action, self.backend(action)) {
            (GuardedAction::Pg(p), Some(ActingBackend::Pg(pg))) => {
                let t = p.target();
                let kind = match p {
                    PgAction::Cancel(_) => SignalKind::Cancel,
                    PgAction::Terminate(_) => SignalKind::Terminate,
                };
                let request = SignalRequest {
                    kind,
                    session: SessionIdentity {
                        pid: t.pid,
                        backend_start: t.backend_start,
                        query_start: t.query_start,
                    },
                    audit_id: audit_id.to_string(),
                    reason,
                    terminate_wait: self.terminate_wait,
                };
                match pg.signal(request).await {
                    Ok(outcome) => (outcome.ok(), outcome.explain(kind, t.pid)),
                    Err(e) => (false, format!("the server refused or failed: {e}")),
                }
            }
            // The group's emptiness is re-checked in there, right before committing.
            (GuardedAction::Kafka(k), Some(ActingBackend::Kafka(admin))) => {
                super::kafka::act(admin.as_ref(), k).await
            }
            (GuardedAction::Kube(k), Some(ActingBackend::Kube(actor))) => {
                super::kube::act(actor.as_ref(), k, audit_id, &reason).await
            }
            _ => (false, no_connection(action)),
        }
    }
}

fn no_connection(action: &GuardedAction) -> String {
    format!("no connection for context {}", action.context())
}
