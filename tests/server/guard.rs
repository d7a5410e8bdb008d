//! The guarded action end to end through `warroom server`: the real `warroom pg cancel-query`
//! binary with `[audit] endpoint` = a real server process, against a real PostgreSQL target;
//! the server's own PostgreSQL is a second server. Fail closed: server database down -> 503 ->
//! the CLI refuses and signals nothing.

use warroom_testkit::home;
use warroom_testkit::pg;
use warroom_testkit::server_process;

use home::Home;
use std::time::{Duration, SystemTime};

use pg::{BackgroundSession, HARNESS_APP, PgServer};
use serde_json::json;
use server_process::{ALICE, ALICE_TOKEN, Api, ServerProcess};

const REASON: &str = "INC-4711 runaway report query blocks checkout";
const CANCEL_ERROR: &str = "ERROR:  canceling statement due to user request";

/// A home whose config points the audit at the server, with Alice's token.
fn home_for(target: &PgServer, server: &ServerProcess) -> Home {
    let home = Home::new().with_env("WARROOM_AUDIT_TOKEN", ALICE_TOKEN);
    let text = format!(
        r#"[[postgres]]
name = "pg-test"
url = "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"

[audit]
file = "{file}"
endpoint = "{url}/v1/audit"
token_env = "WARROOM_AUDIT_TOKEN"
timeout = "2s"
identity = "{ALICE}"
"#,
        port = target.port(),
        file = home.audit_file().display(),
        url = server.url(),
    );
    home.set_config(&text);
    home
}

async fn sleeper(pg: &PgServer) -> (BackgroundSession, SystemTime) {
    let session = pg.spawn_query("report-job", "SELECT pg_sleep(600)").await;
    pg.wait_for_state(
        &[session.pid()],
        "state = 'active' AND wait_event = 'PgSleep'",
        "sleeping in pg_sleep",
    )
    .await;
    let client = pg.connect("postgres", HARNESS_APP).await;
    let started: SystemTime = client
        .query_one(
            "SELECT query_start FROM pg_stat_activity WHERE pid = $1",
            &[&session.pid()],
        )
        .await
        .expect("activity")
        .get(0);
    (session, started)
}

fn server_db(pg: &PgServer) -> String {
    format!("{}?sslmode=disable", pg.url("postgres", "postgres"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_query_through_the_server_acts_and_the_server_holds_both_records() {
    let (target, store) = (PgServer::start(), PgServer::start());
    let server = ServerProcess::start_replica(&server_db(&store), "").await;
    let home = home_for(&target, &server);
    let (session, _) = sleeper(&target).await;
    let pid = session.pid().to_string();

    let out = home
        .warroom(&["pg", "cancel-query", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(out.status.success());
    target
        .wait_for_state(&[session.pid()], "state = 'idle'", "idle after the cancel")
        .await;

    // The server holds exactly what the local file holds, stamped with the caller.
    let local = home.records();
    assert_eq!(local.len(), 2);
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    for record in &local {
        let id = record["id"].as_str().expect("id");
        let (status, got) = api.get(&format!("/v1/audit/{id}")).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(&got["record"], record);
        assert_eq!(got["received_from"], json!(ALICE));
        assert_eq!(got["identity_mismatch"], json!(false));
    }
    assert_eq!(local[0]["reason"], json!(REASON));
    assert_eq!(local[1]["outcome"]["ok"], json!(true));
    let session_id = local[0]["session_id"].as_str().expect("session");
    let (_, report) = api.get(&format!("/v1/sessions/{session_id}/verify")).await;
    assert_eq!(report["status"], json!("intact"), "{report}");
    assert_eq!(report["records"], json!(2));

    // The CLI reads the server back with the same lines as the file, each followed by who
    // sent it as the server authenticated it.
    let from_server = home
        .warroom(&["audit", "tail", "--server", &server.url()])
        .await;
    let from_file = home.warroom(&["audit", "tail"]).await;
    assert!(from_server.status.success());
    let file_text = String::from_utf8_lossy(&from_file.stdout);
    let server_text = String::from_utf8_lossy(&from_server.stdout);
    let server_lines: Vec<&str> = server_text.lines().collect();
    let file_lines: Vec<&str> = file_text.lines().collect();
    assert_eq!(server_lines.len(), file_lines.len(), "{server_text}");
    for (from_server, from_file) in server_lines.iter().zip(&file_lines) {
        let (line, sender) = from_server
            .rsplit_once(" from=")
            .unwrap_or_else(|| panic!("no sender: {from_server}"));
        assert_eq!(line, *from_file);
        assert!(sender.starts_with(ALICE), "{sender}");
    }
    let timeline = home
        .warroom(&["audit", "timeline", "--server", &server.url()])
        .await;
    let file_timeline = home.warroom(&["audit", "timeline"]).await;
    assert!(timeline.status.success());
    // The same table, except "who": the server names the authenticated sender first.
    let from_server = String::from_utf8_lossy(&timeline.stdout).into_owned();
    let from_file = String::from_utf8_lossy(&file_timeline.stdout).into_owned();
    let who = |table: &str| -> Vec<String> {
        table
            .lines()
            .skip(2)
            .map(|l| l.split(" | ").nth(1).unwrap_or_default().to_string())
            .collect()
    };
    let local_who = who(&from_file);
    let server_who = who(&from_server);
    assert_eq!(server_who.len(), local_who.len(), "{from_server}");
    for (server, local) in server_who.iter().zip(&local_who) {
        assert!(server.starts_with(&format!("{ALICE} (")), "{server}");
        assert!(local.ends_with(&format!("({ALICE})")), "{local}");
    }
    assert_eq!(
        from_server.replace(&server_who[0], "WHO"),
        from_file.replace(&local_who[0], "WHO")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_database_down_means_503_and_the_cli_refuses_and_signals_nothing() {
    let (target, store) = (PgServer::start(), PgServer::start());
    let server = ServerProcess::start_replica(&server_db(&store), "").await;
    let home = home_for(&target, &server);
    let (session, started) = sleeper(&target).await;
    let pid = session.pid().to_string();

    store.stop();
    let out = home
        .warroom(&["pg", "cancel-query", "--pid", &pid, "--reason", REASON])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was done"), "{err}");
    assert!(err.contains("503"), "{err}");

    // Nothing was signalled: the same query still sleeps, no signalling statement was sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!session.query_finished(), "the sleeping query ended");
    let client = target.connect("postgres", HARNESS_APP).await;
    let row = client
        .query_one(
            "SELECT state, wait_event, query_start FROM pg_stat_activity WHERE pid = $1",
            &[&session.pid()],
        )
        .await
        .expect("still there");
    assert_eq!(row.get::<_, String>(0), "active");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("PgSleep"));
    assert_eq!(row.get::<_, SystemTime>(2), started);
    let log = target.log_contents();
    assert!(!log.contains(CANCEL_ERROR) && !log.contains("warroom audit_id="));
    // The local trail says it was not executed.
    let local = home.records();
    assert_eq!(local.len(), 2);
    assert_eq!(local[1]["outcome"]["ok"], json!(false));
}
