//! Drawing of the Logs pane: only the lines that fit are laid out, each cut to the width
//! (or wrapped), so a frame costs the same with 100 or 100,000 lines buffered.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::{LogsPane, StreamState};
use crate::panes::{Ctx, Preamble};
use crate::theme::Theme;
use crate::widgets::layout::{take_bottom, take_top};
use warroom_core::sanitize;

/// A colour per pod, stable for a pod name.
const POD_COLOURS: [Color; 8] = [
    Color::Cyan,
    Color::Magenta,
    Color::Yellow,
    Color::Green,
    Color::LightBlue,
    Color::LightRed,
    Color::LightMagenta,
    Color::LightGreen,
];

pub fn pod_colour(label: &str) -> Color {
    let pod = label.split('/').next().unwrap_or(label);
    // FNV-1a: stable across runs, unlike the std hasher.
    let h = pod.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    POD_COLOURS[(h % POD_COLOURS.len() as u64) as usize]
}

const PREAMBLE: Preamble = Preamble {
    title: "No log stream yet.",
    hints: &[
        "In the Pods pane (3), select a pod and press l for its logs, p for the previous container's logs, w for every pod of its workload.",
        "Or type :logs POD | -l SELECTOR [-n NS] [-c CONTAINER] [--since 10m] [--tail N] [--previous].",
    ],
    waiting: crate::panes::first_snapshot,
};

pub fn draw(pane: &LogsPane, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.theme;
    // A stream draws from its first line on: there is nothing to wait for.
    let Some((title, ())) = PREAMBLE.draw(frame, area, ctx, pane.title(), Some(()), None) else {
        return;
    };
    let buf = pane.buffer();
    // Two header lines: what is followed, then the counters (never pushed off by a long title).
    let (head, rest) = take_top(area, 2);
    let (what_row, counts_row) = take_top(head, 1);
    let live = pane
        .streams()
        .values()
        .filter(|s| !matches!(s, StreamState::Ended | StreamState::Failed(_)))
        .count();
    let what = vec![
        Span::styled(sanitize::cell(title, 80), theme.accent()),
        Span::styled(format!(" · {}", pane.follows()), theme.muted()),
        Span::styled(
            format!(" · {live}/{} streams live", pane.streams().len()),
            theme.muted(),
        ),
    ];
    frame.render_widget(Paragraph::new(Line::from(what)), what_row);
    let dropped = buf.dropped();
    let mut spans = vec![
        Span::raw(format!(
            "{} lines · {:.1}/{:.1} MiB",
            buf.len(),
            buf.bytes() as f64 / 1048576.0,
            buf.cap() as f64 / 1048576.0
        )),
        Span::styled(
            format!(
                " · dropped {dropped} ({} evicted, {} not delivered)",
                buf.evicted(),
                buf.undelivered()
            ),
            if dropped > 0 {
                theme.warn()
            } else {
                theme.muted()
            },
        ),
    ];
    if let Some(re) = buf.filter() {
        spans.push(Span::styled(
            format!(
                " · /{}/ {} match",
                sanitize::cell(re.as_str(), 40),
                buf.visible_len()
            ),
            theme.warn(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), counts_row);

    let paused = pane.is_paused();
    let (body, marker) = take_bottom(rest, if paused { 1 } else { 0 });
    if paused {
        let n = pane.new_since_pause();
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("── paused · {n} new lines · f or G to follow ──"),
                theme.warn().add_modifier(Modifier::BOLD),
            )),
            marker,
        );
    }
    pane.set_page(body.height as usize);
    let Some(bottom) = pane.bottom_index() else {
        return;
    };
    let (wrap, timestamps, json_fields, prefix) = pane.options();
    let width = body.width as usize;
    let height = body.height as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut used = 0usize;
    let mut i = bottom as isize;
    while i >= 0 && used < height {
        let Some(e) = buf.visible(i as usize) else {
            break;
        };
        i -= 1;
        let mut spans: Vec<Span<'static>> = Vec::new();
        if timestamps && let Some(t) = e.time {
            spans.push(Span::styled(
                format!("{} ", humantime::format_rfc3339_millis(t)),
                theme.muted(),
            ));
        }
        let label = buf.source_label(e.source);
        if prefix || e.system {
            spans.push(Span::styled(
                format!("{} ", sanitize::cell(label, 60)),
                Style::default().fg(pod_colour(label)),
            ));
        } else if buf.sources().len() > 1 {
            spans.push(Span::styled("▌", Style::default().fg(pod_colour(label))));
        }
        let lead: usize = spans.iter().map(|s| s.content.width()).sum();
        // Cut before laying out: a 16k-character line costs one screen line.
        let room = if wrap {
            width.saturating_mul(height).saturating_sub(lead)
        } else {
            width.saturating_sub(lead)
        };
        match &e.json {
            Some(j) if !e.system => {
                if let Some(level) = &j.level {
                    spans.push(Span::styled(format!("{level} "), level_style(theme, level)));
                }
                let mut text = j.message.clone();
                if json_fields && !j.fields.is_empty() {
                    text.push_str("  ");
                    text.push_str(&j.fields);
                }
                highlight(&mut spans, &cut(&text, room), buf.filter(), theme.base());
            }
            _ => {
                let style = if e.system { theme.warn() } else { theme.base() };
                highlight(&mut spans, &cut(&e.text, room), buf.filter(), style);
            }
        }
        if wrap {
            // Wrapped here, by character, so the height of each line is known exactly.
            let rows = wrap_spans(spans, width.max(1));
            used += rows.len();
            lines.extend(rows.into_iter().rev());
        } else {
            used += 1;
            lines.push(Line::from(spans));
        }
    }
    lines.truncate(height);
    lines.reverse();
    frame.render_widget(Paragraph::new(lines), body);
}

/// Cut spans into rows of at most `width` columns.
fn wrap_spans(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut col = 0;
    for span in spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if col + w > width {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)));
                col = 0;
            }
            piece.push(c);
            col += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(Line::from(row));
    }
    rows
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

fn level_style(theme: &Theme, level: &str) -> Style {
    match level {
        "ERROR" | "FATAL" | "CRITICAL" | "PANIC" | "ERR" => theme.danger(),
        "WARN" | "WARNING" => theme.warn(),
        "DEBUG" | "TRACE" => theme.muted(),
        _ => theme.ok(),
    }
}

/// Split `text` into spans, the filter's matches highlighted.
fn highlight(spans: &mut Vec<Span<'static>>, text: &str, re: Option<&regex::Regex>, style: Style) {
    let Some(re) = re else {
        spans.push(Span::styled(text.to_string(), style));
        return;
    };
    let mut last = 0;
    for m in re.find_iter(text) {
        if m.start() > last {
            spans.push(Span::styled(text[last..m.start()].to_string(), style));
        }
        if m.end() > m.start() {
            spans.push(Span::styled(
                text[m.start()..m.end()].to_string(),
                style.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ));
        }
        last = m.end();
    }
    if last < text.len() {
        spans.push(Span::styled(text[last..].to_string(), style));
    }
}
