//! The live filter (`/`): every edit filters the pane; Enter keeps it, Esc restores the
//! filter from before.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::theme::Theme;
use crate::widgets::input::TextInput;

impl App {
    pub(super) fn filter_key(
        &mut self,
        mut input: TextInput,
        before: String,
        key: LayerKey,
    ) -> Vec<Command> {
        match key.action {
            Some(KeyAction::PromptAbort) => {
                if let Some(p) = self.shown_mut() {
                    p.set_filter(&before);
                }
            }
            Some(KeyAction::PromptSubmit) => {}
            _ => {
                if input.handle_key(&key.event)
                    && let Some(p) = self.shown_mut()
                {
                    p.set_filter(input.value());
                }
                self.layers.push(Layer::Filter { input, before });
            }
        }
        Vec::new()
    }
}

/// On the hints row.
pub(super) fn draw(frame: &mut Frame<'_>, line: Rect, input: &TextInput, theme: &Theme) {
    frame.render_widget(ratatui::widgets::Clear, line);
    input.render(frame, line, "/", theme.accent());
}
