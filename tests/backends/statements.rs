//! "Why is the database slow?" against real PostgreSQL servers started by the tests: the
//! statements view (pg_stat_statements deltas), the lock each waiter waits for, the server
//! header (connections, rates, oldest xmin, replication on a primary and a standby), EXPLAIN
//! of a running query, and what all of it costs the server.
//! Without PostgreSQL installed these tests fail with the install hint; they never skip.

use warroom_testkit::home;
use warroom_testkit::pg;
use warroom_testkit::pg_backend;

use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use home::{Home, succeed};
use pg::{HARNESS_APP, PgServer};
use pg_backend::{real_pg, real_pg_db, session};
use warroom_core::backends::postgres::locks::LockDetail;
use warroom_core::backends::postgres::statements::{
    StatementsRead, StatementsSort, StatementsTracker,
};
use warroom_core::backends::postgres::{
    ACTIVITY_MARK, ActivitySnapshot, PgSource, RealPg, activity_sql,
};

/// The lock `pid` waits for (`what` says who, when it waits for none).
fn lock_of(snapshot: &ActivitySnapshot, pid: i32, what: &str) -> LockDetail {
    session(snapshot, pid).lock.clone().expect(what)
}

async fn one_i64(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

async fn sample(
    pg: &RealPg,
    tracker: &StatementsTracker,
) -> warroom_core::backends::postgres::statements::StatementsSample {
    match pg
        .statements(tracker)
        .await
        .expect("read pg_stat_statements")
    {
        StatementsRead::Sample { sample, .. } => sample,
        StatementsRead::Unavailable(why) => panic!("statements unavailable: {why}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

const EXPENSIVE: &str = "SELECT count(*) FROM generate_series(1, 400000) g WHERE g % 7 = 3";
const CHEAP: [&str; 2] = ["SELECT 1 + 1", "SELECT length('warroom')"];

/// The workload: the expensive statement, then each cheap one three times, until `for_how_long`
/// passed. Returns how many times the expensive one ran.
async fn workload(client: &tokio_postgres::Client, for_how_long: Duration) -> i64 {
    let until = Instant::now() + for_how_long;
    let mut expensive = 0;
    while Instant::now() < until {
        client.batch_execute(EXPENSIVE).await.expect("expensive");
        expensive += 1;
        for _ in 0..3 {
            for q in CHEAP {
                client.batch_execute(q).await.expect("cheap");
            }
        }
    }
    expensive
}

#[tokio::test]
async fn the_expensive_statement_is_first_by_time_with_its_call_rate() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    let pg = real_pg(&server, "watcher");
    let load = server.connect("postgres", "workload").await;
    let load_pid = one_i64(&load, "SELECT pg_backend_pid()::int8").await as i32;
    // The cheap statements have run far more often before: by totals since the reset they
    // would lead, by the interval's time they must not.
    for _ in 0..300 {
        for q in CHEAP {
            load.batch_execute(q).await.expect("cheap warm-up");
        }
    }

    let mut tracker = StatementsTracker::default();
    let first = sample(&pg, &tracker).await;
    assert!(
        tracker.apply(first).is_none(),
        "the first sample is the baseline"
    );
    let started = Instant::now();
    let ran = workload(&load, Duration::from_secs(2)).await;
    let wall = started.elapsed().as_secs_f64();
    let second = sample(&pg, &tracker).await;
    let delta = tracker
        .apply(second)
        .expect("deltas from the second sample");

    let top = &delta.statements[0];
    assert!(
        top.info.query.contains("generate_series"),
        "first by time: {:#?}",
        delta.statements.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        top.interval.calls, ran,
        "calls in the interval: exactly what the workload ran"
    );
    let expected_rate = ran as f64 / wall;
    assert!(
        (top.rates.calls_per_s - expected_rate).abs() / expected_rate < 0.10,
        "calls/s {} vs the workload's {expected_rate} (interval {} s, wall {wall} s)",
        top.rates.calls_per_s,
        delta.interval_seconds
    );
    assert!(top.rates.time_share > 0.5, "{top:#?}");
    let per_call = top.rates.per_call.expect("called in the interval");
    assert!(per_call.mean_ms > 0.0, "{top:#?}");
    assert_eq!(per_call.rows, 1.0);
    assert!(
        top.interval.wal_bytes.is_some(),
        "PostgreSQL 13+ reports WAL bytes"
    );
    let cheap = delta
        .statements
        .iter()
        .find(|s| s.info.query == "SELECT $1 + $2")
        .expect("the cheap statement ran in the interval");
    assert_eq!(cheap.interval.calls, ran * 3);

    // Sorted by calls the cheap ones come first.
    let mut by_calls = delta.statements.clone();
    StatementsSort::Calls.sort(&mut by_calls);
    assert!(!by_calls[0].info.query.contains("generate_series"));

    // query_id links a session to its statement (PostgreSQL 14+): the workload session's
    // last statement was `SELECT length('warroom')`.
    let last = delta
        .statements
        .iter()
        .find(|s| s.info.query.starts_with("SELECT length("))
        .expect("the last cheap statement");
    let snapshot = pg.activity().await.expect("activity");
    let running = warroom_core::backends::postgres::statements::sessions_running(
        &snapshot.sessions,
        last.queryid,
    );
    assert_eq!(
        running,
        vec![load_pid],
        "{:?}",
        snapshot
            .sessions
            .iter()
            .map(|s| (s.pid, s.query_id, &s.query))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn pg_statements_cli_prints_the_deltas_as_json() {
    let server = PgServer::start();
    let setup = Setup::new(&server);
    let load = server.connect("postgres", "workload").await;
    let background = tokio::spawn(async move { workload(&load, Duration::from_secs(6)).await });
    let out = tokio::task::spawn_blocking(move || {
        let out = setup.run(&[
            "pg",
            "statements",
            "--context",
            "test",
            "--interval",
            "2s",
            "--sort",
            "time",
            "-o",
            "json",
        ]);
        (setup, out)
    })
    .await
    .expect("run");
    let (_setup, out) = out;
    let stdout = succeed(&out, "pg statements -o json");
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let interval = json["interval_seconds"].as_f64().expect("interval_seconds");
    assert!((1.9..3.0).contains(&interval), "{interval}");
    let first = &json["statements"][0];
    assert!(
        first["query"]
            .as_str()
            .is_some_and(|q| q.contains("generate_series")),
        "{json:#}"
    );
    for field in [
        "calls_per_s",
        "time_ms_per_s",
        "time_share",
        "mean_ms",
        "max_ms_since_reset",
        "rows_per_call",
        "shared_blks_read",
        "shared_blks_hit",
        "temp_blks",
        "wal_bytes",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first:#}");
    }
    background.abort();
}

#[tokio::test]
async fn statements_view_costs_one_statement_per_refresh_and_says_what_is_missing() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    server.exec("SELECT pg_stat_statements_reset()").await;
    let pg = real_pg(&server, "watcher");
    let mut tracker = StatementsTracker::default();
    let mut cost = 0;
    for _ in 0..4 {
        match pg.statements(&tracker).await.expect("statements") {
            StatementsRead::Sample {
                sample, statements, ..
            } => {
                cost += statements;
                tracker.apply(sample);
            }
            StatementsRead::Unavailable(why) => panic!("{why}"),
        }
    }
    assert_eq!(cost, 5, "one probe, then one statement per refresh");
    let seen = server.statements_of("watcher").await;
    let refreshes: i64 = seen
        .iter()
        .filter(|(q, _)| q.starts_with("/* warroom: statements */"))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(refreshes, 4, "{seen:#?}");
    assert_eq!(
        seen.len(),
        2,
        "the probe and the statement, nothing else: {seen:#?}"
    );

    // Without pg_read_all_stats, other roles' statements are counted as hidden.
    server.create_role("plain", false).await;
    let plain = real_pg(&server, "plain");
    match plain
        .statements(&StatementsTracker::default())
        .await
        .expect("statements as a plain role")
    {
        StatementsRead::Sample {
            sample, all_stats, ..
        } => {
            assert!(!all_stats);
            assert!(
                sample.hidden > 0,
                "postgres's and watcher's statements are hidden"
            );
        }
        other => panic!("expected a sample, got {other:?}"),
    }

    // A database without the extension: the view says what to install, nothing breaks.
    server
        .exec("CREATE DATABASE noext TEMPLATE template0")
        .await;
    let bare = real_pg_db(&server, "watcher", "noext");
    match bare
        .statements(&StatementsTracker::default())
        .await
        .expect("no error, an answer")
    {
        StatementsRead::Unavailable(why) => {
            assert!(why.contains("CREATE EXTENSION pg_stat_statements"), "{why}");
            assert!(why.contains("noext"), "{why}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    // The sessions view still works there.
    bare.activity()
        .await
        .expect("activity without the extension");
}

// ---------------------------------------------------------------------------------------------
// Lock detail
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn waiters_show_what_they_wait_for_and_the_blockers_mode() {
    let server = PgServer::start();
    let chain = server.lock_chain().await;
    let pg = real_pg(&server, "postgres");
    let admin = server.connect("postgres", HARNESS_APP).await;
    let xid_of = |pid: i32| {
        let admin = &admin;
        async move {
            admin
                .query_one(
                    "SELECT backend_xid::text FROM pg_stat_activity WHERE pid = $1",
                    &[&pid],
                )
                .await
                .expect("backend_xid")
                .get::<_, Option<String>>(0)
                .expect("the blocker has a transaction id")
        }
    };
    let migration_xid = xid_of(chain.migration()).await;
    let api3_xid = xid_of(chain.api3()).await;
    let snapshot = pg.activity().await.expect("activity");
    assert_eq!(snapshot.statements, 1);

    // api-1: first in line for row 1, holds the tuple lock, waits for the migration's xid.
    let api1 = lock_of(&snapshot, chain.api1(), "api-1 waits");
    assert_eq!(api1.locktype, "transactionid");
    assert_eq!(api1.mode, "ShareLock");
    assert_eq!(api1.transactionid.as_deref(), Some(migration_xid.as_str()));
    assert_eq!(api1.relation.as_deref(), Some("public.accounts"));
    assert_eq!(api1.tuple.as_deref(), Some("(0,1)"));
    assert_eq!(
        api1.granted_mode_of_blocker.as_deref(),
        Some("ExclusiveLock")
    );
    // api-2: queued for the tuple lock api-1 holds.
    let api2 = lock_of(&snapshot, chain.api2(), "api-2 waits");
    assert_eq!(api2.locktype, "tuple");
    assert_eq!(api2.relation.as_deref(), Some("public.accounts"));
    assert_eq!(api2.tuple.as_deref(), Some("(0,1)"));
    assert_eq!(
        api2.granted_mode_of_blocker.as_deref(),
        Some(api2.mode.as_str())
    );
    // report: row 2, held by api-3's open transaction.
    let report = lock_of(&snapshot, chain.report(), "report waits");
    assert_eq!(report.locktype, "transactionid");
    assert_eq!(report.transactionid.as_deref(), Some(api3_xid.as_str()));
    assert_eq!(report.relation.as_deref(), Some("public.accounts"));
    assert_eq!(
        report.granted_mode_of_blocker.as_deref(),
        Some("ExclusiveLock")
    );
    for pid in [chain.idle(), chain.sleeper(), chain.migration()] {
        assert_eq!(
            session(&snapshot, pid).lock,
            None,
            "pid {pid} waits on nothing"
        );
    }
    drop(chain);

    // Table locks: an ALTER TABLE holding ACCESS EXCLUSIVE, and one waiting for it.
    server
        .exec(
            "CREATE SCHEMA app; CREATE TABLE app.\"Orders\" (id int); CREATE TABLE app.items (id int)",
        )
        .await;
    let alter = server.connect("postgres", "migration").await;
    alter
        .batch_execute("BEGIN; ALTER TABLE app.\"Orders\" ADD COLUMN note text")
        .await
        .expect("ALTER TABLE in an open transaction");
    let reader = server
        .spawn_query("orders-reader", "SELECT count(*) FROM app.\"Orders\"")
        .await;
    let holder = server.connect("postgres", "items-reader").await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM app.items")
        .await
        .expect("read items in an open transaction");
    let alter_waiter = server
        .spawn_query("alter-items", "ALTER TABLE app.items ADD COLUMN note text")
        .await;
    server
        .wait_for_state(
            &[reader.pid(), alter_waiter.pid()],
            "wait_event_type = 'Lock'",
            "waiting on a lock",
        )
        .await;
    let snapshot = pg.activity().await.expect("activity");
    let read = lock_of(&snapshot, reader.pid(), "reader waits");
    assert_eq!(read.locktype, "relation");
    assert_eq!(read.mode, "AccessShareLock");
    assert_eq!(read.relation.as_deref(), Some("app.\"Orders\""));
    assert_eq!(
        read.granted_mode_of_blocker.as_deref(),
        Some("AccessExclusiveLock")
    );
    let alt = lock_of(&snapshot, alter_waiter.pid(), "ALTER waits");
    assert_eq!(alt.locktype, "relation");
    assert_eq!(alt.mode, "AccessExclusiveLock");
    assert_eq!(alt.relation.as_deref(), Some("app.items"));
    assert_eq!(
        alt.granted_mode_of_blocker.as_deref(),
        Some("AccessShareLock")
    );
    assert!(
        alt.describe()
            .contains("AccessExclusiveLock on app.items, blocker holds AccessShareLock"),
        "{}",
        alt.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Cost
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sessions_view_stays_one_statement_per_refresh_and_reads_no_locks_without_waiters() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    let _idle = server.open_idle_sessions(20, "pool").await;
    let _active = server.open_active_sessions(5, "busy").await;
    server.exec("SELECT pg_stat_statements_reset()").await;
    let pg = real_pg(&server, "watcher");
    for _ in 0..5 {
        let snapshot = pg.activity().await.expect("activity");
        assert_eq!(snapshot.statements, 1);
        assert!(
            snapshot.header.is_some(),
            "the header comes in the same statement"
        );
    }
    let seen = server.statements_of("watcher").await;
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(seen[0].0.starts_with(ACTIVITY_MARK), "{}", seen[0].0);
    assert_eq!(seen[0].1, 5, "5 refreshes, 5 statements");

    // pg_locks sits under a one-time filter: with nobody waiting it is never scanned.
    let admin = server.connect("postgres", HARNESS_APP).await;
    let plan = explain_analyze(&admin).await;
    let loops = lock_status_loops(&plan);
    assert!(!loops.is_empty(), "pg_lock_status is in the plan: {plan:#}");
    assert!(
        loops.iter().all(|&l| l == 0),
        "never executed without waiters: {loops:?}"
    );

    // With a waiter, it is read, still in the one statement.
    let chain = server.lock_chain().await;
    let plan = explain_analyze(&admin).await;
    assert!(lock_status_loops(&plan).iter().any(|&l| l > 0), "{plan:#}");
    drop(chain);
}

async fn explain_analyze(admin: &tokio_postgres::Client) -> Value {
    // Simple protocol: the plan comes back as text.
    let messages = admin
        .simple_query(&format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) {}",
            activity_sql(15)
        ))
        .await
        .expect("explain analyze the activity statement");
    let text = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a plan row");
    serde_json::from_str(&text).expect("EXPLAIN (FORMAT JSON) is JSON")
}

/// "Actual Loops" of every function scan of pg_lock_status in an EXPLAIN (FORMAT JSON).
fn lock_status_loops(plan: &Value) -> Vec<i64> {
    let mut out = Vec::new();
    let mut stack = vec![plan];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("Function Name").and_then(Value::as_str) == Some("pg_lock_status") {
                    out.push(
                        map.get("Actual Loops")
                            .and_then(Value::as_i64)
                            .unwrap_or(-1),
                    );
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Server header
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn header_counts_connections_and_gives_rates_between_refreshes() {
    let server = PgServer::start();
    let chain = server.lock_chain().await;
    let pg = real_pg(&server, "postgres");
    let admin = server.connect("postgres", HARNESS_APP).await;
    let first = pg.activity().await.expect("activity");
    let header = first.header.clone().expect("header");
    let counted = one_i64(
        &admin,
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
    )
    .await;
    assert_eq!(header.figures.connections, counted);
    assert_eq!(header.figures.max_connections, 600);
    assert_eq!(
        header.figures.connections_by_state.values().sum::<i64>(),
        header.figures.connections
    );
    assert_eq!(
        header
            .figures
            .connections_by_state
            .get("idle in transaction"),
        Some(&1),
        "the migration: {:?}",
        header.figures.connections_by_state
    );
    assert_eq!(header.rates, None, "no rates before a second refresh");
    assert!(!header.figures.in_recovery);
    let longest = header.longest_xact.clone().expect("open transactions");
    let oldest_xact = one_i64(
        &admin,
        "SELECT pid::int8 FROM pg_stat_activity WHERE backend_type = 'client backend' \
         AND xact_start IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 1",
    )
    .await;
    assert_eq!(i64::from(longest.pid), oldest_xact);
    assert!(
        [chain.sleeper(), chain.migration()].contains(&longest.pid),
        "the first transactions the chain opened"
    );

    // Between two refreshes: 60 commits, 5 rollbacks, a sort spilling to disk. The session
    // ends before the second refresh, so its statistics are flushed.
    {
        let work = server.connect("postgres", "work").await;
        for _ in 0..60 {
            work.batch_execute("SELECT txid_current()")
                .await
                .expect("commit");
        }
        for _ in 0..5 {
            work.batch_execute("BEGIN; SELECT txid_current(); ROLLBACK")
                .await
                .expect("rollback");
        }
        work.batch_execute(
            "SET work_mem = '64kB'; \
             SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) x",
        )
        .await
        .expect("a sort spilling to temp files");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = pg.activity().await.expect("activity");
    let rates = second.header.as_ref().and_then(|h| h.rates).expect("rates");
    let commits = rates.commits_per_s * rates.interval_seconds;
    let rollbacks = rates.rollbacks_per_s * rates.interval_seconds;
    assert!(commits >= 60.0, "{rates:?}");
    assert!(rollbacks >= 5.0, "{rates:?}");
    assert!(rates.temp_bytes_per_s > 0.0, "{rates:?}");
    assert!(
        rates
            .cache_hit_ratio
            .is_some_and(|r| (0.0..=1.0).contains(&r)),
        "{rates:?}"
    );
}

#[tokio::test]
async fn oldest_xmin_holder_is_the_idle_transaction_then_a_prepared_one() {
    let server = PgServer::start();
    // Prepared transactions need max_prepared_transactions > 0 (a restart).
    append_conf(&server, "max_prepared_transactions = 5\n");
    server.restart();
    server
        .exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
        .await;
    let holder = server.connect("postgres", "report-tx").await;
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t")
        .await
        .expect("a snapshot held in an open transaction");
    let holder_pid = one_i64(&holder, "SELECT pg_backend_pid()::int8").await as i32;
    for _ in 0..5 {
        server.exec("SELECT txid_current()").await;
    }
    let busy = server.open_active_sessions(2, "busy").await;
    let pg = real_pg(&server, "postgres");
    let snapshot = pg.activity().await.expect("activity");
    let oldest = snapshot
        .header
        .as_ref()
        .and_then(|h| h.figures.oldest_xmin.clone())
        .expect("an xmin holder");
    assert_eq!(oldest.kind, "session", "{oldest:?}");
    assert_eq!(oldest.pid, Some(holder_pid), "{oldest:?}");
    assert_eq!(oldest.state.as_deref(), Some("idle in transaction"));
    assert!(oldest.age_xids >= 5, "{oldest:?}");

    // A prepared transaction outlives its session and holds the horizon.
    holder.batch_execute("ROLLBACK").await.expect("let go");
    drop(busy);
    let admin = server.connect("postgres", HARNESS_APP).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while one_i64(
        &admin,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'busy'",
    )
    .await
        > 0
    {
        assert!(Instant::now() < deadline, "the busy sessions did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let preparer = server.connect("postgres", "preparer").await;
    preparer
        .batch_execute("BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'inc-42'")
        .await
        .expect("prepare");
    drop(preparer);
    for _ in 0..3 {
        server.exec("SELECT txid_current()").await;
    }
    let snapshot = pg.activity().await.expect("activity");
    let oldest = snapshot
        .header
        .as_ref()
        .and_then(|h| h.figures.oldest_xmin.clone())
        .expect("an xmin holder");
    assert_eq!(oldest.kind, "prepared transaction", "{oldest:?}");
    assert_eq!(oldest.id, "inc-42");
    assert!(oldest.describe().contains("prepared transaction inc-42"));
    server.exec("ROLLBACK PREPARED 'inc-42'").await;
}

fn append_conf(server: &PgServer, text: &str) {
    use std::io::Write;
    let path = server.dir().join("data").join("postgresql.conf");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}

#[tokio::test]
async fn a_standby_shows_replay_lag_and_its_primary_shows_the_standby() {
    let primary = PgServer::start();
    primary
        .exec("CREATE TABLE events (id serial, payload text); INSERT INTO events (payload) VALUES ('first')")
        .await;
    let standby = primary.start_standby();
    let standby_admin = standby.connect("postgres", HARNESS_APP).await;
    // Streaming, and the first commit replayed (so a replay timestamp exists).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: i64 = standby_admin
            .query_one(
                "SELECT count(*) FROM events WHERE pg_last_xact_replay_timestamp() IS NOT NULL",
                &[],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if rows == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never replayed the first commit"
        );
        primary.exec("INSERT INTO events (payload) VALUES ('tick'); DELETE FROM events WHERE payload = 'tick'").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    standby_admin
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .expect("pause replay");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    primary
        .exec("INSERT INTO events (payload) SELECT repeat('x', 100) FROM generate_series(1, 20000)")
        .await;
    // Wait until the standby has received WAL it has not replayed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let behind: i64 = standby_admin
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8",
                &[],
            )
            .await
            .expect("lsn diff")
            .get(0);
        if behind > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the standby received nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let on_standby = real_pg(&standby, "postgres")
        .activity()
        .await
        .expect("activity on the standby");
    let header = on_standby.header.expect("header");
    assert!(header.figures.in_recovery);
    let status = header.figures.standby.clone().expect("standby status");
    assert!(status.lag_bytes.is_some_and(|b| b > 0), "{status:?}");
    assert!(status.replay_paused, "{status:?}");
    assert_eq!(status.receiver.as_deref(), Some("streaming"), "{status:?}");
    let lag = status.replay_lag_seconds().expect("replay lag");
    assert!(lag >= 1.0, "replay stopped over a second ago: {status:?}");
    assert!(
        header
            .lines()
            .iter()
            .any(|l| l.starts_with("in recovery: replay lag"))
    );

    let on_primary = real_pg(&primary, "postgres")
        .activity()
        .await
        .expect("activity on the primary");
    let figures = on_primary.header.expect("header").figures;
    assert!(!figures.in_recovery);
    assert_eq!(figures.standby, None);
    assert_eq!(figures.replicas.len(), 1, "{:?}", figures.replicas);
    let replica = &figures.replicas[0];
    assert_eq!(replica.state.as_deref(), Some("streaming"));
    assert!(replica.lag.lag_bytes.is_some_and(|b| b > 0), "{replica:?}");
    standby_admin
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .expect("resume");
}

// ---------------------------------------------------------------------------------------------
// EXPLAIN of a running query
// ---------------------------------------------------------------------------------------------

async fn accounts(client: &tokio_postgres::Client) -> Vec<(i32, i32)> {
    client
        .query("SELECT id, balance FROM accounts ORDER BY id", &[])
        .await
        .expect("read accounts")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn explain_a_running_update_without_running_it() {
    let server = PgServer::start();
    server
        .exec("CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 100), (2, 200)")
        .await;
    let admin = server.connect("postgres", HARNESS_APP).await;
    let before = accounts(&admin).await;
    // The UPDATEs below stay running: row 1 is locked by an open transaction.
    let holder = server.connect("postgres", "holder").await;
    holder
        .batch_execute("BEGIN; SELECT * FROM accounts WHERE id = 1 FOR UPDATE")
        .await
        .expect("lock row 1");
    let literal = server
        .spawn_query(
            "literal",
            "UPDATE accounts SET balance = balance + 1000 WHERE id = 1",
        )
        .await;
    // With parameters: the extended protocol, as drivers send it.
    let param_client = Arc::new(server.connect("postgres", "with-params").await);
    let param_pid = one_i64(&param_client, "SELECT pg_backend_pid()::int8").await as i32;
    let running = {
        let c = param_client.clone();
        tokio::spawn(async move {
            let _ = c
                .execute(
                    "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                    &[&1000i32, &1i32],
                )
                .await;
        })
    };
    // And a text longer than track_activity_query_size (1024 bytes): cut by the server.
    let long = server
        .spawn_query(
            "long",
            &format!("SELECT pg_sleep(600) /* {} */", "x".repeat(2000)),
        )
        .await;
    server
        .wait_for_state(
            &[literal.pid(), param_pid],
            "wait_event_type = 'Lock'",
            "waiting on row 1",
        )
        .await;
    server
        .wait_for_state(&[long.pid()], "wait_event = 'PgSleep'", "sleeping")
        .await;

    let pg = real_pg(&server, "postgres");
    let planned = pg.explain(literal.pid()).await.expect("explain");
    assert_eq!(planned.refused, None, "{planned:?}");
    assert!(!planned.generic_plan);
    assert!(
        planned
            .plan
            .iter()
            .any(|l| l.contains("Update on accounts")),
        "{:#?}",
        planned.plan
    );

    let with_params = pg.explain(param_pid).await.expect("explain");
    let why = with_params.refused.clone().expect("refused on 15");
    assert!(why.contains("GENERIC_PLAN") && why.contains("16"), "{why}");
    assert!(with_params.plan.is_empty());

    let cut = pg.explain(long.pid()).await.expect("explain");
    let why = cut.refused.expect("cut text refused");
    assert!(why.contains("track_activity_query_size"), "{why}");

    // Nothing ran: same rows, and the UPDATEs are still waiting.
    assert_eq!(accounts(&admin).await, before);
    assert!(!literal.query_finished());
    assert!(!running.is_finished());

    // The CLI: JSON with the plan, and a non-zero exit with the reason.
    let setup = Setup::new(&server);
    let pid = literal.pid().to_string();
    let out = setup.run(&[
        "pg",
        "explain",
        "--context",
        "test",
        "--pid",
        &pid,
        "-o",
        "json",
    ]);
    let json: Value = serde_json::from_str(&succeed(&out, "pg explain -o json")).expect("json");
    assert!(
        json["plan"].as_array().is_some_and(|p| p
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("Update on accounts")))),
        "{json:#}"
    );
    let pid = param_pid.to_string();
    let out = setup.run(&["pg", "explain", "--context", "test", "--pid", &pid]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GENERIC_PLAN"));
    assert_eq!(accounts(&admin).await, before);
    holder.batch_execute("ROLLBACK").await.expect("release");
    running.abort();
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

/// The binary in a temp home whose config has one context, `test`.
struct Setup {
    home: Home,
}

impl Setup {
    fn new(server: &PgServer) -> Setup {
        let home = Home::new();
        home.set_config(&format!(
            "[[postgres]]\nname = \"test\"\nurl = \"{}\"\n",
            server.url("postgres", "postgres")
        ));
        Setup { home }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.home.warroom_blocking(args)
    }
}
