//! The demo incident seen through the slow-database views: server header figures, the lock
//! each waiter waits for, pg_stat_statements counters that move with the simulation, and
//! plans for the demo's queries. Plausible numbers, computed from the simulated world.

use std::collections::BTreeMap;

use warroom_core::backends::postgres::explain::{ExplainResult, check_text, explain_sql};
use warroom_core::backends::postgres::header::{
    HeaderTracker, Replica, ReplicaLag, ServerFigures, XminHolder,
};
use warroom_core::backends::postgres::locks::LockDetail;
use warroom_core::backends::postgres::statements::{
    ChangedEntry, Counters, StatementInfo, StatementKey, StatementsSample,
};
use warroom_core::backends::postgres::{ActivitySnapshot, PgSession};

/// The demo server's pretend size.
const MAX_CONNECTIONS: i64 = 200;

/// The lock a demo waiter waits for: the first one for the migration's transaction, the
/// others queued for the row's tuple lock (as on a real server).
pub fn lock_of(session: &PgSession, blocker_xid: i64, table: &str) -> Option<LockDetail> {
    if session.wait_event_type.as_deref() != Some("Lock") {
        return None;
    }
    Some(match session.wait_event.as_deref() {
        Some("transactionid") => LockDetail {
            locktype: "transactionid".into(),
            mode: "ShareLock".into(),
            relation: Some(table.into()),
            transactionid: Some(blocker_xid.to_string()),
            tuple: Some("(12,7)".into()),
            granted_mode_of_blocker: Some("ExclusiveLock".into()),
        },
        _ => LockDetail {
            locktype: "tuple".into(),
            mode: "ExclusiveLock".into(),
            relation: Some(table.into()),
            transactionid: None,
            tuple: Some("(12,7)".into()),
            granted_mode_of_blocker: Some("ExclusiveLock".into()),
        },
    })
}

/// The table a demo query touches, schema-qualified.
pub fn table_of(query: &str) -> String {
    let words: Vec<&str> = query.split_whitespace().collect();
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
    };
    let name = after("UPDATE")
        .or_else(|| after("FROM"))
        .or_else(|| after("INTO"))
        .map_or("orders", |w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
        });
    format!("public.{name}")
}

/// Header figures for the demo world at simulated second `now` (counters grow with time).
pub fn figures(
    now: f64,
    server_time: f64,
    sessions: &[PgSession],
    blocker_pid: i32,
    migration_alive: bool,
) -> ServerFigures {
    let mut by_state: BTreeMap<String, i64> = BTreeMap::new();
    for s in sessions {
        *by_state
            .entry(s.state.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    // warroom's own session, running its statement.
    *by_state.entry("active".into()).or_insert(0) += 1;
    let t = now.max(0.0) + 86_400.0;
    // While the lock holds, payments fail over to retries: more rollbacks, fewer commits.
    let (commit_rate, rollback_rate) = if migration_alive {
        (640.0, 9.0)
    } else {
        (910.0, 1.5)
    };
    let oldest_xmin = sessions
        .iter()
        .find(|s| s.pid == blocker_pid)
        .map(|m| XminHolder {
            kind: "session".into(),
            id: m.pid.to_string(),
            pid: Some(m.pid),
            age_xids: (m.xact_seconds.unwrap_or(0.0) * commit_rate) as i64,
            state: m.state.clone(),
            detail: Some(m.application.clone()),
            seconds: m.xact_seconds,
        });
    let lag = if migration_alive { 3.5e6 } else { 2.0e5 };
    ServerFigures {
        server_time,
        in_recovery: false,
        max_connections: MAX_CONNECTIONS,
        connections: sessions.len() as i64 + 1,
        connections_by_state: by_state,
        xact_commit: (t * commit_rate) as i64,
        xact_rollback: (t * rollback_rate) as i64,
        blks_read: (t * 110.0) as i64,
        blks_hit: (t * 14_200.0) as i64,
        temp_bytes: (t * 65_536.0) as i64,
        oldest_xmin,
        replicas: vec![Replica {
            application: Some("replica-1".into()),
            client_addr: Some("10.0.9.12".into()),
            state: Some("streaming".into()),
            sync_state: Some("async".into()),
            lag: ReplicaLag {
                lag_bytes: Some(lag as i64),
                write_lag: Some(0.002),
                flush_lag: Some(0.004),
                replay_lag: Some(if migration_alive { 0.8 } else { 0.05 }),
            },
        }],
        standby: None,
    }
}

/// Lock detail on the waiters and the header, as the real statement would give them.
pub fn enrich(
    snapshot: &mut ActivitySnapshot,
    tracker: &mut HeaderTracker,
    now: f64,
    server_time: f64,
    blocker_pid: i32,
    migration_alive: bool,
) {
    let blocker_xid = 7_700_421;
    for s in &mut snapshot.sessions {
        let table = table_of(&s.query);
        s.lock = lock_of(s, blocker_xid, &table);
        s.query_id = Some(query_id(&s.query));
    }
    let f = figures(
        now,
        server_time,
        &snapshot.sessions,
        blocker_pid,
        migration_alive,
    );
    snapshot.header = Some(Box::new(tracker.update(f, &snapshot.sessions)));
}

/// A stable pretend queryid for a demo query text (FNV-1a).
pub fn query_id(query: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in query.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// The demo's statements: (text, calls per second, mean ms, rows per call, blocks read per
/// call, temp blocks per call).
const STATEMENTS: [(&str, f64, f64, f64, f64, f64); 7] = [
    (
        "SELECT * FROM products WHERE sku = $1",
        420.0,
        0.4,
        1.0,
        0.05,
        0.0,
    ),
    (
        "SELECT count(*) FROM carts WHERE user_id = $1",
        180.0,
        1.8,
        1.0,
        0.4,
        0.0,
    ),
    (
        "INSERT INTO events (kind, payload) VALUES ($1, $2)",
        240.0,
        0.6,
        1.0,
        0.02,
        0.0,
    ),
    (
        "SELECT sum(amount) FROM invoices WHERE month = $1",
        2.0,
        380.0,
        1.0,
        900.0,
        120.0,
    ),
    ("BEGIN", 300.0, 0.01, 0.0, 0.0, 0.0),
    ("COMMIT", 300.0, 0.2, 0.0, 0.0, 0.0),
    (
        "SELECT id, status FROM orders WHERE customer_id = $1",
        60.0,
        0.9,
        3.0,
        0.3,
        0.0,
    ),
];

/// Counters that only grow, advanced by the simulated time between two reads.
#[derive(Debug, Clone, Default)]
pub struct DemoStatements {
    last: Option<f64>,
    counters: BTreeMap<String, Counters>,
}

impl DemoStatements {
    /// A sample at simulated second `now`; the waiter query is slow while the lock holds.
    pub fn sample(
        &mut self,
        now: f64,
        server_time: f64,
        waiter_query: &str,
        waiting: usize,
    ) -> StatementsSample {
        let dt = self.last.map_or(3600.0, |l| (now - l).max(0.0));
        self.last = Some(now);
        let waiter_text = normalize(waiter_query);
        let mut all: Vec<(String, f64, f64, f64, f64, f64)> = STATEMENTS
            .iter()
            .map(|&(q, r, m, rows, rd, tmp)| (q.to_string(), r, m, rows, rd, tmp))
            .collect();
        // Payments: few calls get through while the row is locked, each after a long wait.
        let (rate, mean) = if waiting > 0 {
            (0.4, 9_000.0)
        } else {
            (35.0, 0.8)
        };
        all.push((waiter_text, rate, mean, 1.0, 0.1, 0.0));
        let mut changed = Vec::new();
        for (q, rate, mean, rows, read, temp) in all {
            let c = self.counters.entry(q.clone()).or_default();
            let calls = (rate * dt).round() as i64;
            if calls == 0 && self.last.is_some() && c.calls > 0 {
                continue;
            }
            c.calls += calls;
            c.total_ms += calls as f64 * mean;
            c.max_ms = c.max_ms.max(mean * 2.5);
            c.rows += (calls as f64 * rows) as i64;
            c.shared_blks_read += (calls as f64 * read) as i64;
            c.shared_blks_hit += (calls as f64 * (read * 40.0 + 4.0)) as i64;
            c.temp_blks += (calls as f64 * temp) as i64;
            c.wal_bytes = Some(
                c.wal_bytes.unwrap_or(0)
                    + if q.starts_with("SELECT") {
                        0
                    } else {
                        calls * 180
                    },
            );
            changed.push((q, *c));
        }
        changed.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms));
        StatementsSample {
            server_time,
            changed: changed
                .into_iter()
                .enumerate()
                .map(|(i, (q, counters))| ChangedEntry {
                    key: StatementKey {
                        queryid: query_id(&q),
                        userid: 16_384,
                        dbid: 16_385,
                        toplevel: true,
                    },
                    counters,
                    rank: i as i64 + 1,
                    info: Some(StatementInfo {
                        query: q,
                        database: Some("shop".into()),
                        user: Some("app".into()),
                    }),
                })
                .collect(),
            gone: Vec::new(),
            hidden: 0,
        }
    }
}

/// Constants to `$n`, roughly as pg_stat_statements shows them.
pub fn normalize(query: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            for d in chars.by_ref() {
                if d == '\'' {
                    break;
                }
            }
            n += 1;
            out.push_str(&format!("${n}"));
        } else if c.is_ascii_digit()
            && !out.ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == '$')
        {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A plausible plan for a demo query, with the same refusals as the real server (16+).
pub fn explain(pid: i32, session: Option<&PgSession>) -> ExplainResult {
    let Some(s) = session else {
        return ExplainResult::refused(
            pid,
            String::new(),
            format!("pid {pid} is not a session on this server (any more)"),
        );
    };
    let mut result = ExplainResult {
        pid,
        database: s.database.clone(),
        state: s.state.clone(),
        query: s.query.clone(),
        generic_plan: false,
        plan: Vec::new(),
        refused: None,
    };
    let check = match check_text(&s.query, 16, 1024) {
        Ok(c) => c,
        Err(r) => {
            result.refused = Some(r.0);
            return result;
        }
    };
    result.generic_plan = check.has_parameters;
    let _ = explain_sql(&s.query, &check);
    let table = table_of(&s.query);
    let name = table.trim_start_matches("public.");
    result.plan = match check.keyword.as_str() {
        "UPDATE" => vec![
            format!("Update on {name}  (cost=0.42..8.44 rows=0 width=0)"),
            format!("  ->  Index Scan using {name}_pkey on {name}  (cost=0.42..8.44 rows=1 width=38)"),
            "        Index Cond: (id = 1001)".into(),
        ],
        "INSERT" => vec![
            format!("Insert on {name}  (cost=0.00..0.01 rows=0 width=0)"),
            "  ->  Result  (cost=0.00..0.01 rows=1 width=72)".into(),
        ],
        _ if name == "invoices" => vec![
            "Finalize Aggregate  (cost=48211.55..48211.56 rows=1 width=32)".into(),
            "  ->  Gather  (cost=48211.33..48211.54 rows=2 width=32)".into(),
            "        Workers Planned: 2".into(),
            "        ->  Partial Aggregate  (cost=47211.33..47211.34 rows=1 width=32)".into(),
            "              ->  Parallel Seq Scan on invoices  (cost=0.00..46899.00 rows=124933 width=6)".into(),
            "                    Filter: (month = $1)".into(),
        ],
        _ => vec![
            format!("Index Scan using {name}_pkey on {name}  (cost=0.42..8.44 rows=1 width=64)"),
            "  Index Cond: (id = $1)".into(),
        ],
    };
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::postgres::statements::StatementsTracker;

    #[test]
    fn normalized_constants_and_tables() {
        assert_eq!(
            normalize("UPDATE orders SET status = 'paid' WHERE id = 1001"),
            "UPDATE orders SET status = $1 WHERE id = $2"
        );
        assert_eq!(
            table_of("SELECT sum(amount) FROM invoices WHERE month = $1"),
            "public.invoices"
        );
        assert_eq!(table_of("UPDATE orders SET a = 1"), "public.orders");
    }

    #[test]
    fn demo_statements_give_deltas_with_the_payment_update_slow_while_locked() {
        let mut demo = DemoStatements::default();
        let mut tracker = StatementsTracker::default();
        let q = "UPDATE orders SET status = 'paid' WHERE id = 1001";
        assert!(tracker.apply(demo.sample(10.0, 1000.0, q, 5)).is_none());
        let d = tracker
            .apply(demo.sample(15.0, 1005.0, q, 5))
            .expect("deltas");
        assert_eq!(d.interval_seconds, 5.0);
        let top = &d.statements[0];
        assert_eq!(
            top.info.query,
            "UPDATE orders SET status = $1 WHERE id = $2"
        );
        assert_eq!(top.rates.per_call.map(|p| p.mean_ms), Some(9000.0));
    }
}
