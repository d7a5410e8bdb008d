//! `?`: every key of the shown pane, of everywhere and of the layers, from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::{KeyAction, KeyChord, Scope};
use crate::panes::Hint;
use crate::widgets::chrome::popup;
use crate::widgets::layout::centered;
use warroom_core::sanitize;

pub(super) const HINTS: &[Hint] = super::detail::HINTS;

impl App {
    pub(super) fn help_key(&mut self, scroll: u16, key: LayerKey, chord: KeyChord) -> Vec<Command> {
        // The help key closes what it opened.
        let help = self.keymap.lookup(Scope::Global, chord) == Some(KeyAction::Help);
        match crate::panes::scrolled(key.action, scroll) {
            Some(scroll) if !help => self.layers.push(Layer::Help { scroll }),
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn draw_help(&self, frame: &mut Frame<'_>, area: Rect, scroll: u16) {
        let mut lines = Vec::new();
        let section = |title: &str,
                       actions: &mut dyn Iterator<Item = KeyAction>,
                       lines: &mut Vec<Line<'static>>| {
            lines.push(Line::styled(title.to_string(), self.theme.header()));
            for a in actions {
                let keys: Vec<String> = self.keymap.keys_of(a).iter().map(|k| k.label()).collect();
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<13} ", keys.join(" ")), self.theme.accent()),
                    Span::raw(a.help().to_string()),
                ]));
            }
        };
        let title = self.active.title();
        if let Some(pane) = self.shown() {
            section(
                &format!("{title} pane"),
                &mut pane
                    .keys()
                    .iter()
                    .copied()
                    .filter(|a| a.scope() != Scope::Global),
                &mut lines,
            );
        }
        section(
            "everywhere",
            &mut KeyAction::ALL
                .iter()
                .copied()
                .filter(|a| a.scope() == Scope::Global),
            &mut lines,
        );
        for (scope, heading) in Scope::LAYERS {
            section(
                heading,
                &mut KeyAction::ALL
                    .iter()
                    .copied()
                    .filter(|a| a.scope() == scope),
                &mut lines,
            );
        }
        if let Some(ctx) = self.shown_context() {
            if let Some(r) = self.guard.policy.runbook(&ctx) {
                lines.push(Line::styled(
                    format!("runbook for {ctx}: {}", sanitize::cell(r, 200)),
                    self.theme.warn(),
                ));
            }
            if let Some(why) = self.guard.policy.disabled_reason(&ctx) {
                lines.push(Line::styled(why, self.theme.warn()));
            }
        }
        // Long lines wrap: size and scroll by the rows drawn, not by the lines.
        let body = Paragraph::new(lines).wrap(Wrap { trim: false });
        let rows = body.line_count(area.width.min(84).saturating_sub(2));
        let rect = centered(
            area,
            84,
            u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2),
        );
        let more = rows > rect.height.saturating_sub(2) as usize;
        let title = format!(
            "keys: {title} pane ({}{} closes)",
            if more {
                format!(
                    "{} scroll, ",
                    self.keymap
                        .labels_of(&[KeyAction::ScrollDown, KeyAction::ScrollUp])
                )
            } else {
                String::new()
            },
            self.key_word(KeyAction::ScrollClose)
        );
        let inner = popup(frame, rect, &title, self.theme.border());
        // Never scroll past the last row.
        let max_scroll = rows.saturating_sub(inner.height as usize);
        let scroll = scroll.min(u16::try_from(max_scroll).unwrap_or(u16::MAX));
        frame.render_widget(body.scroll((scroll, 0)), inner);
    }
}
