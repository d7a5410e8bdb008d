//! A one-line text input (tui-input underneath) fed by crossterm key events.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tui_input::{Input, InputRequest};

#[derive(Debug, Clone, Default)]
pub struct TextInput {
    input: Input,
}

impl PartialEq for TextInput {
    fn eq(&self, other: &Self) -> bool {
        self.input.value() == other.input.value() && self.input.cursor() == other.input.cursor()
    }
}

impl TextInput {
    pub fn with_value(value: &str) -> TextInput {
        TextInput {
            input: Input::new(value.to_string()),
        }
    }

    pub fn value(&self) -> &str {
        self.input.value()
    }

    /// Apply an editing key; returns whether it was one. Control characters never enter the
    /// buffer: only printable characters are inserted.
    pub fn handle_key(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let req = match key.code {
            KeyCode::Char('u') if ctrl => InputRequest::DeleteFromStart,
            KeyCode::Char('w') if ctrl => InputRequest::DeletePrevWord,
            KeyCode::Char('a') if ctrl => InputRequest::GoToStart,
            KeyCode::Char('e') if ctrl => InputRequest::GoToEnd,
            KeyCode::Char('k') if ctrl => InputRequest::DeleteTillEnd,
            KeyCode::Char(_) if ctrl => return false,
            KeyCode::Char(c) if !c.is_control() => InputRequest::InsertChar(c),
            KeyCode::Backspace => InputRequest::DeletePrevChar,
            KeyCode::Delete => InputRequest::DeleteNextChar,
            KeyCode::Left => InputRequest::GoToPrevChar,
            KeyCode::Right => InputRequest::GoToNextChar,
            KeyCode::Home => InputRequest::GoToStart,
            KeyCode::End => InputRequest::GoToEnd,
            _ => return false,
        };
        self.input.handle(req);
        true
    }

    /// Insert pasted text at the cursor: line breaks and tabs become spaces, other unsafe
    /// characters are dropped (the one sanitizer). A paste never submits anything.
    pub fn paste(&mut self, text: &str) {
        for c in warroom_core::sanitize::sanitize(text, 4000).chars() {
            self.input.handle(InputRequest::InsertChar(c));
        }
    }

    /// Draw `prefix` + the value on one line and place the terminal cursor.
    pub fn render(&self, frame: &mut Frame<'_>, area: Rect, prefix: &str, style: Style) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let prefix_w = prefix.chars().count() as u16;
        let room = area.width.saturating_sub(prefix_w).max(1) as usize;
        let scroll = self.input.visual_scroll(room.saturating_sub(1));
        let visible: String = self.input.value().chars().skip(scroll).take(room).collect();
        let line = Line::from(vec![
            Span::styled(prefix.to_string(), style),
            Span::raw(visible),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let x = area.x + prefix_w + (self.input.visual_cursor().saturating_sub(scroll)) as u16;
        if x < area.x + area.width {
            frame.set_cursor_position(Position::new(x, area.y));
        }
    }
}
