//! Drawing for "why is the database slow?": the server header, the statements table, the wait
//! profile and the plan text. Pure: data and theme in, lines or a frame region out.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Sparkline, Table};

use crate::theme::Theme;
use crate::widgets::layout::scrolled_window;
use warroom_core::backends::postgres::explain::ExplainResult;
use warroom_core::backends::postgres::header::ServerHeader;
use warroom_core::backends::postgres::statements::{StatementDelta, StatementsSort};
use warroom_core::backends::postgres::waits::{WaitLoad, WaitProfile};
use warroom_core::human::{duration_short, human_bytes};
use warroom_core::sanitize;

/// Thresholds a DBA would frown at.
const CONNECTIONS_WARN: f64 = 0.8;
const CACHE_HIT_WARN: f64 = 0.95;
const XACT_WARN_SECONDS: f64 = 300.0;
const XMIN_AGE_DANGER: i64 = 10_000_000;
const LAG_BYTES_WARN: i64 = 16 * 1024 * 1024;

/// Two or three lines: connections and rates; longest transaction and oldest xmin;
/// replication.
pub fn header_lines(header: &ServerHeader, theme: &Theme) -> Vec<Line<'static>> {
    let f = &header.figures;
    let mut out = Vec::new();
    let used = if f.max_connections > 0 {
        f.connections as f64 / f.max_connections as f64
    } else {
        0.0
    };
    let mut first = vec![
        Span::styled("conn ", theme.muted()),
        Span::styled(
            format!("{}/{}", f.connections, f.max_connections),
            if used >= CONNECTIONS_WARN {
                theme.warn()
            } else {
                theme.base()
            },
        ),
    ];
    let states: Vec<String> = f
        .connections_by_state
        .iter()
        .map(|(s, n)| format!("{} {n}", short_state(s)))
        .collect();
    if !states.is_empty() {
        first.push(Span::styled(
            format!(" ({})", states.join(" ")),
            theme.muted(),
        ));
    }
    match &header.rates {
        Some(r) => {
            first.push(Span::styled("  commit ", theme.muted()));
            first.push(Span::raw(format!("{:.0}/s", r.commits_per_s)));
            first.push(Span::styled("  rollback ", theme.muted()));
            first.push(Span::styled(
                format!("{:.1}/s", r.rollbacks_per_s),
                if r.rollbacks_per_s > r.commits_per_s * 0.05 && r.rollbacks_per_s > 1.0 {
                    theme.warn()
                } else {
                    theme.base()
                },
            ));
            first.push(Span::styled("  cache hit ", theme.muted()));
            first.push(match r.cache_hit_ratio {
                Some(c) => Span::styled(
                    format!("{:.1}%", c * 100.0),
                    if c < CACHE_HIT_WARN {
                        theme.warn()
                    } else {
                        theme.base()
                    },
                ),
                None => Span::raw("-"),
            });
            first.push(Span::styled("  temp ", theme.muted()));
            first.push(Span::raw(format!("{}/s", human_bytes(r.temp_bytes_per_s))));
        }
        None => first.push(Span::styled("  rates from the next refresh", theme.muted())),
    }
    if f.in_recovery {
        first.push(Span::styled("  IN RECOVERY", theme.accent()));
    }
    out.push(Line::from(first));

    let mut second = vec![Span::styled("longest xact ", theme.muted())];
    match &header.longest_xact {
        Some(l) => second.push(Span::styled(
            format!("pid {} {}", l.pid, duration_short(l.seconds)),
            if l.seconds >= XACT_WARN_SECONDS {
                theme.warn()
            } else {
                theme.base()
            },
        )),
        None => second.push(Span::raw("none")),
    }
    second.push(Span::styled("  oldest xmin ", theme.muted()));
    match &f.oldest_xmin {
        Some(x) => second.push(Span::styled(
            sanitize::cell(&x.describe(), 80),
            if x.age_xids >= XMIN_AGE_DANGER {
                theme.danger()
            } else if x.seconds.unwrap_or(0.0) >= XACT_WARN_SECONDS {
                theme.warn()
            } else {
                theme.base()
            },
        )),
        None => second.push(Span::raw("none")),
    }
    out.push(Line::from(second));

    let mut third = Vec::new();
    for r in &f.replicas {
        third.push(Span::styled("standby ", theme.muted()));
        third.push(Span::raw(sanitize::cell(
            r.application.as_deref().unwrap_or("?"),
            20,
        )));
        third.push(Span::styled(
            format!(
                " {} behind, replay {}  ",
                r.lag
                    .lag_bytes
                    .map_or("?".to_string(), |b| human_bytes(b as f64)),
                r.lag.replay_lag.map_or("-".to_string(), duration_short)
            ),
            if r.lag.lag_bytes.is_some_and(|b| b >= LAG_BYTES_WARN) {
                theme.warn()
            } else {
                theme.base()
            },
        ));
    }
    if let Some(s) = &f.standby {
        third.push(Span::styled("replay lag ", theme.muted()));
        third.push(Span::styled(
            format!(
                "{} ({} not replayed){}",
                s.replay_lag_seconds()
                    .map_or("?".to_string(), duration_short),
                s.lag_bytes
                    .map_or("?".to_string(), |b| human_bytes(b as f64)),
                if s.replay_paused { ", paused" } else { "" }
            ),
            if s.lag_bytes.is_some_and(|b| b >= LAG_BYTES_WARN) || s.replay_paused {
                theme.warn()
            } else {
                theme.base()
            },
        ));
    }
    if !third.is_empty() {
        out.push(Line::from(third));
    }
    out
}

fn short_state(state: &str) -> &str {
    match state {
        "idle in transaction" => "idle-tx",
        "idle in transaction (aborted)" => "idle-tx-aborted",
        other => other,
    }
}

/// The statements table; `rows` already sorted and filtered, `cursor` the selected row.
pub fn draw_statements(
    frame: &mut Frame<'_>,
    area: Rect,
    rows: &[&StatementDelta],
    cursor: usize,
    sort: StatementsSort,
    theme: &Theme,
) {
    let marker = |s: StatementsSort, title: &'static str| -> String {
        if s == sort {
            format!("{title}▼")
        } else {
            title.to_string()
        }
    };
    let header = Row::new(vec![
        marker(StatementsSort::Calls, "CALLS/S"),
        marker(StatementsSort::Time, "TIME%"),
        "MS/S".to_string(),
        marker(StatementsSort::Mean, "MEAN ms"),
        "MAX* ms".to_string(),
        "ROWS/C".to_string(),
        marker(StatementsSort::Io, "READ"),
        "HIT".to_string(),
        "TEMP".to_string(),
        "WAL".to_string(),
        "QUERY".to_string(),
    ])
    .style(theme.header());
    let page = area.height.saturating_sub(1).max(1) as usize;
    let body: Vec<Row<'_>> = scrolled_window(rows, cursor, page)
        .map(|(i, s)| {
            let row = Row::new(vec![
                format!("{:.1}", s.rates.calls_per_s),
                format!("{:.1}", s.rates.time_share * 100.0),
                format!("{:.1}", s.rates.time_ms_per_s),
                s.rates
                    .per_call
                    .map_or("-".into(), |p| format!("{:.2}", p.mean_ms)),
                format!("{:.1}", s.interval.max_ms),
                s.rates
                    .per_call
                    .map_or("-".into(), |p| format!("{:.1}", p.rows)),
                s.interval.shared_blks_read.to_string(),
                s.interval.shared_blks_hit.to_string(),
                s.interval.temp_blks.to_string(),
                s.interval
                    .wal_bytes
                    .map_or("-".into(), |b| human_bytes(b as f64)),
                sanitize::cell(&s.info.query, 400),
            ]);
            if i == cursor {
                row.style(theme.selection())
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Min(20),
    ];
    frame.render_widget(Table::new(body, widths).header(header), area);
}

/// One line per wait_event_type with its sparkline (active sessions per refresh), then the
/// events heaviest first with the selected one highlighted.
pub fn draw_wait_profile(
    frame: &mut Frame<'_>,
    area: Rect,
    profile: &WaitProfile,
    events: &[WaitLoad],
    cursor: usize,
    theme: &Theme,
) {
    let series = profile.series_by_type();
    let label_width = 12u16;
    let mut y = area.y;
    let bottom = area.y + area.height;
    for (wait_type, values) in series.iter().take(6) {
        if y >= bottom {
            return;
        }
        let line = Rect::new(area.x, y, area.width, 1);
        let avg = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len().max(1) as f64;
        frame.render_widget(
            Paragraph::new(Line::from(vec![Span::styled(
                format!("{:<10.10}{:>2}", wait_type, ""),
                type_style(wait_type, theme),
            )])),
            Rect::new(line.x, line.y, label_width.min(line.width), 1),
        );
        let spark_width = line.width.saturating_sub(label_width + 8);
        let data: Vec<u64> = values
            .iter()
            .skip(values.len().saturating_sub(spark_width as usize))
            .map(|&v| u64::from(v))
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .style(type_style(wait_type, theme)),
            Rect::new(line.x + label_width, line.y, spark_width, 1),
        );
        frame.render_widget(
            Paragraph::new(format!(" {avg:>5.1}")),
            Rect::new(
                line.x + label_width + spark_width,
                line.y,
                line.width.saturating_sub(label_width + spark_width),
                1,
            ),
        );
        y += 1;
    }
    y += 1;
    if y >= bottom {
        return;
    }
    let list = Rect::new(area.x, y, area.width, bottom - y);
    let header = Row::new(vec!["TYPE", "EVENT", "AVG ACTIVE", "PEAK"]).style(theme.header());
    let page = list.height.saturating_sub(1).max(1) as usize;
    let rows: Vec<Row<'_>> = scrolled_window(events, cursor, page)
        .map(|(i, e)| {
            let row = Row::new(vec![
                e.wait_event_type.clone(),
                e.wait_event.clone(),
                format!("{:.2}", e.average_sessions),
                e.peak_sessions.to_string(),
            ]);
            if i == cursor {
                row.style(theme.selection())
            } else {
                row.style(type_style(&e.wait_event_type, theme))
            }
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(10),
                Constraint::Length(24),
                Constraint::Length(11),
                Constraint::Length(5),
            ],
        )
        .header(header),
        list,
    );
}

fn type_style(wait_type: &str, theme: &Theme) -> Style {
    match wait_type {
        "CPU" => theme.ok(),
        "Lock" | "LWLock" => theme.danger(),
        "IO" | "BufferPin" => theme.warn(),
        _ => theme.base(),
    }
}

/// The plan as a detail view: title and lines.
pub fn plan_detail(result: &ExplainResult) -> (String, Vec<String>) {
    let title = format!("plan of pid {}", result.pid);
    let mut lines = vec![
        format!(
            "{} · database {}",
            result.state.as_deref().unwrap_or("?"),
            result.database.as_deref().unwrap_or("?")
        ),
        sanitize::cell(&result.query, 2000),
        String::new(),
    ];
    match &result.refused {
        Some(why) => lines.push(format!("No plan: {}", sanitize::cell(why, 500))),
        None => {
            if result.generic_plan {
                lines.push(
                    "Generic plan (EXPLAIN (GENERIC_PLAN)): the $n values are not known.".into(),
                );
            }
            lines.extend(result.plan.iter().map(|l| sanitize::cell(l, 500)));
            lines.push(String::new());
            lines.push("EXPLAIN only: the query was not executed.".into());
        }
    }
    (title, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use warroom_core::backends::postgres::header::{Rates, ServerFigures, XminHolder};

    fn header() -> ServerHeader {
        ServerHeader {
            figures: ServerFigures {
                max_connections: 100,
                connections: 90,
                connections_by_state: [("active".to_string(), 10), ("idle".to_string(), 80)]
                    .into_iter()
                    .collect(),
                oldest_xmin: Some(XminHolder {
                    kind: "session".into(),
                    id: "4242".into(),
                    pid: Some(4242),
                    age_xids: 12,
                    state: Some("idle in transaction".into()),
                    detail: Some("migrate".into()),
                    seconds: Some(600.0),
                }),
                ..ServerFigures::default()
            },
            rates: Some(Rates {
                interval_seconds: 2.0,
                commits_per_s: 640.0,
                rollbacks_per_s: 9.0,
                cache_hit_ratio: Some(0.992),
                temp_bytes_per_s: 65536.0,
            }),
            longest_xact: None,
        }
    }

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn header_says_the_figures_and_warns_on_the_pressure() {
        let theme = Theme::builtin_default();
        let lines = header_lines(&header(), &theme);
        let t = text(&lines);
        assert_eq!(
            t[0],
            "conn 90/100 (active 10 idle 80)  commit 640/s  rollback 9.0/s  cache hit 99.2%  temp 64.0 KiB/s"
        );
        assert!(
            t[1].contains(
                "oldest xmin pid 4242 (migrate), idle in transaction, 12 xids behind, open 10m00s"
            ),
            "{}",
            t[1]
        );
        // 90% of max_connections and a 10-minute-old snapshot are flagged.
        assert_eq!(lines[0].spans[1].style, theme.warn());
        assert_eq!(lines[1].spans[3].style, theme.warn());
    }

    #[test]
    fn wait_profile_and_statements_draw_in_a_small_terminal() {
        use warroom_core::backends::postgres::waits::WaitSample;
        let theme = Theme::builtin_default();
        let mut profile = WaitProfile::new(600.0);
        let mut counts = std::collections::BTreeMap::new();
        counts.insert(("Lock".to_string(), "transactionid".to_string()), 3);
        counts.insert(("CPU".to_string(), "CPU".to_string()), 1);
        profile.push(WaitSample { at: 0.0, counts });
        let events = profile.events();
        let mut terminal = Terminal::new(TestBackend::new(60, 10)).expect("terminal");
        terminal
            .draw(|f| draw_wait_profile(f, f.area(), &profile, &events, 0, &theme))
            .expect("draw");
        let screen: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(screen.contains("Lock"), "{screen}");
        assert!(screen.contains("transactionid"), "{screen}");
        assert!(screen.contains("3.00"), "{screen}");
    }
}
