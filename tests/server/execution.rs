//! Delegated actions run detached from the HTTP request that asked for (or approved) them, under
//! a lease: real `warroom server` processes on one real PostgreSQL, the Kubernetes API emulator
//! holding each pod DELETE for a while, so a fault lands while the action is in flight. An
//! approver's client that gives up does not cancel the action; a replica killed mid-action has
//! its request resolved by another replica's timer within the lease, and the intent closed with
//! an unknown outcome; SIGTERM mid-action lets the action finish and answer.

use warroom_testkit::kube_emulator::{self, KubeEmulator};
use warroom_testkit::pg::PgServer;
use warroom_testkit::server_process::{
    ALICE, ALICE_TOKEN, BOB, BOB_TOKEN, ServerProcess, config_text, free_port,
};

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::actions::{BOB_REASON, REASON, cluster, http, phases, records_of, state, state_db};

pub(crate) const NS: &str = "shop";
pub(crate) const POD: &str = "worker-0";

/// The lease a dead replica's requests are resolved within (heartbeat lease + sweep period,
/// with room for a slow machine); the issue's bound is 30 s.
const RESOLVED_WITHIN: Duration = Duration::from_secs(30);

pub(crate) fn alice_without_approval() -> String {
    format!(
        r#"
[[server.rule]]
name = "alice restarts shop pods"
identities = ["{ALICE}"]
contexts = ["k8s"]
actions = ["kube.*"]
"#
    )
}

pub(crate) fn bob_approves() -> String {
    format!(
        r#"
[[server.rule]]
name = "shop pods need a second pair of eyes"
identities = ["*"]
contexts = ["k8s"]
actions = ["kube.*"]
approval = {{ required = true, approvers = ["{BOB}"], timeout = "5m" }}
"#
    )
}

/// A replica whose `k8s` context is the emulator, with `rules`.
async fn kube_replica(pg: &PgServer, emu: &KubeEmulator, rules: &str) -> ServerProcess {
    kube_replica_with(pg, emu, rules, "").await
}

/// [`kube_replica`] with `extra` lines in `[server]`; `tables` may add `[[server.token]]`s.
pub(crate) async fn kube_replica_with(
    pg: &PgServer,
    emu: &KubeEmulator,
    tables: &str,
    extra: &str,
) -> ServerProcess {
    let port = free_port();
    let text = format!(
        "{}\n{tables}\n[[kubernetes]]\nname = \"k8s\"\nkube_context = \"emulator\"\nnamespaces = [\"{NS}\"]\n",
        config_text(
            port,
            &state_db(pg),
            &format!("actions_audit_file = \"actions-audit.jsonl\"\n{extra}")
        ),
    );
    let kubeconfig = emu.kubeconfig().display().to_string();
    let server = ServerProcess::spawn_with_env(port, &text, &[("KUBECONFIG", &kubeconfig)]);
    server.wait_ready(Duration::from_secs(30)).await;
    server
}

pub(crate) async fn emulator_with_pod() -> KubeEmulator {
    let emu = KubeEmulator::start().await;
    emu.add_pod(kube_emulator::bare_pod(
        NS,
        POD,
        &["worker"],
        kube_emulator::running("worker"),
    ));
    emu
}

/// The body of `POST /v1/actions` deleting the pod, as a client sends it.
pub(crate) fn delete_pod(emu: &KubeEmulator) -> Value {
    let uid = emu.pod(NS, POD).expect("the pod")["metadata"]["uid"].clone();
    json!({
        "action": {"name": "kube.delete_pod", "target": {
            "context": "k8s", "namespace": NS, "pod": POD, "uid": uid,
            "grace_period": null, "status": "Running", "node": null, "owner": null}},
        "reason": REASON,
    })
}

/// Alice asks for the pod delete where the rule wants an approval: the pending request's id.
pub(crate) async fn ask_approval(server: &ServerProcess, emu: &KubeEmulator) -> String {
    let (status, pending) = http(
        server,
        ALICE_TOKEN,
        reqwest::Method::POST,
        "/v1/actions",
        Some(delete_pod(emu)),
    )
    .await;
    assert_eq!(status, 202, "{pending}");
    pending["id"].as_str().expect("request id").to_string()
}

/// `POST` `body` to `url` with `token`, on a task: the answer, or why there was none.
fn post_in_background(
    url: String,
    token: &'static str,
    body: Value,
) -> tokio::task::JoinHandle<Result<(u16, Value), String>> {
    tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(90))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    })
}

/// The running request whose action's intent is stored: (request id, intent id).
async fn running_with_intent(pg: &PgServer) -> (String, String) {
    let db = state(pg).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let row = db
            .query_opt(
                "SELECT q.id, q.intent_id FROM action_requests q \
                 JOIN audit_records r ON r.id = q.intent_id \
                 WHERE q.status = 'running'",
                &[],
            )
            .await
            .expect("requests");
        if let Some(row) = row {
            return (row.get(0), row.get(1));
        }
        assert!(
            Instant::now() < deadline,
            "no running request with a stored intent"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn status_of(pg: &PgServer, id: &str) -> String {
    state(pg)
        .await
        .query_one("SELECT status FROM action_requests WHERE id = $1", &[&id])
        .await
        .expect("request")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_who_disconnects_mid_action_neither_cancels_it_nor_orphans_its_request() {
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let server = kube_replica(&pg, &emu, &bob_approves()).await;
    let id = ask_approval(&server, &emu).await;

    // Bob approves, and his client gives up after half a second, mid-action.
    emu.hold_deletes(Duration::from_secs(3));
    let impatient = reqwest::Client::new()
        .post(format!("{}/v1/actions/{id}/approve", server.url()))
        .bearer_auth(BOB_TOKEN)
        .header("content-type", "application/json")
        .body(json!({ "reason": BOB_REASON }).to_string())
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        impatient.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the approval answered before the action finished: {impatient:?}"
    );

    // The action went on without him: done, recorded, and the requester is told.
    let (_, answer) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::GET,
        &format!("/v1/actions/{id}/wait?timeout=30"),
        None,
    )
    .await;
    assert_eq!(answer["status"], "done", "{answer}");
    assert!(emu.pod(NS, POD).is_none(), "the pod is still there");
    let records = records_of(&pg, &id).await;
    let phases = phases(&records);
    assert_eq!(phases, ["intent", "outcome"], "{records:?}");
    assert_eq!(records[1].1["outcome"]["ok"], true, "{records:?}");
    assert_eq!(
        records[0].1["target"]["delegation"]["approved_by"], BOB,
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_action_is_resolved_by_another_within_the_lease_and_its_intent_closed()
{
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let mut doomed = kube_replica(&pg, &emu, &alice_without_approval()).await;
    let survivor = kube_replica(&pg, &emu, &alice_without_approval()).await;
    emu.hold_deletes(Duration::from_secs(120));

    let post = post_in_background(
        format!("{}/v1/actions", doomed.url()),
        ALICE_TOKEN,
        delete_pod(&emu),
    );
    let (id, intent_id) = running_with_intent(&pg).await;
    doomed.kill();
    let killed = Instant::now();
    // The requester is told the truth: no answer (the call may have had its effect).
    let answer = post.await.expect("join");
    assert!(answer.is_err(), "a dead replica answered: {answer:?}");

    // Nobody reads the request: the survivor's timer resolves it.
    loop {
        let status = status_of(&pg, &id).await;
        if status == "unknown" {
            break;
        }
        assert_eq!(status, "running", "request {id}");
        assert!(
            killed.elapsed() < RESOLVED_WITHIN,
            "request {id} still running {:?} after its replica was killed; survivor log:\n{}",
            killed.elapsed(),
            survivor.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("resolved {:?} after SIGKILL", killed.elapsed());
    // The survivor counts the action it resolved.
    let metrics = reqwest::get(format!("{}/metrics", survivor.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains(r#"warroom_actions_total{action="kube.delete_pod",outcome="unknown"} 1"#),
        "{metrics}"
    );

    // Its intent has an outcome: unknown, written by the survivor as the server.
    let db = state(&pg).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (sender, outcome) = loop {
        let row = db
            .query_opt(
                "SELECT received_from, record FROM audit_records \
                 WHERE phase = 'outcome' AND record::jsonb ->> 'intent_id' = $1",
                &[&intent_id],
            )
            .await
            .expect("outcome");
        if let Some(row) = row {
            let record: Value =
                serde_json::from_str(row.get::<_, &str>(1)).expect("record is JSON");
            break (row.get::<_, String>(0), record);
        }
        assert!(
            Instant::now() < deadline,
            "intent {intent_id} has no outcome"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(sender.starts_with("server:"), "{sender}");
    assert_eq!(outcome["outcome"]["unknown"], true, "{outcome}");
    assert_eq!(outcome["actor"]["identity"], ALICE, "{outcome}");

    let (_, seen) = http(
        &survivor,
        ALICE_TOKEN,
        reqwest::Method::GET,
        &format!("/v1/actions/{id}"),
        None,
    )
    .await;
    assert_eq!(seen["status"], "unknown", "{seen}");
    assert!(
        seen["detail"]
            .as_str()
            .unwrap_or("")
            .contains("may or may not have run"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_action_lets_the_action_finish_record_and_answer_before_the_exit() {
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let server = kube_replica(&pg, &emu, &alice_without_approval()).await;
    emu.hold_deletes(Duration::from_secs(2));
    let post = post_in_background(
        format!("{}/v1/actions", server.url()),
        ALICE_TOKEN,
        delete_pod(&emu),
    );
    let (id, _) = running_with_intent(&pg).await;
    let (server, exited_cleanly) = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let ok = server.terminate(Duration::from_secs(60));
        (server, ok)
    })
    .await
    .expect("join");
    assert!(exited_cleanly, "no clean exit; log:\n{}", server.log());
    let (status, answer) = post.await.expect("join").expect("an answer");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "done", "{answer}");
    assert_eq!(status_of(&pg, &id).await, "done");
    let records = records_of(&pg, &id).await;
    let phases = phases(&records);
    assert_eq!(phases, ["intent", "outcome"], "{records:?}");
    assert!(emu.pod(NS, POD).is_none(), "the pod is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requesters_cost_the_state_database_no_writes_per_wake_up() {
    const WAITERS: usize = 20;
    const DOORBELLS: usize = 10;
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let server = kube_replica(&pg, &emu, &bob_approves()).await;
    let id = ask_approval(&server, &emu).await;
    pg.exec("SELECT pg_stat_statements_reset()").await;

    let waits: Vec<_> = (0..WAITERS)
        .map(|_| {
            let url = format!("{}/v1/actions/{id}/wait?timeout=6", server.url());
            tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .get(url)
                    .bearer_auth(ALICE_TOKEN)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .expect("wait");
                let body: Value =
                    serde_json::from_str(&r.text().await.expect("body")).expect("json");
                body["status"].as_str().unwrap_or_default().to_string()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Each withdrawal of another request rings the doorbell: every waiter wakes and re-reads.
    for _ in 0..DOORBELLS {
        let other = ask_approval(&server, &emu).await;
        let (status, gone) = http(
            &server,
            ALICE_TOKEN,
            reqwest::Method::POST,
            &format!("/v1/actions/{other}/withdraw"),
            None,
        )
        .await;
        assert_eq!((status, gone["status"].as_str()), (200, Some("withdrawn")));
    }
    for w in waits {
        assert_eq!(w.await.expect("join"), "pending");
    }
    let updates: i64 = pg
        .statements_of("postgres")
        .await
        .iter()
        .filter(|(q, _)| q.starts_with("UPDATE action_requests"))
        .map(|(_, calls)| calls)
        .sum();
    // The withdrawals and the sweep timer's two statements a second: nothing per waiter.
    assert!(
        updates < (WAITERS * DOORBELLS / 2) as i64,
        "{updates} UPDATEs for {WAITERS} waiters woken {DOORBELLS} times"
    );
    eprintln!("{updates} UPDATEs for {WAITERS} waiters woken {DOORBELLS} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_checked_against_the_rule_as_it_stands_when_it_would_run() {
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let asked_on = kube_replica(&pg, &emu, &bob_approves()).await;
    // Replicas started later with a changed rule of the same name: Carol approves now; then
    // the rule no longer covers Alice at all.
    let approvers_changed = bob_approves().replace(BOB, "carol@example.com");
    let now_carol = kube_replica(&pg, &emu, &approvers_changed).await;
    let requester_dropped = bob_approves().replace(
        r#"identities = ["*"]"#,
        r#"identities = ["bob@example.com"]"#,
    );
    let not_alice = kube_replica(&pg, &emu, &requester_dropped).await;

    let ask = || ask_approval(&asked_on, &emu);
    let approve_on = |server: &ServerProcess, id: &str| {
        let (url, id) = (server.url(), id.to_string());
        async move {
            let r = reqwest::Client::new()
                .post(format!("{url}/v1/actions/{id}/approve"))
                .bearer_auth(BOB_TOKEN)
                .header("content-type", "application/json")
                .body(json!({ "reason": BOB_REASON }).to_string())
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .expect("approve");
            let status = r.status().as_u16();
            let body: Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
            (status, body)
        }
    };

    // Bob is no longer an approver where he approves: refused, the request still waits.
    let id = ask().await;
    let (status, answer) = approve_on(&now_carol, &id).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("no longer an approver"),
        "{answer}"
    );
    assert_eq!(status_of(&pg, &id).await, "pending");
    assert!(emu.pod(NS, POD).is_some(), "acted on a refused approval");

    // The rule no longer covers the requester: the request is refused for good, nothing runs.
    let (status, answer) = approve_on(&not_alice, &id).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["status"], "refused", "{answer}");
    assert_eq!(status_of(&pg, &id).await, "refused");
    assert!(emu.pod(NS, POD).is_some(), "acted on a refused approval");
    let records = records_of(&pg, &id).await;
    assert!(records.is_empty(), "{records:?}");

    // Where the rule still stands, the same approval runs it.
    let id = ask().await;
    let (status, answer) = approve_on(&asked_on, &id).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("done")),
        "{answer}"
    );
    assert!(emu.pod(NS, POD).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_open_long_polls_and_ends_watch_streams_instead_of_waiting_for_them() {
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let server = kube_replica(&pg, &emu, &bob_approves()).await;
    let id = ask_approval(&server, &emu).await;
    let share = reqwest::Client::new()
        .put(format!("{}/v1/shares/sess-stopping", server.url()))
        .bearer_auth(ALICE_TOKEN)
        .header("content-type", "application/json")
        .body(json!({"width": 80, "height": 24}).to_string())
        .send()
        .await
        .expect("start share");
    assert_eq!(share.status(), 200);
    let watcher = reqwest::Client::new()
        .get(format!("{}/v1/shares/sess-stopping/stream", server.url()))
        .bearer_auth(BOB_TOKEN)
        .send()
        .await
        .expect("stream");
    assert_eq!(watcher.status(), 200);
    let watching = tokio::spawn(async move { watcher.bytes().await.map(|b| b.len()) });
    let long_poll = get_in_background(format!("{}/v1/actions/{id}/wait?timeout=55", server.url()));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let (server, exited_cleanly) = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let ok = server.terminate(Duration::from_secs(60));
        (server, ok)
    })
    .await
    .expect("join");
    let took = started.elapsed();
    assert!(exited_cleanly, "no clean exit; log:\n{}", server.log());
    // The drain gives requests 20 s; nothing held it up.
    assert!(took < Duration::from_secs(10), "the exit took {took:?}");
    let (status, answer) = long_poll
        .await
        .expect("join")
        .expect("the long-poll answered");
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("pending")),
        "{answer}"
    );
    assert!(
        watching.await.expect("join").is_ok(),
        "the stream did not end cleanly"
    );
    assert_eq!(status_of(&pg, &id).await, "pending");
}

/// `GET url` as alice, on a task: the answer, or why there was none.
fn get_in_background(url: String) -> tokio::task::JoinHandle<Result<(u16, Value), String>> {
    tokio::spawn(async move {
        let r = reqwest::Client::new()
            .get(url)
            .bearer_auth(ALICE_TOKEN)
            .timeout(Duration::from_secs(90))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    })
}
