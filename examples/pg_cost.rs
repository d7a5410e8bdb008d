//! What warroom costs the PostgreSQL server it watches, read from pg_stat_statements.
//!
//! Starts no server: give it the URL of one where you may create a role and sessions (a
//! superuser on a test server). It opens a load like an incident's (`--idle` idle sessions,
//! `--active` sessions in pg_sleep, and a lock chain: a migration idle in transaction holding a
//! row lock, three waiters queued behind it and one behind a waiter; 447 sessions by default,
//! 448 with warroom's), resets pg_stat_statements, then runs warroom's real refresh
//! (`RealPg::activity`, the one statement per refresh) every `--interval` for `--seconds`,
//! applying each snapshot to the App and drawing a 200x50 frame as the TUI would. It reports
//! statements per refresh, server milliseconds per refresh (execution, total_exec_time, and
//! planning, total_plan_time: start the server with `pg_stat_statements.track_planning = on`),
//! rows, and the CPU time of the thread that did warroom's work.
//!
//! When pg_activity is installed (`--pg-activity PATH`, else `pg_activity` on PATH, else
//! `~/.cache/warroom/pg_activity-pkg/bin/pg_activity`, what
//! `pip install --target ~/.cache/warroom/pg_activity-pkg pg_activity` makes) it runs beside
//! warroom in the same window, in a 200x50 tmux terminal, as its own pg_monitor role
//! (`--pg-activity-role`), refreshing every second: the same figures for both, side by side. At the end it terminates the sessions it opened
//! (application_name `pg-cost-*`; sessions in pg_sleep would not notice their client left).
//!
//! warroom connects as `--monitor-role` (created with pg_monitor unless it exists), so every
//! statement of that role in pg_stat_statements is warroom's.
//!
//! A throwaway server (Debian, as root; trust auth, pg_stat_statements preloaded):
//! ```sh
//! B=/usr/lib/postgresql/15/bin; D=/tmp/wr-cost
//! mkdir -p $D && chown postgres $D
//! runuser -u postgres -- $B/initdb -D $D/data -A trust -U postgres
//! runuser -u postgres -- $B/pg_ctl -D $D/data -l $D/server.log -w start -o \
//!   "-p 54329 -k $D -c listen_addresses=127.0.0.1 -c max_connections=600 \
//!    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
//!    -c pg_stat_statements.track_planning=on"
//! cargo run --release --example pg_cost -- --url postgres://postgres@127.0.0.1:54329/postgres
//! runuser -u postgres -- $B/pg_ctl -D $D/data -m fast stop
//! ```
//! Against another server, pass `--monitor-url` when the monitor role needs a password, and
//! `--idle 0 --active 0 --no-chain` to add no load of your own.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio_postgres::{Client, NoTls};

use warroom_core::backends::postgres::{ConnectSpec, PgSource, PrepareMode, RealPg, blocking_tree};
use warroom_tui::app::{GuardInfo, Msg};
use warroom_tui::setup::Assembly;
use warroom_tui::workers::{Event, Update};

#[derive(Debug, Parser)]
#[command(about = "Measure what warroom's PostgreSQL refreshes cost the server")]
struct Args {
    /// A superuser URL of the server to measure (NoTls: meant for test servers).
    #[arg(long)]
    url: String,
    /// The role warroom connects as; created with pg_monitor when missing.
    #[arg(long, default_value = "warroom_cost")]
    monitor_role: String,
    /// warroom's URL; default: the --url server as --monitor-role, no password.
    #[arg(long)]
    monitor_url: Option<String>,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    #[arg(long, default_value_t = 400)]
    idle: usize,
    #[arg(long, default_value_t = 40)]
    active: usize,
    /// Do not open the lock chain.
    #[arg(long)]
    no_chain: bool,
    /// Only fetch; do not apply snapshots to the App or draw frames.
    #[arg(long)]
    no_render: bool,
    /// The context's `prepare` setting: auto, always or never.
    #[arg(long, default_value = "auto")]
    prepare: String,
    /// pg_activity to run beside warroom (default: on PATH, else the pip --target cache).
    #[arg(long)]
    pg_activity: Option<std::path::PathBuf>,
    /// Do not run pg_activity even when it is installed.
    #[arg(long)]
    no_pg_activity: bool,
    /// The role pg_activity connects as; created with pg_monitor when missing.
    #[arg(long, default_value = "pgactivity_cost")]
    pg_activity_role: String,
}

const LOAD_APP: &str = "pg-cost-load";
/// application_name of every session the load opens, for the clean-up at the end.
const LOAD_APPS: [&str; 8] = [
    LOAD_APP,
    "pg-cost-idle-app",
    "pg-cost-sleeper",
    "pg-cost-migration",
    "pg-cost-api-1",
    "pg-cost-api-2",
    "pg-cost-api-3",
    "pg-cost-report",
];

async fn connect(url: &str, application_name: &str) -> anyhow::Result<Client> {
    let mut config: tokio_postgres::Config = url.parse().context("parse --url")?;
    config.application_name(application_name);
    let (client, connection) = config
        .connect(NoTls)
        .await
        .with_context(|| format!("connect to {url} (as {application_name})"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Sessions that stay as they are until dropped (their queries run in background tasks).
struct Load {
    _clients: Vec<std::sync::Arc<Client>>,
}

async fn open_load(args: &Args) -> anyhow::Result<Load> {
    let mut clients = Vec::new();
    for _ in 0..args.idle {
        clients.push(std::sync::Arc::new(connect(&args.url, LOAD_APP).await?));
    }
    let background = |client: &std::sync::Arc<Client>, sql: &'static str| {
        let client = client.clone();
        tokio::spawn(async move {
            let _ = client.batch_execute(sql).await;
        });
    };
    for _ in 0..args.active {
        let c = std::sync::Arc::new(connect(&args.url, LOAD_APP).await?);
        background(&c, "SELECT pg_sleep(3600)");
        clients.push(c);
    }
    if !args.no_chain {
        let admin = connect(&args.url, "pg-cost").await?;
        admin
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS pg_cost_accounts (id int PRIMARY KEY, balance int);
                 INSERT INTO pg_cost_accounts VALUES (1, 100), (2, 200) ON CONFLICT DO NOTHING;",
            )
            .await?;
        let open = |app: &'static str| {
            let url = args.url.clone();
            async move { connect(&url, app).await.map(std::sync::Arc::new) }
        };
        clients.push(open("pg-cost-idle-app").await?);
        let sleeper = open("pg-cost-sleeper").await?;
        background(&sleeper, "SELECT pg_sleep(3600)");
        clients.push(sleeper);
        let migration = open("pg-cost-migration").await?;
        migration
            .batch_execute("BEGIN; UPDATE pg_cost_accounts SET balance = balance WHERE id = 1")
            .await?;
        clients.push(migration);
        for app in ["pg-cost-api-1", "pg-cost-api-2"] {
            let c = open(app).await?;
            background(
                &c,
                "UPDATE pg_cost_accounts SET balance = balance - 1 WHERE id = 1",
            );
            wait_until(
                &admin,
                "application_name = $1 AND wait_event_type = 'Lock'",
                app,
                1,
            )
            .await?;
            clients.push(c);
        }
        let api3 = open("pg-cost-api-3").await?;
        api3.batch_execute("BEGIN; UPDATE pg_cost_accounts SET balance = balance + 1 WHERE id = 2")
            .await?;
        background(
            &api3,
            "UPDATE pg_cost_accounts SET balance = balance - 1 WHERE id = 1",
        );
        wait_until(
            &admin,
            "application_name = $1 AND wait_event_type = 'Lock'",
            "pg-cost-api-3",
            1,
        )
        .await?;
        clients.push(api3);
        let report = open("pg-cost-report").await?;
        background(
            &report,
            "UPDATE pg_cost_accounts SET balance = balance * 1 WHERE id = 2",
        );
        wait_until(
            &admin,
            "application_name = $1 AND wait_event_type = 'Lock'",
            "pg-cost-report",
            1,
        )
        .await?;
        clients.push(report);
    }
    let admin = connect(&args.url, "pg-cost").await?;
    wait_until(
        &admin,
        "application_name = $1 AND wait_event = 'PgSleep'",
        LOAD_APP,
        args.active as i64,
    )
    .await?;
    Ok(Load { _clients: clients })
}

/// Polls pg_stat_activity until `n` sessions match `condition` (with $1 = `app`).
async fn wait_until(admin: &Client, condition: &str, app: &str, n: i64) -> anyhow::Result<()> {
    let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE {condition}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count: i64 = admin.query_one(&sql, &[&app]).await?.get(0);
        if count >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("after 30 s only {count} of {n} sessions match {condition} ({app})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU time of the calling thread: /proc/thread-self/schedstat (ns), else stat (ticks).
fn thread_cpu() -> Duration {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .filter(|&ns| ns > 0)
    {
        return Duration::from_nanos(ns);
    }
    let ticks: u64 = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // Fields 14 and 15 (utime, stime); `after` starts at field 3.
            Some(after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// What warroom's thread measured.
#[derive(Debug, Default)]
struct ClientSide {
    refreshes: u32,
    sessions_last: usize,
    tree_roots_last: usize,
    cpu: Duration,
    render_cpu: Duration,
    fetch_wall: Vec<Duration>,
    errors: Vec<String>,
}

/// warroom's work, alone on one thread with its own runtime, so its CPU time is its own.
fn run_warroom(
    spec: ConnectSpec,
    prepare: PrepareMode,
    refreshes: u32,
    every: Duration,
    render: bool,
) -> ClientSide {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return ClientSide {
                errors: vec![format!("runtime: {e}")],
                ..ClientSide::default()
            };
        }
    };
    runtime.block_on(async move {
        let mut out = ClientSide::default();
        let pg = RealPg::new(spec).with_prepare(prepare);
        let mut app = Assembly::new(GuardInfo::default())
            .pg_context("cost")
            .refresh(every)
            .app();
        let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(format!("terminal: {e}"));
                return out;
            }
        };
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let cpu_start = thread_cpu();
        for _ in 0..refreshes {
            ticker.tick().await;
            let started = Instant::now();
            let result = pg.activity().await;
            out.fetch_wall.push(started.elapsed());
            out.refreshes += 1;
            match result {
                Ok(snapshot) => {
                    out.sessions_last = snapshot.sessions.len();
                    out.tree_roots_last = blocking_tree(&snapshot.sessions).len();
                    if render {
                        let cpu = thread_cpu();
                        app.update(Msg::Worker(Event::PgUpdate(Update {
                            context: "cost".into(),
                            result: Ok(snapshot),
                            retry_in: None,
                        })));
                        if let Err(e) = terminal.draw(|f| app.render(f)) {
                            out.errors.push(format!("draw: {e}"));
                        }
                        out.render_cpu += thread_cpu().saturating_sub(cpu);
                    }
                }
                Err(e) => out.errors.push(e.to_string()),
            }
        }
        out.cpu = thread_cpu().saturating_sub(cpu_start);
        out
    })
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates `role` (LOGIN, pg_monitor) unless it exists.
async fn ensure_monitor_role(admin: &Client, role: &str) -> anyhow::Result<()> {
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{lit}') THEN
                 CREATE ROLE {ident} LOGIN; GRANT pg_monitor TO {ident};
               END IF;
             END $$",
            lit = role.replace('\'', "''"),
            ident = quote_ident(role),
        ))
        .await
        .with_context(|| format!("create the role {role}"))
}

/// What one role cost the server in the window, from pg_stat_statements.
#[derive(Debug, Default)]
struct Cost {
    calls: i64,
    exec_ms: f64,
    plans: i64,
    plan_ms: f64,
    rows: i64,
    kinds: i64,
}

async fn cost_of(admin: &Client, role: &str) -> anyhow::Result<Cost> {
    let row = admin
        .query_one(
            "SELECT coalesce(sum(s.calls), 0)::int8, coalesce(sum(s.total_exec_time), 0)::float8, \
                    coalesce(sum(s.plans), 0)::int8, coalesce(sum(s.total_plan_time), 0)::float8, \
                    coalesce(sum(s.rows), 0)::int8, count(*)::int8 \
             FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid \
             WHERE r.rolname = $1",
            &[&role],
        )
        .await?;
    Ok(Cost {
        calls: row.get(0),
        exec_ms: row.get(1),
        plans: row.get(2),
        plan_ms: row.get(3),
        rows: row.get(4),
        kinds: row.get(5),
    })
}

/// pg_activity as given, else on PATH, else where `pip install --target` put it.
fn find_pg_activity(args: &Args) -> Option<std::path::PathBuf> {
    if args.no_pg_activity {
        return None;
    }
    if let Some(p) = &args.pg_activity {
        return Some(p.clone());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("pg_activity"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = std::path::Path::new(&home).join(".cache/warroom/pg_activity-pkg/bin/pg_activity");
        p.is_file().then_some(p)
    })
}

/// pg_activity running in a detached 200x50 tmux terminal of its own (it needs a terminal).
struct PgActivity {
    socket: String,
    pid: u32,
}

impl PgActivity {
    fn start(path: &std::path::Path, conninfo: &str) -> anyhow::Result<PgActivity> {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        // A `pip install --target DIR` script needs DIR on PYTHONPATH.
        let target = path
            .parent()
            .and_then(|bin| bin.parent())
            .filter(|dir| dir.join("pgactivity").is_dir());
        let command = match target {
            Some(dir) => format!(
                "exec env PYTHONPATH={} python3 {} --refresh 1 {}",
                quote(&dir.display().to_string()),
                quote(&path.display().to_string()),
                quote(conninfo)
            ),
            None => format!(
                "exec {} --refresh 1 {}",
                quote(&path.display().to_string()),
                quote(conninfo)
            ),
        };
        let socket = format!("warroom-pg-cost-{}", std::process::id());
        let status = std::process::Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "200", "-y", "50"])
            .arg(&command)
            .status()
            .context("run tmux (pg_activity needs a terminal)")?;
        if !status.success() {
            bail!("tmux new-session failed: {status}");
        }
        let out = std::process::Command::new("tmux")
            .args(["-L", &socket, "list-panes", "-F", "#{pane_pid}"])
            .output()
            .context("tmux list-panes")?;
        let pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("pg_activity's pid")?;
        Ok(PgActivity { socket, pid })
    }

    /// Its CPU time so far (user + system, from /proc), then stops it.
    fn stop(self) -> Option<Duration> {
        let cpu = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
                Some(after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?)
            })
            .map(|ticks| Duration::from_millis(ticks * 10));
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
        cpu
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        bail!("--interval must be a positive number of seconds");
    }
    let prepare = PrepareMode::parse(&args.prepare)
        .with_context(|| format!("--prepare {:?}: use auto, always or never", args.prepare))?;
    let admin = connect(&args.url, "pg-cost").await?;
    admin
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .context("pg_stat_statements must be in shared_preload_libraries")?;
    ensure_monitor_role(&admin, &args.monitor_role).await?;
    let track_planning: String = admin
        .query_one(
            "SELECT current_setting('pg_stat_statements.track_planning')",
            &[],
        )
        .await?
        .get(0);
    if track_planning != "on" {
        eprintln!(
            "note: pg_stat_statements.track_planning is {track_planning}: planning time reads 0"
        );
    }
    let (host, port, db) = {
        let config: tokio_postgres::Config = args.url.parse()?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().unwrap_or("postgres").to_string();
        (host, port, db)
    };
    let monitor_url = match &args.monitor_url {
        Some(u) => u.clone(),
        None => format!(
            "host={host} port={port} dbname={db} user={} sslmode=disable",
            args.monitor_role
        ),
    };
    let spec = ConnectSpec::resolve(&monitor_url, None).map_err(anyhow::Error::msg)?;
    let pg_activity = find_pg_activity(&args);
    if pg_activity.is_some() {
        ensure_monitor_role(&admin, &args.pg_activity_role).await?;
    }

    eprintln!(
        "opening the load: {} idle, {} active{}",
        args.idle,
        args.active,
        if args.no_chain {
            ""
        } else {
            ", a lock chain of 7"
        }
    );
    let load_started = Instant::now();
    let load = open_load(&args).await?;
    let total: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND application_name <> 'pg-cost'",
            &[],
        )
        .await?
        .get(0);
    eprintln!(
        "load ready in {:.1?}: {total} sessions (warroom's will make {}{})",
        load_started.elapsed(),
        total + 1,
        if pg_activity.is_some() {
            ", pg_activity's one more"
        } else {
            ""
        }
    );

    admin
        .batch_execute("SELECT pg_stat_statements_reset()")
        .await?;
    // pg_activity watches the same load in the same window, as its own role.
    let beside = match &pg_activity {
        Some(path) => {
            let conninfo = format!(
                "host={host} port={port} dbname={db} user={}",
                args.pg_activity_role
            );
            eprintln!("pg_activity beside warroom: {}", path.display());
            Some(PgActivity::start(path, &conninfo)?)
        }
        None => None,
    };
    let every = Duration::from_secs_f64(args.interval);
    let refreshes = ((args.seconds as f64) / args.interval).round().max(1.0) as u32;
    let render = !args.no_render;
    let window = Instant::now();
    let client =
        tokio::task::spawn_blocking(move || run_warroom(spec, prepare, refreshes, every, render))
            .await
            .context("warroom's thread")?;
    let window = window.elapsed();
    let pg_activity_cpu = beside.map(PgActivity::stop);

    let ours = cost_of(&admin, &args.monitor_role).await?;
    let theirs = match pg_activity_cpu {
        Some(_) => Some(cost_of(&admin, &args.pg_activity_role).await?),
        None => None,
    };
    let others: i64 = admin
        .query_one(
            "SELECT coalesce(sum(s.calls), 0)::int8 FROM pg_stat_statements s \
             JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname <> ALL($1)",
            &[&vec![
                args.monitor_role.clone(),
                args.pg_activity_role.clone(),
            ]],
        )
        .await?
        .get(0);
    drop(load);
    // Sessions in pg_sleep do not notice their client is gone: end the load explicitly.
    admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = ANY($1) AND pid <> pg_backend_pid()",
            &[&LOAD_APPS.to_vec()],
        )
        .await
        .context("end the load sessions")?;

    let n = f64::from(client.refreshes.max(1));
    let mut wall = client.fetch_wall.clone();
    wall.sort_unstable();
    let pct = |p: f64| {
        wall.get(((wall.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "pg_cost: {} refreshes every {:?} over {:.1?} (prepare = {})",
        client.refreshes, every, window, args.prepare
    );
    println!(
        "server: {total} load sessions + warroom; last snapshot {} sessions (this harness's own included), {} blocking root(s)",
        client.sessions_last, client.tree_roots_last
    );
    println!(
        "statements from warroom: {} ({:.2} per refresh, {} distinct, planned {} time(s)); from others in the window: {others} (this harness's reset and read)",
        ours.calls,
        ours.calls as f64 / n,
        ours.kinds,
        ours.plans
    );
    println!(
        "server time: execution {:.1} ms + planning {:.1} ms = {:.1} ms ({:.2} ms per refresh)",
        ours.exec_ms,
        ours.plan_ms,
        ours.exec_ms + ours.plan_ms,
        (ours.exec_ms + ours.plan_ms) / n
    );
    println!(
        "rows: {} ({:.0} per refresh)",
        ours.rows,
        ours.rows as f64 / n
    );
    println!(
        "warroom CPU (its thread: connect, fetch, decode{}): {:.3} s ({:.2} ms per refresh){}",
        if render { ", apply, draw 200x50" } else { "" },
        client.cpu.as_secs_f64(),
        client.cpu.as_secs_f64() * 1000.0 / n,
        if render {
            format!(
                "; of which apply + draw: {:.3} s",
                client.render_cpu.as_secs_f64()
            )
        } else {
            String::new()
        }
    );
    println!(
        "refresh wall time: p50 {:.1?}, p90 {:.1?}, max {:.1?}",
        pct(0.5),
        pct(0.9),
        pct(1.0)
    );
    match (theirs, pg_activity_cpu) {
        (Some(theirs), Some(cpu)) => {
            println!();
            println!(
                "| same window | statements | execution ms | planning ms | execution + planning | client CPU s (warroom: its thread; pg_activity: its process) |"
            );
            println!("|---|---|---|---|---|---|");
            let line = |name: &str, c: &Cost, cpu: Option<Duration>| {
                println!(
                    "| {name} | {} | {:.0} | {:.0} | {:.0} | {} |",
                    c.calls,
                    c.exec_ms,
                    c.plan_ms,
                    c.exec_ms + c.plan_ms,
                    cpu.map_or("?".into(), |d| format!("{:.2}", d.as_secs_f64()))
                )
            };
            line("pg_activity (refresh 1 s)", &theirs, cpu);
            line(
                &format!("warroom (prepare = {})", args.prepare),
                &ours,
                Some(client.cpu),
            );
            let total_theirs = theirs.exec_ms + theirs.plan_ms;
            if total_theirs > 0.0 {
                println!(
                    "warroom / pg_activity, execution + planning: {:.2}",
                    (ours.exec_ms + ours.plan_ms) / total_theirs
                );
            }
        }
        _ => println!(
            "pg_activity not run (not installed, or --no-pg-activity): pip install --target ~/.cache/warroom/pg_activity-pkg pg_activity"
        ),
    }
    if !client.errors.is_empty() {
        bail!(
            "{} refresh(es) failed: {:?}",
            client.errors.len(),
            client.errors
        );
    }
    Ok(())
}
