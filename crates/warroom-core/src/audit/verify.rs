//! Reading the local audit file back: `verify` (the hash chain), `tail`, and the one-line form.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::record::{AuditRecord, GENESIS_HASH, Phase, chain_hash};
use super::store::read_last_lines;

/// The chain is intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of records checked.
    pub records: usize,
    /// Hash of the last record (compare it with the endpoint's copy: deleting the last records
    /// cannot be seen from the file alone).
    pub last_hash: Option<String>,
}

/// What is wrong with the first broken record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The stored hash does not match the record's content: the record was edited.
    Edited { stored: String, computed: String },
    /// `prev_hash` does not match the hash of the record before it: a record was deleted or
    /// inserted before this one, or records were reordered.
    Unlinked { expected: String, found: String },
    /// The line is not a JSON object with string `hash` and `prev_hash`.
    Malformed(String),
}

/// Why verification failed.
#[derive(Debug)]
pub enum VerifyError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// The first broken record: 1-based line number, its id when readable, and the problem.
    Broken {
        path: PathBuf,
        line: usize,
        id: Option<String>,
        problem: ChainProblem,
    },
}

impl VerifyReport {
    /// What `audit verify` prints: the count and the head hash, so a copy of the head kept
    /// elsewhere can be compared (deleting the last records is invisible in the file alone).
    pub fn summary(&self, path: &Path) -> String {
        format!(
            "{}: chain intact, {} record(s), head {}",
            path.display(),
            self.records,
            self.last_hash.as_deref().unwrap_or(GENESIS_HASH)
        )
    }

    /// `--expect-head HASH`: the head must be exactly this hash (the genesis hash for an empty
    /// file). `Err` says both.
    pub fn check_head(&self, expected: &str) -> Result<(), String> {
        let head = self.last_hash.as_deref().unwrap_or(GENESIS_HASH);
        let expected = expected.trim();
        if head.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(format!(
                "head hash mismatch: expected {}, the file ends at {head} ({} record(s)): records \
                 were removed from or added to the end since that head was noted",
                sanitize(expected),
                self.records
            ))
        }
    }
}

impl VerifyError {
    /// 1-based line of the first broken record, if the chain is broken.
    pub fn line(&self) -> Option<usize> {
        match self {
            VerifyError::Broken { line, .. } => Some(*line),
            VerifyError::Io { .. } => None,
        }
    }

    pub fn problem(&self) -> Option<&ChainProblem> {
        match self {
            VerifyError::Broken { problem, .. } => Some(problem),
            VerifyError::Io { .. } => None,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Io { path, source } => {
                write!(f, "cannot read the audit file {}: {source}", path.display())
            }
            VerifyError::Broken {
                path,
                line,
                id,
                problem,
            } => {
                let id = id.as_deref().map(sanitize).unwrap_or_else(|| "?".into());
                write!(f, "{}:{line}: record {id}: ", path.display())?;
                match problem {
                    ChainProblem::Edited { stored, computed } => write!(
                        f,
                        "hash mismatch: the record was edited after it was written \
                         (stored {}, content hashes to {computed})",
                        sanitize(stored)
                    ),
                    ChainProblem::Unlinked { expected, found } => write!(
                        f,
                        "prev_hash mismatch: a record before it was deleted or inserted, or \
                         records were reordered (expected {expected}, found {})",
                        sanitize(found)
                    ),
                    ChainProblem::Malformed(why) => write!(f, "not a valid audit record: {why}"),
                }
            }
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Io { source, .. } => Some(source),
            VerifyError::Broken { .. } => None,
        }
    }
}

/// Checks the whole hash chain of `path`, streaming, and names the first broken record.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, VerifyError> {
    let path = path.as_ref();
    let io_err = |source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io_err)?);
    let mut expected_prev = GENESIS_HASH.to_string();
    let mut records = 0;
    for (index, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(io_err)?;
        let number = index + 1;
        let broken = |id: Option<String>, problem| VerifyError::Broken {
            path: path.to_path_buf(),
            line: number,
            id,
            problem,
        };
        // Strict: a duplicate key would let this line read differently elsewhere.
        let value: Value = super::read::strict_json(&line)
            .map_err(|why| broken(None, ChainProblem::Malformed(why)))?;
        let id = value.get("id").and_then(Value::as_str).map(str::to_string);
        let (Some(stored), Some(prev)) = (
            value.get("hash").and_then(Value::as_str),
            value.get("prev_hash").and_then(Value::as_str),
        ) else {
            return Err(broken(
                id,
                ChainProblem::Malformed("no \"hash\" or \"prev_hash\" string".into()),
            ));
        };
        // The content check comes first: an edit of any field, prev_hash included, is "edited".
        let computed = chain_hash(prev, &value);
        if computed != stored {
            return Err(broken(
                id,
                ChainProblem::Edited {
                    stored: stored.to_string(),
                    computed,
                },
            ));
        }
        if prev != expected_prev {
            return Err(broken(
                id,
                ChainProblem::Unlinked {
                    expected: expected_prev,
                    found: prev.to_string(),
                },
            ));
        }
        // Only now the shape: an edit of any field is reported as an edit above.
        if let Err(why) = super::read::record_of(&value) {
            return Err(broken(id, ChainProblem::Malformed(why)));
        }
        expected_prev = stored.to_string();
        records += 1;
    }
    Ok(VerifyReport {
        records,
        last_hash: (records > 0).then_some(expected_prev),
    })
}

/// The last `n` lines of `path` read as records, oldest first, reading only the end of the file.
/// A missing file has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TailReport {
    pub records: Vec<AuditRecord>,
    /// Lines among the last `n` that are not records; `line` counts from the end (1 = last).
    pub unreadable: Vec<super::Unreadable>,
}

impl TailReport {
    /// One line for stderr when some lines were unreadable.
    pub fn warning(&self, path: &Path) -> Option<String> {
        super::read::warning_for(&self.unreadable, path).map(|w| w.replace("line ", "line -"))
    }
}

/// The last `n` lines of `path`, each a record or reported as unreadable (strict parsing, the
/// same as `verify`).
pub fn tail_checked(path: impl AsRef<Path>, n: usize) -> io::Result<TailReport> {
    let file = match File::open(path.as_ref()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TailReport::default()),
        Err(e) => return Err(e),
    };
    let lines = read_last_lines(&file, n)?;
    let count = lines.len();
    let mut report = TailReport::default();
    for (i, line) in lines.into_iter().enumerate() {
        match super::read::parse_line(&line.bytes) {
            Ok(record) => report.records.push(record),
            Err(why) => report.unreadable.push(super::Unreadable {
                line: count - i,
                why,
            }),
        }
    }
    Ok(report)
}

/// The records among the last `n` lines of `path` (see [`tail_checked`], which also reports the
/// unreadable lines).
pub fn tail(path: impl AsRef<Path>, n: usize) -> io::Result<Vec<AuditRecord>> {
    tail_checked(path, n).map(|r| r.records)
}

/// One line for humans, e.g.
/// `2025-03-01T09:30:12.345Z intent  pg.cancel postgres/prod-main alice@laptop [remote] id=… reason="…" target={…}`.
/// Everything from the file is sanitized: no control characters reach the terminal.
pub fn render_tail_line(record: &AuditRecord) -> String {
    let who = match &record.actor.identity {
        Some(identity) => format!("{}@{} ({})", record.actor.user, record.actor.host, identity),
        None => format!("{}@{}", record.actor.user, record.actor.host),
    };
    let mut line = format!(
        "{} {:<7} {} {}/{} {} [{}] id={}",
        record.time,
        record.phase.as_str(),
        record.action,
        record.context.kind,
        record.context.name,
        who,
        record.delivery.as_str(),
        record.id,
    );
    match (record.phase, &record.outcome) {
        (Phase::Outcome, Some(outcome)) => {
            line.push_str(&format!(" {}: {}", outcome.verdict(), outcome.detail));
        }
        _ => {
            line.push_str(&format!(" reason={:?}", record.reason));
            line.push_str(&format!(" target={}", record.target));
        }
    }
    sanitize(&line)
}

/// The one sanitizer (escape sequences, controls, bidi, zero-width removed).
fn sanitize(text: &str) -> String {
    crate::sanitize::cell(text, 4000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::sample;
    use crate::audit::record::{Delivery, RecordedOutcome};
    use crate::audit::store::append_records;
    use std::fs;

    /// A file with `n` chained records r1..rn; returns its path and lines.
    fn chain(dir: &Path, n: usize) -> (PathBuf, Vec<String>) {
        let path = dir.join("audit.jsonl");
        for i in 1..=n {
            append_records(&path, &mut [sample(&format!("r{i}"))]).expect("append");
        }
        let text = fs::read_to_string(&path).expect("read");
        (path, text.lines().map(str::to_string).collect())
    }

    fn write_lines(path: &Path, lines: &[String]) {
        fs::write(path, lines.join("\n") + "\n").expect("write");
    }

    #[test]
    fn intact_chain_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, lines) = chain(dir.path(), 4);
        let report = verify(&path).expect("intact");
        assert_eq!(report.records, 4);
        let last: Value = serde_json::from_str(&lines[3]).expect("json");
        assert_eq!(report.last_hash.as_deref(), last["hash"].as_str());
    }

    #[test]
    fn empty_file_verifies_and_missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        assert!(matches!(verify(&path), Err(VerifyError::Io { .. })));
        fs::write(&path, "").expect("write");
        assert_eq!(verify(&path).expect("empty").records, 0);
    }

    /// One way to break a chain of `records` lines, and what verify must say about it.
    struct Tamper {
        name: &'static str,
        records: usize,
        edit: fn(&mut Vec<String>),
        line: usize,
        problem: &'static str,
        says: &'static [&'static str],
    }

    fn problem_kind(p: Option<&ChainProblem>) -> &'static str {
        match p {
            Some(ChainProblem::Edited { .. }) => "edited",
            Some(ChainProblem::Unlinked { .. }) => "unlinked",
            Some(ChainProblem::Malformed(_)) => "malformed",
            None => "none",
        }
    }

    #[test]
    fn tampering_is_named_by_line_record_and_kind() {
        let cases = [
            Tamper {
                name: "edited",
                records: 4,
                edit: |l| l[2] = l[2].replace("INC-42 runaway report query", "nothing to see here"),
                line: 3,
                problem: "edited",
                says: &[":3: record r3: hash mismatch", "edited"],
            },
            Tamper {
                name: "deleted",
                records: 4,
                edit: |l| drop(l.remove(1)), // r2
                line: 2,
                problem: "unlinked",
                says: &[":2: record r3: prev_hash mismatch", "deleted"],
            },
            Tamper {
                name: "deleted first",
                records: 3,
                edit: |l| drop(l.remove(0)),
                line: 1,
                problem: "unlinked",
                says: &["record r2: prev_hash mismatch"],
            },
            Tamper {
                name: "reordered",
                records: 5,
                edit: |l| l.swap(2, 3), // r3 <-> r4
                line: 3,
                problem: "unlinked",
                says: &["record r4: prev_hash mismatch", "reordered"],
            },
            Tamper {
                name: "garbage",
                records: 2,
                edit: |l| l.insert(1, "hello".into()),
                line: 2,
                problem: "malformed",
                says: &[":2:"],
            },
        ];
        for c in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let (path, mut lines) = chain(dir.path(), c.records);
            (c.edit)(&mut lines);
            write_lines(&path, &lines);
            let err = verify(&path).expect_err(c.name);
            assert_eq!(err.line(), Some(c.line), "{}: {err}", c.name);
            assert_eq!(problem_kind(err.problem()), c.problem, "{}: {err}", c.name);
            let text = err.to_string();
            for s in c.says {
                assert!(text.contains(s), "{}: {text}", c.name);
            }
        }
    }

    #[test]
    fn edit_that_keeps_json_equal_but_reformats_still_verifies() {
        // Verification recomputes from the parsed value, so key order and spacing do not matter.
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, mut lines) = chain(dir.path(), 2);
        let v: Value = serde_json::from_str(&lines[0]).expect("json");
        lines[0] = serde_json::to_string_pretty(&v)
            .expect("pretty")
            .replace('\n', "");
        write_lines(&path, &lines);
        assert_eq!(verify(&path).expect("still intact").records, 2);
    }

    #[test]
    fn edited_field_of_any_kind_is_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, lines) = chain(dir.path(), 2);
        for key in [
            "time",
            "actor",
            "target",
            "delivery",
            "prev_hash",
            "session_id",
        ] {
            let mut v: Value = serde_json::from_str(&lines[1]).expect("json");
            v[key] = Value::String("tampered".into());
            write_lines(&path, &[lines[0].clone(), v.to_string()]);
            let err = verify(&path).expect_err(key);
            assert_eq!(err.line(), Some(2), "{key}");
            assert!(
                matches!(err.problem(), Some(ChainProblem::Edited { .. })),
                "{key}"
            );
        }
    }

    #[test]
    fn duplicate_keys_and_unknown_fields_break_the_chain_and_tail_reports_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, mut lines) = chain(dir.path(), 3);
        // A second "reason" key: serde_json's Value keeps the last one, the record type would
        // refuse it; before, verify passed such a line (when the hash was computed on the last
        // value) while tail skipped it silently.
        let mut v: Value = serde_json::from_str(&lines[1]).expect("json");
        let prev = v["prev_hash"].as_str().expect("prev").to_string();
        v["reason"] = Value::String("the real reason".into());
        v["hash"] = Value::String(chain_hash(&prev, &v));
        let resealed = v.to_string();
        lines[1] = resealed.replacen("{", "{\"reason\":\"a decoy reason\",", 1);
        // Keep the link from line 3 to line 2 intact.
        let mut third: Value = serde_json::from_str(&lines[2]).expect("json");
        third["prev_hash"] = v["hash"].clone();
        third["hash"] = Value::String(chain_hash(v["hash"].as_str().expect("h"), &third));
        lines[2] = third.to_string();
        write_lines(&path, &lines);
        let err = verify(&path).expect_err("duplicate key");
        assert_eq!(err.line(), Some(2), "{err}");
        assert!(
            err.to_string().contains("duplicate key \"reason\""),
            "{err}"
        );
        let report = tail_checked(&path, 10).expect("tail");
        assert_eq!(report.records.len(), 2);
        assert_eq!(report.unreadable.len(), 1);
        assert_eq!(report.unreadable[0].line, 2);
        let warning = report.warning(&path).expect("warning");
        assert!(warning.contains("1 unreadable line(s)"), "{warning}");

        // Unknown field, correctly hashed: readable JSON, not a record.
        let (path, mut lines) = chain(&dir.path().join("b"), 1);
        let mut v: Value = serde_json::from_str(&lines[0]).expect("json");
        v["approved_by"] = Value::String("mallory".into());
        v["hash"] = Value::String(chain_hash(GENESIS_HASH, &v));
        lines[0] = v.to_string();
        write_lines(&path, &lines);
        let err = verify(&path).expect_err("unknown field");
        assert!(err.to_string().contains("approved_by"), "{err}");
    }

    #[test]
    fn summary_names_head_and_count_and_expect_head_fails_on_mismatch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, lines) = chain(dir.path(), 3);
        let report = verify(&path).expect("intact");
        let head = report.last_hash.clone().expect("head");
        let summary = report.summary(&path);
        assert!(
            summary.ends_with(&format!("chain intact, 3 record(s), head {head}")),
            "{summary}"
        );
        assert!(report.check_head(&head).is_ok());
        // The last record removed: still a valid chain, but not the head noted before.
        write_lines(&path, &lines[..2]);
        let shorter = verify(&path).expect("still a chain");
        let err = shorter.check_head(&head).expect_err("truncated");
        assert!(
            err.contains("head hash mismatch") && err.contains("2 record(s)"),
            "{err}"
        );
    }

    #[test]
    fn tail_returns_the_last_records_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = chain(dir.path(), 6);
        let ids: Vec<String> = tail(&path, 3)
            .expect("tail")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["r4", "r5", "r6"]);
        assert_eq!(tail(&path, 100).expect("tail").len(), 6);
        assert!(tail(&path, 0).expect("tail").is_empty());
        assert!(
            tail(dir.path().join("none"), 3)
                .expect("missing")
                .is_empty()
        );
    }

    #[test]
    fn tail_line_is_one_sanitized_line() {
        let mut intent = sample("r1");
        intent.reason = "INC-1 \x1b[31mred\x1b[0m\nsecond".into();
        let line = render_tail_line(&intent);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.contains("intent  pg.cancel postgres/prod-main"),
            "{line}"
        );
        assert!(
            line.contains("alice@laptop (alice@example.com) [remote] id=r1"),
            "{line}"
        );
        assert!(line.contains("reason="), "{line}");

        let mut outcome = sample("r2");
        outcome.phase = Phase::Outcome;
        outcome.delivery = Delivery::BreakGlass;
        outcome.outcome = Some(RecordedOutcome {
            ok: false,
            detail: "session changed".into(),
            unknown: false,
        });
        let line = render_tail_line(&outcome);
        assert!(line.contains("[break-glass]"), "{line}");
        assert!(line.ends_with("FAILED: session changed"), "{line}");
    }
}
