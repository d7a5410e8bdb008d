//! The TUI's guarded action (headless driver, real event loop, workers and guard) against a real
//! PostgreSQL target, with the audit call going to a real `warroom server` process: the records
//! end up on the server, stamped with the authenticated identity, and the chain verifies.

use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pg::PgServer;
use serde_json::json;
use server_process::{ALICE, ALICE_TOKEN, Api, ServerProcess};
use warroom_core::config::Config;
use warroom_tui::app::{Layer, Msg};
use warroom_tui::setup::{self, Options};
use warroom_tui::terminal::Driver;

const LIMIT: Duration = Duration::from_secs(20);
const REASON: &str = "INC-5150 report query hogs the primary";

fn press(d: &mut Driver, code: KeyCode) {
    d.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tuis_cancel_is_recorded_on_the_server() {
    let (target, store) = (PgServer::start(), PgServer::start());
    let db = format!("{}?sslmode=disable", store.url("postgres", "postgres"));
    let server = ServerProcess::start_replica(&db, "").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"[[postgres]]
name = "pg-test"
url = "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable"

[audit]
file = "{}"
endpoint = "{}/v1/audit"
token_env = "WARROOM_TUI_TEST_TOKEN"
timeout = "2s"
identity = "{ALICE}"
"#,
            target.port(),
            dir.path().join("audit.jsonl").display(),
            server.url()
        ),
    )
    .expect("config");
    // SAFETY: the only test in this binary; set before the runtime reads the environment.
    unsafe { std::env::set_var("WARROOM_TUI_TEST_TOKEN", ALICE_TOKEN) };
    let config = Config::load(Some(&config_path)).expect("config loads");
    let sleeper = target
        .spawn_query("report-job", "SELECT pg_sleep(600)")
        .await;
    let pid = sleeper.pid();
    let (app, backends) = setup::real(&config, &Options::default()).expect("setup");
    let mut d = Driver::start(app, backends);

    assert!(
        d.run_until(LIMIT, |a| pg(a)
            .snapshot()
            .is_some_and(|s| s.sessions.iter().any(|s| s.pid == pid)))
            .await,
        "the sleeper shows up"
    );
    for _ in 0..50 {
        if pg(d.app()).selected_session().map(|s| s.pid) == Some(pid) {
            break;
        }
        press(&mut d, KeyCode::Char('j'));
    }
    assert_eq!(pg(d.app()).selected_session().map(|s| s.pid), Some(pid));
    press(&mut d, KeyCode::Char('c'));
    assert!(
        matches!(d.app().layers().last(), Some(Layer::Reason(_))),
        "{:?}",
        d.app().layers()
    );
    for c in REASON.chars() {
        press(&mut d, KeyCode::Char(c));
    }
    press(&mut d, KeyCode::Enter);
    assert!(matches!(d.app().layers().last(), Some(Layer::Confirm(_))));
    press(&mut d, KeyCode::Tab);
    press(&mut d, KeyCode::Enter);
    let toast = |a: &warroom_tui::app::App| a.toast().map(|t| t.text.clone()).unwrap_or_default();
    assert!(
        d.run_until(LIMIT, |a| toast(a)
            .contains(&format!("pg_cancel_backend({pid}) returned true")))
            .await,
        "{}",
        toast(d.app())
    );
    target
        .wait_for_state(&[pid], "state = 'idle'", "idle after the cancel")
        .await;

    // On the server: intent then outcome, from alice, chained.
    let api = Api::new(&server.url(), Some(ALICE_TOKEN));
    let deadline = std::time::Instant::now() + LIMIT;
    let records = loop {
        let (status, page) = api.get("/v1/audit?action=pg.cancel&context=pg-test").await;
        assert_eq!(status, 200, "{page}");
        let records = page["records"].as_array().cloned().unwrap_or_default();
        if records.len() >= 2 || std::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(records.len(), 2, "{records:?}");
    let (outcome, intent) = (&records[0], &records[1]);
    assert_eq!(intent["record"]["phase"], json!("intent"));
    assert_eq!(intent["record"]["reason"], json!(REASON));
    assert_eq!(intent["record"]["target"]["pid"], json!(pid));
    assert_eq!(intent["received_from"], json!(ALICE));
    assert_eq!(outcome["record"]["intent_id"], intent["record"]["id"]);
    assert_eq!(outcome["record"]["outcome"]["ok"], json!(true));
    let session = intent["record"]["session_id"].as_str().expect("session");
    let (_, report) = api.get(&format!("/v1/sessions/{session}/verify")).await;
    assert_eq!(report["status"], json!("intact"), "{report}");
}

fn pg(app: &warroom_tui::app::App) -> &warroom_tui::panes::pg::PgPane {
    app.pane_of::<warroom_tui::panes::pg::PgPane>()
        .expect("the PostgreSQL pane")
}
