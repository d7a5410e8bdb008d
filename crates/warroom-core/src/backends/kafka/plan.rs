//! Offset resets as data: where to, for which partitions, and the preview the user
//! acknowledges (current -> target, messages skipped or replayed). Pure planning.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::serde_time;

/// Where a reset moves the committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResetTo {
    Earliest,
    Latest,
    /// The first offset at or after this time (ListOffsets by timestamp).
    Datetime(#[serde(serialize_with = "serde_time::rfc3339_seconds")] SystemTime),
    Offset(i64),
    ShiftBy(i64),
}

impl ResetTo {
    pub fn text(&self) -> String {
        match self {
            ResetTo::Earliest => "earliest".into(),
            ResetTo::Latest => "latest".into(),
            ResetTo::Datetime(t) => format!("datetime {}", humantime::format_rfc3339_seconds(*t)),
            ResetTo::Offset(n) => format!("offset {n}"),
            ResetTo::ShiftBy(n) => format!("shift by {n:+}"),
        }
    }
}

/// What the user asked for: the target and optionally one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSpec {
    pub to: ResetTo,
    pub topic: Option<String>,
}

impl ResetSpec {
    /// Parse the reset prompt: `earliest`, `latest`, `offset 1200`, `shift -100`,
    /// `datetime 2026-11-26T10:00:00Z`, each optionally followed by `topic NAME`.
    pub fn parse(text: &str) -> Result<ResetSpec, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (target, rest) = match words.iter().position(|w| *w == "topic") {
            Some(i) => (&words[..i], &words[i..]),
            None => (&words[..], &words[words.len()..]),
        };
        let topic = match rest {
            [] => None,
            [_, name] => Some((*name).to_string()),
            _ => return Err("write `topic NAME` once, at the end".into()),
        };
        let to = match target {
            ["earliest"] => ResetTo::Earliest,
            ["latest"] => ResetTo::Latest,
            ["offset", n] | ["to-offset", n] => ResetTo::Offset(
                n.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| format!("{n:?} is not an offset (a number >= 0)"))?,
            ),
            ["shift", n] | ["shift-by", n] => ResetTo::ShiftBy(
                n.parse::<i64>()
                    .map_err(|_| format!("{n:?} is not a number like -100 or +50"))?,
            ),
            ["datetime", ts] | ["to-datetime", ts] => ResetTo::Datetime(parse_time(ts)?),
            [] => {
                return Err(
                    "say where to: earliest | latest | offset N | shift N | datetime TS".into(),
                );
            }
            _ => {
                return Err(format!(
                    "unknown target {:?}: earliest | latest | offset N | shift N | datetime TS [topic NAME]",
                    target.join(" ")
                ));
            }
        };
        Ok(ResetSpec { to, topic })
    }
}

/// RFC 3339 (`2026-11-26T10:00:00Z`, fractional seconds allowed).
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?} is not a time like 2026-11-26T10:00:00Z: {e}"))
}

/// One partition of the preview. Read strictly, so that the wire form of a delegated reset
/// (`POST /v1/actions`) can carry it as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionReset {
    pub topic: String,
    pub partition: i32,
    /// The committed offset before the reset; `None` when the group never committed here.
    pub current: Option<i64>,
    pub target: i64,
    pub earliest: i64,
    pub latest: i64,
}

impl PartitionReset {
    /// Positive: messages skipped; negative: messages replayed.
    pub fn delta(&self) -> Option<i64> {
        self.current.map(|c| self.target - c)
    }

    pub fn effect(&self) -> String {
        match self.delta() {
            None => "no commit before: starts here".into(),
            Some(0) => "unchanged".into(),
            Some(d) if d > 0 => format!("skips {d} messages"),
            Some(d) => format!("replays {} messages", -d),
        }
    }
}

/// The full preview of a reset: what will be committed, per partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResetPlan {
    pub group: String,
    pub topic: Option<String>,
    pub to: ResetTo,
    pub partitions: Vec<PartitionReset>,
}

impl ResetPlan {
    pub fn skipped(&self) -> i64 {
        self.partitions
            .iter()
            .filter_map(PartitionReset::delta)
            .filter(|d| *d > 0)
            .sum()
    }

    pub fn replayed(&self) -> i64 {
        -self
            .partitions
            .iter()
            .filter_map(PartitionReset::delta)
            .filter(|d| *d < 0)
            .sum::<i64>()
    }

    /// The (topic, partition, offset) triples to commit.
    pub fn commits(&self) -> Vec<(String, i32, i64)> {
        self.partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition, p.target))
            .collect()
    }

    /// The plan that puts back the offsets from before this one. Partitions without a
    /// commit before cannot be un-committed (that needs OffsetDelete) and are left out.
    pub fn undo(&self) -> ResetPlan {
        ResetPlan {
            group: self.group.clone(),
            topic: self.topic.clone(),
            to: self.to,
            partitions: self
                .partitions
                .iter()
                .filter_map(|p| {
                    Some(PartitionReset {
                        current: Some(p.target),
                        target: p.current?,
                        ..p.clone()
                    })
                })
                .collect(),
        }
    }

    /// Text lines of the preview, for the preview layer and the CLI.
    pub fn preview_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "reset group {} to {}{}: {} partition(s), {} message(s) skipped, {} replayed",
            self.group,
            self.to.text(),
            self.topic
                .as_ref()
                .map_or(String::new(), |t| format!(" on topic {t}")),
            self.partitions.len(),
            self.skipped(),
            self.replayed()
        )];
        for p in &self.partitions {
            out.push(format!(
                "  {}[{}]  {} -> {}  ({})  log {}..{}",
                p.topic,
                p.partition,
                p.current.map_or("-".into(), |c| c.to_string()),
                p.target,
                p.effect(),
                p.earliest,
                p.latest
            ));
        }
        out
    }
}

/// Inputs of the planning, as read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// The partitions to reset with the group's committed offset (None: no commit).
    pub partitions: Vec<(String, i32, Option<i64>)>,
    pub earliest: HashMap<(String, i32), i64>,
    pub latest: HashMap<(String, i32), i64>,
    /// For `Datetime`: the first offset at or after the time; -1 or missing: none (latest).
    pub by_time: HashMap<(String, i32), i64>,
}

/// Compute the target of every partition, clamped to what the log holds (as kcg.sh does).
pub fn plan(group: &str, spec: &ResetSpec, inputs: &PlanInputs) -> Result<ResetPlan, String> {
    let mut partitions = Vec::new();
    for (topic, partition, current) in &inputs.partitions {
        if spec.topic.as_ref().is_some_and(|t| t != topic) {
            continue;
        }
        let key = (topic.clone(), *partition);
        let earliest = *inputs
            .earliest
            .get(&key)
            .ok_or_else(|| format!("no earliest offset for {topic}[{partition}]"))?;
        let latest = *inputs
            .latest
            .get(&key)
            .ok_or_else(|| format!("no latest offset for {topic}[{partition}]"))?;
        let wanted = match spec.to {
            ResetTo::Earliest => earliest,
            ResetTo::Latest => latest,
            ResetTo::Offset(n) => n,
            ResetTo::ShiftBy(n) => current.unwrap_or(latest).saturating_add(n),
            ResetTo::Datetime(_) => match inputs.by_time.get(&key) {
                Some(o) if *o >= 0 => *o,
                _ => latest,
            },
        };
        partitions.push(PartitionReset {
            topic: topic.clone(),
            partition: *partition,
            current: *current,
            target: wanted.clamp(earliest, latest.max(earliest)),
            earliest,
            latest,
        });
    }
    if partitions.is_empty() {
        return Err(match &spec.topic {
            Some(t) => format!("group {group} has no partitions of topic {t} to reset"),
            None => format!("group {group} has no committed offsets to reset: name a topic"),
        });
    }
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(ResetPlan {
        group: group.to_string(),
        topic: spec.topic.clone(),
        to: spec.to,
        partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> PlanInputs {
        let mut i = PlanInputs::default();
        for (p, cur, lo, hi, at_time) in [
            (0, Some(40), 0, 100, 70),
            (1, Some(90), 10, 95, -1),
            (2, None, 0, 50, 5),
        ] {
            i.partitions.push(("orders".into(), p, cur));
            i.earliest.insert(("orders".into(), p), lo);
            i.latest.insert(("orders".into(), p), hi);
            i.by_time.insert(("orders".into(), p), at_time);
        }
        i.partitions.push(("payments".into(), 0, Some(3)));
        i.earliest.insert(("payments".into(), 0), 0);
        i.latest.insert(("payments".into(), 0), 8);
        i
    }

    fn targets(spec: &str) -> Vec<i64> {
        let s = ResetSpec::parse(spec).expect("spec");
        plan("g", &s, &inputs())
            .expect("plan")
            .partitions
            .iter()
            .map(|p| p.target)
            .collect()
    }

    #[test]
    fn targets_for_every_kind_are_clamped_to_the_log() {
        assert_eq!(targets("earliest topic orders"), vec![0, 10, 0]);
        assert_eq!(targets("latest topic orders"), vec![100, 95, 50]);
        assert_eq!(targets("offset 60 topic orders"), vec![60, 60, 50]);
        assert_eq!(targets("shift -50 topic orders"), vec![0, 40, 0]);
        assert_eq!(targets("shift +20"), vec![60, 95, 50, 8]);
        // Datetime planning uses the offsets the broker found for the time; none: latest.
        assert_eq!(
            targets("datetime 2026-11-26T10:00:00Z topic orders"),
            vec![70, 95, 5]
        );
    }

    #[test]
    fn preview_counts_skipped_and_replayed_and_undo_restores() {
        let s = ResetSpec::parse("offset 60").expect("spec");
        let p = plan("g", &s, &inputs()).expect("plan");
        // orders-0: 40 -> 60 skips 20; orders-1: 90 -> 60 replays 30; payments-0: 3 -> 8 skips 5.
        assert_eq!((p.skipped(), p.replayed()), (25, 30));
        let text = p.preview_lines().join("\n");
        assert!(
            text.contains("orders[0]  40 -> 60  (skips 20 messages)"),
            "{text}"
        );
        assert!(
            text.contains("orders[1]  90 -> 60  (replays 30 messages)"),
            "{text}"
        );
        assert!(
            text.contains("orders[2]  - -> 50  (no commit before"),
            "{text}"
        );
        let undo = p.undo();
        assert_eq!(
            undo.commits(),
            vec![
                ("orders".into(), 0, 40),
                ("orders".into(), 1, 90),
                ("payments".into(), 0, 3)
            ]
        );
    }

    #[test]
    fn specs_parse_with_clear_errors() {
        assert_eq!(
            ResetSpec::parse("shift -100 topic orders"),
            Ok(ResetSpec {
                to: ResetTo::ShiftBy(-100),
                topic: Some("orders".into())
            })
        );
        let err = |s: &str| ResetSpec::parse(s).err().unwrap_or_default();
        assert!(err("offset -3").contains("not an offset"));
        assert!(err("datetime yesterday").contains("not a time"));
        assert!(err("sideways").contains("unknown target"));
        assert!(ResetSpec::parse("").is_err());
        assert!(
            plan(
                "g",
                &ResetSpec::parse("latest topic nope").expect("s"),
                &inputs()
            )
            .is_err()
        );
    }
}
