//! Records nobody can forge, against a real `warroom server` and real PostgreSQL: what the
//! server writes itself (its delegated actions and refusals) is sent as `server:<replica>` into
//! a `server:` session that `POST /v1/audit` refuses, and no client record may carry a
//! `delegation`; chains are per (session, sender), so a record posted into someone else's
//! session is counted as foreign, never linked into (or forking) the owner's chain; `audit
//! tail|timeline --server` show who sent each record and flag a declared identity that differs.

use warroom_testkit::home::Home;
use warroom_testkit::pg::PgServer;
use warroom_testkit::server_process::{
    ALICE, ALICE_TOKEN, Api, BOB, BOB_TOKEN, ServerProcess, client_record,
};

use serde_json::{Value, json};
use warroom_core::audit::GENESIS_HASH;

use super::actions::{ALLOW_ALL, REASON, cluster, post_cancel, replica, state};

async fn stored(pg: &PgServer, id: &str) -> i64 {
    state(pg)
        .await
        .query_one("SELECT count(*) FROM audit_records WHERE id = $1", &[&id])
        .await
        .expect("count")
        .get(0)
}

/// Bob asks for a cancel no rule allows: the server records the refused intent and its outcome
/// in its own session. Answers that intent as the API serves it to him.
async fn server_written_record(server: &ServerProcess) -> Value {
    let api = Api::new(&server.url(), Some(BOB_TOKEN));
    let (status, refusal) = post_cancel(server, BOB_TOKEN, 1, json!(null), REASON).await;
    assert_eq!(status, 403, "{refusal}");
    let audit_id = refusal["audit_id"]
        .as_str()
        .expect("audit id of the refusal");
    let (status, record) = api.get(&format!("/v1/audit/{audit_id}")).await;
    assert_eq!(status, 200, "{record}");
    record
}

/// `warroom` with `token` for `--server`.
fn cli_of(token: &str) -> Home {
    let home = Home::new().with_env("WARROOM_TEST_TOKEN", token);
    home.set_config("[audit]\ntoken_env = \"WARROOM_TEST_TOKEN\"\n");
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_post_a_record_that_passes_for_one_the_server_wrote() {
    let pg = cluster().await;
    let server = replica(&pg, ALLOW_ALL).await;
    let alice = Api::new(&server.url(), Some(ALICE_TOKEN));

    // The server's own record: its sender and session are in its namespace; it vouches for the
    // requester it acted for, so that is no mismatch.
    let genuine = server_written_record(&server).await;
    let sender = genuine["received_from"].as_str().unwrap_or_default();
    let session = genuine["record"]["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(sender.starts_with("server:"), "{genuine}");
    assert!(session.starts_with(&format!("{sender}:")), "{genuine}");
    assert_eq!(genuine["record"]["actor"]["identity"], BOB, "{genuine}");
    assert_eq!(genuine["identity_mismatch"], false, "{genuine}");
    assert!(genuine["record"]["target"]["delegation"].is_object());

    // Alice forges "approved by carol" into the server's session, after its head.
    let (_, report) = alice.get(&format!("/v1/sessions/{session}/verify")).await;
    let head = report["last_hash"].as_str().expect("head").to_string();
    let mut forged = client_record(
        "forged-1",
        &session,
        "2026-12-07T10:00:00.000Z",
        Some(ALICE),
    );
    forged.action = "pg.terminate".into();
    forged.target = json!({"pid": 14024, "delegation": {
        "request_id": "r-1", "requested_by": ALICE, "approved_by": "carol@example.com"}});
    let (status, answer) = alice.post(forged.seal(&head).expect("seal")).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("the server's own"),
        "{answer}"
    );
    // In her own session the delegation is refused just the same.
    forged.id = "forged-2".into();
    forged.session_id = "alice-own-session".into();
    let (status, answer) = alice.post(forged.seal(GENESIS_HASH).expect("seal")).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("target.delegation"),
        "{answer}"
    );
    assert_eq!(
        stored(&pg, "forged-1").await + stored(&pg, "forged-2").await,
        0
    );

    // The server's next genuine records keep its chain intact (no "inserted fork").
    server_written_record(&server).await;
    let home = cli_of(ALICE_TOKEN);
    let url = server.url();
    let out = home.warroom_blocking(&["audit", "verify", "--server", &url, "--session", &session]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("chain intact, 4 record(s)"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_posted_into_another_senders_session_is_foreign_and_tail_names_its_sender() {
    let pg = cluster().await;
    let server = replica(&pg, ALLOW_ALL).await;
    let alice = Api::new(&server.url(), Some(ALICE_TOKEN));
    let bob = Api::new(&server.url(), Some(BOB_TOKEN));

    let mut first = client_record("a-1", "alice-s", "2026-12-07T09:00:00.000Z", Some(ALICE));
    let line = first.seal(GENESIS_HASH).expect("seal");
    assert_eq!(alice.post(line).await.0, 200);
    let mut second = client_record("a-2", "alice-s", "2026-12-07T09:00:01.000Z", Some(ALICE));
    let line = second.seal(&first.hash).expect("seal");
    assert_eq!(alice.post(line).await.0, 200);
    // Bob posts a record after alice's first one, into her session, declaring he is alice.
    let mut forged = client_record("b-1", "alice-s", "2026-12-07T09:00:02.000Z", Some(ALICE));
    forged.reason = "INC-42 nothing to see here".into();
    let line = forged.seal(&first.hash).expect("seal");
    assert_eq!(bob.post(line).await.0, 200);

    let (_, report) = alice.get("/v1/sessions/alice-s/verify").await;
    assert_eq!(report["sender"], ALICE, "{report}");
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["records"], 2, "{report}");
    assert_eq!(report["last_hash"], json!(second.hash), "{report}");
    assert_eq!(
        report["foreign"],
        json!([{"sender": BOB, "records": 1}]),
        "{report}"
    );

    // Bob squats alice's session id as a share: her timeline never links to his recording.
    let squat = bob
        .send_json(
            reqwest::Method::PUT,
            "/v1/shares/alice-s",
            &json!({"width": 80, "height": 24}),
        )
        .await;
    assert_eq!(squat.status(), 200);

    let home = cli_of(ALICE_TOKEN);
    let url = server.url();
    let out = home.warroom_blocking(&["audit", "timeline", "--server", &url, "-o", "json"]);
    let entries: Value = serde_json::from_slice(&out.stdout).expect("timeline json");
    let own = entries
        .as_array()
        .and_then(|e| e.iter().find(|e| e["audit_id"] == "a-1"))
        .unwrap_or_else(|| panic!("a-1 not in the timeline: {entries}"));
    assert!(
        own.get("recording").is_none(),
        "linked to bob's share: {own}"
    );
    let out = home.warroom_blocking(&["audit", "verify", "--server", &url, "--session", "alice-s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("intact (2 record(s))") && err.contains(&format!("{BOB} (1 record(s))")),
        "{err}"
    );

    // tail and timeline say who sent what; what a record declares is only beside it. Each
    // reads their own records (bob his forgery, alice her own).
    let bobs = cli_of(BOB_TOKEN);
    let out = bobs.warroom_blocking(&["audit", "tail", "-n", "3", "--server", &url]);
    let tail = String::from_utf8_lossy(&out.stdout);
    let forged_line = tail
        .lines()
        .find(|l| l.contains("id=b-1"))
        .unwrap_or_else(|| panic!("b-1 not in bob's tail:\n{tail}"));
    assert!(
        forged_line.contains(&format!("from={BOB} (declares {ALICE}: IDENTITY MISMATCH)")),
        "{forged_line}"
    );
    let out = home.warroom_blocking(&["audit", "tail", "-n", "3", "--server", &url]);
    let tail = String::from_utf8_lossy(&out.stdout);
    assert!(
        !tail.contains("id=b-1"),
        "alice reads bob's record:\n{tail}"
    );
    let own_line = tail
        .lines()
        .find(|l| l.contains("id=a-2"))
        .unwrap_or_else(|| panic!("a-2 not in the tail:\n{tail}"));
    assert!(
        own_line.contains(&format!("from={ALICE} (alice@laptop)")),
        "{own_line}"
    );
    let out = bobs.warroom_blocking(&["audit", "timeline", "--server", &url]);
    let timeline = String::from_utf8_lossy(&out.stdout);
    let row = timeline
        .lines()
        .find(|l| l.contains("nothing to see here"))
        .unwrap_or_else(|| panic!("the forged record is not in the timeline:\n{timeline}"));
    assert!(
        row.contains(&format!("{BOB} (declares {ALICE}: IDENTITY MISMATCH)")),
        "{row}"
    );
}
