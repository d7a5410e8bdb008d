//! Reading audit lines strictly, the same way everywhere (`verify`, `tail`, `timeline`,
//! `reconcile`): a line is a record only if it is JSON without duplicate keys (at any depth) and
//! has exactly the record's shape. Otherwise it is reported as unreadable, never skipped silently:
//! with duplicate keys a line could read one way in one command and another way in the next.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::record::{AuditRecord, Phase};

/// A JSON value parsed with duplicate object keys refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Parses JSON, refusing duplicate keys at any depth.
pub(crate) fn strict_json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<Strict>(bytes)
        .map(|s| s.0)
        .map_err(|e| format!("not valid JSON ({e})"))
}

/// The record in a JSON value of exactly the record's shape (no unknown or missing fields).
pub(crate) fn record_of(value: &Value) -> Result<AuditRecord, String> {
    AuditRecord::deserialize(value).map_err(|e| format!("not an audit record ({e})"))
}

/// One line of the audit file: a record, or why it is not one.
pub(crate) fn parse_line(bytes: &[u8]) -> Result<AuditRecord, String> {
    record_of(&strict_json(bytes)?)
}

/// A line that is not a readable record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// 1-based line number in the file (for `tail`, counted from the end: see [`TailReport`]).
    pub line: usize,
    pub why: String,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Every record of a file, in file order, and every line that is not one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordsReport {
    pub records: Vec<AuditRecord>,
    pub unreadable: Vec<Unreadable>,
}

impl RecordsReport {
    /// One line for stderr when some lines were unreadable, e.g.
    /// "warning: 2 unreadable line(s) in /x/audit.jsonl (line 3: ...; line 9: ...); run `warroom audit verify`".
    pub fn warning(&self, path: &Path) -> Option<String> {
        warning_for(&self.unreadable, path)
    }
}

pub(crate) fn warning_for(unreadable: &[Unreadable], path: &Path) -> Option<String> {
    if unreadable.is_empty() {
        return None;
    }
    let shown: Vec<String> = unreadable.iter().take(3).map(|u| u.to_string()).collect();
    let more = if unreadable.len() > 3 { "; …" } else { "" };
    Some(crate::sanitize::cell(
        &format!(
            "warning: {} unreadable line(s) in {} ({}{more}); run `warroom audit verify`",
            unreadable.len(),
            path.display(),
            shown.join("; ")
        ),
        1000,
    ))
}

/// Reads every line of `path` strictly. A missing file has no records.
pub fn read_records_checked(path: &Path) -> io::Result<RecordsReport> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RecordsReport::default()),
        Err(e) => return Err(e),
    };
    let mut report = RecordsReport::default();
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(&line) {
            Ok(record) => report.records.push(record),
            Err(why) => report.unreadable.push(Unreadable {
                line: index + 1,
                why,
            }),
        }
    }
    Ok(report)
}

/// The records of `path` that match, as an intent, no outcome anywhere in the file. Linear.
pub fn orphan_intents(records: &[AuditRecord]) -> Vec<AuditRecord> {
    let closed: HashSet<&str> = records
        .iter()
        .filter(|r| r.phase == Phase::Outcome)
        .filter_map(|r| r.intent_id.as_deref())
        .collect();
    records
        .iter()
        .filter(|r| r.phase == Phase::Intent && !closed.contains(r.id.as_str()))
        .cloned()
        .collect()
}

/// Intents paired with their (first) outcome, in intent order. Linear.
pub fn pair_outcomes(records: &[AuditRecord]) -> Vec<(&AuditRecord, Option<&AuditRecord>)> {
    let mut outcome_of: HashMap<&str, &AuditRecord> = HashMap::new();
    for r in records.iter().filter(|r| r.phase == Phase::Outcome) {
        if let Some(id) = r.intent_id.as_deref() {
            outcome_of.entry(id).or_insert(r);
        }
    }
    records
        .iter()
        .filter(|r| r.phase == Phase::Intent)
        .map(|r| (r, outcome_of.get(r.id.as_str()).copied()))
        .collect()
}

/// `2026-11-29 14:03` from `2026-11-29T14:03:12.345Z` (the time as written, UTC).
fn minute_of(time: &str) -> String {
    match (time.get(..10), time.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm}"),
        _ => time.to_string(),
    }
}

/// "pg.terminate 4242 on prod": the action, its target's identifying values, the context.
pub fn describe_intent(record: &AuditRecord) -> String {
    let target = super::timeline::target_values(&record.target);
    let mut text = record.action.clone();
    if !target.is_empty() {
        text.push(' ');
        text.push_str(&target);
    }
    text.push_str(" on ");
    text.push_str(&record.context.name);
    crate::sanitize::cell(&text, 200)
}

/// The start-up report of intents without an outcome, e.g.
/// "1 action from 2026-11-29 14:03 has no recorded outcome: pg.terminate 4242 on prod".
/// `None` when there are none.
pub fn orphan_report(orphans: &[AuditRecord]) -> Option<String> {
    let first = orphans.first()?;
    let last = orphans.last().unwrap_or(first);
    const SHOWN: usize = 5;
    let mut what: Vec<String> = orphans.iter().take(SHOWN).map(describe_intent).collect();
    if orphans.len() > SHOWN {
        what.push(format!("and {} more", orphans.len() - SHOWN));
    }
    Some(if orphans.len() == 1 {
        format!(
            "1 action from {} has no recorded outcome: {}",
            minute_of(&first.time),
            what.join("; ")
        )
    } else {
        format!(
            "{} actions from {} to {} have no recorded outcome: {}",
            orphans.len(),
            minute_of(&first.time),
            minute_of(&last.time),
            what.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::sample;
    use crate::audit::record::{GENESIS_HASH, RecordedOutcome};

    fn line(record: &mut AuditRecord) -> String {
        record.seal(GENESIS_HASH).expect("seal")
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let mut r = sample("r1");
        let good = line(&mut r);
        assert!(parse_line(good.as_bytes()).is_ok());
        let top = good.replacen("{\"action\"", "{\"reason\":\"other\",\"action\"", 1);
        let err = parse_line(top.as_bytes()).expect_err("duplicate top-level key");
        assert!(err.contains("duplicate key \"reason\""), "{err}");
        let nested = good.replacen("\"pid\":14024", "\"pid\":14024,\"pid\":1", 1);
        assert_ne!(nested, good);
        let err = parse_line(nested.as_bytes()).expect_err("duplicate nested key");
        assert!(err.contains("duplicate key \"pid\""), "{err}");
    }

    #[test]
    fn unknown_or_missing_fields_are_refused() {
        let mut r = sample("r1");
        let good = line(&mut r);
        let extra = good.replacen("{\"action\"", "{\"approved_by\":\"mallory\",\"action\"", 1);
        let err = parse_line(extra.as_bytes()).expect_err("unknown field");
        assert!(err.contains("approved_by"), "{err}");
        let actor = good.replacen("\"host\":", "\"role\":\"admin\",\"host\":", 1);
        assert!(parse_line(actor.as_bytes()).is_err());
        let missing = good.replacen("\"reason\":\"INC-42 runaway report query\",", "", 1);
        assert!(parse_line(missing.as_bytes()).is_err());
    }

    #[test]
    fn orphans_are_intents_without_any_outcome() {
        let mut a = sample("a");
        a.time = "2026-11-29T14:03:10.000Z".into();
        a.action = "pg.terminate".into();
        a.target = serde_json::json!({"pid": 4242, "query": "x"});
        a.context.name = "prod".into();
        let b = sample("b");
        let mut b_done = sample("b-out");
        b_done.phase = Phase::Outcome;
        b_done.intent_id = Some("b".into());
        b_done.outcome = Some(RecordedOutcome {
            ok: true,
            detail: "done".into(),
            unknown: false,
        });
        let records = vec![a.clone(), b, b_done];
        let orphans = orphan_intents(&records);
        assert_eq!(orphans, vec![a.clone()]);
        assert_eq!(
            orphan_report(&orphans).as_deref(),
            Some(
                "1 action from 2026-11-29 14:03 has no recorded outcome: pg.terminate 4242 on prod"
            )
        );
        let mut c = a.clone();
        c.time = "2026-11-29T15:10:00.000Z".into();
        let two = orphan_report(&[a, c]).expect("report");
        assert!(
            two.starts_with(
                "2 actions from 2026-11-29 14:03 to 2026-11-29 15:10 have no recorded outcome:"
            ),
            "{two}"
        );
        assert_eq!(orphan_report(&[]), None);
    }

    #[test]
    fn pairing_is_linear_on_a_large_file() {
        // 20 000 intent/outcome pairs: a quadratic pairing would take minutes here.
        let mut records = Vec::new();
        for i in 0..20_000 {
            let intent = sample(&format!("i{i}"));
            let mut outcome = sample(&format!("o{i}"));
            outcome.phase = Phase::Outcome;
            outcome.intent_id = Some(format!("i{i}"));
            records.push(intent);
            records.push(outcome);
        }
        let started = std::time::Instant::now();
        let pairs = pair_outcomes(&records);
        let orphans = orphan_intents(&records);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(pairs.len(), 20_000);
        assert!(pairs.iter().all(|(_, o)| o.is_some()));
        assert!(orphans.is_empty());
    }
}
