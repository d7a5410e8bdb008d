//! Drawing of the PostgreSQL pane. Reads state, never changes it, never waits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Row, Sparkline};

use super::view::{Column, columns_for};
use super::{PgPane, PgView, StateCounts};
use crate::panes::Pane;
use crate::panes::table::Column as _;
use crate::panes::{Ctx, Preamble, first_snapshot};
use crate::theme::Theme;
use crate::widgets::chrome::{info_line, no_rows, table};
use crate::widgets::layout::take_top;
use warroom_core::backends::postgres::PgSession;
use warroom_core::human::opt_duration;
use warroom_core::sanitize;

const PREAMBLE: Preamble = Preamble {
    title: "No PostgreSQL context is configured.",
    hints: &[
        "Add a [[postgres]] section to the configuration (see README), check it with `warroom config check`, or try `warroom demo`.",
    ],
    waiting: first_snapshot,
};

pub fn draw(pane: &PgPane, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.theme;
    let error = pane.status().error;
    let Some((_, snap)) = PREAMBLE.draw(
        frame,
        area,
        ctx,
        pane.current_context(),
        pane.snapshot(),
        error,
    ) else {
        return;
    };
    let (info, rest) = take_top(area, 1);
    let total = snap.sessions.len();
    let shown = match pane.view {
        PgView::Sessions => pane.rows.len(),
        PgView::Locks => pane.tree_rows.len(),
        PgView::Statements => pane.statement_rows().len(),
        PgView::Waits => pane.wait_events().len(),
    };
    let mut info_spans = vec![
        Span::styled(
            match pane.view {
                PgView::Sessions => "sessions",
                PgView::Locks => "blocking tree",
                PgView::Statements => "statements",
                PgView::Waits => "wait profile",
            },
            theme.accent(),
        ),
        match pane.view {
            PgView::Statements => Span::raw(format!(" {shown} shown")),
            PgView::Waits => Span::raw(format!(
                " {shown} wait events over {} refreshes (last {} min)",
                pane.wait_profile().map_or(0, |w| w.len()),
                pane.wait_profile()
                    .map_or(0.0, |w| w.window_seconds() / 60.0)
                    .round()
            )),
            _ => Span::raw(format!(" {shown} shown / {total} total")),
        },
    ];
    if let Some(limit) = pane.session_limit()
        && matches!(pane.view, PgView::Sessions | PgView::Locks)
    {
        info_spans.push(Span::styled(format!(" · {limit}"), theme.warn()));
    }
    if pane.view == PgView::Sessions {
        info_spans.push(Span::styled(
            format!(
                " · sort {}{}",
                pane.sort.label(),
                if pane.show_idle {
                    ""
                } else {
                    " · idle hidden (i)"
                }
            ),
            theme.muted(),
        ));
    }
    info_line(frame, info, info_spans, &pane.filter, theme);

    // The server header: connections, rates, longest transaction, oldest xmin, replication.
    let rest = match snap.header.as_deref() {
        Some(header) if rest.height >= 16 => {
            let lines = crate::widgets::statements::header_lines(header, theme);
            let (top, rest) = take_top(rest, lines.len() as u16);
            frame.render_widget(ratatui::widgets::Paragraph::new(lines), top);
            rest
        }
        _ => rest,
    };
    let body = if rest.height >= 12 && matches!(pane.view, PgView::Sessions | PgView::Locks) {
        let (spark, body) = take_top(rest, 3);
        draw_sparklines(pane, frame, spark, theme);
        body
    } else {
        rest
    };
    if body.height == 0 {
        return;
    }
    // Header row + data rows.
    pane.cursor
        .set_page(body.height.saturating_sub(1).max(1) as usize);
    match pane.view {
        PgView::Sessions => draw_sessions(pane, &snap.sessions, frame, body, theme),
        PgView::Locks => draw_tree(pane, &snap.sessions, frame, body, theme),
        PgView::Statements => draw_statements(pane, frame, body, theme),
        PgView::Waits => {
            if let Some(profile) = pane.wait_profile() {
                crate::widgets::statements::draw_wait_profile(
                    frame,
                    body,
                    profile,
                    &pane.wait_events(),
                    pane.wait_cursor.row,
                    theme,
                );
            }
        }
    }
}

fn draw_statements(pane: &PgPane, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
    use warroom_core::backends::postgres::statements::StatementsUpdate;
    let say = |frame: &mut Frame<'_>, lines: Vec<Line<'static>>| {
        frame.render_widget(
            ratatui::widgets::Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
    };
    if let Some(e) = pane.statements_error() {
        say(
            frame,
            vec![Line::styled(
                format!("pg_stat_statements: {}", sanitize::cell(e, 400)),
                theme.danger(),
            )],
        );
        return;
    }
    let Some(report) = pane.statements_report() else {
        say(
            frame,
            vec![Line::styled("reading pg_stat_statements…", theme.muted())],
        );
        return;
    };
    match &report.update {
        StatementsUpdate::Unavailable(why) => say(
            frame,
            vec![
                Line::styled(
                    "The statements view needs pg_stat_statements.",
                    theme.warn(),
                ),
                Line::raw(sanitize::cell(why, 600)),
            ],
        ),
        StatementsUpdate::Baseline => say(
            frame,
            vec![Line::styled(
                "first sample taken: the statements of the interval show at the next refresh",
                theme.muted(),
            )],
        ),
        StatementsUpdate::Deltas(d) => {
            let (note, table) = take_top(area, 1);
            let mut spans = vec![Span::styled(
                format!(
                    "last {:.1} s: {:.0} ms of execution in all",
                    d.interval_seconds, d.total_ms_all
                ),
                theme.muted(),
            )];
            // The notes that apply, each with its style.
            let notes = [
                (d.not_shown > 0).then(|| {
                    let text = format!(" · {} more not shown", d.not_shown);
                    (text, theme.muted())
                }),
                (report.hidden > 0).then(|| {
                    let text = format!(
                        " · {} of other roles hidden: grant pg_read_all_stats",
                        report.hidden
                    );
                    (text, theme.warn())
                }),
                report.compute_query_id_off.then(|| {
                    let text = " · compute_query_id is off: enter cannot find the sessions";
                    (text.to_string(), theme.warn())
                }),
            ];
            spans.extend(
                notes
                    .into_iter()
                    .flatten()
                    .map(|(text, style)| Span::styled(text, style)),
            );
            frame.render_widget(ratatui::widgets::Paragraph::new(Line::from(spans)), note);
            crate::widgets::statements::draw_statements(
                frame,
                table,
                &pane.statement_rows(),
                pane.stmt_cursor.row,
                pane.stmt_sort,
                theme,
            );
        }
    }
}

/// A sparkline: label, how to read its value, colour.
type Series = (&'static str, fn(&StateCounts) -> u64, Style);

fn draw_sparklines(pane: &PgPane, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
    let history: Vec<&StateCounts> = pane.history().collect();
    let parts = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(area);
    let series: [Series; 3] = [
        ("active", |c| c.active, theme.ok()),
        (
            "idle in transaction",
            |c| c.idle_in_transaction,
            theme.warn(),
        ),
        ("waiting on a lock", |c| c.waiting, theme.danger()),
    ];
    for ((label, get, style), part) in series.iter().zip(parts.iter()) {
        let width = part.width as usize;
        let data: Vec<u64> = history
            .iter()
            .skip(history.len().saturating_sub(width))
            .map(|c| get(c))
            .collect();
        let now = data.last().copied().unwrap_or(0);
        let max = data.iter().copied().max().unwrap_or(0);
        // Titles must not run into each other: shorten them to fit, keeping a gap.
        let room = width.saturating_sub(1);
        let fits = |l: &str| format!("{l} {now} (max {max})").chars().count() <= room;
        let (label, with_max) = if fits(label) {
            (*label, true)
        } else {
            let short = short_series_label(label);
            (short, fits(short))
        };
        let mut title = vec![Span::styled(format!("{label} {now}"), *style)];
        if with_max {
            title.push(Span::styled(format!(" (max {max})"), theme.muted()));
        }
        let block = Block::new().title(Line::from(title));
        frame.render_widget(
            Sparkline::default().block(block).data(&data).style(*style),
            *part,
        );
    }
}

fn draw_sessions(
    pane: &PgPane,
    sessions: &[PgSession],
    frame: &mut Frame<'_>,
    area: Rect,
    theme: &Theme,
) {
    let cols = columns_for(area.width, pane.links_pods());
    // Wide terminals show the pod's name; narrow ones its workload (shorter, and what
    // people think in).
    let pod_by_workload = area.width < 160;
    let page = area.height.saturating_sub(1) as usize;
    let rows = pane
        .cursor
        .window(&pane.rows, page)
        .filter_map(|(i, &idx)| {
            let s = sessions.get(idx)?;
            let marked = pane.marked.contains_key(&s.pid);
            let cells = cols.iter().map(|c| {
                let mut text = if *c == Column::Pod {
                    pane.pod_text(s, pod_by_workload)
                } else {
                    c.text(s)
                };
                if *c == Column::State {
                    text = short_state(&text);
                }
                if *c == Column::Pid && marked {
                    text = format!("*{text}");
                }
                let style = match c {
                    Column::BlockedBy if !s.blocked_by.is_empty() => theme.danger(),
                    Column::State
                        if s.session_state()
                            == warroom_core::backends::postgres::SessionState::IdleInTransaction =>
                    {
                        theme.warn()
                    }
                    Column::Wait if s.wait_event_type.as_deref() == Some("Lock") => theme.danger(),
                    Column::Pod => pane.pod_style(s, theme),
                    _ => Style::default(),
                };
                ratatui::widgets::Cell::from(text).style(style)
            });
            let row = Row::new(cells.collect::<Vec<_>>());
            Some(if i == pane.cursor.row {
                row.style(theme.selection())
            } else if marked {
                row.style(theme.accent())
            } else {
                row
            })
        });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| {
            if *c == Column::Query {
                Constraint::Min(c.width())
            } else {
                Constraint::Length(c.width())
            }
        })
        .collect();
    let header = Row::new(cols.iter().map(|c| {
        let mark = if *c == pane.sort.by {
            if pane.sort.descending { "↓" } else { "↑" }
        } else {
            ""
        };
        format!("{}{mark}", c.title())
    }))
    .style(theme.header());
    let none = "no sessions to show (idle ones are hidden: press i)";
    let filtered = !pane.filter.is_empty();
    let empty = (pane.rows.is_empty()).then(|| no_rows(none, filtered, "session", theme));
    table(frame, area, header, widths, rows.collect(), empty);
}

fn draw_tree(
    pane: &PgPane,
    sessions: &[PgSession],
    frame: &mut Frame<'_>,
    area: Rect,
    theme: &Theme,
) {
    let page = area.height.saturating_sub(1) as usize;
    let rows = pane.cursor.window(&pane.tree_rows, page).map(|(i, r)| {
        let s = r.session.and_then(|i| sessions.get(i));
        let indent = if r.depth == 0 {
            String::new()
        } else {
            format!("{}└ ", "  ".repeat(r.depth - 1))
        };
        let who = s.map_or_else(
            || "(not visible)".to_string(),
            |s| {
                format!(
                    "{} {} {}",
                    s.user
                        .as_deref()
                        .map_or("-".into(), |u| sanitize::cell(u, 20)),
                    sanitize::cell(&s.application, 24),
                    short_state(s.state.as_deref().unwrap_or("-"))
                )
            },
        );
        let cells = vec![
            ratatui::widgets::Cell::from(format!("{indent}{}", r.pid)),
            ratatui::widgets::Cell::from(if r.waiting_count > 0 {
                r.waiting_count.to_string()
            } else {
                String::new()
            })
            .style(if r.depth == 0 {
                theme.danger()
            } else {
                Style::default()
            }),
            ratatui::widgets::Cell::from(s.map_or("-".into(), |s| opt_duration(s.xact_seconds))),
            ratatui::widgets::Cell::from(who),
            // What a waiter waits for (mode and table or xid), else its query.
            ratatui::widgets::Cell::from(s.map_or(String::new(), |s| match &s.lock {
                Some(l) => sanitize::cell(&l.describe(), 400),
                None => sanitize::cell(&s.query, 400),
            })),
        ];
        let row = Row::new(cells);
        if i == pane.cursor.row {
            row.style(theme.selection())
        } else if r.depth == 0 {
            row.style(theme.warn())
        } else {
            row
        }
    });
    // WHO gives way to the query text on narrow terminals.
    let who = (area.width.saturating_sub(34) / 2).clamp(16, 40);
    let widths = [
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(who),
        Constraint::Min(10),
    ];
    let header =
        Row::new(["PID", "WAITING", "XACT", "WHO", "WAITS FOR / QUERY TEXT"]).style(theme.header());
    let empty = pane
        .tree_rows
        .is_empty()
        .then(|| Line::styled("no session waits on a lock", theme.ok()));
    table(frame, area, header, widths, rows.collect(), empty);
}

/// "idle in transaction" does not fit a state column: say "idle in tx".
fn short_state(state: &str) -> String {
    match state.strip_prefix("idle in transaction") {
        Some(rest) => format!("idle in tx{rest}"),
        None => state.to_string(),
    }
}

fn short_series_label(label: &'static str) -> &'static str {
    match label {
        "idle in transaction" => "idle in tx",
        "waiting on a lock" => "waiting",
        other => other,
    }
}
