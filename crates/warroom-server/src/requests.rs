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
}

/// One row: the request as the API tells it, and what only the server reads.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub state: RequestState,
    /// The client's `ActionRequest` as it was posted (JSON): what an approval runs.
    pub request: String,
    pub expires_at: Option<SystemTime>,
}

const COLUMNS: &str = "id, created_at, requester, context_name, action, request, summary, \
    description, reason, binding, rule, status, detail, approvers, expires_at, decided_by, \
    decided_reason, decided_at, finished_at, reply";

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
    let expires_ms = r.expires_in.map(|d| d.as_millis() as f64);
    store
        .execute(
            "INSERT INTO action_requests (id, requester, context_name, action, request, summary, \
             description, reason, binding, rule, status, detail, approvers, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             now() + make_interval(secs => $14::float8 / 1000))",
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
            ],
        )
        .await?;
    Ok(())
}

pub async fn get(store: &Store, id: &str) -> Result<Option<RequestRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM action_requests WHERE id = $1");
    store.row(&sql, &[&id]).await
}

/// A request still `running` this long after it started has lost its replica: the executor
/// gives up on a destructive call after its action timeout, so a live replica finishes well
/// within it (the margin covers the re-read and the audit writes).
pub const ABANDONED_AFTER: Duration =
    Duration::from_secs(warroom_core::guard::executor::DEFAULT_ACTION_TIMEOUT.as_secs() + 120);

const ABANDONED: &str = "the replica running it stopped before recording the result: the action \
                         may or may not have run; check the target and the audit trail";

/// Marks every pending request past its expiry as expired, and every request `running` for
/// longer than [`ABANDONED_AFTER`] as `unknown` (its replica died mid-action); rings the bell
/// for each, so waiting requesters see it.
pub async fn expire_due(store: &Store) -> Result<(), StoreError> {
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
    let reply = serde_json::to_string(&ActionReply {
        executed: true,
        unknown: true,
        ..ActionReply::not_done(ABANDONED.into())
    })
    .unwrap_or_default();
    for row in client
        .query(
            "UPDATE action_requests SET status = 'unknown', finished_at = now(), detail = $1, \
             reply = $2 WHERE status = 'running' \
             AND COALESCE(decided_at, created_at) < now() - make_interval(secs => $3) \
             RETURNING id",
            &[&ABANDONED, &reply, &ABANDONED_AFTER.as_secs_f64()],
        )
        .await?
    {
        let id: String = row.try_get(0)?;
        tracing::warn!(request_id = %id, "action request abandoned mid-action: marked unknown");
        ids.push(id);
    }
    for id in ids {
        ring(&client, &id).await?;
    }
    Ok(())
}

/// The pending requests, oldest first (expired ones are marked first).
pub async fn pending(store: &Store) -> Result<Vec<RequestRow>, StoreError> {
    expire_due(store).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM action_requests WHERE status = 'pending' ORDER BY created_at, id"
    );
    store.rows(&sql, &[]).await
}

/// pending -> `to` in one statement, only if still pending, unexpired and (for an approval)
/// the binding the decider saw is this request's. `None`: it was not pending any more.
pub async fn decide(
    store: &Store,
    id: &str,
    to: RequestStatus,
    who: &str,
    reason: &str,
    binding: &str,
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
             finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE now() END \
             WHERE id = $1 AND status = 'pending' AND expires_at > now() AND binding = $5 \
             RETURNING {COLUMNS}"
        ),
        &[&id, &to.as_str(), &who, &reason, &binding],
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

/// Stores the result of running the action and rings the bell.
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
             WHERE id = $1",
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
