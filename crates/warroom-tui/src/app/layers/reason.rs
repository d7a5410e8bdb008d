//! Step 1 of a guarded action: why? The reason must pass the rules before the
//! confirmation shows.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::confirm::{Button, Confirmation};
use super::{Layer, LayerKey, cut, rows_of};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::panes::Hint;
use crate::widgets::chrome::{popup, text_body};
use crate::widgets::input::TextInput;
use crate::widgets::layout::{centered, take_top};
use warroom_core::guard::GuardedAction;
use warroom_core::sanitize;

pub(super) const HINTS: &[Hint] = &[
    (&[KeyAction::PromptSubmit], "continue"),
    (&[KeyAction::PromptAbort], "abort: nothing runs"),
];

/// Step 1 of a guarded action: why?
#[derive(Debug, Clone, PartialEq)]
pub struct ReasonPrompt {
    pub actions: Vec<GuardedAction>,
    /// The context name the user must type in the confirmation (protected contexts).
    pub must_type: Option<String>,
    pub runbook: Option<String>,
    pub input: TextInput,
    pub error: Option<String>,
}

impl ReasonPrompt {
    pub fn new(
        actions: Vec<GuardedAction>,
        must_type: Option<String>,
        runbook: Option<String>,
    ) -> Self {
        ReasonPrompt {
            actions,
            must_type,
            runbook,
            input: TextInput::default(),
            error: None,
        }
    }
}

impl App {
    pub(super) fn reason_key(&mut self, mut prompt: ReasonPrompt, key: LayerKey) -> Vec<Command> {
        match key.action {
            Some(KeyAction::PromptAbort) => self.say("aborted: nothing was done"),
            Some(KeyAction::PromptSubmit) => {
                match self.guard.rules.validate(prompt.input.value()) {
                    Ok(reason) => self.layers.push(Layer::Confirm(Confirmation {
                        actions: prompt.actions,
                        reason,
                        must_type: prompt.must_type,
                        typed: TextInput::default(),
                        focus: Button::Cancel,
                        error: None,
                    })),
                    Err(why) => {
                        prompt.error = Some(why);
                        self.layers.push(Layer::Reason(prompt));
                    }
                }
            }
            _ => {
                if prompt.input.handle_key(&key.event) {
                    prompt.error = None;
                }
                self.layers.push(Layer::Reason(prompt));
            }
        }
        Vec::new()
    }

    /// One bullet per target: wrapped when `width` is `None`, else cut to one row each.
    pub(super) fn targets_lines(
        &self,
        actions: &[warroom_core::guard::GuardedAction],
        width: Option<u16>,
    ) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for a in actions.iter().take(6) {
            let text = format!("  • {}", a.target_summary());
            lines.push(Line::raw(match width {
                Some(w) => cut(&text, w),
                None => text,
            }));
        }
        if actions.len() > 6 {
            lines.push(Line::raw(format!("  … and {} more", actions.len() - 6)));
        }
        lines
    }

    pub(super) fn draw_reason(&self, frame: &mut Frame<'_>, area: Rect, p: &ReasonPrompt) {
        let width = area.width.min(90);
        let text_width = width.saturating_sub(2);
        let ctx = p.actions.first().map_or("-", |a| a.context());
        let head = |targets: Vec<Line<'static>>| {
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("actor    ", self.theme.muted()),
                    Span::raw(self.guard.actor.clone()),
                ]),
                Line::from(vec![
                    Span::styled("context  ", self.theme.muted()),
                    Span::raw(sanitize::cell(ctx, 60)),
                ]),
                Line::styled("targets", self.theme.muted()),
            ];
            lines.extend(targets);
            lines.push(Line::styled(
                self.guard.audit_destination.clone(),
                self.theme.muted(),
            ));
            if let Some(r) = &p.runbook {
                lines.push(Line::styled(
                    format!("runbook: {}", sanitize::cell(r, 200)),
                    self.theme.accent(),
                ));
            }
            lines
        };
        // The rule, the input and the error stay visible whatever the number of targets.
        let why = vec![Line::styled(
            format!(
                "Why? ({}; one audit record per target). {} continues, {} aborts.",
                self.guard.rules.describe(),
                self.key_word(KeyAction::PromptSubmit),
                self.key_word(KeyAction::PromptAbort)
            ),
            self.theme.base(),
        )];
        let why_rows = rows_of(&why, text_width);
        let footer = why_rows + 2;
        let room = area.height.saturating_sub(2 + footer);
        let mut lines = head(self.targets_lines(&p.actions, None));
        if rows_of(&lines, text_width) > room {
            lines = head(self.targets_lines(&p.actions, Some(text_width)));
        }
        let body_rows = rows_of(&lines, text_width).min(room);
        let rect = centered(area, width, body_rows + footer + 2);
        let inner = popup(frame, rect, "reason required", self.theme.warn());
        let (text_area, rest) = take_top(inner, inner.height.saturating_sub(footer));
        text_body(frame, text_area, lines, 0);
        let (why_area, rest) = take_top(rest, why_rows);
        text_body(frame, why_area, why, 0);
        let (input_line, error_line) = take_top(rest, 1);
        p.input
            .render(frame, input_line, "reason> ", self.theme.accent());
        if let Some(e) = &p.error {
            frame.render_widget(
                Paragraph::new(Line::styled(e.clone(), self.theme.danger())),
                error_line,
            );
        }
    }
}
