//! App state and `update(Msg) -> Vec<Command>`. No I/O here: the runtime performs the
//! commands and feeds results back as messages, so tests drive the App with values.

mod kube_logs;
mod layers;
mod render;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::backends::kafka::{KafkaSnapshot, ResetPlan, ResetSpec};
use crate::backends::kube::{LogBatch, LogRequest, LogSelection, PodEvent, PodFeed, PodRow};
use crate::backends::postgres::ActivitySnapshot;
use crate::config::{KeyAction, KeyChord, Keymap, Theme};
use crate::guard::{ActionReport, GuardRequest, GuardedAction, Policy, ReasonRules};
use crate::panes::kafka::KafkaPane;
use crate::panes::logs::LogsPane;
use crate::panes::pg::PgPane;
use crate::panes::pods::PodsPane;
use crate::panes::{Pane, PaneId, PaneOutcome};

pub use layers::{Confirmation, Layer, ReasonPrompt};

/// Everything that can happen to the App.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Resize,
    /// A timer tick: spinners and "refreshed Ns ago".
    Tick,
    /// A snapshot or an error from the PostgreSQL worker of `context`.
    PgUpdate {
        context: String,
        result: Result<ActivitySnapshot, String>,
        retry_in: Option<Duration>,
    },
    /// A snapshot or an error from the Kafka worker of `context`.
    KafkaUpdate {
        context: String,
        result: Result<KafkaSnapshot, String>,
        retry_in: Option<Duration>,
    },
    /// The preview of an offset reset, or why it could not be made.
    KafkaPlan {
        context: String,
        result: Result<ResetPlan, String>,
    },
    /// A listing, a change or a broken watch from the pod worker of `context`.
    KubePods {
        context: String,
        feed: PodFeed,
    },
    /// The events of one pod, warnings first.
    KubeEvents {
        context: String,
        namespace: String,
        pod: String,
        result: Result<Vec<PodEvent>, String>,
    },
    /// Lines (and notes, and a count of undelivered lines) from a log stream.
    KubeLogs(LogBatch),
    /// The pods a `:logs` selection names (lookup `id`), or why they could not be listed.
    KubeLogsLookup {
        id: u64,
        context: String,
        selection: LogSelection,
        result: Result<Vec<PodRow>, String>,
    },
    /// The guard executor finished a request.
    GuardDone(Vec<ActionReport>),
    /// SIGTERM, SIGHUP: leave cleanly.
    Shutdown,
    /// A message from the runtime for the status bar (e.g. audit records delivered).
    Notice {
        text: String,
        error: bool,
    },
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    /// Poll `context` every `interval` while `active`; stop polling otherwise.
    PgPoll {
        context: String,
        active: bool,
        interval: Duration,
    },
    /// Poll Kafka `context` every `interval` while `active`; stop polling otherwise.
    KafkaPoll {
        context: String,
        active: bool,
        interval: Duration,
    },
    /// Read what a reset would do (no change on the cluster), answer with `Msg::KafkaPlan`.
    KafkaPlanReset {
        context: String,
        group: String,
        spec: ResetSpec,
    },
    /// Keep a pod watch open on `context` while `active` (the Pods pane is shown).
    KubeWatch {
        context: String,
        active: bool,
    },
    /// Read the events of one pod once.
    KubeEvents {
        context: String,
        namespace: String,
        pod: String,
    },
    /// List the pods of a `:logs` selection; answer with `Msg::KubeLogsLookup`.
    KubeLogsLookup {
        id: u64,
        context: String,
        selection: LogSelection,
    },
    /// Stop the previous log streams and follow these (one request per container).
    KubeLogs {
        session: u64,
        context: String,
        requests: Vec<LogRequest>,
    },
    /// Run confirmed actions through the guard executor.
    Execute(GuardRequest),
    /// Write a file (e.g. the saved log buffer) off the UI task; answer with `Msg::Notice`.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
        what: String,
    },
}

/// Static facts the App shows: who acts, where audit records go.
#[derive(Debug, Clone, Default)]
pub struct GuardInfo {
    pub policy: Policy,
    pub rules: ReasonRules,
    pub actor: String,
    pub audit_destination: String,
}

/// A message in the status bar for a few seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

const TOAST_FOR: Duration = Duration::from_secs(8);

pub struct App {
    active: PaneId,
    pub pg: PgPane,
    pub kafka: KafkaPane,
    pub pods: PodsPane,
    pub logs: LogsPane,
    layers: Vec<Layer>,
    keymap: Keymap,
    theme: Theme,
    guard: GuardInfo,
    toast: Option<Toast>,
    tick: u64,
    /// The time of the last update: render reads it instead of the clock, so a frame is a
    /// pure function of the state (and snapshot tests see "refreshed just now").
    now: Instant,
    quit: bool,
    /// Training aid: the explanation panel under the pane.
    explain: bool,
    /// A guard request is running: its keys are not accepted twice.
    executing: bool,
}

impl App {
    pub fn new(pg: PgPane, keymap: Keymap, theme: Theme, guard: GuardInfo) -> App {
        App {
            active: PaneId::Postgres,
            pg,
            kafka: KafkaPane::new(Vec::new(), None, Duration::from_secs(2)),
            pods: PodsPane::new(Vec::new(), None),
            logs: LogsPane::new(crate::config::LogsConfig::default().buffer_bytes as usize),
            layers: Vec::new(),
            keymap,
            theme,
            guard,
            toast: None,
            tick: 0,
            now: Instant::now(),
            quit: false,
            explain: false,
            executing: false,
        }
    }

    /// The Kafka pane with its contexts (an App without one shows how to configure it).
    /// Open on this pane (e.g. `--context` names a Kafka context).
    pub fn opening_on(mut self, pane: PaneId) -> App {
        self.active = pane;
        self
    }

    pub fn with_kafka(mut self, kafka: KafkaPane) -> App {
        self.kafka = kafka;
        self
    }

    /// The Pods and Logs panes with their Kubernetes contexts.
    pub fn with_kube(mut self, pods: PodsPane, logs: LogsPane) -> App {
        self.pods = pods;
        self.logs = logs;
        self
    }

    /// Commands to run once at start: begin polling the visible pane.
    pub fn startup(&self) -> Vec<Command> {
        self.poll_commands()
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn active(&self) -> PaneId {
        self.active
    }

    pub fn explaining(&self) -> bool {
        self.explain
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub fn toast(&self) -> Option<&Toast> {
        self.toast
            .as_ref()
            .filter(|t| self.now.saturating_duration_since(t.at) < TOAST_FOR)
    }

    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    pub fn guard_info(&self) -> &GuardInfo {
        &self.guard
    }

    fn pane(&self) -> &dyn Pane {
        match self.active {
            PaneId::Postgres => &self.pg,
            PaneId::Kafka => &self.kafka,
            PaneId::Pods => &self.pods,
            PaneId::Logs => &self.logs,
        }
    }

    fn pane_mut(&mut self) -> &mut dyn Pane {
        match self.active {
            PaneId::Postgres => &mut self.pg,
            PaneId::Kafka => &mut self.kafka,
            PaneId::Pods => &mut self.pods,
            PaneId::Logs => &mut self.logs,
        }
    }

    pub fn active_pane(&self) -> &dyn Pane {
        self.pane()
    }

    fn say(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast {
            text: text.into(),
            error: false,
            at: Instant::now(),
        });
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast {
            text: text.into(),
            error: true,
            at: Instant::now(),
        });
    }

    /// Polling follows visibility: only the shown pane's current context polls.
    fn poll_commands(&self) -> Vec<Command> {
        let visible = self.active == PaneId::Postgres;
        let current = self.pg.current_context();
        let mut out: Vec<Command> = self
            .pg
            .contexts()
            .iter()
            .map(|c| Command::PgPoll {
                context: c.clone(),
                active: visible && Some(c.as_str()) == current,
                interval: self.pg.interval(),
            })
            .collect();
        let kafka_visible = self.active == PaneId::Kafka;
        let kafka_current = self.kafka.current_context();
        out.extend(self.kafka.contexts().iter().map(|c| Command::KafkaPoll {
            context: c.clone(),
            active: kafka_visible && Some(c.as_str()) == kafka_current,
            interval: self.kafka.interval(),
        }));
        // Pods come by watch: open while the Pods pane shows the context, closed otherwise.
        let pods_visible = self.active == PaneId::Pods;
        let pods_current = self.pods.current_context();
        out.extend(self.pods.contexts().iter().map(|c| Command::KubeWatch {
            context: c.clone(),
            active: pods_visible && Some(c.as_str()) == pods_current,
        }));
        out
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        self.now = Instant::now();
        match msg {
            Msg::Tick => {
                self.tick = self.tick.wrapping_add(1);
                Vec::new()
            }
            Msg::Resize => Vec::new(),
            Msg::Notice { text, error } => {
                if error {
                    self.warn(text);
                } else {
                    self.say(text);
                }
                Vec::new()
            }
            Msg::Shutdown => {
                self.quit = true;
                vec![Command::Quit]
            }
            Msg::PgUpdate {
                context,
                result,
                retry_in,
            } => {
                self.pg.apply(&context, result, retry_in);
                Vec::new()
            }
            Msg::KafkaUpdate {
                context,
                result,
                retry_in,
            } => {
                self.kafka.apply(&context, result, retry_in);
                Vec::new()
            }
            Msg::KafkaPlan { context, result } => {
                self.on_kafka_plan(context, result);
                Vec::new()
            }
            Msg::KubePods { context, feed } => {
                self.pods.apply(&context, feed);
                self.pod_events_command()
            }
            Msg::KubeEvents {
                context,
                namespace,
                pod,
                result,
            } => {
                self.pods.apply_events(&context, &namespace, &pod, result);
                Vec::new()
            }
            Msg::KubeLogsLookup {
                id,
                context,
                selection,
                result,
            } => self.on_logs_lookup(id, context, selection, result),
            Msg::KubeLogs(batch) => {
                self.logs.apply(batch);
                Vec::new()
            }
            Msg::GuardDone(reports) => {
                self.executing = false;
                self.pg.clear_marks();
                self.kafka.on_reports(&reports);
                self.show_reports(reports);
                Vec::new()
            }
            Msg::Key(key) => self.on_key(key),
        }
    }

    fn show_reports(&mut self, reports: Vec<ActionReport>) {
        match reports.as_slice() {
            [] => {}
            [one] => {
                let text = one.summary();
                if one.ok && one.warnings.is_empty() {
                    self.say(text);
                } else {
                    self.warn(text);
                }
            }
            _ => {
                // Replace the "running…" toast: the results layer has the details.
                let ok = reports.iter().filter(|r| r.ok).count();
                let text = format!("{ok} of {} actions done: see the results", reports.len());
                if ok == reports.len() {
                    self.say(text);
                } else {
                    self.warn(text);
                }
                self.layers.push(Layer::Results(reports));
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return Vec::new();
        }
        // Ctrl-C quits from anywhere, even from a prompt.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return vec![Command::Quit];
        }
        if let Some(layer) = self.layers.pop() {
            return self.on_layer_key(layer, key);
        }
        let chord = KeyChord::from_event(&key);
        let Some(action) = self.keymap.lookup(self.pane().scope(), chord) else {
            return Vec::new();
        };
        self.on_action(action)
    }

    fn switch_to(&mut self, pane: PaneId) -> Vec<Command> {
        self.active = pane;
        self.poll_commands()
    }

    fn on_action(&mut self, action: KeyAction) -> Vec<Command> {
        match action {
            KeyAction::Quit => {
                self.quit = true;
                return vec![Command::Quit];
            }
            KeyAction::Help => self.layers.push(Layer::Help { scroll: 0 }),
            KeyAction::Explain => {
                self.explain = !self.explain;
                self.say(if self.explain {
                    "explain on (e hides it)"
                } else {
                    "explain off"
                });
            }
            KeyAction::Command => self.layers.push(Layer::Command(Default::default())),
            KeyAction::Filter => {
                let before = self.pane().filter().to_string();
                self.layers.push(Layer::Filter {
                    input: crate::widgets::input::TextInput::with_value(&before),
                    before,
                });
            }
            KeyAction::PanePostgres => return self.switch_to(PaneId::Postgres),
            KeyAction::PaneKafka => return self.switch_to(PaneId::Kafka),
            KeyAction::PanePods => return self.switch_to(PaneId::Pods),
            KeyAction::PaneLogs => return self.switch_to(PaneId::Logs),
            KeyAction::Back => {
                if !self.pane().filter().is_empty() {
                    self.pane_mut().set_filter("");
                    self.say("filter cleared");
                } else if self.active == PaneId::Postgres && self.pg.marked_count() > 0 {
                    self.pg.clear_marks();
                    self.say("marks cleared");
                }
            }
            KeyAction::PodLogs | KeyAction::PodPreviousLogs | KeyAction::PodWorkloadLogs
                if self.active == PaneId::Pods =>
            {
                return self.open_logs(action);
            }
            KeyAction::LogsPrevious if self.active == PaneId::Logs => {
                // A `:logs` session toggles its own --previous.
                if let Some((context, selection)) = self.logs.selection_toggled_previous() {
                    return self.lookup_logs(context, selection);
                }
                // The pod selected in the Pods pane: current <-> previous container.
                return self.open_logs(if self.logs.showing_previous() {
                    KeyAction::PodLogs
                } else {
                    KeyAction::PodPreviousLogs
                });
            }
            other => {
                // Read-only says why before anything else, whatever is selected.
                if other.is_guarded()
                    && let Some(ctx) = self.pane().status().context
                    && let Some(why) = self.guard.policy.disabled_reason(&ctx)
                {
                    self.warn(why);
                    return Vec::new();
                }
                let outcome = self.pane_mut().on_action(other);
                let mut commands = self.on_outcome(outcome);
                if self.active == PaneId::Pods {
                    // A new selection or context: its events, and the watch that shows it.
                    commands.extend(self.pod_events_command());
                    commands.extend(self.poll_commands());
                }
                return commands;
            }
        }
        Vec::new()
    }

    fn on_outcome(&mut self, outcome: PaneOutcome) -> Vec<Command> {
        match outcome {
            PaneOutcome::Handled | PaneOutcome::Ignored => {}
            PaneOutcome::OpenDetail(d) => self.layers.push(Layer::Detail {
                detail: d,
                scroll: 0,
            }),
            PaneOutcome::Toast(t) => self.say(t),
            PaneOutcome::WriteFile {
                path,
                contents,
                what,
            } => {
                self.say(format!("saving {what} to {}…", path.display()));
                return vec![Command::WriteFile {
                    path,
                    contents,
                    what,
                }];
            }
            PaneOutcome::PollChanged => {
                let (ctx, every) = match self.active {
                    PaneId::Kafka => (self.kafka.current_context(), self.kafka.interval()),
                    _ => (self.pg.current_context(), self.pg.interval()),
                };
                self.say(format!(
                    "{}: refresh every {}",
                    ctx.unwrap_or("-"),
                    humantime::format_duration(every)
                ));
                return self.poll_commands();
            }
            PaneOutcome::KafkaReset(request) => {
                // Policy first: a read-only context never gets as far as a preview.
                match self.guard.policy.disabled_reason(&request.context) {
                    Some(why) => self.warn(format!("reset offsets: {why}")),
                    None => self.layers.push(Layer::KafkaResetPrompt(
                        crate::panes::kafka::flow::ResetPrompt::new(request),
                    )),
                }
            }
            PaneOutcome::Guard(actions) => self.begin_guard(actions),
        }
        Vec::new()
    }

    /// The preview arrived: show it for acknowledgement (or say why there is none).
    fn on_kafka_plan(&mut self, context: String, result: Result<ResetPlan, String>) {
        match result {
            Ok(plan) => {
                let members = self
                    .kafka
                    .snapshot()
                    .and_then(|s| s.group(&plan.group))
                    .map_or(0, |g| g.members.len());
                self.say(format!(
                    "preview of the reset of {}: read it, Enter to go on, Esc to cancel",
                    crate::widgets::sanitize::cell(&plan.group, 60)
                ));
                self.layers.push(Layer::KafkaResetPreview(
                    crate::panes::kafka::flow::ResetPreview {
                        context,
                        plan,
                        members,
                        scroll: 0,
                    },
                ));
            }
            Err(e) => self.warn(format!(
                "no preview, nothing changed: {}",
                crate::widgets::sanitize::cell(&e, 200)
            )),
        }
    }

    /// The selected pod changed: fetch its events once.
    fn pod_events_command(&mut self) -> Vec<Command> {
        self.pods
            .take_events_request()
            .map(|(context, namespace, pod)| Command::KubeEvents {
                context,
                namespace,
                pod,
            })
            .into_iter()
            .collect()
    }

    /// `l`, `p` or `w` on a pod: a new log session in the Logs pane.
    fn open_logs(&mut self, action: KeyAction) -> Vec<Command> {
        match self.pods.log_target(action) {
            Err(e) => {
                self.warn(e);
                Vec::new()
            }
            Ok(target) => self.follow_logs(target, None),
        }
    }

    /// Policy first: a refused action never reaches the reason prompt.
    fn begin_guard(&mut self, actions: Vec<GuardedAction>) {
        if self.executing {
            self.warn("an action is still running: wait for its result");
            return;
        }
        let Some(first) = actions.first() else { return };
        let mut typed = None;
        for a in &actions {
            match self.guard.policy.check(a) {
                Ok(t) => typed = typed.or(t),
                Err(refusal) => {
                    self.warn(format!("{}: {}", a.title(), refusal));
                    return;
                }
            }
        }
        let runbook = self
            .guard
            .policy
            .runbook(first.context())
            .map(str::to_string);
        self.layers
            .push(Layer::Reason(ReasonPrompt::new(actions, typed, runbook)));
    }

    fn execute_command_line(&mut self, line: &str) -> Vec<Command> {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else {
            return Vec::new();
        };
        match cmd {
            "q" | "quit" | "q!" => {
                self.quit = true;
                return vec![Command::Quit];
            }
            "ctx" | "context" => match words.next() {
                Some(name) if self.pg.select_context(name) => {
                    self.say(format!("context {name}"));
                    return self.switch_to(PaneId::Postgres);
                }
                Some(name) if self.kafka.select_context(name) => {
                    self.say(format!("context {name}"));
                    return self.switch_to(PaneId::Kafka);
                }
                Some(name) => self.warn(format!(
                    "unknown context {:?}; known: {}",
                    crate::widgets::sanitize::cell(name, 40),
                    self.pg.contexts().join(", ")
                )),
                None => self.warn(format!(
                    "usage: :ctx NAME (known: {})",
                    self.pg.contexts().join(", ")
                )),
            },
            "help" => self.layers.push(Layer::Help { scroll: 0 }),
            // With arguments, what to follow; without, the pane (as :pg :kafka :pods).
            "logs" => return self.logs_command(line.trim_start()["logs".len()..].trim()),
            other => {
                if let Some(p) = PaneId::ALL.iter().find(|p| {
                    p.command() == other || (other == "postgres" && **p == PaneId::Postgres)
                }) {
                    return self.switch_to(*p);
                }
                self.warn(format!(
                    "unknown command :{}; try :pg :kafka :pods :logs :ctx NAME :q",
                    crate::widgets::sanitize::cell(other, 40)
                ));
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
