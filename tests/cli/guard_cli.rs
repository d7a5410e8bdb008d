//! `warroom pg cancel-query` and `warroom pg terminate`: the real binary, a temp config, a real
//! PostgreSQL (warroom_testkit::pg) and a real HTTP audit receiver (warroom_testkit::audit_server).
//! Scripts rely on the exit status and the messages; the effects are checked on the server.

use warroom_testkit::audit_server;
use warroom_testkit::home;
use warroom_testkit::pg;

use home::{Home, stderr, stdout};
use std::time::{Duration, Instant, SystemTime};

use audit_server::AuditServer;
use pg::{BackgroundSession, HARNESS_APP, PgServer};
use serde_json::json;

const CTX: &str = "pg-test";
const REASON: &str = "INC-5150 runaway report query";
const CANCEL_ERROR: &str = "ERROR:  canceling statement due to user request";

/// What a test writes into the config file.
struct Setup<'a> {
    endpoint: &'a str,
    protected: bool,
    read_only: bool,
}

/// This test's config: one PostgreSQL context and an audit endpoint.
trait PgHome {
    fn write_config(&self, pg: &PgServer, setup: Setup<'_>);
}

impl PgHome for Home {
    fn write_config(&self, pg: &PgServer, setup: Setup<'_>) {
        let text = format!(
            r#"[[postgres]]
name = "{CTX}"
url = "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
protected = {protected}
read_only = {read_only}

[guard]
min_reason_len = 10
reason_pattern = "INC-[0-9]+"

[audit]
file = "{file}"
endpoint = "{endpoint}"
timeout = "1s"
identity = "sre@example.com"
"#,
            port = pg.port(),
            protected = setup.protected,
            read_only = setup.read_only,
            file = self.audit_file().display(),
            endpoint = setup.endpoint,
        );
        self.set_config(&text);
    }
}

/// A session sleeping in `SELECT pg_sleep(600)` and its query_start.
async fn sleeper(pg: &PgServer) -> (BackgroundSession, SystemTime) {
    let session = pg.spawn_query("report-job", "SELECT pg_sleep(600)").await;
    pg.wait_for_state(
        &[session.pid()],
        "state = 'active' AND wait_event = 'PgSleep'",
        "sleeping in pg_sleep",
    )
    .await;
    let started = activity(pg, session.pid())
        .await
        .expect("the sleeper is there")
        .2;
    (session, started)
}

async fn activity(pg: &PgServer, pid: i32) -> Option<(String, Option<String>, SystemTime)> {
    let client = pg.connect("postgres", HARNESS_APP).await;
    let rows = client
        .query(
            "SELECT state, wait_event, query_start FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .expect("pg_stat_activity");
    rows.first().map(|r| (r.get(0), r.get(1), r.get(2)))
}

fn log_lines_of(pg: &PgServer, pid: i32) -> Vec<String> {
    let tag = format!(" [{pid}] ");
    pg.log_contents()
        .lines()
        .filter(|l| l.contains(&tag))
        .map(str::to_string)
        .collect()
}

/// Nothing was signalled: the same query still sleeps and no signalling statement was sent.
async fn assert_still_sleeping(pg: &PgServer, session: &BackgroundSession, started: SystemTime) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!session.query_finished(), "the sleeping query ended");
    let (state, wait, query_start) = activity(pg, session.pid())
        .await
        .expect("the session is still there");
    assert_eq!(
        (state.as_str(), wait.as_deref()),
        ("active", Some("PgSleep"))
    );
    assert_eq!(query_start, started, "the same query still runs");
    assert!(
        !log_lines_of(pg, session.pid())
            .iter()
            .any(|l| l.contains(CANCEL_ERROR)),
        "the server cancelled it"
    );
    assert!(
        !pg.log_contents().contains("warroom audit_id="),
        "a signalling statement was sent"
    );
}

async fn assert_cancelled(pg: &PgServer, pid: i32) {
    pg.wait_for_state(&[pid], "state = 'idle'", "idle after the cancel")
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log_lines_of(pg, pid)
        .iter()
        .any(|l| l.contains(CANCEL_ERROR))
    {
        assert!(
            Instant::now() < deadline,
            "no cancel error for pid {pid} in the server log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn setup(endpoint: &str) -> Setup<'_> {
    Setup {
        endpoint,
        protected: false,
        read_only: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_query_cancels_and_audits() {
    let pg = PgServer::start();
    let server = AuditServer::start().await;
    let home = Home::new();
    home.write_config(&pg, setup(&server.url()));
    let (session, _) = sleeper(&pg).await;
    let pid = session.pid().to_string();

    let out = home
        .warroom(&["pg", "cancel-query", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("cancel query of pid {pid}: done")),
        "{text}"
    );
    assert!(
        text.contains(&format!("pg_cancel_backend({pid}) returned true")),
        "{text}"
    );
    // The exact effect was shown before acting.
    assert!(
        stderr(&out).contains(&format!(
            "Cancel the running query of PostgreSQL session {pid}"
        )),
        "{}",
        stderr(&out)
    );
    assert_cancelled(&pg, session.pid()).await;

    let got = server.accepted();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].body["phase"], json!("intent"));
    assert_eq!(got[0].body["reason"], json!(REASON));
    assert_eq!(got[0].body["target"]["pid"], json!(session.pid()));
    assert_eq!(got[1].body["intent_id"], got[0].body["id"]);
    assert_eq!(got[1].body["outcome"]["ok"], json!(true));
    let audit_id = got[0].id().expect("id").to_string();
    assert!(text.contains(&format!("(audit {audit_id})")), "{text}");
    let records = home.records();
    assert_eq!(
        records,
        vec![got[0].body.clone(), got[1].body.clone()],
        "the local file holds the same records"
    );
    assert!(
        pg.log_contents()
            .contains(&format!("audit_id=\"{audit_id}\" reason=\"{REASON}\"")),
        "the server log carries the audit id and the reason"
    );

    let verify = home.warroom(&["audit", "verify"]).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stdout(&verify).contains("chain intact, 2 record(s)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_of_the_root_blocker_from_a_script_frees_the_waiters() {
    let pg = PgServer::start();
    let server = AuditServer::start().await;
    let home = Home::new();
    home.write_config(&pg, setup(&server.url()));
    let chain = pg.lock_chain().await;
    let pid = chain.migration().to_string();

    let out = home
        .warroom(&[
            "pg",
            "terminate",
            "--pid",
            &pid,
            "--reason",
            "INC-88 migration holds row 1",
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("pg_terminate_backend({pid}) returned true")),
        "{}",
        stdout(&out)
    );
    assert_eq!(activity(&pg, chain.migration()).await, None, "still there");
    chain.assert_waiters_proceeded(&pg).await;
    let got = server.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body["action"], json!("pg.terminate"));
    assert_eq!(got[0].body["reason"], json!("INC-88 migration holds row 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_exits_non_zero_and_the_query_still_runs() {
    let pg = PgServer::start();
    let mut server = AuditServer::start().await;
    server.stop().await;
    let home = Home::new();
    home.write_config(&pg, setup(&server.url()));
    let (session, started) = sleeper(&pg).await;
    let pid = session.pid().to_string();

    let out = home
        .warroom(&["pg", "cancel-query", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("NOT DONE"), "{err}");
    assert!(
        err.contains(&format!("audit endpoint {} is unreachable", server.url())),
        "{err}"
    );
    assert!(err.contains("nothing was done"), "{err}");
    assert!(!stdout(&out).contains("done"), "{}", stdout(&out));
    assert_still_sleeping(&pg, &session, started).await;
    // The local trail says so.
    let records = home.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["outcome"]["ok"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_context_needs_confirm_context() {
    let pg = PgServer::start();
    let server = AuditServer::start().await;
    let home = Home::new();
    home.write_config(
        &pg,
        Setup {
            protected: true,
            ..setup(&server.url())
        },
    );
    let (session, started) = sleeper(&pg).await;
    let pid = session.pid().to_string();
    let base = ["pg", "cancel-query", "--pid", &pid, "--reason", REASON];

    for extra in [&[][..], &["--confirm-context", "pg-prod"][..]] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = home.warroom(&args).await;
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains(&format!("context {CTX} is protected: type its name")),
            "{err}"
        );
        assert_still_sleeping(&pg, &session, started).await;
        assert!(server.received().is_empty());
        assert!(home.records().is_empty(), "nothing audited when refused");
    }

    let args: Vec<&str> = base
        .iter()
        .chain(&["--confirm-context", CTX])
        .copied()
        .collect();
    let out = home.warroom(&args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_cancelled(&pg, session.pid()).await;
    assert_eq!(server.accepted().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses() {
    let pg = PgServer::start();
    let server = AuditServer::start().await;
    let home = Home::new();
    home.write_config(&pg, setup(&server.url()));
    let (session, started) = sleeper(&pg).await;
    let pid = session.pid().to_string();

    let out = home
        .warroom(&[
            "--read-only",
            "pg",
            "terminate",
            "--pid",
            &pid,
            "--reason",
            REASON,
        ])
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--read-only"), "{}", stderr(&out));

    // The same from the configuration: read_only = true on the context.
    home.write_config(
        &pg,
        Setup {
            read_only: true,
            ..setup(&server.url())
        },
    );
    let out = home
        .warroom(&["pg", "terminate", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("context {CTX} is read_only")),
        "{}",
        stderr(&out)
    );

    assert_still_sleeping(&pg, &session, started).await;
    assert!(server.received().is_empty());
    assert!(!home.audit_file().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pid_and_bad_reasons_refuse() {
    let pg = PgServer::start();
    let server = AuditServer::start().await;
    let home = Home::new();
    home.write_config(&pg, setup(&server.url()));
    let (session, started) = sleeper(&pg).await;

    let out = home
        .warroom(&["pg", "cancel-query", "--pid", "999999", "--reason", REASON])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pid 999999 is not a client session on context pg-test"),
        "{}",
        stderr(&out)
    );

    let pid = session.pid().to_string();
    for (reason, why) in [
        ("INC-1 x", "too short"),
        ("the report is slow, kill it", "must match"),
    ] {
        let out = home
            .warroom(&["pg", "cancel-query", "--pid", &pid, "--reason", reason])
            .await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }

    assert_still_sleeping(&pg, &session, started).await;
    assert!(server.received().is_empty());
    assert!(!home.audit_file().exists());
}

/// Issue 10 item 2 from a script: a session the monitoring role cannot see (NULL backend_start)
/// is refused with a non-zero exit and the words of the refusal (what to grant); nothing is
/// recorded and the session keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_session_is_refused_with_what_to_grant() {
    let pg = PgServer::start();
    pg.create_role("app", false).await;
    pg.exec("CREATE ROLE nomon LOGIN; GRANT pg_signal_backend TO nomon")
        .await;
    let victim = pg
        .spawn_query_as("app", "victim", "SELECT pg_sleep(600)")
        .await;
    pg.wait_for_state(
        &[victim.pid()],
        "state = 'active' AND wait_event = 'PgSleep'",
        "sleeping in pg_sleep",
    )
    .await;
    let server = AuditServer::start().await;
    let home = Home::new();
    home.write_config(&pg, setup(&server.url()));
    let text = std::fs::read_to_string(home.config()).expect("config");
    std::fs::write(
        home.config(),
        text.replace("postgres://postgres@", "postgres://nomon@"),
    )
    .expect("config as nomon");
    let pid = victim.pid().to_string();
    for cmd in ["cancel-query", "terminate"] {
        let out = home
            .warroom(&[
                "pg",
                cmd,
                "--context",
                CTX,
                "--pid",
                &pid,
                "--reason",
                REASON,
            ])
            .await;
        assert!(!out.status.success(), "{cmd} must fail");
        let err = stderr(&out);
        assert!(
            err.contains("belongs to another role")
                && err.contains("GRANT pg_read_all_stats TO nomon;"),
            "{err}"
        );
        assert!(err.contains("NOT DONE"), "{err}");
    }
    assert!(home.records().is_empty(), "nothing recorded");
    assert!(server.received().is_empty(), "no audit call");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!victim.query_finished(), "the victim was signalled");
}

/// Issue 10 item 5 from a script: break-glass (`on_unreachable = "local-only"`, endpoint down)
/// runs the action, prints the warning on stderr and exits 3, not 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_warns_on_stderr_and_exits_3() {
    let pg = PgServer::start();
    let mut server = AuditServer::start().await;
    let url = server.url();
    server.stop().await;
    let home = Home::new();
    home.write_config(&pg, setup(&url));
    let mut text = std::fs::read_to_string(home.config()).expect("config");
    text.push_str("on_unreachable = \"local-only\"\n");
    std::fs::write(home.config(), text).expect("config");
    let (session, _) = sleeper(&pg).await;
    let pid = session.pid().to_string();
    let out = home
        .warroom(&[
            "pg",
            "cancel-query",
            "--context",
            CTX,
            "--pid",
            &pid,
            "--reason",
            REASON,
        ])
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("done"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("warning: BREAK-GLASS"),
        "{}",
        stderr(&out)
    );
    assert_cancelled(&pg, session.pid()).await;
    let records = home.records();
    assert_eq!(records[2]["delivery"], json!("break-glass"));
}
