//! The Kafka pane inside the App, driven by values: polling follows visibility, and an
//! offset reset goes prompt -> preview (acknowledged) -> reason -> confirmation -> the
//! executor's request, with read-only contexts stopped before any of it. No terminal, no
//! broker: snapshots come from the demo cluster.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use warroom_tui::app::{App, Command, GuardInfo, Layer, Msg, Polled};
use warroom_tui::panes::kafka::flow::{ResetPreview, ResetPrompt};
use warroom_tui::setup::Assembly;
use warroom_tui::workers::{Event, Update};

use warroom_core::backends::kafka::{KafkaSource, ResetSpec, ResetTo};
use warroom_core::guard::kafka::KafkaAction;
use warroom_core::guard::{ContextPolicy, GuardedAction, Policy, ReasonRules};
use warroom_demo::DemoClock;
use warroom_demo::kafka::{DemoKafka, KafkaScenario};
use warroom_testkit::ui;
use warroom_tui::panes::PaneId;

/// The Kafka pane inside the App.
fn kafka_pane(app: &App) -> &warroom_tui::panes::kafka::KafkaPane {
    app.pane_of::<warroom_tui::panes::kafka::KafkaPane>()
        .expect("the Kafka pane")
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(KeyCode::Char(c)));
    }
}

fn app(read_only: bool) -> App {
    let policy = Policy {
        global_read_only: false,
        contexts: HashMap::from([(
            "k1".to_string(),
            ContextPolicy {
                read_only,
                ..ContextPolicy::default()
            },
        )]),
    };
    let info = GuardInfo {
        policy,
        rules: ReasonRules::default(),
        actor: "alice@laptop".into(),
        audit_destination: "audit: test".into(),
    };
    Assembly::new(info)
        .pg_context("pg1")
        .kafka_context("k1")
        .app()
}

async fn feed(app: &mut App, kafka: &DemoKafka) {
    let snap = kafka.snapshot().await.expect("demo snapshot");
    app.update(Msg::Worker(Event::KafkaUpdate(Update {
        context: "k1".into(),
        result: Ok(snap),
        retry_in: None,
    })));
}

fn kafka_polls(cmds: &[Command]) -> Vec<bool> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Poll {
                what: Polled::Kafka,
                context,
                active,
                ..
            } if context == "k1" => Some(*active),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn polling_follows_the_visible_pane() {
    let mut app = app(false);
    assert_eq!(kafka_polls(&app.startup()), vec![false], "hidden at start");
    assert_eq!(
        kafka_polls(&app.update(key(KeyCode::Char('2')))),
        vec![true]
    );
    assert_eq!(app.active(), PaneId::Kafka);
    assert_eq!(
        kafka_polls(&app.update(key(KeyCode::Char('1')))),
        vec![false]
    );
}

#[tokio::test]
async fn reset_goes_through_prompt_preview_reason_and_confirmation() {
    let clock = DemoClock::manual();
    let kafka = DemoKafka::new(3, clock.clone(), KafkaScenario::default());
    let mut app = app(false);
    app.update(key(KeyCode::Char('2')));
    feed(&mut app, &kafka).await;
    clock.advance(30.0);
    feed(&mut app, &kafka).await;
    // Sorted by lag: legacy-reports first, then the billing group.
    app.update(key(KeyCode::Char('j')));
    assert_eq!(
        kafka_pane(&app).selected_group().map(|g| g.id.as_str()),
        Some("billing-invoices")
    );

    app.update(key(KeyCode::Char('R')));
    assert!(
        app.layers()
            .last()
            .and_then(|l| l.dialog::<ResetPrompt>())
            .is_some()
    );
    typed(&mut app, "shift -100");
    let cmds = app.update(key(KeyCode::Enter));
    let spec = ResetSpec {
        to: ResetTo::ShiftBy(-100),
        topic: None,
    };
    assert_eq!(
        cmds,
        vec![Command::KafkaPlanReset {
            context: "k1".into(),
            group: "billing-invoices".into(),
            spec: spec.clone(),
        }]
    );
    // The runtime answers with the plan; the preview must be acknowledged.
    let plan = kafka
        .plan_reset("billing-invoices", &spec)
        .await
        .expect("plan");
    assert_eq!(plan.replayed(), 600);
    app.update(Msg::Worker(Event::KafkaPlan {
        context: "k1".into(),
        result: Ok(plan.clone()),
    }));
    assert!(
        app.layers()
            .last()
            .and_then(|l| l.dialog::<ResetPreview>())
            .is_some_and(|p| p.plan == plan)
    );
    app.update(key(KeyCode::Enter));
    let Some(Layer::Reason(prompt)) = app.layers().last() else {
        panic!("reason prompt expected: {:?}", app.layers());
    };
    assert!(matches!(
        &prompt.actions[..],
        [GuardedAction::Kafka(KafkaAction::ResetOffsets(t))] if t.plan == plan && t.context == "k1"
    ));
    typed(&mut app, "INC-7 replay the last hundred");
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Tab));
    let cmds = app.update(key(KeyCode::Enter));
    match &cmds[..] {
        [Command::Execute(req)] => {
            assert_eq!(req.reason, "INC-7 replay the last hundred");
            assert_eq!(req.actions.len(), 1);
        }
        other => panic!("execute expected: {other:?}"),
    }
}

#[tokio::test]
async fn esc_on_the_preview_changes_nothing_and_read_only_stops_before_the_prompt() {
    let clock = DemoClock::manual();
    let kafka = DemoKafka::new(3, clock, KafkaScenario::default());
    let mut app = app(false);
    app.update(key(KeyCode::Char('2')));
    feed(&mut app, &kafka).await;
    app.update(key(KeyCode::Char('R')));
    typed(&mut app, "latest");
    app.update(key(KeyCode::Enter));
    let plan = kafka
        .plan_reset("legacy-reports", &ResetSpec::parse("latest").expect("spec"))
        .await
        .expect("plan");
    app.update(Msg::Worker(Event::KafkaPlan {
        context: "k1".into(),
        result: Ok(plan),
    }));
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert!(app.layers().is_empty());

    let mut ro = app_ro(&kafka).await;
    ro.update(key(KeyCode::Char('R')));
    assert!(ro.layers().is_empty(), "no prompt on a read-only context");
    assert!(ro.toast().is_some_and(|t| t.text.contains("read_only")));
}

async fn app_ro(kafka: &DemoKafka) -> App {
    let mut a = app(true);
    a.update(key(KeyCode::Char('2')));
    feed(&mut a, kafka).await;
    a
}

/// On a read-only context the guarded keys of the Kafka pane are greyed (crossed out) in the
/// hints row, with why; on a writable one they are live.
#[tokio::test]
async fn read_only_greys_the_guarded_kafka_keys_with_the_reason() {
    let clock = DemoClock::manual();
    let kafka = DemoKafka::new(3, clock.clone(), KafkaScenario::default());
    let mut live = app(false);
    live.update(key(KeyCode::Char('2')));
    feed(&mut live, &kafka).await;
    let (row, crossed) = ui::hints_row(&live, 140, 30);
    assert!(crossed.is_empty(), "nothing disabled: {row}");
    assert!(row.contains("R reset") && row.contains("D delete"), "{row}");

    let mut ro = app(true);
    ro.update(key(KeyCode::Char('2')));
    feed(&mut ro, &kafka).await;
    let (row, crossed) = ui::hints_row(&ro, 140, 30);
    assert_eq!(crossed, "R u D", "{row}");
    assert!(row.contains("disabled (read-only)"), "{row}");
    assert!(!row.contains("R reset"), "{row}");
}
