//! `:logs [POD | -l SELECTOR] [-n NS] [-c CONTAINER] [--since D] [--tail N] [--previous]` typed
//! on the App's command line, performed by the real Kubernetes workers against the API
//! emulator (warroom_testkit::kube_emulator): what is listed, what is streamed, what is
//! shown, and bad input that changes nothing.

use warroom_testkit::kube_emulator;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kube_emulator::{KubeEmulator, bare_pod, running};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use warroom_core::backends::kube::{LogRequest, PodScope, RealKube, Since, Tail};
use warroom_tui::app::{App, Command, GuardInfo, Msg};
use warroom_tui::panes::logs::LogsPane;
use warroom_tui::panes::{Pane, PaneId};
use warroom_tui::setup::Assembly;
use warroom_tui::theme::Theme;
use warroom_tui::workers::kube::{KubeContext, KubeTasks};

/// The Logs pane inside the App.
fn logs(app: &App) -> &LogsPane {
    app.pane_of::<LogsPane>().expect("the Logs pane")
}

const CTX: &str = "emu";
const NS: &str = "shop";

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// The App, the runtime's Kubernetes tasks and their channel, as the runtime wires them.
struct Harness {
    emu: KubeEmulator,
    app: App,
    tasks: KubeTasks,
    contexts: HashMap<String, KubeContext>,
    tx: mpsc::Sender<warroom_tui::workers::Event>,
    rx: mpsc::Receiver<warroom_tui::workers::Event>,
    /// Every command the App asked for, in order.
    performed: Vec<Command>,
}

impl Harness {
    async fn start() -> Harness {
        let emu = KubeEmulator::start().await;
        let source =
            Arc::new(RealKube::new(Some("emulator".into())).with_kubeconfig(emu.kubeconfig()));
        // The context watches every namespace: -n narrows it.
        let contexts = HashMap::from([(
            CTX.to_string(),
            KubeContext {
                source,
                scopes: vec![PodScope::default()],
            },
        )]);
        let app = Assembly::new(GuardInfo::default())
            .kube_context(CTX)
            .log_buffer(1 << 20)
            .app();
        let (tx, rx) = mpsc::channel(1024);
        Harness {
            emu,
            app,
            tasks: KubeTasks::default(),
            contexts,
            tx,
            rx,
            performed: Vec::new(),
        }
    }

    fn perform(&mut self, commands: Vec<Command>) {
        for c in commands {
            self.performed.push(c.clone());
            // Not a Kubernetes command: nothing to do here (no PostgreSQL or Kafka).
            let _ =
                warroom_tui::terminal::perform_kube(&mut self.tasks, c, &self.contexts, &self.tx);
        }
    }

    /// Type `:LINE` and Enter; returns what the App asked for (already performed).
    fn type_command(&mut self, line: &str) -> Vec<Command> {
        self.app.update(key(':'));
        for c in line.chars() {
            self.app.update(key(c));
        }
        let commands = self
            .app
            .update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        self.perform(commands.clone());
        commands
    }

    /// Feed the workers' messages to the App until `done`, or fail after 15 s.
    async fn pump_until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(&self.app) {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} within 15 s; toast {:?}", self.app.toast()))
                .unwrap_or_else(|| panic!("channel closed before {what}"));
            let commands = self.app.update(msg.into());
            self.perform(commands);
        }
    }

    /// Feed whatever arrives for `d` (to show that nothing more comes).
    async fn pump_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(Some(msg)) = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            self.rx.recv(),
        )
        .await
        {
            let commands = self.app.update(msg.into());
            self.perform(commands);
        }
    }

    /// The requests of the last log session started.
    fn last_session(&self) -> Vec<LogRequest> {
        self.performed
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::KubeLogs { requests, .. } => Some(requests.clone()),
                _ => None,
            })
            .expect("a log session was started")
    }

    /// Log lines the container sent (not warroom's own notes), oldest first.
    fn shown(&self) -> Vec<(String, String)> {
        let buf = logs(&self.app).buffer();
        buf.entries()
            .filter(|e| !e.system)
            .map(|e| (buf.source_label(e.source).to_string(), e.text.clone()))
            .collect()
    }

    /// Log requests the emulator received, "GET /api/v1/namespaces/NS/pods/POD/log?...".
    fn log_requests(&self, pod: &str) -> Vec<String> {
        self.emu
            .requests()
            .into_iter()
            .filter(|r| r.contains(&format!("/pods/{pod}/log")))
            .collect()
    }
}

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

fn draw(pane: &dyn Pane, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let theme = Theme::builtin_default();
    term.draw(|f| pane.render(f, f.area(), &warroom_tui::panes::Ctx::now(&theme)))
        .expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// Two `api` pods, one `worker` pod (Deployments, labelled app=NAME), and a bare pod `multi`
/// with two containers; every container has logged a few lines.
fn shop(emu: &KubeEmulator) -> Vec<String> {
    let api = emu.add_deployment(NS, "api", 2);
    let worker = emu.add_deployment(NS, "worker", 1);
    for p in &api {
        for i in 0..3 {
            emu.add_logs(
                NS,
                p,
                "api",
                false,
                &[(ago(30 - i), &format!("api {p} line {i}"))],
            );
        }
    }
    emu.add_logs(
        NS,
        &worker[0],
        "worker",
        false,
        &[(ago(20), "worker line 0")],
    );
    emu.add_pod(bare_pod(NS, "multi", &["app", "sidecar"], running("app")));
    emu.add_logs(NS, "multi", "app", false, &[(ago(10), "app says hi")]);
    emu.add_logs(
        NS,
        "multi",
        "sidecar",
        false,
        &[(ago(10), "sidecar says hi")],
    );
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_selector_follows_the_matching_pods_only_a_colour_each() {
    let mut h = Harness::start().await;
    let api = shop(&h.emu);
    let worker = h
        .emu
        .pod_names(NS)
        .into_iter()
        .find(|p| p.starts_with("worker-"))
        .expect("worker");

    let commands = h.type_command("logs -l app=api");
    assert!(
        matches!(commands.as_slice(), [Command::KubeLogsLookup { context, selection, .. }]
            if context == CTX && selection.label_selector() == Some("app=api")),
        "{commands:?}"
    );
    h.pump_until("the six api lines", |app| logs(app).buffer().len() >= 6)
        .await;
    assert_eq!(h.app.active(), PaneId::Logs);
    assert!(
        h.emu
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/pods?") && r.contains("labelSelector=app=api")),
        "the selector is sent to the API server: {:?}",
        h.emu.requests()
    );
    let mut pods: Vec<String> = h.last_session().into_iter().map(|r| r.pod.name).collect();
    pods.sort();
    let mut want = api.clone();
    want.sort();
    assert_eq!(pods, want, "the api pods, nothing else");

    // A line from the worker is never followed; one from an api pod is.
    h.emu
        .add_logs(NS, &worker, "worker", false, &[(ago(1), "worker line 1")]);
    h.emu
        .add_logs(NS, &api[1], "api", false, &[(ago(1), "api late line")]);
    h.pump_until("the late api line", |app| {
        logs(app)
            .buffer()
            .entries()
            .any(|e| e.text == "api late line")
    })
    .await;
    h.pump_for(Duration::from_millis(300)).await;
    let shown = h.shown();
    assert!(
        shown.iter().all(|(src, _)| src.starts_with("api-")),
        "{shown:?}"
    );
    assert!(
        h.log_requests(&worker).is_empty(),
        "the worker's log is never asked for"
    );
    assert_eq!(shown.len(), 7, "{shown:?}");

    // Two pods: the pod/container prefix is on, each pod its own colour; the header says
    // what is followed.
    assert!(logs(&h.app).options().3, "prefix on for several pods");
    let screen = draw(logs(&h.app), 120, 12);
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("-l app=api"), "{screen}");
    assert!(
        header.contains("2 pods in shop · container api · tail 200"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("{}/api api {} line 0", api[0], api[0])),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_c_follows_one_container_and_without_it_every_container() {
    let mut h = Harness::start().await;
    shop(&h.emu);

    h.type_command("logs multi -c sidecar");
    h.pump_until("the sidecar line", |app| !logs(app).buffer().is_empty())
        .await;
    h.pump_for(Duration::from_millis(300)).await;
    assert_eq!(
        h.shown(),
        vec![("multi/sidecar".to_string(), "sidecar says hi".to_string())]
    );
    let requests = h.log_requests("multi");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].contains("container=sidecar"), "{requests:?}");
    let session = h.last_session();
    assert_eq!(session.len(), 1);
    assert_eq!(session[0].container.as_deref(), Some("sidecar"));
    let screen = draw(logs(&h.app), 120, 6);
    assert!(
        screen.contains("multi · 1 pod in shop · container sidecar · tail 200"),
        "{screen}"
    );

    h.type_command("logs multi");
    h.pump_until("both containers", |app| logs(app).buffer().len() >= 2)
        .await;
    let mut sources: Vec<String> = h.shown().into_iter().map(|(s, _)| s).collect();
    sources.sort();
    assert_eq!(sources, ["multi/app", "multi/sidecar"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_n_gives_n_lines_and_since_is_sent_as_since_seconds_or_since_time() {
    let mut h = Harness::start().await;
    h.emu
        .add_pod(bare_pod(NS, "chatty", &["chatty"], running("chatty")));
    // "chatty i" was logged 205 - 10 i seconds ago: 205 s ... 15 s, 5 s off any minute.
    let base = SystemTime::now();
    for i in 0..20u64 {
        let at = base - Duration::from_secs(205 - 10 * i);
        h.emu.add_logs(
            NS,
            "chatty",
            "chatty",
            false,
            &[(at, &format!("chatty {i}"))],
        );
    }
    let texts = |h: &Harness| -> Vec<String> { h.shown().into_iter().map(|(_, t)| t).collect() };
    let from = |first: u64| -> Vec<String> { (first..20).map(|i| format!("chatty {i}")).collect() };

    h.type_command("logs chatty --tail 5");
    h.pump_until("five lines", |app| logs(app).buffer().len() >= 5)
        .await;
    h.pump_for(Duration::from_millis(300)).await;
    assert_eq!(texts(&h), from(15));
    let requests = h.log_requests("chatty");
    assert!(
        requests.len() == 1 && requests[0].contains("tailLines=5"),
        "{requests:?}"
    );

    // --since 2m: what the last two minutes logged (115 s ago and later), and no tail.
    h.type_command("logs chatty --since 2m");
    h.pump_until("the last two minutes", |app| {
        logs(app).buffer().entries().any(|e| e.text == "chatty 19")
    })
    .await;
    h.pump_for(Duration::from_millis(300)).await;
    assert_eq!(texts(&h), from(9));
    let last = h.log_requests("chatty").pop().unwrap_or_default();
    assert!(
        last.contains("sinceSeconds=120") && !last.contains("tailLines"),
        "{last}"
    );
    let session = h.last_session();
    assert_eq!(
        (session[0].since, session[0].tail_lines),
        (Some(Since::Ago(Duration::from_secs(120))), None)
    );

    // A time: sinceTime, from 150 s before the lines' base (145 s ago and later).
    let since = humantime::format_rfc3339_seconds(base - Duration::from_secs(150)).to_string();
    h.type_command(&format!("logs chatty --since {since}"));
    h.pump_until("the lines since the time", |app| {
        logs(app).buffer().entries().any(|e| e.text == "chatty 19")
    })
    .await;
    h.pump_for(Duration::from_millis(300)).await;
    assert_eq!(texts(&h), from(6));
    let last = h.log_requests("chatty").pop().unwrap_or_default();
    assert!(
        last.contains(&format!("sinceTime={since}")) && !last.contains("sinceSeconds"),
        "{last}"
    );
    let screen = draw(logs(&h.app), 140, 6);
    assert!(screen.contains(&format!("since {since}")), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_says_why_and_changes_nothing() {
    let mut h = Harness::start().await;
    shop(&h.emu);
    h.emu
        .add_pod(bare_pod("ops", "multi", &["app"], running("app")));

    // Without arguments :logs shows the pane, as before.
    h.app.update(key('3'));
    let commands = h.type_command("logs");
    assert_eq!(h.app.active(), PaneId::Logs);
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::KubeLogs { .. } | Command::KubeLogsLookup { .. })),
        "{commands:?}"
    );

    // A session to keep.
    h.type_command("logs multi -n shop -c app");
    h.pump_until("the app line", |app| !logs(app).buffer().is_empty())
        .await;
    h.pump_for(Duration::from_millis(200)).await;
    let session = logs(&h.app).session();
    let lines = logs(&h.app).buffer().len();
    let requests_before = h.emu.requests().len();

    for (line, why) in [
        ("logs multi -x", ":logs: unknown flag -x"),
        (
            "logs multi --since soon",
            ":logs: --since soon: not a duration",
        ),
        ("logs -c app", ":logs: -c needs a pod"),
        (
            "logs multi --tail five",
            ":logs: --tail five: not a number of lines",
        ),
        (
            "logs multi -l app=api",
            ":logs: give a POD or -l SELECTOR, not both",
        ),
    ] {
        let commands = h.type_command(line);
        assert!(commands.is_empty(), "{line}: {commands:?}");
        let toast = h.app.toast().expect("a message");
        assert!(
            toast.error && toast.text.starts_with(why),
            "{line}: {toast:?}"
        );
        assert!(h.app.layers().is_empty(), "{line}");
    }
    assert_eq!(
        h.emu.requests().len(),
        requests_before,
        "nothing reached the server"
    );

    // Errors only the listing can tell: the session stays too.
    for (line, why) in [
        (
            "logs nosuch",
            ":logs nosuch: no pod nosuch in the namespaces of context emu",
        ),
        (
            "logs multi",
            ":logs multi: pod multi is in namespaces ops, shop: add -n NAMESPACE",
        ),
        (
            "logs multi -n shop -c db",
            ":logs multi -n shop: pod multi has no container db (it has: app, sidecar)",
        ),
        (
            "logs -l app=nothing",
            ":logs -l app=nothing: no pod matches -l app=nothing",
        ),
    ] {
        let commands = h.type_command(line);
        assert!(
            matches!(commands.as_slice(), [Command::KubeLogsLookup { .. }]),
            "{line}: {commands:?}"
        );
        h.pump_until("the refusal", |app| {
            app.toast()
                .is_some_and(|t| t.error && t.text.starts_with(why))
        })
        .await;
    }
    h.pump_for(Duration::from_millis(200)).await;
    assert_eq!(logs(&h.app).session(), session);
    assert_eq!(logs(&h.app).buffer().len(), lines);
    assert_eq!(logs(&h.app).title(), Some("multi -n shop"));
    assert!(
        !h.performed
            .iter()
            .skip_while(|c| !matches!(c, Command::KubeLogs { .. }))
            .skip(1)
            .any(|c| matches!(c, Command::KubeLogs { .. })),
        "no new session after the first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_before_any_line_resumes_with_its_since_not_the_whole_log() {
    let mut h = Harness::start().await;
    h.emu
        .add_pod(bare_pod(NS, "quiet", &["quiet"], running("quiet")));
    h.emu.add_logs(
        NS,
        "quiet",
        "quiet",
        false,
        &[(ago(600), "ten minutes old")],
    );
    // The stream opens with nothing to send, and breaks at its first line.
    h.emu.cut_next_log_stream(0);
    h.type_command("logs quiet --since 1m");
    let deadline = Instant::now() + Duration::from_secs(15);
    while h.log_requests("quiet").is_empty() {
        assert!(Instant::now() < deadline, "no log request");
        h.pump_for(Duration::from_millis(50)).await;
    }
    h.emu
        .add_logs(NS, "quiet", "quiet", false, &[(ago(0), "fresh")]);
    h.pump_until("the fresh line after the resume", |app| {
        logs(app).buffer().entries().any(|e| e.text == "fresh")
    })
    .await;
    let texts: Vec<String> = h.shown().into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["fresh"]);
    let requests = h.log_requests("quiet");
    assert!(requests.len() >= 2, "{requests:?}");
    assert!(
        requests.iter().all(|r| r.contains("sinceSeconds=60")),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_toggles_the_previous_container_of_a_logs_command_session() {
    let mut h = Harness::start().await;
    h.emu.add_pod(bare_pod(
        NS,
        "crashy",
        &["crashy"],
        kube_emulator::crash_looping("crashy", 4, "OOMKilled", 137),
    ));
    h.emu
        .add_logs(NS, "crashy", "crashy", true, &[(ago(60), "out of memory")]);
    h.emu
        .add_logs(NS, "crashy", "crashy", false, &[(ago(5), "starting again")]);

    h.type_command("logs crashy --tail 10");
    h.pump_until("the current run", |app| !logs(app).buffer().is_empty())
        .await;
    assert!(!logs(&h.app).showing_previous());

    let commands = h.app.update(key('p'));
    assert!(
        matches!(commands.as_slice(), [Command::KubeLogsLookup { selection, .. }]
            if selection.previous && selection.tail == Tail::Last(10)),
        "{commands:?}"
    );
    h.perform(commands);
    h.pump_until("the previous run and how it ended", |app| {
        logs(app)
            .buffer()
            .entries()
            .any(|e| e.text.contains("OOMKilled (exit 137)"))
    })
    .await;
    assert!(logs(&h.app).showing_previous());
    assert_eq!(
        h.shown(),
        vec![("crashy/crashy".to_string(), "out of memory".to_string())]
    );
    let last = h.log_requests("crashy").pop().unwrap_or_default();
    assert!(
        last.contains("previous=true") && last.contains("tailLines=10"),
        "{last}"
    );

    let commands = h.app.update(key('p'));
    h.perform(commands);
    h.pump_until("the current run again", |app| {
        !logs(app).showing_previous() && !logs(app).buffer().is_empty()
    })
    .await;
    assert_eq!(
        h.shown(),
        vec![("crashy/crashy".to_string(), "starting again".to_string())]
    );
}
