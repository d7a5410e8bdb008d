//! Delegated action requests in PostgreSQL (`action_requests`): their state, the approval
//! decision, and the doorbell (`NOTIFY warroom_actions, '<id>'`) that wakes every replica's
//! waiters when a request changes. State is in the table; the notification only says "look".

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use warroom_core::guard::ActionName;
use warroom_core::guard::wire::ActionReply;
use warroom_core::protocol::requests::{Decided, RequestState, RequestStatus};

use super::store::{FromRow, Store, StoreError};

/// The notification channel.
pub const CHANNEL: &str = "warroom_actions";

/// A request to store.
pub struct NewRequest<'a> {
    pub id: &'a str,
    pub requester: &'a str,
    pub context: &'a str,
    pub action: ActionName,
    pub request: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    pub reason: &'a str,
    pub binding: &'a str,
    pub rule: Option<&'a str>,
    pub status: RequestStatus,
    pub detail: &'a str,
    pub approvers: &'a [String],
    pub expires_in: Option<Duration>,
    /// The requester's groups as authenticated: the rule is checked again when it executes.
    pub requester_groups: &'a [String],
    /// The replica process that runs it now (stored `running`), else `None`.
    pub owner: Option<&'a str>,
}

/// One row: the request as the API tells it, and what only the server reads.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub state: RequestState,
    /// The client's `ActionRequest` as it was posted (JSON): what an approval runs.
    pub request: String,
    pub expires_at: Option<SystemTime>,
    pub requester_groups: Vec<String>,
}

const COLUMNS: &str = "id, created_at, requester, context_name, action, request, summary, \
    description, reason, binding, rule, status, detail, approvers, expires_at, decided_by, \
    decided_reason, decided_at, finished_at, reply, requester_groups";

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl FromRow for RequestRow {
    fn from_row(r: &tokio_postgres::Row) -> Result<RequestRow, StoreError> {
        let id: String = r.try_get(0)?;
        // Rows are written from the registry; one this replica cannot read is a failure, not
        // a guess (a newer replica's action or status is never shown as another).
        let action: String = r.try_get(4)?;
        let action = ActionName::parse(&action).ok_or_else(|| {
            StoreError::Failed(format!("request {id} has an unknown action {action:?}"))
        })?;
        let status: String = r.try_get(11)?;
        let status = RequestStatus::parse(&status).ok_or_else(|| {
            StoreError::Failed(format!("request {id} has an unknown status {status:?}"))
        })?;
        let approvers: String = r.try_get(13)?;
        let description: String = r.try_get(7)?;
        let expires_at: Option<SystemTime> = r.try_get(14)?;
        let created_at: SystemTime = r.try_get(1)?;
        let decided_at: Option<SystemTime> = r.try_get(17)?;
        let finished_at: Option<SystemTime> = r.try_get(18)?;
        let reply: Option<String> = r.try_get(19)?;
        let requester_groups: String = r.try_get(20)?;
        let state = RequestState {
            id,
            created_at: time(created_at),
            requester: r.try_get(2)?,
            context: r.try_get(3)?,
            action,
            summary: r.try_get(6)?,
            description: description.lines().map(str::to_string).collect(),
            reason: r.try_get(8)?,
            binding: r.try_get(9)?,
            rule: r.try_get(10)?,
            status,
            detail: r.try_get(12)?,
            approvers: serde_json::from_str(&approvers).unwrap_or_default(),
            expires_at: expires_at.map(time),
            decision: decided(r.try_get(15)?, r.try_get(16)?, decided_at),
            finished_at: finished_at.map(time),
            reply: reply.and_then(|r| serde_json::from_str::<ActionReply>(&r).ok()),
            can_decide: None,
        };
        Ok(RequestRow {
            state,
            request: r.try_get(5)?,
            expires_at,
            requester_groups: serde_json::from_str(&requester_groups).unwrap_or_default(),
        })
    }
}

/// From the row's `decided_*` columns ([`decide`] writes them together): a decision needs its
/// decider and its time; a row written by hand without the reason reads as an empty reason.
fn decided(by: Option<String>, reason: Option<String>, at: Option<SystemTime>) -> Option<Decided> {
    Some(Decided {
        by: by?,
        reason: reason.unwrap_or_default(),
        at: time(at?),
    })
}

impl RequestRow {
    pub fn is_final(&self) -> bool {
        self.state.status.is_final()
    }
}

pub async fn insert(store: &Store, r: &NewRequest<'_>) -> Result<(), StoreError> {
    let approvers = serde_json::to_string(r.approvers).unwrap_or_else(|_| "[]".into());
    let groups = serde_json::to_string(r.requester_groups).unwrap_or_else(|_| "[]".into());
    let expires_ms = r.expires_in.map(|d| d.as_millis() as f64);
    store
        .execute(
            "INSERT INTO action_requests (id, requester, context_name, action, request, summary, \
             description, reason, binding, rule, status, detail, approvers, expires_at, \
             requester_groups, owner_replica, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             now() + make_interval(secs => $14::float8 / 1000), $15, $16, \
             CASE WHEN $16::text IS NULL THEN NULL ELSE now() END)",
            &[
                &r.id,
                &r.requester,
                &r.context,
                &r.action.as_str(),
                &r.request,
                &r.summary,
                &r.description,
                &r.reason,
                &r.binding,
                &r.rule,
                &r.status.as_str(),
                &r.detail,
                &approvers,
                &expires_ms,
                &groups,
                &r.owner,
            ],
        )
        .await?;
    Ok(())
}

pub async fn get(store: &Store, id: &str) -> Result<Option<RequestRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM action_requests WHERE id = $1");
    store.row(&sql, &[&id]).await
}

/// A running request's owner writes its heartbeat this often...
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// ...and one whose heartbeat is older than this has lost its replica (killed, partitioned).
pub const LEASE: Duration = Duration::from_secs(15);

const ABANDONED: &str = "the replica running it stopped before recording the result: the action \
                         may or may not have run; check the target and the audit trail";
const ABANDONED_BEFORE_INTENT: &str = "the replica running it stopped before recording the \
                                       intent: the action did not run; nothing was done";

/// A running request whose replica stopped, resolved by [`sweep`].
#[derive(Debug, Clone)]
pub struct Abandoned {
    pub id: String,
    pub requester: String,
    /// `None` for a name this replica does not know (a newer replica's action).
    pub action: Option<ActionName>,
    /// Its action's intent, when one was recorded (then its outcome is unknown).
    pub intent_id: Option<String>,
    /// What the sweep made of it: `unknown`, or `not_done` when no intent was recorded.
    pub status: RequestStatus,
}

/// One pass of the per-replica timer: every pending request past its expiry becomes
/// `expired`; every running request whose owner's heartbeat is older than [`LEASE`] becomes
/// `unknown` (its intent was recorded: the action may have run) or `not_done` (an owned
/// request without an intent: the executor never acts before its intent is stored; a row
/// without an owner predates owners and stays `unknown`). Rings the bell for each. Each row is
/// changed by one statement of one replica: two sweeps never resolve the same request.
pub async fn sweep(store: &Store) -> Result<Vec<Abandoned>, StoreError> {
    let client = store.client().await?;
    let mut ids = Vec::new();
    for row in client
        .query(
            "UPDATE action_requests SET status = 'expired', finished_at = now(), \
             detail = 'no approval before the request expired: nothing was done' \
             WHERE status = 'pending' AND expires_at <= now() RETURNING id",
            &[],
        )
        .await?
    {
        ids.push(row.try_get::<_, String>(0)?);
    }
    let expired = ids.len() as u64;
    if expired > 0 {
        crate::metrics::metrics().approval(crate::metrics::ApprovalEvent::Expired, expired);
    }
    let unknown = serde_json::to_string(&ActionReply {
        executed: true,
        unknown: true,
        ..ActionReply::not_done(ABANDONED.into())
    })
    .unwrap_or_default();
    let not_run = serde_json::to_string(&ActionReply::not_done(ABANDONED_BEFORE_INTENT.into()))
        .unwrap_or_default();
    let mut abandoned = Vec::new();
    for row in client
        .query(
            "UPDATE action_requests SET finished_at = now(), \
               status = CASE WHEN intent_id IS NULL AND owner_replica IS NOT NULL THEN 'not_done' ELSE 'unknown' END, \
               detail = CASE WHEN intent_id IS NULL AND owner_replica IS NOT NULL THEN $2 ELSE $1 END, \
               reply = CASE WHEN intent_id IS NULL AND owner_replica IS NOT NULL THEN $4 ELSE $3 END \
             WHERE status = 'running' \
             AND COALESCE(heartbeat_at, decided_at, created_at) < now() - make_interval(secs => $5) \
             RETURNING id, requester, intent_id, owner_replica, action, status",
            &[
                &ABANDONED,
                &ABANDONED_BEFORE_INTENT,
                &unknown,
                &not_run,
                &LEASE.as_secs_f64(),
            ],
        )
        .await?
    {
        let action: String = row.try_get(4)?;
        let status: String = row.try_get(5)?;
        let a = Abandoned {
            id: row.try_get(0)?,
            requester: row.try_get(1)?,
            action: ActionName::parse(&action),
            intent_id: row.try_get(2)?,
            status: RequestStatus::parse(&status).unwrap_or(RequestStatus::Unknown),
        };
        let owner: Option<String> = row.try_get(3)?;
        tracing::warn!(request_id = %a.id, owner = ?owner, intent_recorded = a.intent_id.is_some(),
            "action request lost its replica mid-action: resolved");
        ids.push(a.id.clone());
        abandoned.push(a);
    }
    for id in ids {
        ring(&client, &id).await?;
    }
    Ok(abandoned)
}

/// The owner of a running request says it still runs it; false when the request is no longer
/// its own running request (a sweep resolved it meanwhile).
pub async fn heartbeat(store: &Store, id: &str, owner: &str) -> Result<bool, StoreError> {
    let changed = store
        .execute(
            "UPDATE action_requests SET heartbeat_at = now() \
             WHERE id = $1 AND status = 'running' AND owner_replica = $2",
            &[&id, &owner],
        )
        .await?;
    Ok(changed == 1)
}

/// Keeps the id of the audit intent of the request's action, before that intent is stored
/// (and so before the action can run); false when the request is no longer running (a sweep
/// resolved it: then the intent must not be written and the action must not run).
pub async fn set_intent(store: &Store, id: &str, intent_id: &str) -> Result<bool, StoreError> {
    let changed = store
        .execute(
            "UPDATE action_requests SET intent_id = $2 WHERE id = $1 AND status = 'running'",
            &[&id, &intent_id],
        )
        .await?;
    Ok(changed == 1)
}

/// The status of the request whose action recorded intent `intent_id`, if any.
pub async fn status_of_intent(
    store: &Store,
    intent_id: &str,
) -> Result<Option<RequestStatus>, StoreError> {
    let client = store.client().await?;
    let Some(row) = client
        .query_opt(
            "SELECT status FROM action_requests WHERE intent_id = $1",
            &[&intent_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let status: String = row.try_get(0)?;
    RequestStatus::parse(&status)
        .map(Some)
        .ok_or_else(|| StoreError::Failed(format!("unknown request status {status:?}")))
}

/// The pending requests, oldest first (the sweep marks expired ones).
pub async fn pending(store: &Store) -> Result<Vec<RequestRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM action_requests WHERE status = 'pending' ORDER BY created_at, id"
    );
    store.rows(&sql, &[]).await
}

/// pending -> `to` in one statement, only if still pending, unexpired and (for an approval)
/// the binding the decider saw is this request's; an approval makes `owner` its runner.
/// `None`: it was not pending any more.
pub async fn decide(
    store: &Store,
    id: &str,
    to: RequestStatus,
    who: &str,
    reason: &str,
    binding: &str,
    owner: &str,
) -> Result<Option<RequestRow>, StoreError> {
    transition(
        store,
        id,
        &format!(
            "UPDATE action_requests SET status = $2, decided_by = $3, decided_reason = $4, \
             decided_binding = $5, decided_at = now(), \
             detail = CASE WHEN $2 = 'denied' \
                 THEN 'denied by ' || $3 || ': ' || $4 || '; nothing was done' \
                 ELSE 'approved by ' || $3 || ': running' END, \
             finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE now() END, \
             owner_replica = CASE WHEN $2 = 'running' THEN $6 END, \
             heartbeat_at = CASE WHEN $2 = 'running' THEN now() END \
             WHERE id = $1 AND status = 'pending' AND expires_at > now() AND binding = $5 \
             RETURNING {COLUMNS}"
        ),
        &[&id, &to.as_str(), &who, &reason, &binding, &owner],
    )
    .await
}

/// A pending request the policy no longer allows is refused, for good.
pub async fn refuse_pending(
    store: &Store,
    id: &str,
    detail: &str,
) -> Result<Option<RequestRow>, StoreError> {
    transition(
        store,
        id,
        &format!(
            "UPDATE action_requests SET status = 'refused', finished_at = now(), detail = $2 \
             WHERE id = $1 AND status = 'pending' RETURNING {COLUMNS}"
        ),
        &[&id, &detail],
    )
    .await
}

/// The requester withdraws a pending request.
pub async fn withdraw(
    store: &Store,
    id: &str,
    requester: &str,
) -> Result<Option<RequestRow>, StoreError> {
    transition(
        store,
        id,
        &format!(
            "UPDATE action_requests SET status = 'withdrawn', finished_at = now(), \
             detail = 'withdrawn by the requester: nothing was done' \
             WHERE id = $1 AND status = 'pending' AND requester = $2 RETURNING {COLUMNS}"
        ),
        &[&id, &requester],
    )
    .await
}

/// Stores the result of running the action and rings the bell. A request a sweep resolved as
/// `unknown` meanwhile (its heartbeats did not get through) gets the real result: it is known.
pub async fn finish(
    store: &Store,
    id: &str,
    status: RequestStatus,
    detail: &str,
    reply: &ActionReply,
) -> Result<(), StoreError> {
    let reply = serde_json::to_string(reply).unwrap_or_default();
    store
        .execute(
            "UPDATE action_requests SET status = $2, detail = $3, reply = $4, finished_at = now() \
             WHERE id = $1 AND status IN ('running', 'unknown')",
            &[&id, &status.as_str(), &detail, &reply],
        )
        .await?;
    ring(&store.client().await?, id).await
}

/// Runs a `pending -> ...` statement (`RETURNING` the columns): the request it changed, if it
/// did, and then the bell rings for it.
async fn transition(
    store: &Store,
    id: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<RequestRow>, StoreError> {
    let client = store.client().await?;
    let row = client.query_opt(sql, params).await?;
    let row = row.as_ref().map(RequestRow::from_row).transpose()?;
    if row.is_some() {
        ring(&client, id).await?;
    }
    Ok(row)
}

async fn ring(client: &deadpool_postgres::Object, id: &str) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])
        .await?;
    Ok(())
}

/// Listens on [`CHANNEL`] on its own connection and wakes `bell`'s waiters on every
/// notification; reconnects after a failure. Waiters also re-check on a slow timer, so a lost
/// connection delays them but never strands them.
pub async fn listen(spec: warroom_core::backends::postgres::ConnectSpec, bell: Arc<Notify>) {
    loop {
        if let Err(e) = listen_once(&spec, &bell).await {
            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
        }
        // Anything may have happened meanwhile.
        bell.notify_waiters();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(
    spec: &warroom_core::backends::postgres::ConnectSpec,
    bell: &Notify,
) -> Result<(), String> {
    use futures::StreamExt as _;
    let (mut config, tls) = spec.pool_parts()?;
    config.application_name("warroom-server-listen");
    config.connect_timeout(Duration::from_secs(3));
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {CHANNEL}");
    let listening = client.batch_execute(&statement);
    tokio::pin!(listening);
    // Drive the connection while LISTEN runs.
    loop {
        tokio::select! {
            done = &mut listening => {
                done.map_err(|e| e.to_string())?;
                break;
            }
            msg = messages.next() => match msg {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("connection closed".into()),
            },
        }
    }
    bell.notify_waiters();
    while let Some(msg) = messages.next().await {
        match msg {
            Ok(tokio_postgres::AsyncMessage::Notification(_)) => bell.notify_waiters(),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("connection closed".into())
}
