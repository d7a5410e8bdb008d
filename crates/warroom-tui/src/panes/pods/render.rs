//! Drawing of the Pods pane. Reads state, never changes it, never waits.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row};

use super::{PodsPane, event_line};
use crate::panes::Pane;
use crate::panes::table::Column as _;
use crate::panes::{Ctx, Preamble};
use crate::theme::Theme;
use crate::widgets::chrome::table;
use crate::widgets::layout::{take_bottom, take_top};
use warroom_core::backends::kube::{Health, PodRow};
use warroom_core::human::duration_short;
use warroom_core::sanitize;

const PREAMBLE: Preamble = Preamble {
    title: "No Kubernetes context is configured.",
    hints: &[
        "Add a [[kubernetes]] section (name, kube_context, namespaces) to the configuration, check it with `warroom config check`, or try `warroom demo`.",
    ],
    waiting: listing_pods,
};

fn listing_pods(context: &str) -> String {
    format!("listing pods of {}…", sanitize::cell(context, 64))
}

pub fn draw(pane: &PodsPane, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let (theme, now) = (ctx.theme, ctx.wall);
    let listed = pane.listed().then_some(());
    let error = pane.status().error;
    if PREAMBLE
        .draw(frame, area, ctx, pane.current_context(), listed, error)
        .is_none()
    {
        return;
    }
    let rows = pane.rows();
    let total = pane.pods().count();
    let (info, rest) = take_top(area, 1);
    let (sort, desc) = pane.sort();
    let bad = pane.pods().filter(|p| p.health == Health::Bad).count();
    let mut spans = vec![
        Span::styled("pods", theme.accent()),
        Span::raw(format!(" {} shown / {total} total", rows.len())),
        Span::styled(
            format!(" · {bad} failing"),
            if bad > 0 {
                theme.danger()
            } else {
                theme.muted()
            },
        ),
        Span::styled(
            format!(
                " · sort {} {}{}",
                sort.title(),
                if desc { "↓" } else { "↑" },
                if pane.group_by_owner() {
                    " · grouped by owner"
                } else {
                    ""
                }
            ),
            theme.muted(),
        ),
    ];
    if !pane.filter().is_empty() {
        spans.push(Span::styled(
            format!(" · filter \"{}\"", sanitize::cell(pane.filter(), 40)),
            theme.warn(),
        ));
    }
    if let Some(note) = pane.focus_note() {
        spans.push(Span::styled(format!(" · {note}"), theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), info);

    let events_height = if rest.height > 16 { 6 } else { 0 };
    let (table_area, events_area) = take_bottom(rest, events_height);
    let body_rows = table_area.height.saturating_sub(1) as usize;
    pane.cursor().set_page(body_rows);
    let wide = table_area.width >= 150;
    // Several namespaces watched: say which one each pod is in.
    let first_ns = rows.first().map(|p| p.namespace.as_str());
    let many_ns = rows.iter().any(|p| Some(p.namespace.as_str()) != first_ns);
    // The name column is as wide as the longest visible name (plus a group marker), at most 45.
    let name_width = pane
        .cursor()
        .window(&rows, body_rows)
        .map(|(_, p)| p.name.chars().count() + 2)
        .max()
        .unwrap_or(4)
        .clamp(4, 45) as u16;
    let mut table_rows = Vec::new();
    let mut last_owner: Option<String> = None;
    for (i, p) in pane.cursor().window(&rows, body_rows) {
        let owner = p.workload_label();
        let group_head = pane.group_by_owner() && owner != last_owner;
        last_owner = owner.clone();
        let style = if i == pane.cursor().row {
            theme.selection()
        } else {
            Style::default()
        };
        let mut cells = Vec::new();
        if many_ns {
            cells.push(Span::styled(
                sanitize::cell(&p.namespace, 20),
                theme.muted(),
            ));
        }
        cells.extend([
            Span::raw(format!(
                "{}{}",
                if group_head {
                    "▸ "
                } else if pane.group_by_owner() {
                    "  "
                } else {
                    ""
                },
                sanitize::cell(&p.name, 63)
            )),
            Span::styled(
                p.ready_text(),
                if p.ready < p.total {
                    theme.warn()
                } else {
                    theme.ok()
                },
            ),
            Span::styled(status_text(p), health_style(theme, p.health)),
            Span::styled(
                p.restarts.to_string(),
                if p.restarts > 0 {
                    theme.warn()
                } else {
                    theme.base()
                },
            ),
            Span::raw(p.last_restart.map_or("-".into(), |t| ago(now, t))),
            Span::styled(
                p.last_termination
                    .as_ref()
                    .map_or("-".into(), |t| sanitize::cell(&t.label(), 40)),
                match &p.last_termination {
                    Some(t) if t.exit_code != 0 => theme.danger(),
                    _ => theme.muted(),
                },
            ),
            Span::raw(p.created.map_or("-".into(), |t| ago(now, t))),
        ]);
        if wide {
            cells.push(Span::raw(
                p.node
                    .as_deref()
                    .map_or("-".into(), |n| sanitize::cell(n, 40)),
            ));
            cells.push(Span::raw(
                p.pod_ip
                    .as_deref()
                    .map_or("-".into(), |n| sanitize::cell(n, 40)),
            ));
        }
        cells.push(Span::styled(
            p.workload_label()
                .map_or("-".into(), |o| sanitize::cell(&o, 60)),
            theme.muted(),
        ));
        table_rows.push(Row::new(cells).style(style));
    }
    let mut header = Vec::new();
    let mut widths = Vec::new();
    if many_ns {
        header.push("NAMESPACE");
        widths.push(Constraint::Length(14));
    }
    header.extend(super::POD_COLUMNS);
    // Status and last end are what the user came for: they keep their width, the name is
    // cut before them, and the owner takes what is left.
    widths.extend(Constraint::from_lengths([name_width, 5, 18, 8, 12, 22, 6]));
    if wide {
        header.extend(["NODE", "IP"]);
        widths.extend([Constraint::Length(16), Constraint::Length(15)]);
    }
    header.push("OWNER");
    widths.push(Constraint::Fill(1));
    let header = Row::new(header).style(theme.header());
    table(frame, table_area, header, widths, table_rows, None);
    if events_height > 0 {
        draw_events(pane, frame, events_area, theme);
    }
}

fn draw_events(pane: &PodsPane, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
    let Some(p) = pane.selected_pod() else { return };
    let mut lines = vec![Line::styled(
        format!(
            "events of {} (warnings first){}",
            sanitize::cell(&p.name, 63),
            p.status_detail
                .as_deref()
                .map_or(String::new(), |d| format!(" · {}", sanitize::cell(d, 120)))
        ),
        theme.header(),
    )];
    match pane.events() {
        None => lines.push(Line::styled("  loading…", theme.muted())),
        Some(Err(e)) => lines.push(Line::styled(
            format!("  cannot read events: {}", sanitize::cell(e, 200)),
            theme.danger(),
        )),
        Some(Ok(ev)) if ev.is_empty() => lines.push(Line::styled("  no events", theme.muted())),
        Some(Ok(ev)) => {
            for e in ev.iter().take(area.height.saturating_sub(1) as usize) {
                lines.push(Line::styled(
                    event_line(e),
                    if e.warning {
                        theme.warn()
                    } else {
                        theme.muted()
                    },
                ));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn status_text(p: &PodRow) -> String {
    sanitize::cell(&p.status, 30)
}

fn health_style(theme: &Theme, h: Health) -> Style {
    match h {
        Health::Ok => theme.ok(),
        Health::Done => theme.muted(),
        Health::Warn => theme.warn(),
        Health::Bad => theme.danger(),
    }
}

fn ago(now: SystemTime, t: SystemTime) -> String {
    now.duration_since(t)
        .map_or("0s".into(), |d| duration_short(d.as_secs_f64()))
}
