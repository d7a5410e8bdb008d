//! The guarded-action path end to end through warroom's library: the guard `Executor` with a
//! real PostgreSQL signaller (`RealPg`) against a real server (warroom_testkit::pg) and the
//! audit log against a real HTTP receiver on loopback (warroom_testkit::audit_server).
//!
//! Every test asserts effects on the real systems: what PostgreSQL did to the target session
//! (pg_stat_activity, the server's own log), what the receiver got, what the local file holds.

use warroom_testkit::audit_server;
use warroom_testkit::pg;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use audit_server::{AuditServer, Mode};
use pg::{BackgroundSession, HARNESS_APP, PgServer};
use serde_json::{Value, json};
use warroom_core::audit::{AuditLog, AuditSettings, OnUnreachable, new_session_id, verify};
use warroom_core::backends::BoxFuture;
use warroom_core::backends::postgres::{
    ConnectSpec, PgError, PgSignaller, PgSource, RealPg, SessionIdentity, SignalOutcome,
    SignalRequest, blocking_tree,
};
use warroom_core::guard::{
    ActionReport, ContextPolicy, Executor, GuardRequest, GuardedAction, Outcome, PgTarget, Policy,
    ReasonRules,
};

const CTX: &str = "pg-test";
const REASON: &str = "INC-4711 runaway report query blocks checkout";
const AUDIT_TIMEOUT: Duration = Duration::from_millis(600);
const CANCEL_ERROR: &str = "ERROR:  canceling statement due to user request";

/// One PostgreSQL server, warroom's real client for it, and a temp dir for audit files.
struct Scene {
    pg: PgServer,
    real: Arc<RealPg>,
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let pg = PgServer::start();
        let url = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
        let spec = ConnectSpec::resolve(&url, None).expect("connect spec for the test server");
        Scene {
            real: Arc::new(RealPg::new(spec)),
            pg,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn audit_file(&self) -> PathBuf {
        self.dir.path().join("state/warroom/audit.jsonl")
    }

    fn settings(&self, endpoint: Option<String>) -> AuditSettings {
        AuditSettings {
            file: self.audit_file(),
            endpoint,
            token_env: None,
            timeout: AUDIT_TIMEOUT,
            on_unreachable: OnUnreachable::Deny,
            identity: Some("sre@example.com".into()),
        }
    }

    fn executor(&self, settings: AuditSettings, policy: Policy) -> Executor {
        self.executor_with(
            settings,
            policy,
            Arc::clone(&self.real) as Arc<dyn PgSignaller>,
        )
    }

    fn executor_with(
        &self,
        settings: AuditSettings,
        policy: Policy,
        signaller: Arc<dyn PgSignaller>,
    ) -> Executor {
        Executor::new(
            AuditLog::new(settings, new_session_id()),
            policy,
            rules(),
            Duration::from_secs(5),
        )
        .with_pg(CTX, signaller)
    }

    /// The session as warroom's own activity snapshot shows it: what the user selects.
    async fn target(&self, pid: i32) -> PgTarget {
        let snapshot = self.real.activity().await.expect("activity snapshot");
        let session = snapshot
            .sessions
            .iter()
            .find(|s| s.pid == pid)
            .unwrap_or_else(|| panic!("pid {pid} is not in warroom's snapshot"));
        PgTarget::from_session(CTX, session)
    }

    /// A session sleeping in `SELECT pg_sleep(600)`, and its target as warroom sees it.
    async fn sleeper(&self, app: &str) -> (BackgroundSession, PgTarget) {
        let session = self.pg.spawn_query(app, "SELECT pg_sleep(600)").await;
        self.pg
            .wait_for_state(
                &[session.pid()],
                "state = 'active' AND wait_event = 'PgSleep'",
                "sleeping in pg_sleep",
            )
            .await;
        let target = self.target(session.pid()).await;
        assert!(target.query_start.is_some() && target.backend_start.is_some());
        (session, target)
    }

    /// (state, wait_event, query_start) of a pid, from the server itself.
    async fn activity_of(&self, pid: i32) -> Option<(String, Option<String>, SystemTime)> {
        let client = self.pg.connect("postgres", HARNESS_APP).await;
        let rows = client
            .query(
                "SELECT state, wait_event, query_start FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .expect("read pg_stat_activity");
        rows.first().map(|r| (r.get(0), r.get(1), r.get(2)))
    }

    /// Lines of the server log written by backend `pid`.
    fn log_lines_of(&self, pid: i32) -> Vec<String> {
        let tag = format!(" [{pid}] ");
        self.pg
            .log_contents()
            .lines()
            .filter(|l| l.contains(&tag))
            .map(str::to_string)
            .collect()
    }

    /// Nothing was signalled: the very same `pg_sleep` still runs and the server never logged a
    /// cancel for it.
    async fn assert_still_sleeping(&self, session: &BackgroundSession, target: &PgTarget) {
        // A signal, had one been sent, reaches the backend within milliseconds.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!session.query_finished(), "the sleeping query ended");
        let (state, wait, query_start) = self
            .activity_of(target.pid)
            .await
            .unwrap_or_else(|| panic!("pid {} is gone", target.pid));
        assert_eq!(state, "active");
        assert_eq!(wait.as_deref(), Some("PgSleep"));
        assert_eq!(
            Some(query_start),
            target.query_start,
            "the same query still runs"
        );
        let cancels: Vec<String> = self
            .log_lines_of(target.pid)
            .into_iter()
            .filter(|l| l.contains(CANCEL_ERROR) || l.contains("terminating connection"))
            .collect();
        assert!(cancels.is_empty(), "the server signalled it: {cancels:?}");
    }

    /// The signalling statement never reached the server.
    fn assert_no_signalling_statement(&self) {
        let log = self.pg.log_contents();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("warroom audit_id="))
            .collect();
        assert!(
            lines.is_empty(),
            "a signalling statement was sent: {lines:?}"
        );
    }

    /// The query of `pid` ended with PostgreSQL's cancel error and the session is idle again.
    async fn assert_cancelled(&self, pid: i32) {
        self.pg
            .wait_for_state(&[pid], "state = 'idle'", "idle after the cancel")
            .await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self
                .log_lines_of(pid)
                .iter()
                .any(|l| l.contains(CANCEL_ERROR))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no cancel error for pid {pid} in the server log:\n{}",
                self.log_lines_of(pid).join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn rules() -> ReasonRules {
    ReasonRules {
        min_len: 10,
        pattern: Some(regex::Regex::new("INC-[0-9]+").expect("regex")),
    }
}

fn policy_with(context: ContextPolicy) -> Policy {
    Policy {
        global_read_only: false,
        contexts: HashMap::from([(CTX.to_string(), context)]),
    }
}

fn open_policy() -> Policy {
    policy_with(ContextPolicy::default())
}

fn request(actions: Vec<GuardedAction>, reason: &str) -> GuardRequest {
    GuardRequest {
        actions,
        reason: reason.into(),
        typed_context: None,
    }
}

/// The JSON lines of a file (empty when it does not exist).
fn json_lines(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

fn only(reports: Vec<ActionReport>) -> ActionReport {
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports.into_iter().next().expect("one report")
}

fn assert_refused(report: &ActionReport, why: &str) {
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Refused, "{}", report.summary());
    assert!(
        report.detail.contains(why),
        "detail should say {why:?}: {}",
        report.detail
    );
    assert!(
        report.summary().contains("NOT DONE"),
        "{}",
        report.summary()
    );
}

// ---------------------------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cancel_ends_the_query_and_receiver_file_and_server_log_agree() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    let (session, target) = scene.sleeper("report-job").await;
    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor(settings.clone(), open_policy());

    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_cancel(target.clone())],
                REASON,
            ))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Done, "{}", report.summary());
    assert_eq!(
        report.detail,
        format!("pg_cancel_backend({}) returned true", target.pid),
        "PostgreSQL's own boolean"
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let audit_id = report.audit_id.clone().expect("an audit id");

    // PostgreSQL: the query ended with the cancel error, the session lives on.
    scene.assert_cancelled(target.pid).await;
    assert!(session.query_finished());

    // The receiver: intent then outcome, with the reason; the outcome refers to its intent.
    let got = server.accepted();
    assert_eq!(got.len(), 2, "{got:?}");
    let (intent, outcome) = (&got[0].body, &got[1].body);
    assert_eq!(intent["phase"], json!("intent"));
    assert_eq!(intent["id"], json!(audit_id));
    assert_eq!(intent["reason"], json!(REASON));
    assert_eq!(intent["action"], json!("pg.cancel"));
    assert_eq!(intent["context"], json!({"kind": "postgres", "name": CTX}));
    assert_eq!(intent["target"]["pid"], json!(target.pid));
    assert_eq!(intent["target"]["query"], json!("SELECT pg_sleep(600)"));
    assert_eq!(intent["actor"]["identity"], json!("sre@example.com"));
    assert_eq!(outcome["phase"], json!("outcome"));
    assert_eq!(outcome["intent_id"], json!(audit_id));
    assert_eq!(outcome["reason"], json!(REASON));
    assert_eq!(
        outcome["outcome"],
        json!({"ok": true, "detail": report.detail})
    );

    // The local file holds the same two records, chained; nothing waits in the spool.
    let lines = json_lines(&settings.file);
    assert_eq!(lines, vec![intent.clone(), outcome.clone()]);
    assert_eq!(verify(&settings.file).expect("intact chain").records, 2);
    assert!(!executor.audit().pending_file().exists());

    // The server's own log ties the signalling statement to the audit record.
    let log = scene.pg.log_contents();
    let statement = log
        .lines()
        .find(|l| l.contains(&format!("audit_id=\"{audit_id}\"")))
        .unwrap_or_else(|| panic!("no server log line carries audit id {audit_id}:\n{log}"));
    eprintln!("server log: {statement}");
    assert!(
        statement.contains(&format!("reason=\"{REASON}\"")),
        "{statement}"
    );
    assert!(statement.contains("pg_cancel_backend"), "{statement}");
    assert!(statement.contains("app=warroom"), "{statement}");
}

#[tokio::test]
async fn terminating_the_root_blocker_frees_its_waiters() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    let chain = scene.pg.lock_chain().await;

    // What the lock view shows: the migration is the one root, four sessions behind it.
    let snapshot = scene.real.activity().await.expect("snapshot");
    let tree = blocking_tree(&snapshot.sessions);
    let root = tree.first().expect("a blocking tree");
    assert_eq!(root.pid, chain.migration());
    assert_eq!(root.waiting_count, 4);
    let target = scene.target(chain.migration()).await;
    assert_eq!(target.state.as_deref(), Some("idle in transaction"));
    assert_eq!(target.application, "migration");

    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor(settings.clone(), open_policy());
    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_terminate(target.clone())],
                "INC-88 migration holds row 1, checkout is stuck",
            ))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Done, "{}", report.summary());
    assert_eq!(
        report.detail,
        format!("pg_terminate_backend({}) returned true", target.pid)
    );

    // The backend is gone (terminate waited for it to exit).
    assert_eq!(scene.activity_of(target.pid).await, None, "still there");
    chain.assert_waiters_proceeded(&scene.pg).await;
    let snapshot = scene.real.activity().await.expect("snapshot");
    let tree = blocking_tree(&snapshot.sessions);
    assert!(tree.iter().all(|n| n.pid != chain.migration()), "{tree:?}");

    let got = server.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body["action"], json!("pg.terminate"));
    assert_eq!(
        got[0].body["reason"],
        json!("INC-88 migration holds row 1, checkout is stuck")
    );
    assert_eq!(got[1].body["intent_id"], got[0].body["id"]);
    assert_eq!(got[1].body["outcome"]["ok"], json!(true));
    let audit_id = report.audit_id.expect("audit id");
    assert!(
        scene
            .pg
            .log_contents()
            .lines()
            .any(|l| l.contains(&format!("audit_id=\"{audit_id}\""))
                && l.contains("pg_terminate_backend")),
        "the terminate statement is in the server log"
    );
    assert_eq!(verify(&settings.file).expect("chain").records, 2);
}

// ---------------------------------------------------------------------------------------------
// The audit call fails: nothing is signalled
// ---------------------------------------------------------------------------------------------

async fn audit_failure_signals_nothing(server: &AuditServer, why: &str) {
    let scene = Scene::new();
    let (session, target) = scene.sleeper("report-job").await;
    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor(settings.clone(), open_policy());
    let started = Instant::now();
    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_cancel(target.clone())],
                REASON,
            ))
            .await,
    );
    assert!(
        started.elapsed() < AUDIT_TIMEOUT * 4,
        "{:?}",
        started.elapsed()
    );
    assert_refused(&report, why);
    assert!(
        report.detail.contains("nothing was done"),
        "{}",
        report.detail
    );
    assert!(
        report.detail.contains(&server.url()),
        "names the endpoint: {}",
        report.detail
    );

    scene.assert_still_sleeping(&session, &target).await;
    scene.assert_no_signalling_statement();
    assert!(server.accepted().is_empty());

    // The local trail says that nothing ran.
    let lines = json_lines(&settings.file);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["id"], json!(report.audit_id.expect("audit id")));
    assert_eq!(lines[1]["outcome"]["ok"], json!(false));
    assert!(
        lines[1]["outcome"]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("not executed")),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn endpoint_down_signals_nothing() {
    let mut server = AuditServer::start().await;
    server.stop().await;
    audit_failure_signals_nothing(&server, "is unreachable").await;
}

#[tokio::test]
async fn endpoint_500_signals_nothing() {
    let server = AuditServer::start_with(Mode::Status(500)).await;
    audit_failure_signals_nothing(&server, "answered 500 Internal Server Error").await;
}

#[tokio::test]
async fn endpoint_slower_than_the_timeout_signals_nothing() {
    let server = AuditServer::start_with(Mode::Slow(Duration::from_secs(5))).await;
    audit_failure_signals_nothing(&server, "did not answer within 600ms").await;
}

#[tokio::test]
async fn endpoint_closing_mid_response_signals_nothing() {
    let server = AuditServer::start_with(Mode::CloseMidResponse).await;
    audit_failure_signals_nothing(&server, "closed the connection").await;
}

#[tokio::test]
async fn endpoint_answering_non_json_signals_nothing() {
    let server = AuditServer::start_with(Mode::NonJson).await;
    audit_failure_signals_nothing(&server, "with a body that is not JSON").await;
}

#[tokio::test]
async fn unwritable_audit_file_signals_nothing() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    let (session, target) = scene.sleeper("report-job").await;
    let blocker = scene.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").expect("write");
    let mut settings = scene.settings(Some(server.url()));
    settings.file = blocker.join("audit.jsonl");
    let executor = scene.executor(settings, open_policy());

    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_cancel(target.clone())],
                REASON,
            ))
            .await,
    );
    assert_refused(&report, "is not a directory");
    assert!(report.detail.contains("nothing was done"));
    assert_eq!(report.audit_id, None);
    scene.assert_still_sleeping(&session, &target).await;
    scene.assert_no_signalling_statement();
    assert!(
        server.received().is_empty(),
        "no audit call without a local record"
    );
}

// ---------------------------------------------------------------------------------------------
// The target changed since the snapshot: nothing is signalled
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pid_of_a_different_session_is_not_signalled() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    let (session, target) = scene.sleeper("report-job").await;
    // The user's snapshot showed an older session under this pid (the pid was recycled since).
    let mut stale = target.clone();
    stale.backend_start = target.backend_start.map(|t| t - Duration::from_secs(3600));
    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor(settings.clone(), open_policy());

    let report = only(
        executor
            .run(request(vec![GuardedAction::pg_cancel(stale)], REASON))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Failed, "{}", report.summary());
    assert!(
        report.detail.contains("nothing signalled") && report.detail.contains("different session"),
        "{}",
        report.detail
    );
    scene.assert_still_sleeping(&session, &target).await;

    // The check ran in the signalling statement itself, and the outcome says what happened.
    let audit_id = report.audit_id.clone().expect("audit id");
    assert!(
        scene
            .pg
            .log_contents()
            .contains(&format!("audit_id=\"{audit_id}\""))
    );
    let got = server.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].body["outcome"],
        json!({"ok": false, "detail": report.detail})
    );
    assert_eq!(verify(&settings.file).expect("chain").records, 2);
}

#[tokio::test]
async fn session_running_a_new_query_is_not_signalled() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    // A session that ran a short statement: this is what the user saw and selected.
    let client = Arc::new(scene.pg.connect("postgres", "batch-worker").await);
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    client.batch_execute("SELECT 1").await.expect("select 1");
    let seen = scene.target(pid).await;
    assert_eq!(seen.state.as_deref(), Some("idle"));
    // Since then, the same session started another statement.
    let running = Arc::clone(&client);
    let query = tokio::spawn(async move {
        let _ = running.batch_execute("SELECT pg_sleep(600)").await;
    });
    scene
        .pg
        .wait_for_state(
            &[pid],
            "state = 'active' AND wait_event = 'PgSleep'",
            "sleeping",
        )
        .await;
    let now = scene.target(pid).await;
    assert_eq!(now.backend_start, seen.backend_start);
    assert_ne!(now.query_start, seen.query_start);

    let executor = scene.executor(scene.settings(Some(server.url())), open_policy());
    let report = only(
        executor
            .run(request(vec![GuardedAction::pg_cancel(seen)], REASON))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Failed, "{}", report.summary());
    assert!(
        report.detail.contains("nothing signalled")
            && report.detail.contains("runs a different query"),
        "{}",
        report.detail
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!query.is_finished(), "the new query was cancelled");
    let (state, wait, query_start) = scene.activity_of(pid).await.expect("session");
    assert_eq!(
        (state.as_str(), wait.as_deref()),
        ("active", Some("PgSleep"))
    );
    assert_eq!(Some(query_start), now.query_start);
    assert!(
        !scene
            .log_lines_of(pid)
            .iter()
            .any(|l| l.contains(CANCEL_ERROR))
    );
    assert_eq!(server.accepted().len(), 2);
    query.abort();
}

#[tokio::test]
async fn session_that_ended_is_reported_gone() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    let (session, target) = scene.sleeper("report-job").await;
    drop(session);
    let deadline = Instant::now() + Duration::from_secs(10);
    while scene.activity_of(target.pid).await.is_some() {
        assert!(Instant::now() < deadline, "the dropped session did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let executor = scene.executor(scene.settings(Some(server.url())), open_policy());
    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_terminate(target.clone())],
                REASON,
            ))
            .await,
    );
    assert!(report.outcome == Outcome::Failed, "{}", report.summary());
    assert_eq!(
        report.detail,
        format!("nothing signalled: pid {} no longer exists", target.pid)
    );
    assert_eq!(server.accepted()[1].body["outcome"]["ok"], json!(false));
}

#[tokio::test]
async fn server_refusal_is_reported_and_the_query_keeps_running() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    // A monitoring role that sees every session but may not signal a superuser's backend.
    scene.pg.create_role("oncall", true).await;
    let url = format!("{}?sslmode=disable", scene.pg.url("oncall", "postgres"));
    let oncall: Arc<dyn PgSignaller> =
        Arc::new(RealPg::new(ConnectSpec::resolve(&url, None).expect("spec")));
    let (session, target) = scene.sleeper("report-job").await;
    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor_with(settings.clone(), open_policy(), oncall);
    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_cancel(target.clone())],
                REASON,
            ))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Failed, "{}", report.summary());
    assert!(
        report.detail.contains("the server refused or failed")
            // PostgreSQL 15 says "must be a superuser ...", 16+ "permission denied ...".
            && (report.detail.contains("must be a superuser")
                || report.detail.contains("permission denied")),
        "{}",
        report.detail
    );
    scene.assert_still_sleeping(&session, &target).await;
    let got = server.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].body["outcome"],
        json!({"ok": false, "detail": report.detail})
    );
}

// ---------------------------------------------------------------------------------------------
// Policy and reason rules refuse before anything is written
// ---------------------------------------------------------------------------------------------

/// Runs a request that must be refused before the audit step: no record, no audit call, no signal.
async fn refused_before_audit(
    scene: &Scene,
    policy: Policy,
    reason: &str,
    typed_context: Option<&str>,
    why: &str,
) {
    let server = AuditServer::start().await;
    let (session, target) = scene.sleeper("report-job").await;
    let executor = scene.executor(scene.settings(Some(server.url())), policy);
    let report = only(
        executor
            .run(GuardRequest {
                actions: vec![GuardedAction::pg_terminate(target.clone())],
                reason: reason.into(),
                typed_context: typed_context.map(str::to_string),
            })
            .await,
    );
    assert_refused(&report, why);
    assert_eq!(report.audit_id, None);
    assert!(
        !scene.audit_file().exists(),
        "nothing may be written to the audit file"
    );
    assert!(server.received().is_empty(), "no audit call");
    scene.assert_still_sleeping(&session, &target).await;
    scene.assert_no_signalling_statement();
}

#[tokio::test]
async fn read_only_contexts_refuse() {
    let scene = Scene::new();
    let mut global = open_policy();
    global.global_read_only = true;
    refused_before_audit(&scene, global, REASON, None, "--read-only").await;
    let per_context = policy_with(ContextPolicy {
        read_only: true,
        ..ContextPolicy::default()
    });
    refused_before_audit(
        &scene,
        per_context,
        REASON,
        None,
        &format!("context {CTX} is read_only"),
    )
    .await;
    let unknown = Policy::default();
    refused_before_audit(&scene, unknown, REASON, None, "unknown context").await;
}

#[tokio::test]
async fn protected_context_needs_its_name_typed() {
    let scene = Scene::new();
    let protected = || {
        policy_with(ContextPolicy {
            protected: true,
            ..ContextPolicy::default()
        })
    };
    refused_before_audit(&scene, protected(), REASON, None, "is protected").await;
    refused_before_audit(&scene, protected(), REASON, Some("pg-prod"), "is protected").await;

    // Typed right: it runs.
    let server = AuditServer::start().await;
    let (_session, target) = scene.sleeper("report-job").await;
    let executor = scene.executor(scene.settings(Some(server.url())), protected());
    let report = only(
        executor
            .run(GuardRequest {
                actions: vec![GuardedAction::pg_cancel(target.clone())],
                reason: REASON.into(),
                typed_context: Some(CTX.into()),
            })
            .await,
    );
    assert!(report.outcome == Outcome::Done, "{}", report.summary());
    scene.assert_cancelled(target.pid).await;
    assert_eq!(server.accepted().len(), 2);
}

#[tokio::test]
async fn reason_rules_refuse_before_anything_is_written() {
    let scene = Scene::new();
    refused_before_audit(&scene, open_policy(), "INC-1 x", None, "too short").await;
    refused_before_audit(
        &scene,
        open_policy(),
        "because the report is slow",
        None,
        "must match",
    )
    .await;
    refused_before_audit(&scene, open_policy(), "   ", None, "a reason is required").await;
    refused_before_audit(
        &scene,
        open_policy(),
        "INC-12 slow\u{1b}[2J report",
        None,
        "control characters",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Several targets, delivery failures, break-glass
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn marked_sessions_get_one_record_pair_and_one_result_each() {
    let scene = Scene::new();
    let server = AuditServer::start().await;
    let sessions = scene.pg.open_active_sessions(3, "batch").await;
    let mut targets = Vec::new();
    for pid in sessions.pids() {
        targets.push(scene.target(pid).await);
    }
    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor(settings.clone(), open_policy());
    let reports = executor
        .run(request(
            targets
                .iter()
                .cloned()
                .map(GuardedAction::pg_cancel)
                .collect(),
            REASON,
        ))
        .await;
    assert_eq!(reports.len(), 3);
    for (report, target) in reports.iter().zip(&targets) {
        assert!(report.outcome == Outcome::Done, "{}", report.summary());
        assert_eq!(report.action, GuardedAction::pg_cancel(target.clone()));
        assert_eq!(
            report.detail,
            format!("pg_cancel_backend({}) returned true", target.pid)
        );
    }
    scene
        .pg
        .wait_for_state(&sessions.pids(), "state = 'idle'", "idle after the cancel")
        .await;

    let got = server.accepted();
    assert_eq!(got.len(), 6);
    for (i, (report, target)) in reports.iter().zip(&targets).enumerate() {
        let (intent, outcome) = (&got[2 * i].body, &got[2 * i + 1].body);
        assert_eq!(intent["phase"], json!("intent"));
        assert_eq!(intent["id"], json!(report.audit_id.as_deref().expect("id")));
        assert_eq!(intent["target"]["pid"], json!(target.pid));
        assert_eq!(intent["reason"], json!(REASON));
        assert_eq!(outcome["intent_id"], intent["id"]);
        assert_eq!(outcome["outcome"]["ok"], json!(true));
        let log = scene.log_lines_of(target.pid);
        assert!(log.iter().any(|l| l.contains(CANCEL_ERROR)), "{log:?}");
    }
    let ids: std::collections::HashSet<_> = reports.iter().map(|r| r.audit_id.clone()).collect();
    assert_eq!(ids.len(), 3, "one audit id per target");
    assert_eq!(json_lines(&settings.file).len(), 6);
    assert_eq!(verify(&settings.file).expect("chain").records, 6);
}

/// Signals through the real client, then turns the receiver to 500: the intent was accepted,
/// the outcome cannot be delivered.
struct ReceiverFailsAfterSignal {
    real: Arc<RealPg>,
    server: Arc<AuditServer>,
}

impl PgSignaller for ReceiverFailsAfterSignal {
    fn signal(&self, request: SignalRequest) -> BoxFuture<'_, Result<SignalOutcome, PgError>> {
        Box::pin(async move {
            let outcome = self.real.signal(request).await;
            self.server.set_mode(Mode::Status(500));
            outcome
        })
    }
}

#[tokio::test]
async fn undelivered_outcome_is_flushed_exactly_once() {
    let scene = Scene::new();
    let server = Arc::new(AuditServer::start().await);
    let (_session, target) = scene.sleeper("report-job").await;
    let settings = scene.settings(Some(server.url()));
    let signaller = Arc::new(ReceiverFailsAfterSignal {
        real: Arc::clone(&scene.real),
        server: Arc::clone(&server),
    });
    let executor = scene.executor_with(settings.clone(), open_policy(), signaller);

    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_cancel(target.clone())],
                REASON,
            ))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(
        report.outcome == Outcome::Done,
        "the action ran: {}",
        report.summary()
    );
    scene.assert_cancelled(target.pid).await;
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("audit flush"),
        "the user learns how to deliver it: {:?}",
        report.warnings
    );

    let audit_id = report.audit_id.clone().expect("audit id");
    assert_eq!(
        server.accepted_ids(),
        vec![audit_id.clone()],
        "only the intent"
    );
    let lines = json_lines(&settings.file);
    assert_eq!(lines.len(), 2);
    let outcome_id = lines[1]["id"].as_str().expect("outcome id").to_string();
    assert_eq!(lines[1]["intent_id"], json!(audit_id));
    let tried = server
        .received()
        .iter()
        .filter(|r| r.id() == Some(&outcome_id))
        .count();
    assert!(tried >= 2, "the outcome was retried ({tried} attempts)");
    let pending = json_lines(&executor.audit().pending_file());
    assert_eq!(
        pending,
        vec![lines[1].clone()],
        "the outcome waits in the spool"
    );

    // The endpoint is back: flush delivers it once, a second flush has nothing left.
    server.set_mode(Mode::Ok);
    let first = executor.audit().flush().await.expect("flush");
    assert_eq!((first.delivered, first.remaining), (1, 0), "{first:?}");
    let second = executor.audit().flush().await.expect("flush");
    assert_eq!((second.delivered, second.remaining), (0, 0), "{second:?}");
    assert_eq!(server.accepted_ids(), vec![audit_id, outcome_id]);
    assert_eq!(server.accepted()[1].body, lines[1]);
    assert!(!executor.audit().pending_file().exists());
    assert_eq!(verify(&settings.file).expect("chain").records, 2);
}

#[tokio::test]
async fn break_glass_runs_warns_loudly_and_marks_the_record() {
    let scene = Scene::new();
    let mut server = AuditServer::start().await;
    server.stop().await;
    let (_session, target) = scene.sleeper("report-job").await;
    let mut settings = scene.settings(Some(server.url()));
    settings.on_unreachable = OnUnreachable::LocalOnly;
    let executor = scene.executor(settings.clone(), open_policy());

    let report = only(
        executor
            .run(request(
                vec![GuardedAction::pg_cancel(target.clone())],
                REASON,
            ))
            .await,
    );
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Done, "{}", report.summary());
    scene.assert_cancelled(target.pid).await;
    assert!(
        report.warnings.iter().any(|w| w.starts_with("BREAK-GLASS")
            && w.contains("is unreachable")
            && w.contains("local-only")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.summary().contains("BREAK-GLASS"),
        "{}",
        report.summary()
    );

    // The unaccepted intent is closed as not executed; the action ran under a second intent
    // marked break-glass (issue 10 item 5), and its outcome is break-glass too.
    let lines = json_lines(&settings.file);
    assert_eq!(lines.len(), 4);
    let audit_id = report.audit_id.expect("audit id");
    assert_eq!(lines[2]["phase"], json!("intent"));
    assert_eq!(lines[2]["id"], json!(audit_id));
    assert_eq!(lines[2]["delivery"], json!("break-glass"));
    assert_eq!(lines[3]["phase"], json!("outcome"));
    assert_eq!(lines[3]["delivery"], json!("break-glass"));
    assert_eq!(lines[3]["outcome"]["ok"], json!(true));
    assert_eq!(verify(&settings.file).expect("chain").records, 4);
    // Every record waits for the endpoint.
    assert_eq!(json_lines(&executor.audit().pending_file()), lines);
    assert!(
        scene
            .pg
            .log_contents()
            .contains(&format!("audit_id=\"{audit_id}\""))
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 10 item 2: a session whose identity is hidden (NULL backend_start) is never signalled
// ---------------------------------------------------------------------------------------------

/// A monitoring role that may signal (pg_signal_backend) but not see other roles' sessions
/// (no pg_read_all_stats) gets NULL backend_start/query_start for them. The old identity check
/// matched NULL to NULL and signalled whatever held the pid; now the executor refuses before any
/// record is written, and the backend refuses on its own too.
#[tokio::test]
async fn session_hidden_from_an_unprivileged_monitor_is_refused_before_any_record() {
    use warroom_core::backends::postgres::SignalKind;

    let scene = Scene::new();
    let server = AuditServer::start().await;
    scene.pg.create_role("app", false).await;
    scene
        .pg
        .exec("CREATE ROLE nomon LOGIN; GRANT pg_signal_backend TO nomon")
        .await;
    let victim = scene
        .pg
        .spawn_query_as("app", "victim", "SELECT pg_sleep(600)")
        .await;
    scene
        .pg
        .wait_for_state(
            &[victim.pid()],
            "state = 'active' AND wait_event = 'PgSleep'",
            "sleeping in pg_sleep",
        )
        .await;
    let url = format!("{}?sslmode=disable", scene.pg.url("nomon", "postgres"));
    let nomon = Arc::new(RealPg::new(
        ConnectSpec::resolve(&url, None).expect("connect spec for nomon"),
    ));
    let snapshot = nomon.activity().await.expect("activity as nomon");
    let seen = snapshot
        .sessions
        .iter()
        .find(|s| s.pid == victim.pid())
        .expect("the victim is listed (details hidden)");
    assert_eq!(seen.backend_start, None, "hidden from nomon: {seen:?}");
    let target = PgTarget::from_session(CTX, seen);

    let settings = scene.settings(Some(server.url()));
    let executor = scene.executor_with(
        settings.clone(),
        open_policy(),
        Arc::clone(&nomon) as Arc<dyn PgSignaller>,
    );
    for action in [
        GuardedAction::pg_cancel(target.clone()),
        GuardedAction::pg_terminate(target.clone()),
    ] {
        let report = only(executor.run(request(vec![action], REASON)).await);
        assert_refused(&report, "GRANT pg_read_all_stats TO nomon;");
        assert!(report.detail.contains("cannot check"), "{}", report.detail);
        assert_eq!(report.audit_id, None);
    }
    assert!(json_lines(&settings.file).is_empty(), "no record written");
    assert!(server.received().is_empty(), "no audit call");

    // The backend refuses on its own (it is the last line of defence), naming the role.
    let err = nomon
        .signal(SignalRequest {
            kind: SignalKind::Cancel,
            session: SessionIdentity {
                pid: victim.pid(),
                backend_start: None,
                query_start: None,
            },
            audit_id: "direct-call".into(),
            reason: "INC-1 direct call".into(),
            terminate_wait: Duration::from_secs(1),
        })
        .await
        .expect_err("the backend refuses a NULL backend_start");
    assert!(
        err.to_string()
            .contains("GRANT pg_read_all_stats TO nomon;"),
        "{err}"
    );

    scene.assert_no_signalling_statement();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!victim.query_finished(), "the victim's query was signalled");
    let (state, wait, _) = scene
        .activity_of(victim.pid())
        .await
        .expect("the victim session still exists");
    assert_eq!(state, "active");
    assert_eq!(wait.as_deref(), Some("PgSleep"));
}
