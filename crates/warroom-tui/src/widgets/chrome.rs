//! The chrome around panes: tab bar, status bar, key hints, popups.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};

use crate::theme::Theme;

const SPINNER: [&str; 8] = ["⣾", "⣽", "⣻", "⢿", "⡿", "⣟", "⣯", "⣷"];

pub fn spinner(tick: u64) -> &'static str {
    SPINNER[(tick % SPINNER.len() as u64) as usize]
}

/// "1 PostgreSQL  2 Kafka  3 Pods  4 Logs" with the active one highlighted.
pub fn tab_bar(
    frame: &mut Frame<'_>,
    area: Rect,
    titles: &[&str],
    active: usize,
    right: &str,
    theme: &Theme,
) {
    let mut spans = vec![Span::styled(" warroom ", theme.accent())];
    for (i, t) in titles.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, t);
        spans.push(if i == active {
            Span::styled(label, theme.selection())
        } else {
            Span::styled(label, theme.muted())
        });
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let room = (area.width as usize).saturating_sub(used + 1);
    if room > 0 && !right.is_empty() {
        let text: String = right.chars().take(room).collect();
        spans.push(Span::raw(" ".repeat(room - text.chars().count())));
        spans.push(Span::styled(text, theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A bordered popup, cleared underneath, with a title. Returns the inner area.
pub fn popup(frame: &mut Frame<'_>, area: Rect, title: &str, border: Style) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(format!(" {title} "), border));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// Wrapped lines in a popup body, scrolled by `scroll` lines.
pub fn text_body(frame: &mut Frame<'_>, area: Rect, lines: Vec<Line<'static>>, scroll: u16) {
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

/// A pane with nothing to show yet: what is missing, then how to get it.
pub fn empty_state(frame: &mut Frame<'_>, area: Rect, title: &str, hints: &[&str], theme: &Theme) {
    let mut text = vec![Line::styled(title.to_string(), theme.header())];
    text.extend(
        hints
            .iter()
            .map(|h| Line::styled(h.to_string(), theme.muted())),
    );
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

/// Waiting for the first data: a spinner, what it waits for (already sanitized by the caller),
/// and the last error, if any.
pub fn waiting(
    frame: &mut Frame<'_>,
    area: Rect,
    tick: u64,
    what: &str,
    error: Option<String>,
    theme: &Theme,
) {
    let mut text = vec![Line::from(vec![
        Span::styled(format!("{} ", spinner(tick)), theme.accent()),
        Span::raw(what.to_string()),
    ])];
    if let Some(err) = error {
        text.push(Line::styled(err, theme.danger()));
    }
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

/// A pane's info line: `spans`, then the filter when one is set.
pub fn info_line(
    frame: &mut Frame<'_>,
    area: Rect,
    mut spans: Vec<Span<'static>>,
    filter: &str,
    theme: &Theme,
) {
    if !filter.is_empty() {
        spans.push(Span::styled(
            format!(" · filter: {}", warroom_core::sanitize::cell(filter, 40)),
            theme.warn(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The first step of drawing a pane: the shown context, or `None` after drawing how to
/// configure one (`title` and `hints`); `None` too for an area with no room.
pub fn configured<'a>(
    frame: &mut Frame<'_>,
    area: Rect,
    context: Option<&'a str>,
    title: &str,
    hints: &[&str],
    theme: &Theme,
) -> Option<&'a str> {
    if area.width == 0 || area.height == 0 {
        return None;
    }
    if context.is_none() {
        empty_state(frame, area, title, hints, theme);
    }
    context
}

/// The second step: the pane's data, or `None` after drawing a spinner for `what` with the
/// last error.
pub fn loaded<T>(
    frame: &mut Frame<'_>,
    area: Rect,
    data: Option<T>,
    what: &str,
    error: Option<String>,
    tick: u64,
    theme: &Theme,
) -> Option<T> {
    if data.is_none() {
        waiting(frame, area, tick, what, error, theme);
    }
    data
}

/// A pane's table: `rows` under `header`, one column apart; with no rows, `empty` (why
/// nothing shows, given when there are no rows) on the line below the header.
pub fn table<'a>(
    frame: &mut Frame<'_>,
    area: Rect,
    header: Row<'a>,
    widths: impl IntoIterator<Item = Constraint>,
    rows: Vec<Row<'a>>,
    empty: Option<Line<'a>>,
) {
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
    if let Some(empty) = empty {
        let (_, below) = crate::widgets::layout::take_top(area, 1);
        frame.render_widget(Paragraph::new(empty), below);
    }
}

/// Why a table shows no rows: `none` when there is nothing at all, else no `noun` matches
/// the filter.
pub fn no_rows(none: &'static str, filtered: bool, noun: &str, theme: &Theme) -> Line<'static> {
    if filtered {
        Line::styled(
            format!("no {noun} matches the filter (Esc clears it)"),
            theme.muted(),
        )
    } else {
        Line::styled(none, theme.muted())
    }
}
