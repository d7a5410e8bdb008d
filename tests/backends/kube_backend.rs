//! warroom's Kubernetes side against the API emulator (warroom_testkit::kube_emulator, itself
//! checked with the real kubectl in tests/kube_kubectl.rs): the real kube-rs backend, the pod
//! watch worker, the log stream worker, the Pods and Logs panes, and the guarded actions with
//! their audit records on a real HTTP receiver.

use warroom_testkit::audit_server;
use warroom_testkit::kube_emulator;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use audit_server::AuditServer;
use kube_emulator::{KubeEmulator, LogLine, bare_pod, crash_looping, running};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use warroom_core::audit::{AuditLog, AuditSettings, OnUnreachable, new_session_id};
use warroom_core::backends::kube::{
    Health, KubeActor, KubeSource, LogRequest, PodChange, PodFeed, PodKey, PodScope, RealKube,
    StreamNote,
};
use warroom_core::guard::kube::{DeploymentTarget, KubeAction};
use warroom_core::guard::{
    ContextPolicy, Executor, GuardRequest, GuardedAction, Outcome, Policy, ReasonRules,
};
use warroom_tui::keymap::KeyAction;
use warroom_tui::panes::Pane;
use warroom_tui::panes::logs::LogsPane;
use warroom_tui::panes::pods::{LogTarget, PodsPane};
use warroom_tui::theme::Theme;
use warroom_tui::workers::Event;
use warroom_tui::workers::kube::{spawn_log, spawn_pods};

const CTX: &str = "emu";
const NS: &str = "shop";

fn real(emu: &KubeEmulator) -> Arc<RealKube> {
    Arc::new(RealKube::new(Some("emulator".into())).with_kubeconfig(emu.kubeconfig()))
}

/// The whole current log of `pod` in NS (one container or all), followed or not.
fn log_request(pod: &str, container: Option<&str>, follow: bool) -> LogRequest {
    LogRequest {
        pod: PodKey {
            namespace: NS.into(),
            name: pod.into(),
        },
        container: container.map(str::to_string),
        previous: false,
        follow,
        since: None,
        tail_lines: None,
    }
}

fn at(secs: u64, millis: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::from_secs(1_790_000_000 + secs)
        + Duration::from_millis(millis)
}

async fn next(rx: &mut mpsc::Receiver<Event>, what: &str) -> Event {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within 15 s"))
        .unwrap_or_else(|| panic!("channel closed before {what}"))
}

async fn next_feed(rx: &mut mpsc::Receiver<Event>, what: &str) -> PodFeed {
    loop {
        if let Event::KubePods { feed, .. } = next(rx, what).await {
            return feed;
        }
    }
}

fn oom_worker(emu: &KubeEmulator) {
    emu.add_pod(bare_pod(
        NS,
        "worker-0",
        &["worker"],
        crash_looping("worker", 7, "OOMKilled", 137),
    ));
    emu.add_logs(
        NS,
        "worker-0",
        "worker",
        true,
        &[
            (
                at(0, 0),
                r#"{"level":"info","msg":"loading batch","rows":2000000}"#,
            ),
            (
                at(1, 0),
                r#"{"level":"error","msg":"heap 1.9GiB of 2GiB limit"}"#,
            ),
        ],
    );
    emu.add_logs(
        NS,
        "worker-0",
        "worker",
        false,
        &[(at(60, 0), "starting worker")],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pod_shows_oomkilled_and_its_previous_logs() {
    let emu = KubeEmulator::start().await;
    emu.add_deployment(NS, "api", 2);
    oom_worker(&emu);
    emu.add_event(NS, "worker-0", false, "Pulled", "image already present");
    emu.add_event(
        NS,
        "worker-0",
        true,
        "BackOff",
        "Back-off restarting failed container",
    );
    let kube = real(&emu);
    let scope = PodScope {
        namespace: Some(NS.into()),
        label_selector: None,
    };
    let list = kube.list_pods(&scope).await.expect("list");
    assert_eq!(list.pods.len(), 3);
    let w = list
        .pods
        .iter()
        .find(|p| p.name == "worker-0")
        .expect("worker");
    assert_eq!(w.status, "CrashLoopBackOff");
    assert_eq!(w.health, Health::Bad);
    assert_eq!(w.restarts, 7);
    assert_eq!(
        w.last_termination.as_ref().map(|t| t.label()).as_deref(),
        Some("OOMKilled (exit 137)")
    );
    let api = list
        .pods
        .iter()
        .find(|p| p.name.starts_with("api-"))
        .expect("api pod");
    assert_eq!(api.deployment.as_deref(), Some("api"));
    assert_eq!(api.ready_text(), "1/1");

    // kube-rs authenticated with the kubeconfig's token on every call.
    assert_eq!(emu.authenticated(), emu.requests().len());
    let events = kube.pod_events(NS, "worker-0").await.expect("events");
    assert_eq!(events.len(), 2);
    assert!(events[0].warning, "warnings first: {events:?}");

    // The pane: `p` on the crash-looping pod opens the previous container's logs.
    let mut pods = PodsPane::new(vec![CTX.into()], None);
    pods.apply(
        CTX,
        PodFeed::Listed {
            scope,
            pods: list.pods,
        },
    );
    pods.set_filter("worker");
    let target = pods
        .log_target(KeyAction::PodPreviousLogs)
        .expect("previous logs target");
    assert!(target.requests[0].previous);
    let mut logs = LogsPane::new(1 << 20);
    let session = logs.open(&target);
    let (tx, mut rx) = mpsc::channel(16);
    spawn_log(
        session,
        kube.clone(),
        target.requests[0].clone(),
        "worker".into(),
        tx,
    );
    loop {
        if let Event::KubeLogs(b) = next(&mut rx, "previous logs").await {
            let done = b.note == Some(StreamNote::Ended);
            logs.apply(b);
            if done {
                break;
            }
        }
    }
    let texts: Vec<String> = logs.buffer().entries().map(|e| e.text.clone()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    let json = logs
        .buffer()
        .entries()
        .nth(1)
        .and_then(|e| e.json.clone())
        .expect("json line");
    assert_eq!(
        (json.level.as_deref(), json.message.as_str()),
        (Some("ERROR"), "heap 1.9GiB of 2GiB limit")
    );
    assert!(
        texts[2].contains("previous container worker ended: OOMKilled (exit 137)"),
        "termination inline: {texts:?}"
    );
    // And on screen: level + message, the termination line, no escape.
    let screen = draw(&logs, 100, 10);
    assert!(
        screen.contains("ERROR heap 1.9GiB of 2GiB limit"),
        "{screen}"
    );
    assert!(screen.contains("OOMKilled (exit 137)"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_watch_resumes_after_a_drop_and_relists_on_410_gone() {
    let emu = KubeEmulator::start().await;
    emu.set_bookmark_interval(Duration::from_millis(100));
    emu.add_deployment(NS, "api", 2);
    oom_worker(&emu);
    let (tx, mut rx) = mpsc::channel(64);
    let (control, receiver) = watch::channel(true);
    let scope = PodScope {
        namespace: Some(NS.into()),
        label_selector: None,
    };
    spawn_pods(CTX.into(), real(&emu), vec![scope.clone()], tx, receiver);
    let mut pane = PodsPane::new(vec![CTX.into()], None);

    let first = next_feed(&mut rx, "the first listing").await;
    assert!(
        matches!(&first, PodFeed::Listed { pods, .. } if pods.len() == 3),
        "{first:?}"
    );
    pane.apply(CTX, first);

    emu.set_pod_status(NS, "worker-0", running("worker"));
    let change = next_feed(&mut rx, "the status change").await;
    assert!(
        matches!(&change, PodFeed::Changed(PodChange::Upsert(p)) if p.status == "Running"),
        "{change:?}"
    );
    pane.apply(CTX, change);

    // The connection drops: the worker resumes from the last version, without a new list.
    tokio::time::sleep(Duration::from_millis(300)).await;
    emu.drop_watches();
    tokio::time::sleep(Duration::from_millis(300)).await;
    emu.set_pod_status(NS, "worker-0", crash_looping("worker", 8, "OOMKilled", 137));
    let change = next_feed(&mut rx, "the change after the drop").await;
    assert!(
        matches!(&change, PodFeed::Changed(PodChange::Upsert(p)) if p.restarts == 8),
        "{change:?}"
    );
    pane.apply(CTX, change);
    let requests = emu.requests();
    let lists = requests
        .iter()
        .filter(|r| r.contains("/pods?") && !r.contains("watch=true"))
        .count();
    let watches: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("watch=true"))
        .collect();
    assert_eq!(lists, 1, "resumed without a relist: {requests:#?}");
    assert!(watches.len() >= 2, "{requests:#?}");
    assert!(
        watches
            .iter()
            .all(|w| w.contains("resourceVersion=1") && w.contains("allowWatchBookmarks=true")),
        "every watch resumes from a version: {watches:#?}"
    );

    // History compacted: the resumed watch gets 410 Gone, the worker lists again and the
    // listing replaces the scope in one step (no delete, no empty table in between).
    emu.compact();
    emu.drop_watches();
    let relist = next_feed(&mut rx, "the relisting after 410").await;
    match &relist {
        PodFeed::Listed { pods, .. } => assert_eq!(pods.len(), 3),
        other => panic!("expected a relisting, got {other:?}"),
    }
    let selected_before = pane.selected_pod().map(|p| p.key());
    pane.apply(CTX, relist);
    assert_eq!(pane.rows().len(), 3);
    assert_eq!(pane.selected_pod().map(|p| p.key()), selected_before);
    let lists = emu
        .requests()
        .iter()
        .filter(|r| r.contains("/pods?") && !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 2);

    // Watching goes on after the relist.
    emu.add_pod(bare_pod(NS, "late", &["late"], running("late")));
    let added = next_feed(&mut rx, "a pod added after the relist").await;
    assert!(
        matches!(&added, PodFeed::Changed(PodChange::Upsert(p)) if p.name == "late"),
        "{added:?}"
    );

    // Hidden pane: the watch closes.
    control.send(false).expect("control");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = emu.requests().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(emu.requests().len(), before, "no request while hidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_stream_cut_mid_line_resumes_without_loss_or_duplicates() {
    let emu = KubeEmulator::start().await;
    emu.add_pod(bare_pod(NS, "web-0", &["web"], running("web")));
    // 60 lines, 20 per second: sinceTime (second precision) will resend some of them.
    let lines: Vec<LogLine> = (0..60)
        .map(|i| LogLine {
            time: at(10 + i / 20, (i % 20) * 40),
            text: format!("request {i:03} GET /orders 200"),
        })
        .collect();
    emu.add_log_lines(NS, "web-0", "web", lines);
    // Cut in the middle of line 30 (each line is 30 bytes of timestamp + 30 of text).
    let per_line = "2026-09-21T14:13:30.040000000Z ".len() + "request 000 GET /orders 200\n".len();
    emu.cut_next_log_stream(per_line * 30 + 17);
    let (tx, mut rx) = mpsc::channel(64);
    let request = log_request("web-0", None, true);
    let _task = spawn_log(1, real(&emu), request, "web".into(), tx);
    let mut got = Vec::new();
    let mut resumed = 0;
    while got.len() < 60 {
        if let Event::KubeLogs(b) = next(&mut rx, "log lines").await {
            assert_eq!(b.undelivered, 0);
            if matches!(b.note, Some(StreamNote::Resumed { .. })) {
                resumed += 1;
            }
            got.extend(b.lines.into_iter().map(|l| l.text));
        }
    }
    assert_eq!(resumed, 1, "one cut, one resume");
    let want: Vec<String> = (0..60)
        .map(|i| format!("request {i:03} GET /orders 200"))
        .collect();
    assert_eq!(got, want, "every line once, in order, the cut one whole");
    let log_requests: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.contains("/log?"))
        .collect();
    assert_eq!(log_requests.len(), 2, "{log_requests:#?}");
    assert!(log_requests[1].contains("sinceTime="), "{log_requests:#?}");
    // Lines written after the resume arrive once too.
    emu.add_logs(
        NS,
        "web-0",
        "web",
        false,
        &[(at(13, 0), "request 060 after the cut")],
    );
    loop {
        if let Event::KubeLogs(b) = next(&mut rx, "the line after the cut").await
            && !b.lines.is_empty()
        {
            let texts: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
            assert_eq!(texts, ["request 060 after the cut"]);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_line_burst_is_counted_exactly_and_memory_stays_bounded() {
    let emu = KubeEmulator::start().await;
    emu.add_pod(bare_pod(NS, "chatty", &["app"], running("app")));
    const N: usize = 100_000;
    let lines: Vec<LogLine> = (0..N)
        .map(|i| LogLine {
            time: at(100 + (i / 1000) as u64, (i % 1000) as u64),
            text: format!(
                "{{\"level\":\"info\",\"msg\":\"burst line {i}\",\"user\":\"u{}\"}}",
                i % 97
            ),
        })
        .collect();
    emu.add_log_lines(NS, "chatty", "app", lines);
    // A tiny channel and a slow reader: the worker must count what it could not deliver.
    let (tx, mut rx) = mpsc::channel(2);
    let request = log_request("chatty", Some("app"), false);
    let cap = 1 << 20;
    let mut pane = LogsPane::new(cap);
    let target = LogTarget {
        context: CTX.into(),
        title: "chatty".into(),
        requests: vec![request.clone()],
        termination: None,
    };
    let session = pane.open(&target);
    let _task = spawn_log(session, real(&emu), request, "app".into(), tx);
    let (mut delivered, mut undelivered, mut batches) = (0u64, 0u64, 0u64);
    loop {
        let Event::KubeLogs(b) = next(&mut rx, "burst batches").await else {
            continue;
        };
        batches += 1;
        delivered += b.lines.len() as u64;
        undelivered += b.undelivered;
        let end = b.note == Some(StreamNote::Ended);
        pane.apply(b);
        assert!(pane.buffer().bytes() <= cap, "bounded in bytes");
        if end {
            break;
        }
        if batches % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    assert_eq!(
        delivered + undelivered,
        N as u64,
        "every line delivered or counted"
    );
    assert!(undelivered > 0, "the slow reader made the channel overflow");
    assert!(delivered > 0);
    let buf = pane.buffer();
    assert_eq!(buf.undelivered(), undelivered);
    // Container lines + the "stream ended" line = in the buffer + evicted.
    assert_eq!(buf.len() as u64 + buf.evicted(), delivered + 1);
    assert_eq!(buf.dropped(), buf.evicted() + undelivered);
    assert!(buf.evicted() > 0, "1 MiB cannot hold the burst");
    let screen = draw(&pane, 160, 8);
    assert!(
        screen.contains(&format!(
            "dropped {} ({} evicted, {} not delivered)",
            buf.dropped(),
            buf.evicted(),
            undelivered
        )),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_and_control_characters_never_reach_the_screen() {
    let emu = KubeEmulator::start().await;
    emu.add_pod(bare_pod(NS, "evil", &["evil"], running("evil")));
    let huge = format!("start {} end", "A".repeat(10 * 1024 * 1024));
    emu.add_logs(
        NS,
        "evil",
        "evil",
        false,
        &[
            (
                at(0, 0),
                "\u{1b}]0;pwned title\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m plain",
            ),
            (
                at(0, 1),
                "bell\u{7} backspace\u{8} cr\r csi\u{9b}31m bidi\u{202e}desrever",
            ),
            (
                at(0, 2),
                r#"{"level":"\u001b[5mwarn","msg":"json \u001b]8;;http://x\u001b\\link"}"#,
            ),
            (at(0, 3), &huge),
        ],
    );
    emu.add_event(
        NS,
        "evil",
        true,
        "Evil\u{1b}[2J",
        "message \u{1b}]0;x\u{7} with escapes",
    );
    let kube = real(&emu);
    let (tx, mut rx) = mpsc::channel(16);
    let request = log_request("evil", Some("evil"), false);
    let mut pane = LogsPane::new(4 << 20);
    let session = pane.open(&LogTarget {
        context: CTX.into(),
        title: "evil".into(),
        requests: vec![request.clone()],
        termination: None,
    });
    spawn_log(session, kube.clone(), request, "evil".into(), tx);
    loop {
        if let Event::KubeLogs(b) = next(&mut rx, "evil lines").await {
            let end = b.note.is_some();
            pane.apply(b);
            if end {
                break;
            }
        }
    }
    assert_eq!(pane.buffer().len(), 5);
    for e in pane.buffer().entries() {
        assert!(
            !e.text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{:?}",
            e.text
        );
    }
    // A 10 MB line is cut at ingest and draws in no time.
    let started = std::time::Instant::now();
    for wrap in [false, true] {
        if wrap {
            pane.on_action(KeyAction::LogsWrap);
        }
        let screen = draw(&pane, 120, 30);
        assert!(
            !screen.chars().any(|c| c.is_control() && c != '\n'),
            "{screen:?}"
        );
        // Wrapped, the cut 10 MB line fills the screen above the last line.
        let expect = if wrap { "stream ended" } else { "red plain" };
        assert!(screen.contains(expect), "{screen}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drawing took {:?}",
        started.elapsed()
    );

    // Event messages in the Pods pane too.
    let mut pods = PodsPane::new(vec![CTX.into()], None);
    let scope = PodScope {
        namespace: Some(NS.into()),
        label_selector: None,
    };
    let list = kube.list_pods(&scope).await.expect("list");
    pods.apply(
        CTX,
        PodFeed::Listed {
            scope,
            pods: list.pods,
        },
    );
    let events = kube.pod_events(NS, "evil").await.map_err(Into::into);
    pods.apply_events(CTX, NS, "evil", events);
    let screen = draw(&pods, 160, 30);
    assert!(
        screen.contains("message  with escapes") || screen.contains("message with escapes"),
        "{screen}"
    );
    assert!(
        !screen.chars().any(|c| c.is_control() && c != '\n'),
        "{screen:?}"
    );
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

fn executor(emu: &KubeEmulator, audit: &AuditServer, dir: &std::path::Path) -> Executor {
    let settings = AuditSettings {
        file: dir.join("audit.jsonl"),
        endpoint: Some(audit.url()),
        token_env: None,
        timeout: Duration::from_secs(5),
        on_unreachable: OnUnreachable::Deny,
        identity: Some("sre@example.com".into()),
    };
    let policy = Policy {
        global_read_only: false,
        contexts: HashMap::from([(CTX.to_string(), ContextPolicy::default())]),
    };
    Executor::new(
        AuditLog::new(settings, new_session_id()),
        policy,
        ReasonRules {
            min_len: 10,
            pattern: None,
        },
        Duration::from_secs(5),
    )
    .with_kube(CTX, real(emu) as Arc<dyn KubeActor>)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_pod_and_rollout_restart_go_through_the_guard_with_audit_records() {
    let emu = KubeEmulator::start().await;
    let api_pods = emu.add_deployment(NS, "api", 2);
    oom_worker(&emu);
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exec = executor(&emu, &audit, dir.path());

    // Build the actions as the pane does, from what the watch showed.
    let kube = real(&emu);
    let scope = PodScope {
        namespace: Some(NS.into()),
        label_selector: None,
    };
    let list = kube.list_pods(&scope).await.expect("list");
    let mut pane = PodsPane::new(vec![CTX.into()], None);
    pane.apply(
        CTX,
        PodFeed::Listed {
            scope,
            pods: list.pods,
        },
    );
    pane.set_filter("worker-0");
    let effects = pane.on_action(KeyAction::PodDelete);
    let Some(warroom_tui::panes::Effect::Guard(actions)) = effects
        .into_iter()
        .find(|e| matches!(e, warroom_tui::panes::Effect::Guard(_)))
    else {
        panic!("ctrl-d gives a guarded action");
    };
    let GuardedAction::Kube(KubeAction::DeletePod(t)) = &actions[0] else {
        panic!("{actions:?}");
    };
    assert_eq!(
        (t.pod.as_str(), t.uid.as_str(), t.grace_period),
        ("worker-0", "uid-worker-0", Some(30))
    );
    assert!(
        actions[0]
            .describe()
            .join("\n")
            .contains("grace period: 30 s")
    );

    let reports = exec
        .run(GuardRequest {
            actions: actions.clone(),
            reason: "INC-42 worker OOM loop, recreate it".into(),
            typed_context: None,
        })
        .await;
    assert!(reports[0].outcome == Outcome::Done, "{reports:?}");
    assert!(emu.pod(NS, "worker-0").is_none(), "the pod is gone");
    let delete = emu.deletes().pop().expect("a DELETE");
    assert_eq!(delete["preconditions"]["uid"], json!("uid-worker-0"));
    assert_eq!(delete["gracePeriodSeconds"], json!(30));
    let got = audit.accepted();
    assert_eq!(got.len(), 2, "intent then outcome");
    assert_eq!(got[0].body["action"], json!("kube.delete_pod"));
    assert_eq!(got[0].body["target"]["pod"], json!("worker-0"));
    assert_eq!(
        got[0].body["reason"],
        json!("INC-42 worker OOM loop, recreate it")
    );
    assert_eq!(got[1].body["intent_id"], got[0].body["id"]);
    assert_eq!(got[1].body["outcome"]["ok"], json!(true));

    // A pod recreated under the same name is not the one confirmed: nothing is deleted.
    emu.add_pod(bare_pod(NS, "worker-0", &["worker"], running("worker")));
    emu.set_pod_status(NS, "worker-0", running("worker"));
    let mut stale = t.clone();
    stale.uid = "uid-of-the-old-pod".into();
    let reports = exec
        .run(GuardRequest {
            actions: vec![GuardedAction::Kube(KubeAction::DeletePod(stale))],
            reason: "INC-42 worker OOM loop, recreate it".into(),
            typed_context: None,
        })
        .await;
    assert!(reports[0].outcome == Outcome::Failed, "{reports:?}");
    assert!(
        reports[0].detail.contains("nothing deleted"),
        "{}",
        reports[0].detail
    );
    assert!(emu.pod(NS, "worker-0").is_some());

    // Rollout restart of the api Deployment: restartedAt, the reason and the audit id.
    audit.clear();
    let restart = GuardedAction::Kube(KubeAction::RolloutRestart(DeploymentTarget {
        context: CTX.into(),
        namespace: NS.into(),
        deployment: "api".into(),
        from_pod: Some(api_pods[0].clone()),
    }));
    let reports = exec
        .run(GuardRequest {
            actions: vec![restart],
            reason: "INC-42 api holds stale config".into(),
            typed_context: None,
        })
        .await;
    assert!(reports[0].outcome == Outcome::Done, "{reports:?}");
    let audit_id = reports[0].audit_id.clone().expect("audit id");
    let (ctype, patch) = emu.patches().pop().expect("a PATCH");
    assert!(
        ctype.starts_with("application/strategic-merge-patch+json"),
        "{ctype}"
    );
    let ann = &patch["spec"]["template"]["metadata"]["annotations"];
    assert!(
        ann["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{patch}"
    );
    assert_eq!(
        ann["warroom.dev/restart-reason"],
        json!("INC-42 api holds stale config")
    );
    assert_eq!(ann["warroom.dev/audit-id"], json!(audit_id));
    let got = audit.accepted();
    assert_eq!(got[0].body["action"], json!("kube.rollout_restart"));
    assert_eq!(got[0].body["id"], json!(audit_id));
    let now: Vec<String> = emu
        .pod_names(NS)
        .into_iter()
        .filter(|p| p.starts_with("api-"))
        .collect();
    assert_eq!(now.len(), 2);
    assert!(
        now.iter().all(|p| !api_pods.contains(p)),
        "the pods were replaced"
    );
}

/// Issue 10 item 10: a rollout restart goes ahead only if the pod's ReplicaSet is owned by the
/// Deployment's uid, and the PATCH carries that uid as a precondition. A Deployment deleted and
/// recreated under the same name (its old ReplicaSet names the old uid) is not restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_checks_ownership_by_uid_and_patches_with_a_precondition() {
    let emu = KubeEmulator::start().await;
    let api_pods = emu.add_deployment(NS, "api", 2);
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exec = executor(&emu, &audit, dir.path());
    let restart = |pod: &str| {
        GuardedAction::Kube(KubeAction::RolloutRestart(DeploymentTarget {
            context: CTX.into(),
            namespace: NS.into(),
            deployment: "api".into(),
            from_pod: Some(pod.to_string()),
        }))
    };
    let run = |action: GuardedAction| {
        exec.run(GuardRequest {
            actions: vec![action],
            reason: "INC-43 api holds stale config".into(),
            typed_context: None,
        })
    };

    let reports = run(restart(&api_pods[0])).await;
    assert!(
        reports[0].outcome == Outcome::Done,
        "{}",
        reports[0].summary()
    );
    let (_, patch) = emu.patches().pop().expect("a PATCH");
    assert_eq!(patch["metadata"]["uid"], json!("dep-api"), "{patch}");

    // Someone deletes the Deployment and creates another one named "api".
    emu.recreate_deployment(NS, "api");
    let patches_before = emu.patches().len();
    let pod = emu
        .pod_names(NS)
        .into_iter()
        .find(|p| p.starts_with("api-"))
        .expect("an api pod");
    let reports = run(restart(&pod)).await;
    let report = &reports[0];
    eprintln!("report: {}", report.summary());
    assert!(report.outcome == Outcome::Failed, "{}", report.summary());
    assert!(
        report.detail.contains("not the one you chose")
            && report
                .detail
                .contains("owned by deployment api (uid dep-api)"),
        "{}",
        report.detail
    );
    assert_eq!(emu.patches().len(), patches_before, "no PATCH was sent");
}

/// A token the API server refuses (401) is "auth failed", not an outage: the watch is not
/// retried for a minute, and the Pods pane says so.
#[tokio::test]
async fn a_refused_token_says_auth_failed_and_is_not_retried_soon() {
    let emu = KubeEmulator::start().await;
    let kube = Arc::new(
        RealKube::new(Some("emulator".into()))
            .with_kubeconfig(emu.kubeconfig_with_token("revoked-token")),
    );
    let (tx, mut rx) = mpsc::channel(16);
    let (_control, control_rx) = watch::channel(true);
    let tasks = spawn_pods(CTX.into(), kube, vec![PodScope::default()], tx, control_rx);
    let feed = next_feed(&mut rx, "the refused listing").await;
    for t in tasks {
        t.abort();
    }
    let PodFeed::Broken { error, retry_in } = feed.clone() else {
        panic!("expected a broken watch, got {feed:?}");
    };
    assert_eq!(
        error.kind,
        warroom_core::backends::ErrorKind::AuthFailed,
        "{error}"
    );
    assert_eq!(retry_in, Duration::from_secs(60));
    assert_eq!(emu.authenticated(), 0, "the right token was never sent");

    let mut pods = PodsPane::new(vec![CTX.into()], None);
    pods.apply(CTX, feed);
    let screen = draw(&pods, 160, 20);
    assert!(
        screen.contains("auth failed, not retried for 1m: API error 401"),
        "{screen}"
    );
    assert!(!screen.contains("revoked-token"), "{screen}");
}

/// Nothing listens where the kubeconfig points: "unreachable", retried soon.
#[tokio::test]
async fn an_api_server_that_is_gone_says_unreachable() {
    let emu = KubeEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kubeconfig");
    std::fs::copy(emu.kubeconfig(), &config).expect("keep the kubeconfig");
    drop(emu);
    // The aborted listener task closes its socket when the runtime next polls it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kube = Arc::new(RealKube::new(Some("emulator".into())).with_kubeconfig(&config));
    let (tx, mut rx) = mpsc::channel(16);
    let (_control, control_rx) = watch::channel(true);
    let tasks = spawn_pods(CTX.into(), kube, vec![PodScope::default()], tx, control_rx);
    let feed = next_feed(&mut rx, "the failed listing").await;
    for t in tasks {
        t.abort();
    }
    let PodFeed::Broken { error, retry_in } = feed else {
        panic!("expected a broken watch, got {feed:?}");
    };
    assert_eq!(
        error.kind,
        warroom_core::backends::ErrorKind::Unreachable,
        "{error}"
    );
    assert_eq!(retry_in, Duration::from_millis(500));
}
