//! Drawing of the Kafka pane. Reads state, never changes it, never waits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Sparkline, Table};

use super::KafkaPane;
use super::view::trend;
use crate::backends::kafka::LagStatus;
use crate::panes::Pane;
use crate::panes::{Ctx, first_snapshot};
use crate::widgets::chrome::{configured, info_line, loaded};
use crate::widgets::layout::{take_bottom, take_top};
use crate::widgets::sanitize;

pub fn draw(pane: &KafkaPane, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.theme;
    let Some(context) = configured(
        frame,
        area,
        pane.current_context(),
        "No Kafka context is configured.",
        &[
            "Add a [[kafka]] section (name, brokers) to the configuration, check it with `warroom config check`, or try `warroom demo`.",
        ],
        theme,
    ) else {
        return;
    };
    let Some((snap, history)) = loaded(
        frame,
        area,
        pane.snapshot().zip(pane.history()),
        &first_snapshot(context),
        pane.status().error,
        ctx.tick,
        theme,
    ) else {
        return;
    };
    let (info, rest) = take_top(area, 1);
    let taken = humantime::format_rfc3339_seconds(snap.taken_at).to_string();
    let spans = vec![
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
    pane.page.set(page);
    let first = (pane.cursor + 1).saturating_sub(page);
    let now = snap.taken_at;
    let rows = pane
        .rows
        .iter()
        .enumerate()
        .skip(first)
        .take(page)
        .filter_map(|(i, r)| {
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
            Some(if i == pane.cursor {
                row.style(theme.selection())
            } else {
                row
            })
        });
    let header = Row::new([
        "GROUP", "STATE", "MEMB", "TOPICS", "LAG", "MAX", "TIME LAG", "STATUS", "TREND",
    ])
    .style(theme.header());
    let widths = [
        Constraint::Min(16),
        Constraint::Length(12),
        Constraint::Length(4),
        Constraint::Length(18),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(12),
    ];
    frame.render_widget(
        Table::new(rows.collect::<Vec<_>>(), widths)
            .header(header)
            .column_spacing(1),
        body,
    );
    if pane.rows.is_empty() {
        let (_, below) = take_top(body, 1);
        let msg = if snap.groups.is_empty() {
            "no consumer groups on this cluster (a group shows once it has committed offsets)"
        } else {
            "no group matches the filter (esc clears it)"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, theme.muted())), below);
    }
}
