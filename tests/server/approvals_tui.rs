//! Four-eyes from the TUI (headless driver: the real event loop, workers, guard executor and
//! server delegate): alice's cancel on a `via = "server"` context becomes a pending request
//! (the waiting layer: request id, approver, time left), bob's warroom shows the
//! "1 approval waiting" badge, bob approves in `:approvals` with his own typed reason, alice's
//! result line comes back as for a local action, with the approver named; the badge goes away.
//! A second request is withdrawn with Esc: nothing runs.

use warroom_testkit::pg;
use warroom_testkit::server_process;
use warroom_testkit::ui;

use std::path::Path;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pg::PgServer;
use serde_json::Value;
use server_process::{ALICE_TOKEN, BOB, BOB_TOKEN, ServerProcess, config_text, free_port};
use warroom_core::config::Config;
use warroom_tui::app::{App, Layer, Msg};
use warroom_tui::setup::{self, Options};
use warroom_tui::terminal::Driver;

const LIMIT: Duration = Duration::from_secs(20);
const REASON: &str = "INC-5150 report query hogs the primary";

fn press(d: &mut Driver, code: KeyCode) {
    d.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn toast(a: &App) -> String {
    a.toast().map(|t| t.text.clone()).unwrap_or_default()
}

fn pg_pane(a: &App) -> &warroom_tui::panes::pg::PgPane {
    a.pane_of::<warroom_tui::panes::pg::PgPane>()
        .expect("the PostgreSQL pane")
}

fn write_config(
    dir: &Path,
    name: &str,
    pg: &PgServer,
    server: &ServerProcess,
    token_env: &str,
    extra: &str,
) -> Config {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            r#"[[postgres]]
name = "prod"
url = "postgres://monitor@127.0.0.1:{port}/postgres?sslmode=disable"
via = "server"

[server]
url = "{url}"
token_env = "{token_env}"

[audit]
file = "{audit}"
{extra}
"#,
            port = pg.port(),
            url = server.url(),
            audit = dir.join(format!("{name}.audit.jsonl")).display(),
        ),
    )
    .expect("config");
    Config::load(Some(&path)).expect("config loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tui_request_waits_for_approval_and_the_approvers_badge_counts_it() {
    let pg = PgServer::start();
    pg.exec("CREATE DATABASE warroom").await;
    pg.create_role("monitor", true).await;
    let port = free_port();
    let server_text = format!(
        r#"{}
[[server.rule]]
name = "prod needs a second pair of eyes"
identities = ["*"]
contexts = ["prod"]
actions = ["pg.*"]
approval = {{ required = true, approvers = ["{BOB}"], timeout = "5m" }}

[[postgres]]
name = "prod"
url = "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable"
"#,
        config_text(
            port,
            &format!("{}?sslmode=disable", pg.url("postgres", "warroom")),
            "actions_audit_file = \"actions-audit.jsonl\""
        ),
        pg.port()
    );
    let server = ServerProcess::start(port, &server_text).await;
    // SAFETY: the only test in this binary; set before anything reads the environment.
    unsafe {
        std::env::set_var("WARROOM_TUI_ALICE", ALICE_TOKEN);
        std::env::set_var("WARROOM_TUI_BOB", BOB_TOKEN);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let alice_config = write_config(
        dir.path(),
        "alice.toml",
        &pg,
        &server,
        "WARROOM_TUI_ALICE",
        "",
    );
    let bob_config = write_config(
        dir.path(),
        "bob.toml",
        &pg,
        &server,
        "WARROOM_TUI_BOB",
        // Bob approves with his own key: the view's keys come from the keymap.
        "[keys]\napproval_approve = \"Y\"",
    );

    let sleeper = pg.spawn_query("report-job", "SELECT pg_sleep(600)").await;
    let pid = sleeper.pid();
    let (app, backends) = setup::real(&alice_config, &Options::default()).expect("alice");
    let mut alice = Driver::start(app, backends);
    let (app, backends) = setup::real(&bob_config, &Options::default()).expect("bob");
    let mut bob = Driver::start(app, backends);
    assert_eq!(bob.app().approvals_waiting(), 0);

    assert!(
        alice
            .run_until(LIMIT, |a| pg_pane(a)
                .snapshot()
                .is_some_and(|s| s.sessions.iter().any(|s| s.pid == pid)))
            .await,
        "the sleeper shows up (read with the monitoring role)"
    );
    for _ in 0..50 {
        if pg_pane(alice.app()).selected_session().map(|s| s.pid) == Some(pid) {
            break;
        }
        press(&mut alice, KeyCode::Char('j'));
    }
    assert_eq!(
        pg_pane(alice.app()).selected_session().map(|s| s.pid),
        Some(pid)
    );
    // The same keys, prompt and confirmation as a local action.
    press(&mut alice, KeyCode::Char('c'));
    assert!(matches!(
        alice.app().layers().last(),
        Some(Layer::Reason(_))
    ));
    for c in REASON.chars() {
        press(&mut alice, KeyCode::Char(c));
    }
    press(&mut alice, KeyCode::Enter);
    assert!(matches!(
        alice.app().layers().last(),
        Some(Layer::Confirm(_))
    ));
    press(&mut alice, KeyCode::Tab);
    press(&mut alice, KeyCode::Enter);

    // Alice is told the request id and who can approve.
    assert!(
        alice
            .run_until(LIMIT, |a| toast(a)
                .contains("waiting for approval: request"))
            .await,
        "{}",
        toast(alice.app())
    );
    let waiting = toast(alice.app());
    assert!(waiting.contains(BOB), "{waiting}");
    let id: String = waiting
        .split("request ")
        .nth(1)
        .map(|r| {
            r.chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(id.len(), 36, "{waiting}");
    // The waiting layer: request id, who can approve, the time left, Esc withdraws.
    assert!(matches!(
        alice.app().layers().last(),
        Some(Layer::Waiting(_))
    ));
    let screen = ui::screen(alice.app(), 120, 30);
    assert!(screen.contains(&format!("request {id}")), "{screen}");
    assert!(
        screen.contains(&format!("who can approve: {BOB}")),
        "{screen}"
    );
    assert!(
        screen.contains("expires in 4m") || screen.contains("expires in 5m"),
        "{screen}"
    );
    assert!(screen.contains("Esc withdraws the request"), "{screen}");

    // Bob's warroom shows the badge.
    assert!(
        bob.run_until(LIMIT, |a| a.approvals_waiting() == 1).await,
        "bob's badge never counted the request"
    );
    let screen = ui::screen(bob.app(), 120, 30);
    assert!(screen.contains("1 approval waiting"), "{screen}");

    // `?` has a section for the view's keys (its lines are clipped at the popup's end when
    // earlier help lines wrap: a known help-layer limit, so only the heading is checked).
    press(&mut bob, KeyCode::Char('?'));
    let mut help = String::new();
    for _ in 0..12 {
        help.push_str(&ui::screen(bob.app(), 130, 60));
        press(&mut bob, KeyCode::PageDown);
    }
    assert!(help.contains("in :approvals"), "{help}");
    press(&mut bob, KeyCode::Esc);

    // Bob opens `:approvals`: the full description, target and reason; `a`, his own reason.
    press(&mut bob, KeyCode::Char(':'));
    for c in "approvals".chars() {
        press(&mut bob, KeyCode::Char(c));
    }
    press(&mut bob, KeyCode::Enter);
    assert!(
        bob.run_until(LIMIT, |a| matches!(
            a.layers().last(),
            Some(Layer::Approvals(v)) if v.rows.as_ref().is_some_and(|r| r.len() == 1)
        ))
        .await,
        "the approvals view never listed the request: {:?}",
        bob.app().layers()
    );
    let screen = ui::screen(bob.app(), 130, 40);
    assert!(screen.contains(&format!("request {id}")), "{screen}");
    assert!(screen.contains(&format!("reason: {REASON}")), "{screen}");
    assert!(
        screen.contains(&format!(
            "Cancel the running query of PostgreSQL session {pid}"
        )),
        "{screen}"
    );
    assert!(
        screen.contains("Y approve"),
        "the hint names bob's key: {screen}"
    );
    assert!(screen.contains("d deny"), "{screen}");
    // `a` is not bob's approve key: nothing starts.
    press(&mut bob, KeyCode::Char('a'));
    assert!(
        matches!(bob.app().layers().last(), Some(Layer::Approvals(v)) if v.typing.is_none()),
        "{:?}",
        bob.app().layers()
    );
    press(&mut bob, KeyCode::Char('Y'));
    for c in "checked: the report job is the blocker".chars() {
        press(&mut bob, KeyCode::Char(c));
    }
    press(&mut bob, KeyCode::Enter);
    assert!(
        bob.run_until(LIMIT, |a| toast(a).contains(&format!("request {id}: done")))
            .await,
        "{}",
        toast(bob.app())
    );
    let http = reqwest::Client::new();
    assert!(
        alice
            .run_until(LIMIT, |a| toast(a)
                .contains(&format!("pg_cancel_backend({pid}) returned true")))
            .await,
        "{}",
        toast(alice.app())
    );
    assert!(
        toast(alice.app()).contains(&format!("approved by {BOB}")),
        "{}",
        toast(alice.app())
    );
    assert!(
        !alice
            .app()
            .layers()
            .iter()
            .any(|l| matches!(l, Layer::Waiting(_))),
        "the waiting layer stays after the result"
    );
    assert!(
        bob.run_until(LIMIT, |a| a.approvals_waiting() == 0).await,
        "the badge stays after the approval"
    );

    // A second request, withdrawn with Esc: nothing runs, the result says so.
    while !alice.app().layers().is_empty() {
        press(&mut alice, KeyCode::Esc);
    }
    press(&mut alice, KeyCode::Char('c'));
    assert!(matches!(
        alice.app().layers().last(),
        Some(Layer::Reason(_))
    ));
    for c in REASON.chars() {
        press(&mut alice, KeyCode::Char(c));
    }
    press(&mut alice, KeyCode::Enter);
    press(&mut alice, KeyCode::Tab);
    press(&mut alice, KeyCode::Enter);
    assert!(
        alice
            .run_until(LIMIT, |a| matches!(
                a.layers().last(),
                Some(Layer::Waiting(_))
            ))
            .await,
        "no waiting layer for the second request: {}",
        toast(alice.app())
    );
    press(&mut alice, KeyCode::Esc);
    assert!(
        alice
            .run_until(LIMIT, |a| toast(a).contains("withdrawn by the requester"))
            .await,
        "{}",
        toast(alice.app())
    );
    assert!(
        toast(alice.app()).contains("NOT DONE"),
        "{}",
        toast(alice.app())
    );
    assert!(
        !alice
            .app()
            .layers()
            .iter()
            .any(|l| matches!(l, Layer::Waiting(_)))
    );
    let requests: Value = {
        let text = http
            .get(format!("{}/v1/approvals", server.url()))
            .bearer_auth(BOB_TOKEN)
            .send()
            .await
            .expect("list")
            .text()
            .await
            .expect("body");
        serde_json::from_str(&text).expect("json")
    };
    assert_eq!(
        requests["requests"].as_array().map(Vec::len),
        Some(0),
        "{requests}"
    );
}
