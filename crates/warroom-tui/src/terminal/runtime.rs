//! The event loop: terminal events, worker messages, ticks and signals in; commands out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use warroom_core::protocol::requests::RequestState;

use crossterm::event::{Event, EventStream};
use futures::{FutureExt, StreamExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::record::Recorder;
use super::screen::TerminalGuard;
use crate::app::{App, Command, Msg, Polled};
use crate::workers::Event as WorkerEvent;
use crate::workers::kube::{KubeContexts, KubeTasks};
use crate::workers::pg::{self as pg_worker, PollControl};
use warroom_core::backends::postgres::PgSource;
use warroom_core::guard::Executor;

/// What the runtime needs to serve the App's commands.
pub struct Backends {
    pub pg: HashMap<String, Arc<dyn PgSource>>,
    /// The statements view and EXPLAIN, per PostgreSQL context.
    pub pg_statements: HashMap<String, Arc<dyn warroom_core::backends::postgres::PgStatements>>,
    pub kafka: HashMap<String, Arc<dyn warroom_core::backends::kafka::KafkaSource>>,
    pub kube: HashMap<String, crate::workers::kube::KubeContext>,
    pub executor: Arc<Executor>,
    /// The `[server]`, when configured: the approvals badge and pending-request notices.
    pub server: Option<ServerFeed>,
}

/// What the runtime watches on the `[server]`.
pub struct ServerFeed {
    pub client: Arc<dyn warroom_client::actions::ApprovalDesk>,
    /// Delegated actions that became pending (sent by the executor's server delegate).
    pub pending: Option<mpsc::UnboundedReceiver<RequestState>>,
}

async fn list_approvals(
    client: Option<Arc<dyn warroom_client::actions::ApprovalDesk>>,
) -> Result<Vec<RequestState>, String> {
    match client {
        Some(c) => c.pending().await,
        None => Err("no [server] is configured: approvals live on the warroom server".into()),
    }
}

/// How often the approvals badge is refreshed.
const APPROVALS_EVERY: Duration = Duration::from_secs(3);

/// Starts the server feed's tasks: the approvals count and the pending-request notices.
fn start_server_feed(backends: &mut Backends, tx: &mpsc::Sender<Msg>) {
    let Some(feed) = backends.server.as_mut() else {
        return;
    };
    let (client, poll_tx) = (feed.client.clone(), tx.clone());
    tokio::spawn(async move {
        let mut last = None;
        loop {
            // Unreachable: keep the last count rather than flicker (the actions say why).
            if let Ok(rows) = client.pending().await {
                let mine = rows.iter().filter(|r| r.can_decide == Some(true)).count();
                if last != Some(mine) {
                    last = Some(mine);
                    if poll_tx.send(Msg::ApprovalsWaiting(mine)).await.is_err() {
                        return;
                    }
                }
            }
            tokio::time::sleep(APPROVALS_EVERY).await;
        }
    });
    if let Some(mut pending) = feed.pending.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(n) = pending.recv().await {
                if tx.send(Msg::ApprovalPending(Box::new(n))).await.is_err() {
                    return;
                }
            }
        });
    }
}

struct Runtime {
    backends: Backends,
    /// The runtime's own messages (guard results, notices).
    tx: mpsc::Sender<Msg>,
    /// What workers report; `App::update` gets them as `Msg::Worker`.
    events: mpsc::Sender<WorkerEvent>,
    /// One poller per kind and context, started the first time it is active.
    pollers: HashMap<(Polled, String), watch::Sender<PollControl>>,
    kube: crate::workers::kube::KubeTasks,
}

impl Runtime {
    /// Start, change or pause the poller of `what` on `context`. Only a real change wakes
    /// a worker (an immediate refresh); a poller is spawned the first time it is active.
    fn poll(&mut self, what: Polled, context: String, ctl: PollControl) {
        let key = (what, context);
        if let Some(sender) = self.pollers.get(&key) {
            sender.send_if_modified(|c| {
                let changed = *c != ctl;
                *c = ctl;
                changed
            });
        } else if ctl.active {
            let (sender, receiver) = watch::channel(ctl);
            if self.spawn_poller(what, key.1.clone(), receiver) {
                self.pollers.insert(key, sender);
            }
        }
    }

    /// The worker that polls `what` on `context`; false when the context has no such backend.
    fn spawn_poller(
        &self,
        what: Polled,
        context: String,
        control: watch::Receiver<PollControl>,
    ) -> bool {
        let tx = self.events.clone();
        let b = &self.backends;
        match what {
            Polled::PgSessions => {
                let Some(source) = b.pg.get(&context).cloned() else {
                    return false;
                };
                pg_worker::spawn(context, source, tx, control);
            }
            Polled::PgStatements => {
                let Some(source) = b.pg_statements.get(&context).cloned() else {
                    return false;
                };
                let to_msg = WorkerEvent::PgStatements;
                crate::workers::statements::spawn_statements(context, source, tx, control, to_msg);
            }
            Polled::Kafka => {
                let Some(source) = b.kafka.get(&context).cloned() else {
                    return false;
                };
                crate::workers::kafka::spawn(context, source, tx, control);
            }
        }
        true
    }

    fn perform(&mut self, cmd: Command) {
        match cmd {
            Command::Quit => {}
            Command::Poll {
                what,
                context,
                active,
                interval,
            } => self.poll(what, context, PollControl { active, interval }),
            Command::PgExplain { context, pid } => {
                let source = self.backends.pg_statements.get(&context).cloned();
                crate::workers::statements::spawn_explain(
                    context,
                    source,
                    pid,
                    self.events.clone(),
                );
            }
            Command::KubeWatch { .. }
            | Command::KubeEvents { .. }
            | Command::KubeLogsLookup { .. }
            | Command::KubeLogs { .. } => {
                let _ = perform_kube(&mut self.kube, cmd, &self.backends.kube, &self.events);
            }
            Command::KafkaPlanReset {
                context,
                group,
                spec,
            } => match self.backends.kafka.get(&context) {
                Some(source) => {
                    crate::workers::kafka::plan_reset(
                        context,
                        group,
                        spec,
                        source.clone(),
                        self.events.clone(),
                    );
                }
                None => {
                    let _ = self.events.try_send(WorkerEvent::KafkaPlan {
                        context: context.clone(),
                        result: Err(format!("no connection for context {context}").into()),
                    });
                }
            },
            Command::WriteFile {
                path,
                contents,
                what,
            } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let target = path.clone();
                    let written = tokio::task::spawn_blocking(move || {
                        crate::panes::write_file(&target, &contents)
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("the writer failed: {e}")));
                    let (text, error) = match written {
                        Ok(()) => (format!("saved {what} to {}", path.display()), false),
                        Err(e) => (e, true),
                    };
                    let _ = tx.send(Msg::Notice { text, error }).await;
                });
            }
            Command::WithdrawRequest(id) => {
                let tx = self.tx.clone();
                let client = self.backends.server.as_ref().map(|s| s.client.clone());
                tokio::spawn(async move {
                    let result = match client {
                        Some(c) => c.withdraw(&id).await.map(|_| ()),
                        None => Err("no [server] is configured".to_string()),
                    };
                    // Success shows as the action's result (the wait sees "withdrawn").
                    if let Err(e) = result {
                        let text = format!("could not withdraw request {id}: {e}");
                        let _ = tx.send(Msg::Notice { text, error: true }).await;
                    }
                });
            }
            Command::ListApprovals => {
                let tx = self.tx.clone();
                let client = self.backends.server.as_ref().map(|s| s.client.clone());
                tokio::spawn(async move {
                    let _ = tx
                        .send(Msg::ApprovalsList(list_approvals(client).await))
                        .await;
                });
            }
            Command::DecideRequest {
                id,
                approve,
                reason,
                binding,
            } => {
                let tx = self.tx.clone();
                let client = self.backends.server.as_ref().map(|s| s.client.clone());
                tokio::spawn(async move {
                    let (text, error) = match &client {
                        Some(c) => match c
                            .decide(warroom_client::actions::Verdict {
                                id: &id,
                                approve,
                                reason: &reason,
                                binding: Some(&binding),
                            })
                            .await
                        {
                            Ok(row) => (
                                format!(
                                    "request {id}: {} — {}",
                                    row.status.as_str(),
                                    warroom_core::sanitize::cell(&row.detail, 500)
                                ),
                                false,
                            ),
                            Err(e) => (format!("request {id}: {e}"), true),
                        },
                        None => ("no [server] is configured".to_string(), true),
                    };
                    let _ = tx.send(Msg::Notice { text, error }).await;
                    let _ = tx
                        .send(Msg::ApprovalsList(list_approvals(client).await))
                        .await;
                });
            }
            Command::Execute(request) => {
                let executor = self.backends.executor.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let reports = executor.run(request).await;
                    let _ = tx.send(Msg::GuardDone(reports)).await;
                });
            }
        }
    }
}

/// Perform a Kubernetes command with `tasks` (the runtime's; test harnesses that stand in
/// for the runtime use it too). Any other command comes back, not performed.
pub fn perform_kube(
    tasks: &mut KubeTasks,
    cmd: Command,
    contexts: &KubeContexts,
    tx: &mpsc::Sender<WorkerEvent>,
) -> Option<Command> {
    match cmd {
        Command::KubeWatch { context, active } => tasks.watch(context, active, contexts, tx),
        Command::KubeEvents {
            context,
            namespace,
            pod,
        } => tasks.events(context, namespace, pod, contexts, tx),
        Command::KubeLogsLookup {
            id,
            context,
            selection,
        } => tasks.lookup(id, context, selection, contexts, tx),
        Command::KubeLogs {
            session,
            context,
            requests,
        } => tasks.follow(session, context, requests, contexts, tx),
        other => return Some(other),
    }
    None
}

/// Run the TUI until the user quits or a signal arrives. The terminal is restored on
/// every way out (return, error, panic).
pub async fn run(
    mut app: App,
    backends: Backends,
    recorder: Option<Recorder>,
    mut sharing: Option<&mut warroom_client::share::Sharing>,
) -> anyhow::Result<()> {
    let share = sharing.as_ref().map(|s| s.feed.clone());
    let mut term = TerminalGuard::enter(recorder.clone(), share.clone())?;
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    let (events, mut worker_rx) = mpsc::channel::<WorkerEvent>(256);
    let mut rt = Runtime {
        backends,
        tx,
        events,
        pollers: HashMap::new(),
        kube: Default::default(),
    };
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    start_server_feed(&mut rt.backends, &rt.tx);
    for c in app.startup() {
        rt.perform(c);
    }
    deliver_pending_audit(&rt);
    report_orphaned_intents(&rt);
    term.terminal.draw(|f| app.render(f))?;
    loop {
        let first = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => to_msg(ev),
                Some(Err(e)) => return Err(e.into()),
                None => Some(Msg::Shutdown),
            },
            Some(m) = rx.recv() => Some(m),
            Some(e) = worker_rx.recv() => Some(Msg::from(e)),
            _ = ticker.tick() => Some(Msg::Tick),
            _ = sigterm.recv() => Some(Msg::Shutdown),
            _ = sighup.recv() => Some(Msg::Shutdown),
            status = share_status(&mut sharing) => Some(Msg::ShareStatus(status)),
        };
        let mut batch: Vec<Msg> = first.into_iter().collect();
        // Drain what is already queued, then draw once.
        while let Some(Some(Ok(ev))) = events.next().now_or_never() {
            batch.extend(to_msg(ev));
        }
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        while let Ok(e) = worker_rx.try_recv() {
            batch.push(Msg::from(e));
        }
        if let Some(rec) = &recorder {
            for msg in &batch {
                mark(rec, msg);
            }
        }
        if let Some(share) = &share {
            for msg in &batch {
                mark(share, msg);
            }
        }
        // One batch: keys queued before a confirmation appeared never reach it.
        for c in app.update_batch(batch) {
            if let Command::Execute(req) = &c {
                for a in &req.actions {
                    let label = format!("confirmed: {} — reason: {}", a.title(), req.reason);
                    if let Some(rec) = &recorder {
                        rec.marker(&label);
                    }
                    if let Some(share) = &share {
                        share.marker(&label);
                    }
                }
            }
            rt.perform(c);
        }
        if app.should_quit() {
            if !app.quit_forced() {
                wait_for_running_actions(&rt, &mut app, &mut term).await?;
            }
            return Ok(());
        }
        if let Some(share) = &share
            && share.take_keyframe_request()
        {
            // A full-screen redraw for the watchers (start, reconnect, a lost frame).
            share.begin_keyframe();
            // Not `clear()`: that asks the terminal where the cursor is, and the answer would
            // land in the key event stream. A resize to the same size clears without asking.
            let size = term.terminal.size()?;
            term.terminal
                .resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
        }
        term.terminal.draw(|f| app.render(f))?;
    }
}

/// The next change of the share's status text; never ready without a share.
async fn share_status(sharing: &mut Option<&mut warroom_client::share::Sharing>) -> String {
    if let Some(s) = sharing
        && s.status.changed().await.is_ok()
    {
        return s.status.borrow_and_update().clone();
    }
    std::future::pending().await
}

/// Quitting on a signal (SIGTERM, SIGHUP) or a plain quit while an action runs: wait a bounded
/// time for its outcome to be recorded, saying so on screen, instead of dropping it mid-call.
async fn wait_for_running_actions(
    rt: &Runtime,
    app: &mut App,
    term: &mut TerminalGuard,
) -> anyhow::Result<()> {
    let executor = &rt.backends.executor;
    let running = executor.in_flight().clone();
    if running.count() == 0 {
        return Ok(());
    }
    let grace = shutdown_grace(executor);
    app.update(Msg::Notice {
        text: format!(
            "waiting up to {} for the running action's outcome before quitting",
            humantime::format_duration(grace)
        ),
        error: true,
    });
    term.terminal.draw(|f| app.render(f))?;
    // The executor task keeps running meanwhile (it was spawned on the runtime).
    let done = running.wait_idle(grace).await;
    if !done {
        tracing::error!("quit with an action still running: its outcome may be missing");
    }
    Ok(())
}

/// How long a quit waits for a running action: its call's bound plus the audit calls around it.
pub fn shutdown_grace(executor: &Executor) -> Duration {
    executor.action_timeout() + executor.audit().settings().timeout * 3 + Duration::from_secs(1)
}

/// Intents a previous run left without an outcome are reported at start.
fn report_orphaned_intents(rt: &Runtime) {
    let audit = rt.backends.executor.audit().clone();
    let tx = rt.tx.clone();
    tokio::spawn(async move {
        if let Some(text) = warroom_core::audit::commands::orphan_notice(&audit).await {
            let _ = tx.send(Msg::Notice { text, error: true }).await;
        }
    });
}

/// Outcome records a previous run could not deliver go out now, in the background.
fn deliver_pending_audit(rt: &Runtime) {
    let audit = rt.backends.executor.audit().clone();
    if audit.settings().endpoint.is_none() {
        return;
    }
    let tx = rt.tx.clone();
    tokio::spawn(async move {
        if audit.pending_count().await.unwrap_or(0) == 0 {
            return;
        }
        let (text, error) = match audit.flush().await {
            Ok(r) if r.is_complete() => (
                format!("audit: delivered {} pending record(s)", r.delivered),
                false,
            ),
            Ok(r) => (
                format!(
                    "audit: {} record(s) still pending ({}); run `warroom audit flush`",
                    r.remaining,
                    r.stopped.unwrap_or_default()
                ),
                true,
            ),
            Err(e) => (format!("audit: pending records not delivered: {e}"), true),
        };
        let _ = tx.send(Msg::Notice { text, error }).await;
    });
}

/// Where a copy of the screen goes besides the terminal: the recording, the watchers.
trait ScreenCopy {
    fn marker(&self, label: &str);
    fn resize(&self, width: u16, height: u16);
}

impl ScreenCopy for Recorder {
    fn marker(&self, label: &str) {
        Recorder::marker(self, label);
    }
    fn resize(&self, width: u16, height: u16) {
        Recorder::resize(self, width, height);
    }
}

impl ScreenCopy for warroom_client::share::ShareFeed {
    fn marker(&self, label: &str) {
        warroom_client::share::ShareFeed::marker(self, label);
    }
    fn resize(&self, width: u16, height: u16) {
        warroom_client::share::ShareFeed::resize(self, width, height);
    }
}

/// Actions and their results become markers in the copy, and resizes follow the terminal.
fn mark(copy: &dyn ScreenCopy, msg: &Msg) {
    match msg {
        Msg::GuardDone(reports) => {
            for r in reports {
                copy.marker(&r.summary());
            }
        }
        Msg::Resize => {
            if let Ok((w, h)) = crossterm::terminal::size() {
                copy.resize(w, h);
            }
        }
        _ => {}
    }
}

fn to_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) => Some(Msg::Key(k)),
        Event::Resize(..) => Some(Msg::Resize),
        Event::Paste(text) => Some(Msg::Paste(text)),
        _ => None,
    }
}

/// The same event loop without a terminal: workers, the guard executor and the App, driven
/// by keys from code. For headless demo runs and end-to-end tests of the whole path.
pub struct Driver {
    app: App,
    rt: Runtime,
    rx: mpsc::Receiver<Msg>,
    worker_rx: mpsc::Receiver<WorkerEvent>,
}

impl Driver {
    /// Start the visible pane's workers, as the TUI does. Needs a tokio runtime.
    pub fn start(app: App, backends: Backends) -> Driver {
        let (tx, rx) = mpsc::channel::<Msg>(64);
        let (events, worker_rx) = mpsc::channel::<WorkerEvent>(256);
        let mut driver = Driver {
            app,
            rt: Runtime {
                backends,
                tx,
                events,
                pollers: HashMap::new(),
                kube: Default::default(),
            },
            rx,
            worker_rx,
        };
        start_server_feed(&mut driver.rt.backends, &driver.rt.tx);
        let cmds = driver.app.startup();
        driver.perform(cmds);
        driver
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    fn perform(&mut self, cmds: Vec<Command>) {
        for c in cmds {
            self.rt.perform(c);
        }
    }

    /// Feed one message (a key, a tick) to the App and run what it asks for.
    pub fn send(&mut self, msg: Msg) {
        let cmds = self.app.update(msg);
        self.perform(cmds);
    }

    /// A key with no modifier, as `send` does it.
    pub fn press(&mut self, code: crossterm::event::KeyCode) {
        let key = crossterm::event::KeyEvent::new(code, crossterm::event::KeyModifiers::NONE);
        self.send(Msg::Key(key));
    }

    /// Text typed one key at a time.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.press(crossterm::event::KeyCode::Char(c));
        }
    }

    /// Messages that arrive together (keys typed before the next draw), as the event loop
    /// handles them: see [`App::update_batch`].
    pub fn send_batch(&mut self, batch: Vec<Msg>) {
        let cmds = self.app.update_batch(batch);
        self.perform(cmds);
    }

    /// The executor's running actions (for tests of quitting while one runs).
    pub fn in_flight(&self) -> warroom_core::guard::InFlight {
        self.rt.backends.executor.in_flight().clone()
    }

    /// Let workers and actions deliver for `wait`, applying every message as it comes.
    pub async fn run_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(m) => self.send(m),
                    None => return,
                },
                event = self.worker_rx.recv() => match event {
                    Some(e) => self.send(Msg::from(e)),
                    None => return,
                },
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Run until `done` holds for the App, or `limit` passes; true when it held.
    pub async fn run_until(&mut self, limit: Duration, done: impl Fn(&App) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.app) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            self.run_for(Duration::from_millis(50)).await;
        }
        true
    }
}
