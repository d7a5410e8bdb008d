//! App state and `update(Msg) -> Vec<Command>`. No I/O here: the runtime performs the
//! commands and feeds results back as messages, so tests drive the App with values.

pub mod layers;
mod render;
mod wiring;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::keymap::{KeyAction, KeyChord, Keymap};
use crate::panes::{Ctx, Effect, Pane, PaneId, PaneMsg};
use crate::theme::Theme;
use crate::workers::Event;
use warroom_core::guard::{ActionReport, GuardedAction, Policy, ReasonRules};
use warroom_core::sanitize;

pub use crate::command::{Command, Polled};
pub use layers::{Confirmation, Layer, ReasonPrompt};

/// Everything that can happen to the App.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Resize,
    /// A timer tick: spinners and "refreshed Ns ago".
    Tick,
    /// A worker's answer (`wiring::owner` names the pane it is for).
    Worker(Event),
    /// The guard executor finished a request.
    GuardDone(Vec<ActionReport>),
    /// SIGTERM, SIGHUP: leave cleanly.
    Shutdown,
    /// Text pasted into the terminal (bracketed paste): typed into the text input on top, if
    /// any; never a keystroke, so it never submits a prompt or presses a button.
    Paste(String),
    /// How many requests on the `[server]` wait for this user's approval (the badge).
    ApprovalsWaiting(usize),
    /// The pending requests for the `:approvals` view, or why they could not be read.
    ApprovalsList(Result<Vec<warroom_core::protocol::requests::RequestState>, String>),
    /// A delegated action of this user waits for approval: the waiting layer.
    ApprovalPending(Box<warroom_core::protocol::requests::RequestState>),
    /// A message from the runtime for the status bar (e.g. audit records delivered).
    Notice {
        text: String,
        error: bool,
    },
    /// `--share`: the share's state for the tab bar ("shared: watched by alice, bob").
    ShareStatus(String),
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
/// A second ctrl-c within this long after "an action is running" quits anyway.
const QUIT_FORCE_WINDOW: Duration = Duration::from_secs(3);

/// The router: tabs, the status bar, the layer stack, the guard flow and the keymap are
/// shared; everything else belongs to the panes, reached only through the `Pane` trait.
pub struct App {
    active: PaneId,
    /// In tab order (wiring decides which panes exist).
    panes: Vec<Box<dyn Pane>>,
    layers: Vec<Layer>,
    keymap: Keymap,
    theme: Theme,
    guard: GuardInfo,
    toast: Option<Toast>,
    tick: u64,
    /// The time of the last update: render reads it instead of the clock, so a frame is a
    /// pure function of the state (and snapshot tests see "refreshed just now").
    now: Instant,
    /// The wall-clock time of the last update, for ages ("5m") drawn by panes.
    wall: std::time::SystemTime,
    quit: bool,
    /// The user forced the quit (a second ctrl-c while an action runs): do not wait for it.
    forced_quit: bool,
    /// When a quit was refused because an action runs: a ctrl-c within 3 s of it forces.
    quit_asked: Option<Instant>,
    /// Break-glass happened in this session: a banner stays until warroom exits.
    break_glass: Option<String>,
    /// Shown on the tab bar while the session is shared: who watches, always visible.
    share_status: Option<String>,
    /// Training aid: the explanation panel under the pane.
    explain: bool,
    /// A guard request is running: its keys are not accepted twice.
    executing: bool,
    /// Requests on the `[server]` this user may approve (status-bar badge).
    approvals_waiting: usize,
    /// `[[service]]` definitions: `:focus NAME` and the link menu.
    services: Vec<std::sync::Arc<warroom_core::service::Service>>,
    /// The service every pane is filtered to (`:focus NAME`).
    focus: Option<std::sync::Arc<warroom_core::service::Service>>,
    /// The terminal shows OSC 8 hyperlinks (the link menu makes its URLs clickable).
    hyperlinks: bool,
}

impl App {
    /// Requests on the server waiting for this user's approval (the status-bar badge).
    pub fn approvals_waiting(&self) -> usize {
        self.approvals_waiting
    }

    /// An App over `panes` (in tab order), showing the first.
    pub fn with_panes(
        panes: Vec<Box<dyn Pane>>,
        keymap: Keymap,
        theme: Theme,
        guard: GuardInfo,
    ) -> App {
        App {
            active: panes.first().map_or(PaneId::Postgres, |p| p.id()),
            panes,
            layers: Vec::new(),
            keymap,
            theme,
            guard,
            toast: None,
            tick: 0,
            now: Instant::now(),
            wall: std::time::SystemTime::now(),
            quit: false,
            forced_quit: false,
            quit_asked: None,
            break_glass: None,
            share_status: None,
            explain: false,
            executing: false,
            approvals_waiting: 0,
            services: Vec::new(),
            focus: None,
            hyperlinks: false,
        }
    }

    /// Whether the terminal shows OSC 8 hyperlinks (see `widgets::link_menu`).
    pub fn with_hyperlinks(mut self, supported: bool) -> App {
        self.hyperlinks = supported;
        self
    }

    /// The services of the configuration (`:focus NAME`, `o`).
    pub fn with_services(mut self, services: Vec<warroom_core::service::Service>) -> App {
        let all = std::sync::Arc::new(services.clone());
        self.services = services.into_iter().map(std::sync::Arc::new).collect();
        // Panes that link by service (a stopped group's pods) keep the list; nothing to run.
        let _ = self.perform(vec![Effect::Broadcast(PaneMsg::Services(all))]);
        self
    }

    /// The focused service, if any.
    pub fn focus(&self) -> Option<&warroom_core::service::Service> {
        self.focus.as_deref()
    }

    /// `:focus NAME` filters every pane to the service; `:focus` alone clears it.
    fn set_focus(&mut self, name: Option<&str>) -> Vec<Command> {
        let known = || {
            let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
            if names.is_empty() {
                "none: add a [[service]] section to the config".to_string()
            } else {
                names.join(", ")
            }
        };
        let focus = match name {
            None => None,
            Some(n) => match self.services.iter().find(|s| s.name == n) {
                Some(s) => Some(s.clone()),
                None => {
                    let known = known();
                    self.warn(format!(
                        "unknown service {:?}; known: {known}",
                        sanitize::cell(n, 40)
                    ));
                    return Vec::new();
                }
            },
        };
        self.say(match &focus {
            Some(s) => format!(
                "focus {}: every pane shows only this service (:focus clears)",
                sanitize::cell(&s.name, 40)
            ),
            None => "focus cleared".to_string(),
        });
        self.focus = focus.clone();
        self.perform(vec![Effect::Broadcast(PaneMsg::Focus(focus))])
    }

    /// `o`: the links of the selection's service (the focused one, else the first whose
    /// matchers own the selection), expanded and escaped; nothing is opened.
    fn link_menu(&mut self) {
        let Some(values) = self.shown().map(|p| p.link_values()) else {
            return;
        };
        let service = self
            .focus
            .clone()
            .or_else(|| self.services.iter().find(|s| s.owns(&values)).cloned());
        let Some(service) = service else {
            self.say(if self.services.is_empty() {
                "no links: add a [[service]] with [service.links] to the config (see README)"
            } else {
                "no service owns the selection: :focus NAME chooses one"
            });
            return;
        };
        let name = sanitize::cell(&service.name, 40);
        if service.links.is_empty() {
            self.say(format!("service {name} has no [service.links]"));
            return;
        }
        self.layers.push(Layer::Dialog(Box::new(
            crate::widgets::link_menu::LinkMenu {
                title: format!("links of {name}"),
                links: service.expand_links(&values),
                hyperlinks: self.hyperlinks,
            },
        )));
    }

    /// Open on this pane (e.g. `--context` names a Kafka context).
    pub fn opening_on(mut self, pane: PaneId) -> App {
        self.active = pane;
        self
    }

    /// Replace the pane with the same id (wiring: a pane with its contexts).
    pub fn with_pane(mut self, pane: Box<dyn Pane>) -> App {
        match self.panes.iter_mut().find(|p| p.id() == pane.id()) {
            Some(slot) => *slot = pane,
            None => self.panes.push(pane),
        }
        self
    }

    /// Commands to run once at start: begin polling the visible pane.
    pub fn startup(&self) -> Vec<Command> {
        self.poll_commands()
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// The quit was forced while an action ran: the runtime must not wait for its outcome.
    pub fn quit_forced(&self) -> bool {
        self.forced_quit
    }

    /// A guarded action runs now (its outcome is not recorded yet).
    pub fn executing(&self) -> bool {
        self.executing
    }

    /// `--share`: the share's state shown on the tab bar.
    pub fn share_status(&self) -> Option<&str> {
        self.share_status.as_deref()
    }

    /// The persistent break-glass banner, once an action ran without the endpoint's acceptance.
    pub fn break_glass_banner(&self) -> Option<&str> {
        self.break_glass.as_deref()
    }

    /// Quit, unless an action runs: then ask to wait. `ctrl_c`: a second ctrl-c within 3 s of
    /// that question quits anyway (the outcome may then be missing: `warroom audit reconcile`).
    fn request_quit(&mut self, ctrl_c: bool) -> Vec<Command> {
        if !self.executing {
            self.quit = true;
            return vec![Command::Quit];
        }
        if ctrl_c
            && self
                .quit_asked
                .is_some_and(|at| self.now.saturating_duration_since(at) < QUIT_FORCE_WINDOW)
        {
            self.quit = true;
            self.forced_quit = true;
            return vec![Command::Quit];
        }
        if ctrl_c {
            self.quit_asked = Some(self.now);
        }
        self.warn(
            "an action is running and its outcome is not recorded yet: wait for it \
             (press ctrl-c again within 3 s to quit anyway)"
                .to_string(),
        );
        Vec::new()
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

    /// The pane of type `T`, for tests and tools that look inside one pane.
    pub fn pane_of<T: Pane>(&self) -> Option<&T> {
        self.panes
            .iter()
            .find_map(|p| (**p).as_any().downcast_ref::<T>())
    }

    /// The pane of type `T`, mutable.
    pub fn pane_of_mut<T: Pane>(&mut self) -> Option<&mut T> {
        self.panes
            .iter_mut()
            .find_map(|p| (**p).as_any_mut().downcast_mut::<T>())
    }

    fn index_of(&self, id: PaneId) -> usize {
        self.panes.iter().position(|p| p.id() == id).unwrap_or(0)
    }

    /// The shown pane; `None` only for an App built without panes.
    fn shown(&self) -> Option<&dyn Pane> {
        self.panes.get(self.index_of(self.active)).map(|p| &**p)
    }

    fn shown_mut(&mut self) -> Option<&mut (dyn Pane + 'static)> {
        let i = self.index_of(self.active);
        self.panes.get_mut(i).map(|p| &mut **p)
    }

    pub fn active_pane(&self) -> Option<&dyn Pane> {
        self.shown()
    }

    /// The context of the shown pane, if it has one.
    fn shown_context(&self) -> Option<String> {
        self.shown().and_then(|p| p.status().context)
    }

    /// What a pane draws with.
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            theme: &self.theme,
            tick: self.tick,
            now: self.now,
            wall: self.wall,
        }
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

    /// Polling follows visibility: every pane says what to keep running, given whether it
    /// is shown.
    fn poll_commands(&self) -> Vec<Command> {
        self.panes
            .iter()
            .flat_map(|p| p.subscriptions(p.id() == self.active))
            .collect()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        self.now = Instant::now();
        self.wall = std::time::SystemTime::now();
        match msg {
            Msg::Tick => {
                self.tick = self.tick.wrapping_add(1);
                Vec::new()
            }
            Msg::Resize => Vec::new(),
            Msg::ShareStatus(text) => {
                self.share_status = Some(warroom_core::sanitize::cell(&text, 200));
                Vec::new()
            }
            Msg::ApprovalsWaiting(n) => {
                self.approvals_waiting = n;
                Vec::new()
            }
            Msg::ApprovalsList(result) => {
                self.approvals_listed(result);
                Vec::new()
            }
            Msg::ApprovalPending(n) => {
                let expires_at = n
                    .expires_at
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339(t).ok());
                self.say(format!(
                    "waiting for approval: request {} — approvers: {}",
                    n.id,
                    n.approvers.join(", ")
                ));
                self.layers.push(Layer::Waiting(layers::Waiting {
                    request_id: n.id,
                    approvers: n.approvers,
                    expires_at,
                    withdrawing: false,
                }));
                Vec::new()
            }
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
            Msg::GuardDone(reports) => {
                self.executing = false;
                // The request is final: the waiting layer gives way to the result.
                self.layers.retain(|l| !matches!(l, Layer::Waiting(_)));
                self.quit_asked = None;
                if let Some(w) = reports
                    .iter()
                    .flat_map(|r| r.warnings.iter())
                    .find(|w| w.starts_with("BREAK-GLASS"))
                {
                    self.break_glass = Some(warroom_core::sanitize::cell(w, 300));
                }
                for p in &mut self.panes {
                    p.on_reports(&reports);
                }
                self.show_reports(reports);
                Vec::new()
            }
            Msg::Key(key) => self.on_key(key),
            Msg::Paste(text) => {
                self.on_paste(&text);
                Vec::new()
            }
            Msg::Worker(event) => self.send(wiring::owner(&event), PaneMsg::Worker(event)),
        }
    }

    /// Hand `msg` to the pane `id` and perform what it asks.
    fn send(&mut self, id: PaneId, msg: PaneMsg) -> Vec<Command> {
        let i = self.index_of(id);
        let effects = match self.panes.get_mut(i) {
            Some(p) => p.update(msg),
            None => return Vec::new(),
        };
        self.perform(effects)
    }

    fn show_reports(&mut self, reports: Vec<ActionReport>) {
        match reports.as_slice() {
            [] => {}
            [one] => {
                let text = one.summary();
                if one.outcome.ok() && one.warnings.is_empty() {
                    self.say(text);
                } else {
                    self.warn(text);
                }
            }
            _ => {
                // Replace the "running…" toast: the results layer has the details.
                let ok = reports.iter().filter(|r| r.outcome.ok()).count();
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

    /// Whether the top layer is a confirmation (keys typed before it appeared must not reach it).
    pub fn confirming(&self) -> bool {
        matches!(self.layers.last(), Some(Layer::Confirm(_)))
    }

    /// Handles one batch of messages (everything queued before the next draw). Once a
    /// confirmation appears, the keys still queued in the batch were typed before the user could
    /// see it: they are discarded, never allowed to press its buttons.
    pub fn update_batch(&mut self, batch: Vec<Msg>) -> Vec<Command> {
        let mut commands = Vec::new();
        let mut discard_keys = false;
        for msg in batch {
            if discard_keys && matches!(msg, Msg::Key(_) | Msg::Paste(_)) {
                continue;
            }
            let before = self.confirming();
            commands.extend(self.update(msg));
            if !before && self.confirming() {
                discard_keys = true;
            }
            if self.quit {
                break;
            }
        }
        commands
    }

    fn on_paste(&mut self, text: &str) {
        match self.layers.last_mut() {
            Some(Layer::Reason(prompt)) => {
                prompt.input.paste(text);
                prompt.error = None;
            }
            Some(Layer::Command(input)) => input.paste(text),
            Some(Layer::Filter { input, .. }) => {
                input.paste(text);
                let value = input.value().to_string();
                if let Some(p) = self.shown_mut() {
                    p.set_filter(&value);
                }
            }
            Some(Layer::Confirm(c)) if c.must_type.is_some() => c.typed.paste(text),
            _ => {}
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return Vec::new();
        }
        // Ctrl-C quits from anywhere, even from a prompt (unless an action runs: see
        // `request_quit`).
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return self.request_quit(true);
        }
        if let Some(layer) = self.layers.pop() {
            return self.on_layer_key(layer, key);
        }
        let chord = KeyChord::from_event(&key);
        let Some(scope) = self.shown().map(|p| p.scope()) else {
            return Vec::new();
        };
        let Some(action) = self.keymap.lookup(scope, chord) else {
            return Vec::new();
        };
        self.on_action(action)
    }

    fn switch_to(&mut self, pane: PaneId) -> Vec<Command> {
        let mut commands = self.show(pane);
        commands.extend(self.poll_commands());
        commands
    }

    /// Make `pane` the shown one; a pane that was not shown hears about it (`on_shown`).
    fn show(&mut self, pane: PaneId) -> Vec<Command> {
        if self.active == pane {
            return Vec::new();
        }
        self.active = pane;
        let effects = self.shown_mut().map(|p| p.on_shown()).unwrap_or_default();
        self.perform(effects)
    }

    /// Why a guarded key does nothing on the shown pane's context, if it does nothing.
    fn disabled_reason(&self) -> Option<String> {
        self.shown_context()
            .and_then(|ctx| self.guard.policy.disabled_reason(&ctx))
    }

    fn on_action(&mut self, action: KeyAction) -> Vec<Command> {
        if let Some(tab) = PaneId::of_key(action) {
            return self.switch_to(tab);
        }
        match action {
            KeyAction::Quit => {
                let ctrl_c = false;
                return self.request_quit(ctrl_c);
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
            KeyAction::Links => self.link_menu(),
            KeyAction::Filter => {
                let before = self
                    .shown()
                    .map(|p| p.filter().to_string())
                    .unwrap_or_default();
                self.layers.push(Layer::Filter {
                    input: crate::widgets::input::TextInput::with_value(&before),
                    before,
                });
            }
            KeyAction::Back => {
                let Some(pane) = self.shown_mut() else {
                    return Vec::new();
                };
                if !pane.filter().is_empty() {
                    pane.set_filter("");
                    self.say("filter cleared");
                } else if let Some(dropped) = pane.on_back() {
                    self.say(dropped);
                }
            }
            other => {
                // Read-only says why before anything else, whatever is selected.
                if other.is_guarded()
                    && let Some(why) = self.disabled_reason()
                {
                    self.warn(why);
                    return Vec::new();
                }
                let effects = match self.shown_mut() {
                    Some(p) => p.on_action(other),
                    None => return Vec::new(),
                };
                return self.perform(effects);
            }
        }
        Vec::new()
    }

    /// Do what panes and dialogs ask. Polls are asked for once, at the end, if anything
    /// changed what should poll.
    fn perform(&mut self, effects: Vec<Effect>) -> Vec<Command> {
        let mut commands = Vec::new();
        let mut resubscribe = false;
        for effect in effects {
            match effect {
                Effect::Command(c) => commands.push(c),
                Effect::Guard(actions) => self.begin_guard(actions),
                Effect::Toast(t) => self.say(t),
                Effect::Warn(t) => self.warn(t),
                Effect::Detail(detail) => self.layers.push(Layer::Detail { detail, scroll: 0 }),
                Effect::Dialog(d) => self.layers.push(Layer::Dialog(d)),
                Effect::WriteFile {
                    path,
                    contents,
                    what,
                } => {
                    self.say(format!("saving {what} to {}…", path.display()));
                    commands.push(Command::WriteFile {
                        path,
                        contents,
                        what,
                    });
                }
                Effect::Show(id) => {
                    commands.extend(self.show(id));
                    resubscribe = true;
                }
                Effect::Send(id, msg) => commands.extend(self.send(id, msg)),
                Effect::Broadcast(msg) => {
                    let ids: Vec<PaneId> = self.panes.iter().map(|p| p.id()).collect();
                    for id in ids {
                        commands.extend(self.send(id, msg.clone()));
                    }
                }
                Effect::Resubscribe => resubscribe = true,
            }
        }
        if resubscribe {
            commands.extend(self.poll_commands());
        }
        commands
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
        let args = line.trim_start()[cmd.len()..].trim();
        match cmd {
            "q" | "quit" | "q!" => return self.request_quit(false),
            "ctx" | "context" => return self.select_context(words.next()),
            "focus" => return self.set_focus(words.next()),
            "help" => self.layers.push(Layer::Help { scroll: 0 }),
            "approvals" => return self.open_approvals(),
            other => {
                // A pane's own command (`:logs ARGS`), else a pane by name (`:pg`, `:logs`).
                for i in 0..self.panes.len() {
                    let effects = self
                        .panes
                        .get_mut(i)
                        .and_then(|p| p.command_line(other, args));
                    if let Some(effects) = effects {
                        return self.perform(effects);
                    }
                }
                if let Some(p) = PaneId::named(other) {
                    return self.switch_to(p);
                }
                self.warn(format!(
                    "unknown command :{}; try :pg :kafka :pods :logs :ctx NAME :q",
                    sanitize::cell(other, 40)
                ));
            }
        }
        Vec::new()
    }

    /// `:ctx NAME`: the first pane that has a context of that name shows it.
    fn select_context(&mut self, name: Option<&str>) -> Vec<Command> {
        let known = |panes: &[Box<dyn Pane>]| {
            panes
                .iter()
                .flat_map(|p| p.contexts().to_vec())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(name) = name else {
            let known = known(&self.panes);
            self.warn(format!("usage: :ctx NAME (known: {known})"));
            return Vec::new();
        };
        let found = self
            .panes
            .iter_mut()
            .find_map(|p| p.select_context(name).then(|| p.id()));
        match found {
            Some(id) => {
                self.say(format!("context {name}"));
                self.switch_to(id)
            }
            None => {
                let known = known(&self.panes);
                self.warn(format!(
                    "unknown context {:?}; known: {known}",
                    sanitize::cell(name, 40),
                ));
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests;
