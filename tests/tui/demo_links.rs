//! The demo incident follows the thread: the blocker's session maps to the migration Job's
//! pod, the stopped billing group names its crash-looping consumer pod, and the Logs pane
//! opens on a pod. Driven through the App as the runtime does, with the demo's own worlds.

use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use warroom_core::backends::kube::{Health, PodFeed, PodScope};
use warroom_core::config::Config;
use warroom_demo::kafka::DemoKafkaWorld;
use warroom_demo::kube::DemoKubeWorld;
use warroom_demo::{DemoClock, Scenario};
use warroom_tui::app::{App, Command, Layer, Msg};
use warroom_tui::panes::PaneId;
use warroom_tui::panes::kafka::KafkaPane;
use warroom_tui::panes::pg::PgPane;
use warroom_tui::setup::{self, DEMO_CONTEXT, DEMO_KAFKA_CONTEXT, DEMO_KUBE_CONTEXT, Options};
use warroom_tui::workers::{Event, Update};

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

#[test]
fn the_demo_incident_links_the_blocker_to_its_job_pod_and_the_stopped_group_to_its_pods() {
    let state = tempfile::tempdir().expect("tempdir");
    let _state_home = warroom_testkit::home::StateHome::set(state.path());
    let scenario = Scenario::embedded();
    let (mut app, _backends, pg): (App, _, _) = setup::demo(
        &Config::default(),
        &Options::default(),
        &scenario,
        7,
        DemoClock::manual(),
    )
    .expect("demo setup");

    let kube = DemoKubeWorld::new(7, scenario.kubernetes.clone());
    app.update(Msg::Worker(Event::KubePods {
        context: DEMO_KUBE_CONTEXT.into(),
        feed: PodFeed::Listed {
            scope: PodScope::default(),
            pods: kube.pods(),
        },
    }));
    let snapshot = pg.with_world(|w| w.snapshot()).expect("pg world");
    app.update(Msg::Worker(Event::PgUpdate(Update {
        context: DEMO_CONTEXT.into(),
        result: Ok(snapshot),
        retry_in: None,
    })));

    // The blocker (pid 4242, client 10.0.9.14) comes from the migration Job's pod.
    let pane = app.pane_of::<PgPane>().expect("PostgreSQL pane");
    let blocker = pane
        .snapshot()
        .and_then(|s| s.sessions.iter().find(|s| s.pid == 4242))
        .expect("the blocker")
        .clone();
    let pod = pane.pod_of(&blocker).expect("the blocker's pod");
    assert!(pod.name.starts_with("migrate-2026-11-26-"), "{pod:?}");
    assert_eq!(pod.owner.as_deref(), Some("Job/migrate-2026-11-26"));

    // The Logs pane opens on the pod the Pods pane has selected: a failing one first.
    let cmds = app.update(key('4'));
    assert_eq!(app.active(), PaneId::Logs);
    let Some(Command::KubeLogs { requests, .. }) =
        cmds.iter().find(|c| matches!(c, Command::KubeLogs { .. }))
    else {
        panic!("the Logs pane follows a pod: {cmds:?}");
    };
    let followed = kube.pod(&requests[0].pod.name).expect("a demo pod");
    assert_eq!(followed.health, Health::Bad, "{followed:?}");

    // The billing group has no members: its service names its consumer's pods, which
    // crash-loop, and the detail says so.
    let mut kafka = DemoKafkaWorld::new(7, scenario.kafka.clone());
    for t in [2.0, 4.0, 6.0] {
        kafka.advance_to(t);
        app.update(Msg::Worker(Event::KafkaUpdate(Update {
            context: DEMO_KAFKA_CONTEXT.into(),
            result: Ok(kafka.snapshot(SystemTime::now())),
            retry_in: None,
        })));
    }
    app.update(key('2'));
    app.update(key(':'));
    for c in "focus billing".chars() {
        app.update(key(c));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let groups: Vec<String> = app
        .pane_of::<KafkaPane>()
        .expect("Kafka pane")
        .shown_groups()
        .iter()
        .map(|g| g.id.clone())
        .collect();
    assert_eq!(groups, ["billing-invoices"]);
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let Some(Layer::Detail { detail, .. }) = app.layers().last() else {
        panic!("the group's detail");
    };
    let text = detail.lines.join("\n");
    assert!(
        text.contains("STOP because its consumers' pods are failing: billing-worker-"),
        "{text}"
    );
    assert!(text.contains("(CrashLoopBackOff)"), "{text}");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    app.update(key(':'));
    for c in "focus".chars() {
        app.update(key(c));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
}
