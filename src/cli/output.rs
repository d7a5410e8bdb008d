//! CLI output: JSON for tools (C1, bidi and zero-width characters escaped as `\uXXXX`, which
//! serde_json leaves raw), text for people through the one sanitizer; and `warroom pg activity`.

use warroom_core::backends::postgres::{ActivitySnapshot, blocking_tree};
use warroom_core::pod_directory::PodDirectory;
use warroom_tui::panes::pg::view::Column;
use warroom_tui::panes::table::Column as _;

/// `-o json` for any value: pretty JSON safe for a terminal.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(warroom_core::sanitize::escape_json_output(&text).into_owned())
}

/// Human-readable text (tables, notes, errors): each line through the one sanitizer.
pub fn human(text: &str) -> String {
    warroom_core::sanitize::lines(text, 100_000)
}

/// Print a subcommand's answer: `-o json` (see `json`) or the table for people (see `human`).
/// Only the one asked for is built.
pub fn print<V: serde::Serialize>(
    output: super::Output,
    json_of: impl FnOnce() -> V,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    match output {
        super::Output::Json => println!("{}", json(&json_of())?),
        super::Output::Table => print!("{}", human(&table())),
    }
    Ok(())
}

/// The `-o json` shape: sessions (each with the `pod` behind its client address, null when
/// none is known) and the blocking tree.
pub fn activity_json(snapshot: &ActivitySnapshot, pods: &PodDirectory) -> anyhow::Result<String> {
    let sessions: Vec<serde_json::Value> = snapshot
        .sessions
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s)?;
            let pod = s.client_addr.as_deref().and_then(|a| pods.find(a));
            if let Some(map) = v.as_object_mut() {
                map.insert("pod".into(), serde_json::to_value(pod)?);
            }
            Ok(v)
        })
        .collect::<Result<_, serde_json::Error>>()?;
    let value = serde_json::json!({
        "sessions": sessions,
        "blocking_tree": blocking_tree(&snapshot.sessions),
        "hidden_sessions": snapshot.hidden_sessions,
        "server": snapshot.header,
    });
    json(&value)
}

pub fn activity_table(snapshot: &ActivitySnapshot, all: bool) -> String {
    // The pane's columns but the database and the client address.
    let cols: Vec<Column> = Column::ALL
        .into_iter()
        .filter(|c| !matches!(c, Column::Database | Column::Client))
        .collect();
    let rows = warroom_tui::panes::pg::view::visible_rows(
        &snapshot.sessions,
        "",
        all,
        Column::QueryTime,
        true,
    );
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(cols.iter())
            .map(|(c, col)| {
                if *col == Column::Query {
                    c.clone()
                } else {
                    format!("{:<w$}", c, w = col.width() as usize)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    out.push_str(&line(cols.iter().map(|c| c.title().to_string()).collect()));
    out.push('\n');
    for i in rows {
        let s = &snapshot.sessions[i];
        out.push_str(&line(
            cols.iter()
                .map(|c| c.text(s).chars().take(120).collect())
                .collect(),
        ));
        out.push('\n');
    }
    let tree = blocking_tree(&snapshot.sessions);
    if !tree.is_empty() {
        out.push_str("\nblocking tree (waiting behind, directly or transitively):\n");
        for root in &tree {
            for (depth, node) in root.walk() {
                let lock = snapshot
                    .sessions
                    .iter()
                    .find(|s| s.pid == node.pid)
                    .and_then(|s| s.lock.as_ref())
                    .map_or(String::new(), |l| {
                        format!(": {}", warroom_core::sanitize::cell(&l.describe(), 200))
                    });
                out.push_str(&format!(
                    "{}{} ({} waiting){lock}\n",
                    "  ".repeat(depth + 1),
                    node.pid,
                    node.waiting_count
                ));
            }
        }
    }
    out
}
