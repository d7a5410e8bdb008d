//! `AuditLog`: the audit step of the guarded-action path (intent before, outcome after).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::Value;

use super::record::{
    Actor, AuditRecord, ContextRef, Delivery, Phase, RECORD_VERSION, RecordedOutcome,
    canonical_json, now_rfc3339_millis,
};
use super::remote::{self, Call, Client, Endpoint};
use super::settings::{AuditSettings, OnUnreachable};
use super::store::{self, LocalError};

/// Pause before the 2nd, 3rd, ... delivery attempt of an outcome.
const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(900),
];

/// What the guard knows about an action before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentDraft {
    /// e.g. "postgres".
    pub context_kind: String,
    pub context_name: String,
    /// e.g. "pg.cancel".
    pub action: String,
    /// Free-form details of the target (pid, backend_start, query_start, query, ...).
    pub target: Value,
    /// The reason the user typed.
    pub reason: String,
}

/// Proof that the intent was recorded: the action may run.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentReceipt {
    record: AuditRecord,
    warning: Option<String>,
    destination: String,
    /// The intent is in the spool, not at the endpoint (break-glass).
    intent_spooled: bool,
}

impl IntentReceipt {
    /// The receipt of an intent another process recorded and delivered (its record as the
    /// endpoint stores it): a survivor records the outcome of an action whose runner died.
    pub fn delivered_earlier(record: AuditRecord, destination: impl Into<String>) -> IntentReceipt {
        IntentReceipt {
            record,
            warning: None,
            destination: destination.into(),
            intent_spooled: false,
        }
    }

    /// The audit id (the intent record's id), to show and to carry in the SQL comment.
    pub fn audit_id(&self) -> &str {
        &self.record.id
    }

    /// A loud warning to show the user: set when the action proceeds without the endpoint having
    /// accepted the intent (break-glass, `on_unreachable = "local-only"`).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Whether this action runs under break-glass.
    pub fn is_break_glass(&self) -> bool {
        self.intent_spooled
    }

    /// Where the record went, e.g. "audit: /path/audit.jsonl + https://audit.example/records".
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The intent record as written.
    pub fn record(&self) -> &AuditRecord {
        &self.record
    }
}

/// The audit call failed: the action must not run. `Display` says precisely why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuditRefusal {
    message: String,
    kind: RefusalKind,
    audit_id: Option<String>,
}

/// Which part of the audit call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The local audit file could not be written: nothing was recorded.
    LocalWrite,
    /// The endpoint did not accept the intent (and `on_unreachable = "deny"`).
    Endpoint,
}

impl AuditRefusal {
    pub fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// The id of the intent record written locally (followed by a "not executed" outcome), when
    /// the refusal came from the endpoint. `None` when nothing could be written.
    pub fn audit_id(&self) -> Option<&str> {
        self.audit_id.as_deref()
    }
}

/// What became of an outcome record. It is never lost: written locally, then delivered or spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeDelivery {
    /// The outcome record's id.
    pub id: String,
    /// Appended and fsynced to the local audit file.
    pub written_locally: bool,
    /// Accepted by the endpoint.
    pub delivered: bool,
    /// Waiting in the pending spool for `warroom audit flush`.
    pub spooled: bool,
    /// One line for the user, e.g. "audit outcome delivered to https://...".
    pub note: String,
}

/// Result of delivering the pending spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// Records accepted by the endpoint (and removed from the spool) in this flush.
    pub delivered: usize,
    /// Records still in the spool.
    pub remaining: usize,
    /// Why the flush stopped early, if it did (the first failure).
    pub stopped: Option<String>,
}

impl FlushReport {
    pub fn is_complete(&self) -> bool {
        self.remaining == 0
    }
}

/// A flush could not start or could not update the spool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    #[error("no audit endpoint is configured; {pending} record(s) stay in the spool")]
    NoEndpoint { pending: usize },
    #[error("{0}")]
    Local(String),
}

/// The audit log of one warroom process. Cheap to clone; share it between tasks.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: AuditSettings,
    session_id: String,
    actor: Actor,
    endpoint: Option<Endpoint>,
    client: Client,
    /// Takes the place of the HTTP endpoint (the server records into its own database).
    sink: Option<Arc<dyn RecordSink>>,
}

/// Where records go instead of an HTTP audit endpoint: `warroom server` running the guard
/// executor itself stores them in its database, with the same "accepted before acting" rule.
pub trait RecordSink: Send + Sync + std::fmt::Debug {
    /// The destination as shown in messages.
    fn display(&self) -> String;
    /// Stores one record (its JSON line); `Err` says why it was not stored.
    fn accept(&self, body: Vec<u8>, id: String) -> BoxFuture<'static, Result<(), String>>;
}

impl AuditLog {
    /// `session_id` identifies this process run in every record (see [`new_session_id`]).
    pub fn new(settings: AuditSettings, session_id: impl Into<String>) -> AuditLog {
        let with_token = settings.token_env.is_some();
        let endpoint = settings
            .endpoint
            .as_deref()
            .map(|raw| Endpoint::new(raw, with_token));
        let client = match endpoint {
            Some(_) => remote::build_client(),
            None => Err("is not configured".to_string()),
        };
        AuditLog {
            inner: Arc::new(Inner {
                actor: Actor::current(settings.identity.clone()),
                settings,
                session_id: session_id.into(),
                endpoint,
                client,
                sink: None,
            }),
        }
    }

    /// An audit log whose records go to `sink` (after the local file) instead of an endpoint.
    pub fn with_sink(
        mut settings: AuditSettings,
        session_id: impl Into<String>,
        sink: Arc<dyn RecordSink>,
    ) -> AuditLog {
        let display = sink.display();
        settings.endpoint = Some(display.clone());
        settings.token_env = None;
        AuditLog {
            inner: Arc::new(Inner {
                actor: Actor::current(settings.identity.clone()),
                settings,
                session_id: session_id.into(),
                endpoint: Some(Endpoint::named(display)),
                client: Err("is not an HTTP endpoint".to_string()),
                sink: Some(sink),
            }),
        }
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.inner.settings
    }

    pub fn session_id(&self) -> &str {
        &self.inner.session_id
    }

    /// The actor written into records (OS user, host, configured identity).
    pub fn actor(&self) -> &Actor {
        &self.inner.actor
    }

    /// The spool of undelivered records: `<file>.pending`.
    pub fn pending_file(&self) -> PathBuf {
        self.inner.settings.pending_file()
    }

    /// Records the intent: append + fsync locally, then the audit call. `Ok` means the action may
    /// run; `Err` means it must not, and says why.
    pub async fn record_intent(&self, draft: IntentDraft) -> Result<IntentReceipt, AuditRefusal> {
        let inner = &self.inner;
        let delivery = match inner.endpoint {
            Some(_) => Delivery::Remote,
            None => Delivery::LocalOnly,
        };
        let intent = self.new_record(
            Phase::Intent,
            None,
            ContextRef {
                kind: draft.context_kind,
                name: draft.context_name,
            },
            draft.action,
            draft.target,
            draft.reason,
            None,
            delivery,
        );
        let intent = self
            .append_local(vec![intent])
            .await
            .map_err(|e| AuditRefusal {
                message: format!("{e}; nothing was done"),
                kind: RefusalKind::LocalWrite,
                audit_id: None,
            })?
            .into_iter()
            .next()
            .ok_or_else(|| AuditRefusal {
                message: "the audit record was not written; nothing was done".to_string(),
                kind: RefusalKind::LocalWrite,
                audit_id: None,
            })?;
        let destination = inner.settings.destination_text();

        let Some(endpoint) = &inner.endpoint else {
            return Ok(IntentReceipt {
                record: intent,
                warning: None,
                destination,
                intent_spooled: false,
            });
        };
        let why = match self.post(&intent, inner.settings.timeout).await {
            Ok(()) => {
                tracing::debug!(audit_id = %intent.id, "audit intent accepted by the endpoint");
                return Ok(IntentReceipt {
                    record: intent,
                    warning: None,
                    destination,
                    intent_spooled: false,
                });
            }
            Err(why) => why,
        };
        let pending = inner.settings.pending_file();

        match inner.settings.on_unreachable {
            OnUnreachable::Deny => {
                // Complete the local trail (intent followed by "not executed"), and spool both so
                // the endpoint eventually sees the attempt and that nothing ran.
                let message = format!(
                    "audit endpoint {} {why}; nothing was done",
                    endpoint.display
                );
                let not_executed = self.outcome_record(
                    &intent,
                    Delivery::Remote,
                    RecordedOutcome {
                        ok: false,
                        detail: format!("not executed: audit endpoint {} {why}", endpoint.display),
                        unknown: false,
                    },
                );
                match self.append_local(vec![not_executed]).await {
                    Ok(written) => {
                        let mut lines = vec![line_of(&intent)];
                        lines.extend(written.iter().map(line_of));
                        if let Err(e) = self.spool(lines).await {
                            tracing::error!("audit spool not updated: {e}");
                        }
                    }
                    Err(e) => tracing::error!("\"not executed\" audit outcome not written: {e}"),
                }
                Err(AuditRefusal {
                    message,
                    kind: RefusalKind::Endpoint,
                    audit_id: Some(intent.id),
                })
            }
            OnUnreachable::LocalOnly => {
                // Break-glass. The first intent was fsynced before the POST with delivery
                // "remote" (the route it was meant to take), and a chained line cannot be
                // rewritten. So it is closed ("not executed under this record") and the action
                // runs under a second intent marked "break-glass", linked to the first by
                // `intent_id`. All three lines go to the spool for later delivery.
                let closed = self.outcome_record(
                    &intent,
                    Delivery::Remote,
                    RecordedOutcome {
                        ok: false,
                        detail: format!(
                            "not executed under this record: audit endpoint {} {why}; \
                             re-recorded as a break-glass intent",
                            endpoint.display
                        ),
                        unknown: false,
                    },
                );
                let mut glass =
                    self.linked_record(&intent, Phase::Intent, None, Delivery::BreakGlass);
                let written = self
                    .append_local(vec![closed, glass.clone()])
                    .await
                    .map_err(|e| AuditRefusal {
                        message: format!(
                            "audit endpoint {} {why}, and the break-glass record could not be \
                             written ({e}); nothing was done",
                            endpoint.display
                        ),
                        kind: RefusalKind::LocalWrite,
                        audit_id: Some(intent.id.clone()),
                    })?;
                if let Some(w) = written.last() {
                    glass = w.clone();
                }
                let mut lines = vec![line_of(&intent)];
                lines.extend(written.iter().map(line_of));
                let spooled = self.spool(lines).await;
                let spool_note = match &spooled {
                    Ok(()) => format!(
                        "the records wait in {} for `warroom audit flush`",
                        pending.display()
                    ),
                    Err(e) => {
                        format!("the records could not be spooled for later delivery either ({e})")
                    }
                };
                let warning = format!(
                    "BREAK-GLASS: audit endpoint {} {why}. Proceeding with the local audit file \
                     only because [audit] on_unreachable = \"local-only\"; the intent is marked \
                     break-glass; {spool_note}",
                    endpoint.display
                );
                tracing::warn!(audit_id = %glass.id, "{warning}");
                Ok(IntentReceipt {
                    record: glass,
                    warning: Some(warning),
                    destination,
                    intent_spooled: true,
                })
            }
        }
    }

    /// Records what happened: append + fsync locally, then deliver (a few retries, bounded by about
    /// twice the timeout), else spool for `warroom audit flush`.
    pub async fn record_outcome(
        &self,
        receipt: &IntentReceipt,
        ok: bool,
        detail: String,
    ) -> OutcomeDelivery {
        self.record_outcome_as(
            receipt,
            RecordedOutcome {
                ok,
                detail,
                unknown: false,
            },
        )
        .await
    }

    /// Records that whether the action took effect is not known (it timed out mid-call): an
    /// outcome `unknown`, chained and delivered like any outcome.
    pub async fn record_unknown_outcome(
        &self,
        receipt: &IntentReceipt,
        detail: String,
    ) -> OutcomeDelivery {
        self.record_outcome_as(
            receipt,
            RecordedOutcome {
                ok: false,
                detail,
                unknown: true,
            },
        )
        .await
    }

    async fn record_outcome_as(
        &self,
        receipt: &IntentReceipt,
        outcome: RecordedOutcome,
    ) -> OutcomeDelivery {
        let inner = &self.inner;
        let delivery = match (&inner.endpoint, receipt.intent_spooled) {
            (None, _) => Delivery::LocalOnly,
            (Some(_), true) => Delivery::BreakGlass,
            (Some(_), false) => Delivery::Remote,
        };
        let mut record = self.outcome_record(&receipt.record, delivery, outcome);
        let mut local_error = None;
        match self.append_local(vec![record.clone()]).await {
            Ok(mut written) => {
                if let Some(w) = written.pop() {
                    record = w;
                }
            }
            Err(e) => {
                // The action already ran: keep going, the endpoint and the spool may still work.
                tracing::error!(audit_id = %record.id, "audit outcome not written locally: {e}");
                local_error = Some(e.to_string());
            }
        }
        let written_locally = local_error.is_none();
        let local_part = match &local_error {
            None => String::new(),
            Some(e) => format!(" (NOT in the local file: {e})"),
        };

        let Some(endpoint) = &inner.endpoint else {
            return OutcomeDelivery {
                id: record.id,
                written_locally,
                delivered: false,
                spooled: false,
                note: match local_error {
                    None => format!(
                        "audit outcome written to {} (no endpoint configured)",
                        inner.settings.file.display()
                    ),
                    Some(e) => format!("audit outcome LOST: {e}; no endpoint is configured"),
                },
            };
        };

        let deadline = Instant::now() + inner.settings.timeout * 2;
        let line = line_of(&record);
        let mut in_spool = false;
        let result = if receipt.intent_spooled {
            // The endpoint has not seen the intent yet: queue the outcome behind it and deliver
            // the spool in order, so the endpoint never gets an outcome before its intent.
            match self.spool(vec![line.clone()]).await {
                Ok(()) => {
                    in_spool = true;
                    self.deliver_spooled(&record.id, deadline).await
                }
                Err(e) => Err(format!("could not be queued ({e})")),
            }
        } else {
            self.deliver_with_retries(&record, deadline).await
        };
        match result {
            Ok(()) => OutcomeDelivery {
                id: record.id,
                written_locally,
                delivered: true,
                spooled: false,
                note: format!(
                    "audit outcome delivered to {}{local_part}",
                    endpoint.display
                ),
            },
            Err(why) => {
                let spooled = in_spool || self.spool(vec![line.clone()]).await.is_ok();
                let note = if spooled {
                    format!(
                        "audit outcome NOT delivered: audit endpoint {} {why}; kept in {} for \
                         `warroom audit flush`{local_part}",
                        endpoint.display,
                        self.pending_file().display()
                    )
                } else {
                    tracing::error!(
                        record = %line,
                        "audit outcome neither delivered nor spooled"
                    );
                    format!(
                        "audit outcome NOT delivered: audit endpoint {} {why}; and it could not be \
                         spooled{local_part}",
                        endpoint.display
                    )
                };
                OutcomeDelivery {
                    id: record.id,
                    written_locally,
                    delivered: false,
                    spooled,
                    note,
                }
            }
        }
    }

    /// Intents in the local audit file that have no outcome: the action may or may not have run
    /// (warroom stopped mid-action). See [`super::orphan_report`] for the start-up line.
    pub async fn orphan_intents(&self) -> Result<Vec<AuditRecord>, String> {
        let path = self.inner.settings.file.clone();
        blocking(move || {
            super::read::read_records_checked(&path)
                .map(|report| super::read::orphan_intents(&report.records))
                .map_err(|e| LocalError(format!("cannot read {}: {e}", path.display())))
        })
        .await
        .map_err(|e| e.to_string())
    }

    /// `warroom audit reconcile`: for each intent without an outcome, writes an outcome
    /// `unknown` (chained in the local file, then delivered like any outcome, or spooled).
    pub async fn reconcile(&self) -> Result<Vec<(AuditRecord, OutcomeDelivery)>, String> {
        let mut done = Vec::new();
        for intent in self.orphan_intents().await? {
            // A break-glass intent still waits in the spool: its outcome queues behind it.
            let intent_spooled = self.spool_contains(&intent.id).await.unwrap_or(false);
            let receipt = IntentReceipt {
                record: intent.clone(),
                warning: None,
                destination: self.inner.settings.destination_text(),
                intent_spooled,
            };
            let delivery = self
                .record_outcome_as(
                    &receipt,
                    RecordedOutcome {
                        ok: false,
                        detail: "no outcome was recorded (warroom stopped before the action \
                                 finished); whether it took effect is unknown: check the target \
                                 (written by `warroom audit reconcile`)"
                            .to_string(),
                        unknown: true,
                    },
                )
                .await;
            done.push((intent, delivery));
        }
        Ok(done)
    }

    /// Delivers the pending spool in order, stopping at the first failure. Each accepted record is
    /// removed from the spool at once (atomic rewrite), so it is delivered exactly once.
    pub async fn flush(&self) -> Result<FlushReport, FlushError> {
        if self.inner.endpoint.is_none() {
            let pending = self.pending_count().await.map_err(FlushError::Local)?;
            return Err(FlushError::NoEndpoint { pending });
        }
        self.flush_until(None).await
    }

    /// Number of records waiting in the spool.
    pub async fn pending_count(&self) -> Result<usize, String> {
        let pending = self.pending_file();
        blocking(move || {
            let lock = store::lock_spool(&pending)?;
            Ok(store::read_spool(&pending, &lock)?.len())
        })
        .await
        .map_err(|e| e.to_string())
    }

    async fn flush_until(&self, deadline: Option<Instant>) -> Result<FlushReport, FlushError> {
        let pending = self.pending_file();
        let (lock, mut remaining) = {
            let pending = pending.clone();
            blocking(move || {
                let lock = store::lock_spool(&pending)?;
                let lines = store::read_spool(&pending, &lock)?;
                Ok((lock, lines))
            })
            .await
            .map_err(|e| FlushError::Local(e.to_string()))?
        };
        let lock = Arc::new(lock);
        let mut delivered = 0;
        let mut stopped = None;
        while let Some(line) = remaining.first().cloned() {
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(self.inner.settings.timeout),
                    _ => {
                        stopped = Some("out of time".to_string());
                        break;
                    }
                },
                None => self.inner.settings.timeout,
            };
            let id = match serde_json::from_str::<Value>(&line) {
                Ok(v) => v.get("id").and_then(Value::as_str).map(str::to_string),
                Err(_) => None,
            };
            let Some(id) = id else {
                stopped = Some(format!(
                    "the first pending record in {} is not a JSON record with an id; fix or \
                     remove that line",
                    pending.display()
                ));
                break;
            };
            if let Err(why) = self.post_raw(line.into_bytes(), &id, timeout).await {
                stopped = Some(format!("audit endpoint {} {why}", self.endpoint_display()));
                break;
            }
            remaining.remove(0);
            delivered += 1;
            let (pending, rest, lock) = (pending.clone(), remaining.clone(), Arc::clone(&lock));
            blocking(move || store::rewrite_spool(&pending, &rest, &lock))
                .await
                .map_err(|e| {
                    FlushError::Local(format!(
                        "record {id} was delivered but the spool could not be updated, so it may \
                         be sent again: {e}"
                    ))
                })?;
        }
        Ok(FlushReport {
            delivered,
            remaining: remaining.len(),
            stopped,
        })
    }

    /// Flushes the spool until the record `id` has left it, retrying until `deadline`.
    async fn deliver_spooled(&self, id: &str, deadline: Instant) -> Result<(), String> {
        let mut last = String::from("was not tried");
        for (attempt, pause) in attempts() {
            if !turn(attempt, pause, deadline).await {
                break;
            }
            match self.flush_until(Some(deadline)).await {
                Ok(report) if report.stopped.is_none() => return Ok(()),
                Ok(report) => {
                    let still_there = self.spool_contains(id).await.unwrap_or(true);
                    if !still_there {
                        return Ok(());
                    }
                    last = strip_endpoint_prefix(
                        report.stopped.as_deref().unwrap_or("failed"),
                        self.endpoint_display(),
                    );
                }
                Err(e) => last = format!("could not be reached from the spool ({e})"),
            }
        }
        Err(last)
    }

    async fn spool_contains(&self, id: &str) -> Result<bool, String> {
        let pending = self.pending_file();
        let needle = format!("\"id\":{}", Value::String(id.to_string()));
        blocking(move || {
            let lock = store::lock_spool(&pending)?;
            Ok(store::read_spool(&pending, &lock)?
                .iter()
                .any(|l| l.contains(&needle)))
        })
        .await
        .map_err(|e| e.to_string())
    }

    async fn deliver_with_retries(
        &self,
        record: &AuditRecord,
        deadline: Instant,
    ) -> Result<(), String> {
        let mut last = String::from("was not tried");
        for (attempt, pause) in attempts() {
            if !turn(attempt, pause, deadline).await {
                break;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match self
                .post(record, left.min(self.inner.settings.timeout))
                .await
            {
                Ok(()) => return Ok(()),
                Err(why) => {
                    tracing::debug!(audit_id = %record.id, attempt, "audit outcome not delivered: {why}");
                    last = why;
                }
            }
        }
        Err(last)
    }

    async fn post(&self, record: &AuditRecord, timeout: Duration) -> Result<(), String> {
        self.post_raw(line_of(record).into_bytes(), &record.id, timeout)
            .await
    }

    async fn post_raw(&self, body: Vec<u8>, id: &str, timeout: Duration) -> Result<(), String> {
        if let Some(sink) = &self.inner.sink {
            return match tokio::time::timeout(timeout, sink.accept(body, id.to_string())).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "did not store the record within {}",
                    humantime::format_duration(timeout)
                )),
            };
        }
        let Some(endpoint) = &self.inner.endpoint else {
            return Err("is not configured".to_string());
        };
        let call = Call {
            client: &self.inner.client,
            endpoint,
            token_env: self.inner.settings.token_env.as_deref(),
            timeout,
        };
        remote::post_record(&call, body, id).await
    }

    fn endpoint_display(&self) -> &str {
        self.inner
            .endpoint
            .as_ref()
            .map(|e| e.display.as_str())
            .unwrap_or("(none)")
    }

    async fn append_local(
        &self,
        records: Vec<AuditRecord>,
    ) -> Result<Vec<AuditRecord>, LocalError> {
        let path = self.inner.settings.file.clone();
        blocking(move || {
            let mut records = records;
            store::append_records(&path, &mut records)?;
            Ok(records)
        })
        .await
    }

    async fn spool(&self, lines: Vec<String>) -> Result<(), LocalError> {
        let pending = self.pending_file();
        blocking(move || {
            let lock = store::lock_spool(&pending)?;
            store::spool_append(&pending, &lines, &lock)
        })
        .await
    }

    fn outcome_record(
        &self,
        intent: &AuditRecord,
        delivery: Delivery,
        outcome: RecordedOutcome,
    ) -> AuditRecord {
        self.linked_record(intent, Phase::Outcome, Some(outcome), delivery)
    }

    /// A record about the same action as `intent` (context, action, target, reason), linked
    /// to it by `intent_id`: its outcome, or the break-glass intent that replaces it.
    fn linked_record(
        &self,
        intent: &AuditRecord,
        phase: Phase,
        outcome: Option<RecordedOutcome>,
        delivery: Delivery,
    ) -> AuditRecord {
        self.new_record(
            phase,
            Some(intent.id.clone()),
            intent.context.clone(),
            intent.action.clone(),
            intent.target.clone(),
            intent.reason.clone(),
            outcome,
            delivery,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new_record(
        &self,
        phase: Phase,
        intent_id: Option<String>,
        context: ContextRef,
        action: String,
        target: Value,
        reason: String,
        outcome: Option<RecordedOutcome>,
        delivery: Delivery,
    ) -> AuditRecord {
        AuditRecord {
            version: RECORD_VERSION,
            id: uuid::Uuid::new_v4().to_string(),
            time: now_rfc3339_millis(),
            phase,
            intent_id,
            actor: self.inner.actor.clone(),
            context,
            action,
            target,
            reason,
            outcome,
            delivery,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            session_id: self.inner.session_id.clone(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

/// A fresh session id (UUID v4) for one process run.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The record as the single JSON line kept in the spool and POSTed: the same canonical JSON as
/// its line in the local file.
fn line_of(record: &AuditRecord) -> String {
    // Serializing strings, numbers and a `Value` cannot fail; fall back rather than panic.
    serde_json::to_value(record)
        .map(|v| canonical_json(&v))
        .unwrap_or_else(|_| "{}".to_string())
}

/// The delivery attempts, numbered, with the pause before each: none before the first,
/// then `RETRY_BACKOFF`.
fn attempts() -> impl Iterator<Item = (usize, Duration)> {
    std::iter::once(Duration::ZERO)
        .chain(RETRY_BACKOFF)
        .enumerate()
}

/// Waits for an attempt's turn (the first goes at once); false when out of time.
async fn turn(attempt: usize, pause: Duration, deadline: Instant) -> bool {
    attempt == 0 || sleep_before(deadline, pause).await
}

/// Sleeps `pause` unless that would pass `deadline`; false when out of time.
async fn sleep_before(deadline: Instant, pause: Duration) -> bool {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if left > pause => {
            tokio::time::sleep(pause).await;
            true
        }
        _ => false,
    }
}

fn strip_endpoint_prefix(message: &str, display: &str) -> String {
    message
        .strip_prefix(&format!("audit endpoint {display} "))
        .unwrap_or(message)
        .to_string()
}

/// Runs blocking file work (fsync, waiting on another process's lock) off the async threads.
async fn blocking<T, F>(work: F) -> Result<T, LocalError>
where
    F: FnOnce() -> Result<T, LocalError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| LocalError(format!("audit file task failed: {e}")))?
}
