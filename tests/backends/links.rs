//! Following the thread across systems against a real PostgreSQL server and the Kubernetes
//! API emulator: a pod whose address is the sessions' client address (127.0.0.1 here) is
//! found from the session and back, a deleted pod stays linked but marked gone, and
//! `warroom pg activity -o json` carries the pod of each session.
//! Without PostgreSQL or the emulator's dependencies these tests fail with a hint; they
//! never skip.

use warroom_testkit::kube_emulator;
use warroom_testkit::pg;
use warroom_testkit::ui;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kube_emulator::{KubeEmulator, running};
use pg::PgServer;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use warroom_core::backends::kube::{KubeActor, PodChange, PodFeed, PodKey, PodScope, RealKube};
use warroom_core::backends::postgres::{ConnectSpec, PgSource, RealPg};
use warroom_tui::app::{App, Command, GuardInfo, Msg};
use warroom_tui::panes::PaneId;
use warroom_tui::panes::pg::PgPane;
use warroom_tui::panes::pods::PodsPane;
use warroom_tui::setup::Assembly;
use warroom_tui::workers::kube::spawn_pods;
use warroom_tui::workers::{Event, Update};

const KCTX: &str = "emu";
const PGCTX: &str = "db";
const NS: &str = "shop";

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn enter() -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

fn real_kube(emu: &KubeEmulator) -> Arc<RealKube> {
    Arc::new(RealKube::new(Some("emulator".into())).with_kubeconfig(emu.kubeconfig()))
}

fn real_pg(server: &PgServer) -> RealPg {
    let spec = ConnectSpec::resolve(&server.url("postgres", "postgres"), None)
        .unwrap_or_else(|e| panic!("resolve the test server's URL: {e}"));
    RealPg::new(spec)
}

/// A Deployment "api" with one pod whose address is 127.0.0.1: every session the test opens
/// over TCP to the loopback comes from it. Returns the pod's name.
fn api_pod_on_loopback(emu: &KubeEmulator) -> String {
    let name = emu.add_deployment(NS, "api", 1).remove(0);
    let mut status = running("api");
    status["podIP"] = "127.0.0.1".into();
    emu.set_pod_status(NS, &name, status);
    name
}

/// The api pod on the loopback (see `api_pod_on_loopback`) and a session from it: the pod's
/// name, the session's client and its pid.
async fn session_from_the_api_pod(
    server: &PgServer,
    emu: &KubeEmulator,
) -> (String, tokio_postgres::Client, i32) {
    let pod_name = api_pod_on_loopback(emu);
    let client = server.connect("postgres", "linked-app").await;
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    (pod_name, client, pid)
}

async fn next_feed(rx: &mut mpsc::Receiver<Event>, what: &str) -> Msg {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 15 s"))
            .unwrap_or_else(|| panic!("the pod watch ended before {what}"));
        if matches!(event, Event::KubePods { .. }) {
            return Msg::Worker(event);
        }
    }
}

fn app() -> App {
    Assembly::new(GuardInfo::default())
        .pg_context(PGCTX)
        .kube_context(KCTX)
        .log_buffer(1 << 20)
        .watch_pods_always()
        .app()
}

fn pg_pane(app: &App) -> &PgPane {
    app.pane_of::<PgPane>().expect("the PostgreSQL pane")
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(200, 30)).expect("terminal");
    terminal.draw(|f| app.render(f)).expect("draw");
    let buffer = terminal.backend().buffer().clone();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_finds_its_pod_the_pod_its_sessions_and_a_deleted_pod_stays_gone() {
    let server = PgServer::start();
    let emu = KubeEmulator::start().await;
    let (pod_name, client, pid) = session_from_the_api_pod(&server, &emu).await;

    // Pods come from the real watch worker, sessions from the real backend.
    let (tx, mut rx) = mpsc::channel(64);
    let (_control, receiver) = watch::channel(true);
    let scope = PodScope {
        namespace: Some(NS.into()),
        label_selector: None,
    };
    let kube = real_kube(&emu);
    spawn_pods(KCTX.into(), kube.clone(), vec![scope], tx, receiver);
    let mut app = app();
    assert!(
        app.startup().contains(&Command::KubeWatch {
            context: KCTX.into(),
            active: true
        }),
        "the pods are watched while the PostgreSQL pane is shown"
    );
    app.update(next_feed(&mut rx, "the first listing").await);
    let snapshot = real_pg(&server).activity().await.expect("activity");
    app.update(Msg::Worker(Event::PgUpdate(Update {
        context: PGCTX.into(),
        result: Ok(snapshot),
        retry_in: None,
    })));

    // The idle session of the app, found by its name.
    app.update(key('i'));
    app.update(key('/'));
    for c in "linked-app".chars() {
        app.update(key(c));
    }
    app.update(enter());
    let session = pg_pane(&app).selected_session().expect("a session").clone();
    assert_eq!(session.pid, pid);
    assert_eq!(session.client_addr.as_deref(), Some("127.0.0.1"));
    let pod = pg_pane(&app).pod_of(&session).expect("the session's pod");
    assert_eq!(
        (
            pod.name.as_str(),
            pod.namespace.as_str(),
            pod.context.as_str()
        ),
        (pod_name.as_str(), NS, KCTX)
    );
    assert_eq!(pod.owner.as_deref(), Some("Deployment/api"));
    assert!(!pod.gone);
    let text = screen(&app);
    assert!(text.contains("POD"), "{text}");
    assert!(text.contains(&pod_name), "{text}");

    // p: the pod in the Pods pane.
    app.update(key('p'));
    assert_eq!(app.active(), PaneId::Pods);
    let pods = app.pane_of::<PodsPane>().expect("the Pods pane");
    assert_eq!(
        pods.selected_pod().map(|p| p.name.as_str()),
        Some(pod_name.as_str())
    );

    // P: back to the sessions of that pod's address, the app's among them.
    app.update(key('P'));
    assert_eq!(app.active(), PaneId::Postgres);
    let pane = pg_pane(&app);
    let limit = pane.session_limit().expect("limited to the pod");
    assert!(limit.contains(&pod_name), "{limit}");
    let shown = pane.shown_sessions();
    assert!(shown.iter().any(|s| s.pid == pid), "{shown:?}");
    assert!(
        shown
            .iter()
            .all(|s| s.client_addr.as_deref() == Some("127.0.0.1")),
        "{shown:?}"
    );

    // The pod is deleted: the watch says so, and the session still names it, marked gone.
    kube.delete_pod(
        &PodKey {
            namespace: NS.into(),
            name: pod_name.clone(),
        },
        None,
        Some(0),
    )
    .await
    .expect("delete the pod");
    loop {
        let msg = next_feed(&mut rx, "the delete").await;
        let deleted = matches!(
            &msg,
            Msg::Worker(Event::KubePods { feed: PodFeed::Changed(PodChange::Delete(p)), .. }) if p.name == pod_name
        );
        app.update(msg);
        if deleted {
            break;
        }
    }
    let pane = pg_pane(&app);
    let pod = pane
        .pod_of(&session)
        .expect("still linked after the delete");
    assert!(pod.gone, "{pod:?}");
    assert_eq!(pane.pod_text(&session, false), format!("{pod_name} (gone)"));
    let text = screen(&app);
    assert!(text.contains(&format!("{pod_name} (gone)")), "{text}");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    app.update(key('p'));
    assert_eq!(app.active(), PaneId::Postgres, "no jump to a gone pod");
    let toast = app.toast().expect("why not");
    assert!(toast.text.contains("gone"), "{}", toast.text);
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_activity_json_carries_the_pod_of_each_session() {
    let server = PgServer::start();
    let emu = KubeEmulator::start().await;
    let (pod_name, client, pid) = session_from_the_api_pod(&server, &emu).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[postgres]]\nname = \"{PGCTX}\"\nurl = \"{}\"\n\n\
             [[kubernetes]]\nname = \"{KCTX}\"\nkube_context = \"emulator\"\nnamespaces = [\"{NS}\"]\n",
            server.url("postgres", "postgres")
        ),
    )
    .expect("config");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"));
    cmd.env("KUBECONFIG", emu.kubeconfig())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .arg("--config")
        .arg(&config)
        .args(["pg", "activity", "--all", "-o", "json"]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run warroom");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sessions = json["sessions"].as_array().expect("sessions");
    let ours = sessions
        .iter()
        .find(|s| s["pid"] == pid)
        .expect("the app's session");
    assert_eq!(ours["pod"]["context"], KCTX);
    assert_eq!(ours["pod"]["namespace"], NS);
    assert_eq!(ours["pod"]["name"], pod_name.as_str());
    assert_eq!(ours["pod"]["owner"], "Deployment/api");
    assert_eq!(ours["pod"]["gone"], false);
    // Every session has the key; one without a client address has null.
    assert!(sessions.iter().all(|s| s.get("pod").is_some()));
    assert!(
        sessions
            .iter()
            .filter(|s| s["client_addr"].is_null())
            .all(|s| s["pod"].is_null())
    );
    drop(client);
}

mod focus {
    //! `:focus NAME` over the four panes, driven by keys through the App as the terminal does.
    use super::*;
    use std::collections::BTreeMap;
    use std::time::SystemTime;
    use warroom_core::backends::kafka::{
        ConsumerGroup, GroupMember, KafkaSnapshot, PartitionOffsets, RefreshCost,
    };
    use warroom_core::backends::kube::PodRow;
    use warroom_core::backends::postgres::{ActivitySnapshot, PgSession};
    use warroom_core::config::Config;
    use warroom_tui::panes::kafka::KafkaPane;

    use super::ui;

    const CONFIG: &str = r#"
[[service]]
name = "billing"
application_name = "billing-*"
kafka_group = "billing.*"
label_selector = "app=billing"

[service.links]
dashboard = "https://grafana.example/d/billing?var-pod={pod}&var-ns={namespace}"
runbook = "https://runbooks.example/billing"
"#;

    /// A Stable group with one member, as a broker describes it.
    fn group(id: &str, committed: i64, end: i64) -> ConsumerGroup {
        ConsumerGroup {
            id: id.into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            members: vec![GroupMember {
                member_id: "m0".into(),
                client_id: "worker".into(),
                client_host: "/10.0.0.7".into(),
                assignment: vec![("orders".into(), 0)],
            }],
            partitions: vec![PartitionOffsets {
                topic: "orders".into(),
                partition: 0,
                committed: Some(committed),
                log_end: Some(end),
            }],
            error: None,
        }
    }

    fn session(pid: i32, application: &str) -> PgSession {
        PgSession {
            pid,
            database: Some("shop".into()),
            user: Some("app".into()),
            application: application.into(),
            client_addr: Some(format!("10.0.0.{pid}")),
            state: Some("active".into()),
            wait_event_type: None,
            wait_event: None,
            query_seconds: Some(1.0),
            xact_seconds: Some(1.0),
            blocked_by: Vec::new(),
            query: "SELECT 1".into(),
            backend_start: Some(SystemTime::now()),
            query_start: Some(SystemTime::now()),
            query_id: None,
            lock: None,
        }
    }

    fn pod(name: &str, app: &str) -> PodRow {
        PodRow {
            uid: format!("uid-{name}"),
            resource_version: "1".into(),
            created: Some(SystemTime::now()),
            containers: vec!["app".into()],
            labels: BTreeMap::from([("app".to_string(), app.to_string())]),
            ..PodRow::running(NS, name)
        }
    }

    fn app() -> App {
        let config = Config::parse(std::path::Path::new("config.toml"), CONFIG).expect("config");
        let mut app = Assembly::new(GuardInfo::default())
            .pg_context(PGCTX)
            .kafka_context("k")
            .kube_context(KCTX)
            .log_buffer(1 << 20)
            .watch_pods_always()
            .services(config.services)
            .app();
        app.update(Msg::Worker(Event::PgUpdate(Update {
            context: PGCTX.into(),
            result: Ok(ActivitySnapshot {
                sessions: vec![
                    session(11, "billing-api"),
                    session(12, "search-api"),
                    session(13, "billing-worker"),
                ],
                ..ActivitySnapshot::default()
            }),
            retry_in: None,
        })));
        app.update(Msg::Worker(Event::KafkaUpdate(Update {
            context: "k".into(),
            result: Ok(KafkaSnapshot {
                taken_at: SystemTime::now(),
                groups: vec![
                    group("billing.invoices", 10, 20),
                    group("search.indexer", 10, 30),
                ],
                cost: RefreshCost::default(),
            }),
            retry_in: None,
        })));
        app.update(Msg::Worker(Event::KubePods {
            context: KCTX.into(),
            feed: PodFeed::Listed {
                scope: PodScope::default(),
                pods: vec![pod("billing-0", "billing"), pod("search-0", "search")],
            },
        }));
        app
    }

    fn command(app: &mut App, line: &str) -> Vec<Command> {
        app.update(ui::key(':'));
        for c in line.chars() {
            app.update(ui::key(c));
        }
        app.update(ui::code(KeyCode::Enter))
    }

    #[test]
    fn focus_filters_all_four_panes_and_clears() {
        let mut app = app();
        let cmds = command(&mut app, "focus billing");
        assert_eq!(app.active(), PaneId::Postgres, "the focus moves no pane");
        assert_eq!(app.focus().map(|s| s.name.as_str()), Some("billing"));
        let pids: Vec<i32> = pg_pane(&app)
            .shown_sessions()
            .iter()
            .map(|s| s.pid)
            .collect();
        assert_eq!(pids.len(), 2);
        assert!(pids.contains(&11) && pids.contains(&13), "{pids:?}");
        let kafka = app.pane_of::<KafkaPane>().expect("Kafka pane");
        let groups: Vec<&str> = kafka.shown_groups().iter().map(|g| g.id.as_str()).collect();
        assert_eq!(groups, ["billing.invoices"]);
        let pods = app.pane_of::<PodsPane>().expect("Pods pane");
        let names: Vec<&str> = pods.rows().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["billing-0"]);
        // The Logs pane looks up the service's pods (its label selector), off screen.
        assert!(
            cmds.iter()
                .any(|c| matches!(c, Command::KubeLogsLookup { selection, .. }
                if selection.label_selector() == Some("app=billing"))),
            "{cmds:?}"
        );
        let screen = ui::screen(&app, 120, 30);
        assert!(screen.contains("focus billing"), "{screen}");

        command(&mut app, "focus");
        assert!(app.focus().is_none());
        assert_eq!(pg_pane(&app).shown_sessions().len(), 3);
        let kafka = app.pane_of::<KafkaPane>().expect("Kafka pane");
        assert_eq!(kafka.shown_groups().len(), 2);
        assert_eq!(app.pane_of::<PodsPane>().expect("Pods").rows().len(), 2);

        command(&mut app, "focus nope");
        assert!(
            app.toast()
                .is_some_and(|t| t.error && t.text.contains("known: billing"))
        );
    }

    #[test]
    fn o_shows_the_links_of_the_selected_pod_escaped() {
        let mut app = app();
        app.update(ui::key('3'));
        app.update(ui::key('o'));
        let Some(menu) = app
            .layers()
            .last()
            .and_then(|l| l.dialog::<warroom_tui::widgets::link_menu::LinkMenu>())
        else {
            panic!("the link menu: {:?}", app.layers().len());
        };
        assert!(!menu.hyperlinks, "no terminal support claimed by default");
        let text = ui::screen(&app, 120, 30);
        assert!(
            text.contains(
                "dashboard  https://grafana.example/d/billing?var-pod=billing-0&var-ns=shop"
            ),
            "{text}"
        );
        assert!(
            text.contains("runbook    https://runbooks.example/billing"),
            "{text}"
        );
    }
}
