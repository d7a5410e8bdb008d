//! The audit step of guarded actions against a real HTTP audit receiver on loopback
//! (warroom_testkit::audit_server): the intent must be fsynced locally and accepted remotely
//! before anything runs; every failure says why; outcomes are never lost.

use warroom_testkit::audit_server;

use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use audit_server::{AuditServer, Mode};
use serde_json::{Value, json};
use warroom_core::audit::{
    AuditLog, AuditSettings, FlushError, IntentDraft, OnUnreachable, RefusalKind, verify,
};

/// Name of the env var holding the test bearer token, and the token.
const TOKEN_ENV: &str = "WARROOM_TEST_AUDIT_TOKEN";
const TOKEN: &str = "tok-3f9a-very-secret";

/// Sets the token variable once for the whole test binary.
static TOKEN_SET: LazyLock<()> = LazyLock::new(|| {
    // SAFETY: std serializes its own environment accesses; the only readers of the environment
    // in this test binary are Rust code going through std (warroom reads the token with
    // std::env::var, reqwest reads proxy variables the same way), no C code calls getenv.
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
});

const TIMEOUT: Duration = Duration::from_millis(600);

fn settings(dir: &Path, endpoint: Option<String>) -> AuditSettings {
    LazyLock::force(&TOKEN_SET);
    AuditSettings {
        file: dir.join("state/warroom/audit.jsonl"),
        endpoint,
        token_env: Some(TOKEN_ENV.to_string()),
        timeout: TIMEOUT,
        on_unreachable: OnUnreachable::Deny,
        identity: Some("alice@example.com".into()),
    }
}

fn draft(reason: &str) -> IntentDraft {
    IntentDraft {
        context_kind: "postgres".into(),
        context_name: "prod-main".into(),
        action: "pg.cancel".into(),
        target: json!({
            "pid": 14024,
            "backend_start": "2025-03-01T09:00:00.000Z",
            "query_start": "2025-03-01T09:29:00.000Z",
            "query": "select * from orders",
        }),
        reason: reason.into(),
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

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn assert_token_absent(paths: &[&Path], extra: &str) {
    for p in paths {
        assert!(
            !read(p).contains(TOKEN),
            "token leaked into {}",
            p.display()
        );
    }
    assert!(!extra.contains(TOKEN), "token leaked into {extra:?}");
}

#[test]
fn audit_log_is_cheap_to_share() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<AuditLog>();
}

#[tokio::test]
async fn accepted_intent_is_in_the_file_and_at_the_receiver_with_reason_and_bearer_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start().await;
    let s = settings(dir.path(), Some(server.url()));
    let log = AuditLog::new(s.clone(), "session-1");

    let receipt = log
        .record_intent(draft("INC-101 runaway report query"))
        .await
        .expect("intent accepted");
    assert_eq!(receipt.warning(), None);
    assert!(!receipt.is_break_glass());
    assert_eq!(
        receipt.destination(),
        format!("audit: {} + {}", s.file.display(), server.url())
    );
    assert_eq!(receipt.destination(), s.destination_text());

    // Local: fsynced before record_intent returned, private, and a valid chain.
    let lines = json_lines(&s.file);
    assert_eq!(lines.len(), 1);
    let local = &lines[0];
    assert_eq!(local["version"], json!(1));
    assert_eq!(local["id"], json!(receipt.audit_id()));
    assert_eq!(local["phase"], json!("intent"));
    assert_eq!(local["reason"], json!("INC-101 runaway report query"));
    assert_eq!(local["delivery"], json!("remote"));
    assert_eq!(local["session_id"], json!("session-1"));
    assert_eq!(local["actor"]["identity"], json!("alice@example.com"));
    assert_eq!(
        local["context"],
        json!({"kind": "postgres", "name": "prod-main"})
    );
    assert_eq!(local["target"]["pid"], json!(14024));
    assert_eq!(local["tool_version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(local["prev_hash"], json!("0".repeat(64)));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Remote: the same record, as JSON, with the bearer token.
    let got = server.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/audit");
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(&got[0].body, local);

    // Outcome: delivered, refers to the intent.
    let delivery = log
        .record_outcome(
            &receipt,
            true,
            "cancelled: pg_cancel_backend returned true".into(),
        )
        .await;
    assert!(
        delivery.delivered && delivery.written_locally && !delivery.spooled,
        "{delivery:?}"
    );
    assert!(delivery.note.contains(&server.url()), "{}", delivery.note);
    let got = server.accepted();
    assert_eq!(got.len(), 2);
    let outcome = &got[1].body;
    assert_eq!(outcome["phase"], json!("outcome"));
    assert_eq!(outcome["intent_id"], json!(receipt.audit_id()));
    assert_eq!(outcome["reason"], json!("INC-101 runaway report query"));
    assert_eq!(outcome["outcome"]["ok"], json!(true));
    assert_eq!(outcome["delivery"], json!("remote"));
    assert_eq!(outcome["id"], json!(delivery.id));

    assert_eq!(verify(&s.file).expect("chain").records, 2);
    assert_eq!(json_lines(&s.file)[1]["prev_hash"], local["hash"]);
    assert!(!log.pending_file().exists());
    assert_token_absent(&[&s.file], "");
}

/// Runs one intent against a misbehaving endpoint and checks the refusal.
async fn refused_with(server: &AuditServer, dir: &Path, expect_in_message: &str) {
    let s = settings(dir, Some(server.url()));
    let log = AuditLog::new(s.clone(), "session-2");
    let started = Instant::now();
    let refusal = log
        .record_intent(draft("INC-102 stuck vacuum"))
        .await
        .expect_err("the audit call failed, so the action must be refused");
    let message = refusal.to_string();
    eprintln!("refusal: {message}");
    assert!(
        started.elapsed() < TIMEOUT * 3,
        "refusal took {:?}",
        started.elapsed()
    );
    assert_eq!(refusal.kind(), RefusalKind::Endpoint, "{message}");
    assert!(
        message.starts_with(&format!("audit endpoint {} ", server.url())),
        "{message}"
    );
    assert!(message.contains(expect_in_message), "{message}");
    assert!(message.ends_with("; nothing was done"), "{message}");
    assert!(server.accepted().is_empty(), "nothing may be accepted");

    // The local trail is complete: the intent, then "not executed".
    let lines = json_lines(&s.file);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["phase"], json!("intent"));
    assert_eq!(
        lines[0]["id"],
        json!(refusal.audit_id().expect("intent id"))
    );
    assert_eq!(lines[1]["phase"], json!("outcome"));
    assert_eq!(lines[1]["intent_id"], lines[0]["id"]);
    assert_eq!(lines[1]["outcome"]["ok"], json!(false));
    let detail = lines[1]["outcome"]["detail"].as_str().expect("detail");
    assert!(detail.starts_with("not executed: "), "{detail}");
    assert!(detail.contains(expect_in_message), "{detail}");
    assert_eq!(verify(&s.file).expect("chain").records, 2);

    // Both wait in the spool for the endpoint.
    let pending = json_lines(&log.pending_file());
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0], lines[0]);
    assert_eq!(pending[1], lines[1]);
    assert_token_absent(&[&s.file, &log.pending_file()], &message);
}

#[tokio::test]
async fn endpoint_down_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = AuditServer::start().await;
    server.stop().await;
    refused_with(&server, dir.path(), "is unreachable").await;
}

#[tokio::test]
async fn endpoint_500_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::Status(500)).await;
    refused_with(&server, dir.path(), "answered 500 Internal Server Error").await;
    assert_eq!(server.received().len(), 1, "the intent is not retried");
}

#[tokio::test]
async fn endpoint_slower_than_the_timeout_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::Slow(Duration::from_secs(5))).await;
    refused_with(&server, dir.path(), "did not answer within 600ms").await;
}

#[tokio::test]
async fn endpoint_closing_mid_response_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::CloseMidResponse).await;
    refused_with(&server, dir.path(), "closed the connection").await;
}

#[tokio::test]
async fn endpoint_answering_non_json_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::NonJson).await;
    refused_with(
        &server,
        dir.path(),
        "answered 200 OK with a body that is not JSON (text/plain: \"ok\")",
    )
    .await;
}

#[tokio::test]
async fn endpoint_saying_accepted_false_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::Refuse).await;
    refused_with(&server, dir.path(), "refused the record").await;
}

#[tokio::test]
async fn endpoint_acknowledging_another_id_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::WrongId).await;
    refused_with(&server, dir.path(), "acknowledged a different record").await;
}

#[tokio::test]
async fn unauthorized_without_token_names_the_variable_not_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::Status(401)).await;
    let mut s = settings(dir.path(), Some(server.url()));
    s.token_env = Some("WARROOM_TEST_AUDIT_TOKEN_UNSET".into());
    let refusal = AuditLog::new(s, "session-3")
        .record_intent(draft("INC-103 lock pileup"))
        .await
        .expect_err("refused");
    let message = refusal.to_string();
    assert!(message.contains("answered 401 Unauthorized"), "{message}");
    assert!(
        message.contains("$WARROOM_TEST_AUDIT_TOKEN_UNSET is not set"),
        "{message}"
    );
    assert_eq!(server.received()[0].authorization, None);
}

#[tokio::test]
async fn unwritable_audit_file_refuses_before_any_audit_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start().await;
    // Tests run as root, so permissions would not stop the write: use a parent that is a file.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").expect("write");
    let cases = [
        blocker.join("audit.jsonl"),
        blocker.join("deeper/audit.jsonl"),
        dir.path().to_path_buf(), // the audit "file" is a directory
    ];
    for file in cases {
        let mut s = settings(dir.path(), Some(server.url()));
        s.file = file.clone();
        let refusal = AuditLog::new(s, "session-4")
            .record_intent(draft("INC-104 disk full"))
            .await
            .expect_err("an unwritable audit file refuses");
        let message = refusal.to_string();
        assert_eq!(refusal.kind(), RefusalKind::LocalWrite, "{message}");
        assert_eq!(refusal.audit_id(), None);
        assert!(message.contains("cannot"), "{message}");
        assert!(message.ends_with("; nothing was done"), "{message}");
        assert!(
            message.contains(&blocker.display().to_string())
                || message.contains(&file.display().to_string()),
            "the message names the path: {message}"
        );
    }
    assert!(
        server.received().is_empty(),
        "no audit call without a local record"
    );
}

#[tokio::test]
async fn undelivered_outcome_is_spooled_then_flushed_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start().await;
    let s = settings(dir.path(), Some(server.url()));
    let log = AuditLog::new(s.clone(), "session-5");
    let receipt = log
        .record_intent(draft("INC-105 terminate idle in transaction"))
        .await
        .expect("intent accepted");

    server.set_mode(Mode::Status(503));
    let started = Instant::now();
    let delivery = log
        .record_outcome(&receipt, true, "terminated".into())
        .await;
    let took = started.elapsed();
    eprintln!("outcome note after {took:?}: {}", delivery.note);
    assert!(took < TIMEOUT * 2 + Duration::from_millis(500), "{took:?}");
    assert!(delivery.written_locally);
    assert!(!delivery.delivered && delivery.spooled, "{delivery:?}");
    assert!(
        delivery.note.contains("503 Service Unavailable"),
        "{}",
        delivery.note
    );
    assert!(
        delivery.note.contains("warroom audit flush"),
        "{}",
        delivery.note
    );
    assert!(server.received().len() >= 3, "the outcome is retried");
    assert_eq!(server.accepted_ids(), vec![receipt.audit_id().to_string()]);
    let pending = json_lines(&log.pending_file());
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["id"], json!(delivery.id));
    assert_eq!(log.pending_count().await, Ok(1));

    // Still failing: the flush stops, keeps the record and says why.
    let report = log.flush().await.expect("flush ran");
    assert_eq!((report.delivered, report.remaining), (0, 1));
    assert!(
        report.stopped.as_deref().is_some_and(|s| s.contains("503")),
        "{report:?}"
    );

    server.set_mode(Mode::Ok);
    let report = log.flush().await.expect("flush ran");
    assert_eq!((report.delivered, report.remaining), (1, 0), "{report:?}");
    assert!(report.is_complete() && report.stopped.is_none());
    let accepted = server.accepted_ids();
    assert_eq!(
        accepted.iter().filter(|id| **id == delivery.id).count(),
        1,
        "{accepted:?}"
    );
    let outcome = server
        .accepted()
        .into_iter()
        .find(|r| r.id() == Some(delivery.id.as_str()))
        .expect("outcome at the receiver");
    assert_eq!(outcome.body["intent_id"], json!(receipt.audit_id()));
    assert_eq!(
        outcome.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(json_lines(&log.pending_file()).is_empty());

    // A second flush sends nothing.
    let before = server.received().len();
    let report = log.flush().await.expect("flush ran");
    assert_eq!((report.delivered, report.remaining), (0, 0));
    assert_eq!(server.received().len(), before);

    assert_eq!(verify(&s.file).expect("chain").records, 2);
    assert_token_absent(&[&s.file, &log.pending_file()], &delivery.note);
}

#[tokio::test]
async fn flush_delivers_in_order_and_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::Status(500)).await;
    let s = settings(dir.path(), Some(server.url()));
    let log = AuditLog::new(s.clone(), "session-6");
    for i in 0..3 {
        log.record_intent(draft(&format!("INC-106 attempt {i}")))
            .await
            .expect_err("refused");
    }
    assert_eq!(log.pending_count().await, Ok(6));
    let local_ids: Vec<Value> = json_lines(&s.file)
        .iter()
        .map(|v| v["id"].clone())
        .collect();

    server.set_mode(Mode::Ok);
    let report = log.flush().await.expect("flush");
    assert_eq!((report.delivered, report.remaining), (6, 0));
    let delivered: Vec<Value> = server
        .accepted()
        .iter()
        .map(|r| r.body["id"].clone())
        .collect();
    assert_eq!(delivered, local_ids, "spool order is file order");
}

#[tokio::test]
async fn break_glass_runs_warns_and_marks_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start_with(Mode::Status(500)).await;
    let mut s = settings(dir.path(), Some(server.url()));
    s.on_unreachable = OnUnreachable::LocalOnly;
    let log = AuditLog::new(s.clone(), "session-7");

    let receipt = log
        .record_intent(draft("INC-107 primary is down, acting anyway"))
        .await
        .expect("break-glass proceeds");
    assert!(receipt.is_break_glass());
    let warning = receipt.warning().expect("a loud warning");
    eprintln!("warning: {warning}");
    assert!(warning.starts_with("BREAK-GLASS"), "{warning}");
    assert!(
        warning.contains("answered 500 Internal Server Error"),
        "{warning}"
    );
    assert!(warning.contains("local-only"), "{warning}");
    assert!(server.accepted().is_empty());

    let delivery = log.record_outcome(&receipt, true, "cancelled".into()).await;
    assert!(!delivery.delivered && delivery.spooled, "{delivery:?}");
    let lines = json_lines(&s.file);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(
        lines[0]["delivery"],
        json!("remote"),
        "first intent: the route it was written for"
    );
    assert_eq!(lines[1]["intent_id"], lines[0]["id"]);
    assert_eq!(lines[1]["outcome"]["ok"], json!(false));
    // Issue 10 item 5: the intent the action runs under is itself marked break-glass.
    assert_eq!(lines[2]["phase"], json!("intent"));
    assert_eq!(lines[2]["id"], json!(receipt.audit_id()));
    assert_eq!(lines[2]["delivery"], json!("break-glass"));
    assert_eq!(lines[2]["intent_id"], lines[0]["id"]);
    assert_eq!(lines[3]["delivery"], json!("break-glass"));
    assert_eq!(lines[3]["intent_id"], json!(receipt.audit_id()));
    assert!(log.orphan_intents().await.expect("read").is_empty());
    let pending = json_lines(&log.pending_file());
    assert_eq!(pending, lines, "all four wait in the spool, in order");

    server.set_mode(Mode::Ok);
    let report = log.flush().await.expect("flush");
    assert_eq!((report.delivered, report.remaining), (4, 0));
    let got = server.accepted();
    assert_eq!(got[0].body["phase"], json!("intent"));
    assert_eq!(got[2].body["delivery"], json!("break-glass"));
    assert_eq!(got[3].body["delivery"], json!("break-glass"));
    assert_token_absent(&[&s.file], warning);
}

#[tokio::test]
async fn break_glass_outcome_follows_its_intent_when_the_endpoint_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = AuditServer::start().await;
    let url = server.url();
    server.stop().await;
    let mut s = settings(dir.path(), Some(url));
    s.on_unreachable = OnUnreachable::LocalOnly;
    let log = AuditLog::new(s.clone(), "session-8");
    let receipt = log
        .record_intent(draft("INC-108 endpoint down, acting anyway"))
        .await
        .expect("break-glass proceeds");
    assert!(
        receipt
            .warning()
            .is_some_and(|w| w.contains("is unreachable")),
        "{:?}",
        receipt.warning()
    );

    // The endpoint comes back (on another port: point a second log at it, same files).
    let server = AuditServer::start().await;
    s.endpoint = Some(server.url());
    let log = AuditLog::new(s.clone(), "session-8");
    let delivery = log
        .record_outcome(&receipt, false, "session changed; nothing signalled".into())
        .await;
    assert!(delivery.delivered && !delivery.spooled, "{delivery:?}");
    let got = server.accepted();
    assert_eq!(got.len(), 4);
    assert_eq!(got[2].id(), Some(receipt.audit_id()), "its intent first");
    assert_eq!(got[3].id(), Some(delivery.id.as_str()));
    assert_eq!(got[3].body["delivery"], json!("break-glass"));
    assert!(json_lines(&log.pending_file()).is_empty());
}

#[tokio::test]
async fn without_endpoint_the_file_is_the_only_trail_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = settings(dir.path(), None);
    let log = AuditLog::new(s.clone(), "session-9");
    let receipt = log
        .record_intent(draft("INC-109 demo"))
        .await
        .expect("local only");
    assert_eq!(
        receipt.destination(),
        format!(
            "no audit endpoint: this record stays on this machine (audit: {})",
            s.file.display()
        )
    );
    assert_eq!(receipt.warning(), None);
    let delivery = log.record_outcome(&receipt, true, "done".into()).await;
    assert!(delivery.written_locally && !delivery.delivered && !delivery.spooled);
    assert!(
        delivery.note.contains("no endpoint configured"),
        "{}",
        delivery.note
    );
    let lines = json_lines(&s.file);
    assert_eq!(lines[0]["delivery"], json!("local-only"));
    assert_eq!(lines[1]["delivery"], json!("local-only"));
    assert!(matches!(
        log.flush().await,
        Err(FlushError::NoEndpoint { pending: 0 })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_one_linear_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = settings(dir.path(), None);
    // Two logs stand for two warroom processes: separate opens, serialized by the file lock.
    let logs = [
        AuditLog::new(s.clone(), "process-a"),
        AuditLog::new(s.clone(), "process-b"),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for (n, log) in logs.iter().enumerate() {
        for i in 0..15 {
            let log = log.clone();
            tasks.spawn(async move {
                log.record_intent(draft(&format!("INC-110 writer {n} #{i}")))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("intent");
    }
    assert_eq!(verify(&s.file).expect("linear chain").records, 30);
    let tail = warroom_core::audit::tail(&s.file, 5).expect("tail");
    assert_eq!(tail.len(), 5);
    assert!(
        warroom_core::audit::render_tail_line(&tail[4]).contains("pg.cancel postgres/prod-main"),
        "{}",
        warroom_core::audit::render_tail_line(&tail[4])
    );
}

/// Issue 10 item 1: a redirect or a 2xx that is not an acceptance lets nothing run, and the
/// refusal shows what the endpoint answered (sanitized, cut).
#[tokio::test]
async fn redirect_or_meaningless_2xx_is_a_refusal_showing_the_answer() {
    let cases: [(Mode, &str); 6] = [
        (
            Mode::Redirect,
            "301 Moved Permanently (redirect to Location \"/redirected\")",
        ),
        (
            Mode::Body(200, "[]".into()),
            "did not accept the record (the answer is not a JSON object with \"accepted\": true or \"id\": ",
        ),
        (
            Mode::Body(200, "[]".into()),
            "; it answered 200 OK with \"[]\"",
        ),
        (
            Mode::Body(200, r#"{"error":"x"}"#.into()),
            r#"did not accept the record (no "accepted": true and no "id": "#,
        ),
        (
            Mode::Body(200, r#"{"error":"x"}"#.into()),
            r#"; it answered 200 OK with "{\"error\":\"x\"}""#,
        ),
        (
            Mode::Body(200, r#"{"id":123}"#.into()),
            "acknowledged a different record (id \"123\"",
        ),
    ];
    for (mode, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = AuditServer::start_with(mode.clone()).await;
        let s = settings(dir.path(), Some(server.url()));
        let log = AuditLog::new(s.clone(), "session-1");
        let refusal = log
            .record_intent(draft("INC-7 check the acceptance rule"))
            .await
            .expect_err(&format!("{mode:?} must not count as acceptance"));
        let text = refusal.to_string();
        assert_eq!(refusal.kind(), RefusalKind::Endpoint, "{mode:?}: {text}");
        assert!(text.contains(expected), "{mode:?}: {text}");
        assert!(text.ends_with("nothing was done"), "{text}");
        // Only the POST reached the receiver: the redirect was not followed with a GET.
        let got = server.received();
        assert_eq!(got.len(), 1, "{mode:?}: {got:?}");
        assert_eq!(got[0].method, "POST");
        // The local trail says the action did not run.
        let lines = json_lines(&s.file);
        assert_eq!(lines.len(), 2, "{mode:?}");
        assert_eq!(lines[1]["outcome"]["ok"], json!(false));
    }
}

/// Issue 10 item 3: an intent left without an outcome (warroom stopped mid-action) is found at
/// the next start, reported in one line, and `reconcile` closes it with an outcome `unknown`,
/// chained and delivered like any outcome.
#[tokio::test]
async fn orphaned_intent_is_reported_and_reconciled_as_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AuditServer::start().await;
    let s = settings(dir.path(), Some(server.url()));
    let mut d = draft("INC-77 terminate the stuck migration");
    d.action = "pg.terminate".into();
    d.context_name = "prod".into();
    d.target = json!({"pid": 4242, "query": "ALTER TABLE orders ADD COLUMN x int"});
    {
        // The first run: the intent is recorded, then the process dies before the outcome.
        let first = AuditLog::new(s.clone(), "session-crashed");
        let receipt = first.record_intent(d).await.expect("intent accepted");
        assert_eq!(server.accepted_ids(), vec![receipt.audit_id().to_string()]);
    }
    // A finished action must not be reported.
    let next = AuditLog::new(s.clone(), "session-next");
    let done = next
        .record_intent(draft("INC-78 a finished action"))
        .await
        .expect("intent");
    next.record_outcome(&done, true, "cancelled".into()).await;

    let orphans = next.orphan_intents().await.expect("read the file");
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    let report = warroom_core::audit::orphan_report(&orphans).expect("a report line");
    let minute = &orphans[0].time[..16].replace('T', " ");
    assert_eq!(
        report,
        format!("1 action from {minute} has no recorded outcome: pg.terminate 4242 on prod")
    );

    let closed = next.reconcile().await.expect("reconcile");
    assert_eq!(closed.len(), 1);
    let (intent, delivery) = &closed[0];
    assert!(
        delivery.written_locally && delivery.delivered,
        "{delivery:?}"
    );
    let lines = json_lines(&s.file);
    let last = lines.last().expect("a line");
    assert_eq!(last["phase"], json!("outcome"));
    assert_eq!(last["intent_id"], json!(intent.id));
    assert_eq!(last["outcome"]["unknown"], json!(true));
    assert_eq!(last["outcome"]["ok"], json!(false));
    assert_eq!(last["session_id"], json!("session-next"));
    assert_eq!(verify(&s.file).expect("chain").records, lines.len());
    let at_receiver = server.accepted();
    assert_eq!(at_receiver.last().expect("delivered").body, *last);
    // Nothing left to reconcile.
    assert!(next.orphan_intents().await.expect("read").is_empty());
    assert!(next.reconcile().await.expect("reconcile").is_empty());
}

/// A break-glass intent still waits in the spool: its reconciled outcome queues behind it and a
/// flush delivers both, intent first.
#[tokio::test]
async fn reconciled_outcome_of_a_spooled_intent_follows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = AuditServer::start().await;
    let mut s = settings(dir.path(), Some(server.url()));
    s.on_unreachable = OnUnreachable::LocalOnly;
    server.stop().await;
    let log = AuditLog::new(s.clone(), "session-1");
    let receipt = log
        .record_intent(draft("INC-79 break glass during the outage"))
        .await
        .expect("break-glass runs");
    assert!(receipt.is_break_glass());
    let closed = log.reconcile().await.expect("reconcile");
    assert_eq!(closed.len(), 1);
    assert!(
        closed[0].1.spooled && !closed[0].1.delivered,
        "{:?}",
        closed[0].1
    );

    let server = AuditServer::start().await;
    let mut s2 = s.clone();
    s2.endpoint = Some(server.url());
    let report = AuditLog::new(s2, "session-2").flush().await.expect("flush");
    // The unaccepted first intent, its "not executed", the break-glass intent, its outcome.
    assert_eq!(report.delivered, 4, "{report:?}");
    let got = server.accepted();
    assert_eq!(got[2].body["id"], json!(receipt.audit_id()));
    assert_eq!(got[3].body["intent_id"], json!(receipt.audit_id()));
    assert_eq!(got[3].body["outcome"]["unknown"], json!(true));
}
