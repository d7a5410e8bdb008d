//! `warroom audit timeline`: audit records turned into a postmortem timeline.
//! One entry per intent: time, who, context, what, why, and its outcome; for an action of a
//! shared session (`warroom --share`), where it is in the session's recording on the server.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::AuditRecord;
use crate::sanitize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub time: String,
    pub who: String,
    pub context: String,
    pub what: String,
    pub why: String,
    pub outcome: String,
    pub audit_id: String,
    /// The audit session: a shared session's recording has this id.
    #[serde(skip)]
    pub session_id: String,
    /// The moment of the action in its session's recording, when the session was shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingLink>,
}

/// Where an action is in a kept recording, and the command that shows that moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingLink {
    pub share_id: String,
    /// Seconds from the recording's start to the action's intent record.
    pub offset_seconds: f64,
    /// `warroom shadow ID --from-start --at OFFSET`.
    pub replay: String,
}

impl Eq for RecordingLink {}

/// A kept recording's id (the sharer's audit session id), its owner (the authenticated
/// sharer) and its time 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingStart {
    pub share_id: String,
    pub owner: String,
    pub started: SystemTime,
}

/// Links each entry of a shared session to its moment in that session's recording. Actions
/// timed before the recording started (clock skew) link to its start.
pub fn link_recordings(entries: &mut [TimelineEntry], recordings: &[RecordingStart]) {
    let starts: std::collections::HashMap<&str, SystemTime> = recordings
        .iter()
        .map(|r| (r.share_id.as_str(), r.started))
        .collect();
    for e in entries {
        let Some(started) = starts.get(e.session_id.as_str()) else {
            continue;
        };
        let Ok(at) = humantime::parse_rfc3339_weak(&e.time) else {
            continue;
        };
        let offset = at.duration_since(*started).map_or(0.0, |d| d.as_secs_f64());
        // Tenths of a second, rounded up: the replay then includes the confirmation's marker.
        let offset = (offset * 10.0).ceil() / 10.0;
        let share_id = clean(&e.session_id);
        e.recording = Some(RecordingLink {
            replay: format!(
                "warroom shadow {} --from-start --at {offset:.1}",
                shell_word(&share_id)
            ),
            share_id,
            offset_seconds: offset,
        });
    }
}

/// A share id as one shell word (ids are UUIDs; anything else is quoted).
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Every readable record of the file, in file order. Lines that are not records (duplicate keys,
/// unknown shape, not JSON) are left out here; [`super::read_records_checked`] reports them.
pub fn read_records(path: &Path) -> std::io::Result<Vec<AuditRecord>> {
    super::read_records_checked(path).map(|r| r.records)
}

/// The earliest time of `--since AGE`: now minus the age. An age reaching before the epoch (or
/// too large to compute) is an error, not a panic.
pub fn since_cutoff(age: std::time::Duration) -> Result<SystemTime, String> {
    SystemTime::now()
        .checked_sub(age)
        .filter(|t| *t >= SystemTime::UNIX_EPOCH)
        .ok_or_else(|| {
            format!(
                "--since {} reaches before 1970: use a shorter age like 2h or 7d",
                humantime::format_duration(age)
            )
        })
}

/// Pair intents with their outcomes (linear); keep intents at or after `since`.
pub fn timeline(records: &[AuditRecord], since: Option<SystemTime>) -> Vec<TimelineEntry> {
    super::pair_outcomes(records)
        .into_iter()
        .filter(|(r, _)| match (since, humantime::parse_rfc3339(&r.time)) {
            (Some(s), Ok(t)) => t >= s,
            (Some(_), Err(_)) => true,
            (None, _) => true,
        })
        .map(|(r, outcome)| {
            let who = match &r.actor.identity {
                Some(id) => format!("{}@{} ({id})", r.actor.user, r.actor.host),
                None => format!("{}@{}", r.actor.user, r.actor.host),
            };
            let outcome = match outcome.and_then(|o| o.outcome.as_ref()) {
                Some(o) if o.unknown => format!("unknown: {}", o.detail),
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
                session_id: r.session_id.clone(),
                recording: None,
            }
        })
        .collect()
}

/// The identifying values of any target, without their keys: "4242", "g orders".
pub(crate) fn target_values(target: &serde_json::Value) -> String {
    target_pairs(target)
        .into_iter()
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The identifying fields of any target, in a fixed order: pid, group, topic, pod, ...
fn target_text(target: &serde_json::Value) -> String {
    target_pairs(target)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn target_pairs(target: &serde_json::Value) -> Vec<(&'static str, String)> {
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
            Some((*k, text))
        })
        .collect()
}

fn clean(text: &str) -> String {
    sanitize::cell(text, 500)
}

/// A table cell: pipes would end the cell early.
fn md(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The table; a "recording" column (the replay command) when any action was shared.
pub fn render_markdown(entries: &[TimelineEntry]) -> String {
    let shared = entries.iter().any(|e| e.recording.is_some());
    let mut out = String::from("| time | who | context | what | why | outcome |");
    out.push_str(if shared { " recording |\n" } else { "\n" });
    out.push_str("|---|---|---|---|---|---|");
    out.push_str(if shared { "---|\n" } else { "\n" });
    for e in entries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |",
            md(&e.time),
            md(&e.who),
            md(&e.context),
            md(&e.what),
            md(&e.why),
            md(&e.outcome)
        ));
        if shared {
            let link = e.recording.as_ref().map_or("", |r| r.replay.as_str());
            out.push_str(&format!(" {} |", md(link)));
        }
        out.push('\n');
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
        assert_eq!(target_values(&t), "42 api");
    }

    #[test]
    fn actions_of_a_shared_session_link_to_their_moment_in_its_recording() {
        use crate::audit::record::sample;
        let mut shared = sample("i1");
        shared.session_id = "5f0c-share".into();
        shared.time = "2026-11-26T10:00:12.340Z".into();
        let mut other = sample("i2");
        other.session_id = "not-shared".into();
        let mut entries = timeline(&[shared, other], None);
        let started = humantime::parse_rfc3339("2026-11-26T10:00:00.000Z").expect("time");
        link_recordings(
            &mut entries,
            &[RecordingStart {
                share_id: "5f0c-share".into(),
                owner: "alice@example.com".into(),
                started,
            }],
        );
        let link = entries[0].recording.as_ref().expect("shared action linked");
        assert_eq!(link.share_id, "5f0c-share");
        assert!((link.offset_seconds - 12.4).abs() < 1e-9, "{link:?}");
        assert_eq!(
            link.replay,
            "warroom shadow 5f0c-share --from-start --at 12.4"
        );
        assert_eq!(entries[1].recording, None, "unshared session: no link");
        let md = render_markdown(&entries);
        assert!(md.starts_with("| time | who | context | what | why | outcome | recording |\n"));
        assert!(
            md.contains("| warroom shadow 5f0c-share --from-start --at 12.4 |\n"),
            "{md}"
        );
        assert_eq!(shell_word("a b'c"), "'a b'\\''c'");
    }

    #[test]
    fn absurd_since_is_an_error_not_a_panic() {
        let err = since_cutoff(std::time::Duration::from_secs(u64::MAX)).expect_err("absurd");
        assert!(err.contains("before 1970"), "{err}");
        assert!(since_cutoff(humantime::parse_duration("2h").expect("2h")).is_ok());
    }

    #[test]
    fn timeline_of_a_large_file_is_fast() {
        // 50 000 intent/outcome pairs. Pairing by scanning for each intent's outcome took
        // quadratic time (tens of seconds here); a map makes it linear.
        use crate::audit::record::sample;
        use crate::audit::{Phase, RecordedOutcome};
        let mut records = Vec::new();
        for i in 0..50_000 {
            records.push(sample(&format!("i{i}")));
            let mut outcome = sample(&format!("o{i}"));
            outcome.phase = Phase::Outcome;
            outcome.intent_id = Some(format!("i{i}"));
            outcome.outcome = Some(RecordedOutcome {
                ok: true,
                detail: "done".into(),
                unknown: false,
            });
            records.push(outcome);
        }
        let started = std::time::Instant::now();
        let entries = timeline(&records, None);
        let took = started.elapsed();
        assert_eq!(entries.len(), 50_000);
        assert!(entries.iter().all(|e| e.outcome == "ok: done"));
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    }
}
