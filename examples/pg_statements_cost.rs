//! What the statements view costs the server, read from pg_stat_statements itself.
//!
//! Starts no server: give it the URL of one where you may create a role (a superuser on a test
//! server with pg_stat_statements preloaded, as in examples/pg_cost.rs). It resets
//! pg_stat_statements, fills it with `--entries` distinct statements, then runs warroom's real
//! statements refresh (`RealPg::statements`, as the view does while visible) every
//! `--interval` for `--refreshes` refreshes while a workload keeps `--active` of those
//! statements running. It prints, per refresh, the wall time, the changed entries returned and
//! the texts sent, then the server time of warroom's statements (total_exec_time).
//!
//! ```sh
//! cargo run --release --example pg_statements_cost -- --url postgres://postgres@127.0.0.1:54329/postgres
//! ```

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use tokio_postgres::{Client, NoTls};

use warroom_core::backends::postgres::statements::{StatementsRead, StatementsTracker};
use warroom_core::backends::postgres::{ConnectSpec, RealPg};

#[derive(Debug, Parser)]
#[command(about = "Measure what warroom's statements view costs the server")]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "warroom_cost")]
    monitor_role: String,
    #[arg(long, default_value_t = 4000)]
    entries: usize,
    /// Distinct statements the workload runs between refreshes.
    #[arg(long, default_value_t = 200)]
    active: usize,
    #[arg(long, default_value_t = 10)]
    refreshes: u32,
    /// The workload runs other statements at each refresh (their texts are new to warroom).
    #[arg(long)]
    rotate: bool,
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

async fn connect(url: &str, application_name: &str) -> anyhow::Result<Client> {
    let mut config: tokio_postgres::Config = url.parse().context("parse --url")?;
    config.application_name(application_name);
    let (client, connection) = config.connect(NoTls).await.context("connect")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Query shapes; with `TABLES` tables, `SHAPES.len() * TABLES` distinct queryids (aliases and
/// constants are not part of a queryid, the tables and the shape are).
const SHAPES: [&str; 20] = [
    "SELECT count(*) FROM {t}",
    "SELECT id FROM {t} WHERE id = 1",
    "SELECT id FROM {t} WHERE id > 1",
    "SELECT id FROM {t} ORDER BY id LIMIT 1",
    "SELECT max(id) FROM {t}",
    "SELECT min(id) FROM {t}",
    "SELECT sum(id) FROM {t}",
    "SELECT avg(id) FROM {t}",
    "SELECT id FROM {t} WHERE id < 1",
    "SELECT id FROM {t} WHERE id <> 1",
    "SELECT count(id) FROM {t}",
    "SELECT id + 1 FROM {t}",
    "SELECT id * 2 FROM {t}",
    "SELECT id - 1 FROM {t}",
    "SELECT DISTINCT id FROM {t}",
    "SELECT id FROM {t} GROUP BY id",
    "SELECT 1 FROM {t} WHERE id IS NULL",
    "SELECT 1 FROM {t} WHERE id IS NOT NULL",
    "SELECT id::text FROM {t}",
    "SELECT abs(id) FROM {t}",
];

/// One distinct normalized statement per `i`.
fn statement(i: usize) -> String {
    let table = format!("pg_statements_cost_{}", i / SHAPES.len());
    SHAPES[i % SHAPES.len()].replace("{t}", &table)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let admin = connect(&args.url, "pg-statements-cost").await?;
    let role = &args.monitor_role;
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
             CREATE ROLE {role} LOGIN; GRANT pg_monitor TO {role}; END IF; END $$; \
             SELECT pg_stat_statements_reset()"
        ))
        .await?;
    let load = connect(&args.url, "pg-statements-load").await?;
    for t in 0..args.entries.div_ceil(SHAPES.len()) {
        load.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS pg_statements_cost_{t} (id int)"
        ))
        .await?;
    }
    load.batch_execute("SELECT pg_stat_statements_reset()")
        .await?;
    for i in 0..args.entries {
        load.batch_execute(&statement(i)).await?;
    }
    let spec =
        ConnectSpec::resolve(&replace_user(&args.url, role), None).map_err(anyhow::Error::msg)?;
    let pg = RealPg::new(spec);
    let mut tracker = StatementsTracker::default();
    let every = Duration::from_secs_f64(args.interval);
    println!("| refresh | wall ms | changed entries returned | texts sent | statements |");
    println!("| --- | --- | --- | --- | --- |");
    for n in 0..args.refreshes {
        // The workload: `active` distinct statements between two refreshes.
        let offset = if args.rotate {
            (n as usize * args.active) % args.entries.max(1)
        } else {
            0
        };
        for i in 0..args.active {
            load.batch_execute(&statement((offset + i) % args.entries.max(1)))
                .await?;
        }
        tokio::time::sleep(every).await;
        let started = Instant::now();
        let read = pg.statements(&tracker).await?;
        let wall = started.elapsed();
        match read {
            StatementsRead::Sample {
                sample, statements, ..
            } => {
                let texts = sample.changed.iter().filter(|c| c.info.is_some()).count();
                println!(
                    "| {} | {:.1} | {} | {} | {} |",
                    n + 1,
                    wall.as_secs_f64() * 1000.0,
                    sample.changed.len(),
                    texts,
                    statements
                );
                tracker.apply(sample);
            }
            StatementsRead::Unavailable(why) => anyhow::bail!(why),
        }
    }
    let rows = admin
        .query(
            "SELECT left(s.query, 40), s.calls, s.total_exec_time, s.rows FROM pg_stat_statements s \
             JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1 ORDER BY s.query",
            &[role],
        )
        .await?;
    println!();
    println!("| warroom statement | calls | server ms (total_exec_time) | ms per call | rows |");
    println!("| --- | --- | --- | --- | --- |");
    for r in rows {
        let (q, calls, total, rows): (String, i64, f64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        println!(
            "| `{q}` | {calls} | {total:.1} | {:.2} | {rows} |",
            total / calls.max(1) as f64
        );
    }
    Ok(())
}

/// `postgres://postgres@host/db` -> `postgres://ROLE@host/db`
fn replace_user(url: &str, role: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{role}@{host}")
        }
        None => url.to_string(),
    }
}
