//! The whole demo incident through the real event loop (workers, guard, audit), without a
//! terminal: a class finds the blocker, the lagging group and the crash-looping pod, acts on
//! each with a reason, and the simulation recovers. Simulated time runs 30 times faster.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use warroom_tui::app::{App, Layer, Msg};
use warroom_tui::panes::Pane;
use warroom_tui::panes::kafka::KafkaPane;
use warroom_tui::panes::kafka::flow::ResetPreview;
use warroom_tui::panes::logs::LogsPane;
use warroom_tui::panes::pg::PgPane;
use warroom_tui::panes::pods::PodsPane;

/// One pane inside the App.
fn pane<T: Pane>(app: &App) -> &T {
    app.pane_of::<T>().expect("the pane")
}
use warroom_core::config::Config;
use warroom_demo::{DemoClock, Scenario};
use warroom_tui::setup::{self, Options};
use warroom_tui::terminal::Driver;

const LIMIT: Duration = Duration::from_secs(30);

/// Reason, Tab to Confirm, Enter.
fn confirm_with(d: &mut Driver, reason: &str) {
    assert!(
        matches!(d.app().layers().last(), Some(Layer::Reason(_))),
        "{:?}",
        d.app().layers()
    );
    d.type_text(reason);
    d.press(KeyCode::Enter);
    assert!(
        matches!(d.app().layers().last(), Some(Layer::Confirm(_))),
        "{:?}",
        d.app().layers()
    );
    d.press(KeyCode::Tab);
    d.press(KeyCode::Enter);
}

fn toast(app: &App) -> String {
    app.toast().map(|t| t.text.clone()).unwrap_or_default()
}

fn billing_lag(app: &App) -> Option<i64> {
    Some(
        app.pane_of::<KafkaPane>()?
            .snapshot()?
            .group("billing-invoices")?
            .total_lag(),
    )
}

fn resizer(app: &App) -> Option<warroom_core::backends::kube::PodRow> {
    app.pane_of::<PodsPane>()?
        .pods()
        .find(|p| p.name.starts_with("image-resizer"))
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_incident_is_found_acted_on_and_recovers() {
    let state = tempfile::tempdir().expect("tempdir");
    let _state_home = warroom_testkit::home::StateHome::set(state.path());
    let (app, backends, _pg) = setup::demo(
        &Config::default(),
        &Options::default(),
        &Scenario::embedded(),
        11,
        DemoClock::wall(30.0),
    )
    .expect("demo");
    let mut d = Driver::start(app, backends);

    // PostgreSQL: the migration blocks a growing queue; terminate it from the lock view.
    assert!(
        d.run_until(LIMIT, |a| pane::<PgPane>(a).snapshot().is_some_and(|s| s
            .sessions
            .iter()
            .filter(|s| !s.blocked_by.is_empty())
            .count()
            >= 5))
            .await,
        "waiters pile up"
    );
    d.type_text("L");
    assert_eq!(
        pane::<PgPane>(d.app()).selected_session().map(|s| s.pid),
        Some(4242)
    );
    d.type_text("x");
    confirm_with(
        &mut d,
        "INC-9 migration idle in transaction blocks checkout",
    );
    assert!(
        d.run_until(LIMIT, |a| toast(a)
            .contains("pg_terminate_backend(4242) returned true"))
            .await,
        "{}",
        toast(d.app())
    );
    assert!(
        d.run_until(LIMIT, |a| pane::<PgPane>(a)
            .snapshot()
            .is_some_and(|s| s.sessions.iter().all(|s| s.blocked_by.is_empty())))
            .await,
        "the waiters drain"
    );

    // Kafka: billing-invoices is Empty and falls behind; reset it to latest.
    d.type_text("2");
    assert!(
        d.run_until(LIMIT, |a| billing_lag(a).is_some_and(|l| l > 0))
            .await,
        "lagging group shown"
    );
    for _ in 0..10 {
        if pane::<KafkaPane>(d.app())
            .selected_group()
            .is_some_and(|g| g.id == "billing-invoices")
        {
            break;
        }
        d.type_text("j");
    }
    assert_eq!(
        pane::<KafkaPane>(d.app())
            .selected_group()
            .map(|g| g.id.clone())
            .as_deref(),
        Some("billing-invoices")
    );
    let before = billing_lag(d.app()).unwrap_or(0);
    d.type_text("R");
    d.type_text("latest");
    d.press(KeyCode::Enter);
    assert!(
        d.run_until(LIMIT, |a| a
            .layers()
            .last()
            .and_then(|l| l.dialog::<ResetPreview>())
            .is_some())
            .await,
        "the preview comes back: {:?}",
        d.app().layers()
    );
    d.press(KeyCode::Enter);
    confirm_with(&mut d, "INC-9 skip the backlog, invoices are regenerated");
    assert!(
        d.run_until(LIMIT, |a| toast(a).contains("done")).await,
        "{}",
        toast(d.app())
    );
    assert!(
        d.run_until(LIMIT, |a| billing_lag(a).is_some_and(|l| l < before / 4))
            .await,
        "the lag falls: before {before}, now {:?}",
        billing_lag(d.app())
    );

    // Pods: image-resizer is OOMKilled again and again; restart its Deployment.
    d.type_text("3");
    assert!(
        d.run_until(LIMIT, |a| resizer(a).is_some_and(|p| p.restarts > 0
            && p.last_termination
                .as_ref()
                .is_some_and(|t| format!("{t:?}").contains("OOMKilled"))))
            .await,
        "the crash loop is visible: {:?}",
        resizer(d.app())
    );
    for _ in 0..10 {
        if pane::<PodsPane>(d.app())
            .selected_pod()
            .is_some_and(|p| p.name.starts_with("image-resizer"))
        {
            break;
        }
        d.type_text("j");
    }
    d.type_text("R");
    confirm_with(
        &mut d,
        "INC-9 restart image-resizer with the fixed batch size",
    );
    assert!(
        d.run_until(LIMIT, |a| toast(a).contains("done")).await,
        "{}",
        toast(d.app())
    );
    assert!(
        d.run_until(LIMIT, |a| resizer(a)
            .is_some_and(|p| p.restarts == 0 && p.ready == p.total))
            .await,
        "the pod comes back healthy: {:?}",
        resizer(d.app())
    );

    // Logs of the restarted pod, saved to a file by the runtime (never on the UI task).
    d.type_text("l");
    assert!(
        d.run_until(LIMIT, |a| !pane::<LogsPane>(a).buffer().is_empty())
            .await,
        "log lines arrive"
    );
    d.send(Msg::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL,
    )));
    assert!(
        d.run_until(LIMIT, |a| toast(a).starts_with("saved ")).await,
        "{}",
        toast(d.app())
    );
    let saved: Vec<_> = std::fs::read_dir(state.path().join("warroom/logs"))
        .expect("logs dir")
        .flatten()
        .collect();
    assert_eq!(saved.len(), 1);
    let text = std::fs::read_to_string(saved[0].path()).expect("saved file");
    assert!(text.lines().count() >= 1, "{text}");

    // The demo audit trail: three intents, three outcomes, chain intact, in the timeline.
    let file = state.path().join("warroom/demo-audit.jsonl");
    assert_eq!(
        warroom_core::audit::verify(&file).expect("chain").records,
        6
    );
    let records = warroom_core::audit::timeline::read_records(&file).expect("read");
    let entries = warroom_core::audit::timeline::timeline(&records, None);
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e.what.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(actions.len(), 3, "{entries:#?}");
    assert!(
        entries.iter().all(|e| e.outcome.starts_with("ok")),
        "{entries:#?}"
    );
}
