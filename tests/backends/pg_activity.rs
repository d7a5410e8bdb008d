//! warroom's PostgreSQL backend against a real server started by the test: the snapshot, the
//! blocking tree, the monitor session's settings, the cost (one statement per refresh),
//! privileges, and the server going away and coming back (library and worker).
//! Without PostgreSQL installed these tests fail with the install hint; they never skip.

use warroom_testkit::pg;
use warroom_testkit::pg_backend;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use pg::{LockChain, PgServer};
use pg_backend::{real_pg, session};
use warroom_core::backends::postgres::{
    ACTIVITY_MARK, ActivitySnapshot, BlockingNode, ConnectSpec, PgError, PgSession, PgSource,
    PrepareMode, RealPg, SessionLimits, blocking_tree,
};
use warroom_core::backends::{BackendError, ErrorKind};
use warroom_tui::app::Msg;
use warroom_tui::setup::Assembly;
use warroom_tui::workers::pg::{PollControl, spawn};
use warroom_tui::workers::{Event, Update};

// ---------------------------------------------------------------------------------------------
// What the lock chain must look like
// ---------------------------------------------------------------------------------------------

/// One row of expectations: application, state, wait event type and name, blockers, query.
struct Expected {
    app: &'static str,
    state: &'static str,
    wait: (&'static str, &'static str),
    blocked_by: Vec<i32>,
    query: &'static str,
    in_transaction: bool,
}

fn expected_chain(chain: &LockChain) -> Vec<(i32, Expected)> {
    const ROW1: &str = "UPDATE accounts SET balance = balance - 1 WHERE id = 1";
    let row = |app, state, wait, blocked_by, query, in_transaction| Expected {
        app,
        state,
        wait,
        blocked_by,
        query,
        in_transaction,
    };
    vec![
        (
            chain.idle(),
            row(
                "idle-app",
                "idle",
                ("Client", "ClientRead"),
                vec![],
                "SELECT pg_backend_pid()",
                false,
            ),
        ),
        (
            chain.sleeper(),
            row(
                "sleeper",
                "active",
                ("Timeout", "PgSleep"),
                vec![],
                "SELECT pg_sleep(600)",
                true,
            ),
        ),
        (
            chain.migration(),
            row(
                "migration",
                "idle in transaction",
                ("Client", "ClientRead"),
                vec![],
                "BEGIN; UPDATE accounts SET balance = balance WHERE id = 1",
                true,
            ),
        ),
        // The first waiter on row 1 holds the tuple lock and waits for the migration's
        // transaction; the later ones queue on the tuple lock behind it.
        (
            chain.api1(),
            row(
                "api-1",
                "active",
                ("Lock", "transactionid"),
                vec![chain.migration()],
                ROW1,
                true,
            ),
        ),
        (
            chain.api2(),
            row(
                "api-2",
                "active",
                ("Lock", "tuple"),
                vec![chain.api1()],
                ROW1,
                true,
            ),
        ),
        (
            chain.api3(),
            row(
                "api-3",
                "active",
                ("Lock", "tuple"),
                sorted(vec![chain.api1(), chain.api2()]),
                ROW1,
                true,
            ),
        ),
        (
            chain.report(),
            row(
                "report",
                "active",
                ("Lock", "transactionid"),
                vec![chain.api3()],
                "UPDATE accounts SET balance = balance * 1 WHERE id = 2",
                true,
            ),
        ),
    ]
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

/// Every session of the chain is in the snapshot with the right fields.
fn assert_chain_sessions(snapshot: &ActivitySnapshot, chain: &LockChain, user: &str) {
    for (pid, want) in expected_chain(chain) {
        let s = session(snapshot, pid);
        let who = format!("{} (pid {pid}): {s:#?}", want.app);
        assert_eq!(s.application, want.app, "{who}");
        assert_eq!(s.state.as_deref(), Some(want.state), "{who}");
        assert_eq!(s.wait_event_type.as_deref(), Some(want.wait.0), "{who}");
        assert_eq!(s.wait_event.as_deref(), Some(want.wait.1), "{who}");
        assert_eq!(sorted(s.blocked_by.clone()), want.blocked_by, "{who}");
        assert_eq!(s.query, want.query, "{who}");
        assert_eq!(s.database.as_deref(), Some("postgres"), "{who}");
        assert_eq!(s.user.as_deref(), Some(user), "{who}");
        assert_eq!(s.client_addr.as_deref(), Some("127.0.0.1"), "{who}");
        let query_seconds = s.query_seconds.unwrap_or(-1.0);
        assert!((0.0..600.0).contains(&query_seconds), "{who}");
        assert_eq!(s.xact_seconds.is_some(), want.in_transaction, "{who}");
        assert!(
            s.backend_start.is_some() && s.query_start.is_some(),
            "{who}"
        );
    }
    // Only the four waiters wait; nothing else in the snapshot claims a blocker.
    let waiting: BTreeSet<i32> = snapshot
        .sessions
        .iter()
        .filter(|s| !s.blocked_by.is_empty())
        .map(|s| s.pid)
        .collect();
    assert_eq!(waiting, BTreeSet::from(chain.waiters()));
    // The monitor does not list its own session.
    assert!(
        snapshot.sessions.iter().all(|s| s.application != "warroom"),
        "warroom's own session is left out"
    );
    assert_eq!(snapshot.statements, 1);
}

/// migration (4) -> api-1 (3) -> [api-2 (2), api-3 (1) -> report (0)]
fn expected_tree(chain: &LockChain) -> Vec<BlockingNode> {
    let leaf = |pid| BlockingNode {
        pid,
        waiting_count: 0,
        children: vec![],
    };
    vec![BlockingNode {
        pid: chain.migration(),
        waiting_count: 4,
        children: vec![BlockingNode {
            pid: chain.api1(),
            waiting_count: 3,
            children: vec![
                BlockingNode {
                    pid: chain.api2(),
                    // api-3 and, behind it, report
                    waiting_count: 2,
                    children: vec![],
                },
                BlockingNode {
                    pid: chain.api3(),
                    waiting_count: 1,
                    children: vec![leaf(chain.report())],
                },
            ],
        }],
    }]
}

/// The tree from the snapshot: migration the only root with 4 behind it, each waiter once,
/// every child under one of its own blockers, and exactly the expected shape.
fn assert_chain_tree(snapshot: &ActivitySnapshot, chain: &LockChain) {
    let tree = blocking_tree(&snapshot.sessions);
    let roots: Vec<(i32, usize)> = tree.iter().map(|r| (r.pid, r.waiting_count)).collect();
    assert_eq!(roots, vec![(chain.migration(), 4)], "{tree:#?}");

    let mut seen: BTreeMap<i32, usize> = BTreeMap::new();
    for (_, node) in tree.iter().flat_map(BlockingNode::walk) {
        *seen.entry(node.pid).or_default() += 1;
    }
    let expected_pids: BTreeMap<i32, usize> = std::iter::once(chain.migration())
        .chain(chain.waiters())
        .map(|p| (p, 1))
        .collect();
    assert_eq!(seen, expected_pids, "each session appears exactly once");

    let blockers: BTreeMap<i32, &Vec<i32>> = snapshot
        .sessions
        .iter()
        .map(|s| (s.pid, &s.blocked_by))
        .collect();
    fn check_parents(node: &BlockingNode, blockers: &BTreeMap<i32, &Vec<i32>>) {
        for child in &node.children {
            assert!(
                blockers
                    .get(&child.pid)
                    .is_some_and(|b| b.contains(&node.pid)),
                "{} sits under {}, which does not block it",
                child.pid,
                node.pid
            );
            check_parents(child, blockers);
        }
    }
    for root in &tree {
        check_parents(root, &blockers);
    }
    assert_eq!(tree, expected_tree(chain));
}

// ---------------------------------------------------------------------------------------------
// pg_stat_statements and the server log
// ---------------------------------------------------------------------------------------------

async fn reset_statements(server: &PgServer) {
    server.exec("SELECT pg_stat_statements_reset()").await;
}

/// Statement lines the server logged for application 'warroom' after byte `since`.
fn warroom_log_lines(server: &PgServer, since: usize) -> Vec<String> {
    let log = server.log_contents();
    log.get(since..)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("app=warroom ") && (l.contains("statement: ") || l.contains("execute "))
        })
        .map(str::to_string)
        .collect()
}

/// Exactly `n` statements from `role` since the reset, all of them warroom's activity query,
/// and exactly `n` statement lines in the log from application 'warroom'.
async fn assert_one_statement_per_refresh(server: &PgServer, role: &str, log_since: usize, n: i64) {
    let statements = server.statements_of(role).await;
    assert_eq!(
        statements.len(),
        1,
        "one kind of statement only: {statements:#?}"
    );
    let (query, calls) = &statements[0];
    assert!(query.starts_with(ACTIVITY_MARK), "{query}");
    assert_eq!(*calls, n, "{n} refreshes must cost {n} statements");
    let lines = warroom_log_lines(server, log_since);
    assert_eq!(
        lines.len() as i64,
        n,
        "statements logged for warroom: {lines:#?}"
    );
    assert!(
        lines.iter().all(|l| l.contains(ACTIVITY_MARK)),
        "{lines:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lock_chain_snapshot_and_blocking_tree() {
    let server = PgServer::start();
    let chain = server.lock_chain().await;
    let pg = real_pg(&server, "postgres");

    let snapshot = pg.activity().await.expect("activity from the test server");
    assert_chain_sessions(&snapshot, &chain, "postgres");
    assert_chain_tree(&snapshot, &chain);
    assert_eq!(snapshot.hidden_sessions, 0);
    assert_eq!(snapshot.privilege_note(), None);

    // blocked_by is what the server itself says.
    for pid in chain.waiters() {
        assert_eq!(
            sorted(session(&snapshot, pid).blocked_by.clone()),
            server.blocking_pids(pid).await
        );
    }
}

/// The "Done when": 400 idle, 40 active and the lock chain, all listed with the right
/// blocked_by and tree, by a pg_monitor role, at one statement per refresh.
#[tokio::test]
async fn four_hundred_idle_forty_active_and_a_lock_chain() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    let idle = server.open_idle_sessions(400, "pool-idle").await;
    let active = server.open_active_sessions(40, "busy").await;
    let chain = server.lock_chain().await;
    server
        .wait_for_state(
            &idle_pids(&server, "pool-idle").await,
            "state = 'idle'",
            "idle",
        )
        .await;
    let pg = real_pg(&server, "watcher");

    reset_statements(&server).await;
    let log_since = server.log_contents().len();
    const REFRESHES: i64 = 3;
    for _ in 0..REFRESHES {
        let started = Instant::now();
        let snapshot = pg.activity().await.expect("activity at 448 sessions");
        eprintln!(
            "refresh: {} sessions in {:?} (client-side {:?})",
            snapshot.sessions.len(),
            started.elapsed(),
            snapshot.elapsed
        );
        let by_app = |app: &str| -> Vec<&PgSession> {
            snapshot
                .sessions
                .iter()
                .filter(|s| s.application == app)
                .collect()
        };
        let idle_rows = by_app("pool-idle");
        assert_eq!(idle_rows.len(), idle.len());
        assert!(idle_rows.iter().all(|s| s.state.as_deref() == Some("idle")
            && s.blocked_by.is_empty()
            && s.xact_seconds.is_none()));
        let busy_rows = by_app("busy");
        let busy_pids: BTreeSet<i32> = busy_rows.iter().map(|s| s.pid).collect();
        assert_eq!(busy_pids, active.pids().into_iter().collect());
        assert!(
            busy_rows
                .iter()
                .all(|s| s.state.as_deref() == Some("active")
                    && s.wait_event.as_deref() == Some("PgSleep")
                    && s.query == "SELECT pg_sleep(600)"
                    && s.blocked_by.is_empty())
        );
        assert!(
            snapshot.sessions.len() >= 447,
            "{}",
            snapshot.sessions.len()
        );
        assert_chain_sessions(&snapshot, &chain, "postgres");
        assert_chain_tree(&snapshot, &chain);
        assert_eq!(snapshot.hidden_sessions, 0, "pg_monitor sees everything");
    }
    assert_one_statement_per_refresh(&server, "watcher", log_since, REFRESHES).await;
}

async fn idle_pids(server: &PgServer, app: &str) -> Vec<i32> {
    let client = server.connect("postgres", pg::HARNESS_APP).await;
    client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .expect("list pids")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn each_refresh_is_one_statement_and_nothing_else() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    let _chain = server.lock_chain().await;
    let pg = real_pg(&server, "watcher");

    reset_statements(&server).await;
    let log_since = server.log_contents().len();
    const REFRESHES: i64 = 10;
    for _ in 0..REFRESHES {
        let snapshot = pg.activity().await.expect("activity");
        assert_eq!(snapshot.statements, 1);
    }
    assert_one_statement_per_refresh(&server, "watcher", log_since, REFRESHES).await;
}

/// How many times `role`'s statements were planned since the reset (track_planning on).
async fn plans_of(server: &PgServer, role: &str) -> i64 {
    let client = server.connect("postgres", pg::HARNESS_APP).await;
    client
        .query_one(
            "SELECT coalesce(sum(s.plans), 0)::int8 FROM pg_stat_statements s \
             JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1",
            &[&role],
        )
        .await
        .expect("read pg_stat_statements")
        .get(0)
}

#[tokio::test]
async fn the_activity_statement_is_planned_once_per_connection_unless_prepare_is_never() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    server
        .exec("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
        .await;
    server.exec("SELECT pg_reload_conf()").await;
    let chain = server.lock_chain().await;
    const REFRESHES: i64 = 8;
    // always: prepared on the first refresh; auto: the first refresh is unnamed (it tells
    // whether a pooler sits in between), then prepared; never: planned every refresh.
    for (mode, plans) in [
        (PrepareMode::Always, 1),
        (PrepareMode::Auto, 2),
        (PrepareMode::Never, REFRESHES),
    ] {
        let spec = ConnectSpec::resolve(&server.url("watcher", "postgres"), None).expect("resolve");
        let pg = RealPg::new(spec).with_prepare(mode);
        reset_statements(&server).await;
        let log_since = server.log_contents().len();
        let mut last = None;
        for _ in 0..REFRESHES {
            last = Some(pg.activity().await.expect("activity"));
        }
        let snapshot = last.expect("refreshed");
        // Nothing lost on the prepared path: sessions, the lock detail of every waiter,
        // the header.
        assert_chain_sessions(&snapshot, &chain, "postgres");
        for pid in chain.waiters() {
            assert!(
                session(&snapshot, pid).lock.is_some(),
                "{mode:?}: lock of {pid}"
            );
        }
        assert!(snapshot.header.is_some(), "{mode:?}: header");
        assert_one_statement_per_refresh(&server, "watcher", log_since, REFRESHES).await;
        assert_eq!(
            plans_of(&server, "watcher").await,
            plans,
            "{mode:?}: plans of the activity statement over {REFRESHES} refreshes"
        );
    }
}

#[tokio::test]
async fn the_monitor_session_names_itself_and_is_limited_and_read_only() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    let spec = ConnectSpec::resolve(&server.url("watcher", "postgres"), None).expect("resolve");

    // The session RealPg opens: same spec, default limits, read-only.
    let limits = SessionLimits::default();
    let (client, major) = spec.connect(&limits, true).await.expect("connect");
    assert!(major >= 10, "server major version {major}");
    let row = client
        .query_one(
            "SELECT current_setting('application_name'), current_setting('statement_timeout'), \
             current_setting('lock_timeout'), current_setting('transaction_read_only'), \
             current_setting('default_transaction_read_only')",
            &[],
        )
        .await
        .expect("read the session's settings");
    let settings: Vec<String> = (0..5).map(|i| row.get(i)).collect();
    assert_eq!(settings, ["warroom", "5s", "500ms", "on", "on"]);
    let write = client
        .batch_execute("CREATE TEMP TABLE must_fail (x int)")
        .await
        .expect_err("a read-only session cannot write");
    assert_eq!(
        write.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{write}"
    );
    drop(client);

    // RealPg's own session, seen from another one: named 'warroom', idle between refreshes,
    // its last query the activity statement.
    let pg = RealPg::new(spec);
    pg.activity().await.expect("activity");
    let other = server.connect("postgres", pg::HARNESS_APP).await;
    let rows = other
        .query(
            "SELECT application_name, state, query FROM pg_stat_activity WHERE usename = 'watcher'",
            &[],
        )
        .await
        .expect("read pg_stat_activity");
    assert_eq!(rows.len(), 1, "one monitoring session");
    assert_eq!(rows[0].get::<_, String>(0), "warroom");
    assert_eq!(rows[0].get::<_, String>(1), "idle");
    assert!(rows[0].get::<_, String>(2).starts_with(ACTIVITY_MARK));

    // lock_timeout is in force on that session: with pg_stat_activity locked by someone
    // else, the refresh gives up after 500 ms instead of queueing behind the lock.
    let locker = server.connect("postgres", "locker").await;
    locker
        .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_stat_activity IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock pg_stat_activity");
    let started = Instant::now();
    let err = pg.activity().await.expect_err("must not wait for the lock");
    let waited = started.elapsed();
    locker.batch_execute("ROLLBACK").await.expect("release");
    assert!(err.to_string().contains("lock timeout"), "{err}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(4),
        "gave up after {waited:?}"
    );
    // And the next refresh works again.
    pg.activity()
        .await
        .expect("activity after the lock is gone");
}

#[tokio::test]
async fn privileges_without_and_with_pg_monitor() {
    let server = PgServer::start();
    server.create_role("nomon", false).await;
    server.create_role("mon", true).await;
    let chain = server.lock_chain().await;
    // A session of the unprivileged role itself: its own details stay visible.
    let own = server.connect("nomon", "own-app").await;
    own.batch_execute("SELECT 'own query'")
        .await
        .expect("own query");

    let snapshot = real_pg(&server, "nomon")
        .activity()
        .await
        .expect("activity as nomon");
    for (_, pid) in chain.pids() {
        let s = session(&snapshot, pid);
        assert_eq!(s.query, "<insufficient privilege>", "{s:#?}");
        assert!(s.blocked_by.is_empty(), "{s:#?}");
    }
    let mine = snapshot
        .sessions
        .iter()
        .find(|s| s.application == "own-app")
        .expect("own session listed");
    assert_eq!(mine.query, "SELECT 'own query'");
    let others = snapshot
        .sessions
        .iter()
        .filter(|s| s.user.as_deref() != Some("nomon"))
        .count();
    assert!(others >= chain.pids().len());
    assert_eq!(snapshot.hidden_sessions, others, "{:#?}", snapshot.sessions);
    let note = snapshot
        .privilege_note()
        .expect("a note says what is hidden");
    assert!(
        note.contains("nomon") && note.contains("pg_monitor"),
        "{note}"
    );
    assert!(note.contains(&others.to_string()), "{note}");

    let snapshot = real_pg(&server, "mon")
        .activity()
        .await
        .expect("activity as mon");
    assert_eq!(snapshot.hidden_sessions, 0);
    assert_eq!(snapshot.privilege_note(), None);
    assert_chain_sessions(&snapshot, &chain, "postgres");
    assert_chain_tree(&snapshot, &chain);
}

#[tokio::test]
async fn server_down_then_back_reconnects() {
    let server = PgServer::start();
    let port = server.port();
    let pg = real_pg(&server, "postgres");
    let before = pg.activity().await.expect("activity");
    assert_eq!(before.statements, 1);

    server.stop();
    let started = Instant::now();
    let first = pg.activity().await.expect_err("server is down");
    let second = pg.activity().await.expect_err("server is still down");
    eprintln!("while down: {first} / {second}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "errors come fast"
    );
    for err in [&first, &second] {
        let text = err.to_string();
        assert!(!text.trim().is_empty());
        assert!(!text.contains("password"), "{text}");
    }
    // Once the broken session is gone, the error says where it tried and why.
    match &second {
        PgError::Connect {
            target,
            detail,
            kind,
        } => {
            assert_eq!(target, &format!("postgres@127.0.0.1:{port}/postgres"));
            assert_eq!(
                *kind,
                warroom_core::backends::ErrorKind::Unreachable,
                "{detail}"
            );
            assert!(detail.to_lowercase().contains("refused"), "{detail}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(
        second.to_string().starts_with(&format!(
            "cannot connect to postgres@127.0.0.1:{port}/postgres"
        )),
        "{second}"
    );

    server.start_again();
    let after = pg.activity().await.expect("reconnected after the restart");
    assert_eq!(after.statements, 1);
}

/// What the worker sent: the result and the retry delay.
async fn next_update(
    rx: &mut mpsc::Receiver<Event>,
    within: Duration,
) -> (Result<ActivitySnapshot, BackendError>, Option<Duration>) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Event::PgUpdate(Update {
                context,
                result,
                retry_in,
            }))) => {
                assert_eq!(context, "ctx");
                return (result, retry_in);
            }
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the worker stopped"),
            Err(_) => panic!("no update from the worker within {within:?}"),
        }
    }
}

#[tokio::test]
async fn worker_reports_the_outage_with_backoff_then_recovers() {
    let server = PgServer::start();
    let pg = real_pg(&server, "postgres");
    let (tx, mut rx) = mpsc::channel(8);
    let (control, control_rx) = watch::channel(PollControl {
        active: true,
        interval: Duration::from_millis(200),
    });
    let worker = spawn("ctx".into(), pg, tx, control_rx);

    let (first, retry) = next_update(&mut rx, Duration::from_secs(10)).await;
    first.expect("first snapshot");
    assert_eq!(retry, None);

    server.stop();
    let mut retries = Vec::new();
    while retries.len() < 3 {
        let (result, retry_in) = next_update(&mut rx, Duration::from_secs(20)).await;
        match result {
            Ok(_) if retries.is_empty() => continue, // a refresh that beat the stop
            Ok(_) => panic!("a snapshot while the server is down"),
            Err(e) => {
                assert!(!e.message.is_empty());
                retries.push(retry_in.expect("an error comes with retry_in"));
                if retries.len() > 1 {
                    assert!(e.message.starts_with("cannot connect to"), "{e}");
                    assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
                }
            }
        }
    }
    assert_eq!(
        retries,
        [
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(2)
        ],
        "backoff doubles"
    );

    server.start_again();
    let recovered = Instant::now();
    loop {
        let (result, retry_in) = next_update(&mut rx, Duration::from_secs(20)).await;
        if let Ok(snapshot) = result {
            assert_eq!(retry_in, None);
            assert_eq!(snapshot.statements, 1);
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(15),
            "never recovered"
        );
    }
    drop(control);
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the worker ends when its control is dropped")
        .expect("worker task");
}

#[tokio::test]
async fn hidden_pane_polls_nothing() {
    let server = PgServer::start();
    server.create_role("watcher", true).await;
    let pg = real_pg(&server, "watcher");
    reset_statements(&server).await;

    let (tx, mut rx) = mpsc::channel(8);
    let (control, control_rx) = watch::channel(PollControl {
        active: false,
        interval: Duration::from_millis(200),
    });
    let _worker = spawn("ctx".into(), pg, tx, control_rx);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.try_recv().is_err(), "nothing sent while hidden");
    assert!(server.statements_of("watcher").await.is_empty());
    assert!(
        idle_pids(&server, "warroom").await.is_empty(),
        "not even a connection while hidden"
    );

    control
        .send(PollControl {
            active: true,
            interval: Duration::from_millis(200),
        })
        .expect("show the pane");
    next_update(&mut rx, Duration::from_secs(10))
        .await
        .0
        .expect("a snapshot once shown");
    // A second refresh while shown (waited for, not timed: a loaded machine may be slow).
    next_update(&mut rx, Duration::from_secs(10))
        .await
        .0
        .expect("a second snapshot while shown");
    control
        .send(PollControl {
            active: false,
            interval: Duration::from_millis(200),
        })
        .expect("hide the pane");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while rx.try_recv().is_ok() {}
    let calls = |s: Vec<(String, i64)>| s.iter().map(|(_, c)| c).sum::<i64>();
    let while_shown = calls(server.statements_of("watcher").await);
    assert!(while_shown >= 2, "polled while shown: {while_shown}");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.try_recv().is_err(), "nothing sent after hiding");
    assert_eq!(
        calls(server.statements_of("watcher").await),
        while_shown,
        "no statement after hiding"
    );
}

/// The text of a TestBackend buffer, one String per row.
fn screen_lines(terminal: &ratatui::Terminal<ratatui::backend::TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    let width = buffer.area.width as usize;
    buffer
        .content
        .chunks(width)
        .map(|row| row.iter().map(|cell| cell.symbol()).collect::<String>())
        .collect()
}

/// The TUI path, live: the worker polls the real server, the App applies what it sends, and
/// the drawn lock view shows the tree (the sessions view lists the chain).
#[tokio::test]
async fn the_pane_shows_the_chain_live() {
    use warroom_tui::app::GuardInfo;
    use warroom_tui::keymap::KeyAction;
    use warroom_tui::panes::Pane;
    use warroom_tui::panes::pg::PgPane;

    let server = PgServer::start();
    let chain = server.lock_chain().await;
    let (tx, mut rx) = mpsc::channel(8);
    let (_control, control_rx) = watch::channel(PollControl {
        active: true,
        interval: Duration::from_millis(200),
    });
    let _worker = spawn("ctx".into(), real_pg(&server, "postgres"), tx, control_rx);
    let mut app = Assembly::new(GuardInfo::default()).pg_context("ctx").app();
    let (result, retry_in) = next_update(&mut rx, Duration::from_secs(10)).await;
    app.update(Msg::Worker(Event::PgUpdate(Update {
        context: "ctx".into(),
        result,
        retry_in,
    })));
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50)).expect("terminal");

    app.pane_of_mut::<PgPane>()
        .expect("the PostgreSQL pane")
        .on_action(KeyAction::ToggleIdle);
    terminal.draw(|f| app.render(f)).expect("draw");
    let screen = screen_lines(&terminal);
    for (app_name, pid) in chain.pids() {
        assert!(
            screen
                .iter()
                .any(|l| l.contains(&pid.to_string()) && l.contains(app_name)),
            "{app_name} ({pid}) on screen:\n{}",
            screen.join("\n")
        );
    }

    app.pane_of_mut::<PgPane>()
        .expect("the PostgreSQL pane")
        .on_action(KeyAction::LockView);
    terminal.draw(|f| app.render(f)).expect("draw");
    let screen = screen_lines(&terminal);
    let text = screen.join("\n");
    // (cell text, waiting count) in the order the tree is drawn.
    let expected = [
        (format!("{}", chain.migration()), Some(4)),
        (format!("└ {}", chain.api1()), Some(3)),
        (format!("  └ {}", chain.api2()), Some(2)),
        (format!("  └ {}", chain.api3()), Some(1)),
        (format!("    └ {}", chain.report()), None),
    ];
    let mut last_row = 0;
    for (cell, waiting) in expected {
        let (row, line) = screen
            .iter()
            .enumerate()
            .find(|(_, l)| l.trim_start().starts_with(cell.trim_start()) && l.contains(&cell))
            .unwrap_or_else(|| panic!("no row for {cell:?}:\n{text}"));
        assert!(row > last_row, "{cell:?} drawn in tree order:\n{text}");
        last_row = row;
        if let Some(n) = waiting {
            let after = line
                .split_once(cell.as_str())
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            assert_eq!(
                after.split_whitespace().next(),
                Some(n.to_string().as_str()),
                "waiting count of {cell:?}: {line}"
            );
        }
    }
}

/// Issue 10 item 2 in the pane: a session whose start time is hidden from the monitoring role
/// cannot be cancelled or terminated from the PostgreSQL pane; the key says why and what to
/// grant instead of opening the reason prompt.
#[tokio::test]
async fn hidden_session_keys_say_what_to_grant_instead_of_acting() {
    use warroom_tui::keymap::KeyAction;
    use warroom_tui::panes::pg::PgPane;
    use warroom_tui::panes::{Effect, Pane, PaneMsg};

    let server = PgServer::start();
    server.create_role("app", false).await;
    server.create_role("nomon", false).await;
    let victim = server
        .spawn_query_as("app", "victim", "SELECT pg_sleep(600)")
        .await;
    server
        .wait_for_state(&[victim.pid()], "wait_event = 'PgSleep'", "sleeping")
        .await;
    let snapshot = real_pg(&server, "nomon")
        .activity()
        .await
        .expect("activity as nomon");
    assert_eq!(session(&snapshot, victim.pid()).backend_start, None);

    let mut pane = PgPane::new(vec!["ctx".into()], None, Duration::from_secs(2));
    pane.update(PaneMsg::Worker(Event::PgUpdate(Update {
        context: "ctx".into(),
        result: Ok(snapshot),
        retry_in: None,
    })));
    pane.on_action(KeyAction::ToggleIdle);
    pane.set_filter("victim");
    assert_eq!(
        pane.selected_session().map(|s| s.pid),
        Some(victim.pid()),
        "the victim is selected"
    );
    for key in [KeyAction::Cancel, KeyAction::Terminate] {
        let effects = pane.on_action(key);
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Guard(_))),
            "{key:?} must not start a guarded action"
        );
        assert!(
            effects.iter().any(|e| matches!(e, Effect::Warn(t)
                if t.contains("GRANT pg_read_all_stats TO nomon;") && t.contains("cannot check"))),
            "{key:?} says what to grant"
        );
    }
}

/// One worker answer for context "ctx" drawn by a fresh App: the status bar's text.
async fn status_bar_after_one_update(pg: Arc<RealPg>) -> (BackendError, Option<Duration>, String) {
    use warroom_tui::app::GuardInfo;

    let (tx, mut rx) = mpsc::channel(8);
    let (_control, control_rx) = watch::channel(PollControl {
        active: true,
        interval: Duration::from_millis(200),
    });
    let worker = spawn("ctx".into(), pg, tx, control_rx);
    let (result, retry_in) = next_update(&mut rx, Duration::from_secs(10)).await;
    worker.abort();
    let error = result.expect_err("the refresh must fail");
    let mut app = Assembly::new(GuardInfo::default()).pg_context("ctx").app();
    app.update(Msg::Worker(Event::PgUpdate(Update {
        context: "ctx".into(),
        result: Err(error.clone()),
        retry_in,
    })));
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 30)).expect("terminal");
    terminal.draw(|f| app.render(f)).expect("draw");
    (error, retry_in, screen_lines(&terminal).join("\n"))
}

/// A wrong password is told apart from an outage: the server's SQLSTATE 28P01 becomes
/// "auth failed", and the worker does not try again for a minute (each failed login is
/// logged by the server and may count towards a lockout). The password is never shown.
#[tokio::test]
async fn a_wrong_password_says_auth_failed_and_is_not_retried_soon() {
    let server = PgServer::start();
    server
        .create_role_with_password("guarded", "right-horse-battery")
        .await;
    let mut spec = ConnectSpec::resolve(&server.url("guarded", "postgres"), None)
        .unwrap_or_else(|e| panic!("resolve the test server's URL: {e}"));
    spec.set_password("wrong-staple");
    let (error, retry_in, screen) = status_bar_after_one_update(Arc::new(RealPg::new(spec))).await;
    assert_eq!(error.kind, ErrorKind::AuthFailed, "{error}");
    assert_eq!(retry_in, Some(Duration::from_secs(60)), "not retried soon");
    assert!(
        screen.contains("auth failed, not retried for 1m: cannot connect to guarded@127.0.0.1"),
        "{screen}"
    );
    assert!(
        !screen.contains("wrong-staple") && !screen.contains("right-horse"),
        "{screen}"
    );

    // The right password works: the kind came from the server's answer, not from the setup.
    let mut spec = ConnectSpec::resolve(&server.url("guarded", "postgres"), None)
        .unwrap_or_else(|e| panic!("resolve the test server's URL: {e}"));
    spec.set_password("right-horse-battery");
    RealPg::new(spec)
        .activity()
        .await
        .expect("the right password logs in");
}

/// Nothing listens on the port: "unreachable", retried soon with backoff.
#[tokio::test]
async fn a_closed_port_says_unreachable_and_retries_soon() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let spec = ConnectSpec::resolve(
        &format!("postgres://nobody@127.0.0.1:{port}/postgres"),
        None,
    )
    .unwrap_or_else(|e| panic!("resolve: {e}"));
    let (error, retry_in, screen) = status_bar_after_one_update(Arc::new(RealPg::new(spec))).await;
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error}");
    assert_eq!(retry_in, Some(Duration::from_millis(500)));
    assert!(
        screen.contains(&format!(
            "unreachable, retrying in 1s: cannot connect to nobody@127.0.0.1:{port}"
        )),
        "{screen}"
    );
}
