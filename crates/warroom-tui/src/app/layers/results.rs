//! The results of several actions, one line each: close keys close it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::{KeyAction, Keymap};
use crate::panes::Hint;
use crate::theme::Theme;
use crate::widgets::chrome::{popup, text_body};
use crate::widgets::layout::centered;
use warroom_core::guard::ActionReport;
use warroom_core::sanitize;

pub(super) const HINTS: &[Hint] = &[(&[KeyAction::ScrollClose], "close")];

impl App {
    pub(super) fn results_key(
        &mut self,
        reports: Vec<ActionReport>,
        key: LayerKey,
    ) -> Vec<Command> {
        if key.action != Some(KeyAction::ScrollClose) {
            self.layers.push(Layer::Results(reports));
        }
        Vec::new()
    }
}

pub(super) fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    reports: &[ActionReport],
    keymap: &Keymap,
    theme: &Theme,
) {
    // Each summary wraps: size the popup to the wrapped lines (+1 for word breaks).
    let text_width = usize::from(area.width.min(110).saturating_sub(2)).max(1);
    let rows: usize = reports
        .iter()
        .map(|r| unicode_width::UnicodeWidthStr::width(r.summary().as_str()) / text_width + 1)
        .sum();
    let height = u16::try_from(rows + 3).unwrap_or(u16::MAX);
    let rect = centered(area, 110, height);
    let ok = reports.iter().filter(|r| r.outcome.ok()).count();
    let inner = popup(
        frame,
        rect,
        &format!(
            "results: {ok} of {} done ({} closes)",
            reports.len(),
            super::capitalized(&keymap.label_of(KeyAction::ScrollClose))
        ),
        theme.border(),
    );
    let lines = reports
        .iter()
        .map(|r| {
            Line::styled(
                sanitize::cell(&r.summary(), 1000),
                if r.outcome.ok() {
                    theme.ok()
                } else {
                    theme.danger()
                },
            )
        })
        .collect();
    text_body(frame, inner, lines, 0);
}
