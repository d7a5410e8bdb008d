//! The detail of a row, over the whole pane: scroll keys scroll, close keys close.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::panes::{Detail, Hint};
use crate::theme::Theme;
use crate::widgets::chrome::{popup, text_body};

pub(super) const HINTS: &[Hint] = &[
    (&[KeyAction::ScrollDown, KeyAction::ScrollUp], "scroll"),
    (&[KeyAction::ScrollClose], "close"),
];

impl App {
    pub(super) fn detail_key(
        &mut self,
        detail: Detail,
        scroll: u16,
        key: LayerKey,
    ) -> Vec<Command> {
        if let Some(scroll) = crate::panes::scrolled(key.action, scroll) {
            self.layers.push(Layer::Detail { detail, scroll });
        }
        Vec::new()
    }
}

/// The whole pane: slivers of the table beside a detail only distract.
pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, detail: &Detail, scroll: u16, theme: &Theme) {
    let inner = popup(frame, area, &detail.title, theme.border());
    let lines = detail.lines.iter().map(|l| Line::raw(l.clone())).collect();
    text_body(frame, inner, lines, scroll);
}
