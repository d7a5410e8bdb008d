//! `warroom pg statements` and `warroom pg explain`: "why is the database slow?" from the
//! command line. The dispatch in the binary only hands over the backend and the arguments.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::Output;
use warroom_core::backends::postgres::RealPg;
use warroom_core::backends::postgres::explain::ExplainResult;
use warroom_core::backends::postgres::statements::{
    StatementsDelta, StatementsRead, StatementsSort, StatementsTracker,
};
use warroom_core::human::human_bytes;
use warroom_core::sanitize;

/// Two samples `interval` apart; prints the deltas of the top statements.
pub async fn statements(
    pg: &RealPg,
    interval: Duration,
    sort: StatementsSort,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let mut tracker = StatementsTracker::default();
    let mut delta = None;
    let mut notes = Vec::new();
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(interval).await;
        }
        match pg.statements(&tracker).await? {
            StatementsRead::Unavailable(why) => {
                eprintln!("{why}");
                return Ok(ExitCode::FAILURE);
            }
            StatementsRead::Sample {
                sample,
                compute_query_id,
                all_stats,
                ..
            } => {
                if round == 1 {
                    if !all_stats && sample.hidden > 0 {
                        notes.push(format!(
                            "{} statement(s) of other roles are hidden: GRANT pg_read_all_stats TO {}",
                            sample.hidden,
                            pg.spec().user()
                        ));
                    }
                    if compute_query_id.as_deref() == Some("off") {
                        notes.push(
                            "compute_query_id is off: sessions carry no query_id, so statements \
                             cannot be linked to the sessions running them"
                                .into(),
                        );
                    }
                }
                delta = tracker.apply(sample);
            }
        }
    }
    let Some(mut delta) = delta else {
        anyhow::bail!("no interval between the two samples (the server clock did not move)");
    };
    sort.sort(&mut delta.statements);
    super::output::print(output, || &delta, || statements_table(&delta, sort))?;
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The table: one line a statement, the text last (cut, sanitized).
pub fn statements_table(delta: &StatementsDelta, sort: StatementsSort) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:.1} s interval, {:.1} ms of execution in all, sorted by {}",
        delta.interval_seconds,
        delta.total_ms_all,
        serde_json::to_value(sort)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "{:>20} {:>9} {:>10} {:>6} {:>10} {:>10} {:>8} {:>9} {:>9} {:>8} {:>10}  QUERY",
        "QUERYID",
        "CALLS/S",
        "TIME ms/s",
        "SHARE",
        "MEAN ms",
        "MAX* ms",
        "ROWS/C",
        "BLK READ",
        "BLK HIT",
        "TEMP",
        "WAL"
    );
    for s in &delta.statements {
        let text = sanitize::cell(
            &s.info
                .query
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            100,
        );
        let _ = writeln!(
            out,
            "{:>20} {:>9.2} {:>10.2} {:>5.1}% {:>10} {:>10.2} {:>8} {:>9} {:>9} {:>8} {:>10}  {}",
            s.queryid,
            s.rates.calls_per_s,
            s.rates.time_ms_per_s,
            s.rates.time_share * 100.0,
            s.rates
                .per_call
                .map_or("-".into(), |p| format!("{:.2}", p.mean_ms)),
            s.interval.max_ms,
            s.rates
                .per_call
                .map_or("-".into(), |p| format!("{:.1}", p.rows)),
            s.interval.shared_blks_read,
            s.interval.shared_blks_hit,
            s.interval.temp_blks,
            s.interval
                .wal_bytes
                .map_or("-".into(), |b| human_bytes(b as f64)),
            text
        );
    }
    if delta.not_shown > 0 {
        let _ = writeln!(
            out,
            "... and {} more statement(s) not shown",
            delta.not_shown
        );
    }
    let _ = writeln!(
        out,
        "MAX*: largest single execution since the entry was created or reset"
    );
    out
}

/// The plan of what `pid` runs; non-zero exit when it was refused.
pub async fn explain(pg: &RealPg, pid: i32, output: Output) -> anyhow::Result<ExitCode> {
    let result = pg.explain(pid).await?;
    super::output::print(output, || &result, || explain_text(&result))?;
    if let Some(why) = &result.refused {
        eprintln!("no plan for pid {pid}: {why}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn explain_text(result: &ExplainResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pid {} ({}, database {}):",
        result.pid,
        result.state.as_deref().unwrap_or("?"),
        result.database.as_deref().unwrap_or("?")
    );
    let _ = writeln!(out, "  {}", sanitize::sanitize(&result.query, 4000));
    if result.generic_plan {
        let _ = writeln!(
            out,
            "generic plan (EXPLAIN (GENERIC_PLAN): the $n values are not known):"
        );
    }
    for line in &result.plan {
        let _ = writeln!(out, "{}", sanitize::sanitize(line, 4000));
    }
    out
}
