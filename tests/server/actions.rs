//! Delegated execution and four-eyes approvals end to end: the real `warroom` binary as the
//! client (its PostgreSQL context holds only a pg_monitor role and says `via = "server"`), real
//! `warroom server` processes (two replicas on one state database) holding the acting
//! credentials, and a real PostgreSQL whose sessions are acted on; a tansu broker and the
//! Kubernetes API emulator for the delegated group and pod deletes.

use warroom_testkit::kafka;
use warroom_testkit::kube_emulator;
use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use pg::{BackgroundSession, PgServer};
use serde_json::{Value, json};
use server_process::{ALICE, ALICE_TOKEN, BOB, BOB_TOKEN, ServerProcess, config_text, free_port};

pub(crate) const REASON: &str = "INC-4711 runaway report query blocks checkout";
pub(crate) const BOB_REASON: &str = "checked the lock graph: the report job is the blocker";

/// One PostgreSQL cluster: database `warroom` holds the servers' state, `postgres` is the
/// database whose sessions are acted on.
pub(crate) async fn cluster() -> PgServer {
    let pg = PgServer::start();
    pg.exec("CREATE DATABASE warroom").await;
    pg.create_role("monitor", true).await;
    pg
}

pub(crate) fn state_db(pg: &PgServer) -> String {
    format!("{}?sslmode=disable", pg.url("postgres", "warroom"))
}

/// A server replica: its own `[[postgres]]` context `prod` with the superuser (the acting
/// credential), the given rules.
pub(crate) async fn replica(pg: &PgServer, rules: &str) -> ServerProcess {
    let port = free_port();
    let text = format!(
        "{}\n{rules}\n[[postgres]]\nname = \"prod\"\nurl = \"postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable\"\n",
        config_text(
            port,
            &state_db(pg),
            "actions_audit_file = \"actions-audit.jsonl\""
        ),
        pg.port()
    );
    ServerProcess::start(port, &text).await
}

pub(crate) const ALLOW_ALL: &str = r#"
[[server.rule]]
name = "alice may act on prod"
identities = ["alice@example.com"]
contexts = ["prod"]
actions = ["pg.*"]
"#;

pub(crate) fn approval_rules(timeout: &str) -> String {
    format!(
        r#"
[[server.rule]]
name = "prod needs a second pair of eyes"
identities = ["*"]
contexts = ["prod"]
actions = ["pg.*"]
approval = {{ required = true, approvers = ["{BOB}"], timeout = "{timeout}" }}
"#
    )
}

/// A user's warroom: the `prod` context with the monitoring role only, delegated or not.
struct Client {
    dir: tempfile::TempDir,
    token: &'static str,
}

impl Client {
    fn new(pg: &PgServer, server: &ServerProcess, token: &'static str, via_server: bool) -> Client {
        let client = Client {
            dir: tempfile::tempdir().expect("tempdir"),
            token,
        };
        let text = format!(
            r#"[[postgres]]
name = "prod"
url = "postgres://monitor@127.0.0.1:{port}/postgres?sslmode=disable"
{via}

[server]
url = "{url}"
token_env = "WARROOM_TOKEN"
"#,
            port = pg.port(),
            via = if via_server { "via = \"server\"" } else { "" },
            url = server.url(),
        );
        std::fs::write(client.config(), text).expect("config");
        client
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warroom"));
        cmd.arg("--config")
            .arg(self.config())
            .arg("--log-file")
            .arg(self.path().join("warroom.log"))
            .args(args)
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("WARROOM_TOKEN", self.token)
            .env_remove("WARROOM_CONFIG")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGUSER")
            .env_remove("PGPASSWORD");
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run warroom");
        show(args, &output);
        output
    }
}

pub(crate) fn show(args: &[&str], output: &Output) {
    eprintln!(
        "warroom {args:?} -> {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) async fn sleeper(pg: &PgServer) -> BackgroundSession {
    let session = pg.spawn_query("report-job", "SELECT pg_sleep(600)").await;
    pg.wait_for_state(
        &[session.pid()],
        "state = 'active' AND wait_event = 'PgSleep'",
        "sleeping in pg_sleep",
    )
    .await;
    session
}

async fn alive(pg: &PgServer, pid: i32) -> bool {
    let client = pg.connect("postgres", "test-check").await;
    client
        .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .await
        .expect("activity")
        .is_some()
}

async fn wait_gone(pg: &PgServer, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pg, pid).await {
        assert!(Instant::now() < deadline, "pid {pid} still alive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The servers' state, read directly.
pub(crate) async fn state(pg: &PgServer) -> tokio_postgres::Client {
    pg.connect_db("postgres", "warroom", "test-state").await
}

async fn request_row(pg: &PgServer, id: &str) -> tokio_postgres::Row {
    state(pg)
        .await
        .query_one(
            "SELECT status, requester, decided_by, decided_reason, rule, detail \
             FROM action_requests WHERE id = $1",
            &[&id],
        )
        .await
        .expect("request row")
}

/// The phases of [`records_of`]'s records, in order ("intent", "outcome").
pub(crate) fn phases(records: &[(String, Value)]) -> Vec<&str> {
    records.iter().map(|(p, _)| p.as_str()).collect()
}

/// The audit records of one delegated request: (phase, record JSON), intent first.
pub(crate) async fn records_of(pg: &PgServer, request_id: &str) -> Vec<(String, Value)> {
    let rows = state(pg)
        .await
        .query(
            "SELECT phase, record FROM audit_records ORDER BY time, phase DESC",
            &[],
        )
        .await
        .expect("records");
    let mut out = Vec::new();
    let mut intents = Vec::new();
    for r in rows {
        let phase: String = r.get(0);
        let record: Value = serde_json::from_str(r.get::<_, &str>(1)).expect("json");
        let mine = record["target"]["delegation"]["request_id"] == request_id
            || record["intent_id"]
                .as_str()
                .is_some_and(|i| intents.contains(&i.to_string()));
        if mine {
            if phase == "intent" {
                intents.push(record["id"].as_str().unwrap_or("").to_string());
            }
            out.push((phase, record));
        }
    }
    out
}

fn request_id_in(stderr: &str) -> Option<String> {
    let at = stderr.find("request ")?;
    let rest = &stderr[at + "request ".len()..];
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    (id.len() == 36).then_some(id)
}

pub(crate) async fn http(
    server: &ServerProcess,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut r = http
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60));
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

/// `POST /v1/actions` of a cancel of `pid` on `prod`, as a client could send it.
pub(crate) async fn post_cancel(
    server: &ServerProcess,
    token: &str,
    pid: i32,
    backend_start: Value,
    reason: &str,
) -> (u16, Value) {
    let body = json!({
        "action": {"name": "pg.cancel", "target": {
            "context": "prod", "pid": pid, "backend_start": backend_start, "query_start": null,
            "user": null, "application": "", "database": null, "state": null, "query": ""}},
        "reason": reason,
    });
    http(
        server,
        token,
        reqwest::Method::POST,
        "/v1/actions",
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_role_cannot_terminate_but_the_delegated_terminate_works_and_is_recorded() {
    let pg = cluster().await;
    let server = replica(&pg, ALLOW_ALL).await;
    let session = sleeper(&pg).await;
    let pid = session.pid().to_string();

    // Locally, the monitoring role may not signal the superuser's backend.
    let direct = Client::new(&pg, &server, ALICE_TOKEN, false);
    let out = direct
        .run(&["pg", "terminate", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(
        !out.status.success(),
        "a pg_monitor role terminated a backend"
    );
    assert!(alive(&pg, session.pid()).await);

    // Delegated: the server's credential acts, the same result line.
    let delegated = Client::new(&pg, &server, ALICE_TOKEN, true);
    let out = delegated
        .run(&["pg", "terminate", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("terminate backend {pid}: done")),
        "{}",
        text(&out)
    );
    wait_gone(&pg, session.pid()).await;

    // The server's database holds the request and the intent/outcome pair, as alice.
    let rows = state(&pg)
        .await
        .query(
            "SELECT id, status, requester, rule FROM action_requests",
            &[],
        )
        .await
        .expect("requests");
    assert_eq!(rows.len(), 1);
    let id: String = rows[0].get(0);
    assert_eq!(rows[0].get::<_, &str>(1), "done");
    assert_eq!(rows[0].get::<_, &str>(2), ALICE);
    assert_eq!(
        rows[0].get::<_, Option<&str>>(3),
        Some("alice may act on prod")
    );
    let records = records_of(&pg, &id).await;
    let phases = phases(&records);
    assert_eq!(phases, ["intent", "outcome"], "{records:?}");
    let intent = &records[0].1;
    assert_eq!(intent["actor"]["identity"], ALICE);
    assert_eq!(intent["action"], "pg.terminate");
    assert_eq!(intent["reason"], REASON);
    // The record's details are the server's reading of the session, not the client's claims.
    assert_eq!(intent["target"]["application"], "report-job");
    assert_eq!(records[1].1["outcome"]["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_policy_refuses_with_403_and_records_the_refused_intent() {
    let pg = cluster().await;
    let only_cancel = r#"
[[server.rule]]
name = "cancel only"
identities = ["alice@example.com"]
contexts = ["prod"]
actions = ["pg.cancel"]
min_reason_len = 20
"#;
    let server = replica(&pg, only_cancel).await;
    let session = sleeper(&pg).await;
    let pid = session.pid().to_string();
    let alice = Client::new(&pg, &server, ALICE_TOKEN, true);

    // No rule matches a terminate: refused by default.
    let out = alice
        .run(&["pg", "terminate", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("NOT DONE"), "{}", text(&out));
    assert!(text(&out).contains("no rule matched"), "{}", text(&out));
    // The rule matches a cancel, but its reason rule refuses a short reason.
    let out = alice
        .run(&[
            "pg",
            "cancel-query",
            "--pid",
            &pid,
            "--reason",
            "too short x",
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("refused by server rule \"cancel only\""),
        "{}",
        text(&out)
    );
    assert!(alive(&pg, session.pid()).await, "a refused action ran");

    // Over HTTP: 403 with the rule's name and why; the refusal is on record.
    let (status, answer) =
        post_cancel(&server, ALICE_TOKEN, session.pid(), json!(null), "short").await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["rule"], "cancel only");
    assert!(
        answer["why"].as_str().unwrap_or("").contains("at least"),
        "{answer}"
    );
    let id = answer["request_id"]
        .as_str()
        .expect("request id")
        .to_string();
    let row = request_row(&pg, &id).await;
    assert_eq!(row.get::<_, &str>(0), "refused");
    let records = records_of(&pg, &id).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1].1["outcome"]["ok"], false);
    assert!(
        records[1].1["outcome"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("refused by server policy"),
        "{records:?}"
    );
    // Bob matches no rule at all.
    let (status, answer) = post_cancel(&server, BOB_TOKEN, 1, json!(null), REASON).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["rule"].is_null());
    // A target field that is not valid is refused before any policy, named by its path.
    let (status, answer) = post_cancel(&server, ALICE_TOKEN, 1, json!("yesterday"), REASON).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"].as_str().unwrap_or("");
    assert!(
        message.starts_with(
            "the body is not valid: action.target.backend_start: \"yesterday\" is not an RFC 3339"
        ),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_on_another_replica_runs_the_request_within_a_second_and_only_once() {
    let pg = cluster().await;
    let rules = approval_rules("5m");
    let a = replica(&pg, &rules).await;
    let b = replica(&pg, &rules).await;
    let session = sleeper(&pg).await;
    let pid = session.pid().to_string();
    let alice = Client::new(&pg, &a, ALICE_TOKEN, true);
    let alice_on_b = Client::new(&pg, &b, ALICE_TOKEN, true);
    let bob = Client::new(&pg, &b, BOB_TOKEN, true);

    // Alice's terminate waits on replica A.
    let mut waiting = alice
        .command(&["pg", "terminate", "--pid", &pid, "--reason", REASON])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Bob sees it on replica B.
    let mut listed = Value::Null;
    for _ in 0..100 {
        let out = bob.run(&["approvals", "list", "-o", "json"]).await;
        assert!(out.status.success());
        listed = serde_json::from_slice(&out.stdout).expect("json");
        if listed.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let request = &listed[0];
    let id = request["id"].as_str().expect("id").to_string();
    assert_eq!(request["requester"], ALICE);
    assert_eq!(request["reason"], REASON);
    assert_eq!(request["can_decide"], true);
    assert!(alive(&pg, session.pid()).await, "ran before approval");

    // Alice cannot approve her own request.
    let out = alice_on_b
        .run(&["approve", &id, "--reason", "I am sure it is fine"])
        .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("your own request"), "{}", text(&out));

    // Bob approves on replica B; Alice's process on A completes within a second of the
    // result being stored (its `finished_at`, same machine clock), woken by NOTIFY.
    let watcher = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if waiting.try_wait().expect("wait").is_some() {
                return (
                    SystemTime::now(),
                    waiting.wait_with_output().expect("output"),
                );
            }
            assert!(Instant::now() < deadline, "the requester never finished");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let out = bob.run(&["approve", &id, "--reason", BOB_REASON]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (done_at, out) = watcher.await.expect("join");
    show(&["pg", "terminate (waiting)"], &out);
    let finished_at: SystemTime = state(&pg)
        .await
        .query_one(
            "SELECT finished_at FROM action_requests WHERE id = $1",
            &[&id],
        )
        .await
        .expect("finished_at")
        .get(0);
    let waited = done_at
        .duration_since(finished_at)
        .unwrap_or(Duration::ZERO);
    eprintln!(
        "measured: the requester on replica A exited {waited:?} after the result was stored by B"
    );
    assert!(
        waited < Duration::from_secs(1),
        "took {waited:?} after the approval"
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        request_id_in(&stderr).as_deref(),
        Some(id.as_str()),
        "{stderr}"
    );
    assert!(text(&out).contains("done"), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("approved by {BOB}")),
        "{}",
        text(&out)
    );
    wait_gone(&pg, session.pid()).await;

    // The record carries requester, approver, both reasons, times.
    let records = records_of(&pg, &id).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let d = &records[0].1["target"]["delegation"];
    assert_eq!(d["requested_by"], ALICE);
    assert_eq!(d["approved_by"], BOB);
    assert_eq!(d["approver_reason"], BOB_REASON);
    assert!(
        d["approved_at"].is_string() && d["requested_at"].is_string(),
        "{d}"
    );
    assert_eq!(records[0].1["reason"], REASON);

    // Approving again is refused: an approval is used once.
    let out = bob.run(&["approve", &id, "--reason", BOB_REASON]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot be decided again"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_expiry_and_a_replayed_approval_run_nothing() {
    let pg = cluster().await;
    let a = replica(&pg, &approval_rules("4s")).await;
    let session = sleeper(&pg).await;
    let pid = session.pid().to_string();
    let alice = Client::new(&pg, &a, ALICE_TOKEN, true);
    let bob = Client::new(&pg, &a, BOB_TOKEN, true);

    // --no-wait: the request id at once, nothing ran.
    let out = alice
        .run(&[
            "--no-wait",
            "pg",
            "terminate",
            "--pid",
            &pid,
            "--reason",
            REASON,
        ])
        .await;
    assert!(!out.status.success());
    let first = request_id_in(&text(&out)).expect("request id printed");
    assert!(text(&out).contains("nothing has run yet"), "{}", text(&out));

    // A second request: its approval cannot be made with the first one's binding.
    let out = alice
        .run(&[
            "--no-wait",
            "pg",
            "cancel-query",
            "--pid",
            &pid,
            "--reason",
            REASON,
        ])
        .await;
    let second = request_id_in(&text(&out)).expect("second id");
    let (_, first_row) = http(
        &a,
        BOB_TOKEN,
        reqwest::Method::GET,
        &format!("/v1/actions/{first}"),
        None,
    )
    .await;
    let (status, answer) = http(
        &a,
        BOB_TOKEN,
        reqwest::Method::POST,
        &format!("/v1/actions/{second}/approve"),
        Some(json!({"reason": BOB_REASON, "binding": first_row["binding"]})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("another request"),
        "{answer}"
    );

    // Bob denies the first: the requester sees who and why.
    let out = bob
        .run(&[
            "deny",
            &first,
            "--reason",
            "not during the sale, wait an hour",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, denied) = http(
        &a,
        ALICE_TOKEN,
        reqwest::Method::GET,
        &format!("/v1/actions/{first}/wait?timeout=1"),
        None,
    )
    .await;
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["decision"]["by"], BOB);
    assert_eq!(
        denied["decision"]["reason"],
        "not during the sale, wait an hour"
    );

    // The second expires unapproved (4 s): the waiting requester is told, nothing runs.
    let started = Instant::now();
    let (_, expired) = http(
        &a,
        ALICE_TOKEN,
        reqwest::Method::GET,
        &format!("/v1/actions/{second}/wait?timeout=20"),
        None,
    )
    .await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let row = request_row(&pg, &second).await;
    assert_eq!(row.get::<_, &str>(0), "expired");
    // A late approval of the expired request is refused.
    let out = bob.run(&["approve", &second, "--reason", BOB_REASON]).await;
    assert!(!out.status.success(), "{}", text(&out));

    // A waiting CLI sees the denial with who and why.
    let mut waiting = alice
        .command(&["pg", "terminate", "--pid", &pid, "--reason", REASON])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut id = None;
    for _ in 0..100 {
        let (_, list) = http(&a, BOB_TOKEN, reqwest::Method::GET, "/v1/approvals", None).await;
        if let Some(r) = list["requests"].as_array().and_then(|l| l.first()) {
            id = r["id"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = id.expect("pending request");
    let out = bob
        .run(&["deny", &id, "--reason", "use cancel, not terminate"])
        .await;
    assert!(out.status.success());
    let out = tokio::task::spawn_blocking(move || {
        let _ = waiting.kill_on_timeout();
        waiting.wait_with_output().expect("output")
    })
    .await
    .expect("join");
    show(&["pg", "terminate (denied)"], &out);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("denied by {BOB}: use cancel, not terminate")),
        "{}",
        text(&out)
    );
    assert!(
        alive(&pg, session.pid()).await,
        "a denied or expired request ran"
    );
}

trait KillOnTimeout {
    fn kill_on_timeout(&mut self) -> std::io::Result<()>;
}

impl KillOnTimeout for std::process::Child {
    /// Gives the process 10 s to finish, then kills it (the assertions then fail).
    fn kill_on_timeout(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_delete_group_and_delete_pod_run_on_the_server() {
    const NS: &str = "shop";
    let pg = cluster().await;
    let broker = kafka::Tansu::start();
    let bootstrap = broker.bootstrap();
    kafka::create_topic(&bootstrap, "orders", 1);
    kafka::produce(&bootstrap, "orders", 0, 4);
    kafka::commit(&bootstrap, "billing", &[("orders", 0, 2)]);
    let emu = kube_emulator::KubeEmulator::start().await;
    emu.add_pod(kube_emulator::bare_pod(
        NS,
        "worker-0",
        &["worker"],
        kube_emulator::crash_looping("worker", 3, "OOMKilled", 137),
    ));

    let port = free_port();
    let server_text = format!(
        r#"{}
[[server.rule]]
name = "alice on events and k8s"
identities = ["{ALICE}"]
contexts = ["events", "k8s"]
actions = ["kafka.*", "kube.*"]

[[kafka]]
name = "events"
brokers = "{bootstrap}"

[[kubernetes]]
name = "k8s"
kube_context = "emulator"
namespaces = ["{NS}"]
"#,
        config_text(
            port,
            &state_db(&pg),
            "actions_audit_file = \"actions-audit.jsonl\""
        )
    );
    let kubeconfig = emu.kubeconfig().display().to_string();
    let server = ServerProcess::spawn_with_env(port, &server_text, &[("KUBECONFIG", &kubeconfig)]);
    server.wait_ready(Duration::from_secs(30)).await;

    let client = Client {
        dir: tempfile::tempdir().expect("tempdir"),
        token: ALICE_TOKEN,
    };
    let local_audit = client.path().join("local-audit.jsonl");
    std::fs::write(
        client.config(),
        format!(
            r#"[[kafka]]
name = "events"
brokers = "{bootstrap}"
via = "server"

[[kubernetes]]
name = "k8s"
kube_context = "emulator"
namespaces = ["{NS}"]
via = "server"

[server]
url = "{url}"
token_env = "WARROOM_TOKEN"

[audit]
file = "{file}"
"#,
            url = server.url(),
            file = local_audit.display(),
        ),
    )
    .expect("config");
    let run = |args: &'static [&'static str]| {
        let mut cmd = client.command(args);
        cmd.env("KUBECONFIG", &kubeconfig);
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output())
                .await
                .expect("join")
                .expect("run");
            show(args, &out);
            out
        }
    };

    let out = run(&[
        "kafka",
        "consumer-groups",
        "delete",
        "--cluster",
        "events",
        "--group",
        "billing",
        "--reason",
        "INC-9 retire the billing group",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = run(GROUPS_JSON).await;
    let groups: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(0),
        "{groups}"
    );

    let out = run(&[
        "kube",
        "delete-pod",
        "--context",
        "k8s",
        "worker-0",
        "--reason",
        "INC-9 OOM loop, recreate",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(emu.pod(NS, "worker-0").is_none(), "the pod is still there");

    // Both ran on the server (its records, its requests); nothing was recorded locally.
    let rows = state(&pg)
        .await
        .query(
            "SELECT action, status, requester FROM action_requests ORDER BY created_at",
            &[],
        )
        .await
        .expect("requests");
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            ("kafka.delete_group".into(), "done".into(), ALICE.into()),
            ("kube.delete_pod".into(), "done".into(), ALICE.into()),
        ]
    );
    let outcomes: i64 = state(&pg)
        .await
        .query_one(
            "SELECT count(*) FROM audit_records WHERE phase = 'outcome' \
             AND action IN ('kafka.delete_group', 'kube.delete_pod') \
             AND record::jsonb -> 'outcome' ->> 'ok' = 'true'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(outcomes, 2);
    let local = std::fs::read_to_string(&local_audit).unwrap_or_default();
    assert!(local.trim().is_empty(), "recorded locally: {local}");

    // A pod outside the server context's namespaces is refused, whatever the client claims.
    let (status, answer) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::POST,
        "/v1/actions",
        Some(json!({
            "action": {"name": "kube.delete_pod", "target": {
                "context": "k8s", "namespace": "kube-system", "pod": "coredns-1", "uid": "u-1",
                "grace_period": null, "status": "Running", "node": null, "owner": null}},
            "reason": "INC-9 OOM loop, recreate",
        })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "not_done", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not one of context k8s's namespaces"),
        "{answer}"
    );
    assert_eq!(answer["reply"]["executed"], false, "{answer}");
}

#[test]
fn check_policy_lists_the_rules_and_points_at_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.toml");
    let base = config_text(free_port(), "postgres://warroom@127.0.0.1:1/warroom", "");
    let check = |text: &str| {
        std::fs::write(&path, text).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args(["server", "check-policy", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        show(&["server", "check-policy"], &out);
        out
    };
    let out = check(&format!("{base}{}{ALLOW_ALL}", approval_rules("10m")));
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains(
            "1. \"prod needs a second pair of eyes\": allow pg.* on prod by *, approval by \
             bob@example.com within 10m"
        ),
        "{listed}"
    );
    assert!(listed.contains("2. \"alice may act on prod\""), "{listed}");
    assert!(
        listed.contains("a request no rule matches is refused"),
        "{listed}"
    );

    let bad = format!(
        "{base}\n[[server.rule]]\nname = \"typo\"\nidentities = [\"*\"]\ncontexts = [\"prod\"]\nactions = [\"pg.kill\"]\n"
    );
    let out = check(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let line = bad
        .lines()
        .position(|l| l.starts_with("actions = [\"pg.kill"))
        .expect("line")
        + 1;
    assert!(
        err.contains(&format!(
            "server.toml:{line}:11: server.rule[1].actions: \"pg.kill\" matches no action"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_protected_and_read_only_contexts_apply() {
    let pg = cluster().await;
    let port = free_port();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port()
    );
    let server_text = format!(
        "{}\n{ALLOW_ALL}\n[[postgres]]\nname = \"prod\"\nurl = \"{url}\"\nprotected = true\n",
        config_text(
            port,
            &state_db(&pg),
            "actions_audit_file = \"actions-audit.jsonl\""
        )
    );
    let server = ServerProcess::start(port, &server_text).await;
    let session = sleeper(&pg).await;
    let pid = session.pid().to_string();
    let alice = Client::new(&pg, &server, ALICE_TOKEN, true);

    // The client's context is not protected, the server's is: the name must be typed.
    let out = alice
        .run(&["pg", "cancel-query", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("context prod is protected: type its name"),
        "{}",
        text(&out)
    );
    let out = alice
        .run(&[
            "pg",
            "cancel-query",
            "--pid",
            &pid,
            "--reason",
            REASON,
            "--confirm-context",
            "prod",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("returned true"), "{}", text(&out));
}

/// The client's consumer-group listing of the `events` cluster, as JSON.
const GROUPS_JSON: &[&str] = &[
    "kafka",
    "consumer-groups",
    "list",
    "--cluster",
    "events",
    "-o",
    "json",
];

/// `group` as the client's `kafka consumer-groups list -o json` shows it.
async fn listed_group(client: &Client, group: &str) -> Option<Value> {
    let out = client.run(GROUPS_JSON).await;
    let groups: Value = serde_json::from_slice(&out.stdout).expect("json");
    groups["groups"]
        .as_array()?
        .iter()
        .find(|g| g["group"] == group)
        .cloned()
}

async fn committed(client: &Client, group: &str) -> Option<i64> {
    listed_group(client, group).await?["partitions"][0]["committed"].as_i64()
}

/// Waits until the client's listing shows `group` in state `want` (a consumer's join takes a
/// rebalance: acting before it completes would find the group still Empty).
async fn wait_for_state(client: &Client, group: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = listed_group(client, group)
            .await
            .map(|g| g["state"].clone());
        if state == Some(json!(want)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} never became {want}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The intent the server recorded for its one `action`.
async fn intent_of(pg: &PgServer, action: &str) -> Value {
    let record: String = state(pg)
        .await
        .query_one(
            "SELECT record::text FROM audit_records WHERE phase = 'intent' AND action = $1",
            &[&action],
        )
        .await
        .expect("one intent")
        .get(0);
    serde_json::from_str(&record).expect("record json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_reset_and_undo_commit_on_the_server_after_its_own_reading() {
    let pg = cluster().await;
    let broker = kafka::Tansu::start();
    let bootstrap = broker.bootstrap();
    kafka::create_topic(&bootstrap, "orders", 1);
    kafka::produce(&bootstrap, "orders", 0, 6);
    kafka::commit(&bootstrap, "billing", &[("orders", 0, 4)]);
    let port = free_port();
    let server_text = format!(
        r#"{}
[[server.rule]]
name = "alice on events"
identities = ["{ALICE}"]
contexts = ["events"]
actions = ["kafka.*"]

[[kafka]]
name = "events"
brokers = "{bootstrap}"
"#,
        config_text(port, &state_db(&pg), "")
    );
    let server = ServerProcess::spawn(port, &server_text);
    server.wait_ready(Duration::from_secs(30)).await;
    let client = Client {
        dir: tempfile::tempdir().expect("tempdir"),
        token: ALICE_TOKEN,
    };
    std::fs::write(
        client.config(),
        format!(
            r#"[[kafka]]
name = "events"
brokers = "{bootstrap}"
via = "server"

[server]
url = "{url}"
token_env = "WARROOM_TOKEN"
"#,
            url = server.url(),
        ),
    )
    .expect("config");

    // The CLI previews locally and the server commits (it re-planned "earliest" itself).
    let out = client
        .run(&[
            "kafka",
            "consumer-groups",
            "reset-offsets",
            "--cluster",
            "events",
            "--group",
            "billing",
            "--to-earliest",
            "--execute",
            "--reason",
            "INC-12 replay the billing backlog",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(committed(&client, "billing").await, Some(0));
    let reset_outcome = intent_of(&pg, "kafka.reset_offsets").await;
    let previous = &reset_outcome["target"]["partitions"][0]["previous"];
    assert_eq!(previous, &json!(4), "{reset_outcome}");

    let reset_id = reset_outcome["id"]
        .as_str()
        .expect("reset audit id")
        .to_string();

    // An undo whose claims lie ("current" 3, target 99): the server takes the offsets to put
    // back from the reset's own record (4) and records the live offset (0) as previous.
    let undo = |undoes: &str, target: i64| {
        json!({
            "action": {"name": "kafka.undo_reset", "target": {
                "context": "events", "group": "billing", "topic": null,
                "to": "earliest", "undoes": undoes,
                "partitions": [{"topic": "orders", "partition": 0, "current": 3,
                                "target": target, "earliest": 0, "latest": 6}]}},
            "reason": "INC-12 put the billing offsets back",
        })
    };
    let (status, answer) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::POST,
        "/v1/actions",
        Some(undo("audit-of-no-reset", 4)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "not_done", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or("")
            .contains("holds no record audit-of-no-reset"),
        "{answer}"
    );
    assert_eq!(committed(&client, "billing").await, Some(0));
    let (status, answer) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::POST,
        "/v1/actions",
        Some(undo(&reset_id, 99)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "done", "{answer}");
    assert_eq!(committed(&client, "billing").await, Some(4));
    let undo_intent = intent_of(&pg, "kafka.undo_reset").await;
    let p = &undo_intent["target"]["partitions"][0];
    assert_eq!(
        (&p["previous"], &p["target"]),
        (&json!(0), &json!(4)),
        "{undo_intent}"
    );

    // A consumer in the group: the server's executor re-checks and commits nothing.
    let member = kafka::Member::join(&bootstrap, "billing", "orders");
    wait_for_state(&client, "billing", "Stable").await;
    let (status, answer) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::POST,
        "/v1/actions",
        Some(undo(&reset_id, 4)),
    )
    .await;
    member.leave();
    assert_eq!(status, 200, "{answer}");
    assert_ne!(answer["status"], "done", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or("")
            .contains("member(s) now"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_left_running_by_a_dead_replica_becomes_unknown_for_its_requester() {
    let pg = cluster().await;
    let server = replica(&pg, &approval_rules("5m")).await;
    // A replica claimed these and died mid-action (its row stays `running`): one long ago,
    // one just now (a live replica may still be acting on that one).
    let db = state(&pg).await;
    for (id, minutes) in [("stale-1", 10.0_f64), ("fresh-1", 0.0)] {
        db.execute(
            "INSERT INTO action_requests (id, created_at, requester, context_name, action, \
             request, summary, description, reason, binding, rule, status, decided_by, \
             decided_at) VALUES ($1, now() - make_interval(mins => $2::float8::int), $3, \
             'prod', 'pg.terminate', '{}', 'terminate pid 1', '', $4, 'b', 'r', 'running', \
             $5, now() - make_interval(mins => $2::float8::int))",
            &[&id, &minutes, &ALICE, &REASON, &BOB],
        )
        .await
        .expect("insert");
    }
    let (status, answer) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::GET,
        "/v1/actions/stale-1/wait?timeout=1",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "unknown", "{answer}");
    assert_eq!(answer["reply"]["unknown"], true, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or("")
            .contains("may or may not have run"),
        "{answer}"
    );
    let (_, fresh) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::GET,
        "/v1/actions/fresh-1/wait?timeout=1",
        None,
    )
    .await;
    assert_eq!(fresh["status"], "running", "{fresh}");
}
