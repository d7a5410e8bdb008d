//! Smoke tests of the PostgreSQL test harness (warroom_testkit::pg) against a real server.
//! Without PostgreSQL installed they fail with the install hint; they never skip.

use warroom_testkit::pg;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pg::{INSTALL_HINT, LockChain, PgServer};

#[tokio::test]
async fn starts_and_accepts_connections() {
    let started = Instant::now();
    let server = PgServer::start();
    eprintln!("start: {:?}", started.elapsed());
    assert!(server.is_running());

    let port = server.port();
    assert_ne!(port, 0);
    assert_eq!(
        server.url("monitor", "app"),
        format!("postgres://monitor@127.0.0.1:{port}/app")
    );
    assert_eq!(
        server.conninfo("monitor"),
        format!("host=127.0.0.1 port={port} user=monitor dbname=postgres")
    );

    let client = server.connect("postgres", "smoke").await;
    let row = client
        .query_one(
            "SELECT current_user::text, current_database()::text, \
             current_setting('application_name'), current_setting('server_version_num')::int",
            &[],
        )
        .await
        .expect("query the new server");
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert_eq!(row.get::<_, String>(1), "postgres");
    assert_eq!(row.get::<_, String>(2), "smoke");
    assert!(row.get::<_, i32>(3) >= 100_000, "PostgreSQL 10 or newer");

    // The URL and conninfo the harness hands out are what a real client accepts.
    for text in [
        server.url("postgres", "postgres"),
        server.conninfo("postgres"),
    ] {
        let (client, connection) = tokio_postgres::connect(&text, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect with {text}: {e}"));
        tokio::spawn(connection);
        let one: i32 = client
            .query_one("SELECT 1", &[])
            .await
            .expect("SELECT 1")
            .get(0);
        assert_eq!(one, 1);
    }
}

#[tokio::test]
async fn settings_and_pg_stat_statements_are_in_place() {
    let server = PgServer::start();
    let client = server.connect("postgres", "settings").await;
    for (name, expected) in [
        ("shared_preload_libraries", "pg_stat_statements"),
        ("pg_stat_statements.track", "all"),
        ("log_statement", "all"),
        ("log_min_messages", "info"),
        ("logging_collector", "off"),
        ("max_connections", "600"),
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("listen_addresses", "127.0.0.1"),
    ] {
        let value: String = client
            .query_one("SELECT current_setting($1)", &[&name])
            .await
            .unwrap_or_else(|e| panic!("current_setting({name}): {e}"))
            .get(0);
        assert_eq!(value, expected, "setting {name}");
    }
    let socket_dir: String = client
        .query_one("SELECT current_setting('unix_socket_directories')", &[])
        .await
        .expect("unix_socket_directories")
        .get(0);
    assert_eq!(socket_dir, server.socket_dir().to_string_lossy());

    // The extension exists already and records what we run.
    client
        .batch_execute("SELECT 1 AS counted_by_pg_stat_statements")
        .await
        .expect("run a statement");
    let calls: i64 = client
        .query_one(
            "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
             WHERE query LIKE '%counted_by_pg_stat_statements%'",
            &[],
        )
        .await
        .expect("read pg_stat_statements")
        .get(0);
    assert!(calls >= 1, "pg_stat_statements saw the statement");

    // New databases get it too (it is in template1).
    server.exec("CREATE DATABASE app").await;
    let app = server.connect_db("postgres", "app", "settings").await;
    let installed: bool = app
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
            &[],
        )
        .await
        .expect("query pg_extension")
        .get(0);
    assert!(installed, "pg_stat_statements in a new database");
}

#[tokio::test]
async fn lock_chain_has_the_documented_shape() {
    let server = PgServer::start();
    let started = Instant::now();
    let chain = server.lock_chain().await;
    eprintln!("lock_chain: {:?}", started.elapsed());

    let pids: BTreeSet<i32> = LockChain::ROLES.iter().map(|r| chain.pid(r)).collect();
    assert_eq!(pids.len(), LockChain::ROLES.len(), "one backend per role");

    let observer = server.connect("postgres", "observer").await;
    let rows = observer
        .query(
            "SELECT application_name, state, wait_event_type, wait_event, pid \
             FROM pg_stat_activity WHERE pid = ANY($1)",
            &[&pids.iter().copied().collect::<Vec<i32>>()],
        )
        .await
        .expect("read pg_stat_activity");
    assert_eq!(rows.len(), LockChain::ROLES.len());
    for row in &rows {
        let app: String = row.get(0);
        let state: Option<String> = row.get(1);
        let wait_type: Option<String> = row.get(2);
        let wait_event: Option<String> = row.get(3);
        let pid: i32 = row.get(4);
        assert_eq!(pid, chain.pid(&app), "pid of {app}");
        match app.as_str() {
            "idle-app" => assert_eq!(state.as_deref(), Some("idle")),
            "sleeper" => {
                assert_eq!(state.as_deref(), Some("active"));
                assert_eq!(wait_event.as_deref(), Some("PgSleep"));
            }
            "migration" => assert_eq!(state.as_deref(), Some("idle in transaction")),
            "api-1" | "api-2" | "api-3" | "report" => {
                assert_eq!(state.as_deref(), Some("active"), "{app}");
                assert_eq!(wait_type.as_deref(), Some("Lock"), "{app}");
            }
            other => panic!("unexpected session {other}"),
        }
    }

    // What pg_blocking_pids says (see the LockChain docs for why api-2/api-3 name api-1).
    let migration = chain.migration();
    let (api1, api2, api3, report) = (chain.api1(), chain.api2(), chain.api3(), chain.report());
    let blocked_by_api1 = server.blocking_pids(api1).await;
    let blocked_by_report = server.blocking_pids(report).await;
    assert!(
        blocked_by_api1.contains(&migration),
        "api-1 waits on the migration: {blocked_by_api1:?}"
    );
    assert!(
        blocked_by_report.contains(&api3),
        "report waits on api-3: {blocked_by_report:?}"
    );
    assert_eq!(blocked_by_api1, vec![migration]);
    assert_eq!(blocked_by_report, vec![api3]);
    assert_eq!(server.blocking_pids(api2).await, vec![api1]);
    let mut api3_blockers = vec![api1, api2];
    api3_blockers.sort_unstable();
    assert_eq!(server.blocking_pids(api3).await, api3_blockers);
    for pid in [migration, chain.idle(), chain.sleeper()] {
        assert!(
            server.blocking_pids(pid).await.is_empty(),
            "{pid} waits on no one"
        );
    }

    // Releasing the migration lets the whole chain drain.
    chain
        .client("migration")
        .batch_execute("ROLLBACK")
        .await
        .expect("roll back the migration");
    // api-1 gets row 1 and finishes; api-3 (still in its transaction) or api-2 takes the row
    // next and holds it, so the rest stay queued.
    server
        .wait_for_state(&[api1], "state = 'idle'", "done with its UPDATE")
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !chain.query_finished("api-1") {
        assert!(Instant::now() < deadline, "api-1's UPDATE never returned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!chain.query_finished("sleeper"));
    assert!(!chain.query_finished("report"));
}

#[tokio::test]
async fn server_log_records_statements() {
    let server = PgServer::start();
    assert!(server.log_path().starts_with(server.dir()));
    server.exec("SELECT 'harness-log-marker-42'").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log_contents();
        if let Some(line) = log.lines().find(|l| l.contains("harness-log-marker-42")) {
            assert!(line.contains("statement:"), "logged as a statement: {line}");
            assert!(
                line.contains("app=pg-harness"),
                "with its application_name: {line}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the statement never reached {}:\n{log}",
            server.log_path().display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stop_then_start_again_on_the_same_port() {
    let server = PgServer::start();
    let port = server.port();
    server
        .exec("CREATE TABLE survives (x int); INSERT INTO survives VALUES (7)")
        .await;
    let before = server.connect("postgres", "before-stop").await;

    server.stop();
    assert!(!server.is_running());
    assert!(
        before.query_one("SELECT 1", &[]).await.is_err(),
        "an open session loses its server"
    );
    let refused =
        tokio_postgres::connect(&server.conninfo("postgres"), tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "nothing listens on {port} while stopped");

    let started = Instant::now();
    server.start_again();
    eprintln!("start_again: {:?}", started.elapsed());
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    let after = server.connect("postgres", "after-start").await;
    let x: i32 = after
        .query_one("SELECT x FROM survives", &[])
        .await
        .expect("the data survived the restart")
        .get(0);
    assert_eq!(x, 7);

    server.restart();
    let again = server.connect("postgres", "after-restart").await;
    again
        .query_one("SELECT 1", &[])
        .await
        .expect("up after restart()");
}

#[tokio::test]
async fn non_superuser_role_with_pg_monitor() {
    let server = PgServer::start();
    server.create_role("monitor", true).await;
    server.create_role("nobody", false).await;
    let sleeper = server
        .spawn_query("other-app", "SELECT pg_sleep(600)")
        .await;
    server
        .wait_for_state(&[sleeper.pid()], "wait_event = 'PgSleep'", "sleeping")
        .await;

    for (role, sees_query) in [("monitor", true), ("nobody", false)] {
        let client = server.connect(role, "warroom").await;
        let row = client
            .query_one(
                "SELECT rolsuper, pg_has_role(current_user, 'pg_monitor', 'MEMBER') \
                 FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .expect("read own role");
        assert!(!row.get::<_, bool>(0), "{role} is not a superuser");
        assert_eq!(
            row.get::<_, bool>(1),
            sees_query,
            "{role} pg_monitor membership"
        );
        let query: Option<String> = client
            .query_one(
                "SELECT query FROM pg_stat_activity WHERE pid = $1",
                &[&sleeper.pid()],
            )
            .await
            .expect("read pg_stat_activity")
            .get(0);
        assert_eq!(
            query.as_deref() == Some("SELECT pg_sleep(600)"),
            sees_query,
            "{role} sees other users' queries: {query:?}"
        );
    }
    assert!(!sleeper.query_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_400_idle_and_40_active_sessions() {
    let server = PgServer::start();
    let started = Instant::now();
    let idle = server.open_idle_sessions(400, "load-idle").await;
    let opened_idle = started.elapsed();
    let active = server.open_active_sessions(40, "load-active").await;
    eprintln!(
        "400 idle sessions in {opened_idle:?}, then 40 active in {:?}",
        started.elapsed() - opened_idle
    );
    assert_eq!(idle.len(), 400);
    assert_eq!(active.len(), 40);

    let observer = server.connect("postgres", "observer").await;
    let count = |app: &'static str, state: &'static str| {
        let observer = &observer;
        async move {
            observer
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = $2",
                    &[&app, &state],
                )
                .await
                .expect("count sessions")
                .get::<_, i64>(0)
        }
    };
    assert_eq!(count("load-idle", "idle").await, 400);
    assert_eq!(count("load-active", "active").await, 40);

    // Dropping them ends the backends (the active ones within client_connection_check_interval).
    drop(idle);
    drop(active);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'load-%'",
                &[],
            )
            .await
            .expect("count leftovers")
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} load sessions outlived their clients"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs one test of this binary again in a child process, with WARROOM_PG_BIN pointing at a
/// directory without PostgreSQL: it must fail, and say how to install it.
#[test]
fn missing_binaries_fail_with_the_install_hint() {
    let exe = std::env::current_exe().expect("path of this test binary");
    let out = std::process::Command::new(exe)
        .args([
            "pg_harness::starts_and_accepts_connections",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WARROOM_PG_BIN", "/nonexistent/warroom-no-postgresql")
        .output()
        .expect("run the test binary again");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "must fail, not skip:\n{text}");
    assert!(
        text.contains(INSTALL_HINT),
        "the failure names the fix:\n{text}"
    );
    assert!(
        text.contains("1 failed"),
        "the test ran and failed:\n{text}"
    );
}
