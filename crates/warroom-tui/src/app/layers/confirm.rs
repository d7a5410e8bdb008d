//! Step 2 of a guarded action: the exact effect, and a Cancel button that has the focus.
//! A protected context must be typed before Confirm runs anything.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Layer, LayerKey, rows_of};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::panes::Hint;
use crate::widgets::chrome::{popup, text_body};
use crate::widgets::input::TextInput;
use crate::widgets::layout::{centered, take_top};
use warroom_core::guard::{GuardRequest, GuardedAction};
use warroom_core::sanitize;

pub(super) const HINTS: &[Hint] = &[
    (&[KeyAction::ConfirmSwitch], "switch button"),
    (&[KeyAction::ConfirmPress], "press"),
    (&[KeyAction::ConfirmAbort], "abort: nothing runs"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Cancel,
    Confirm,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub actions: Vec<GuardedAction>,
    pub reason: String,
    pub must_type: Option<String>,
    pub typed: TextInput,
    pub focus: Button,
    pub error: Option<String>,
}

impl Confirmation {
    /// The request this confirmation will run, for tests and for the executor.
    pub fn request(&self) -> GuardRequest {
        GuardRequest {
            actions: self.actions.clone(),
            reason: self.reason.clone(),
            typed_context: self
                .must_type
                .as_ref()
                .map(|_| self.typed.value().to_string()),
        }
    }
}

impl App {
    pub(super) fn confirm_key(&mut self, mut c: Confirmation, key: LayerKey) -> Vec<Command> {
        match key.action {
            Some(KeyAction::ConfirmAbort) => self.say("aborted: nothing was done"),
            Some(KeyAction::ConfirmSwitch) => {
                c.focus = match c.focus {
                    Button::Cancel => Button::Confirm,
                    Button::Confirm => Button::Cancel,
                };
                self.layers.push(Layer::Confirm(c));
            }
            Some(KeyAction::ConfirmPress) => match c.focus {
                Button::Cancel => self.say("aborted: nothing was done"),
                Button::Confirm => {
                    if let Some(name) = &c.must_type
                        && c.typed.value() != name
                    {
                        c.error = Some(format!("type the context name {name:?} to confirm"));
                        self.layers.push(Layer::Confirm(c));
                        return Vec::new();
                    }
                    self.executing = true;
                    let n = c.actions.len();
                    self.say(format!("running {n} action(s): audit first…"));
                    return vec![Command::Execute(c.request())];
                }
            },
            _ => {
                if c.must_type.is_some() && c.typed.handle_key(&key.event) {
                    c.error = None;
                }
                self.layers.push(Layer::Confirm(c));
            }
        }
        Vec::new()
    }

    /// The effect of each action, in full when it fits; else the effect of the first and one
    /// line per target, so that the reason, the audit destination and the buttons always show.
    fn confirm_body(&self, c: &Confirmation, text_width: u16, room: u16) -> Vec<Line<'static>> {
        let mut full: Vec<Line<'static>> = Vec::new();
        for a in c.actions.iter().take(4) {
            for (i, l) in a.describe().into_iter().enumerate() {
                full.push(if i == 0 {
                    Line::styled(l, self.theme.header())
                } else {
                    Line::raw(l)
                });
            }
        }
        if c.actions.len() > 4 {
            full.push(Line::raw(format!(
                "… and {} more targets, each checked the same way",
                c.actions.len() - 4
            )));
        }
        if c.actions.len() < 2 || rows_of(&full, text_width) <= room {
            return full;
        }
        let mut compact: Vec<Line<'static>> = c
            .actions
            .first()
            .and_then(|a| a.describe().into_iter().next())
            .map(|l| Line::styled(l, self.theme.header()))
            .into_iter()
            .collect();
        compact.push(Line::raw(format!(
            "The same for each of these {} targets, each checked first and audited on its own:",
            c.actions.len()
        )));
        compact.extend(self.targets_lines(&c.actions, Some(text_width)));
        compact
    }

    pub(super) fn draw_confirm(&self, frame: &mut Frame<'_>, area: Rect, c: &Confirmation) {
        let width = area.width.min(100);
        let text_width = width.saturating_sub(2);
        let facts = vec![
            Line::from(vec![
                Span::styled("reason: ", self.theme.muted()),
                Span::raw(sanitize::cell(&c.reason, 200)),
            ]),
            Line::styled(self.guard.audit_destination.clone(), self.theme.muted()),
        ];
        let facts_rows = rows_of(&facts, text_width);
        let typed_rows = u16::from(c.must_type.is_some());
        // facts, the typed name, the buttons, the error line.
        let footer = facts_rows + typed_rows + 2;
        let room = area.height.saturating_sub(2 + footer);
        let lines = self.confirm_body(c, text_width, room);
        let body_rows = rows_of(&lines, text_width).min(room);
        let rect = centered(area, width, body_rows + footer + 2);
        let inner = popup(
            frame,
            rect,
            "confirm: this cannot be undone",
            self.theme.danger(),
        );
        let (text_area, rest) = take_top(inner, inner.height.saturating_sub(footer));
        text_body(frame, text_area, lines, 0);
        let (facts_area, mut rest) = take_top(rest, facts_rows);
        text_body(frame, facts_area, facts, 0);
        if let Some(name) = &c.must_type {
            let (line, r) = take_top(rest, 1);
            c.typed.render(
                frame,
                line,
                &format!("protected context: type {name} to confirm> "),
                self.theme.warn(),
            );
            rest = r;
        }
        let (buttons, error_line) = take_top(rest, 1);
        let style = |b: Button| {
            if c.focus == b {
                self.theme.selection().add_modifier(Modifier::BOLD)
            } else {
                self.theme.muted()
            }
        };
        let n = c.actions.len();
        let mut spans = vec![
            Span::styled(" [ Cancel ] ", style(Button::Cancel)),
            Span::raw("  "),
            Span::styled(
                format!(" [ Confirm {n} action{} ] ", if n == 1 { "" } else { "s" }),
                style(Button::Confirm),
            ),
        ];
        let help = format!(
            "   {} switches, {} presses, {} aborts",
            self.key_word(KeyAction::ConfirmSwitch),
            self.key_word(KeyAction::ConfirmPress),
            self.key_word(KeyAction::ConfirmAbort)
        );
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if used + help.len() <= buttons.width as usize {
            spans.push(Span::styled(help, self.theme.muted()));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), buttons);
        if let Some(e) = &c.error {
            frame.render_widget(
                Paragraph::new(Line::styled(e.clone(), self.theme.danger())),
                error_line,
            );
        }
    }
}
