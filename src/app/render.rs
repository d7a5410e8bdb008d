//! Drawing the whole screen from App state. Never waits, never does I/O.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::App;
use super::layers::{Button, Confirmation, Layer, ReasonPrompt};
use crate::config::KeyAction;
use crate::guard::ActionReport;
use crate::panes::PaneId;
use crate::widgets::chrome::{popup, tab_bar, text_body};
use crate::widgets::format::ago;
use crate::widgets::layout::{centered, take_bottom, take_top};
use crate::widgets::sanitize;

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
        let right = if self.guard.policy.global_read_only {
            "READ-ONLY "
        } else {
            ""
        };
        tab_bar(frame, top, &titles, active, right, &self.theme);
        let explanation = if self.explain {
            self.pane().explain()
        } else {
            Vec::new()
        };
        if explanation.is_empty() {
            self.pane().render(frame, body, &self.theme, self.tick);
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
            self.pane().render(frame, pane_area, &self.theme, self.tick);
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

    fn draw_status(&self, frame: &mut Frame<'_>, area: Rect) {
        if area.height == 0 {
            return;
        }
        let st = self.pane().status();
        let mut spans = Vec::new();
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
            let hints: &[(&str, &str)] = match top {
                Layer::Help { .. } | Layer::Detail { .. } => &[("j/k", "scroll"), ("esc", "close")],
                Layer::Results(_) => &[("esc", "close")],
                Layer::Reason(_) => &[("enter", "continue"), ("esc", "abort: nothing runs")],
                Layer::Confirm(_) => &[
                    ("tab", "switch button"),
                    ("enter", "press"),
                    ("esc", "abort: nothing runs"),
                ],
                Layer::Command(_) | Layer::Filter { .. } => &[],
                Layer::KafkaResetPrompt(_) => &[("enter", "preview"), ("esc", "cancel")],
                Layer::KafkaResetPreview(_) => &[
                    ("j/k", "scroll"),
                    ("enter", "acknowledge, then reason"),
                    ("esc", "cancel"),
                ],
            };
            let spans: Vec<Span<'static>> = hints
                .iter()
                .flat_map(|(k, label)| {
                    [
                        Span::styled(format!(" {k}"), self.theme.accent()),
                        Span::styled(format!(" {label} "), self.theme.muted()),
                    ]
                })
                .collect();
            frame.render_widget(Paragraph::new(Line::from(spans)), area);
            return;
        }
        let disabled = self
            .pg
            .current_context()
            .and_then(|c| self.guard.policy.disabled_reason(c))
            .filter(|_| self.active == PaneId::Postgres);
        let mut spans = Vec::new();
        // Disabled keys are listed once, with why, so the line still fits 80 columns; the full
        // reason is in the help layer and in the toast when such a key is pressed.
        let mut off_keys = Vec::new();
        let pane_hints = self.pane().hints();
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
            if disabled.is_some() && matches!(action, KeyAction::Cancel | KeyAction::Terminate) {
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
            spans.push(Span::styled(" disabled (read-only)", self.theme.warn()));
        }
        frame.render_widget(
            Paragraph::new(Line::from(ellipsize(spans, area.width))),
            area,
        );
    }

    fn draw_layer(&self, frame: &mut Frame<'_>, area: Rect, line: Rect, layer: &Layer) {
        match layer {
            Layer::Help { scroll } => self.draw_help(frame, area, *scroll),
            Layer::Command(input) => {
                frame.render_widget(ratatui::widgets::Clear, line);
                input.render(frame, line, ":", self.theme.accent());
            }
            Layer::Filter { input, .. } => {
                frame.render_widget(ratatui::widgets::Clear, line);
                input.render(frame, line, "/", self.theme.accent());
            }
            Layer::Detail { detail, scroll } => {
                // The whole pane: slivers of the table beside a detail only distract.
                let inner = popup(frame, area, &detail.title, self.theme.border());
                let lines = detail.lines.iter().map(|l| Line::raw(l.clone())).collect();
                text_body(frame, inner, lines, *scroll);
            }
            Layer::Reason(p) => self.draw_reason(frame, area, p),
            Layer::Confirm(c) => self.draw_confirm(frame, area, c),
            Layer::Results(r) => self.draw_results(frame, area, r),
            Layer::KafkaResetPrompt(p) => p.draw(frame, area, &self.theme),
            Layer::KafkaResetPreview(p) => p.draw(frame, area, &self.theme),
        }
    }

    fn draw_help(&self, frame: &mut Frame<'_>, area: Rect, scroll: u16) {
        let mut lines = Vec::new();
        let section = |title: &str,
                       actions: &mut dyn Iterator<Item = KeyAction>,
                       lines: &mut Vec<Line<'static>>| {
            lines.push(Line::styled(title.to_string(), self.theme.header()));
            for a in actions {
                let keys: Vec<String> = self.keymap.keys_of(a).iter().map(|k| k.label()).collect();
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<14}", keys.join(" ")), self.theme.accent()),
                    Span::raw(a.help().to_string()),
                ]));
            }
        };
        let pane_keys = self.pane().keys();
        section(
            &format!("{} pane", self.active.title()),
            &mut pane_keys
                .iter()
                .copied()
                .filter(|a| a.scope() != crate::config::Scope::Global),
            &mut lines,
        );
        section(
            "everywhere",
            &mut KeyAction::ALL
                .iter()
                .copied()
                .filter(|a| a.scope() == crate::config::Scope::Global),
            &mut lines,
        );
        if let Some(ctx) = self.pane().status().context.as_deref() {
            if let Some(r) = self.guard.policy.runbook(ctx) {
                lines.push(Line::styled(
                    format!("runbook for {ctx}: {}", sanitize::cell(r, 200)),
                    self.theme.warn(),
                ));
            }
            if let Some(why) = self.guard.policy.disabled_reason(ctx) {
                lines.push(Line::styled(why, self.theme.warn()));
            }
        }
        let rect = centered(area, 84, (lines.len() as u16).saturating_add(2));
        let more = lines.len() > rect.height.saturating_sub(2) as usize;
        let title = format!(
            "keys: {} pane ({}Esc closes)",
            self.active.title(),
            if more { "j/k scroll, " } else { "" }
        );
        let inner = popup(frame, rect, &title, self.theme.border());
        // Never scroll past the last line.
        let max_scroll = lines.len().saturating_sub(inner.height as usize) as u16;
        text_body(frame, inner, lines, scroll.min(max_scroll));
    }

    /// One bullet per target: wrapped when `width` is `None`, else cut to one row each.
    fn targets_lines(
        &self,
        actions: &[crate::guard::GuardedAction],
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

    fn draw_reason(&self, frame: &mut Frame<'_>, area: Rect, p: &ReasonPrompt) {
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
                "Why? ({}; one audit record per target). Enter continues, Esc aborts.",
                self.guard.rules.describe()
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

    fn draw_confirm(&self, frame: &mut Frame<'_>, area: Rect, c: &Confirmation) {
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
        let help = "   Tab switches, Enter presses, Esc aborts";
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

    fn draw_results(&self, frame: &mut Frame<'_>, area: Rect, reports: &[ActionReport]) {
        // Each summary wraps: size the popup to the wrapped lines (+1 for word breaks).
        let text_width = usize::from(area.width.min(110).saturating_sub(2)).max(1);
        let rows: usize = reports
            .iter()
            .map(|r| unicode_width::UnicodeWidthStr::width(r.summary().as_str()) / text_width + 1)
            .sum();
        let height = u16::try_from(rows + 3).unwrap_or(u16::MAX);
        let rect = centered(area, 110, height);
        let ok = reports.iter().filter(|r| r.ok).count();
        let inner = popup(
            frame,
            rect,
            &format!("results: {ok} of {} done (Esc closes)", reports.len()),
            self.theme.border(),
        );
        let lines = reports
            .iter()
            .map(|r| {
                Line::styled(
                    sanitize::cell(&r.summary(), 1000),
                    if r.ok {
                        self.theme.ok()
                    } else {
                        self.theme.danger()
                    },
                )
            })
            .collect();
        text_body(frame, inner, lines, 0);
    }
}

/// Rows `lines` take when word-wrapped at `width` (as `text_body` wraps them).
fn rows_of(lines: &[Line<'_>], width: u16) -> u16 {
    let width = usize::from(width).max(1);
    let rows: usize = lines
        .iter()
        .map(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            let (mut rows, mut col) = (1, 0);
            for word in text.split_inclusive(' ') {
                let w = unicode_width::UnicodeWidthStr::width(word);
                let visible = unicode_width::UnicodeWidthStr::width(word.trim_end());
                if col > 0 && col + visible > width {
                    rows += 1;
                    col = 0;
                }
                if visible > width {
                    // A word longer than the line is broken across rows.
                    rows += (visible - 1) / width;
                    col = visible % width + (w - visible);
                } else {
                    col += w;
                }
            }
            rows
        })
        .sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// `text` on one row of `width` columns, ending with "…" when cut.
fn cut(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if unicode_width::UnicodeWidthStr::width(text) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    out
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
        KeyAction::Cancel => "cancel",
        KeyAction::Terminate => "terminate",
        KeyAction::ToggleIdle => "idle",
        KeyAction::SortNext => "sort",
        KeyAction::Mark => "mark",
        KeyAction::SortReverse | KeyAction::PodSortReverse | KeyAction::KafkaSortReverse => {
            "reverse"
        }
        KeyAction::PodSortNext | KeyAction::KafkaSortNext => "sort",
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
        KeyAction::RefreshFaster | KeyAction::KafkaRefreshFaster => "faster",
        KeyAction::RefreshSlower | KeyAction::KafkaRefreshSlower => "slower",
        // Names in [keys] use underscores; hints read better with spaces.
        _ => a.name(),
    }
}
