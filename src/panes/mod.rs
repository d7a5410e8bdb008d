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

/// Write a file, creating its directory: for the runtime's blocking pool, not the UI task.
pub fn write_file(path: &std::path::Path, contents: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
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
    /// Save `contents` to `path` (done by the runtime, never on the UI task); `what` names it
    /// in the confirmation message.
    WriteFile {
        path: std::path::PathBuf,
        contents: String,
        what: String,
    },
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
