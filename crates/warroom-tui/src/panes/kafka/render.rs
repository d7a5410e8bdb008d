//! Drawing of the Kafka pane. Reads state, never changes it, never waits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Sparkline};

use super::KafkaPane;
use super::view::trend;
use crate::panes::Pane;
use crate::panes::{Ctx, Preamble, first_snapshot};
use crate::widgets::chrome::{info_line, no_rows, table};
use crate::widgets::layout::{take_bottom, take_top};
use warroom_core::backends::kafka::LagStatus;
use warroom_core::sanitize;

const PREAMBLE: Preamble = Preamble {
    title: "No Kafka context is configured.",
    hints: &[
        "Add a [[kafka]] section (name, brokers) to the configuration, check it with `warroom config check`, or try `warroom demo`.",
    ],
    waiting: first_snapshot,
};

pub fn draw(pane: &KafkaPane, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.theme;
    let data = pane.snapshot().zip(pane.history());
    let error = pane.status().error;
    let Some((_, (snap, history))) =
        PREAMBLE.draw(frame, area, ctx, pane.current_context(), data, error)
    else {
        return;
    };
    let (info, rest) = take_top(area, 1);
    let taken = humantime::format_rfc3339_seconds(snap.taken_at).to_string();
    let mut spans = vec![
        Span::styled("consumer groups", theme.accent()),
        Span::raw(format!(
            " {} shown / {} total",
            pane.rows.len(),
            snap.groups.len()
        )),
        Span::styled(
            format!(
                " · sort {} · snapshot {}",
                pane.sort.label(),
                taken.get(11..19).unwrap_or(&taken)
            ),
            theme.muted(),
        ),
    ];
    if let Some(limit) = pane.member_limit() {
        spans.push(Span::styled(format!(" · {limit}"), theme.warn()));
    }
    info_line(frame, info, spans, &pane.filter, theme);
    // The debug line: what the last refresh cost the cluster.
    let (rest, debug) = take_bottom(rest, 1);
    frame.render_widget(
        Paragraph::new(Line::styled(snap.cost.debug_line(), theme.muted())),
        debug,
    );
    let body = if rest.height >= 12 {
        let (spark, body) = take_top(rest, 3);
        if let Some(g) = pane.selected_group() {
            let series = history.lag_series(&g.id);
            let max = series.iter().copied().max().unwrap_or(0);
            let title = Line::from(vec![
                Span::styled(
                    format!("lag of {}", sanitize::cell(&g.id, 40)),
                    theme.header(),
                ),
                Span::styled(format!(" (max {max})"), theme.muted()),
            ]);
            let (label, line) = take_top(spark, 1);
            frame.render_widget(Paragraph::new(title), label);
            let tail = &series[series.len().saturating_sub(line.width as usize)..];
            frame.render_widget(Sparkline::default().data(tail).style(theme.warn()), line);
        }
        body
    } else {
        rest
    };
    if body.height == 0 {
        return;
    }
    let page = body.height.saturating_sub(1).max(1) as usize;
    pane.cursor.set_page(page);
    let now = snap.taken_at;
    let rows = pane.cursor.window(&pane.rows, page).filter_map(|(i, r)| {
        let g = snap.groups.get(r.index)?;
        let status_style = match r.status {
            LagStatus::Stop | LagStatus::Rewind => theme.danger(),
            LagStatus::Stall | LagStatus::Warn => theme.warn(),
            LagStatus::Empty => theme.muted(),
            LagStatus::Ok => theme.ok(),
        };
        let cells = vec![
            Span::raw(sanitize::cell(&g.id, 40)),
            Span::raw(sanitize::cell(&g.state, 12)),
            Span::raw(g.members.len().to_string()),
            Span::raw(sanitize::cell(&g.topics().join(","), 30)),
            Span::raw(if g.error.is_some() {
                "?".into()
            } else {
                g.total_lag().to_string()
            }),
            Span::raw(g.max_lag().to_string()),
            Span::raw(history.time_lag(g, now).text()),
            Span::styled(r.status.label(), status_style),
            Span::styled(trend(&history.lag_series(&g.id), 12), theme.warn()),
        ];
        let row = Row::new(cells);
        Some(if i == pane.cursor.row {
            row.style(theme.selection())
        } else {
            row
        })
    });
    let header = Row::new([
        "GROUP", "STATE", "MEMB", "TOPICS", "LAG", "MAX", "TIME LAG", "STATUS", "TREND",
    ])
    .style(theme.header());
    let mut widths = vec![Constraint::Min(16)];
    widths.extend(Constraint::from_lengths([12, 4, 18, 10, 9, 9, 6, 12]));
    let none = "no consumer groups on this cluster (a group shows once it has committed offsets)";
    let filtered = !snap.groups.is_empty();
    let empty = (pane.rows.is_empty()).then(|| no_rows(none, filtered, "group", theme));
    table(frame, body, header, widths, rows.collect(), empty);
}
