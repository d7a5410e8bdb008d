//! Delegated execution: `POST /v1/actions` runs a guarded action with the server's own
//! credentials, through the same guard executor as the client, after the server's policy.
//!
//! authenticate -> parse the wire action (the client's fields are claims) -> policy (first
//! matching rule; none: refuse) -> reason rules of that rule -> re-read the target (PostgreSQL:
//! the session must still be pid + backend_start + query_start) -> approval if the rule wants
//! one -> executor: intent (into this database) -> act (identity checks at the backend) ->
//! outcome. Refusals are recorded as an intent with a refused outcome.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::{self, AppState};
use super::auth::Identity;
use super::config::ServerConfig;
use super::error::{JsonBody, error, store_error};
use super::policy::{Approval, Caller, Decision, Rule, ServerPolicy};
use super::requests::{self, NewRequest, RequestRow};
use super::store::{Store, StoreError, Stored};
use crate::metrics::{ApprovalEvent, metrics};
use warroom_core::audit::{AuditLog, AuditSettings, RecordSink};
use warroom_core::backends::kafka::{
    KafkaSource, PartitionReset, RealKafka, ResetPlan, ResetSpec, ResetTo,
};
use warroom_core::backends::postgres::{ConnectSpec, PgSignaller, PgSource, RealPg};
use warroom_core::guard::Outcome;
use warroom_core::guard::kafka::{KafkaAction, KafkaResetTarget};
use warroom_core::guard::kube::KubeAction;
use warroom_core::guard::wire::{ActionReply, ActionRequest};
use warroom_core::guard::{ContextPolicy, Executor, GuardRequest, GuardedAction, Policy};
use warroom_core::protocol::requests::{
    Approvals, ErrorBody, Refusal, RequestState, RequestStatus, Verdict,
};

/// Longest single wait of `GET /v1/actions/{id}/wait`.
const MAX_WAIT: Duration = Duration::from_secs(55);
/// Waiters re-read the row this often even without a notification.
const RECHECK: Duration = Duration::from_secs(2);

/// The server's own contexts (the acting credentials) and its policy.
pub struct Delegation {
    pg: HashMap<String, Arc<RealPg>>,
    kafka: HashMap<String, RealKafka>,
    kube: HashMap<String, Arc<warroom_core::backends::kube::RealKube>>,
    /// `protected` / `read_only` of the server's own contexts: the same guard policy applies.
    contexts: HashMap<String, ContextPolicy>,
    /// The namespaces each Kubernetes context is limited to (empty: all).
    kube_namespaces: HashMap<String, Vec<String>>,
    pub policy: ServerPolicy,
    audit_file: PathBuf,
    /// `server:<replica>:<uuid>`: this process's session, in the namespace clients cannot post.
    session_id: String,
    /// `server:<replica>`: the sender of every record this replica writes.
    pub sender: String,
    /// This process among the replicas: the owner of the requests it runs.
    pub owner: String,
    /// Wakes waiters when any request changes (LISTEN/NOTIFY, [`requests::listen`]).
    pub bell: Arc<tokio::sync::Notify>,
    /// The actions running on this replica, each on its own task: shutdown waits for them.
    pub running: tokio_util::task::TaskTracker,
}

impl Delegation {
    pub fn new(config: &ServerConfig) -> Result<Delegation, String> {
        let process = warroom_core::audit::new_session_id();
        let mut pg = HashMap::new();
        for c in &config.contexts.postgres {
            let spec = ConnectSpec::resolve(&c.url, c.password_env.as_deref())
                .map_err(|e| format!("postgres context {}: {e}", c.name))?;
            pg.insert(c.name.clone(), Arc::new(RealPg::new(spec)));
        }
        let mut kafka = HashMap::new();
        for c in &config.contexts.kafka {
            let mut spec = warroom_core::backends::kafka::KafkaSpec::new(&c.name, &c.brokers);
            spec.properties = c.property_strings();
            let client =
                RealKafka::new(spec).map_err(|e| format!("kafka context {}: {e}", c.name))?;
            kafka.insert(c.name.clone(), client);
        }
        let kube = config
            .contexts
            .kubernetes
            .iter()
            .map(|c| {
                let client = warroom_core::backends::kube::RealKube::new(c.kube_context.clone());
                (c.name.clone(), Arc::new(client))
            })
            .collect();
        let kube_namespaces = config
            .contexts
            .kubernetes
            .iter()
            .map(|c| (c.name.clone(), c.namespaces.clone()))
            .collect();
        let entry = |name: &String, protected: bool, read_only: bool| {
            let policy = ContextPolicy {
                protected,
                read_only,
                runbook_url: None,
            };
            (name.clone(), policy)
        };
        let contexts = config
            .contexts
            .postgres
            .iter()
            .map(|c| entry(&c.name, c.protected, c.read_only))
            .chain(
                config
                    .contexts
                    .kafka
                    .iter()
                    .map(|c| entry(&c.name, c.protected, c.read_only)),
            )
            .chain(
                config
                    .contexts
                    .kubernetes
                    .iter()
                    .map(|c| entry(&c.name, c.protected, c.read_only)),
            )
            .collect();
        Ok(Delegation {
            contexts,
            pg,
            kafka,
            kube,
            kube_namespaces,
            policy: config.policy.clone(),
            audit_file: config.actions_audit_file.clone(),
            session_id: format!("{}:{process}", config.server_sender()),
            sender: config.server_sender(),
            owner: format!("{}/{process}", config.replica),
            bell: Arc::new(tokio::sync::Notify::new()),
            running: tokio_util::task::TaskTracker::new(),
        })
    }

    fn has_context(&self, action: &GuardedAction) -> bool {
        match action {
            GuardedAction::Pg(_) => self.pg.contains_key(action.context()),
            GuardedAction::Kafka(_) => self.kafka.contains_key(action.context()),
            GuardedAction::Kube(_) => self.kube.contains_key(action.context()),
        }
    }

    /// The audit log of one request: actor identity = the requester, records into `store`
    /// sent as this replica, in its own session. For an execution (`running`: the request id),
    /// the intent's id is kept on the request's row first, so whoever resolves the request can
    /// close that intent.
    fn audit(&self, state: &AppState, requester: &str, running: Option<&str>) -> AuditLog {
        let settings = AuditSettings {
            identity: Some(requester.to_string()),
            ..AuditSettings::local(self.audit_file.clone())
        };
        let sink = DatabaseSink {
            queue: state.ingest.clone(),
            store: state.store.clone(),
            sender: self.sender.clone(),
            session_id: self.session_id.clone(),
            running: running.map(str::to_string),
        };
        AuditLog::with_sink(settings, self.session_id.clone(), Arc::new(sink))
    }

    /// The guard executor for one request: this context only, the rule's reason rules.
    fn executor(
        &self,
        audit: AuditLog,
        action: &GuardedAction,
        rule: &Rule,
        note: Value,
    ) -> Executor {
        let context = action.context().to_string();
        let own = self.contexts.get(&context).cloned().unwrap_or_default();
        let policy = Policy {
            global_read_only: false,
            contexts: HashMap::from([(context.clone(), own)]),
        };
        let mut executor =
            Executor::new(audit, policy, rule.reason.clone(), Duration::from_secs(5))
                .with_record_note(note);
        if let Some(pg) = self.pg.get(&context) {
            executor = executor.with_pg(&context, pg.clone() as Arc<dyn PgSignaller>);
        }
        if let Some(k) = self.kafka.get(&context) {
            executor = executor.with_kafka(&context, Arc::new(k.clone()));
        }
        if let Some(k) = self.kube.get(&context) {
            executor = executor.with_kube(&context, k.clone());
        }
        executor
    }

    /// Re-reads a PostgreSQL target from the server's side: the session must still be the one
    /// the client saw; its details in the record are the server's, not the client's claims.
    async fn reread(&self, store: &Store, action: GuardedAction) -> Result<GuardedAction, String> {
        if let GuardedAction::Kube(k) = &action {
            let namespace = match k {
                KubeAction::DeletePod(p) => &p.namespace,
                KubeAction::RolloutRestart(d) => &d.namespace,
            };
            let allowed = self.kube_namespaces.get(k.context());
            if allowed.is_some_and(|ns| !ns.is_empty() && !ns.contains(namespace)) {
                return Err(format!(
                    "namespace {namespace:?} is not one of context {}'s namespaces: nothing was \
                     done",
                    k.context()
                ));
            }
        }
        if let GuardedAction::Kafka(KafkaAction::ResetOffsets(t) | KafkaAction::UndoReset(t)) =
            &action
        {
            let Some(kafka) = self.kafka.get(&t.context) else {
                return Err(format!("the server has no context {}", t.context));
            };
            let undo = matches!(action, GuardedAction::Kafka(KafkaAction::UndoReset(_)));
            let claimed = if undo {
                recorded_reset(store, t).await?
            } else {
                t.plan.clone()
            };
            let plan = replan(kafka, &claimed, undo).await?;
            let live = KafkaResetTarget::new(&t.context, plan, t.undoes.clone());
            return Ok(GuardedAction::Kafka(if undo {
                KafkaAction::UndoReset(live)
            } else {
                KafkaAction::ResetOffsets(live)
            }));
        }
        let GuardedAction::Pg(pg_action) = &action else {
            // The executor re-reads a group's state (Empty, no members) right before deleting
            // or committing; Kubernetes deletes a pod by name with its uid as precondition.
            return Ok(action);
        };
        let t = pg_action.target();
        let Some(pg) = self.pg.get(&t.context) else {
            return Err(format!("the server has no context {}", t.context));
        };
        let snapshot = pg.activity().await.map_err(|e| {
            format!(
                "the server could not read the sessions of {}: {e}",
                t.context
            )
        })?;
        let Some(s) = snapshot.sessions.iter().find(|s| s.pid == t.pid) else {
            return Err(format!(
                "session {} no longer exists: nothing was done",
                t.pid
            ));
        };
        if s.backend_start != t.backend_start {
            return Err(format!(
                "pid {} is now a different session (backend_start differs): nothing was done",
                t.pid
            ));
        }
        if s.query_start != t.query_start {
            return Err(format!(
                "session {} runs another query than the one you saw (query_start differs): \
                 nothing was done",
                t.pid
            ));
        }
        let live = warroom_core::guard::PgTarget::from_session(&t.context, s);
        Ok(GuardedAction::Pg(pg_action.with_target(live)))
    }
}

/// The plan of an undo as the server recorded the reset it reverses: `undo.undoes` must name
/// the intent of a reset this server ran (its own record, on the same context and group, whose
/// request is done), and the offsets put back are the `previous` offsets of that record, never
/// the client's. The partitions must be the ones the client previewed.
async fn recorded_reset(store: &Store, undo: &KafkaResetTarget) -> Result<ResetPlan, String> {
    let group = &undo.plan.group;
    let refuse = |why: String| Err(format!("{why}: nothing was done"));
    let Some(audit_id) = undo.undoes.as_deref() else {
        return refuse("an undo names the audit id of the reset it reverses".into());
    };
    let row = match store.get(audit_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return refuse(format!("the server holds no record {audit_id}")),
        Err(e) => return refuse(format!("the reset's record could not be read ({e})")),
    };
    let Ok(reset) = serde_json::from_str::<warroom_core::audit::AuditRecord>(&row.record) else {
        return refuse(format!("record {audit_id} is unreadable"));
    };
    let own = warroom_core::protocol::is_server_name(&row.received_from);
    if !own
        || reset.phase != warroom_core::audit::Phase::Intent
        || reset.action != warroom_core::guard::ActionName::KafkaResetOffsets.as_str()
        || reset.context.name != undo.context
        || reset.target["group"].as_str() != Some(group.as_str())
    {
        return refuse(format!(
            "record {audit_id} is not a reset of group {group} on {} that this server ran",
            undo.context
        ));
    }
    match requests::status_of_intent(store, audit_id).await {
        Ok(Some(RequestStatus::Done)) => {}
        Ok(status) => {
            return refuse(format!(
                "the reset of record {audit_id} is not done ({})",
                status.map_or("no request", RequestStatus::as_str)
            ));
        }
        Err(e) => return refuse(format!("the reset's request could not be read ({e})")),
    }
    let mut previous: Vec<(String, i32, i64)> = reset.target["partitions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            Some((
                p["topic"].as_str()?.to_string(),
                i32::try_from(p["partition"].as_i64()?).ok()?,
                p["previous"].as_i64()?,
            ))
        })
        .collect();
    previous.sort();
    let mut asked: Vec<(String, i32)> = undo
        .plan
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    asked.sort();
    let recorded: Vec<(String, i32)> = previous.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    if asked != recorded {
        return refuse(format!(
            "the partitions to restore differ from those the reset of record {audit_id} changed"
        ));
    }
    let partitions = undo
        .plan
        .partitions
        .iter()
        .filter_map(|p| {
            let (_, _, target) = previous
                .iter()
                .find(|(t, n, _)| *t == p.topic && *n == p.partition)?;
            Some(PartitionReset {
                target: *target,
                ..p.clone()
            })
        })
        .collect();
    Ok(ResetPlan {
        partitions,
        ..undo.plan.clone()
    })
}

/// A client's reset plan read again on the server. A reset is planned anew from the same
/// `to` and `topic`: the offsets committed and recorded are the server's reading. An undo keeps
/// the targets (the offsets the reset's own record kept) but takes the committed offsets and
/// log bounds from the cluster, and refuses a target outside the log or a partition that is
/// gone. Either way the partitions must be the ones the user previewed.
async fn replan(kafka: &RealKafka, claimed: &ResetPlan, undo: bool) -> Result<ResetPlan, String> {
    let group = &claimed.group;
    let to = if undo { ResetTo::Earliest } else { claimed.to };
    let spec = ResetSpec {
        to,
        topic: claimed.topic.clone(),
    };
    let live = kafka.plan_reset(group, &spec).await.map_err(|e| {
        format!("the server could not re-read the offsets of group {group}: {e}; nothing was done")
    })?;
    let keys = |p: &ResetPlan| {
        let mut k: Vec<(String, i32)> = p
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        k.sort();
        k
    };
    if !undo {
        if keys(&live) != keys(claimed) {
            return Err(format!(
                "the partitions of group {group} changed since the preview: nothing was done \
                 (preview again)"
            ));
        }
        return Ok(live);
    }
    let mut partitions = Vec::new();
    for p in &claimed.partitions {
        let Some(now) = live
            .partitions
            .iter()
            .find(|l| l.topic == p.topic && l.partition == p.partition)
        else {
            return Err(format!(
                "{}[{}] has no committed offset of group {group} now: nothing was done",
                p.topic, p.partition
            ));
        };
        if p.target < now.earliest || p.target > now.latest {
            return Err(format!(
                "{}[{}]: offset {} is outside the log ({}..{}): nothing was done",
                p.topic, p.partition, p.target, now.earliest, now.latest
            ));
        }
        partitions.push(PartitionReset {
            target: p.target,
            ..now.clone()
        });
    }
    Ok(ResetPlan {
        partitions,
        ..claimed.clone()
    })
}

/// Where the server's own records go, as messages name it.
const DATABASE: &str = "the warroom server's database";

/// Stores the executor's records in `audit_records`, through the group-commit writers, sent
/// as the server itself.
struct DatabaseSink {
    queue: super::batch::Queue,
    store: Store,
    sender: String,
    session_id: String,
    /// The request whose execution writes here.
    running: Option<String>,
}

impl std::fmt::Debug for DatabaseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSink")
            .field("sender", &self.sender)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl RecordSink for DatabaseSink {
    fn display(&self) -> String {
        DATABASE.into()
    }

    fn accept(&self, body: Vec<u8>, _id: String) -> BoxFuture<'static, Result<(), String>> {
        let queue = self.queue.clone();
        let store = self.store.clone();
        let received_from = self.sender.clone();
        let session_id = self.session_id.clone();
        let running = self.running.clone();
        Box::pin(async move {
            let origin = super::ingest::Origin::Server {
                session_id: &session_id,
            };
            let incoming = super::ingest::check(&body, origin).map_err(|b| b.0)?;
            if let Some(request_id) = &running
                && incoming.record.phase == warroom_core::audit::Phase::Intent
            {
                // First the row, then the intent: a survivor can then close this intent, and
                // a request already resolved by a sweep is never acted on.
                let still = requests::set_intent(&store, request_id, &incoming.record.id)
                    .await
                    .map_err(|e| e.to_string())?;
                if !still {
                    return Err(format!(
                        "holds request {request_id} as no longer running (its lease was lost)"
                    ));
                }
            }
            let (answer, stored) = tokio::sync::oneshot::channel();
            queue
                .send(super::batch::Pending {
                    incoming,
                    received_from,
                    answer,
                })
                .map_err(|_| "is not writing (the ingest writer stopped)".to_string())?;
            match stored.await {
                Ok(Ok(Stored::New { .. } | Stored::Duplicate)) => Ok(()),
                Ok(Ok(Stored::Conflict)) => Err("holds another record under this id".into()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("is not writing (the ingest writer stopped)".into()),
            }
        })
    }
}

/// How often each replica sweeps the requests (expiries, lost leases).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The per-replica timer of delegated requests: pending ones expire on time and running ones
/// whose replica stopped are resolved within the lease, whether or not anyone reads them.
pub async fn sweep_loop(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match requests::sweep(&state.store).await {
            Ok(abandoned) => {
                for a in abandoned {
                    if let Some(action) = a.action {
                        metrics().action(action, a.status);
                    }
                    close_abandoned(&state, &a).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "request sweep did not run"),
        }
    }
}

/// The intent of a request whose replica stopped mid-action gets its outcome: unknown.
async fn close_abandoned(state: &AppState, a: &requests::Abandoned) {
    let Some(intent_id) = &a.intent_id else {
        return;
    };
    let intent = match state.store.get(intent_id).await {
        Ok(Some(row)) => serde_json::from_str::<warroom_core::audit::AuditRecord>(&row.record)
            .map_err(|e| e.to_string()),
        Ok(None) => Err("not stored (its replica stopped while writing it)".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let intent = match intent {
        Ok(intent) => intent,
        Err(e) => {
            tracing::warn!(request_id = %a.id, intent_id = %intent_id, error = %e,
                "the abandoned request's intent cannot be closed");
            return;
        }
    };
    let audit = state.delegation.audit(state, &a.requester, None);
    let receipt = warroom_core::audit::IntentReceipt::delivered_earlier(intent, DATABASE);
    let detail = format!(
        "request {}: the replica running it stopped before recording the result; the action \
         may or may not have run",
        a.id
    );
    let delivery = audit.record_unknown_outcome(&receipt, detail).await;
    tracing::info!(request_id = %a.id, intent_id = %intent_id, outcome_id = %delivery.id,
        delivered = delivery.delivered, "abandoned request's intent closed: outcome unknown");
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/actions", post(post_action))
        .route("/v1/actions/{id}", get(get_action))
        .route("/v1/actions/{id}/wait", get(wait_action))
        .route("/v1/actions/{id}/approve", post(decide::<true>))
        .route("/v1/actions/{id}/deny", post(decide::<false>))
        .route("/v1/actions/{id}/withdraw", post(withdraw))
        .route("/v1/approvals", get(list_approvals))
}

/// Request `id` as it stands now (a read: the sweep timer expires and resolves requests);
/// 404 when there is none.
async fn current(store: &Store, id: &str) -> Result<RequestRow, Response> {
    match requests::get(store, id).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no action request {id}"),
        )),
        Err(e) => Err(store_error(e)),
    }
}

/// The answer to `POST /v1/actions` once the request is stored: its row, with `status`.
/// The request is stored by then, so a read-back that fails must not say "nothing was done":
/// it is retried a few times, then answered as a 504 (the client's "may or may not have
/// acted"), naming the request to look up.
async fn stored_answer(store: &Store, id: &str, status: StatusCode) -> Response {
    let mut last = String::new();
    for attempt in 0..READ_BACK_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match requests::get(store, id).await {
            Ok(Some(row)) => return (status, axum::Json(row.state.clone())).into_response(),
            Ok(None) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the request was not stored",
                );
            }
            Err(e) => last = e.to_string(),
        }
    }
    error(
        StatusCode::GATEWAY_TIMEOUT,
        format!(
            "request {id} was stored but could not be read back ({last}): it may still be \
             approved or run; look it up with its id"
        ),
    )
}

/// Read-backs of a just-stored request before giving up (half a second apart).
const READ_BACK_ATTEMPTS: usize = 10;

/// What an approval is bound to: this request, its target's identity, its reason.
fn binding(id: &str, target: &Value, reason: &str) -> String {
    let text = format!(
        "{id}\n{}\n{}",
        warroom_core::audit::canonical_json(target),
        hex::encode(Sha256::digest(reason.as_bytes()))
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn caller(identity: &Identity) -> Caller<'_> {
    Caller {
        identity: &identity.0,
        groups: &identity.1,
    }
}

async fn post_action(
    State(state): State<Arc<AppState>>,
    api::Caller(identity): api::Caller,
    JsonBody(request): JsonBody<ActionRequest>,
) -> Response {
    let action = &request.action;
    let delegation = &state.delegation;
    if !delegation.has_context(action) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "the server has no {} context named {:?}",
                action.context_kind().as_str(),
                action.context()
            ),
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    let request_json = serde_json::to_string(&request).unwrap_or_default();
    let bound = binding(&id, &action.audit_target(), &request.reason);
    let filing = Filing {
        store: &state.store,
        id: &id,
        requester: &identity.0,
        request_json: &request_json,
        reason: &request.reason,
        binding: &bound,
        groups: &identity.1,
        owner: &delegation.owner,
    };
    // Policy, then the rule's reason rules: either refusal is recorded and answered 403.
    let decision = delegation
        .policy
        .decide(caller(&identity), action.context(), action.name());
    let refusal = match &decision {
        Decision::Refuse { rule, why } => Some((rule.clone(), why.clone())),
        Decision::Allow(rule) => rule
            .reason
            .validate(&request.reason)
            .err()
            .map(|why| (Some(rule.name.clone()), why)),
    };
    if let Some((rule, why)) = refusal {
        let audit_id = record_refusal(
            &state,
            &identity.0,
            action,
            &request.reason,
            &id,
            rule.as_deref(),
            &why,
        )
        .await;
        let stored = filing
            .store(action, rule.as_deref(), RequestStatus::Refused, &why, None)
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "refused request not stored");
        }
        metrics().action(action.name(), RequestStatus::Refused);
        tracing::info!(request_id = %id, requester = %identity.0, action = action.name().as_str(), rule = ?rule, why = %why, "action refused by policy");
        let message = match &rule {
            Some(r) => format!("refused by server rule {r:?}: {why}"),
            None => format!("refused by the server: {why}"),
        };
        let body = Refusal {
            error: ErrorBody {
                error: message,
                status: StatusCode::FORBIDDEN.as_u16(),
            },
            rule,
            why,
            request_id: id,
            audit_id,
        };
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let Decision::Allow(rule) = decision else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "policy decision lost");
    };
    if let Some(approval) = &rule.approval {
        // The approver sees the server's reading of the target, not the client's claims.
        let claimed = action;
        let action = match delegation.reread(&state.store, action.clone()).await {
            Ok(a) => a,
            Err(why) => {
                let stored = filing
                    .store(
                        claimed,
                        Some(&rule.name),
                        RequestStatus::NotDone,
                        &why,
                        None,
                    )
                    .await;
                if let Err(e) = stored {
                    return store_error(e);
                }
                metrics().action(claimed.name(), RequestStatus::NotDone);
                return stored_answer(&state.store, &id, StatusCode::OK).await;
            }
        };
        let waiting = "waiting for approval";
        let stored = filing
            .store(
                &action,
                Some(&rule.name),
                RequestStatus::Pending,
                waiting,
                Some(approval),
            )
            .await;
        if let Err(e) = stored {
            return store_error(e);
        }
        metrics().approval(ApprovalEvent::Requested, 1);
        tracing::info!(request_id = %id, requester = %identity.0, action = action.name().as_str(), rule = %rule.name, "action waiting for approval");
        return stored_answer(&state.store, &id, StatusCode::ACCEPTED).await;
    }
    if let Err(e) = filing
        .store(action, Some(&rule.name), RequestStatus::Running, "", None)
        .await
    {
        return store_error(e);
    }
    let before = match current(&state.store, &id).await {
        Ok(row) => row.state.clone(),
        Err(r) => return r,
    };
    let note = json!({"request_id": id, "requested_by": identity.0, "rule": rule.name});
    let job = Execution {
        requester: identity.0.clone(),
        request,
        rule: rule.clone(),
        note,
        before,
    };
    execute(&state, job).await
}

/// One action to run, detached from the HTTP request that asked for it (or approved it).
struct Execution {
    requester: String,
    request: ActionRequest,
    rule: Rule,
    note: Value,
    /// The request as it stood when it started running.
    before: RequestState,
}

/// Runs `job` on a task of its own and answers with its result. The handler only waits for
/// it: a caller that disconnects (or times out) cancels its wait, never the action, whose
/// result is stored either way. Shutdown waits for these tasks ([`Delegation::running`]).
async fn execute(state: &Arc<AppState>, job: Execution) -> Response {
    let id = job.before.id.clone();
    let task = {
        let owned = Arc::clone(state);
        state
            .delegation
            .running
            .spawn(async move { run_to_end(&owned, job).await })
    };
    match task.await {
        Ok(done) => axum::Json(done).into_response(),
        Err(e) => {
            tracing::error!(request_id = %id, error = %e, "the task running the action failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the task running request {id} failed ({e}); the request is resolved when \
                     its lease runs out: check it with its id"
                ),
            )
        }
    }
}

/// Runs the action while heartbeating its lease, then stores the result.
async fn run_to_end(state: &AppState, job: Execution) -> RequestState {
    let Execution {
        requester,
        request,
        rule,
        note,
        before,
    } = job;
    let id = before.id.clone();
    let work = run(state, &id, &requester, request, &rule, note);
    tokio::pin!(work);
    let mut beat = tokio::time::interval(requests::HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the claim itself wrote the first heartbeat.
    beat.tick().await;
    let reply = loop {
        tokio::select! {
            reply = &mut work => break reply,
            _ = beat.tick() => match requests::heartbeat(&state.store, &id, &state.delegation.owner).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(request_id = %id,
                    "lease lost while running (a sweep resolved the request); the result is still stored"),
                Err(e) => tracing::warn!(request_id = %id, error = %e, "heartbeat not written"),
            },
        }
    };
    finish(state, before, reply).await
}

/// Runs the requested action through the guard executor; the reply as the client will show it.
async fn run(
    state: &AppState,
    id: &str,
    requester: &str,
    request: ActionRequest,
    rule: &Rule,
    note: Value,
) -> ActionReply {
    let ActionRequest {
        action,
        reason,
        typed_context,
    } = request;
    let delegation = &state.delegation;
    let action = match delegation.reread(&state.store, action).await {
        Ok(a) => a,
        Err(why) => return ActionReply::not_done(why),
    };
    let audit = delegation.audit(state, requester, Some(id));
    let executor = delegation.executor(audit, &action, rule, note);
    let reports = executor
        .run(GuardRequest {
            actions: vec![action],
            reason,
            typed_context,
        })
        .await;
    match reports.first() {
        Some(r) => ActionReply::of(r),
        None => ActionReply::not_done("nothing was run".into()),
    }
}

/// How long a finished action keeps trying to store its result while the database is away.
const STORE_RESULT_FOR: Duration = Duration::from_secs(60);

/// Stores the result (retrying while the database is unavailable: the action ran, its result
/// must not be lost) and answers with the request as it stands; `before` is its state before
/// it ran, the answer when the stored row cannot be read back.
async fn finish(state: &AppState, before: RequestState, reply: ActionReply) -> RequestState {
    let id = before.id.clone();
    let status = match reply.outcome() {
        Outcome::Done => RequestStatus::Done,
        Outcome::Unknown => RequestStatus::Unknown,
        Outcome::Failed => RequestStatus::Failed,
        Outcome::Refused => RequestStatus::NotDone,
    };
    let deadline = tokio::time::Instant::now() + STORE_RESULT_FOR;
    loop {
        match requests::finish(&state.store, &id, status, &reply.detail, &reply).await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(request_id = %id, error = %e, "the result is not stored yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(request_id = %id, error = %e, "the result could not be stored");
                break;
            }
        }
    }
    tracing::info!(request_id = %id, status = status.as_str(), audit_id = ?reply.audit_id, "delegated action finished");
    metrics().action(before.action, status);
    match requests::get(&state.store, &id).await {
        Ok(Some(row)) => row.state,
        Ok(None) | Err(_) => RequestState {
            status,
            detail: reply.detail.clone(),
            reply: Some(reply),
            ..before
        },
    }
}

/// One request as `POST /v1/actions` stores it: what each of its stored states shares.
struct Filing<'a> {
    store: &'a Store,
    id: &'a str,
    requester: &'a str,
    request_json: &'a str,
    reason: &'a str,
    binding: &'a str,
    groups: &'a [String],
    /// This replica process: the owner when the request is stored `running`.
    owner: &'a str,
}

impl Filing<'_> {
    /// Stores the request as `status` under `rule`, described from `action` (the server's
    /// reading of the target, once it has one); `approval` when it waits for approvers.
    async fn store(
        &self,
        action: &GuardedAction,
        rule: Option<&str>,
        status: RequestStatus,
        detail: &str,
        approval: Option<&Approval>,
    ) -> Result<(), StoreError> {
        let description = action.describe().join("\n");
        let summary = action.target_summary();
        let new = NewRequest {
            id: self.id,
            requester: self.requester,
            context: action.context(),
            action: action.name(),
            request: self.request_json,
            summary: &summary,
            description: &description,
            reason: self.reason,
            binding: self.binding,
            rule,
            status,
            detail,
            approvers: approval.map_or(&[], |a| &a.approvers),
            expires_in: approval.map(|a| a.timeout),
            requester_groups: self.groups,
            owner: (status == RequestStatus::Running).then_some(self.owner),
        };
        requests::insert(self.store, &new).await
    }
}

/// A refusal is an intent with a refused outcome in the audit trail: the attempt is on record.
async fn record_refusal(
    state: &AppState,
    requester: &str,
    action: &GuardedAction,
    reason: &str,
    request_id: &str,
    rule: Option<&str>,
    why: &str,
) -> Option<String> {
    let audit = state.delegation.audit(state, requester, None);
    let note = json!({"request_id": request_id, "requested_by": requester, "rule": rule});
    let draft = action.intent_draft(reason, Some(note));
    match audit.record_intent(draft).await {
        Ok(receipt) => {
            let detail = format!("refused by server policy: {why}; nothing was done");
            audit.record_outcome(&receipt, false, detail).await;
            Some(receipt.audit_id().to_string())
        }
        Err(e) => {
            tracing::warn!(error = %e, "refused request not recorded");
            None
        }
    }
}

async fn get_action(
    State(state): State<Arc<AppState>>,
    api::Caller(identity): api::Caller,
    Path(id): Path<String>,
) -> Response {
    match readable(&state, &identity, &id).await {
        Ok(row) => axum::Json(row.state.clone()).into_response(),
        Err(r) => r,
    }
}

/// Request `id` if the caller may read it ([`crate::scope`]); one they may not read is
/// answered like one that does not exist.
async fn readable(state: &AppState, identity: &Identity, id: &str) -> Result<RequestRow, Response> {
    let row = current(&state.store, id).await?;
    if state.readers.of(identity).reads_request(&row) {
        Ok(row)
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            format!("no action request {id}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitParams {
    /// Seconds, at most [`MAX_WAIT`].
    timeout: Option<u64>,
}

/// Long-poll: answers as soon as the request is final, or with its current state after the
/// timeout. Woken by NOTIFY from whichever replica changed it.
async fn wait_action(
    State(state): State<Arc<AppState>>,
    api::Caller(identity): api::Caller,
    axum::Extension(streams): axum::Extension<Arc<crate::connections::Streams>>,
    Path(id): Path<String>,
    params: Result<Query<WaitParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = match params {
        Ok(Query(p)) => Duration::from_secs(p.timeout.unwrap_or(25)).min(MAX_WAIT),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    // Held until the answer: the caller's long-polls are capped (429 beyond).
    let _slot = match streams.open(&identity.0) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let bell = state.delegation.bell.notified();
        tokio::pin!(bell);
        bell.as_mut().enable();
        let row = match readable(&state, &identity, &id).await {
            Ok(row) => row,
            Err(r) => return r,
        };
        let now = tokio::time::Instant::now();
        if row.is_final() || now >= deadline {
            return axum::Json(row.state.clone()).into_response();
        }
        // Wake for the expiry too.
        let expiry = row
            .expires_at
            .and_then(|t| t.duration_since(std::time::SystemTime::now()).ok())
            .map_or(RECHECK, |d| d + Duration::from_millis(20));
        let nap = (deadline - now).min(RECHECK).min(expiry);
        tokio::select! {
            () = &mut bell => {},
            () = tokio::time::sleep(nap) => {},
            // Shutting down: answer the state as it stands (the client waits again elsewhere).
            () = state.stopping.cancelled() => {
                return axum::Json(row.state.clone()).into_response();
            }
        }
    }
}

/// `POST /v1/actions/{id}/approve` (`APPROVING`) and `POST /v1/actions/{id}/deny`.
async fn decide<const APPROVING: bool>(
    State(state): State<Arc<AppState>>,
    api::Caller(identity): api::Caller,
    Path(id): Path<String>,
    JsonBody(decision): JsonBody<Verdict>,
) -> Response {
    let reason = decision.reason.trim().to_string();
    if reason.chars().count() < 10 {
        return error(
            StatusCode::BAD_REQUEST,
            "give your own reason (at least 10 characters)",
        );
    }
    let row = match current(&state.store, &id).await {
        Ok(row) => row,
        Err(r) => return r,
    };
    if identity.is(&row.state.requester) {
        return error(
            StatusCode::FORBIDDEN,
            "you cannot approve or deny your own request: another approver must",
        );
    }
    let who = caller(&identity);
    if !row.state.approvers.iter().any(|a| who.matches(a)) {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "{} is not an approver of this request (approvers: {})",
                identity.0,
                row.state.approvers.join(", ")
            ),
        );
    }
    if row.state.status != RequestStatus::Pending {
        return error(
            StatusCode::CONFLICT,
            format!(
                "request {id} is {}: it cannot be decided again",
                row.state.status.as_str()
            ),
        );
    }
    let bound = decision
        .binding
        .unwrap_or_else(|| row.state.binding.clone());
    if bound != row.state.binding {
        return error(
            StatusCode::CONFLICT,
            "this approval is for another request (target or reason differ): nothing was done",
        );
    }
    // The rule is checked again now: still allowing the requester, and this approver still
    // one of its approvers (the configuration may have changed since the request).
    let rule = if APPROVING {
        match recheck(&state.delegation.policy, &row, who) {
            Ok(rule) => Some(rule.clone()),
            Err(Recheck::Approver(why)) => return error(StatusCode::FORBIDDEN, why),
            Err(Recheck::Request(why)) => {
                let detail = format!("{why}: nothing was done");
                return match requests::refuse_pending(&state.store, &id, &detail).await {
                    Ok(Some(row)) => {
                        metrics().approval(ApprovalEvent::Refused, 1);
                        (StatusCode::FORBIDDEN, axum::Json(row.state)).into_response()
                    }
                    Ok(None) => error(
                        StatusCode::CONFLICT,
                        format!("request {id} was decided, withdrawn or expired meanwhile"),
                    ),
                    Err(e) => store_error(e),
                };
            }
        }
    } else {
        None
    };
    let to = if APPROVING {
        RequestStatus::Running
    } else {
        RequestStatus::Denied
    };
    let owner = &state.delegation.owner;
    let claimed =
        match requests::decide(&state.store, &id, to, &identity.0, &reason, &bound, owner).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                return error(
                    StatusCode::CONFLICT,
                    format!("request {id} was decided, withdrawn or expired meanwhile"),
                );
            }
            Err(e) => return store_error(e),
        };
    tracing::info!(request_id = %id, by = %identity.0, approved = APPROVING, "action request decided");
    count_decision(&claimed.state, APPROVING);
    match rule {
        Some(rule) => execute_approved(&state, claimed, rule).await,
        None => axum::Json(claimed.state).into_response(),
    }
}

/// Counts an approval or denial and its time from the request (both times are the database's).
fn count_decision(request: &RequestState, approved: bool) {
    let what = if approved {
        ApprovalEvent::Approved
    } else {
        ApprovalEvent::Denied
    };
    metrics().approval(what, 1);
    let at = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    let decided = request.decision.as_ref().and_then(|d| at(&d.at));
    if let (Some(asked), Some(decided)) = (at(&request.created_at), decided)
        && let Ok(after) = decided.duration_since(asked)
    {
        metrics().decided_after(what, after);
    }
}

/// Why an approval is not taken on a second look at the policy.
enum Recheck {
    /// The request itself no longer passes: it is refused for good.
    Request(String),
    /// This approver may not approve it (another still may).
    Approver(String),
}

/// The rule of a pending request, as the policy stands now: the requester (with the groups
/// they had when asking) must still fall under the same rule, which must still allow it, pass
/// its reason, and list `approver` among its approvers.
fn recheck<'a>(
    policy: &'a ServerPolicy,
    row: &RequestRow,
    approver: Caller<'_>,
) -> Result<&'a Rule, Recheck> {
    let r = &row.state;
    let requester = Caller {
        identity: &r.requester,
        groups: &row.requester_groups,
    };
    let asked = r.rule.as_deref().unwrap_or_default();
    let rule = match policy.decide(requester, &r.context, r.action) {
        Decision::Allow(rule) if rule.name == asked => rule,
        Decision::Allow(rule) => {
            return Err(Recheck::Request(format!(
                "the request now falls under rule {:?}, not {asked:?}: ask again",
                rule.name
            )));
        }
        Decision::Refuse { why, .. } => return Err(Recheck::Request(why)),
    };
    if let Err(why) = rule.reason.validate(&r.reason) {
        return Err(Recheck::Request(format!(
            "rule {asked:?} no longer takes the reason: {why}"
        )));
    }
    match &rule.approval {
        Some(a) if !a.approvers.iter().any(|e| approver.matches(e)) => {
            Err(Recheck::Approver(format!(
                "{} is no longer an approver under rule {asked:?} (approvers: {})",
                approver.identity,
                a.approvers.join(", ")
            )))
        }
        Some(_) | None => Ok(rule),
    }
}

/// Runs an approved request (once: only the replica whose UPDATE claimed it gets here).
async fn execute_approved(state: &Arc<AppState>, row: RequestRow, rule: Rule) -> Response {
    let request =
        match warroom_core::guard::wire::from_json::<ActionRequest>(row.request.as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                let reply = ActionReply::not_done(format!("stored request unreadable: {e}"));
                return axum::Json(finish(state, row.state.clone(), reply).await).into_response();
            }
        };
    let r = &row.state;
    let note = json!({
        "request_id": r.id,
        "requested_by": r.requester,
        "requested_at": r.created_at,
        "rule": rule.name,
        "approved_by": r.decision.as_ref().map(|d| &d.by),
        "approver_reason": r.decision.as_ref().map(|d| &d.reason),
        "approved_at": r.decision.as_ref().map(|d| &d.at),
    });
    let job = Execution {
        requester: r.requester.clone(),
        request,
        rule,
        note,
        before: row.state.clone(),
    };
    execute(state, job).await
}

async fn withdraw(
    State(state): State<Arc<AppState>>,
    api::Caller(identity): api::Caller,
    Path(id): Path<String>,
) -> Response {
    match requests::withdraw(&state.store, &id, &identity.0).await {
        Ok(Some(row)) => {
            metrics().approval(ApprovalEvent::Withdrawn, 1);
            axum::Json(row.state.clone()).into_response()
        }
        Ok(None) => error(
            StatusCode::CONFLICT,
            format!("request {id} is not a pending request of {}", identity.0),
        ),
        Err(e) => store_error(e),
    }
}

/// `GET /v1/approvals`: the pending requests the caller may read (their own, those they may
/// decide; all for auditors), each with whether the caller may decide it.
async fn list_approvals(
    State(state): State<Arc<AppState>>,
    api::Caller(identity): api::Caller,
) -> Response {
    let who = caller(&identity);
    let scope = state.readers.of(&identity);
    match requests::pending(&state.store).await {
        Ok(rows) => {
            let requests: Vec<RequestState> = rows
                .iter()
                .filter(|r| scope.reads_request(r))
                .map(|r| RequestState {
                    can_decide: Some(
                        !identity.is(&r.state.requester)
                            && r.state.approvers.iter().any(|a| who.matches(a)),
                    ),
                    ..r.state.clone()
                })
                .collect();
            axum::Json(Approvals { requests }).into_response()
        }
        Err(e) => store_error(e),
    }
}
