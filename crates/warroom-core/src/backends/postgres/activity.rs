//! The one statement per refresh: the sessions, the lock each waiter waits for, and the server
//! header figures, in one round trip.
//!
//! * pg_stat_activity is read once, into the CTE `a`; the standbys come from
//!   pg_stat_get_wal_senders() joined to it, not from the pg_stat_replication view, which
//!   would read all of pg_stat_activity a second time.
//! * pg_blocking_pids runs once per session waiting on a lock (CTE `b`), and pg_locks is read
//!   only when at least one session waits: its scan sits under a one-time filter (an
//!   InitPlan), so with nobody waiting it is never executed.
//! * Rows with a pid are sessions; the one row without a pid carries the header as JSON. The
//!   connection counts come from one pass over `a` (total and per state together).
//! * No parameters: prepared once per connection (see `PrepareMode`), its generic plan is
//!   the plan, so a refresh costs no planning.
//! * Without pg_monitor, other roles' sessions have a NULL backend_type: they are kept (and
//!   counted as hidden) when they belong to a database, so the privilege note can say so.

use std::time::SystemTime;

use super::PgSession;
use super::header::ServerFigures;
use super::locks::LockDetail;

/// The text every activity statement starts with (tests find it in pg_stat_statements).
pub const ACTIVITY_MARK: &str = "/* warroom: activity */";

/// Client sessions as the pane shows them.
const CLIENT_FILTER: &str = "(s.backend_type IN ('client backend', 'autovacuum worker') \
       OR (s.backend_type IS NULL AND s.datid IS NOT NULL))";

/// The activity statement for a server of this major version (10 and later).
pub fn activity_sql(server_major: u32) -> String {
    let materialized = if server_major >= 12 {
        "MATERIALIZED"
    } else {
        ""
    };
    let query_id = if server_major >= 14 {
        "query_id"
    } else {
        "NULL::int8"
    };
    // Locktag equality between a waiter's lock `w` and a granted lock `h`.
    let same_object = [
        "locktype",
        "database",
        "relation",
        "page",
        "tuple",
        "virtualxid",
        "transactionid",
        "classid",
        "objid",
        "objsubid",
    ]
    .iter()
    .map(|c| format!("h.{c} IS NOT DISTINCT FROM w.{c}"))
    .collect::<Vec<_>>()
    .join(" AND ");
    format!(
        "{ACTIVITY_MARK} \
WITH a AS {materialized} ( \
  SELECT pid, datid, datname, usename, application_name, client_addr, client_port, state, \
    wait_event_type, wait_event, query_start, xact_start, backend_start, query, backend_type, \
    backend_xid, backend_xmin, {query_id} AS query_id FROM pg_stat_activity), \
b AS {materialized} ( \
  SELECT a.pid, pg_blocking_pids(a.pid) AS blockers FROM a \
  WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()), \
l AS {materialized} (SELECT * FROM pg_locks WHERE EXISTS (SELECT 1 FROM b)), \
lk AS ( \
  SELECT b.pid, json_build_object( \
    'locktype', w.locktype, 'mode', w.mode, \
    'relation', CASE WHEN r.relation IS NULL THEN NULL \
      WHEN r.database = 0 OR r.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
        THEN coalesce((SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.relation), \
                      'oid ' || r.relation::text) \
      ELSE format('oid %s in database %s', r.relation, \
                  coalesce((SELECT datname::text FROM pg_database WHERE oid = r.database), r.database::text)) END, \
    'transactionid', w.transactionid::text, \
    'tuple', CASE WHEN r.tuple IS NOT NULL THEN format('(%s,%s)', r.page, r.tuple) END, \
    'granted_mode_of_blocker', (SELECT string_agg(DISTINCT h.mode, ', ') FROM l h \
       WHERE h.granted AND h.pid = ANY(b.blockers) AND {same_object}) \
  )::text AS lock \
  FROM b \
  JOIN LATERAL (SELECT * FROM l WHERE l.pid = b.pid AND NOT l.granted LIMIT 1) w ON true \
  LEFT JOIN LATERAL ( \
    SELECT w.database, w.relation, w.page, w.tuple WHERE w.relation IS NOT NULL \
    UNION ALL \
    SELECT t.database, t.relation, t.page, t.tuple FROM l t \
    WHERE w.relation IS NULL AND t.pid = b.pid AND t.granted AND t.locktype = 'tuple' \
    LIMIT 1) r ON true), \
h AS ( \
  SELECT json_build_object( \
    'server_time', EXTRACT(EPOCH FROM now())::float8, \
    'statement_timeout', current_setting('statement_timeout'), \
    'in_recovery', pg_is_in_recovery(), \
    'max_connections', current_setting('max_connections')::int8, \
    'connections', c.total, 'connections_by_state', c.by_state, \
    'xact_commit', d.xact_commit, 'xact_rollback', d.xact_rollback, \
    'blks_read', d.blks_read, 'blks_hit', d.blks_hit, 'temp_bytes', d.temp_bytes, \
    'oldest_xmin', (SELECT json_build_object('kind', kind, 'id', id, 'pid', pid, 'age_xids', age, \
                      'state', state, 'detail', detail, 'seconds', seconds) FROM ( \
        SELECT 'session'::text AS kind, a.pid::text AS id, a.pid, \
               greatest(age(a.backend_xid), age(a.backend_xmin))::int8 AS age, a.state, \
               coalesce(nullif(a.application_name, ''), a.backend_type) AS detail, \
               EXTRACT(EPOCH FROM now() - a.xact_start)::float8 AS seconds, a.xact_start AS since \
        FROM a WHERE a.pid <> pg_backend_pid() AND (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL) \
        UNION ALL \
        SELECT 'prepared transaction', p.gid, NULL, age(p.transaction)::int8, NULL, p.owner::text, \
               EXTRACT(EPOCH FROM now() - p.prepared)::float8, p.prepared FROM pg_prepared_xacts p \
        UNION ALL \
        SELECT 'replication slot', r.slot_name::text, r.active_pid, \
               greatest(age(r.xmin), age(r.catalog_xmin))::int8, \
               CASE WHEN r.active THEN 'active' ELSE 'inactive' END, r.slot_type, NULL, NULL \
        FROM pg_replication_slots r WHERE r.xmin IS NOT NULL OR r.catalog_xmin IS NOT NULL \
      ) x ORDER BY age DESC NULLS LAST, since ASC NULLS LAST LIMIT 1), \
    'replicas', (SELECT coalesce(json_agg(json_build_object( \
        'application', sa.application_name, 'client_addr', host(sa.client_addr), \
        'state', r.state, 'sync_state', r.sync_state, \
        'lag_bytes', pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                                          ELSE pg_current_wal_lsn() END, r.replay_lsn)::int8, \
        'write_lag', EXTRACT(EPOCH FROM r.write_lag)::float8, \
        'flush_lag', EXTRACT(EPOCH FROM r.flush_lag)::float8, \
        'replay_lag', EXTRACT(EPOCH FROM r.replay_lag)::float8) ORDER BY sa.application_name, r.pid), '[]'::json) \
      FROM pg_stat_get_wal_senders() r LEFT JOIN a sa ON sa.pid = r.pid), \
    'standby', CASE WHEN pg_is_in_recovery() THEN json_build_object( \
        'receive_lsn', pg_last_wal_receive_lsn()::text, 'replay_lsn', pg_last_wal_replay_lsn()::text, \
        'lag_bytes', pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8, \
        'last_replay_age', EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, \
        'replay_paused', pg_is_wal_replay_paused(), \
        'receiver', (SELECT status FROM pg_stat_wal_receiver LIMIT 1)) END \
  )::text AS header \
  FROM (SELECT coalesce(sum(xact_commit), 0)::int8 AS xact_commit, \
               coalesce(sum(xact_rollback), 0)::int8 AS xact_rollback, \
               coalesce(sum(blks_read), 0)::int8 AS blks_read, \
               coalesce(sum(blks_hit), 0)::int8 AS blks_hit, \
               coalesce(sum(temp_bytes), 0)::int8 AS temp_bytes FROM pg_stat_database) d, \
       (SELECT coalesce(sum(n), 0)::int8 AS total, coalesce(json_object_agg(st, n), '{{}}'::json) AS by_state \
        FROM (SELECT coalesce(a.state, 'unknown') AS st, count(*) AS n FROM a \
              WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL) \
              GROUP BY 1) x) c) \
SELECT s.pid, s.datname::text, s.usename::text, s.application_name, \
  CASE WHEN s.client_port = -1 THEN 'local' ELSE host(s.client_addr) END, \
  s.state, s.wait_event_type, s.wait_event, \
  EXTRACT(EPOCH FROM (now() - s.query_start))::float8, \
  EXTRACT(EPOCH FROM (now() - s.xact_start))::float8, \
  coalesce(b.blockers, '{{}}'::int[]), coalesce(s.query, ''), s.backend_start, s.query_start, \
  s.query_id, lk.lock, NULL::text \
FROM a s LEFT JOIN b ON b.pid = s.pid LEFT JOIN lk ON lk.pid = s.pid \
WHERE s.pid <> pg_backend_pid() AND {CLIENT_FILTER} \
UNION ALL \
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, h.header FROM h"
    )
}

/// What one activity statement returned.
pub struct Decoded {
    pub sessions: Vec<PgSession>,
    pub figures: Option<ServerFigures>,
    /// The session's statement_timeout as the server shows it ("5s"): when it is not the one
    /// warroom asked for at connect, something between (a pooler) dropped the startup options.
    pub statement_timeout: Option<String>,
}

/// The header row: the figures, and the session setting that tells a pooler apart.
#[derive(serde::Deserialize)]
struct HeaderRow {
    #[serde(flatten)]
    figures: ServerFigures,
    #[serde(default)]
    statement_timeout: Option<String>,
}

/// Sessions and the header figures out of the statement's rows.
pub fn decode(rows: &[tokio_postgres::Row]) -> Result<Decoded, String> {
    let mut out = Decoded {
        sessions: Vec::with_capacity(rows.len()),
        figures: None,
        statement_timeout: None,
    };
    for row in rows {
        let pid: Option<i32> = row.try_get(0).map_err(|e| e.to_string())?;
        if pid.is_none() {
            let text: Option<String> = row.try_get(16).map_err(|e| e.to_string())?;
            if let Some(text) = text {
                let header = serde_json::from_str::<HeaderRow>(&text)
                    .map_err(|e| format!("server header: {e}"))?;
                out.figures = Some(header.figures);
                out.statement_timeout = header.statement_timeout;
            }
            continue;
        }
        out.sessions
            .push(session_from_row(row).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// "5s", "500ms", "1min" (how PostgreSQL shows a time setting) in milliseconds.
pub fn setting_millis(text: &str) -> Option<u128> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n: u128 = text[..digits].parse().ok()?;
    let unit = match &text[digits..] {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * unit)
}

fn session_from_row(row: &tokio_postgres::Row) -> Result<PgSession, String> {
    let get_err = |e: tokio_postgres::Error| e.to_string();
    let lock: Option<String> = row.try_get(15).map_err(get_err)?;
    let lock = match lock {
        Some(text) => Some(
            serde_json::from_str::<LockDetail>(&text).map_err(|e| format!("lock detail: {e}"))?,
        ),
        None => None,
    };
    Ok(PgSession {
        pid: row.try_get(0).map_err(get_err)?,
        database: row.try_get(1).map_err(get_err)?,
        user: row.try_get(2).map_err(get_err)?,
        application: row
            .try_get::<_, Option<String>>(3)
            .map_err(get_err)?
            .unwrap_or_default(),
        client_addr: row.try_get(4).map_err(get_err)?,
        state: row.try_get(5).map_err(get_err)?,
        wait_event_type: row.try_get(6).map_err(get_err)?,
        wait_event: row.try_get(7).map_err(get_err)?,
        query_seconds: row.try_get(8).map_err(get_err)?,
        xact_seconds: row.try_get(9).map_err(get_err)?,
        blocked_by: row
            .try_get::<_, Option<Vec<i32>>>(10)
            .map_err(get_err)?
            .unwrap_or_default(),
        query: crate::redact::redact_secrets(&row.try_get::<_, String>(11).map_err(get_err)?)
            .into_owned(),
        backend_start: row.try_get::<_, Option<SystemTime>>(12).map_err(get_err)?,
        query_start: row.try_get::<_, Option<SystemTime>>(13).map_err(get_err)?,
        query_id: row.try_get(14).map_err(get_err)?,
        lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_id_only_from_14_and_materialized_only_from_12() {
        assert!(activity_sql(15).contains("backend_xmin, query_id AS query_id"));
        assert!(activity_sql(13).contains("NULL::int8 AS query_id"));
        assert!(activity_sql(12).contains("AS MATERIALIZED ("));
        assert!(!activity_sql(11).contains("MATERIALIZED"));
        assert!(activity_sql(15).starts_with(ACTIVITY_MARK));
    }

    #[test]
    fn header_json_decodes_with_missing_optional_parts() {
        let text = r#"{"server_time": 1.5, "in_recovery": false, "max_connections": 100,
            "connections": 3, "connections_by_state": {"active": 1, "idle": 2},
            "xact_commit": 10, "xact_rollback": 0, "blks_read": 1, "blks_hit": 2,
            "temp_bytes": 0, "oldest_xmin": null, "replicas": [], "standby": null}"#;
        let f: ServerFigures = serde_json::from_str(text).expect("decodes");
        assert_eq!(f.connections, 3);
        assert_eq!(f.connections_by_state.get("idle"), Some(&2));
    }

    #[test]
    fn time_settings_read_as_postgresql_shows_them() {
        assert_eq!(setting_millis("5s"), Some(5_000));
        assert_eq!(setting_millis("5500ms"), Some(5_500));
        assert_eq!(setting_millis("1min"), Some(60_000));
        assert_eq!(setting_millis("0"), Some(0));
        assert_eq!(setting_millis("soon"), None);
    }
}
