//! The chain check of one client session, over the records the server holds.
//!
//! A client's local file is one hash chain; a session (one process run) is a stretch of it,
//! possibly interleaved with other sessions writing the same file, and possibly delivered out of
//! order (spooled records arrive later with `audit flush`). So the check is by links, not by
//! arrival order:
//! - every record's own hash must match its content (else: edited);
//! - its `prev_hash` must be genesis, or the hash of a record the server holds (of this session
//!   or, for interleaved writers, another); else a record before it is missing: a gap;
//! - except the session's first record, which may follow records this server never received
//!   (e.g. written before an endpoint was configured): that is reported, not a break;
//! - two records may not follow the same record (a fork: something was inserted).

use std::collections::HashMap;

use serde::Serialize;

use super::store::ChainRow;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionReport {
    pub session_id: String,
    pub records: usize,
    /// "intact", "broken", or "empty" (no records of this session).
    pub status: &'static str,
    pub first_break: Option<Break>,
    /// The session's first record follows a record this server does not hold.
    pub starts_after_unseen_record: bool,
    /// Hash of the newest record of the session, to compare with the client's file.
    pub last_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub id: String,
    pub time: String,
    /// "hash_mismatch", "gap" or "fork".
    pub problem: &'static str,
    pub detail: String,
}

pub fn check_session(session_id: &str, rows: &[ChainRow]) -> SessionReport {
    let mut report = SessionReport {
        session_id: session_id.to_string(),
        records: rows.len(),
        status: if rows.is_empty() { "empty" } else { "intact" },
        first_break: None,
        starts_after_unseen_record: false,
        last_hash: rows.last().map(|r| r.hash.clone()),
    };
    let mut followers: HashMap<&str, &str> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        let problem = if !row.hash_ok {
            Some((
                "hash_mismatch",
                "the stored hash does not match the record's content: it was edited".to_string(),
            ))
        } else if let Some(first) = followers.insert(&row.prev_hash, &row.id) {
            Some((
                "fork",
                format!(
                    "record {first} already follows prev_hash {}: a record was inserted",
                    row.prev_hash
                ),
            ))
        } else if !row.prev_known && index == 0 {
            report.starts_after_unseen_record = true;
            None
        } else if !row.prev_known {
            Some((
                "gap",
                format!(
                    "prev_hash {} is not the hash of any record this server holds: a record \
                     before it is missing",
                    row.prev_hash
                ),
            ))
        } else {
            None
        };
        if let Some((problem, detail)) = problem {
            report.status = "broken";
            report.first_break = Some(Break {
                id: row.id.clone(),
                time: humantime::format_rfc3339_millis(row.time).to_string(),
                problem,
                detail,
            });
            break;
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn row(id: &str, secs: u64, prev: &str, prev_known: bool) -> ChainRow {
        ChainRow {
            id: id.into(),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            hash: format!("h-{id}"),
            prev_hash: prev.into(),
            hash_ok: true,
            prev_known,
        }
    }

    #[test]
    fn a_linked_session_is_intact() {
        let rows = [
            row("a", 1, "genesis", true),
            row("b", 2, "h-a", true),
            row("c", 3, "h-other-session", true),
        ];
        let r = check_session("s", &rows);
        assert_eq!((r.status, r.records), ("intact", 3));
        assert_eq!(r.last_hash.as_deref(), Some("h-c"));
        assert!(!r.starts_after_unseen_record);
    }

    #[test]
    fn a_missing_record_in_the_middle_is_a_gap_named_by_the_record_after_it() {
        let rows = [
            row("a", 1, "genesis", true),
            row("c", 3, "h-b", false),
            row("d", 4, "h-c", true),
        ];
        let r = check_session("s", &rows);
        assert_eq!(r.status, "broken");
        let b = r.first_break.expect("break");
        assert_eq!((b.id.as_str(), b.problem), ("c", "gap"));
    }

    #[test]
    fn an_unseen_start_is_reported_but_not_a_break_and_edits_and_forks_are() {
        let r = check_session(
            "s",
            &[row("a", 1, "h-before", false), row("b", 2, "h-a", true)],
        );
        assert_eq!(r.status, "intact");
        assert!(r.starts_after_unseen_record);

        let mut edited = row("b", 2, "h-a", true);
        edited.hash_ok = false;
        let r = check_session("s", &[row("a", 1, "genesis", true), edited]);
        assert_eq!(r.first_break.expect("break").problem, "hash_mismatch");

        let r = check_session(
            "s",
            &[
                row("a", 1, "genesis", true),
                row("b", 2, "h-a", true),
                row("x", 3, "h-a", true),
            ],
        );
        let b = r.first_break.expect("break");
        assert_eq!((b.id.as_str(), b.problem), ("x", "fork"));
        assert_eq!(check_session("s", &[]).status, "empty");
    }
}
