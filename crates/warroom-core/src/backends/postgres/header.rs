//! The server header: figures read in the activity statement itself (no extra statement),
//! and the rates derived client-side from two consecutive refreshes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PgSession;
use crate::human::{duration_short, human_bytes};

/// What one refresh reads about the server as a whole. Counters marked cumulative only mean
/// something as a difference between two refreshes (see [`HeaderTracker`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerFigures {
    /// The server's `now()` (epoch seconds): deltas divide by the server's own interval.
    pub server_time: f64,
    pub in_recovery: bool,
    pub max_connections: i64,
    /// Client backends, warroom's own included.
    pub connections: i64,
    /// Client backends per state (`unknown` when privileges hide it).
    #[serde(default)]
    pub connections_by_state: BTreeMap<String, i64>,
    /// Cumulative, summed over pg_stat_database.
    pub xact_commit: i64,
    pub xact_rollback: i64,
    pub blks_read: i64,
    pub blks_hit: i64,
    pub temp_bytes: i64,
    /// Whoever holds back the xmin horizon the longest (vacuum cannot clean behind it).
    pub oldest_xmin: Option<XminHolder>,
    /// On a primary: one entry per connected standby (pg_stat_replication).
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// On a standby: where replay stands.
    pub standby: Option<StandbyStatus>,
}

/// A session, a prepared transaction or a replication slot holding the oldest xmin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XminHolder {
    /// `session`, `prepared transaction` or `replication slot`.
    pub kind: String,
    /// The pid, the prepared transaction's gid, or the slot name.
    pub id: String,
    pub pid: Option<i32>,
    /// Transactions since its xmin (age(xmin)).
    pub age_xids: i64,
    /// Session state, or `active`/`inactive` for a slot.
    pub state: Option<String>,
    /// application_name (or backend type) of a session, owner of a prepared transaction,
    /// slot type of a slot.
    pub detail: Option<String>,
    /// How long its transaction (or the prepared transaction) has been open.
    pub seconds: Option<f64>,
}

impl XminHolder {
    pub fn describe(&self) -> String {
        let mut text = match self.kind.as_str() {
            "session" => format!("pid {}", self.id),
            other => format!("{other} {}", self.id),
        };
        if let Some(d) = self.detail.as_deref().filter(|d| !d.is_empty()) {
            text.push_str(&format!(" ({d})"));
        }
        if let Some(s) = self.state.as_deref() {
            text.push_str(&format!(", {s}"));
        }
        text.push_str(&format!(", {} xids behind", self.age_xids));
        if let Some(secs) = self.seconds {
            text.push_str(&format!(", open {}", duration_short(secs)));
        }
        text
    }
}

/// One standby as its primary sees it: which one, its connection's state, how far behind.
/// The JSON is flat (the lag's fields beside the others).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub application: Option<String>,
    pub client_addr: Option<String>,
    pub state: Option<String>,
    pub sync_state: Option<String>,
    #[serde(flatten)]
    pub lag: ReplicaLag,
}

/// How far a standby is behind its primary (pg_stat_replication).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplicaLag {
    /// WAL bytes the standby has not replayed yet (NULL without pg_monitor).
    pub lag_bytes: Option<i64>,
    /// Seconds until recent WAL was written, flushed, replayed on the standby.
    pub write_lag: Option<f64>,
    pub flush_lag: Option<f64>,
    /// NULL once an idle standby caught up.
    pub replay_lag: Option<f64>,
}

/// A standby's own view of its replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandbyStatus {
    pub receive_lsn: Option<String>,
    pub replay_lsn: Option<String>,
    /// Received but not replayed yet.
    pub lag_bytes: Option<i64>,
    /// Seconds since the last replayed transaction was committed on the primary.
    pub last_replay_age: Option<f64>,
    pub replay_paused: bool,
    /// pg_stat_wal_receiver.status (`streaming`), None when no WAL receiver runs.
    pub receiver: Option<String>,
}

impl StandbyStatus {
    /// Replay lag in seconds: 0 when everything received is replayed (an idle primary sends
    /// nothing, so the age of the last replayed commit alone would only grow), else the age of
    /// the last replayed commit.
    pub fn replay_lag_seconds(&self) -> Option<f64> {
        match self.lag_bytes {
            Some(0) => Some(0.0),
            _ => self.last_replay_age.map(|s| s.max(0.0)),
        }
    }
}

/// Rates between two refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    pub interval_seconds: f64,
    pub commits_per_s: f64,
    pub rollbacks_per_s: f64,
    /// blks_hit / (blks_hit + blks_read) over the interval; None when nothing was read.
    pub cache_hit_ratio: Option<f64>,
    pub temp_bytes_per_s: f64,
}

/// The longest open transaction among the client sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongestXact {
    pub pid: i32,
    pub seconds: f64,
    pub state: Option<String>,
}

/// What the header shows for one refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerHeader {
    pub figures: ServerFigures,
    /// None on the first refresh, and after a statistics reset or a server restart.
    pub rates: Option<Rates>,
    pub longest_xact: Option<LongestXact>,
}

impl ServerHeader {
    /// One-line summaries, for the CLI and the pane's header.
    pub fn lines(&self) -> Vec<String> {
        let f = &self.figures;
        let states = f
            .connections_by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = vec![format!(
            "connections {}/{} ({states}){}",
            f.connections,
            f.max_connections,
            if f.in_recovery { "  in recovery" } else { "" }
        )];
        out.push(match &self.rates {
            Some(r) => format!(
                "commits {:.1}/s  rollbacks {:.1}/s  cache hit {}  temp {}/s",
                r.commits_per_s,
                r.rollbacks_per_s,
                r.cache_hit_ratio
                    .map_or("-".to_string(), |c| format!("{:.1}%", c * 100.0)),
                human_bytes(r.temp_bytes_per_s)
            ),
            None => "commits, rollbacks, cache hit, temp: from the next refresh".to_string(),
        });
        let longest = self.longest_xact.as_ref().map_or("none".to_string(), |l| {
            format!(
                "pid {} {}{}",
                l.pid,
                duration_short(l.seconds),
                l.state
                    .as_deref()
                    .map_or(String::new(), |s| format!(" ({s})"))
            )
        });
        let xmin = f
            .oldest_xmin
            .as_ref()
            .map_or("none".to_string(), XminHolder::describe);
        out.push(format!("longest xact {longest}  oldest xmin {xmin}"));
        for r in &f.replicas {
            out.push(format!(
                "standby {} {}: {} behind, replay lag {}",
                r.application.as_deref().unwrap_or("?"),
                r.state.as_deref().unwrap_or("?"),
                r.lag
                    .lag_bytes
                    .map_or("?".to_string(), |b| human_bytes(b as f64)),
                r.lag.replay_lag.map_or("-".to_string(), duration_short)
            ));
        }
        if let Some(s) = &f.standby {
            out.push(format!(
                "in recovery: replay lag {} ({} received, not replayed){}{}",
                s.replay_lag_seconds()
                    .map_or("?".to_string(), duration_short),
                s.lag_bytes
                    .map_or("?".to_string(), |b| human_bytes(b as f64)),
                if s.replay_paused {
                    ", replay paused"
                } else {
                    ""
                },
                match s.receiver.as_deref() {
                    Some(r) => format!(", receiver {r}"),
                    None => ", no WAL receiver".to_string(),
                }
            ));
        }
        out
    }
}

/// Keeps the previous refresh's figures, so each refresh yields rates.
#[derive(Debug, Default, Clone)]
pub struct HeaderTracker {
    previous: Option<ServerFigures>,
}

impl HeaderTracker {
    pub fn update(&mut self, figures: ServerFigures, sessions: &[PgSession]) -> ServerHeader {
        let rates = self.previous.as_ref().and_then(|p| rates(p, &figures));
        self.previous = Some(figures.clone());
        ServerHeader {
            figures,
            rates,
            longest_xact: longest_xact(sessions),
        }
    }
}

/// Rates from two refreshes; None when no time passed or a counter went backwards
/// (statistics reset, server restarted): a negative rate would be a lie.
pub fn rates(previous: &ServerFigures, current: &ServerFigures) -> Option<Rates> {
    let dt = current.server_time - previous.server_time;
    if dt.is_nan() || dt <= 0.0 {
        return None;
    }
    let delta = |a: i64, b: i64| (b >= a).then_some((b - a) as f64);
    let commits = delta(previous.xact_commit, current.xact_commit)?;
    let rollbacks = delta(previous.xact_rollback, current.xact_rollback)?;
    let read = delta(previous.blks_read, current.blks_read)?;
    let hit = delta(previous.blks_hit, current.blks_hit)?;
    let temp = delta(previous.temp_bytes, current.temp_bytes)?;
    Some(Rates {
        interval_seconds: dt,
        commits_per_s: commits / dt,
        rollbacks_per_s: rollbacks / dt,
        cache_hit_ratio: (read + hit > 0.0).then(|| hit / (read + hit)),
        temp_bytes_per_s: temp / dt,
    })
}

/// The client session whose transaction has been open the longest.
pub fn longest_xact(sessions: &[PgSession]) -> Option<LongestXact> {
    sessions
        .iter()
        .filter_map(|s| s.xact_seconds.map(|x| (s, x)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(s, x)| LongestXact {
            pid: s.pid,
            seconds: x,
            state: s.state.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(
        t: f64,
        commit: i64,
        rollback: i64,
        read: i64,
        hit: i64,
        temp: i64,
    ) -> ServerFigures {
        ServerFigures {
            server_time: t,
            xact_commit: commit,
            xact_rollback: rollback,
            blks_read: read,
            blks_hit: hit,
            temp_bytes: temp,
            ..ServerFigures::default()
        }
    }

    #[test]
    fn rates_divide_deltas_by_the_server_interval() {
        let a = figures(100.0, 1000, 10, 500, 9500, 0);
        let b = figures(102.0, 1200, 14, 600, 10400, 4096);
        let r = rates(&a, &b).expect("rates");
        assert_eq!(r.interval_seconds, 2.0);
        assert_eq!(r.commits_per_s, 100.0);
        assert_eq!(r.rollbacks_per_s, 2.0);
        // 900 hits, 100 reads in the interval: 90%, not the 94.5% since the server started.
        assert_eq!(r.cache_hit_ratio, Some(0.9));
        assert_eq!(r.temp_bytes_per_s, 2048.0);
    }

    #[test]
    fn no_rates_after_a_reset_or_without_time_passing() {
        let a = figures(100.0, 1000, 10, 500, 9500, 0);
        assert_eq!(rates(&a, &figures(101.0, 3, 0, 1, 1, 0)), None);
        assert_eq!(rates(&a, &a), None);
        let idle = rates(&a, &figures(101.0, 1000, 10, 500, 9500, 0)).expect("rates");
        assert_eq!(idle.cache_hit_ratio, None, "no block touched: no ratio");
    }

    #[test]
    fn tracker_gives_rates_from_the_second_refresh_on() {
        let mut t = HeaderTracker::default();
        assert_eq!(t.update(figures(1.0, 1, 0, 0, 0, 0), &[]).rates, None);
        let second = t.update(figures(2.0, 11, 0, 0, 0, 0), &[]);
        assert_eq!(second.rates.map(|r| r.commits_per_s), Some(10.0));
    }

    #[test]
    fn a_replica_reads_and_writes_one_flat_json_object() {
        // As the activity statement writes it (json_build_object), lags NULL or missing.
        let text = r#"{"application": "replica-1", "client_addr": null, "state": "streaming",
            "sync_state": "async", "lag_bytes": 8192, "write_lag": null, "flush_lag": 0.5}"#;
        let r: Replica = serde_json::from_str(text).expect("decodes");
        assert_eq!(r.application.as_deref(), Some("replica-1"));
        let lag = ReplicaLag {
            lag_bytes: Some(8192),
            write_lag: None,
            flush_lag: Some(0.5),
            replay_lag: None,
        };
        assert_eq!(r.lag, lag);
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["lag_bytes"], 8192);
        assert_eq!(json["flush_lag"], 0.5);
        assert!(json.get("lag").is_none(), "{json}");
    }

    #[test]
    fn standby_replay_lag_is_zero_when_caught_up() {
        let mut s = StandbyStatus {
            receive_lsn: None,
            replay_lsn: None,
            lag_bytes: Some(0),
            last_replay_age: Some(300.0),
            replay_paused: false,
            receiver: Some("streaming".into()),
        };
        assert_eq!(s.replay_lag_seconds(), Some(0.0));
        s.lag_bytes = Some(8192);
        assert_eq!(s.replay_lag_seconds(), Some(300.0));
    }
}
