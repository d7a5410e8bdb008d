//! The demo's approvals scene, no servers: two warrooms on one machine (headless drivers, the
//! real event loop and guard), `--join` (the junior) and `--as-approver` (the trainer), sharing
//! the desk folder in the state directory. The junior's terminate waits (waiting layer), the
//! trainer's badge counts it, approves in `:approvals` with a reason, and the junior's action
//! runs with the approval in its audit record.

use std::time::Duration;

use crossterm::event::KeyCode;
use warroom_core::config::Config;
use warroom_demo::{DemoClock, Scenario};
use warroom_tui::app::{App, Layer};
use warroom_tui::panes::pg::PgPane;
use warroom_tui::setup::{self, DemoApprovals, Options};
use warroom_tui::terminal::Driver;

const LIMIT: Duration = Duration::from_secs(20);

fn toast(app: &App) -> String {
    app.toast().map(|t| t.text.clone()).unwrap_or_default()
}

fn pg(app: &App) -> &PgPane {
    app.pane_of::<PgPane>().expect("pg pane")
}

fn start(role: DemoApprovals) -> Driver {
    let opts = Options {
        demo_approvals: role,
        ..Options::default()
    };
    let (app, backends, _) = setup::demo(
        &Config::default(),
        &opts,
        &Scenario::embedded(),
        11,
        DemoClock::wall(30.0),
    )
    .expect("demo");
    Driver::start(app, backends)
}

/// The junior asks to terminate the migration (pid 4242) with `reason`.
async fn junior_terminates(junior: &mut Driver, reason: &str) {
    assert!(
        junior
            .run_until(LIMIT, |a| pg(a).snapshot().is_some_and(|s| s
                .sessions
                .iter()
                .filter(|s| !s.blocked_by.is_empty())
                .count()
                >= 5))
            .await,
        "waiters pile up behind the migration"
    );
    while !junior.app().layers().is_empty() {
        junior.press(KeyCode::Esc);
    }
    junior.type_text("L");
    assert_eq!(
        pg(junior.app()).selected_session().map(|s| s.pid),
        Some(4242)
    );
    junior.type_text("x");
    assert!(matches!(
        junior.app().layers().last(),
        Some(Layer::Reason(_))
    ));
    junior.type_text(reason);
    junior.press(KeyCode::Enter);
    junior.press(KeyCode::Tab);
    junior.press(KeyCode::Enter);
    assert!(
        junior
            .run_until(LIMIT, |a| matches!(
                a.layers().last(),
                Some(Layer::Waiting(_))
            ))
            .await,
        "no waiting layer: {}",
        toast(junior.app())
    );
}

/// The trainer opens `:approvals`, waits for one request, decides it with `key` and `reason`.
async fn trainer_decides(trainer: &mut Driver, key: char, reason: &str) {
    assert!(
        trainer
            .run_until(LIMIT, |a| a.approvals_waiting() == 1)
            .await,
        "the trainer's badge never counted the request"
    );
    trainer.type_text(":approvals");
    trainer.press(KeyCode::Enter);
    assert!(
        trainer
            .run_until(LIMIT, |a| matches!(
                a.layers().last(),
                Some(Layer::Approvals(v)) if v.rows.as_ref().is_some_and(|r| r.len() == 1)
            ))
            .await,
        "{:?}",
        trainer.app().layers()
    );
    trainer.type_text(&key.to_string());
    trainer.type_text(reason);
    trainer.press(KeyCode::Enter);
    assert!(
        trainer
            .run_until(LIMIT, |a| toast(a).contains("request "))
            .await,
        "{}",
        toast(trainer.app())
    );
    trainer.press(KeyCode::Esc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trainer_approves_the_juniors_request_from_another_terminal() {
    let state = tempfile::tempdir().expect("tempdir");
    let _state_home = warroom_testkit::home::StateHome::set(state.path());
    let mut junior = start(DemoApprovals::Join);
    let mut trainer = start(DemoApprovals::Approver);

    junior_terminates(
        &mut junior,
        "INC-9 migration idle in transaction blocks checkout",
    )
    .await;
    // The waiting layer takes the keys; Enter or q by habit do not withdraw the request.
    junior.press(KeyCode::Enter);
    junior.type_text("q");
    assert!(matches!(
        junior.app().layers().last(),
        Some(Layer::Waiting(_))
    ));

    trainer_decides(&mut trainer, 'a', "yes: the migration holds the lock").await;
    assert!(
        junior
            .run_until(LIMIT, |a| toast(a)
                .contains("pg_terminate_backend(4242) returned true"))
            .await,
        "{}",
        toast(junior.app())
    );
    assert!(
        toast(junior.app()).contains("approved by trainer@demo"),
        "{}",
        toast(junior.app())
    );
    // The demo audit file has the approval in the intent record.
    let audit = std::fs::read_to_string(state.path().join("warroom/demo-audit.jsonl"))
        .expect("demo audit file");
    let intent = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["phase"] == "intent" && r["action"] == "pg.terminate")
        .expect("intent");
    assert_eq!(
        intent["target"]["delegation"]["approved_by"],
        "trainer@demo"
    );
    assert_eq!(
        intent["target"]["delegation"]["approver_reason"],
        "yes: the migration holds the lock"
    );
    assert!(
        trainer
            .run_until(LIMIT, |a| a.approvals_waiting() == 0)
            .await,
        "the badge stays"
    );
}
