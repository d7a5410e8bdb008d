//! `warroom audit timeline`: audit records turned into a postmortem timeline.
//! One entry per intent: time, who, context, what, why, and its outcome.

use std::io::BufRead;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::{AuditRecord, Phase};
use crate::widgets::sanitize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub time: String,
    pub who: String,
    pub context: String,
    pub what: String,
    pub why: String,
    pub outcome: String,
    pub audit_id: String,
}

/// Every readable record of the file, in file order (`verify` is the integrity check).
pub fn read_records(path: &Path) -> std::io::Result<Vec<AuditRecord>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        if let Ok(r) = serde_json::from_str::<AuditRecord>(&line?) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Pair intents with their outcomes; keep intents at or after `since`.
pub fn timeline(records: &[AuditRecord], since: Option<SystemTime>) -> Vec<TimelineEntry> {
    let outcome_of = |id: &str| {
        records
            .iter()
            .find(|r| r.phase == Phase::Outcome && r.intent_id.as_deref() == Some(id))
    };
    records
        .iter()
        .filter(|r| r.phase == Phase::Intent)
        .filter(|r| match (since, humantime::parse_rfc3339(&r.time)) {
            (Some(s), Ok(t)) => t >= s,
            (Some(_), Err(_)) => true,
            (None, _) => true,
        })
        .map(|r| {
            let who = match &r.actor.identity {
                Some(id) => format!("{}@{} ({id})", r.actor.user, r.actor.host),
                None => format!("{}@{}", r.actor.user, r.actor.host),
            };
            let outcome = match outcome_of(&r.id).and_then(|o| o.outcome.as_ref()) {
                Some(o) if o.ok => format!("ok: {}", o.detail),
                Some(o) => format!("failed: {}", o.detail),
                None => "no outcome recorded".into(),
            };
            TimelineEntry {
                time: r.time.clone(),
                who: clean(&who),
                context: clean(&format!("{}/{}", r.context.kind, r.context.name)),
                what: clean(&format!("{} {}", r.action, target_text(&r.target))),
                why: clean(&r.reason),
                outcome: clean(&outcome),
                audit_id: r.id.clone(),
            }
        })
        .collect()
}

/// The identifying fields of any target, in a fixed order: pid, group, topic, pod, ...
fn target_text(target: &serde_json::Value) -> String {
    const KEYS: [&str; 8] = [
        "pid",
        "group",
        "topic",
        "namespace",
        "pod",
        "deployment",
        "application",
        "user",
    ];
    KEYS.iter()
        .filter_map(|k| {
            let v = target.get(*k)?;
            let text = match v {
                serde_json::Value::String(s) if !s.is_empty() => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some(format!("{k}={text}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn clean(text: &str) -> String {
    sanitize::cell(text, 500)
}

/// A table cell: pipes would end the cell early.
fn md(text: &str) -> String {
    text.replace('|', "\\|")
}

pub fn render_markdown(entries: &[TimelineEntry]) -> String {
    let mut out = String::from(
        "| time | who | context | what | why | outcome |\n|---|---|---|---|---|---|\n",
    );
    for e in entries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            md(&e.time),
            md(&e.who),
            md(&e.context),
            md(&e.what),
            md(&e.why),
            md(&e.outcome)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_text_picks_identifying_fields() {
        let t =
            serde_json::json!({"pid": 42, "application": "api", "query": "SELECT 1", "user": ""});
        assert_eq!(target_text(&t), "pid=42 application=api");
    }
}
