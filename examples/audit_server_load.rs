//! Load harness for `warroom server`: the read query at 1,000,000 records, and sustained ingest
//! from 50 concurrent clients. Loopback only, bounded in time and count.
//!
//! Give it a throwaway PostgreSQL where you may create a database: it (re)creates the database
//! `warroom_load`, runs the real server in this process on a free 127.0.0.1 port (the same
//! `warroom_server::run` as `warroom server`), and talks to it over HTTP like clients do.
//!
//! 1. Bulk-loads `--records` sealed records (COPY, bypassing the API: this is about the query)
//!    spread over 30 days, 50 identities, 20 contexts, 6 actions; ANALYZE.
//! 2. Query: `GET /v1/audit?since=<day>&until=<day+1>&actor=<identity>` for `--queries` random
//!    (day, identity) pairs, one at a time, at limit 100 (the default page) and limit 1000 (the
//!    whole day of that identity in one page); latency percentiles, end to end over HTTP.
//! 3. Ingest: `--clients` tasks, each its own connection and client session with its own hash
//!    chain, POST records as fast as the server answers, for `--seconds` (or `--max-ingest`
//!    records); records/s and latency percentiles.
//!
//! A throwaway server (Debian, as root):
//! ```sh
//! B=/usr/lib/postgresql/15/bin; D=/dev/shm/wr-load
//! mkdir -p $D && chown postgres $D
//! runuser -u postgres -- $B/initdb -D $D/data -A trust -U postgres
//! runuser -u postgres -- $B/pg_ctl -D $D/data -l $D/server.log -w start -o \
//!   "-p 54330 -k $D -c listen_addresses=127.0.0.1 -c max_connections=200"
//! cargo run --release --example audit_server_load -- --url postgres://postgres@127.0.0.1:54330/postgres
//! runuser -u postgres -- $B/pg_ctl -D $D/data -m fast stop
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::json;
use tokio_postgres::NoTls;

use warroom_core::audit::{
    Actor, AuditRecord, ContextRef, Delivery, GENESIS_HASH, Phase, RECORD_VERSION, RecordedOutcome,
};
use warroom_server::config::ServerConfig;

const TOKEN: &str = "load-harness-token";
const DAYS: u64 = 30;
const IDENTITIES: usize = 50;
const CONTEXTS: usize = 20;
const ACTIONS: [&str; 6] = [
    "pg.cancel",
    "pg.terminate",
    "kafka.delete_group",
    "kafka.reset_offsets",
    "kube.delete_pod",
    "kube.restart",
];

#[derive(Parser, Debug)]
struct Args {
    /// A PostgreSQL where the database `warroom_load` may be dropped and created.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    #[arg(long, default_value_t = 200)]
    queries: usize,
    #[arg(long, default_value_t = 50)]
    clients: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 200_000)]
    max_ingest: usize,
    /// Keep `warroom_load` from an earlier run when it holds `--records` bulk records (skips
    /// the load; the records of earlier ingest runs are deleted first).
    #[arg(long)]
    keep_data: bool,
}

/// Splitmix64: reproducible choices without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn identity(i: usize) -> String {
    format!("dev{i:02}@example.com")
}

/// Who did what where: identity index, context index, action.
type Pick<'a> = (usize, usize, &'a str);

fn record(
    id: String,
    time: SystemTime,
    pick: Pick<'_>,
    session: &str,
    prev: &str,
    n: u64,
) -> AuditRecord {
    let (who, ctx, action) = pick;
    let mut r = AuditRecord {
        version: RECORD_VERSION,
        id,
        time: humantime::format_rfc3339_millis(time).to_string(),
        phase: if n.is_multiple_of(2) {
            Phase::Intent
        } else {
            Phase::Outcome
        },
        intent_id: None,
        actor: Actor {
            user: format!("dev{who:02}"),
            host: format!("laptop-{who:02}"),
            identity: Some(identity(who)),
        },
        context: ContextRef {
            kind: "postgres".into(),
            name: format!("prod-{ctx:02}"),
        },
        action: action.to_string(),
        target: json!({"pid": 10_000 + n % 50_000, "backend_start": "2026-03-01T09:00:00.000Z",
                       "query": "SELECT * FROM orders WHERE customer_id = $1 FOR UPDATE"}),
        reason: format!(
            "INC-{} runaway report query blocks checkout",
            1000 + n % 9000
        ),
        outcome: (n % 2 == 1).then(|| RecordedOutcome {
            ok: true,
            detail: "pg_cancel_backend returned true".into(),
            unknown: false,
        }),
        delivery: Delivery::Remote,
        tool_version: "0.1.0".into(),
        session_id: session.to_string(),
        prev_hash: String::new(),
        hash: String::new(),
    };
    let _ = r.seal(prev);
    r
}

/// Inserts in batches of 10,000 rows through `unnest` (no COPY: fewer moving parts).
async fn bulk_load(db: &tokio_postgres::Client, n: usize, day0: SystemTime) -> anyhow::Result<()> {
    let insert = db
        .prepare(
            "INSERT INTO audit_records (id, time, received_from, actor_identity, \
             identity_mismatch, phase, action, context_kind, context_name, session_id, \
             prev_hash, hash, hash_ok, prev_seen, record) \
             SELECT id, time, who, who, false, phase, action, 'postgres', ctx, session, prev, \
               hash, true, true, record \
             FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
               $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
               AS t(id, time, who, phase, action, ctx, session, prev, hash, record)",
        )
        .await?;
    let mut rng = Rng(42);
    let span = DAYS * 86_400_000;
    let mut prev: Vec<String> = vec![GENESIS_HASH.to_string(); IDENTITIES];
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(10_000);
        let mut cols: [Vec<String>; 9] = Default::default();
        let mut times: Vec<SystemTime> = Vec::with_capacity(batch);
        for i in done..done + batch {
            let who = rng.below(IDENTITIES as u64) as usize;
            let ctx = rng.below(CONTEXTS as u64) as usize;
            let action = ACTIONS[rng.below(ACTIONS.len() as u64) as usize];
            let time = day0 + Duration::from_millis(rng.below(span));
            let session = format!("bulk-session-{who:02}");
            let r = record(
                format!("bulk-{i:07}"),
                time,
                (who, ctx, action),
                &session,
                &prev[who],
                i as u64,
            );
            prev[who] = r.hash.clone();
            let line = serde_json::to_value(&r).map(|v| warroom_core::audit::canonical_json(&v))?;
            times.push(time);
            for (col, v) in cols.iter_mut().zip([
                r.id.clone(),
                identity(who),
                r.phase.as_str().to_string(),
                r.action.clone(),
                r.context.name.clone(),
                r.session_id.clone(),
                r.prev_hash.clone(),
                r.hash.clone(),
                line,
            ]) {
                col.push(v);
            }
        }
        let [ids, who, phase, action, ctx, session, prevs, hash, record] = &cols;
        db.execute(
            &insert,
            &[
                ids, &times, who, phase, action, ctx, session, prevs, hash, record,
            ],
        )
        .await?;
        done += batch;
        if done % 200_000 == 0 {
            eprintln!("  loaded {done}");
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn show(label: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!(
        "{label}: n={} p50={:.2} ms p95={:.2} ms p99={:.2} ms max={:.2} ms",
        d.len(),
        ms(percentile(&d, 0.5)),
        ms(percentile(&d, 0.95)),
        ms(percentile(&d, 0.99)),
        ms(*d.last().unwrap_or(&Duration::ZERO)),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (admin, conn) = tokio_postgres::connect(&args.url, NoTls)
        .await
        .context("connect to --url")?;
    tokio::spawn(conn);
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = 'warroom_load'",
            &[],
        )
        .await?
        .is_some();
    if !(args.keep_data && exists) {
        admin
            .batch_execute("DROP DATABASE IF EXISTS warroom_load")
            .await?;
        admin.batch_execute("CREATE DATABASE warroom_load").await?;
    }
    let load_url = match args.url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/warroom_load"),
        None => bail!("--url must end with /DATABASE"),
    };

    // The server, in this process, on loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{load_url}?sslmode=disable\"\n\
         pool_size = 16\n[[server.token]]\nidentity = \"load@example.com\"\nsha256 = \"{}\"\n",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(TOKEN.as_bytes()))
    );
    let config = ServerConfig::parse(std::path::Path::new("load.toml"), &text)?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = {
        let stop = stop.clone();
        tokio::spawn(async move {
            warroom_server::run(config, async move { stop.notified().await }).await
        })
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            bail!("the server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 1. Bulk load.
    let (db, conn) = tokio_postgres::connect(&load_url, NoTls).await?;
    tokio::spawn(conn);
    let day0 = humantime::parse_rfc3339("2026-01-01T00:00:00Z")?;
    let t = Instant::now();
    let bulk: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_records WHERE id LIKE 'bulk-%'",
            &[],
        )
        .await?
        .get(0);
    if args.keep_data && bulk as usize == args.records {
        // VACUUM cannot share a (multi-statement, implicit) transaction with the DELETE.
        db.batch_execute("DELETE FROM audit_records WHERE id LIKE 'ingest-%'")
            .await?;
        db.batch_execute("VACUUM ANALYZE audit_records").await?;
        println!("kept the {bulk} bulk records of an earlier run");
    } else {
        bulk_load(&db, args.records, day0).await?;
        db.batch_execute("ANALYZE audit_records").await?;
    }
    let count: i64 = db
        .query_one("SELECT count(*) FROM audit_records", &[])
        .await?
        .get(0);
    let size: String = db
        .query_one(
            "SELECT pg_size_pretty(pg_total_relation_size('audit_records'))",
            &[],
        )
        .await?
        .get(0);
    println!(
        "{count} records ready in {:.1} s (table + indexes: {size})",
        t.elapsed().as_secs_f64()
    );

    // 2. Query: one day, one identity.
    let mut rng = Rng(7);
    for limit in [100usize, 1000] {
        let mut times = Vec::new();
        let mut rows = 0usize;
        for _ in 0..args.queries {
            let day = rng.below(DAYS);
            let who = identity(rng.below(IDENTITIES as u64) as usize);
            let since = humantime::format_rfc3339(day0 + Duration::from_secs(day * 86_400));
            let until = humantime::format_rfc3339(day0 + Duration::from_secs((day + 1) * 86_400));
            let url =
                format!("{base}/v1/audit?since={since}&until={until}&actor={who}&limit={limit}");
            let t = Instant::now();
            let r = http.get(&url).bearer_auth(TOKEN).send().await?;
            if r.status() != 200 {
                bail!("query answered {}", r.status());
            }
            let v: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
            times.push(t.elapsed());
            rows += v["records"].as_array().map_or(0, Vec::len);
        }
        show(
            &format!(
                "query one day + one actor, limit {limit} (avg {} records)",
                rows / args.queries.max(1)
            ),
            times,
        );
    }
    let plan: Vec<String> = db
        .query(
            "EXPLAIN SELECT id FROM audit_records WHERE time >= '2026-01-10' AND time < '2026-01-11' \
             AND received_from = 'dev07@example.com' ORDER BY time DESC, id DESC LIMIT 101",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    println!("plan:\n  {}", plan.join("\n  "));

    // 3. Ingest: 50 clients, each its own session and hash chain.
    let sent = Arc::new(AtomicUsize::new(0));
    let over = Arc::new(AtomicBool::new(false));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (sent, over, base) = (sent.clone(), over.clone(), base.clone());
        let max = args.max_ingest;
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut prev = GENESIS_HASH.to_string();
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while !over.load(Ordering::Relaxed) && sent.fetch_add(1, Ordering::Relaxed) < max {
                let r = record(
                    format!("ingest-{c:02}-{n:07}"),
                    SystemTime::now(),
                    (c % IDENTITIES, c % CONTEXTS, ACTIONS[c % ACTIONS.len()]),
                    &format!("ingest-session-{c:02}"),
                    &prev,
                    n,
                );
                prev = r.hash.clone();
                let body = serde_json::to_string(&r)?;
                let t = Instant::now();
                let answer = http
                    .post(format!("{base}/v1/audit"))
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if answer.status() != 200 {
                    bail!("ingest answered {}", answer.status());
                }
                let _ = answer.bytes().await?;
                latencies.push(t.elapsed());
                n += 1;
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let limit = Duration::from_secs(args.seconds);
    while t.elapsed() < limit && sent.load(Ordering::Relaxed) < args.max_ingest {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    over.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = t.elapsed().as_secs_f64();
    println!(
        "ingest: {} records from {} clients in {:.1} s = {:.0} records/s",
        all.len(),
        args.clients,
        elapsed,
        all.len() as f64 / elapsed
    );
    show("ingest POST latency", all);
    let bad: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_records WHERE id LIKE 'ingest-%' AND NOT (hash_ok AND prev_seen)",
            &[],
        )
        .await?
        .get(0);
    println!("ingested records with a flag (hash or chain): {bad}");

    stop.notify_one();
    stopped.await?.map_err(anyhow::Error::msg)?;
    Ok(())
}
