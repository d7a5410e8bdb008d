//! One person, one identity: the server compares identities in one canonical form (trimmed,
//! lower-cased), whether they come from a static token, an OIDC token or a rule. Alice's static
//! token and an OIDC token for `ALICE@EXAMPLE.COM` are the same person: she cannot approve her
//! own request with the other one, rules naming `Alice@Example.COM` match her, her records and
//! shares are hers under either token, and a record declaring `Alice@example.com` is no
//! identity mismatch (one declaring bob is).

use std::time::SystemTime;

use reqwest::Method;
use serde_json::{Value, json};
use warroom_core::audit::GENESIS_HASH;
use warroom_core::guard::PgTarget;
use warroom_testkit::pg::PgServer;
use warroom_testkit::server_process::{
    ALICE, ALICE_TOKEN, Api, BOB, BOB_TOKEN, ServerProcess, client_record, config_text, free_port,
};

use super::oidc::{AUDIENCE, TestKey, now, start_idp};

const REASON: &str = "INC-4711 runaway report query blocks checkout";
const BOB_REASON: &str = "checked the lock graph: the report job is the blocker";

/// An OIDC token of `k1` for `email` (verified), in the groups `groups`.
fn oidc_token(k1: &TestKey, issuer: &str, email: &str, groups: &[&str]) -> String {
    k1.sign(
        "k1",
        &json!({"iss": issuer, "aud": AUDIENCE, "email": email, "email_verified": true,
                "groups": groups, "exp": now() + 300, "iat": now()}),
    )
}

/// (status, JSON answer) of `method path` with `token`.
async fn call(
    server: &ServerProcess,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let api = Api::new(&server.url(), Some(token));
    let r = api.send_json(method, path, &body).await;
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_token_and_an_oidc_token_of_one_person_are_one_requester() {
    let k1 = TestKey::new("k1");
    let (_idp, issuer) = start_idp(json!({"keys": [k1.jwk()]})).await;
    let pg = PgServer::start();
    pg.exec("CREATE DATABASE warroom").await;
    let port = free_port();
    let state_db = format!("{}?sslmode=disable", pg.url("postgres", "warroom"));
    // The rule spells both identities in another case than the tokens do.
    let config = format!(
        "{}\n[server.oidc]\nissuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\n\
         [[server.rule]]\nname = \"alice asks, a second person approves\"\n\
         identities = [\"Alice@Example.COM\"]\ncontexts = [\"prod\"]\nactions = [\"pg.*\"]\n\
         approval = {{ required = true, approvers = [\"group:sre\", \"Bob@Example.com\"], timeout = \"5m\" }}\n\
         [[postgres]]\nname = \"prod\"\nurl = \"postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable\"\n",
        config_text(
            port,
            &state_db,
            "actions_audit_file = \"actions-audit.jsonl\""
        ),
        pg.port()
    );
    let server = ServerProcess::start(port, &config).await;

    let session = pg.spawn_query("report-job", "SELECT pg_sleep(600)").await;
    pg.wait_for_state(
        &[session.pid()],
        "state = 'active' AND wait_event = 'PgSleep'",
        "sleeping in pg_sleep",
    )
    .await;
    let row = pg
        .connect("postgres", "identity-test")
        .await
        .query_one(
            "SELECT backend_start, query_start FROM pg_stat_activity WHERE pid = $1",
            &[&session.pid()],
        )
        .await
        .expect("activity");
    let target = PgTarget {
        context: "prod".into(),
        pid: session.pid(),
        backend_start: row.get::<_, Option<SystemTime>>(0),
        query_start: row.get::<_, Option<SystemTime>>(1),
        user: None,
        application: String::new(),
        database: None,
        state: None,
        query: String::new(),
    };
    let cancel = json!({"action": {"name": "pg.cancel", "target": target}, "reason": REASON});

    // Alice's static token: the rule for "Alice@Example.COM" is hers; it waits for approval.
    let (status, request) = call(&server, ALICE_TOKEN, Method::POST, "/v1/actions", cancel).await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(request["requester"], ALICE, "{request}");
    assert_eq!(request["approvers"], json!(["group:sre", BOB]), "{request}");
    let id = request["id"].as_str().expect("id").to_string();
    let verdict = json!({"reason": BOB_REASON, "binding": request["binding"]});

    // Alice again, with an OIDC token in another case and in group sre: not an approver of
    // her own request, and refused when she tries.
    let alice_oidc = oidc_token(&k1, &issuer, "ALICE@EXAMPLE.COM", &["sre"]);
    let (status, list) = Api::new(&server.url(), Some(&alice_oidc))
        .get("/v1/approvals")
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["requests"][0]["can_decide"], false, "{list}");
    let approve = format!("/v1/actions/{id}/approve");
    let (status, answer) = call(
        &server,
        &alice_oidc,
        Method::POST,
        &approve,
        verdict.clone(),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or("")
            .contains("your own request"),
        "{answer}"
    );
    let deny = format!("/v1/actions/{id}/deny");
    let (status, answer) = call(&server, &alice_oidc, Method::POST, &deny, verdict.clone()).await;
    assert_eq!(status, 403, "{answer}");

    // Bob ("Bob@Example.com" in the rule) may decide, and does.
    let (_, list) = Api::new(&server.url(), Some(BOB_TOKEN))
        .get("/v1/approvals")
        .await;
    assert_eq!(list["requests"][0]["can_decide"], true, "{list}");
    let (status, answer) = call(&server, BOB_TOKEN, Method::POST, &approve, verdict).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"]["by"], BOB, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_shares_belong_to_the_canonical_identity() {
    let k1 = TestKey::new("k1");
    let (_idp, issuer) = start_idp(json!({"keys": [k1.jwk()]})).await;
    let pg = PgServer::start();
    let port = free_port();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let config = format!(
        "{}\n[server.oidc]\nissuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\n",
        config_text(port, &db, "")
    );
    let server = ServerProcess::start(port, &config).await;
    let alice = Api::new(&server.url(), Some(ALICE_TOKEN));
    let alice_oidc = oidc_token(&k1, &issuer, " Alice@Example.com", &[]);

    // Declared in another case by alice: no mismatch; declared bob: a mismatch.
    for (id, declared, mismatch) in [
        ("rec-case", "Alice@Example.com", false),
        ("rec-bob", "bob@example.com", true),
    ] {
        let mut r = client_record(
            id,
            &format!("session-{id}"),
            "2026-03-01T09:30:00.000Z",
            Some(declared),
        );
        let (status, answer) = alice.post(r.seal(GENESIS_HASH).expect("seal")).await;
        assert_eq!(status, 200, "{answer}");
        let (_, got) = alice.get(&format!("/v1/audit/{id}")).await;
        assert_eq!(got["received_from"], ALICE, "{got}");
        assert_eq!(got["identity_mismatch"], mismatch, "{id}: {got}");
    }
    // Sent with the OIDC token: stamped with the same identity, found by it in any case.
    let mut r = client_record(
        "rec-oidc",
        "session-oidc",
        "2026-03-01T09:31:00.000Z",
        Some(ALICE),
    );
    let (status, answer) = Api::new(&server.url(), Some(&alice_oidc))
        .post(r.seal(GENESIS_HASH).expect("seal"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, got) = alice.get("/v1/audit/rec-oidc").await;
    assert_eq!(got["received_from"], ALICE, "{got}");
    assert_eq!(got["identity_mismatch"], false, "{got}");
    let (status, page) = alice.get("/v1/audit?actor=ALICE@example.com").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["records"].as_array().map(Vec::len), Some(3), "{page}");

    // A share started with the OIDC token is owned by alice: bob's token cannot take it over,
    // her static token resumes and ends it.
    let start = json!({"contexts": ["prod-main"], "width": 80, "height": 24});
    let (status, answer) = call(
        &server,
        &alice_oidc,
        Method::PUT,
        "/v1/shares/sess-canon",
        start.clone(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = call(
        &server,
        BOB_TOKEN,
        Method::PUT,
        "/v1/shares/sess-canon",
        start.clone(),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = call(
        &server,
        ALICE_TOKEN,
        Method::PUT,
        "/v1/shares/sess-canon",
        start,
    )
    .await;
    assert_eq!(
        status, 200,
        "the owner resumes it with the other token: {answer}"
    );
    let (_, live) = alice.get("/v1/shares").await;
    assert_eq!(live["shares"][0]["owner"], ALICE, "{live}");
    let (status, answer) = call(
        &server,
        ALICE_TOKEN,
        Method::POST,
        "/v1/shares/sess-canon/end",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (_, live) = alice.get("/v1/shares").await;
    assert_eq!(live["shares"], json!([]), "ended by its owner: {live}");
}
