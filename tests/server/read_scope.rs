//! Who may read what, against a real `warroom server` and real PostgreSQL: a person reads their
//! own records and requests (and the server's records of the actions it ran for them), an
//! approver also reads the requests they may decide or decided and the server's records of
//! those, an auditor (`[server] auditors`) reads everything, and anyone else gets 404 as if
//! the record, request or session did not exist.

use warroom_testkit::server_process::{
    ALICE, ALICE_TOKEN, Api, BOB_TOKEN, client_record, sha256_hex,
};

use serde_json::{Value, json};
use warroom_core::audit::GENESIS_HASH;

use super::actions::{BOB_REASON, cluster, http};
use super::execution::{ask_approval, bob_approves, emulator_with_pod, kube_replica_with};

const CAROL: &str = "carol@example.com";
const CAROL_TOKEN: &str = "carol-auditor-token-5d1e";
const DAVE: &str = "dave@example.com";
const DAVE_TOKEN: &str = "dave-bystander-token-91aa";

fn more_people() -> String {
    format!(
        "[[server.token]]\nidentity = \"{CAROL}\"\nsha256 = \"{}\"\n\n\
         [[server.token]]\nidentity = \"{DAVE}\"\nsha256 = \"{}\"\n",
        sha256_hex(CAROL_TOKEN),
        sha256_hex(DAVE_TOKEN)
    )
}

/// The ids of the records `token` reads through `GET /v1/audit`.
async fn ids_read_by(api_url: &str, token: &str) -> Vec<String> {
    let (status, page) = Api::new(api_url, Some(token)).get("/v1/audit").await;
    assert_eq!(status, 200, "{page}");
    page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["record"]["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_read_their_own_approvers_what_they_decide_and_auditors_everything() {
    let pg = cluster().await;
    let emu = emulator_with_pod().await;
    let tables = format!("{}\n{}", bob_approves(), more_people());
    let server = kube_replica_with(&pg, &emu, &tables, "auditors = [\"Carol@Example.com\"]").await;
    let url = server.url();

    let mut own = client_record("a-1", "alice-s", "2026-12-07T09:00:00.000Z", Some(ALICE));
    let line = own.seal(GENESIS_HASH).expect("seal");
    assert_eq!(Api::new(&url, Some(ALICE_TOKEN)).post(line).await.0, 200);
    let mut theirs = client_record("d-1", "dave-s", "2026-12-07T09:00:01.000Z", Some(DAVE));
    let line = theirs.seal(GENESIS_HASH).expect("seal");
    assert_eq!(Api::new(&url, Some(DAVE_TOKEN)).post(line).await.0, 200);

    // Alice asks for a pod delete; Bob approves it; the server records intent and outcome.
    let id = ask_approval(&server, &emu).await;
    let (status, done) = http(
        &server,
        BOB_TOKEN,
        reqwest::Method::POST,
        &format!("/v1/actions/{id}/approve"),
        Some(json!({ "reason": BOB_REASON })),
    )
    .await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("done")),
        "{done}"
    );
    let intent = done["reply"]["audit_id"]
        .as_str()
        .expect("audit id")
        .to_string();

    let alice_reads = ids_read_by(&url, ALICE_TOKEN).await;
    let bob_reads = ids_read_by(&url, BOB_TOKEN).await;
    let carol_reads = ids_read_by(&url, CAROL_TOKEN).await;
    let dave_reads = ids_read_by(&url, DAVE_TOKEN).await;
    let has = |ids: &[String], id: &str| ids.iter().any(|i| i == id);
    assert!(
        has(&alice_reads, "a-1") && has(&alice_reads, &intent),
        "{alice_reads:?}"
    );
    assert!(!has(&alice_reads, "d-1"), "{alice_reads:?}");
    assert_eq!(
        alice_reads.len(),
        3,
        "her record, the intent and outcome run for her"
    );
    assert!(
        has(&bob_reads, &intent) && bob_reads.len() == 2,
        "{bob_reads:?}"
    );
    assert_eq!(dave_reads, ["d-1"]);
    assert_eq!(carol_reads.len(), 4, "{carol_reads:?}");

    let as_dave = Api::new(&url, Some(DAVE_TOKEN));
    let as_carol = Api::new(&url, Some(CAROL_TOKEN));
    assert_eq!(as_dave.get("/v1/audit/a-1").await.0, 404);
    assert_eq!(as_carol.get("/v1/audit/a-1").await.0, 200);
    assert_eq!(as_dave.get("/v1/sessions/alice-s/verify").await.0, 404);
    assert_eq!(as_carol.get("/v1/sessions/alice-s/verify").await.0, 200);
    let (status, report) = Api::new(&url, Some(ALICE_TOKEN))
        .get("/v1/sessions/alice-s/verify")
        .await;
    assert_eq!((status, report["status"].as_str()), (200, Some("intact")));

    for (token, expected) in [
        (ALICE_TOKEN, 200),
        (BOB_TOKEN, 200),
        (CAROL_TOKEN, 200),
        (DAVE_TOKEN, 404),
    ] {
        let (status, answer) = http(
            &server,
            token,
            reqwest::Method::GET,
            &format!("/v1/actions/{id}"),
            None,
        )
        .await;
        assert_eq!(status, expected, "{token}: {answer}");
    }

    // A second request waits: listed for its requester, its approver and the auditor only.
    let (status, waiting) = http(
        &server,
        ALICE_TOKEN,
        reqwest::Method::POST,
        "/v1/actions",
        Some(delete_pod_again()),
    )
    .await;
    assert_eq!(status, 202, "{waiting}");
    let listed = |token: &'static str| {
        let server_url = url.clone();
        async move {
            let (status, answer) = Api::new(&server_url, Some(token))
                .get("/v1/approvals")
                .await;
            assert_eq!(status, 200, "{answer}");
            answer["requests"].as_array().cloned().unwrap_or_default()
        }
    };
    assert!(listed(DAVE_TOKEN).await.is_empty());
    let for_bob = listed(BOB_TOKEN).await;
    assert_eq!(for_bob.len(), 1, "{for_bob:?}");
    assert_eq!(for_bob[0]["can_decide"], true);
    let for_carol = listed(CAROL_TOKEN).await;
    assert_eq!(for_carol.len(), 1, "{for_carol:?}");
    assert_eq!(for_carol[0]["can_decide"], false);
    assert_eq!(listed(ALICE_TOKEN).await.len(), 1);
}

/// A delete of a pod that is gone by now: still a request to decide (the namespace is the
/// context's), which is all the listing needs.
fn delete_pod_again() -> Value {
    json!({
        "action": {"name": "kube.delete_pod", "target": {
            "context": "k8s", "namespace": super::execution::NS, "pod": "worker-1",
            "uid": "u-gone", "grace_period": null, "status": "Running", "node": null,
            "owner": null}},
        "reason": "INC-4711 the second worker loops too",
    })
}
