//! The detail of a row, over the whole pane: scroll keys scroll, close keys close.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::config::{KeyAction, Theme};
use crate::panes::{Detail, Hint};
use crate::widgets::chrome::{popup, text_body};

pub(super) const HINTS: &[Hint] = &[
    (&[KeyAction::ScrollDown, KeyAction::ScrollUp], "scroll"),
    (&[KeyAction::ScrollClose], "close"),
];

/// The scroll position after a scroll key; `None` for a key that closes.
pub(super) fn scrolled(action: Option<KeyAction>, scroll: u16) -> Option<u16> {
    Some(match action {
        Some(KeyAction::ScrollClose) => return None,
        Some(KeyAction::ScrollDown) => scroll.saturating_add(1),
        Some(KeyAction::ScrollUp) => scroll.saturating_sub(1),
        Some(KeyAction::ScrollPageDown) => scroll.saturating_add(10),
        Some(KeyAction::ScrollPageUp) => scroll.saturating_sub(10),
        _ => scroll,
    })
}

impl App {
    pub(super) fn detail_key(
        &mut self,
        detail: Detail,
        scroll: u16,
        key: LayerKey,
    ) -> Vec<Command> {
        if let Some(scroll) = scrolled(key.action, scroll) {
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
