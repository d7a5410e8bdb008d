//! Panes: one module per pane, each with its state, key handling and drawing.
//! Panes know nothing of tokio-postgres; they receive owned snapshots.

pub mod kafka;
pub mod logs;
pub mod pg;
pub mod pods;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::config::{KeyAction, Scope, Theme};
use crate::guard::GuardedAction;

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

/// What a key did in a pane, for the App to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum PaneOutcome {
    /// Nothing to do beyond redrawing.
    Handled,
    /// The key means nothing here.
    Ignored,
    OpenDetail(Detail),
    /// Destructive actions to send through the guard.
    Guard(Vec<GuardedAction>),
    /// A short message for the status bar.
    Toast(String),
    /// Polling settings changed (context, interval).
    PollChanged,
    /// `R` in the Kafka pane: ask where to reset the group's offsets, then preview.
    KafkaReset(kafka::ResetRequest),
}

/// Status for the bar at the bottom.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaneStatus {
    pub context: Option<String>,
    pub last_refresh: Option<std::time::Instant>,
    pub error: Option<String>,
    pub note: Option<String>,
}

pub trait Pane {
    fn id(&self) -> PaneId;
    fn scope(&self) -> Scope;
    /// Every key of this pane, for the help layer.
    fn keys(&self) -> &'static [KeyAction];
    /// The few keys worth showing in the hints bar.
    fn hints(&self) -> &'static [KeyAction];
    fn on_action(&mut self, action: KeyAction) -> PaneOutcome;
    fn filter(&self) -> &str;
    fn set_filter(&mut self, filter: &str);
    fn status(&self) -> PaneStatus;
    fn render(&self, frame: &mut Frame<'_>, area: Rect, theme: &Theme, tick: u64);
    /// Training aid (`e`): what the columns and actions of this view mean, and when to
    /// use them, including a word about the selected row.
    fn explain(&self) -> Vec<String> {
        Vec::new()
    }
}
