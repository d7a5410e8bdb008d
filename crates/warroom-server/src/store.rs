//! The server's state, all of it in PostgreSQL: the pool, inserts and queries.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::Value;

use super::config::ServerConfig;
use super::ingest::Incoming;
use super::scope::Scope;
use warroom_core::audit::GENESIS_HASH;
use warroom_core::protocol::{AuditFilter, ServerRecord};

/// How long a request waits for a pooled connection (or a new one) before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(3);

/// The database cannot be used right now (answered with 503), or a statement failed (500).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the audit database is unavailable: {0}")]
    Unavailable(String),
    #[error("the audit database failed: {0}")]
    Failed(String),
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // Errors with an SQLSTATE came from a working server, except the connection and
        // shutdown classes (08, 57P): those, and errors without a code (I/O), mean "down".
        match e.code().map(|c| c.code().to_string()) {
            Some(code) if !code.starts_with("08") && !code.starts_with("57P") => {
                StoreError::Failed(e.to_string())
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// A struct read from a row whose columns are named like its fields.
pub trait FromRow: Sized {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, StoreError>;
}

/// `impl FromRow for Type`, each listed field read from the column of its name (the query
/// names them: `SELECT owner AS actor, ...`).
macro_rules! from_row {
    ($ty:ident: $($field:ident),+ $(,)?) => {
        impl $crate::store::FromRow for $ty {
            fn from_row(row: &tokio_postgres::Row) -> Result<Self, $crate::store::StoreError> {
                Ok($ty { $($field: row.try_get(stringify!($field))?),+ })
            }
        }
    };
}
pub(super) use from_row;

/// What became of a POSTed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Inserted now (committed).
    New { prev_seen: bool },
    /// The same record was already stored: same answer, nothing written.
    Duplicate,
    /// A different record is stored under this id.
    Conflict,
}

/// One stored record with what the server knows about it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub time: SystemTime,
    pub record: String,
    pub received_from: String,
    pub received_at: SystemTime,
    pub identity_mismatch: bool,
    pub hash_ok: bool,
    pub prev_seen: bool,
}

impl Row {
    /// What the read API serves: the record as sent, plus the server's stamps.
    pub fn to_wire(&self) -> ServerRecord<Value> {
        ServerRecord {
            record: serde_json::from_str(&self.record).unwrap_or(Value::Null),
            received_from: self.received_from.clone(),
            received_at: humantime::format_rfc3339_millis(self.received_at).to_string(),
            identity_mismatch: self.identity_mismatch,
            hash_ok: self.hash_ok,
            prev_seen: self.prev_seen,
        }
    }
}

/// A page of `GET /v1/audit` to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: AuditFilter,
    /// Keyset cursor: records received strictly before this (received_at, id).
    pub before: Option<(SystemTime, String)>,
    pub limit: usize,
}

/// One record of a session, for the chain check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRow {
    pub id: String,
    /// The authenticated sender: a chain is one sender's.
    pub received_from: String,
    pub received_at: SystemTime,
    pub time: SystemTime,
    pub hash: String,
    pub prev_hash: String,
    pub hash_ok: bool,
    /// `prev_hash` is genesis or the hash of a stored record of the same sender (of any of
    /// its sessions).
    pub prev_known: bool,
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// A pool for `config.database`; connects lazily.
    pub fn new(config: &ServerConfig) -> Result<Store, String> {
        let (mut pg, tls) = config.database.pool_parts()?;
        pg.connect_timeout(Duration::from_secs(3));
        pg.application_name("warroom-server");
        let manager = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| format!("database pool: {e}"))?;
        Ok(Store { pool })
    }

    /// The pool's size, idle connections and waiters (for `GET /metrics`).
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// The rows of one statement, each read as a `T`.
    pub async fn rows<T: FromRow>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.client().await?.query(sql, params).await?;
        rows.iter().map(T::from_row).collect()
    }

    /// The row of a statement that answers at most one (by its key), read as a `T`.
    pub async fn row<T: FromRow>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// Runs one statement; answers the number of rows it changed.
    pub async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        Ok(self.client().await?.execute(sql, params).await?)
    }

    /// The database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Inserts `incoming` unless its id is taken; committed when this returns `New`. A batch of
    /// one: the fallback of [`Store::insert_batch`], record by record.
    pub async fn insert_one(
        &self,
        incoming: &Incoming,
        received_from: &str,
    ) -> Result<Stored, StoreError> {
        let mut answers = self.insert_batch(&[(incoming, received_from)]).await?;
        answers
            .pop()
            .ok_or_else(|| StoreError::Failed("the insert answered nothing".into()))
    }

    /// Inserts the records whose ids are not taken, in one statement and one commit; answers
    /// per record, in order. The caller keeps records that follow one another (or repeat an
    /// id) out of one batch: the statement does not see its own rows.
    pub async fn insert_batch(
        &self,
        rows: &[(&Incoming, &str)],
    ) -> Result<Vec<Stored>, StoreError> {
        let client = self.client().await?;
        let c = super::batch::Columns::of(rows);
        let statement = client
            .prepare_cached(
                "INSERT INTO audit_records (id, time, received_from, actor_identity, \
                 identity_mismatch, phase, action, context_kind, context_name, session_id, \
                 prev_hash, hash, hash_ok, prev_seen, record, request_id) \
                 SELECT t.id, t.time, t.who, t.ident, t.mismatch, t.phase, t.action, t.kind, \
                   t.ctx, t.session, t.prev, t.hash, t.hash_ok, \
                   (t.prev = $15 OR EXISTS \
                     (SELECT 1 FROM audit_records p \
                     WHERE p.hash = t.prev AND p.received_from = t.who)), t.record, \
                   CASE WHEN t.who LIKE 'server:%' \
                     THEN t.record::jsonb #>> '{target,delegation,request_id}' END \
                 FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], \
                   $5::bool[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                   $11::text[], $12::text[], $13::bool[], $14::text[]) \
                   AS t(id, time, who, ident, mismatch, phase, action, kind, ctx, session, \
                   prev, hash, hash_ok, record) \
                 ON CONFLICT (id) DO NOTHING \
                 RETURNING id, prev_seen",
            )
            .await?;
        let inserted = client
            .query(
                &statement,
                &[
                    &c.id,
                    &c.time,
                    &c.received_from,
                    &c.actor_identity,
                    &c.mismatch,
                    &c.phase,
                    &c.action,
                    &c.context_kind,
                    &c.context_name,
                    &c.session_id,
                    &c.prev_hash,
                    &c.hash,
                    &c.hash_ok,
                    &c.record,
                    &GENESIS_HASH,
                ],
            )
            .await?;
        let mut new: HashMap<String, bool> = HashMap::with_capacity(inserted.len());
        for row in &inserted {
            new.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let taken: Vec<&String> = c.id.iter().filter(|id| !new.contains_key(*id)).collect();
        let mut existing: HashMap<String, String> = HashMap::new();
        if !taken.is_empty() {
            for row in client
                .query(
                    "SELECT id, record FROM audit_records WHERE id = ANY($1)",
                    &[&taken],
                )
                .await?
            {
                existing.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        Ok(rows
            .iter()
            .map(|(incoming, _)| {
                let id = &incoming.record.id;
                match (new.get(id), existing.get(id)) {
                    (Some(prev_seen), _) => Stored::New {
                        prev_seen: *prev_seen,
                    },
                    (None, Some(record)) if *record == incoming.canonical => Stored::Duplicate,
                    // A different body, or deleted by retention in between: nothing to match.
                    _ => Stored::Conflict,
                }
            })
            .collect())
    }

    /// Newest received first; at most `query.limit + 1` rows (the extra one says there is a
    /// next page).
    pub async fn list(&self, query: &Query, scope: &Scope) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let filter = &query.filter;
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = Vec::new();
        if let Some((clause, me, keys)) = scope.records_clause(1) {
            clauses.push(clause);
            params.push(Box::new(me));
            params.push(Box::new(keys));
        }
        let mut add = |clause: &str, value: Box<dyn tokio_postgres::types::ToSql + Sync + Send>| {
            params.push(value);
            clauses.push(clause.replace('?', &format!("${}", params.len())));
        };
        // The window is on what the records say; the order (below) is the server's receive
        // time, so a record dated in the future cannot sit on top of the real ones.
        if let Some(t) = filter.window.since {
            add("time >= ?", Box::new(t));
        }
        if let Some(t) = filter.window.until {
            add("time < ?", Box::new(t));
        }
        if let Some(a) = &filter.actor {
            // A person's records: those they sent, and those the server wrote acting for them.
            add(
                "(received_from = ? OR (received_from LIKE 'server:%' AND actor_identity = ?))",
                Box::new(a.clone()),
            );
        }
        if let Some(c) = &filter.context {
            add("context_name = ?", Box::new(c.clone()));
        }
        if let Some(a) = &filter.action {
            add("action = ?", Box::new(a.clone()));
        }
        if let Some((t, id)) = &query.before {
            params.push(Box::new(*t));
            params.push(Box::new(id.clone()));
            let n = params.len();
            clauses.push(format!("(received_at, id) < (${}, ${n})", n - 1));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        // The limit is a parameter too, so each filter combination is one cached statement.
        params.push(Box::new((query.limit + 1) as i64));
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM audit_records {filter} \
             ORDER BY received_at DESC, id DESC LIMIT ${}",
            params.len()
        );
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let statement = client.prepare_cached(&sql).await?;
        let rows = client.query(&statement, &refs).await?;
        rows.iter().map(Row::from_row).collect()
    }

    pub async fn get(&self, id: &str) -> Result<Option<Row>, StoreError> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM audit_records WHERE id = $1");
        self.row(&sql, &[&id]).await
    }

    /// Record `id` if `scope` may read it.
    pub async fn get_in(&self, id: &str, scope: &Scope) -> Result<Option<Row>, StoreError> {
        match scope.records_clause(2) {
            None => self.get(id).await,
            Some((clause, me, keys)) => {
                let sql =
                    format!("SELECT {ROW_COLUMNS} FROM audit_records WHERE id = $1 AND {clause}");
                self.row(&sql, &[&id, &me, &keys]).await
            }
        }
    }

    /// The records of one session in time order, for the chain check.
    pub async fn session_chain(&self, session_id: &str) -> Result<Vec<ChainRow>, StoreError> {
        self.rows(
            "SELECT r.id, r.received_from, r.received_at, r.time, r.hash, r.prev_hash, r.hash_ok, \
               (r.prev_hash = $2 OR EXISTS \
                 (SELECT 1 FROM audit_records p \
                  WHERE p.hash = r.prev_hash AND p.received_from = r.received_from)) \
               AS prev_known \
             FROM audit_records r WHERE r.session_id = $1 ORDER BY r.time, r.id",
            &[&session_id, &GENESIS_HASH],
        )
        .await
    }

    /// Deletes the whole (UTC) days received more than `days` ago, once across replicas: the replica that
    /// gets the transaction-scoped advisory lock does it, the others skip. Returns the number of
    /// records deleted and the cutoff, or `None` when another replica holds the lock.
    pub async fn apply_retention(
        &self,
        days: u32,
    ) -> Result<Option<(u64, SystemTime)>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&RETENTION_LOCK])
            .await?
            .try_get(0)?;
        if !locked {
            return Ok(None);
        }
        let cutoff: SystemTime = tx
            .query_one(
                "SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') \
                   - make_interval(days => $1)) AT TIME ZONE 'UTC'",
                &[&(days as i32)],
            )
            .await?
            .try_get(0)?;
        let deleted = tx
            .execute(
                "DELETE FROM audit_records WHERE received_at < $1",
                &[&cutoff],
            )
            .await?;
        tx.commit().await?;
        Ok(Some((deleted, cutoff)))
    }
}

/// Advisory lock keys (arbitrary constants, "warroom" in ASCII + a number).
pub const MIGRATION_LOCK: i64 = 0x7761_7272_6f6f_6d01;
const RETENTION_LOCK: i64 = 0x7761_7272_6f6f_6d02;

const ROW_COLUMNS: &str = "id, time, record, received_from, received_at, identity_mismatch, \
                           hash_ok, prev_seen";

from_row!(Row: id, time, record, received_from, received_at, identity_mismatch, hash_ok, prev_seen);

from_row!(ChainRow: id, received_from, received_at, time, hash, prev_hash, hash_ok, prev_known);
