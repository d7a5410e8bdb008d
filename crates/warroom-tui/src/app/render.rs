//! Drawing the whole screen from App state. Never waits, never does I/O.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::App;
use crate::keymap::KeyAction;
use crate::panes::PaneId;
use crate::widgets::chrome::{popup, tab_bar, text_body};
use crate::widgets::layout::{take_bottom, take_top};
use warroom_core::human::ago;
use warroom_core::sanitize;

impl App {
    pub fn render(&self, frame: &mut Frame<'_>) {
        let area = frame.area();
        if area.width == 0 || area.height == 0 {
            return;
        }
        frame.render_widget(Paragraph::new("").style(self.theme.base()), area);
        let (top, rest) = take_top(area, 1);
        let (body, bottom) = take_bottom(rest, 2.min(rest.height.saturating_sub(1)));
        let titles: Vec<&str> = PaneId::ALL.iter().map(|p| p.title()).collect();
        let active = PaneId::ALL
            .iter()
            .position(|p| *p == self.active)
            .unwrap_or(0);
        let mut right = String::new();
        // Persistent until warroom exits: an action ran without the endpoint's acceptance.
        if self.break_glass.is_some() {
            right.push_str("BREAK-GLASS: records only on this machine ");
        }
        if let Some(share) = &self.share_status {
            right.push_str(share);
            right.push(' ');
        }
        if self.guard.policy.global_read_only {
            right.push_str("READ-ONLY ");
        }
        tab_bar(frame, top, &titles, active, &right, &self.theme);
        let Some(pane) = self.shown() else { return };
        let ctx = self.ctx();
        let explanation = if self.explain {
            pane.explain()
        } else {
            Vec::new()
        };
        if explanation.is_empty() {
            pane.render(frame, body, &ctx);
        } else {
            // As tall as the wrapped text needs, at most half the pane.
            let inner_width = usize::from(body.width.saturating_sub(2).max(1));
            let needed: usize = explanation
                .iter()
                // Word wrapping leaves ends of lines empty: estimate with a narrower width.
                .map(|l| {
                    l.chars()
                        .count()
                        .div_ceil(inner_width.saturating_sub(12).max(1))
                        .max(1)
                })
                .sum();
            let height = u16::try_from(needed + 2)
                .unwrap_or(u16::MAX)
                .min(body.height / 2);
            let (pane_area, explain_area) = take_bottom(body, height);
            pane.render(frame, pane_area, &ctx);
            let inner = popup(
                frame,
                explain_area,
                "explain (e hides)",
                self.theme.accent(),
            );
            let lines = explanation
                .into_iter()
                .map(|l| Line::styled(l, self.theme.base()))
                .collect();
            text_body(frame, inner, lines, 0);
        }
        let (status, hints) = take_top(bottom, 1);
        self.draw_status(frame, status);
        self.draw_hints(frame, hints);
        // Popups cover the pane only: the status bar (errors, results) stays readable and the
        // hints row says what the top layer's keys do; command and filter lines replace it.
        for layer in &self.layers {
            self.draw_layer(frame, body, hints, layer);
        }
    }

    /// The short why of disabled keys on the hints row (the full reason is in `?` and in
    /// the toast when such a key is pressed).
    fn disabled_label(&self) -> &'static str {
        let policy = &self.guard.policy;
        let known = self
            .shown_context()
            .is_some_and(|c| policy.contexts.contains_key(&c));
        if policy.global_read_only || known {
            "read-only"
        } else {
            "unknown context"
        }
    }

    fn draw_status(&self, frame: &mut Frame<'_>, area: Rect) {
        if area.height == 0 {
            return;
        }
        let Some(st) = self.shown().map(|p| p.status()) else {
            return;
        };
        let mut spans = Vec::new();
        // Every warroom connected to the server shows what waits for a second pair of eyes.
        if self.approvals_waiting > 0 {
            let n = self.approvals_waiting;
            spans.push(Span::styled(
                format!(" {n} approval{} waiting ", if n == 1 { "" } else { "s" }),
                self.theme.danger(),
            ));
        }
        if let Some(focus) = &self.focus {
            spans.push(Span::styled(
                format!(" focus {} ", sanitize::cell(&focus.name, 40)),
                self.theme.warn(),
            ));
        }
        if let Some(ctx) = &st.context {
            spans.push(Span::styled(
                format!(" {} ", sanitize::cell(ctx, 40)),
                self.theme.selection(),
            ));
            let refreshed = st.last_refresh.map_or("no data yet".to_string(), |t| {
                format!("refreshed {}", ago(self.now.saturating_duration_since(t)))
            });
            spans.push(Span::styled(format!(" {refreshed} "), self.theme.muted()));
        }
        if let Some(toast) = self.toast() {
            let style = if toast.error {
                self.theme.danger()
            } else {
                self.theme.accent()
            };
            spans.push(Span::styled(
                format!(" {} ", sanitize::cell(&toast.text, 500)),
                style,
            ));
        } else if let Some(err) = &st.error {
            spans.push(Span::styled(format!(" ✖ {err} "), self.theme.danger()));
        } else if let Some(note) = &st.note {
            spans.push(Span::styled(format!(" {note} "), self.theme.muted()));
        }
        frame.render_widget(
            Paragraph::new(Line::from(ellipsize(spans, area.width))),
            area,
        );
    }

    fn draw_hints(&self, frame: &mut Frame<'_>, area: Rect) {
        if area.height == 0 {
            return;
        }
        if let Some(top) = self.layers.last() {
            let spans: Vec<Span<'static>> = top
                .hints()
                .iter()
                .flat_map(|(keys, label)| {
                    [
                        Span::styled(
                            format!(" {}", self.keymap.labels_of(keys)),
                            self.theme.accent(),
                        ),
                        Span::styled(format!(" {label} "), self.theme.muted()),
                    ]
                })
                .collect();
            frame.render_widget(Paragraph::new(Line::from(spans)), area);
            return;
        }
        // Guarded keys on a context where policy disables them, or that cannot act on the
        // selected row (a hidden session): greyed, with why.
        let disabled = match self.disabled_reason() {
            Some(_) => Some(self.disabled_label()),
            None => self.shown().and_then(|p| p.guard_blocked()),
        };
        let mut spans = Vec::new();
        // Disabled keys are listed once, with why, so the line still fits 80 columns; the full
        // reason is in the help layer and in the toast when such a key is pressed.
        let mut off_keys = Vec::new();
        let pane_hints = self.shown().map_or(&[][..], |p| p.hints());
        let actions = pane_hints.iter().map(|&a| (a, short_label(a))).chain(
            [
                (KeyAction::Filter, "filter"),
                (KeyAction::Help, "help"),
                (KeyAction::Quit, "quit"),
            ]
            .into_iter()
            .filter(|(a, _)| !pane_hints.contains(a)),
        );
        for (action, label) in actions {
            if disabled.is_some() && action.is_guarded() {
                off_keys.push(self.keymap.label_of(action));
                continue;
            }
            spans.push(Span::styled(
                format!(" {}", self.keymap.label_of(action)),
                self.theme.accent(),
            ));
            spans.push(Span::styled(format!(" {label} "), self.theme.muted()));
        }
        if !off_keys.is_empty() {
            spans.push(Span::styled(
                format!(" {}", off_keys.join(" ")),
                self.theme.muted().add_modifier(Modifier::CROSSED_OUT),
            ));
            spans.push(Span::styled(
                format!(" disabled ({})", disabled.unwrap_or_default()),
                self.theme.warn(),
            ));
        }
        frame.render_widget(
            Paragraph::new(Line::from(ellipsize(spans, area.width))),
            area,
        );
    }
}

/// Cut a line of spans to `width` columns, ending with "…" when something was cut.
fn ellipsize(spans: Vec<Span<'static>>, width: u16) -> Vec<Span<'static>> {
    let width = width as usize;
    let total: usize = spans.iter().map(|s| s.width()).sum();
    if total <= width || width == 0 {
        return spans;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for span in spans {
        let room = width - 1 - used.min(width - 1);
        if span.width() <= room {
            used += span.width();
            out.push(span);
            continue;
        }
        let mut text = String::new();
        let mut w = 0;
        for ch in span.content.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
            if w + cw > room {
                break;
            }
            w += cw;
            text.push(ch);
        }
        out.push(Span::styled(text, span.style));
        out.push(Span::styled("…", span.style));
        break;
    }
    out
}

fn short_label(a: KeyAction) -> &'static str {
    match a {
        KeyAction::LockView => "locks",
        KeyAction::StatementsView => "top sql",
        KeyAction::WaitView => "waits",
        KeyAction::PlanOfQuery => "plan",
        KeyAction::Cancel => "cancel",
        KeyAction::Terminate => "terminate",
        KeyAction::ToggleIdle => "idle",
        KeyAction::SortNext => "sort",
        KeyAction::Mark => "mark",
        KeyAction::SortReverse => "reverse",
        KeyAction::PodDelete | KeyAction::KafkaDeleteGroup => "delete",
        KeyAction::PodRolloutRestart => "restart",
        KeyAction::PodLogs => "logs",
        KeyAction::PodPreviousLogs => "previous",
        KeyAction::PodWorkloadLogs => "workload",
        KeyAction::PodGroupByOwner => "group",
        KeyAction::LogsFollow => "follow",
        KeyAction::LogsWrap => "wrap",
        KeyAction::LogsTimestamps => "time",
        KeyAction::LogsJsonFields => "fields",
        KeyAction::LogsPrefix => "prefix",
        KeyAction::LogsSave => "save",
        KeyAction::LogsClear => "clear",
        KeyAction::KafkaResetOffsets => "reset",
        KeyAction::KafkaUndoReset => "undo",
        KeyAction::RefreshFaster => "faster",
        KeyAction::RefreshSlower => "slower",
        // Names in [keys] use underscores; hints read better with spaces.
        _ => a.name(),
    }
}
