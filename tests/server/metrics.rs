//! `GET /metrics` scraped by a real Prometheus (the Debian package): after an audit POST, a
//! 404, a refused action, a denied and an approved (and run) one and a share, Prometheus'
//! query API has the counts, labelled by route template (never a path's id); the access log
//! has one line per request with the identity and never a token.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Value, json};
use warroom_core::audit::GENESIS_HASH;
use warroom_core::guard::PgTarget;
use warroom_testkit::pg::PgServer;
use warroom_testkit::prometheus::Prometheus;
use warroom_testkit::server_process::{ALICE, ALICE_TOKEN, Api, BOB, BOB_TOKEN, client_record};

use super::actions::{BOB_REASON, REASON, cluster, http, post_cancel, replica, sleeper};

/// Alice's cancels wait for bob; bob has no rule (refused).
fn rules() -> String {
    format!(
        r#"
[[server.rule]]
name = "alice asks bob"
identities = ["{ALICE}"]
contexts = ["prod"]
actions = ["pg.*"]
approval = {{ required = true, approvers = ["{BOB}"], timeout = "10m" }}
"#
    )
}

/// A cancel of `pid` as the client reads it from pg_stat_activity.
async fn cancel_of(pg: &PgServer, pid: i32) -> Value {
    let row = pg
        .connect("postgres", "metrics-test")
        .await
        .query_one(
            "SELECT backend_start, query_start FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .expect("activity");
    let target = PgTarget {
        context: "prod".into(),
        pid,
        backend_start: row.get::<_, Option<SystemTime>>(0),
        query_start: row.get::<_, Option<SystemTime>>(1),
        user: None,
        application: String::new(),
        database: None,
        state: None,
        query: String::new(),
    };
    json!({"action": {"name": "pg.cancel", "target": target}, "reason": REASON})
}

/// Alice asks, bob approves or denies: the decision's answer.
async fn decided(
    server: &warroom_testkit::server_process::ServerProcess,
    cancel: &Value,
    verb: &str,
) -> Value {
    let (status, pending) = http(
        server,
        ALICE_TOKEN,
        Method::POST,
        "/v1/actions",
        Some(cancel.clone()),
    )
    .await;
    assert_eq!(status, 202, "{pending}");
    let id = pending["id"].as_str().expect("request id");
    let verdict = json!({"reason": BOB_REASON, "binding": pending["binding"]});
    let (status, answer) = http(
        server,
        BOB_TOKEN,
        Method::POST,
        &format!("/v1/actions/{id}/{verb}"),
        Some(verdict),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_counts_of_requests_audit_approvals_actions_and_shares() {
    let pg = cluster().await;
    let server = replica(&pg, &rules()).await;
    let alice = Api::new(&server.url(), Some(ALICE_TOKEN));

    // An audit record, and a read of one that does not exist (404 under the route template).
    let mut record = client_record("m-1", "metrics-s", "2026-12-07T09:00:00.000Z", Some(ALICE));
    let body = record.seal(GENESIS_HASH).expect("seal");
    let (status, answer) = alice.post(body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = alice.get("/v1/audit/no-such-record-4711").await;
    assert_eq!(status, 404);

    // Bob has no rule: refused. Alice's cancel: denied once, then approved and run.
    let (status, refusal) = post_cancel(&server, BOB_TOKEN, 1, json!(null), REASON).await;
    assert_eq!(status, 403, "{refusal}");
    let session = sleeper(&pg).await;
    let cancel = cancel_of(&pg, session.pid()).await;
    let denied = decided(&server, &cancel, "deny").await;
    assert_eq!(denied["status"], "denied", "{denied}");
    let done = decided(&server, &cancel, "approve").await;
    assert_eq!(done["status"], "done", "{done}");

    // A live share.
    let share = alice
        .send_json(
            Method::PUT,
            "/v1/shares/metrics-share",
            &json!({"width": 80, "height": 24}),
        )
        .await;
    assert_eq!(share.status(), 200);

    let prometheus = Prometheus::start(&format!("127.0.0.1:{}", server.port)).await;
    let within = Duration::from_secs(30);
    prometheus
        .wait_for(r#"up{job="warroom"}"#, 1.0, within)
        .await;
    for (expr, want) in [
        (
            r#"warroom_http_requests_total{method="POST",route="/v1/audit",status="200"}"#,
            1.0,
        ),
        (
            r#"warroom_http_requests_total{method="GET",route="/v1/audit/{id}",status="404"}"#,
            1.0,
        ),
        (
            r#"warroom_http_requests_total{method="POST",route="/v1/actions",status="403"}"#,
            1.0,
        ),
        (
            r#"warroom_http_requests_total{method="POST",route="/v1/actions",status="202"}"#,
            2.0,
        ),
        (
            r#"warroom_http_request_duration_seconds_count{method="PUT",route="/v1/shares/{id}"}"#,
            1.0,
        ),
        // Alice's record, and the server's own: intent and outcome of the refusal and of the
        // approved cancel (a denial writes none). Each was awaited before the next: 5 commits.
        ("warroom_audit_batch_records_sum", 5.0),
        ("warroom_audit_commit_duration_seconds_count", 5.0),
        (r#"warroom_approvals_total{state="requested"}"#, 2.0),
        (r#"warroom_approvals_total{state="denied"}"#, 1.0),
        (r#"warroom_approvals_total{state="approved"}"#, 1.0),
        (
            r#"warroom_approval_decision_seconds_count{state="approved"}"#,
            1.0,
        ),
        (
            r#"warroom_actions_total{action="pg.cancel",outcome="refused"}"#,
            1.0,
        ),
        (
            r#"warroom_actions_total{action="pg.cancel",outcome="done"}"#,
            1.0,
        ),
        ("warroom_shares_live", 1.0),
        ("warroom_share_watchers", 0.0),
        ("warroom_db_pool_max", 16.0),
        ("warroom_connections_evicted_total", 0.0),
    ] {
        prometheus.wait_for(expr, want, within).await;
    }
    // Prometheus' own scrapes are connections, and requests (counted once answered: the next
    // scrape shows them).
    prometheus
        .wait_at_least("warroom_connections_open", 1.0, within)
        .await;
    prometheus
        .wait_at_least(
            r#"warroom_http_requests_total{route="/metrics",status="200"}"#,
            1.0,
            within,
        )
        .await;

    // Labels are templates: no path id, identity or token in any series.
    let all = prometheus.query(r#"{job="warroom"}"#).await;
    let labels =
        serde_json::to_string(&all.iter().map(|(m, _)| m).collect::<Vec<_>>()).expect("labels");
    for secret in [
        "no-such-record",
        "metrics-share",
        ALICE,
        BOB,
        ALICE_TOKEN,
        BOB_TOKEN,
    ] {
        assert!(!labels.contains(secret), "{secret} in a label: {labels}");
    }

    // One access line per request: route template, status, identity; never a token.
    let log = server.log();
    let access: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "warroom::access")
        .collect();
    let audit_post = access
        .iter()
        .find(|l| l["fields"]["route"] == "/v1/audit" && l["fields"]["method"] == "POST")
        .unwrap_or_else(|| panic!("no access line of POST /v1/audit in:\n{log}"));
    assert_eq!(audit_post["fields"]["identity"], ALICE, "{audit_post}");
    assert_eq!(audit_post["fields"]["status"], 200, "{audit_post}");
    assert!(
        audit_post["fields"]["duration_ms"].is_number(),
        "{audit_post}"
    );
    let refused = access
        .iter()
        .find(|l| l["fields"]["status"] == 403)
        .unwrap_or_else(|| panic!("no access line of the refusal in:\n{log}"));
    assert_eq!(refused["fields"]["identity"], BOB, "{refused}");
    assert!(!log.contains(ALICE_TOKEN) && !log.contains(BOB_TOKEN));
    drop(session);
}
