//! `warroom audit verify|tail|flush`: the real binary on audit files that warroom's own audit log
//! wrote, and a real HTTP audit receiver on loopback (warroom_testkit::audit_server).

use warroom_testkit::audit_server;
use warroom_testkit::home;

use std::path::PathBuf;

use home::{Home, stderr, stdout};

use audit_server::{AuditServer, Mode};
use serde_json::{Value, json};
use warroom_core::audit::{AuditLog, AuditSettings, IntentDraft, OnUnreachable};

/// This test's settings and files around the shared home.
trait AuditHome {
    fn settings(&self, endpoint: Option<String>) -> AuditSettings;
    fn write_config(&self, endpoint: Option<&str>);
    fn tampered(&self, name: &str, lines: &[String]) -> PathBuf;
}

impl AuditHome for Home {
    fn settings(&self, endpoint: Option<String>) -> AuditSettings {
        AuditSettings {
            file: self.audit_file(),
            endpoint,
            token_env: None,
            timeout: std::time::Duration::from_millis(800),
            on_unreachable: OnUnreachable::Deny,
            identity: None,
        }
    }
    /// A config whose `[audit]` points at our file (and the endpoint, if any).
    fn write_config(&self, endpoint: Option<&str>) {
        let mut text = format!(
            "[audit]\nfile = \"{}\"\ntimeout = \"800ms\"\n",
            self.audit_file().display()
        );
        if let Some(url) = endpoint {
            text.push_str(&format!("endpoint = \"{url}\"\n"));
        }
        self.set_config(&text);
    }
    /// A copy of the audit file with its lines replaced.
    fn tampered(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        path
    }
}

fn draft(n: usize) -> IntentDraft {
    IntentDraft {
        context_kind: "postgres".into(),
        context_name: "prod-main".into(),
        action: "pg.cancel".into(),
        target: json!({"pid": 14000 + n, "query": "select * from orders"}),
        reason: format!("INC-{n} runaway report query"),
    }
}

/// Three actions through warroom's audit log, local file only: six chained records.
async fn write_six_records(home: &Home) -> Vec<String> {
    let log = AuditLog::new(home.settings(None), "session-cli");
    for n in 1..=3 {
        let receipt = log.record_intent(draft(n)).await.expect("intent");
        log.record_outcome(
            &receipt,
            true,
            format!("pg_cancel_backend({n}) returned true"),
        )
        .await;
    }
    let ids: Vec<String> = home
        .lines()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            v["id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(ids.len(), 6);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_an_intact_file_and_names_the_first_broken_record() {
    let home = Home::new();
    home.write_config(None);
    let ids = write_six_records(&home).await;

    // Intact: the configured file by default, or --file.
    let out = home.warroom(&["audit", "verify"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("chain intact, 6 record(s)"),
        "{}",
        stdout(&out)
    );
    let file = home.audit_file().display().to_string();
    let out = home.warroom(&["audit", "verify", "--file", &file]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let lines = home.lines();
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "edited.jsonl",
            {
                let mut l = lines.clone();
                l[2] = l[2].replace("INC-2 runaway report query", "INC-2 routine check");
                assert_ne!(l[2], lines[2]);
                l
            },
            format!(":3: record {}: hash mismatch", ids[2]),
        ),
        (
            "deleted.jsonl",
            {
                let mut l = lines.clone();
                l.remove(1);
                l
            },
            format!(":2: record {}: prev_hash mismatch", ids[2]),
        ),
        (
            "reordered.jsonl",
            {
                let mut l = lines.clone();
                l.swap(2, 3);
                l
            },
            format!(":3: record {}: prev_hash mismatch", ids[3]),
        ),
    ];
    for (name, tampered, expected) in cases {
        let path = home.tampered(name, &tampered);
        let path_text = path.display().to_string();
        let out = home
            .warroom(&["audit", "verify", "--file", &path_text])
            .await;
        assert!(!out.status.success(), "{name} must fail verification");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{path_text}{expected}")),
            "{name}: expected {expected:?} in {err}"
        );
        assert!(!stdout(&out).contains("intact"), "{}", stdout(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_the_last_records_one_line_each() {
    let home = Home::new();
    home.write_config(None);
    let ids = write_six_records(&home).await;

    let out = home.warroom(&["audit", "tail", "-n", "2"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let printed: Vec<&str> = text.lines().collect();
    assert_eq!(printed.len(), 2, "{text}");
    assert!(printed[0].contains("intent  pg.cancel postgres/prod-main"));
    assert!(printed[0].contains(&format!("id={}", ids[4])), "{text}");
    assert!(printed[0].contains("reason=\"INC-3 runaway report query\""));
    assert!(printed[1].contains(&format!("id={}", ids[5])), "{text}");
    assert!(
        printed[1].ends_with("ok: pg_cancel_backend(3) returned true"),
        "{text}"
    );

    let out = home.warroom(&["audit", "tail"]).await;
    assert_eq!(stdout(&out).lines().count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_delivers_pending_records_once_then_reports_nothing_left() {
    let home = Home::new();
    // The endpoint was down when an action was tried: intent and "not executed" are spooled.
    let mut down = AuditServer::start().await;
    down.stop().await;
    let log = AuditLog::new(home.settings(Some(down.url())), "session-flush");
    let refusal = log
        .record_intent(draft(7))
        .await
        .expect_err("endpoint down refuses");
    let pending_file = log.pending_file();
    let spooled: Vec<Value> = std::fs::read_to_string(&pending_file)
        .expect("spool")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(spooled.len(), 2);
    assert_eq!(spooled[0]["id"], json!(refusal.audit_id().expect("id")));
    let spooled_ids: Vec<String> = spooled
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_string())
        .collect();

    // A receiver that still fails: flush says so and keeps everything.
    let server = AuditServer::start_with(Mode::Status(500)).await;
    home.write_config(Some(&server.url()));
    let out = home.warroom(&["audit", "flush"]).await;
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("delivered 0, remaining 2"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("answered 500 Internal Server Error"),
        "{}",
        stderr(&out)
    );
    assert!(pending_file.exists());

    // It is back: everything is delivered, in order, once.
    server.set_mode(Mode::Ok);
    let out = home.warroom(&["audit", "flush"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("delivered 2, remaining 0"),
        "{}",
        stdout(&out)
    );
    assert_eq!(server.accepted_ids(), spooled_ids);
    assert_eq!(server.accepted()[0].body, spooled[0]);
    assert!(!pending_file.exists());

    // Nothing left: a second flush sends nothing.
    let before = server.received().len();
    let out = home.warroom(&["audit", "flush"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("delivered 0, remaining 0"),
        "{}",
        stdout(&out)
    );
    assert_eq!(server.received().len(), before, "nothing sent again");
    assert_eq!(
        server.accepted_ids(),
        spooled_ids,
        "each record exactly once"
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 10 items 3 and 7
// ---------------------------------------------------------------------------------------------

/// `audit verify` prints the head hash and the count; `--expect-head` fails when records were
/// cut off the end (a valid but shorter chain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prints_the_head_and_expect_head_catches_truncation() {
    let home = Home::new();
    home.write_config(None);
    write_six_records(&home).await;
    let head: Value = serde_json::from_str(home.lines().last().expect("a line")).expect("json");
    let head = head["hash"].as_str().expect("hash").to_string();

    let out = home.warroom(&["audit", "verify"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("chain intact, 6 record(s), head {head}")),
        "{}",
        stdout(&out)
    );
    let out = home
        .warroom(&["audit", "verify", "--expect-head", &head])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let lines = home.lines();
    let cut = home.tampered("cut.jsonl", &lines[..4]);
    let cut = cut.display().to_string();
    let out = home
        .warroom(&["audit", "verify", "--file", &cut, "--expect-head", &head])
        .await;
    assert!(!out.status.success(), "a truncated file must fail");
    assert!(
        stderr(&out).contains("head hash mismatch") && stderr(&out).contains("4 record(s)"),
        "{}",
        stderr(&out)
    );
}

/// A line with a duplicate key is reported by `tail` and `timeline` (stderr), not skipped
/// silently, and fails `verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_and_timeline_report_unreadable_lines() {
    let home = Home::new();
    home.write_config(None);
    write_six_records(&home).await;
    let mut lines = home.lines();
    lines[3] = lines[3].replacen('{', "{\"reason\":\"decoy\",", 1);
    let path = home.tampered("dup.jsonl", &lines);
    let path = path.display().to_string();

    let out = home.warroom(&["audit", "tail", "--file", &path]).await;
    assert_eq!(stdout(&out).lines().count(), 5, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("1 unreadable line(s)")
            && stderr(&out).contains("duplicate key \"reason\""),
        "{}",
        stderr(&out)
    );
    let out = home.warroom(&["audit", "timeline", "--file", &path]).await;
    assert!(
        stderr(&out).contains("1 unreadable line(s)") && stderr(&out).contains("line 4"),
        "{}",
        stderr(&out)
    );
    let out = home.warroom(&["audit", "verify", "--file", &path]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("duplicate key"), "{}", stderr(&out));
}

/// `--since` older than 1970 is an error with a message, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_since_absurd_is_an_error_not_a_panic() {
    let home = Home::new();
    home.write_config(None);
    write_six_records(&home).await;
    let out = home
        .warroom(&["audit", "timeline", "--since", "100000years"])
        .await;
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("before 1970"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// An intent without an outcome is reported at the start of a CLI action and by
/// `audit reconcile`, which closes it with an outcome `unknown`, chained and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_and_closes_orphaned_intents() {
    let home = Home::new();
    let server = AuditServer::start().await;
    home.write_config(Some(&server.url()));
    let log = AuditLog::new(home.settings(Some(server.url())), "session-crashed");
    let mut d = draft(7);
    d.action = "pg.terminate".into();
    d.context_name = "prod".into();
    d.target = json!({"pid": 4242});
    let receipt = log.record_intent(d).await.expect("intent");
    drop(log);

    let out = home.warroom(&["audit", "reconcile"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("1 action from ")
            && text.contains("has no recorded outcome: pg.terminate 4242 on prod"),
        "{text}"
    );
    assert!(text.contains("recorded outcome unknown"), "{text}");
    let last: Value = serde_json::from_str(home.lines().last().expect("line")).expect("json");
    assert_eq!(last["intent_id"], json!(receipt.audit_id()));
    assert_eq!(last["outcome"]["unknown"], json!(true));
    assert_eq!(server.accepted().last().expect("delivered").body, last);

    let out = home.warroom(&["audit", "reconcile"]).await;
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("no intent without an outcome"),
        "{}",
        stdout(&out)
    );
}
