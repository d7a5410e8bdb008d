//! The command line (`:`): Enter runs it, Esc drops it; other keys edit.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::theme::Theme;
use crate::widgets::input::TextInput;

impl App {
    pub(super) fn command_key(&mut self, mut input: TextInput, key: LayerKey) -> Vec<Command> {
        match key.action {
            Some(KeyAction::PromptAbort) => Vec::new(),
            Some(KeyAction::PromptSubmit) => {
                self.execute_command_line(input.value().trim_start_matches(':'))
            }
            _ => {
                input.handle_key(&key.event);
                self.layers.push(Layer::Command(input));
                Vec::new()
            }
        }
    }
}

/// On the hints row.
pub(super) fn draw(frame: &mut Frame<'_>, line: Rect, input: &TextInput, theme: &Theme) {
    frame.render_widget(ratatui::widgets::Clear, line);
    input.render(frame, line, ":", theme.accent());
}
