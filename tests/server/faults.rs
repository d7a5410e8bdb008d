//! The fault matrix (RELIABILITY.md), end to end on real processes: two `warroom server`
//! replicas on one real PostgreSQL behind a real load balancer (HAProxy, health-checking
//! `/readyz`), the Kubernetes API emulator holding pod DELETEs so a fault lands mid-action, and
//! the real clients (the executor's `ServerDelegate`, the share uploader and watch stream)
//! talking only to the balancer. Each fault checks that nothing is lost (every intent has an
//! outcome, no approval runs twice, no frame is recorded twice or lost uncounted, watchers
//! resume from a keyframe) and that the client is told the truth.
//!
//! Replicas are named `r0` and `r1` (`[server] replica`, so a request's `owner_replica` says
//! which one runs it) and are HAProxy's servers `r0` and `r1`.

use warroom_testkit::haproxy::Haproxy;
use warroom_testkit::kube_emulator::KubeEmulator;
use warroom_testkit::pg::PgServer;
use warroom_testkit::server_process::{ALICE_TOKEN, Api, BOB_TOKEN, ServerProcess};

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warroom_client::ServerClient;
use warroom_client::actions::ServerDelegate;
use warroom_client::share::{self, Sharing};
use warroom_core::guard::wire::ActionRequest;
use warroom_core::guard::{ActionReport, Delegate, Outcome};

use super::actions::{BOB_REASON, cluster, phases, records_of, state};
use super::execution::{
    alice_without_approval, bob_approves, delete_pod, emulator_with_pod, kube_replica_with,
};
use super::share_relay::{ALICE_ENV, BOB_ENV, FakeUi, Watcher, start_info, tokens};

/// The bound for a killed replica's request to be resolved by the other one.
const RESOLVED_WITHIN: Duration = Duration::from_secs(30);
/// How long HAProxy may take to see a replica come or go (checks every 250 ms).
const LB_NOTICES_WITHIN: Duration = Duration::from_secs(15);
/// HAProxy writes a request's log line as it ends.
const LB_LOGS_WITHIN: Duration = Duration::from_secs(5);
/// A keyframe: the full-screen redraw a live watcher starts with.
const KEYFRAME: &str = "\x1b[2J";

/// One database, the emulator with its pod, replicas `r0` and `r1` with `rules`, HAProxy.
struct Cluster {
    pg: PgServer,
    emu: KubeEmulator,
    replicas: Vec<ServerProcess>,
    lb: Haproxy,
}

impl Cluster {
    async fn start(rules: &str) -> Cluster {
        tokens();
        let pg = cluster().await;
        let emu = emulator_with_pod().await;
        let mut replicas = Vec::new();
        for name in ["r0", "r1"] {
            let extra = format!("replica = \"{name}\"");
            replicas.push(kube_replica_with(&pg, &emu, rules, &extra).await);
        }
        let lb = Haproxy::start(&[replicas[0].port, replicas[1].port]);
        for r in 0..2 {
            lb.wait_status(r, "UP", LB_NOTICES_WITHIN).await;
        }
        Cluster {
            pg,
            emu,
            replicas,
            lb,
        }
    }

    /// `token`'s view of the API, through the balancer.
    fn api(&self, token: &str) -> Api {
        Api::new(&self.lb.url(), Some(token))
    }

    /// The real client of a delegated action (`via = "server"`), through the balancer.
    fn delegate(&self, token_env: &str) -> ServerDelegate {
        let client = ServerClient::new(&self.lb.url(), Some(token_env)).expect("client");
        ServerDelegate::new(client, true)
    }

    /// Runs the pod delete as alice's executor does, on a task: its report.
    fn alice_deletes_the_pod(&self) -> tokio::task::JoinHandle<ActionReport> {
        let request: ActionRequest =
            warroom_core::guard::wire::from_json(delete_pod(&self.emu).to_string().as_bytes())
                .expect("the wire form of the pod delete");
        let alice = self.delegate(ALICE_ENV);
        tokio::spawn(async move { alice.run(request).await })
    }

    /// Pod DELETEs the Kubernetes API received (held or not).
    fn pod_deletes(&self) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.starts_with("DELETE ") && r.contains("/pods/"))
            .count()
    }

    /// Waits until the pod DELETE is at the API server (held there): the action is mid-call.
    async fn delete_reached_the_api_server(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.pod_deletes() == 0 {
            assert!(Instant::now() < deadline, "the pod DELETE never came");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The one request in `status`, waited for: (request id, replica index running it, if
    /// any). With `with_intent`, only once its action's intent is stored.
    async fn request_in(&self, status: &str, with_intent: bool) -> (String, Option<usize>) {
        let db = state(&self.pg).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let row = db
                .query_opt(
                    "SELECT q.id, q.owner_replica FROM action_requests q \
                     WHERE q.status = $1 AND (NOT $2 OR EXISTS \
                       (SELECT 1 FROM audit_records r WHERE r.id = q.intent_id))",
                    &[&status, &with_intent],
                )
                .await
                .expect("requests");
            if let Some(row) = row {
                let owner: Option<String> = row.get(1);
                let replica = owner.map(|o| match o.split('/').next() {
                    Some("r0") => 0,
                    Some("r1") => 1,
                    _ => panic!("owner {o:?} is neither replica"),
                });
                return (row.get(0), replica);
            }
            assert!(Instant::now() < deadline, "no {status} request");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Request `id` as the balancer's replicas tell it.
    async fn status_through_lb(&self, id: &str) -> Value {
        let (code, body) = self
            .api(ALICE_TOKEN)
            .get(&format!("/v1/actions/{id}"))
            .await;
        assert_eq!(
            code, 200,
            "GET /v1/actions/{id} through the balancer: {body}"
        );
        body
    }

    /// The audit trail of request `id` is one intent closed by one outcome: the outcome.
    async fn one_intent_one_outcome(&self, id: &str) -> Value {
        let records = records_of(&self.pg, id).await;
        let phases = phases(&records);
        assert_eq!(phases, ["intent", "outcome"], "{records:?}");
        assert_eq!(records[1].1["intent_id"], records[0].1["id"], "{records:?}");
        records[1].1.clone()
    }

    /// Replica `r` again, on its port with its config, after it was killed or stopped.
    async fn restart_replica(&mut self, r: usize) {
        let old = &self.replicas[r];
        let config = std::fs::read_to_string(old.config_path()).expect("the replica's config");
        let kubeconfig = self.emu.kubeconfig().display().to_string();
        let port = old.port;
        let again = ServerProcess::spawn_with_env(port, &config, &[("KUBECONFIG", &kubeconfig)]);
        again.wait_ready(Duration::from_secs(30)).await;
        self.replicas[r] = again;
    }
}

/// Bob approves request `id` through the balancer: (HTTP status, answer).
async fn bob_approves_through(lb: &Haproxy, id: &str) -> (u16, Value) {
    let r = Api::new(&lb.url(), Some(BOB_TOKEN))
        .send_json(
            reqwest::Method::POST,
            &format!("/v1/actions/{id}/approve"),
            &json!({ "reason": BOB_REASON }),
        )
        .await;
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL mid delegated action
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_sigkill_mid_action_behind_the_balancer_is_resolved_unknown_and_told_so() {
    let mut c = Cluster::start(&alice_without_approval()).await;
    c.emu.hold_deletes(Duration::from_secs(90));
    let report = c.alice_deletes_the_pod();
    let (id, owner) = c.request_in("running", true).await;
    let owner = owner.expect("a running request has its replica");
    let survivor = 1 - owner;
    c.delete_reached_the_api_server().await;
    c.replicas[owner].kill();
    let killed = Instant::now();

    // The client through the balancer: no answer, so "may or may not have run", never done
    // and never "nothing was done".
    let report = report.await.expect("join");
    assert_eq!(report.outcome, Outcome::Unknown, "{report:?}");
    assert!(
        report.detail.contains("may or may not have acted"),
        "{report:?}"
    );

    // Nobody reads it: the survivor's sweep timer resolves it, and the balancer's replica
    // (the survivor, the other one is down) tells the truth.
    let seen = loop {
        let seen = c.status_through_lb(&id).await;
        if seen["status"] == "unknown" {
            break seen;
        }
        assert_eq!(seen["status"], "running", "{seen}");
        assert!(
            killed.elapsed() < RESOLVED_WITHIN,
            "request {id} still running {:?} after its replica was killed; survivor log:\n{}",
            killed.elapsed(),
            c.replicas[survivor].log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "fault 1: resolved unknown {:?} after SIGKILL",
        killed.elapsed()
    );
    assert!(
        seen["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("may or may not have run"),
        "{seen}"
    );
    c.lb.wait_served(&format!("/v1/actions/{id}"), survivor, 200, LB_LOGS_WITHIN)
        .await;

    // Its intent is closed with an unknown outcome, written by the survivor as the server.
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        let records = records_of(&c.pg, &id).await;
        if records.len() >= 2 {
            break c.one_intent_one_outcome(&id).await;
        }
        assert!(Instant::now() < deadline, "no outcome: {records:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(outcome["outcome"]["unknown"], true, "{outcome}");
    // The balancer replayed nothing: one DELETE reached the API server.
    assert_eq!(c.pod_deletes(), 1, "{:?}", c.emu.requests());
}

// ---------------------------------------------------------------------------------------------
// 2. SIGTERM mid delegated action
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_sigterm_mid_action_behind_the_balancer_finishes_records_answers_and_exits_0() {
    let mut c = Cluster::start(&alice_without_approval()).await;
    c.emu.hold_deletes(Duration::from_secs(2));
    let report = c.alice_deletes_the_pod();
    let (id, owner) = c.request_in("running", true).await;
    let owner = owner.expect("a running request has its replica");
    c.delete_reached_the_api_server().await;
    let draining = c.replicas.remove(owner);
    let stopping = tokio::task::spawn_blocking(move || {
        let mut draining = draining;
        let exited_0 = draining.terminate(Duration::from_secs(60));
        (draining, exited_0)
    });
    // While it drains, the balancer sends the rest to the other replica.
    c.lb.wait_status(owner, "DOWN", LB_NOTICES_WITHIN).await;
    let meanwhile = c.status_through_lb(&id).await;
    assert!(
        ["running", "done"].contains(&meanwhile["status"].as_str().unwrap_or_default()),
        "{meanwhile}"
    );

    let report = report.await.expect("join");
    assert_eq!(report.outcome, Outcome::Done, "{report:?}");
    let (stopped, exited_0) = stopping.await.expect("join");
    assert!(exited_0, "no clean exit; log:\n{}", stopped.log());
    assert_eq!(c.status_through_lb(&id).await["status"], "done");
    let outcome = c.one_intent_one_outcome(&id).await;
    assert_eq!(outcome["outcome"]["ok"], true, "{outcome}");
    assert!(
        c.emu
            .pod(super::execution::NS, super::execution::POD)
            .is_none()
    );
    assert_eq!(c.pod_deletes(), 1);
    c.lb.wait_served("POST /v1/actions ", owner, 200, LB_LOGS_WITHIN)
        .await;
}

// ---------------------------------------------------------------------------------------------
// 3. The state database restarted
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_database_restart_mid_approval_keeps_the_request_and_the_approval_runs_once() {
    let c = Cluster::start(&bob_approves()).await;
    // Alice's client files the request and long-polls through the balancer.
    let report = c.alice_deletes_the_pod();
    let (id, _) = c.request_in("pending", false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    tokio::task::block_in_place(|| c.pg.restart());
    for r in 0..2 {
        c.lb.wait_status(r, "UP", LB_NOTICES_WITHIN).await;
    }

    // The pending request survived, and bob sees it waiting for him.
    let (code, approvals) = c.api(BOB_TOKEN).get("/v1/approvals").await;
    assert_eq!(code, 200, "{approvals}");
    let listed = approvals["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap_or_else(|| panic!("request {id} is gone: {approvals}"));
    assert_eq!(listed["can_decide"], true, "{listed}");

    // Two approvals at once through the balancer (round-robin: one per replica): one runs it.
    let (first, second) = tokio::join!(
        bob_approves_through(&c.lb, &id),
        bob_approves_through(&c.lb, &id)
    );
    let mut codes = [first.0, second.0];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "{first:?} {second:?}");
    let ran = if first.0 == 200 { &first.1 } else { &second.1 };
    assert_eq!(ran["status"], "done", "{ran}");

    // Alice's client waited through the restart and is told the truth.
    let report = tokio::time::timeout(Duration::from_secs(60), report)
        .await
        .expect("alice's client still waiting")
        .expect("join");
    assert_eq!(report.outcome, Outcome::Done, "{report:?}");
    let outcome = c.one_intent_one_outcome(&id).await;
    assert_eq!(outcome["outcome"]["ok"], true, "{outcome}");
    assert_eq!(c.pod_deletes(), 1, "{:?}", c.emu.requests());
}

/// A share's recording: the frames' data in sequence order, checked to be numbered 0..n.
async fn recording(pg: &PgServer, share: &str) -> Vec<String> {
    let rows = state(pg)
        .await
        .query(
            "SELECT seq, data FROM share_frames WHERE share_id = $1 ORDER BY seq",
            &[&share],
        )
        .await
        .expect("frames");
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r.get::<_, i64>(0), i as i64, "a hole in the sequence");
            r.get(1)
        })
        .collect()
}

/// Waits until the sharer has either stored or counted as dropped every frame drawn; then
/// checks the recording holds no frame twice and that each watcher stream is a run of it
/// with nothing left out. `exact`: no upload can have been stored without its answer
/// arriving (only a replica killed between its commit and its answer stores a batch the
/// sharer counted as dropped).
async fn nothing_lost_or_doubled(
    pg: &PgServer,
    share: &str,
    ui: FakeUi,
    sharing: &Sharing,
    streams: &[&[String]],
    exact: bool,
) {
    let drawn = std::sync::Arc::clone(&ui.drawn);
    ui.stop_checking_it_never_waited();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let drawn = drawn.load(std::sync::atomic::Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(15);
    let frames = loop {
        let frames = recording(pg, share).await;
        let accounted = frames.len() as u64 + sharing.feed.dropped();
        if accounted >= drawn || Instant::now() > deadline {
            break frames;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dropped = sharing.feed.dropped();
    eprintln!(
        "share {share}: {drawn} frames drawn, {} recorded, {dropped} dropped and counted; \
         watcher streams of {:?} frames",
        frames.len(),
        streams.iter().map(|s| s.len()).collect::<Vec<_>>()
    );
    let unique: std::collections::HashSet<&String> = frames.iter().collect();
    assert_eq!(unique.len(), frames.len(), "a frame is recorded twice");
    assert!(frames.len() as u64 <= drawn);
    if exact {
        assert_eq!(
            frames.len() as u64 + dropped,
            drawn,
            "frames lost uncounted"
        );
    } else {
        assert!(
            frames.len() as u64 + dropped >= drawn,
            "frames lost uncounted"
        );
    }
    for outputs in streams {
        let Some(first) = outputs.first() else {
            continue;
        };
        let start = frames
            .iter()
            .position(|f| f == first)
            .unwrap_or_else(|| panic!("a watcher got a frame not recorded: {first:?}"));
        let run = &frames[start..(start + outputs.len()).min(frames.len())];
        assert_eq!(
            run, *outputs,
            "a watcher's stream skipped or repeated frames"
        );
    }
}

/// The share `id` is listed through the balancer (the uploader registered it).
async fn registered(lb: &Haproxy, id: &str) {
    let bob = ServerClient::new(&lb.url(), Some(BOB_ENV)).expect("client");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !bob
        .shares()
        .await
        .unwrap_or_default()
        .iter()
        .any(|s| s.id == id)
    {
        assert!(Instant::now() < deadline, "share {id} never listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Feeds `watcher` until its screen shows `text`; a stream that breaks is opened again
/// through the balancer and must start with a keyframe. Returns the outputs of each stream.
async fn watch_until(
    lb: &Haproxy,
    share: &str,
    watcher: &mut Watcher,
    text: &str,
    streams: &mut Vec<Vec<String>>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if watcher
            .until(left, |w| w.screen.text().contains(text))
            .await
        {
            return;
        }
        assert!(
            watcher.broken && Instant::now() < deadline,
            "{text:?} never arrived; the watcher's screen:\n{}",
            watcher.screen.text()
        );
        streams.push(std::mem::take(&mut watcher.outputs));
        *watcher = Watcher::open(&lb.url(), BOB_ENV, share, false).await;
        assert!(
            watcher
                .until(Duration::from_secs(10), |w| !w.outputs.is_empty())
                .await,
            "the stream opened again shows nothing"
        );
        assert!(
            watcher.outputs[0].starts_with(KEYFRAME),
            "a watcher's new stream starts at a keyframe: {:?}",
            watcher.outputs[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_database_restart_mid_share_keeps_the_sharer_uploading_and_the_watcher_whole() {
    let c = Cluster::start(&alice_without_approval()).await;
    let id = "sess-faults-db";
    let sharer = ServerClient::new(&c.lb.url(), Some(ALICE_ENV)).expect("client");
    let sharing = share::start(sharer, start_info(id));
    registered(&c.lb, id).await;
    let ui = FakeUi::start(sharing.feed.clone());
    ui.set_line("before the restart");
    let mut watcher = Watcher::open(&c.lb.url(), BOB_ENV, id, false).await;
    let mut streams = Vec::new();
    watch_until(&c.lb, id, &mut watcher, "before the restart", &mut streams).await;
    assert!(watcher.outputs[0].starts_with(KEYFRAME));

    tokio::task::block_in_place(|| c.pg.restart());
    let restarted_at = watcher.outputs.len();
    ui.set_line("after the restart");
    watch_until(&c.lb, id, &mut watcher, "after the restart", &mut streams).await;
    // The sharer came back with a full redraw, and the watcher got it.
    let since_restart = if streams.is_empty() {
        &watcher.outputs[restarted_at..]
    } else {
        &watcher.outputs[..]
    };
    assert!(
        since_restart.iter().any(|o| o.starts_with(KEYFRAME)),
        "no keyframe reached the watcher after the restart"
    );
    assert!(
        sharing.feed.dropped() > 0,
        "frames drawn while the database was away are dropped and counted"
    );
    streams.push(std::mem::take(&mut watcher.outputs));
    let streams: Vec<&[String]> = streams.iter().map(Vec::as_slice).collect();
    nothing_lost_or_doubled(&c.pg, id, ui, &sharing, &streams, true).await;
    sharing.finish().await;
}

// ---------------------------------------------------------------------------------------------
// 4. The balancer moves a long-poll and an event stream to the other replica
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_a_long_poll_moved_to_the_other_replica_gets_the_truth_there() {
    let c = Cluster::start(&bob_approves()).await;
    // Everything goes to r0 for now: alice's request and her long-poll.
    c.lb.disable(1);
    let report = c.alice_deletes_the_pod();
    let (id, _) = c.request_in("pending", false).await;
    // The POST answered (202), then her long-poll is what r0 serves.
    c.lb.wait_served("POST /v1/actions ", 0, 202, LB_LOGS_WITHIN)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.lb.in_flight(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "alice's long-poll never reached r0"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The balancer moves traffic from r0 to r1 and cuts what r0 was serving.
    c.lb.enable(1);
    c.lb.wait_status(1, "UP", LB_NOTICES_WITHIN).await;
    c.lb.disable(0);
    c.lb.cut_sessions(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.lb.in_flight(1) == 0 {
        assert!(
            Instant::now() < deadline,
            "alice's client did not come back on r1; haproxy log:\n{}",
            c.lb.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !report.is_finished(),
        "the client gave up on a cut long-poll"
    );

    let (code, ran) = bob_approves_through(&c.lb, &id).await;
    assert_eq!((code, ran["status"].as_str()), (200, Some("done")), "{ran}");
    let report = tokio::time::timeout(Duration::from_secs(30), report)
        .await
        .expect("alice's client still waiting")
        .expect("join");
    assert_eq!(report.outcome, Outcome::Done, "{report:?}");
    // The long-poll that told her was r1's.
    c.lb.wait_served(&format!("/v1/actions/{id}/wait"), 1, 200, LB_LOGS_WITHIN)
        .await;
    c.one_intent_one_outcome(&id).await;
    assert_eq!(c.pod_deletes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_a_watcher_moved_to_the_other_replica_resumes_from_a_keyframe() {
    let mut c = Cluster::start(&alice_without_approval()).await;
    let id = "sess-faults-move";
    // Sharer and watcher both on r0.
    c.lb.disable(1);
    let sharer = ServerClient::new(&c.lb.url(), Some(ALICE_ENV)).expect("client");
    let sharing = share::start(sharer, start_info(id));
    registered(&c.lb, id).await;
    let ui = FakeUi::start(sharing.feed.clone());
    ui.set_line("on r0");
    let mut watcher = Watcher::open(&c.lb.url(), BOB_ENV, id, false).await;
    let mut streams = Vec::new();
    watch_until(&c.lb, id, &mut watcher, "on r0", &mut streams).await;

    // r0 dies (SIGKILL): the balancer takes both to r1.
    c.lb.enable(1);
    c.lb.wait_status(1, "UP", LB_NOTICES_WITHIN).await;
    c.replicas[0].kill();
    ui.set_line("moved to r1");
    watch_until(&c.lb, id, &mut watcher, "moved to r1", &mut streams).await;
    assert!(
        !streams.is_empty(),
        "the stream on the killed replica went on"
    );
    let streamed = c.lb.served(&format!("/v1/shares/{id}/stream"));
    assert!(
        streamed.first().is_some_and(|(s, _)| s == "r0"),
        "{streamed:?}"
    );

    // r0 restarts on its port; the balancer takes it back and moves the watcher there.
    c.restart_replica(0).await;
    c.lb.wait_status(0, "UP", LB_NOTICES_WITHIN).await;
    c.lb.disable(1);
    c.lb.cut_sessions(1);
    ui.set_line("back on r0");
    watch_until(&c.lb, id, &mut watcher, "back on r0", &mut streams).await;
    assert!(streams.len() >= 2, "the stream on r1 was not cut");
    let streamed = c.lb.served(&format!("/v1/shares/{id}/stream"));
    assert!(
        streamed.iter().any(|(s, _)| s == "r1"),
        "no stream was served by r1: {streamed:?}"
    );

    streams.push(std::mem::take(&mut watcher.outputs));
    let streams: Vec<&[String]> = streams.iter().map(Vec::as_slice).collect();
    nothing_lost_or_doubled(&c.pg, id, ui, &sharing, &streams, false).await;
    sharing.finish().await;
}
