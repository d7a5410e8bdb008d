//! Panes that are not built yet say so plainly.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Pane, PaneId, PaneOutcome, PaneStatus};
use crate::config::{KeyAction, Scope, Theme};

pub struct Placeholder {
    id: PaneId,
}

impl Placeholder {
    pub fn new(id: PaneId) -> Placeholder {
        Placeholder { id }
    }
}

impl Pane for Placeholder {
    fn id(&self) -> PaneId {
        self.id
    }
    fn scope(&self) -> Scope {
        Scope::Global
    }
    fn keys(&self) -> &'static [KeyAction] {
        &[]
    }
    fn hints(&self) -> &'static [KeyAction] {
        &[]
    }
    fn on_action(&mut self, _action: KeyAction) -> PaneOutcome {
        PaneOutcome::Ignored
    }
    fn filter(&self) -> &str {
        ""
    }
    fn set_filter(&mut self, _filter: &str) {}
    fn status(&self) -> PaneStatus {
        PaneStatus {
            note: Some(format!("the {} pane is not built yet", self.id.title())),
            ..PaneStatus::default()
        }
    }
    fn render(&self, frame: &mut Frame<'_>, area: Rect, theme: &Theme, _tick: u64) {
        let text = vec![
            Line::styled(
                format!("The {} pane is not built yet.", self.id.title()),
                theme.header(),
            ),
            Line::styled(
                "This version of warroom watches PostgreSQL only; press 1 for the PostgreSQL pane.",
                theme.muted(),
            ),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
    }
}
