//! Slow clients do not starve the server: half-sent requests and idle connections beyond the
//! connection cap, an idle keep-alive connection, a body that stalls, and long-polls held by one
//! identity, against a real `warroom server` process and a real PostgreSQL.

use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::time::{Duration, Instant};

use pg::PgServer;
use serde_json::{Value, json};
use server_process::{ALICE_TOKEN, BOB_TOKEN, ServerProcess, config_text, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound on an authenticated request while the server is under attack.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

fn db_url(pg: &PgServer) -> String {
    format!("{}?sslmode=disable", pg.url("postgres", "postgres"))
}

async fn server(pg: &PgServer, extra: &str) -> ServerProcess {
    ServerProcess::start_replica(&db_url(pg), extra).await
}

async fn connect(server: &ServerProcess) -> TcpStream {
    TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect to the server")
}

/// Reads until the server closes the connection (EOF; a reset counts too): when that was, or
/// `None` if it is still open after `limit`.
async fn closed_at(stream: &mut TcpStream, limit: Duration) -> Option<Instant> {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(Instant::now());
            }
            Ok(Err(e)) => panic!("reading from the server: {e}"),
        }
    }
}

/// One HTTP/1.1 response read off a raw connection: (status, head, body), or `None` if none
/// came within `limit` (or the connection closed first).
async fn read_response(stream: &mut TcpStream, limit: Duration) -> Option<(u16, String, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut data = Vec::new();
    let end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if !read_more(stream, &mut data, deadline).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&data[..end]).to_string();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < end + 4 + length {
        if !read_more(stream, &mut data, deadline).await {
            return None;
        }
    }
    Some((status, head, data[end + 4..end + 4 + length].to_vec()))
}

/// Appends what the next read brings; false at EOF, on an error or at `deadline`.
async fn read_more(
    stream: &mut TcpStream,
    data: &mut Vec<u8>,
    deadline: tokio::time::Instant,
) -> bool {
    let mut buf = [0u8; 4096];
    match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => {
            data.extend_from_slice(&buf[..n]);
            true
        }
        _ => false,
    }
}

/// Opens `n` connections and sends `prefix` on each (nothing when empty).
async fn hold(server: &ServerProcess, n: usize, prefix: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = connect(server).await;
        if !prefix.is_empty() {
            s.write_all(prefix)
                .await
                .expect("send the start of a request");
        }
        held.push(s);
    }
    held
}

/// Waits, concurrently, for each connection to be closed: when each was (`None`: still open
/// after `limit`).
async fn all_closed_at(held: Vec<TcpStream>, limit: Duration) -> Vec<Option<Instant>> {
    let tasks: Vec<_> = held
        .into_iter()
        .map(|mut s| tokio::spawn(async move { closed_at(&mut s, limit).await }))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("reader task"));
    }
    out
}

/// An authenticated `GET /v1/audit` on a new connection: its status and how long it took; it
/// must answer within [`ANSWER_WITHIN`].
async fn authenticated_get(server: &ServerProcess) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .build()
        .expect("client");
    let started = Instant::now();
    let answer = client
        .get(format!("{}/v1/audit?limit=1", server.url()))
        .bearer_auth(ALICE_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer within {ANSWER_WITHIN:?} under the attack: {e}"));
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    let took = started.elapsed();
    let page: Value = serde_json::from_str(&text).expect("JSON page");
    assert!(page["records"].is_array(), "{text}");
    (status, took)
}

const HALF_A_HEAD: &[u8] =
    b"POST /v1/audit HTTP/1.1\r\nHost: warroom\r\nContent-Type: application/json\r\nContent-Le";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_beyond_the_cap_leave_room_and_are_closed_by_the_header_timeout() {
    let pg = PgServer::start();
    let header_timeout = Duration::from_secs(3);
    let server = server(
        &pg,
        "max_connections = 64\nheader_timeout = \"3s\"\nidle_timeout = \"10m\"",
    )
    .await;

    let sent = Instant::now();
    let held = hold(&server, 300, HALF_A_HEAD).await;
    let (status, took) = authenticated_get(&server).await;
    assert_eq!(status, 200);
    assert!(took < ANSWER_WITHIN, "took {took:?}");

    // Each is closed: evicted at the cap (the oldest), or by the header timeout (the newest
    // ones the cap left open), which cannot fire before `sent + header_timeout`.
    let closed = all_closed_at(held, header_timeout + Duration::from_secs(20)).await;
    let open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(open, 0, "{open} of 300 half-sent requests still open");
    let by_timeout = closed
        .iter()
        .flatten()
        .filter(|at| **at >= sent + header_timeout)
        .count();
    assert!(
        (1..=64).contains(&by_timeout),
        "{by_timeout} closed by the header timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_are_evicted_and_logged_in_a_summary() {
    let pg = PgServer::start();
    let server = server(&pg, "max_connections = 32\nidle_timeout = \"10m\"").await;

    let held = hold(&server, 200, b"").await;
    let (status, took) = authenticated_get(&server).await;
    assert_eq!(status, 200);
    assert!(took < ANSWER_WITHIN, "took {took:?}");
    let closed = all_closed_at(held, Duration::from_secs(10)).await;
    let evicted = closed.iter().flatten().count();
    assert!(
        evicted >= 200 - 32,
        "only {evicted} of 200 idle connections closed"
    );

    // The cap is logged as a summary line (the first at once, the rest within 10 s), not one
    // line per evicted connection.
    let deadline = Instant::now() + Duration::from_secs(25);
    let lines = loop {
        let lines: Vec<Value> = server
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("connection cap reached"))
            })
            .collect();
        let counted: u64 = lines
            .iter()
            .filter_map(|l| l["fields"]["evicted_idle"].as_u64())
            .sum();
        if counted >= 200 - 32 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "cap lines count {counted} evictions; the log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(lines.len() <= 3, "{} cap lines: {lines:?}", lines.len());
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["max_connections"], 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_lasts_until_idle_timeout_and_a_half_sent_head_until_header_timeout()
 {
    let pg = PgServer::start();
    let (header_timeout, idle_timeout) = (Duration::from_secs(1), Duration::from_secs(6));
    let server = server(&pg, "header_timeout = \"1s\"\nidle_timeout = \"6s\"").await;
    const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: warroom\r\n\r\n";

    let mut keep_alive = connect(&server).await;
    keep_alive.write_all(HEALTHZ).await.expect("send");
    let (status, _, _) = read_response(&mut keep_alive, Duration::from_secs(10))
        .await
        .expect("first answer");
    assert_eq!(status, 200);
    // Idle for longer than the header timeout: still open, and serves the next request.
    tokio::time::sleep(header_timeout + Duration::from_millis(500)).await;
    let second_sent = Instant::now();
    keep_alive.write_all(HEALTHZ).await.expect("send again");
    let (status, _, _) = read_response(&mut keep_alive, Duration::from_secs(10))
        .await
        .expect("an idle connection is kept past the header timeout");
    assert_eq!(status, 200);

    // A half-sent head on another connection meanwhile: closed by the header timeout, well
    // before the idle timeout would.
    let mut half = connect(&server).await;
    let half_sent = Instant::now();
    half.write_all(HALF_A_HEAD).await.expect("send half a head");
    let at = closed_at(&mut half, idle_timeout - Duration::from_millis(100))
        .await
        .expect("a half-sent head is closed before the idle timeout");
    assert!(
        at >= half_sent + header_timeout,
        "closed after {:?}",
        at - half_sent
    );

    let at = closed_at(&mut keep_alive, idle_timeout + Duration::from_secs(15))
        .await
        .expect("the idle keep-alive connection is closed after the idle timeout");
    assert!(
        at >= second_sent + idle_timeout,
        "closed {:?} after the second request",
        at - second_sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_answered_408_after_body_timeout_and_nothing_is_stored() {
    let pg = PgServer::start();
    let body_timeout = Duration::from_secs(2);
    let server = server(&pg, "body_timeout = \"2s\"").await;

    let mut stream = connect(&server).await;
    let head = format!(
        "POST /v1/audit HTTP/1.1\r\nHost: warroom\r\nAuthorization: Bearer {ALICE_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n"
    );
    // Before the head: the body timeout starts when the server has read it.
    let sent = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(br#"{"version": 1, "id": "0b6c3a52-stalled", "time": "2026-"#)
        .await
        .expect("the first part of the body");

    let (status, head, body) = read_response(&mut stream, body_timeout + Duration::from_secs(15))
        .await
        .expect("an answer after the body timeout");
    let answered = Instant::now();
    assert_eq!(status, 408, "{head}");
    assert!(
        answered >= sent + body_timeout,
        "answered after {:?}",
        answered - sent
    );
    let error: Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(error["status"], 408);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("within 2s (server.body_timeout)")),
        "{error}"
    );
    assert!(
        closed_at(&mut stream, Duration::from_secs(10))
            .await
            .is_some(),
        "the connection is closed after the 408"
    );

    let (status, page) = server_process::Api::new(&server.url(), Some(ALICE_TOKEN))
        .get("/v1/audit")
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["records"], json!([]), "nothing stored: {page}");
}

/// A PostgreSQL target and a server that holds every `pg.*` action on it for bob's approval,
/// with `max_streams_per_identity = 1`.
async fn approvals_server(pg: &PgServer) -> ServerProcess {
    pg.exec("CREATE DATABASE warroom").await;
    let port = free_port();
    let state = format!("{}?sslmode=disable", pg.url("postgres", "warroom"));
    let text = format!(
        r#"{}
[[server.rule]]
name = "prod needs a second pair of eyes"
identities = ["*"]
contexts = ["prod"]
actions = ["pg.*"]
approval = {{ required = true, approvers = ["{bob}"], timeout = "5m" }}

[[postgres]]
name = "prod"
url = "postgres://postgres@127.0.0.1:{pg_port}/postgres?sslmode=disable"
"#,
        config_text(
            port,
            &state,
            "actions_audit_file = \"actions-audit.jsonl\"\nmax_streams_per_identity = 1"
        ),
        bob = server_process::BOB,
        pg_port = pg.port(),
    );
    ServerProcess::start(port, &text).await
}

/// Files a cancel of a sleeping session as alice: a request that waits for approval.
async fn pending_request(pg: &PgServer, server: &ServerProcess) -> (String, pg::BackgroundSession) {
    let session = pg.spawn_query("report-job", "SELECT pg_sleep(600)").await;
    pg.wait_for_state(
        &[session.pid()],
        "state = 'active' AND wait_event = 'PgSleep'",
        "sleeping in pg_sleep",
    )
    .await;
    let utc = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";
    let row = pg
        .connect("postgres", "test-check")
        .await
        .query_one(
            &format!(
                "SELECT to_char(backend_start AT TIME ZONE 'UTC', {utc}), \
                 to_char(query_start AT TIME ZONE 'UTC', {utc}) \
                 FROM pg_stat_activity WHERE pid = $1"
            ),
            &[&session.pid()],
        )
        .await
        .expect("the session's times");
    let (backend_start, query_start): (String, String) = (row.get(0), row.get(1));
    let body = json!({
        "action": {"name": "pg.cancel", "target": {
            "context": "prod", "pid": session.pid(), "backend_start": backend_start,
            "query_start": query_start, "user": null, "application": "", "database": null,
            "state": null, "query": ""}},
        "reason": "INC-4711 runaway report query blocks checkout",
    });
    let answer = server_process::Api::new(&server.url(), Some(ALICE_TOKEN))
        .send_json(reqwest::Method::POST, "/v1/actions", &body)
        .await;
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    assert_eq!(status, 202, "{text}");
    let state: Value = serde_json::from_str(&text).expect("JSON");
    let id = state["id"].as_str().expect("request id").to_string();
    (id, session)
}

/// `GET /v1/actions/{id}/wait?timeout=..` on `base` as `token`: (status, JSON answer).
async fn wait(base: &str, token: &str, id: &str, seconds: u64) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .get(format!("{base}/v1/actions/{id}/wait?timeout={seconds}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(seconds + 15))
        .send()
        .await
        .expect("wait");
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

/// Opens the event stream of share `id` as `token`: the response (its body still open).
async fn watch(base: &str, token: &str, id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/v1/shares/{id}/stream"))
        .bearer_auth(token)
        .send()
        .await
        .expect("stream")
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_identity_holds_at_most_its_streams_and_another_still_gets_through() {
    let pg = PgServer::start();
    let server = approvals_server(&pg).await;
    let base = server.url();
    let (id, _session) = pending_request(&pg, &server).await;
    let share = json!({"contexts": ["prod"], "width": 80, "height": 24});
    let put = server_process::Api::new(&base, Some(ALICE_TOKEN))
        .send_json(reqwest::Method::PUT, "/v1/shares/slow-clients", &share)
        .await;
    assert_eq!(put.status(), 200);

    // Alice holds one long-poll; her next one is refused. Until the held one is in service a
    // probe can take the slot first (and the held one is refused): then it is sent again.
    let hold = || {
        let (base, id) = (base.clone(), id.clone());
        tokio::spawn(async move { wait(&base, ALICE_TOKEN, &id, 40).await })
    };
    let mut held = hold();
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let (status, answer) = wait(&base, ALICE_TOKEN, &id, 1).await;
        if status == 429 {
            break answer;
        }
        assert_eq!(status, 200, "{answer}");
        assert!(
            Instant::now() < deadline,
            "alice's second long-poll was never refused"
        );
        if held.is_finished() {
            held = hold();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert_eq!(refused["status"], 429);
    let message = refused["error"].as_str().expect("error text");
    assert!(
        message.contains("at most 1") && message.contains("server.max_streams_per_identity"),
        "{message}"
    );
    // An event stream counts against the same limit.
    let stream = watch(&base, ALICE_TOKEN, "slow-clients").await;
    assert_eq!(stream.status(), 429);
    assert_eq!(json_of(stream).await["status"], 429);

    // Bob is counted apart: his long-poll is served (the request's state after 1 s).
    let (status, answer) = wait(&base, BOB_TOKEN, &id, 1).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "pending", "{answer}");
    assert!(!held.is_finished(), "alice's long-poll was held all along");

    // Alice gives up her long-poll (the connection closes): her slot comes back.
    held.abort();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stream = watch(&base, ALICE_TOKEN, "slow-clients").await;
        if stream.status() == 200 {
            break;
        }
        assert_eq!(stream.status(), 429);
        assert!(Instant::now() < deadline, "alice's slot did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
