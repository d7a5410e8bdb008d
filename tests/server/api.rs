//! `warroom server` as two real processes (replicas) on one real PostgreSQL: the audit endpoint,
//! idempotency across replicas, authentication, bad input, reading back, chain checks, the
//! database going away, JSON logs and graceful shutdown.

use warroom_testkit::home;
use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::process::Command;
use std::time::Duration;

use home::Home;
use pg::PgServer;
use serde_json::{Value, json};
use server_process::{
    ALICE, ALICE_TOKEN, Api, BOB, BOB_TOKEN, ServerProcess, client_record, config_text, free_port,
};
use warroom_core::audit::{AuditRecord, GENESIS_HASH};

fn db_url(pg: &PgServer) -> String {
    format!("{}?sslmode=disable", pg.url("postgres", "postgres"))
}

/// A record as the client seals it, chained after `prev`; returns (record, JSON line).
fn sealed(
    id: &str,
    session: &str,
    time: &str,
    prev: &str,
    identity: Option<&str>,
) -> (AuditRecord, String) {
    let mut r = client_record(id, session, time, identity);
    let line = r.seal(prev).expect("seal");
    (r, line)
}

/// `n` records of one session, chained from genesis, one second apart.
fn chain(session: &str, n: usize) -> Vec<(AuditRecord, String)> {
    let mut out: Vec<(AuditRecord, String)> = Vec::new();
    let mut prev = GENESIS_HASH.to_string();
    for i in 0..n {
        let (r, line) = sealed(
            &format!("{session}-r{i}"),
            session,
            &format!("2026-03-01T09:{:02}:{:02}.000Z", i / 60, i % 60),
            &prev,
            Some(ALICE),
        );
        prev = r.hash.clone();
        out.push((r, line));
    }
    out
}

async fn rows_with_id(pg: &PgServer, id: &str) -> i64 {
    let client = pg.connect("postgres", "server-test").await;
    client
        .query_one("SELECT count(*) FROM audit_records WHERE id = $1", &[&id])
        .await
        .expect("count")
        .get(0)
}

async fn total_rows(pg: &PgServer) -> i64 {
    let client = pg.connect("postgres", "server-test").await;
    client
        .query_one("SELECT count(*) FROM audit_records", &[])
        .await
        .expect("count")
        .get(0)
}

/// One database, two replicas started at the same moment (both migrate: the advisory lock).
async fn two_replicas(pg: &PgServer) -> (ServerProcess, ServerProcess) {
    let (pa, pb) = (free_port(), free_port());
    let a = ServerProcess::spawn(pa, &config_text(pa, &db_url(pg), ""));
    let b = ServerProcess::spawn(pb, &config_text(pb, &db_url(pg), ""));
    a.wait_ready(Duration::from_secs(30)).await;
    b.wait_ready(Duration::from_secs(30)).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_posted_to_one_replica_is_read_from_the_other_stamped_with_the_caller() {
    let pg = PgServer::start();
    let (a, b) = two_replicas(&pg).await;
    let (record, line) = chain("s-read", 1).remove(0);

    let (status, answer) = Api::new(&a.url(), Some(ALICE_TOKEN))
        .post(line.clone())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"id": record.id, "accepted": true}));

    // Alice reads it back from the other replica; Bob may not read it at all.
    let bob_on_b = Api::new(&b.url(), Some(BOB_TOKEN));
    let (status, _) = bob_on_b.get(&format!("/v1/audit/{}", record.id)).await;
    assert_eq!(status, 404);
    let from_b = Api::new(&b.url(), Some(ALICE_TOKEN));
    let (status, got) = from_b.get(&format!("/v1/audit/{}", record.id)).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["record"],
        serde_json::from_str::<Value>(&line).expect("json")
    );
    assert_eq!(got["received_from"], json!(ALICE));
    assert_eq!(got["identity_mismatch"], json!(false));
    assert_eq!(got["hash_ok"], json!(true));
    let (status, list) = from_b.get("/v1/audit").await;
    assert_eq!(status, 200);
    assert_eq!(list["records"][0]["record"]["id"], json!(record.id));

    // The schema was migrated once, although both replicas started together.
    let client = pg.connect("postgres", "server-test").await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT version) FROM warroom_schema_migrations",
            &[],
        )
        .await
        .expect("migrations table");
    let expected = i64::try_from(warroom_server::migrations::MIGRATIONS.len()).expect("len");
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (expected, expected)
    );
    let (status, missing) = from_b.get("/v1/audit/no-such-id").await;
    assert_eq!((status, missing["status"].clone()), (404, json!(404)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_record_posted_concurrently_to_both_replicas_is_stored_once() {
    let pg = PgServer::start();
    let (a, b) = two_replicas(&pg).await;
    let records = chain("s-race", 20);
    let (api_a, api_b) = (
        Api::new(&a.url(), Some(ALICE_TOKEN)),
        Api::new(&b.url(), Some(ALICE_TOKEN)),
    );
    let mut tasks = Vec::new();
    for (record, line) in &records {
        for api in [api_a.clone(), api_b.clone()] {
            let line = line.clone();
            let id = record.id.clone();
            tasks.push(tokio::spawn(async move { (id, api.post(line).await) }));
        }
    }
    for task in tasks {
        let (id, (status, answer)) = task.await.expect("join");
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer, json!({"id": id, "accepted": true}));
    }
    for (record, _) in &records {
        assert_eq!(rows_with_id(&pg, &record.id).await, 1, "{}", record.id);
    }
    assert_eq!(total_rows(&pg).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_body_under_an_existing_id_is_409_and_the_first_stays() {
    let pg = PgServer::start();
    let server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    let (record, line) = chain("s-409", 1).remove(0);
    assert_eq!(api.post(line.clone()).await.0, 200);
    let changed = line.replace("INC-42 runaway report query", "INC-42 something else");
    let (status, answer) = api.post(changed).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .expect("error")
            .contains(&record.id)
    );
    let (_, got) = api.get(&format!("/v1/audit/{}", record.id)).await;
    assert_eq!(
        got["record"]["reason"],
        json!("INC-42 runaway report query")
    );
    // The original again: still the same answer.
    assert_eq!(
        api.post(line).await,
        (200, json!({"id": record.id, "accepted": true}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_tokens_are_401_and_nothing_is_stored() {
    let pg = PgServer::start();
    let server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let (_, line) = chain("s-401", 1).remove(0);
    for token in [None, Some("not-a-known-token"), Some(""), Some("a.b.c")] {
        let (status, answer) = Api::new(&server.url(), token).post(line.clone()).await;
        assert_eq!(status, 401, "token {token:?}: {answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(Api::new(&server.url(), None).get("/v1/audit").await.0, 401);
    assert_eq!(total_rows(&pg).await, 0);
    // The token never reaches the log, not even a wrong one.
    let log = server.log();
    assert!(!log.contains("not-a-known-token") && !log.contains(ALICE_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_wrong_version_and_oversize_bodies_are_refused_and_nothing_is_stored() {
    let pg = PgServer::start();
    let server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    let (_, line) = chain("s-400", 1).remove(0);

    let (status, answer) = api.post("{not json").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .expect("error")
            .contains("not JSON")
    );

    let v2 = line.replace("\"version\":1", "\"version\":2");
    let (status, answer) = api.post(v2).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .expect("e")
            .contains("unsupported record version 2")
    );

    let (status, _) = api.post("{\"version\":1,\"id\":\"x\"}").await;
    assert_eq!(status, 400);

    // Over 1 MiB: a huge reason, otherwise a valid record.
    let big = line.replace("INC-42 runaway report query", &"x".repeat(1024 * 1024));
    let (status, answer) = api.post(big).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"].as_str().expect("e").contains("larger than"));

    // Same size without a Content-Length (chunked): still refused.
    let status = chunked_post(server.port, 20, 64 * 1024).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    assert_eq!(total_rows(&pg).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_declared_identity_that_differs_is_stored_with_both_and_flagged() {
    let pg = PgServer::start();
    let server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let (record, line) = sealed(
        "claims-bob",
        "s-id",
        "2026-03-01T10:00:00.000Z",
        GENESIS_HASH,
        Some(BOB),
    );
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    assert_eq!(api.post(line).await.0, 200);
    let (_, got) = api.get(&format!("/v1/audit/{}", record.id)).await;
    assert_eq!(got["received_from"], json!(ALICE));
    assert_eq!(got["record"]["actor"]["identity"], json!(BOB));
    assert_eq!(got["identity_mismatch"], json!(true));
    // The actor filter is the authenticated identity, not the declared one.
    let (_, by_bob) = api.get(&format!("/v1/audit?actor={BOB}")).await;
    assert_eq!(by_bob["records"], json!([]));
    let (_, by_alice) = api.get(&format!("/v1/audit?actor={ALICE}")).await;
    assert_eq!(by_alice["records"][0]["record"]["id"], json!(record.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_chain_gap_and_an_edited_record_and_the_cli_says_so() {
    let pg = PgServer::start();
    let server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    let records = chain("s-gap", 4);
    // r2 never arrives.
    for i in [0, 1, 3] {
        assert_eq!(api.post(records[i].1.clone()).await.0, 200);
    }
    let (status, report) = api.get("/v1/sessions/s-gap/verify").await;
    assert_eq!(status, 200);
    assert_eq!(report["status"], json!("broken"), "{report}");
    assert_eq!(report["records"], json!(3));
    assert_eq!(report["first_break"]["id"], json!("s-gap-r3"));
    assert_eq!(report["first_break"]["problem"], json!("gap"));
    // The record itself says its predecessor was unknown on receipt.
    let (_, r3) = api.get("/v1/audit/s-gap-r3").await;
    assert_eq!(r3["prev_seen"], json!(false));

    // The CLI reads the same verdict: exit status 1 and the record named.
    let home = Home::new().with_env("WARROOM_TEST_TOKEN", ALICE_TOKEN);
    home.set_config("[audit]\ntoken_env = \"WARROOM_TEST_TOKEN\"\n");
    let cli = |args: &[&str]| home.warroom_blocking(args);
    let url = server.url();
    let out = cli(&["audit", "verify", "--server", &url, "--session", "s-gap"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("record s-gap-r3") && err.contains("gap"),
        "{err}"
    );

    // The late record arrives (e.g. `audit flush`): the chain is whole again.
    assert_eq!(api.post(records[2].1.clone()).await.0, 200);
    let out = cli(&["audit", "verify", "--server", &url, "--session", "s-gap"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("chain intact, 4 record(s)"), "{text}");

    // tail --server prints the same lines as for a file, in the order the server received
    // them (the late r2 last), each followed by who sent it, as authenticated.
    let out = cli(&["audit", "tail", "-n", "2", "--server", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, record) in lines.iter().zip([&records[3].0, &records[2].0]) {
        let expected = format!(
            "{} from={ALICE} (alice@laptop)",
            warroom_core::audit::render_tail_line(record)
        );
        assert_eq!(*line, expected);
    }

    // An edited record is stored, flagged, and breaks verify.
    let (_, edited) = sealed(
        "s-edit-r0",
        "s-edit",
        "2026-03-01T11:00:00.000Z",
        GENESIS_HASH,
        Some(ALICE),
    );
    let edited = edited.replace("INC-42 runaway report query", "INC-42 nothing to see");
    assert_eq!(api.post(edited).await.0, 200);
    let (_, report) = api.get("/v1/sessions/s-edit/verify").await;
    assert_eq!(
        report["first_break"]["problem"],
        json!("hash_mismatch"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_and_pages_newest_first_with_a_cursor() {
    let pg = PgServer::start();
    // Alice audits: she reads Bob's records too.
    let server =
        ServerProcess::start_replica(&db_url(&pg), "auditors = [\"alice@example.com\"]").await;
    let alice = Api::new(&server.url(), Some(ALICE_TOKEN));
    let bob = Api::new(&server.url(), Some(BOB_TOKEN));
    for (i, (_, line)) in chain("s-list", 7).into_iter().enumerate() {
        let api = if i % 2 == 0 { &alice } else { &bob };
        assert_eq!(api.post(line).await.0, 200);
    }
    // Pages of 3, newest first, through the cursor.
    let mut ids = Vec::new();
    let mut path = "/v1/audit?limit=3".to_string();
    loop {
        let (status, page) = alice.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for r in page["records"].as_array().expect("records") {
            ids.push(r["record"]["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/audit?limit=3&cursor={}", urlencode(c)),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("s-list-r{i}")).collect();
    assert_eq!(ids, expected);

    let (_, page) = alice
        .get(&format!(
            "/v1/audit?actor={BOB}&since=2026-03-01T09:00:02Z&until=2026-03-01T09:00:06Z"
        ))
        .await;
    let got: Vec<&str> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["record"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, ["s-list-r5", "s-list-r3"]);
    let (_, none) = alice.get("/v1/audit?context=other&action=pg.cancel").await;
    assert_eq!(none["records"], json!([]));
    let (_, some) = alice
        .get("/v1/audit?context=prod-main&action=pg.cancel&limit=1")
        .await;
    assert_eq!(some["records"].as_array().expect("r").len(), 1);
    assert_eq!(alice.get("/v1/audit?since=yesterday").await.0, 400);
    assert_eq!(alice.get("/v1/audit?limit=0").await.0, 400);
    assert_eq!(alice.get("/v1/audit?cursor=nonsense").await.0, 400);
}

/// POSTs `chunks` chunks of `size` spaces with chunked transfer encoding; the status line.
async fn chunked_post(port: u16, chunks: usize, size: usize) -> String {
    use std::io::{Read, Write};
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let head = format!(
            "POST /v1/audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE_TOKEN}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let _ = s.write_all(head.as_bytes());
        let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
        for _ in 0..chunks {
            if s.write_all(chunk.as_bytes()).is_err() {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut answer = vec![0u8; 256];
        let n = s.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    })
    .await
    .expect("join")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_is_503_and_readyz_says_so_until_it_is_back() {
    let pg = PgServer::start();
    let server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    let records = chain("s-503", 2);
    assert_eq!(api.post(records[0].1.clone()).await.0, 200);

    pg.stop();
    let (status, answer) = api.post(records[1].1.clone()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().expect("e").contains("unavailable"));
    assert_eq!(api.get("/readyz").await.0, 503);
    assert_eq!(api.get("/healthz").await.0, 200);

    pg.start_again();
    server.wait_ready(Duration::from_secs(20)).await;
    assert_eq!(api.post(records[1].1.clone()).await.0, 200);
    assert_eq!(total_rows(&pg).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_while_the_database_is_down_is_live_not_ready_until_it_is_up() {
    let pg = PgServer::start();
    pg.stop();
    let port = free_port();
    let server = ServerProcess::spawn(port, &config_text(port, &db_url(&pg), ""));
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while Api::new(&server.url(), None).http_status("/healthz").await != Some(200) {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(api.get("/readyz").await.0, 503);
    let (status, answer) = api.post(chain("s-start", 1).remove(0).1).await;
    assert_eq!(status, 503, "{answer}");
    pg.start_again();
    server.wait_ready(Duration::from_secs(20)).await;
    assert_eq!(api.post(chain("s-start", 1).remove(0).1).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_without_secrets_and_sigterm_stops_cleanly() {
    let pg = PgServer::start();
    let port = free_port();
    let password = "db-secret-pw-91x";
    pg.exec(&format!("ALTER ROLE postgres PASSWORD '{password}'"))
        .await;
    let config = config_text(
        port,
        &db_url(&pg),
        "database_password_env = \"WARROOM_TEST_DB_PASSWORD\"",
    );
    let mut server =
        ServerProcess::spawn_with_env(port, &config, &[("WARROOM_TEST_DB_PASSWORD", password)]);
    server.wait_ready(Duration::from_secs(30)).await;
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    assert_eq!(api.post(chain("s-log", 1).remove(0).1).await.0, 200);
    assert_eq!(
        Api::new(&server.url(), Some("wrong"))
            .get("/v1/audit")
            .await
            .0,
        401
    );

    assert!(
        server.terminate(Duration::from_secs(15)),
        "exit 0 on SIGTERM"
    );
    let log = server.log();
    assert!(
        !log.contains(password) && !log.contains(ALICE_TOKEN),
        "{log}"
    );
    let mut messages = Vec::new();
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        messages.push(
            v["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    for expected in [
        "warroom server listening",
        "ready: schema up to date",
        "audit record stored",
        "request refused: not authenticated",
        "shutdown signal received",
        "warroom server stopped",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "{expected}: {messages:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_and_be_stored() {
    use std::io::{Read, Write};
    let pg = PgServer::start();
    let mut server = ServerProcess::start_replica(&db_url(&pg), "").await;
    let (record, line) = chain("s-term", 1).remove(0);
    // Half of the body, then SIGTERM, then the rest: the answer still comes.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /v1/audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        line.len()
    );
    let (first, rest) = line.split_at(line.len() / 2);
    s.write_all(head.as_bytes()).expect("head");
    s.write_all(first.as_bytes()).expect("first half");
    std::thread::sleep(Duration::from_millis(200));
    let pid_exit = std::thread::spawn(move || server.terminate(Duration::from_secs(15)));
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(rest.as_bytes()).expect("second half");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("\"id\":\"{}\"", record.id)),
        "{answer}"
    );
    assert!(pid_exit.join().expect("join"), "exit 0 after draining");
    assert_eq!(rows_with_id(&pg, &record.id).await, 1);
}

#[test]
fn check_config_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("server.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:8470\"\ndatabase_url = \"postgres://db/w\"\n\
         [[server.token]]\nidentity = \"a@b\"\nsha256 = \"plain-token\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["server", "check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("{}:6:10: server.token[1].sha256:", path.display())),
        "{err}"
    );
    std::fs::write(
        &path,
        config_text(
            8470,
            "postgres://warroom@db:5432/warroom",
            "retention_days = 30",
        ),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["server", "check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("retention: 30 day(s)") && text.contains("static tokens: 2"),
        "{text}"
    );
    assert!(!text.contains(&server_process::sha256_hex(ALICE_TOKEN)));
}
