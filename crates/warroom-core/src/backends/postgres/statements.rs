//! The statements view: pg_stat_statements deltas over an interval, bounded server-side.
//!
//! Why the client sends its baseline: the statements that eat the time *now* are often not
//! the ones with the largest totals since the last reset (a cheap query that turned slow has a
//! small total). Ranking by the delta needs the previous values, and the server keeps none.
//! So each refresh sends the previous refresh's (key, calls, total time) of every entry as
//! arrays (no text: ~30 bytes an entry, pg_stat_statements.max = 5000 by default), and one
//! statement on the server:
//! * reads `pg_stat_statements(false)` (counters only, the query text file is not read),
//! * keeps the entries whose calls or total changed (or that are new), ranks them by the delta
//!   of total time, and returns their counters (the client needs them as the next baseline,
//!   or a statement entering the top later would show several intervals' worth),
//! * returns the normalized text only for the top 500 whose text the client does not have
//!   yet: the `pg_stat_statements(true)` call that reads the text file is under a one-time
//!   filter, so when every text is known it is not executed at all,
//! * names the baseline entries that are gone (evicted or reset), so the client forgets them.
//!
//! Deltas, rates, shares and the top 500 are computed client-side by [`StatementsTracker`].

use std::collections::HashMap;

use serde::Serialize;

/// At most this many statements per interval are shown (and have their text sent).
pub const TOP_STATEMENTS: usize = 500;

/// The text every statements statement starts with.
pub const STATEMENTS_MARK: &str = "/* warroom: statements */";

/// Identity of a pg_stat_statements entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StatementKey {
    pub queryid: i64,
    pub userid: u32,
    pub dbid: u32,
    pub toplevel: bool,
}

/// Cumulative counters of one entry (since its creation or the last reset), or their
/// differences over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Counters {
    pub calls: i64,
    pub total_ms: f64,
    /// Largest single execution since the entry's creation or reset (not per interval:
    /// pg_stat_statements keeps no per-interval maximum).
    #[serde(rename = "max_ms_since_reset")]
    pub max_ms: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
    /// temp_blks_read + temp_blks_written.
    pub temp_blks: i64,
    /// PostgreSQL 13+.
    pub wal_bytes: Option<i64>,
}

/// The normalized text and whose it is.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StatementInfo {
    pub query: String,
    pub database: Option<String>,
    pub user: Option<String>,
}

/// One changed entry as the statement returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedEntry {
    pub key: StatementKey,
    pub counters: Counters,
    /// 1 = largest delta of total time.
    pub rank: i64,
    pub info: Option<StatementInfo>,
}

/// One refresh's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatementsSample {
    /// The server's now() (epoch seconds).
    pub server_time: f64,
    pub changed: Vec<ChangedEntry>,
    pub gone: Vec<StatementKey>,
    /// Entries of other roles whose queryid and text the monitoring role may not see.
    pub hidden: i64,
}

/// What the client sends: its baseline, as parallel arrays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BaselineParams {
    pub queryid: Vec<i64>,
    pub userid: Vec<u32>,
    pub dbid: Vec<u32>,
    pub toplevel: Vec<bool>,
    pub calls: Vec<i64>,
    pub total_ms: Vec<f64>,
    pub has_text: Vec<bool>,
}

/// One statement's figures over the interval. The JSON (`pg statements -o json`) is flat:
/// queryid, the info's, the counters' and the rates' fields side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementDelta {
    pub queryid: i64,
    /// Empty text (and no database or user) while the text is not known.
    #[serde(flatten)]
    pub info: StatementInfo,
    /// What the interval added (`max_ms` stays the largest since the entry's reset).
    #[serde(flatten)]
    pub interval: Counters,
    #[serde(flatten)]
    pub rates: StatementRates,
}

/// The interval's figures per second of wall time, per call, and as a share of all statements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StatementRates {
    pub calls_per_s: f64,
    /// Milliseconds of execution per second of wall time.
    pub time_ms_per_s: f64,
    /// Share of the time of all statements in the interval (0..1).
    pub time_share: f64,
    /// None when the statement was not called in the interval (its keys are then left out of
    /// the JSON).
    #[serde(flatten)]
    pub per_call: Option<PerCall>,
}

/// The interval's figures per call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerCall {
    pub mean_ms: f64,
    #[serde(rename = "rows_per_call")]
    pub rows: f64,
}

impl StatementRates {
    /// `d` over `seconds`, of `total_ms_all` spent by every statement.
    pub fn of(d: &Counters, seconds: f64, total_ms_all: f64) -> StatementRates {
        let calls = d.calls as f64;
        StatementRates {
            calls_per_s: calls / seconds,
            time_ms_per_s: d.total_ms / seconds,
            time_share: if total_ms_all > 0.0 {
                d.total_ms / total_ms_all
            } else {
                0.0
            },
            per_call: (d.calls > 0).then(|| PerCall {
                mean_ms: d.total_ms / calls,
                rows: d.rows as f64 / calls,
            }),
        }
    }
}

/// Deltas over one interval, ranked by total time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementsDelta {
    pub interval_seconds: f64,
    /// Execution time of every statement in the interval, milliseconds.
    pub total_ms_all: f64,
    pub statements: Vec<StatementDelta>,
    /// Statements that ran in the interval beyond the top shown.
    pub not_shown: usize,
    pub hidden: i64,
}

/// How the list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementsSort {
    #[default]
    Time,
    Calls,
    Mean,
    Io,
}

impl StatementsSort {
    pub fn parse(s: &str) -> Option<StatementsSort> {
        Some(match s {
            "time" => StatementsSort::Time,
            "calls" => StatementsSort::Calls,
            "mean" => StatementsSort::Mean,
            "io" => StatementsSort::Io,
            _ => return None,
        })
    }

    /// Largest first.
    pub fn sort(self, rows: &mut [StatementDelta]) {
        let key = |d: &StatementDelta| -> f64 {
            match self {
                StatementsSort::Time => d.interval.total_ms,
                StatementsSort::Calls => d.interval.calls as f64,
                StatementsSort::Mean => d.rates.per_call.map_or(0.0, |p| p.mean_ms),
                StatementsSort::Io => (d.interval.shared_blks_read + d.interval.temp_blks) as f64,
            }
        };
        rows.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.queryid.cmp(&b.queryid)));
    }
}

/// The client's memory between refreshes: every entry's last counters, and the texts of
/// the entries it has shown.
#[derive(Debug, Clone, Default)]
pub struct StatementsTracker {
    baseline: HashMap<StatementKey, Counters>,
    info: HashMap<StatementKey, StatementInfo>,
    last_time: Option<f64>,
}

impl StatementsTracker {
    /// The arrays the next statement sends.
    pub fn params(&self) -> BaselineParams {
        let mut p = BaselineParams::default();
        for (k, c) in &self.baseline {
            p.queryid.push(k.queryid);
            p.userid.push(k.userid);
            p.dbid.push(k.dbid);
            p.toplevel.push(k.toplevel);
            p.calls.push(c.calls);
            p.total_ms.push(c.total_ms);
            p.has_text.push(self.info.contains_key(k));
        }
        p
    }

    pub fn has_baseline(&self) -> bool {
        self.last_time.is_some()
    }

    /// Fold a sample in; the deltas since the previous sample (None for the first one).
    pub fn apply(&mut self, sample: StatementsSample) -> Option<StatementsDelta> {
        let first = self.last_time.is_none();
        let interval = self.last_time.map(|t| sample.server_time - t);
        self.last_time = Some(sample.server_time);
        for k in &sample.gone {
            self.baseline.remove(k);
            self.info.remove(k);
        }
        let mut rows = Vec::new();
        let mut total_ms_all = 0.0;
        let mut ran = 0usize;
        for entry in sample.changed {
            let previous = self.baseline.insert(entry.key, entry.counters);
            if let Some(info) = entry.info {
                self.info.insert(entry.key, info);
            }
            // A new entry, or one reset since (counters went down): all of it is new.
            let base = match previous {
                Some(p) if p.calls <= entry.counters.calls => p,
                _ => Counters::default(),
            };
            let d = diff(&base, &entry.counters);
            if d.calls == 0 && d.total_ms <= 0.0 {
                continue;
            }
            total_ms_all += d.total_ms.max(0.0);
            ran += 1;
            if entry.rank as usize <= TOP_STATEMENTS {
                rows.push((entry.key, d));
            }
        }
        let dt = interval.filter(|dt| *dt > 0.0)?;
        if first {
            return None;
        }
        let statements: Vec<StatementDelta> = rows
            .into_iter()
            .map(|(key, d)| StatementDelta {
                queryid: key.queryid,
                info: self.info.get(&key).cloned().unwrap_or_default(),
                interval: d,
                rates: StatementRates::of(&d, dt, total_ms_all),
            })
            .collect();
        let mut statements = statements;
        StatementsSort::Time.sort(&mut statements);
        let not_shown = ran.saturating_sub(statements.len());
        Some(StatementsDelta {
            interval_seconds: dt,
            total_ms_all,
            statements,
            not_shown,
            hidden: sample.hidden,
        })
    }
}

fn diff(a: &Counters, b: &Counters) -> Counters {
    Counters {
        calls: b.calls - a.calls,
        total_ms: b.total_ms - a.total_ms,
        max_ms: b.max_ms,
        rows: b.rows - a.rows,
        shared_blks_hit: b.shared_blks_hit - a.shared_blks_hit,
        shared_blks_read: b.shared_blks_read - a.shared_blks_read,
        temp_blks: b.temp_blks - a.temp_blks,
        wal_bytes: match (a.wal_bytes, b.wal_bytes) {
            (Some(x), Some(y)) => Some(y - x),
            (None, Some(y)) => Some(y),
            _ => None,
        },
    }
}

/// Where pg_stat_statements is, or what the user must do to get it.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Ready {
        /// Schema of the extension (quoted identifier).
        schema: String,
        /// The role may read every role's statements (pg_read_all_stats).
        all_stats: bool,
        /// compute_query_id (14+): `off` means sessions carry no query_id.
        compute_query_id: Option<String>,
    },
    Unavailable(String),
}

/// The probe, once per connection: is the extension installed here, and may we read it all.
pub const PROBE_SQL: &str = "/* warroom: statements probe */ \
SELECT quote_ident(n.nspname), \
  pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') \
    OR coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false), \
  current_setting('compute_query_id', true), current_database()::text \
FROM (SELECT 1) one \
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements' \
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace";

/// What to say when the extension is not installed in the database warroom connects to.
pub fn not_installed(database: &str) -> String {
    format!(
        "pg_stat_statements is not installed in database {database}: add pg_stat_statements to \
         shared_preload_libraries (restart), then run CREATE EXTENSION pg_stat_statements; in {database}"
    )
}

/// A server error from reading pg_stat_statements, in words that say what to do.
pub fn explain_error(message: &str, role: &str) -> String {
    if message.contains("shared_preload_libraries") {
        "pg_stat_statements is installed but not loaded: add it to shared_preload_libraries \
         and restart the server"
            .to_string()
    } else if message.contains("permission denied") {
        format!(
            "role {role} may not read pg_stat_statements ({message}): GRANT pg_read_all_stats TO {role} \
             (or pg_monitor), and EXECUTE on the pg_stat_statements function"
        )
    } else {
        message.to_string()
    }
}

/// The statement for a server of this major version, pg_stat_statements in `schema`.
pub fn statements_sql(server_major: u32, schema: &str) -> String {
    let (total, max) = if server_major >= 13 {
        ("total_exec_time", "max_exec_time")
    } else {
        ("total_time", "max_time")
    };
    let wal = if server_major >= 13 {
        "s.wal_bytes::int8"
    } else {
        "NULL::int8"
    };
    let toplevel = if server_major >= 14 {
        "s.toplevel"
    } else {
        "true"
    };
    let materialized = if server_major >= 12 {
        "MATERIALIZED"
    } else {
        ""
    };
    let same_key =
        "(p.queryid, p.userid, p.dbid, p.toplevel) = (c.queryid, c.userid, c.dbid, c.toplevel)";
    format!(
        "{STATEMENTS_MARK} \
WITH p AS {materialized} (SELECT * FROM unnest($1::int8[], $2::oid[], $3::oid[], $4::bool[], $5::int8[], $6::float8[], $7::bool[]) \
    AS p(queryid, userid, dbid, toplevel, calls, total, has_text)), \
all_entries AS {materialized} ( \
  SELECT s.queryid, s.userid, s.dbid, {toplevel} AS toplevel, s.calls, s.{total} AS total, s.{max} AS max_time, \
    s.rows, s.shared_blks_hit, s.shared_blks_read, s.temp_blks_read + s.temp_blks_written AS temp_blks, {wal} AS wal_bytes \
  FROM {schema}.pg_stat_statements(false) s), \
c AS (SELECT * FROM all_entries WHERE queryid IS NOT NULL), \
r AS {materialized} ( \
  SELECT c.*, coalesce(p.has_text, false) AS has_text, \
    row_number() OVER (ORDER BY c.total - CASE WHEN p.calls IS NULL OR c.calls < p.calls THEN 0 ELSE p.total END DESC, \
                       c.calls DESC, c.queryid) AS rank \
  FROM c LEFT JOIN p ON {same_key} \
  WHERE p.calls IS NULL OR p.calls <> c.calls OR p.total <> c.total), \
t AS {materialized} ( \
  SELECT s.queryid, s.userid, s.dbid, {toplevel} AS toplevel, s.query FROM {schema}.pg_stat_statements(true) s \
  WHERE EXISTS (SELECT 1 FROM r WHERE r.rank <= {TOP_STATEMENTS} AND NOT r.has_text)) \
SELECT 'changed'::text, r.queryid, r.userid, r.dbid, r.toplevel, r.calls, r.total, r.max_time, r.rows, \
  r.shared_blks_hit, r.shared_blks_read, r.temp_blks, r.wal_bytes, r.rank, t.query, \
  CASE WHEN t.query IS NOT NULL THEN (SELECT datname::text FROM pg_database WHERE oid = r.dbid) END, \
  CASE WHEN t.query IS NOT NULL THEN (SELECT rolname::text FROM pg_roles WHERE oid = r.userid) END, NULL::float8 \
FROM r LEFT JOIN t ON r.rank <= {TOP_STATEMENTS} AND NOT r.has_text \
  AND (t.queryid, t.userid, t.dbid, t.toplevel) = (r.queryid, r.userid, r.dbid, r.toplevel) \
UNION ALL \
SELECT 'gone', p.queryid, p.userid, p.dbid, p.toplevel, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
FROM p WHERE NOT EXISTS (SELECT 1 FROM c WHERE {same_key}) \
UNION ALL \
SELECT 'time', NULL, NULL, NULL, NULL, (SELECT count(*) FROM all_entries WHERE queryid IS NULL), \
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, EXTRACT(EPOCH FROM now())::float8"
    )
}

/// The sample out of the statement's rows.
pub fn decode(rows: &[tokio_postgres::Row]) -> Result<StatementsSample, tokio_postgres::Error> {
    let mut sample = StatementsSample::default();
    for row in rows {
        let kind: String = row.try_get(0)?;
        match kind.as_str() {
            "time" => {
                sample.hidden = row.try_get::<_, Option<i64>>(5)?.unwrap_or(0);
                sample.server_time = row.try_get::<_, Option<f64>>(17)?.unwrap_or(0.0);
            }
            "gone" => sample.gone.push(key(row)?),
            _ => {
                let query: Option<String> = row.try_get(14)?;
                sample.changed.push(ChangedEntry {
                    key: key(row)?,
                    counters: Counters {
                        calls: row.try_get(5)?,
                        total_ms: row.try_get(6)?,
                        max_ms: row.try_get(7)?,
                        rows: row.try_get(8)?,
                        shared_blks_hit: row.try_get(9)?,
                        shared_blks_read: row.try_get(10)?,
                        temp_blks: row.try_get(11)?,
                        wal_bytes: row.try_get(12)?,
                    },
                    rank: row.try_get(13)?,
                    info: match query {
                        // Utility statements (CREATE ROLE ... PASSWORD) keep their literal text.
                        Some(query) => Some(StatementInfo {
                            query: crate::redact::redact_secrets(&query).into_owned(),
                            database: row.try_get(15)?,
                            user: row.try_get(16)?,
                        }),
                        None => None,
                    },
                });
            }
        }
    }
    Ok(sample)
}

fn key(row: &tokio_postgres::Row) -> Result<StatementKey, tokio_postgres::Error> {
    Ok(StatementKey {
        queryid: row.try_get(1)?,
        userid: row.try_get(2)?,
        dbid: row.try_get(3)?,
        toplevel: row.try_get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: i64) -> StatementKey {
        StatementKey {
            queryid: q,
            userid: 10,
            dbid: 5,
            toplevel: true,
        }
    }

    fn counters(calls: i64, total_ms: f64) -> Counters {
        Counters {
            calls,
            total_ms,
            max_ms: 9.0,
            rows: calls * 2,
            shared_blks_hit: calls * 10,
            shared_blks_read: calls,
            temp_blks: 0,
            wal_bytes: Some(calls * 100),
        }
    }

    fn entry(q: i64, calls: i64, total: f64, rank: i64, text: Option<&str>) -> ChangedEntry {
        ChangedEntry {
            key: key(q),
            counters: counters(calls, total),
            rank,
            info: text.map(|t| StatementInfo {
                query: t.into(),
                database: Some("app".into()),
                user: Some("api".into()),
            }),
        }
    }

    #[test]
    fn first_sample_is_the_baseline_then_deltas_per_second() {
        let mut t = StatementsTracker::default();
        let first = StatementsSample {
            server_time: 100.0,
            changed: vec![
                entry(1, 10, 100.0, 1, Some("SELECT slow")),
                entry(2, 1000, 50.0, 2, Some("SELECT fast")),
            ],
            ..Default::default()
        };
        assert_eq!(t.apply(first), None);
        let params = t.params();
        assert_eq!(params.queryid.len(), 2);
        assert!(params.has_text.iter().all(|h| *h), "texts are cached");
        // 5 s later: slow ran 5 more times for 400 ms, fast 500 times for 25 ms; the
        // server sends no text again.
        let second = StatementsSample {
            server_time: 105.0,
            changed: vec![entry(1, 15, 500.0, 1, None), entry(2, 1500, 75.0, 2, None)],
            ..Default::default()
        };
        let d = t.apply(second).expect("deltas");
        assert_eq!(d.interval_seconds, 5.0);
        assert_eq!(d.total_ms_all, 425.0);
        let slow = &d.statements[0];
        assert_eq!(slow.info.query, "SELECT slow");
        assert_eq!(slow.interval.calls, 5);
        assert_eq!(slow.rates.calls_per_s, 1.0);
        assert_eq!(slow.rates.time_ms_per_s, 80.0);
        assert_eq!(
            slow.rates.per_call,
            Some(PerCall {
                mean_ms: 80.0,
                rows: 2.0
            })
        );
        assert_eq!(slow.interval.shared_blks_read, 5);
        assert_eq!(slow.interval.wal_bytes, Some(500));
        assert!((slow.rates.time_share - 400.0 / 425.0).abs() < 1e-9);
        assert_eq!(d.statements[1].rates.calls_per_s, 100.0);
    }

    #[test]
    fn new_and_reset_entries_count_from_zero_and_gone_ones_are_forgotten() {
        let mut t = StatementsTracker::default();
        t.apply(StatementsSample {
            server_time: 0.0,
            changed: vec![entry(1, 100, 100.0, 1, Some("a"))],
            ..Default::default()
        });
        let d = t
            .apply(StatementsSample {
                server_time: 1.0,
                // 1 was reset (calls went down to 3), 2 appeared.
                changed: vec![entry(1, 3, 6.0, 2, None), entry(2, 4, 40.0, 1, Some("b"))],
                ..Default::default()
            })
            .expect("deltas");
        let by_text: HashMap<&str, i64> = d
            .statements
            .iter()
            .map(|s| (s.info.query.as_str(), s.interval.calls))
            .collect();
        assert_eq!(by_text, HashMap::from([("a", 3), ("b", 4)]));
        t.apply(StatementsSample {
            server_time: 2.0,
            gone: vec![key(1)],
            ..Default::default()
        });
        assert_eq!(t.params().queryid, vec![2]);
    }

    #[test]
    fn entries_beyond_the_top_update_the_baseline_but_are_not_shown() {
        let mut t = StatementsTracker::default();
        t.apply(StatementsSample {
            server_time: 0.0,
            ..Default::default()
        });
        let d = t
            .apply(StatementsSample {
                server_time: 1.0,
                changed: vec![
                    entry(1, 1, 10.0, 1, Some("top")),
                    entry(2, 1, 1.0, TOP_STATEMENTS as i64 + 1, None),
                ],
                ..Default::default()
            })
            .expect("deltas");
        assert_eq!(d.statements.len(), 1);
        assert_eq!(d.not_shown, 1);
        assert_eq!(d.total_ms_all, 11.0);
        assert_eq!(t.params().queryid.len(), 2);
    }

    #[test]
    fn sorts() {
        let mk = |q: i64, calls: i64, total: f64, read: i64| {
            let interval = Counters {
                calls,
                total_ms: total,
                shared_blks_read: read,
                ..Counters::default()
            };
            StatementDelta {
                queryid: q,
                info: StatementInfo::default(),
                interval,
                rates: StatementRates::of(&interval, 1.0, 100.0),
            }
        };
        let mut rows = vec![mk(1, 100, 10.0, 0), mk(2, 1, 50.0, 3), mk(3, 10, 20.0, 9)];
        let order = |rows: &[StatementDelta]| rows.iter().map(|r| r.queryid).collect::<Vec<_>>();
        StatementsSort::Time.sort(&mut rows);
        assert_eq!(order(&rows), vec![2, 3, 1]);
        StatementsSort::Calls.sort(&mut rows);
        assert_eq!(order(&rows), vec![1, 3, 2]);
        StatementsSort::Mean.sort(&mut rows);
        assert_eq!(order(&rows), vec![2, 3, 1]);
        StatementsSort::Io.sort(&mut rows);
        assert_eq!(order(&rows), vec![3, 2, 1]);
        assert_eq!(StatementsSort::parse("io"), Some(StatementsSort::Io));
        assert_eq!(StatementsSort::parse("x"), None);
    }

    #[test]
    fn a_statement_is_one_flat_json_object() {
        let interval = counters(4, 20.0);
        let s = StatementDelta {
            queryid: 7,
            info: StatementInfo {
                query: "SELECT 1".into(),
                database: Some("app".into()),
                user: None,
            },
            interval,
            rates: StatementRates::of(&interval, 2.0, 40.0),
        };
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "queryid": 7, "query": "SELECT 1", "database": "app", "user": null,
                "calls": 4, "total_ms": 20.0, "max_ms_since_reset": 9.0, "rows": 8,
                "shared_blks_hit": 40, "shared_blks_read": 4, "temp_blks": 0, "wal_bytes": 400,
                "calls_per_s": 2.0, "time_ms_per_s": 10.0, "time_share": 0.5, "mean_ms": 5.0,
                "rows_per_call": 2.0,
            })
        );
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(not_installed("app").contains("CREATE EXTENSION pg_stat_statements"));
        assert!(
            explain_error(
                "pg_stat_statements must be loaded via shared_preload_libraries",
                "m"
            )
            .contains("restart")
        );
        assert!(
            explain_error("permission denied for function pg_stat_statements", "mon")
                .contains("GRANT pg_read_all_stats TO mon")
        );
    }
}

/// One read of the statements view.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementsRead {
    Sample {
        sample: StatementsSample,
        /// `off` means sessions carry no query_id to link them to statements (14+).
        compute_query_id: Option<String>,
        /// The role sees every role's statements.
        all_stats: bool,
        /// SQL statements this read cost (2 when the connection was new: the probe).
        statements: u32,
    },
    /// The extension is missing or unreadable: what to install or grant.
    Unavailable(String),
}

impl super::RealPg {
    /// One sample of pg_stat_statements against `tracker`'s baseline: one statement (plus a
    /// probe, once per connection). Runs on the monitoring session.
    pub async fn statements(
        &self,
        tracker: &StatementsTracker,
    ) -> Result<StatementsRead, super::PgError> {
        use super::PgError;
        use super::client::{error_text, redact};
        use tokio_postgres::types::Type;
        let mut guard = self.monitor().await?;
        let major = guard.server_major;
        let timeout = self.query_timeout;
        let run = |e: tokio_postgres::Error| PgError::Query(redact(&error_text(&e)));
        let mut statements = 1;
        let probe = match guard.statements_probe.clone() {
            Some(p) => p,
            None => {
                statements += 1;
                let Some(client) = guard.client.as_ref() else {
                    return Err(PgError::Query("no connection".into()));
                };
                let rows = tokio::time::timeout(timeout, client.query_typed(PROBE_SQL, &[]))
                    .await
                    .map_err(|_| PgError::Timeout(timeout))?
                    .map_err(run)?;
                let row = rows
                    .first()
                    .ok_or_else(|| PgError::Query("the probe returned no row".into()))?;
                let schema: Option<String> = row.try_get(0).map_err(run)?;
                let database: String = row.try_get(3).map_err(run)?;
                let probe = match schema {
                    Some(schema) => Probe::Ready {
                        schema,
                        all_stats: row.try_get(1).map_err(run)?,
                        compute_query_id: row.try_get(2).map_err(run)?,
                    },
                    None => Probe::Unavailable(not_installed(&database)),
                };
                guard.statements_probe = Some(probe.clone());
                probe
            }
        };
        let (schema, all_stats, compute_query_id) = match probe {
            Probe::Ready {
                schema,
                all_stats,
                compute_query_id,
            } => (schema, all_stats, compute_query_id),
            Probe::Unavailable(why) => return Ok(StatementsRead::Unavailable(why)),
        };
        let sql = statements_sql(major, &schema);
        let p = tracker.params();
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 7] = [
            (&p.queryid, Type::INT8_ARRAY),
            (&p.userid, Type::OID_ARRAY),
            (&p.dbid, Type::OID_ARRAY),
            (&p.toplevel, Type::BOOL_ARRAY),
            (&p.calls, Type::INT8_ARRAY),
            (&p.total_ms, Type::FLOAT8_ARRAY),
            (&p.has_text, Type::BOOL_ARRAY),
        ];
        let Some(client) = guard.client.as_ref() else {
            return Err(PgError::Query("no connection".into()));
        };
        let rows = match tokio::time::timeout(timeout, client.query_typed(&sql, &params)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                let message = redact(&error_text(&e));
                if message.contains("shared_preload_libraries")
                    || message.contains("permission denied")
                {
                    return Ok(StatementsRead::Unavailable(explain_error(
                        &message,
                        self.spec.user(),
                    )));
                }
                return Err(PgError::Query(message));
            }
            Err(_) => {
                guard.client = None;
                return Err(PgError::Timeout(timeout));
            }
        };
        let sample = decode(&rows).map_err(run)?;
        Ok(StatementsRead::Sample {
            sample,
            compute_query_id,
            all_stats,
            statements,
        })
    }
}

/// What the statements view shows after one read.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementsUpdate {
    /// The first sample: deltas come with the next one.
    Baseline,
    Deltas(StatementsDelta),
    /// Missing extension or privilege: what to install or grant.
    Unavailable(String),
}

/// One read of the statements view, with what the view should say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementsReport {
    pub update: StatementsUpdate,
    /// `compute_query_id = off`: sessions carry no query_id, Enter cannot find them.
    pub compute_query_id_off: bool,
    /// Statements of other roles the monitoring role may not see.
    pub hidden: i64,
}

impl StatementsTracker {
    /// Fold a read into the tracker and say what the view shows.
    pub fn report(&mut self, read: StatementsRead) -> StatementsReport {
        match read {
            StatementsRead::Unavailable(why) => StatementsReport {
                update: StatementsUpdate::Unavailable(why),
                compute_query_id_off: false,
                hidden: 0,
            },
            StatementsRead::Sample {
                sample,
                compute_query_id,
                ..
            } => {
                let hidden = sample.hidden;
                let update = match self.apply(sample) {
                    Some(d) => StatementsUpdate::Deltas(d),
                    None => StatementsUpdate::Baseline,
                };
                StatementsReport {
                    update,
                    compute_query_id_off: compute_query_id.as_deref() == Some("off"),
                    hidden,
                }
            }
        }
    }
}

/// The sessions running a statement now (PostgreSQL 14+ query_id).
pub fn sessions_running(sessions: &[super::PgSession], queryid: i64) -> Vec<i32> {
    sessions
        .iter()
        .filter(|s| s.query_id == Some(queryid))
        .map(|s| s.pid)
        .collect()
}
