//! Panes: one module per pane, each with its state, key handling and drawing.
//! Panes know nothing of tokio-postgres; they receive owned snapshots.

/// The `Pane` methods every pane over a `ContextSet` with a text filter writes alike: `:ctx`
/// (`$changed` runs when the shown context changes), the context names and the `/` filter
/// (`rebuild` runs on a new filter). Expands inside `impl Pane for ..`; the pane has the
/// fields `contexts` and `filter`.
macro_rules! context_pane_methods {
    ($changed:ident) => {
        fn select_context(&mut self, name: &str) -> bool {
            let known = self.contexts.select(name);
            if known == Some(true) {
                self.$changed();
            }
            known.is_some()
        }

        fn contexts(&self) -> &[String] {
            self.contexts.names()
        }

        fn filter(&self) -> &str {
            &self.filter
        }

        fn set_filter(&mut self, filter: &str) {
            self.filter = filter.to_string();
            self.rebuild();
        }
    };
}

/// The keys a pane of rows over contexts (PostgreSQL, Kafka) handles alike: movement
/// (`move_to`), `s`/`S` (`rebuild`), context and interval keys (`context_changed`).
/// `Some(effects)` when the key was one of them.
macro_rules! table_keys {
    ($pane:ident, $action:ident, $len:expr, $kind:literal) => {{
        if let Some(row) = $pane.cursor.moved($action, $len) {
            $pane.move_to(row);
            Some(Vec::new())
        } else if let Some(effects) = $pane.sort.on_action($action, "sorted") {
            $pane.rebuild();
            Some(effects)
        } else if let Some((effects, changed)) = $pane.contexts.on_action($action, $kind) {
            if changed {
                $pane.context_changed();
            }
            Some(effects)
        } else {
            None
        }
    }};
}

pub mod contexts;
pub mod kafka;
pub mod logs;
pub mod pg;
pub mod pods;
pub mod table;

use ratatui::Frame;
use ratatui::layout::Rect;

use crossterm::event::KeyEvent;

use crate::command::Command;
use crate::keymap::{KeyAction, Scope};
use crate::theme::Theme;
use warroom_core::guard::{ActionReport, GuardedAction};

/// The four panes of the tab bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneId {
    Postgres,
    Kafka,
    Pods,
    Logs,
}

impl PaneId {
    pub const ALL: [PaneId; 4] = [PaneId::Postgres, PaneId::Kafka, PaneId::Pods, PaneId::Logs];

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Postgres => "PostgreSQL",
            PaneId::Kafka => "Kafka",
            PaneId::Pods => "Pods",
            PaneId::Logs => "Logs",
        }
    }

    /// The pane a tab key (`1`-`4`) shows.
    pub fn of_key(action: KeyAction) -> Option<PaneId> {
        match action {
            KeyAction::PanePostgres => Some(PaneId::Postgres),
            KeyAction::PaneKafka => Some(PaneId::Kafka),
            KeyAction::PanePods => Some(PaneId::Pods),
            KeyAction::PaneLogs => Some(PaneId::Logs),
            _ => None,
        }
    }

    /// The pane a command-line word names (`:pg`, `:postgres`, `:logs`).
    pub fn named(word: &str) -> Option<PaneId> {
        PaneId::ALL
            .into_iter()
            .find(|p| p.command() == word || (word == "postgres" && *p == PaneId::Postgres))
    }

    /// The name used on the command line (`:pg`).
    pub fn command(self) -> &'static str {
        match self {
            PaneId::Postgres => "pg",
            PaneId::Kafka => "kafka",
            PaneId::Pods => "pods",
            PaneId::Logs => "logs",
        }
    }
}

/// A detail view: a title and lines of already-sanitized text.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub title: String,
    pub lines: Vec<String>,
}

/// Where a movement key takes the cursor of a list of `len` rows with `page` rows on screen;
/// `None` for any other key. Shared by every pane that selects rows.
pub fn moved_cursor(action: KeyAction, cursor: usize, len: usize, page: usize) -> Option<usize> {
    let page = page.max(1);
    let row = match action {
        KeyAction::Up => cursor.saturating_sub(1),
        KeyAction::Down => cursor.saturating_add(1),
        KeyAction::PageUp => cursor.saturating_sub(page),
        KeyAction::PageDown => cursor.saturating_add(page),
        KeyAction::Top => 0,
        KeyAction::Bottom => usize::MAX,
        _ => return None,
    };
    Some(row.min(len.saturating_sub(1)))
}

/// "waiting for the first snapshot of CONTEXT…" (sanitized).
pub fn first_snapshot(context: &str) -> String {
    format!(
        "waiting for the first snapshot of {}…",
        warroom_core::sanitize::cell(context, 64)
    )
}

/// What a pane draws before it has something to show: with no context, `title` and `hints`
/// (how to configure one); until the data comes, a spinner saying `waiting(context)`.
#[derive(Debug)]
pub struct Preamble {
    pub title: &'static str,
    pub hints: &'static [&'static str],
    pub waiting: fn(&str) -> String,
}

impl Preamble {
    /// The shown context and its data, or `None` after drawing the empty state or the
    /// spinner (with the last `error`).
    pub fn draw<'a, T>(
        &self,
        frame: &mut Frame<'_>,
        area: Rect,
        ctx: &Ctx<'_>,
        context: Option<&'a str>,
        data: Option<T>,
        error: Option<String>,
    ) -> Option<(&'a str, T)> {
        use crate::widgets::chrome::{configured, loaded};
        let context = configured(frame, area, context, self.title, self.hints, ctx.theme)?;
        let waiting = (self.waiting)(context);
        let data = loaded(frame, area, data, &waiting, error, ctx.tick, ctx.theme)?;
        Some((context, data))
    }
}

/// The scroll position of a scrolling view after a key of the `scroll` scope; `None` for
/// the key that closes it. Shared by the App's layers and pane dialogs.
pub fn scrolled(action: Option<KeyAction>, scroll: u16) -> Option<u16> {
    Some(match action {
        Some(KeyAction::ScrollClose) => return None,
        Some(KeyAction::ScrollDown) => scroll.saturating_add(1),
        Some(KeyAction::ScrollUp) => scroll.saturating_sub(1),
        Some(KeyAction::ScrollPageDown) => scroll.saturating_add(10),
        Some(KeyAction::ScrollPageUp) => scroll.saturating_sub(10),
        _ => scroll,
    })
}

/// Write a file, creating its directory: for the runtime's blocking pool, not the UI task.
pub fn write_file(path: &std::path::Path, contents: &str) -> Result<(), String> {
    // Private (0600, new directories 0700): saved logs hold other people's data.
    warroom_core::private_fs::write(path, contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What a pane asks of the App after a key or a message: the App performs commands, runs
/// guarded actions through the guard flow, shows toasts and pushes layers. Panes never do I/O.
#[derive(Debug)]
pub enum Effect {
    /// For the runtime (poll, watch, read a preview, follow logs...).
    Command(Command),
    /// Destructive actions to send through the guard (policy, reason, confirm, audit).
    Guard(Vec<GuardedAction>),
    /// A short message for the status bar.
    Toast(String),
    /// The same, as an error.
    Warn(String),
    /// Open a detail view over the pane.
    Detail(Detail),
    /// Push a dialog the pane provides (it gets the keys until it closes).
    Dialog(Box<dyn Dialog>),
    /// Save `contents` to `path` (done by the runtime, never on the UI task); `what` names it
    /// in the confirmation message.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
        what: String,
    },
    /// Show this pane.
    Show(PaneId),
    /// Hand a message to another pane (e.g. the Pods pane asks the Logs pane to follow).
    Send(PaneId, PaneMsg),
    /// Polling settings changed (context, interval): ask every pane for its subscriptions.
    Resubscribe,
    /// Hand a message to every pane (e.g. the Pods pane's pod directory changed).
    Broadcast(PaneMsg),
}

impl Effect {
    pub fn toast(text: String) -> Vec<Effect> {
        vec![Effect::Toast(text)]
    }

    /// Show `pane`, now filtered, and say what the filter keeps.
    pub fn show_filtered(pane: PaneId, note: String) -> Vec<Effect> {
        vec![Effect::Show(pane), Effect::Toast(note)]
    }
}

/// What the App hands to a pane: data from a worker, or a message from another pane.
#[derive(Debug, Clone)]
pub enum PaneMsg {
    /// A worker's event for this pane (snapshots, feeds, previews, log lines).
    Worker(crate::workers::Event),
    /// Follow these logs (a new session), optionally remembering the `:logs` selection.
    FollowLogs(
        pods::LogTarget,
        Option<warroom_core::backends::kube::LogSelection>,
    ),
    /// Look up the pods of a `:logs` selection on `context`, then follow them.
    LookupLogs {
        context: String,
        selection: warroom_core::backends::kube::LogSelection,
    },
    /// Run a key action as if pressed in that pane.
    Action(KeyAction),
    /// The pods by address changed (from the Pods pane, to every pane that links to pods).
    Pods(std::sync::Arc<warroom_core::pod_directory::PodDirectory>),
    /// Select this pod in the Pods pane, then run `then` on it (e.g. follow its logs).
    ShowPod {
        context: String,
        pod: warroom_core::backends::kube::PodKey,
        then: Option<KeyAction>,
    },
    /// Show the database sessions whose client address is `addr` (`label` names the pod).
    SessionsFrom { addr: String, label: String },
    /// Show the consumer groups with a member at `addr` (`label` names the pod).
    GroupsOf { addr: String, label: String },
    /// The Logs pane was opened with nothing chosen: follow what the Pods pane has selected.
    FollowSelected,
    /// The services of the configuration (sent once, when the App gets them).
    Services(std::sync::Arc<Vec<warroom_core::service::Service>>),
    /// `:focus NAME` (or `:focus` to clear): show only what belongs to this service.
    Focus(Option<std::sync::Arc<warroom_core::service::Service>>),
    /// Follow these logs without showing the Logs pane (the focused service's logs).
    FocusLogs {
        context: String,
        selection: warroom_core::backends::kube::LogSelection,
    },
}

/// What a pane draws with: the theme, the spinner tick, and the time of the last update
/// (frames are a function of the state: panes never read the clock while drawing).
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub theme: &'a Theme,
    pub tick: u64,
    pub now: std::time::Instant,
    pub wall: std::time::SystemTime,
}

impl<'a> Ctx<'a> {
    /// A context at the present moment (tests, benchmarks, one-off drawing).
    pub fn now(theme: &'a Theme) -> Ctx<'a> {
        Ctx {
            theme,
            tick: 0,
            now: std::time::Instant::now(),
            wall: std::time::SystemTime::now(),
        }
    }
}

/// A hint for the bottom row: the actions whose first keys are shown ("j/k"), and a label.
pub type Hint = (&'static [KeyAction], &'static str);

/// A modal a pane pushes on the layer stack (e.g. the Kafka reset prompt and preview).
/// Keys come translated through the keymap: `action` is the key's action in the dialog's
/// scope, if any; `key` is the raw key for text input.
pub trait Dialog: std::fmt::Debug + AsAny + Send {
    /// The keymap scopes of this dialog's keys, looked up in this order.
    fn scopes(&self) -> &'static [Scope];
    /// Handle a key: `None` keeps the dialog open, `Some(effects)` closes it with them.
    fn on_key(&mut self, action: Option<KeyAction>, key: &KeyEvent) -> Option<Vec<Effect>>;
    /// Hints for the bottom row, labelled with the keys the keymap binds.
    fn hints(&self) -> &'static [Hint];
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>);
}

/// Status for the bar at the bottom.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaneStatus {
    pub context: Option<String>,
    pub last_refresh: Option<std::time::Instant>,
    pub error: Option<String>,
    pub note: Option<String>,
}

/// What a pane is: its tab, its keymap scope, its keys for `?` and the few for the hints row.
#[derive(Debug)]
pub struct PaneMeta {
    pub id: PaneId,
    pub scope: Scope,
    /// Every key of this pane, for the help layer.
    pub keys: &'static [KeyAction],
    /// The few keys worth showing in the hints bar.
    pub hints: &'static [KeyAction],
}

/// Downcasting for panes and dialogs (tests and tools look inside one pane).
pub trait AsAny: std::any::Any {
    fn as_any(&self) -> &dyn std::any::Any;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

impl<T: std::any::Any> AsAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The contract between the App (a router) and a pane. The App knows panes only through
/// this trait: keys and messages go in, effects come out.
pub trait Pane: AsAny + Send {
    fn meta(&self) -> &'static PaneMeta;
    fn id(&self) -> PaneId {
        self.meta().id
    }
    fn scope(&self) -> Scope {
        self.meta().scope
    }
    fn keys(&self) -> &'static [KeyAction] {
        self.meta().keys
    }
    fn hints(&self) -> &'static [KeyAction] {
        self.meta().hints
    }
    fn on_action(&mut self, action: KeyAction) -> Vec<Effect>;
    /// A worker message or a message from another pane.
    fn update(&mut self, _msg: PaneMsg) -> Vec<Effect> {
        Vec::new()
    }
    /// What the runtime must keep running for this pane (polls, watches), given whether the
    /// pane is shown; hidden panes stop polling.
    fn subscriptions(&self, _visible: bool) -> Vec<Command> {
        Vec::new()
    }
    /// `:ctx NAME`: show `name` if it is one of this pane's contexts.
    fn select_context(&mut self, _name: &str) -> bool {
        false
    }
    /// The context names of this pane (for `:ctx` errors).
    fn contexts(&self) -> &[String] {
        &[]
    }
    /// `:NAME ARGS` lines the App does not know; `None` when this pane does not either.
    fn command_line(&mut self, _name: &str, _args: &str) -> Option<Vec<Effect>> {
        None
    }
    /// The guard executor finished: results of every action, for panes that keep state.
    fn on_reports(&mut self, _reports: &[ActionReport]) {}
    /// Esc with an empty filter: drop a selection state; returns what was dropped.
    fn on_back(&mut self) -> Option<String> {
        None
    }
    /// The pane was just shown (a tab key, a jump from another pane).
    fn on_shown(&mut self) -> Vec<Effect> {
        Vec::new()
    }
    /// What the selected row says for link templates (`o`): pod, namespace, group, pid...
    fn link_values(&self) -> warroom_core::service::LinkValues {
        Default::default()
    }
    fn filter(&self) -> &str;
    fn set_filter(&mut self, filter: &str);
    fn status(&self) -> PaneStatus;
    fn render(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>);
    /// Training aid (`e`): what the columns and actions of this view mean, and when to
    /// use them, including a word about the selected row.
    fn explain(&self) -> Vec<String> {
        Vec::new()
    }
    /// Why this pane's guarded keys cannot act on what is selected now, in a few words for
    /// the hints row (policy is the App's to check); `None` when they can.
    fn guard_blocked(&self) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_cursor_stays_inside_the_list() {
        assert_eq!(moved_cursor(KeyAction::Down, 4, 5, 10), Some(4));
        assert_eq!(moved_cursor(KeyAction::Up, 0, 5, 10), Some(0));
        assert_eq!(moved_cursor(KeyAction::PageDown, 1, 50, 10), Some(11));
        assert_eq!(moved_cursor(KeyAction::Bottom, 0, 50, 10), Some(49));
        assert_eq!(moved_cursor(KeyAction::Top, 30, 50, 10), Some(0));
        assert_eq!(moved_cursor(KeyAction::Down, 0, 0, 10), Some(0));
        assert_eq!(moved_cursor(KeyAction::Open, 3, 50, 10), None);
    }
}
