//! The Pods and Logs panes inside the App, driven by values: keys and worker messages in,
//! layers and commands out (no terminal, no server).

use std::collections::HashMap;
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use warroom_core::backends::kube::{
    Health, LogBatch, LogSource, Owner, PodFeed, PodRow, PodScope, RawLogLine, Termination,
};
use warroom_core::guard::kube::KubeAction;
use warroom_core::guard::{ContextPolicy, GuardedAction, Policy, ReasonRules};
use warroom_tui::app::{App, Command, GuardInfo, Layer, Msg};
use warroom_tui::panes::PaneId;
use warroom_tui::panes::logs::LogsPane;
use warroom_tui::setup::Assembly;
use warroom_tui::workers::Event;

/// The Logs pane inside the App.
fn logs(app: &App) -> &LogsPane {
    app.pane_of::<LogsPane>().expect("the Logs pane")
}

use warroom_testkit::ui;

const CTX: &str = "k8s";

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn pod(name: &str, deployment: Option<&str>, crashing: bool) -> PodRow {
    PodRow {
        namespace: "shop".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        resource_version: "1".into(),
        ready: u32::from(!crashing),
        total: 1,
        status: if crashing {
            "CrashLoopBackOff"
        } else {
            "Running"
        }
        .into(),
        status_detail: None,
        health: if crashing { Health::Bad } else { Health::Ok },
        restarts: if crashing { 5 } else { 0 },
        last_restart: None,
        last_termination: crashing.then(|| Termination {
            container: "app".into(),
            reason: "OOMKilled".into(),
            exit_code: 137,
            signal: None,
            finished_at: Some(SystemTime::now()),
        }),
        created: Some(SystemTime::now()),
        node: Some("node-a".into()),
        pod_ip: None,
        owner: deployment.map(|d| Owner {
            kind: "ReplicaSet".into(),
            name: format!("{d}-5d8f"),
        }),
        deployment: deployment.map(str::to_string),
        containers: vec!["app".into()],
        grace_period: Some(45),
        deleting: false,
        labels: Default::default(),
    }
}

fn app(read_only: bool) -> App {
    let info = GuardInfo {
        policy: Policy {
            global_read_only: false,
            contexts: HashMap::from([(
                CTX.to_string(),
                ContextPolicy {
                    protected: false,
                    read_only,
                    runbook_url: None,
                },
            )]),
        },
        rules: ReasonRules::default(),
        actor: "alice@laptop".into(),
        audit_destination: "audit: /tmp/a.jsonl".into(),
    };
    let mut app = Assembly::new(info)
        .kube_context(CTX)
        .log_buffer(1 << 20)
        .app();
    app.update(Msg::Worker(Event::KubePods {
        context: CTX.into(),
        feed: PodFeed::Listed {
            scope: PodScope::default(),
            pods: vec![
                pod("api-1", Some("api"), false),
                pod("worker-0", Some("worker"), true),
                pod("bare", None, false),
            ],
        },
    }));
    app
}

#[test]
fn the_pod_watch_follows_visibility_and_a_selection_fetches_events() {
    let mut app = app(false);
    let cmds = app.update(key('3'));
    assert!(
        cmds.contains(&Command::KubeWatch {
            context: CTX.into(),
            active: true
        }),
        "{cmds:?}"
    );
    // The crash-looping pod sorts first and is selected; moving fetches the next one's events.
    let cmds = app.update(key('j'));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::KubeEvents { pod, .. } if pod != "worker-0")),
        "{cmds:?}"
    );
    let cmds = app.update(key('1'));
    assert!(
        cmds.contains(&Command::KubeWatch {
            context: CTX.into(),
            active: false
        }),
        "{cmds:?}"
    );
}

#[test]
fn ctrl_d_asks_a_reason_then_confirms_the_exact_delete() {
    let mut app = app(false);
    app.update(key('3'));
    app.update(ctrl('d'));
    assert!(
        matches!(app.layers().last(), Some(Layer::Reason(_))),
        "reason prompt first"
    );
    for c in "INC-3 worker OOM loop".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    let Some(Layer::Confirm(_)) = app.layers().last() else {
        panic!("confirmation after the reason");
    };
    app.update(code(KeyCode::Tab));
    let cmds = app.update(code(KeyCode::Enter));
    let [Command::Execute(req)] = cmds.as_slice() else {
        panic!("{cmds:?}");
    };
    let [GuardedAction::Kube(KubeAction::DeletePod(t))] = req.actions.as_slice() else {
        panic!("{:?}", req.actions);
    };
    assert_eq!(
        (t.pod.as_str(), t.uid.as_str(), t.grace_period),
        ("worker-0", "uid-worker-0", Some(45))
    );
    assert_eq!(req.reason, "INC-3 worker OOM loop");
}

#[test]
fn rollout_restart_needs_a_deployment_and_read_only_refuses_before_the_prompt() {
    let mut app = app(false);
    app.update(key('3'));
    app.update(key('/'));
    for c in "bare".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    app.update(key('R'));
    assert!(app.layers().is_empty());
    assert!(
        app.toast()
            .is_some_and(|t| t.text.contains("not managed by a Deployment")),
        "{:?}",
        app.toast()
    );

    let mut app = app_read_only();
    app.update(key('3'));
    app.update(key('R'));
    assert!(app.layers().is_empty(), "no prompt on a read-only context");
    assert!(
        app.toast()
            .is_some_and(|t| t.error && t.text.contains("read_only")),
        "{:?}",
        app.toast()
    );
}

fn app_read_only() -> App {
    app(true)
}

#[test]
fn l_and_p_open_log_sessions_and_batches_of_old_sessions_are_ignored() {
    let mut app = app(false);
    app.update(key('3'));
    let cmds = app.update(key('p'));
    assert_eq!(app.active(), PaneId::Logs);
    let Some(Command::KubeLogs {
        session, requests, ..
    }) = cmds.iter().find(|c| matches!(c, Command::KubeLogs { .. }))
    else {
        panic!("{cmds:?}");
    };
    assert!(requests[0].previous && requests[0].pod.name == "worker-0");
    let old = *session;
    assert!(cmds.contains(&Command::KubeWatch {
        context: CTX.into(),
        active: false
    }));
    let batch = |session: u64, text: &str| {
        Msg::Worker(Event::KubeLogs(LogBatch {
            session,
            source: LogSource {
                namespace: "shop".into(),
                pod: "worker-0".into(),
                container: "app".into(),
            },
            lines: vec![RawLogLine {
                time: None,
                text: text.into(),
            }],
            undelivered: 3,
            note: None,
        }))
    };
    app.update(batch(old, "from the previous container"));
    assert_eq!(logs(&app).buffer().len(), 1);
    assert_eq!(logs(&app).buffer().undelivered(), 3);

    app.update(key('3'));
    let cmds = app.update(key('l'));
    let Some(Command::KubeLogs {
        session, requests, ..
    }) = cmds.iter().find(|c| matches!(c, Command::KubeLogs { .. }))
    else {
        panic!("{cmds:?}");
    };
    assert!(*session > old && !requests[0].previous && requests[0].follow);
    app.update(batch(old, "a late line of the old session"));
    assert_eq!(logs(&app).buffer().len(), 0, "ignored");
    app.update(batch(*session, "new"));
    assert_eq!(logs(&app).buffer().len(), 1);

    // In the Logs pane, p switches to the previous container and back.
    let cmds = app.update(key('p'));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::KubeLogs { requests, .. } if requests[0].previous)),
        "{cmds:?}"
    );
    assert!(logs(&app).showing_previous());
    let cmds = app.update(key('p'));
    let Some(Command::KubeLogs { session, .. }) =
        cmds.iter().find(|c| matches!(c, Command::KubeLogs { .. }))
    else {
        panic!("{cmds:?}");
    };
    assert!(!logs(&app).showing_previous());
    let session = *session;
    let session = &session;

    // Pause: new lines are counted, not scrolled in.
    app.update(key('f'));
    app.update(batch(*session, "while paused 1"));
    app.update(batch(*session, "while paused 2"));
    assert!(logs(&app).is_paused());
    assert_eq!(logs(&app).new_since_pause(), 2);
    app.update(key('G'));
    assert!(!logs(&app).is_paused());
}

/// On a read-only context the guarded keys of the Pods pane are greyed (crossed out) in the
/// hints row, with why; on a writable one they are live.
#[test]
fn read_only_greys_the_guarded_pod_keys_with_the_reason() {
    let mut live = app(false);
    live.update(key('3'));
    let (row, crossed) = ui::hints_row(&live, 140, 30);
    assert!(crossed.is_empty(), "nothing disabled: {row}");
    assert!(
        row.contains("ctrl-d delete") && row.contains("R restart"),
        "{row}"
    );

    let mut ro = app(true);
    ro.update(key('3'));
    let (row, crossed) = ui::hints_row(&ro, 140, 30);
    assert_eq!(crossed, "ctrl-d R", "{row}");
    assert!(row.contains("disabled (read-only)"), "{row}");
    assert!(!row.contains("ctrl-d delete"), "{row}");
}

#[test]
fn the_logs_pane_opened_empty_follows_the_pod_selected_in_the_pods_pane() {
    let mut app = app(false);
    // Nothing chosen yet: the Logs tab follows the Pods pane's selection (the crash-looping
    // pod sorts first and is selected).
    let cmds = app.update(key('4'));
    assert_eq!(app.active(), PaneId::Logs);
    let Some(Command::KubeLogs { requests, .. }) =
        cmds.iter().find(|c| matches!(c, Command::KubeLogs { .. }))
    else {
        panic!("the Logs pane follows something: {cmds:?}");
    };
    assert_eq!(requests[0].pod.name, "worker-0");
    assert!(!requests[0].previous);
    assert_eq!(logs(&app).title(), Some("worker-0"));
    // Opened again with a stream: it keeps it (no new session).
    app.update(key('1'));
    let cmds = app.update(key('4'));
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::KubeLogs { .. })),
        "{cmds:?}"
    );
}

#[test]
fn the_logs_pane_opened_before_the_pods_arrive_follows_the_first_selected_pod() {
    let mut app = Assembly::new(GuardInfo::default())
        .pg_context("pg")
        .kube_context(CTX)
        .log_buffer(1 << 20)
        .watch_pods_always()
        .app();
    let cmds = app.update(key('4'));
    assert!(!cmds.iter().any(|c| matches!(c, Command::KubeLogs { .. })));
    assert!(
        cmds.contains(&Command::KubeWatch {
            context: CTX.into(),
            active: true
        }),
        "the pods are watched while the Pods pane is hidden: {cmds:?}"
    );
    let cmds = app.update(Msg::Worker(Event::KubePods {
        context: CTX.into(),
        feed: PodFeed::Listed {
            scope: PodScope::default(),
            pods: vec![pod("api-1", Some("api"), false)],
        },
    }));
    let Some(Command::KubeLogs { requests, .. }) =
        cmds.iter().find(|c| matches!(c, Command::KubeLogs { .. }))
    else {
        panic!("the first pod is followed: {cmds:?}");
    };
    assert_eq!(requests[0].pod.name, "api-1");
    assert_eq!(app.active(), PaneId::Logs);
}
