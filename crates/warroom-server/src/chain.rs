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
//!
//! A chain is one sender's: the session's owner is the authenticated sender of its first
//! received record, and only the owner's records (linked only to the owner's records) make its
//! chain. Records someone else posted under the same session id are counted apart, so nobody
//! can insert into, or fork, another sender's chain.

use std::collections::{BTreeMap, HashMap};

use super::store::ChainRow;
use warroom_core::protocol::{Chain, ChainBreak, ChainProblem, ForeignRecords, SessionReport};

pub fn check_session(session_id: &str, all: &[ChainRow]) -> SessionReport {
    let owner = all
        .iter()
        .min_by_key(|r| r.received_at)
        .map(|r| r.received_from.clone());
    let mut foreign: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rows: Vec<&ChainRow> = Vec::with_capacity(all.len());
    for r in all {
        if Some(&r.received_from) == owner.as_ref() {
            rows.push(r);
        } else {
            *foreign.entry(&r.received_from).or_default() += 1;
        }
    }
    let mut report = SessionReport {
        session_id: session_id.to_string(),
        sender: owner.clone(),
        records: rows.len(),
        chain: if rows.is_empty() {
            Chain::Empty
        } else {
            Chain::Intact
        },
        starts_after_unseen_record: false,
        last_hash: rows.last().map(|r| r.hash.clone()),
        foreign: foreign
            .into_iter()
            .map(|(sender, records)| ForeignRecords {
                sender: sender.to_string(),
                records,
            })
            .collect(),
    };
    let mut followers: HashMap<&str, &str> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        let problem = if !row.hash_ok {
            Some((
                ChainProblem::HashMismatch,
                "the stored hash does not match the record's content: it was edited".to_string(),
            ))
        } else if let Some(first) = followers.insert(&row.prev_hash, &row.id) {
            Some((
                ChainProblem::Fork,
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
                ChainProblem::Gap,
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
            report.chain = Chain::Broken(ChainBreak {
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
            received_from: "alice@example.com".into(),
            received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            hash: format!("h-{id}"),
            prev_hash: prev.into(),
            hash_ok: true,
            prev_known,
        }
    }

    #[test]
    fn each_kind_of_session_gets_its_status_and_first_break() {
        use ChainProblem::{Fork, Gap, HashMismatch};
        use warroom_core::protocol::ChainStatus::{self, Broken, Empty, Intact};
        let a = row("a", 1, "genesis", true);
        let b = row("b", 2, "h-a", true);
        let mut edited_b = b.clone();
        edited_b.hash_ok = false;
        // (what, rows, status, the first break (id, problem), starts after an unseen record)
        type Case<'a> = (
            &'a str,
            Vec<ChainRow>,
            ChainStatus,
            Option<(&'a str, ChainProblem)>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "linked, also into another session",
                vec![a.clone(), b.clone(), row("c", 3, "h-other-session", true)],
                Intact,
                None,
                false,
            ),
            (
                "a missing record is a gap named by the record after it",
                vec![
                    a.clone(),
                    row("c", 3, "h-b", false),
                    row("d", 4, "h-c", true),
                ],
                Broken,
                Some(("c", Gap)),
                false,
            ),
            (
                "an unseen start is reported but not a break",
                vec![row("a", 1, "h-before", false), b.clone()],
                Intact,
                None,
                true,
            ),
            (
                "an edited record",
                vec![a.clone(), edited_b],
                Broken,
                Some(("b", HashMismatch)),
                false,
            ),
            (
                "a record inserted after another",
                vec![a.clone(), b, row("x", 3, "h-a", true)],
                Broken,
                Some(("x", Fork)),
                false,
            ),
            ("no records", vec![], Empty, None, false),
        ];
        for (what, rows, status, first_break, unseen_start) in cases {
            let r = check_session("s", &rows);
            assert_eq!(r.chain.status(), status, "{what}");
            let got_break = r.chain.first_break().map(|b| (b.id.as_str(), b.problem));
            assert_eq!(got_break, first_break, "{what}");
            assert_eq!(r.starts_after_unseen_record, unseen_start, "{what}");
            assert_eq!(r.records, rows.len(), "{what}");
        }
        let linked = check_session("s", &[a, row("b", 2, "h-a", true)]);
        assert_eq!(linked.last_hash.as_deref(), Some("h-b"));
    }

    #[test]
    fn another_senders_records_in_a_session_are_foreign_and_never_fork_the_owners_chain() {
        let a = row("a", 1, "genesis", true);
        let b = row("b", 2, "h-a", true);
        // Mallory posts a record that follows alice's first one, under alice's session id.
        let forged = ChainRow {
            received_from: "mallory@example.com".into(),
            ..row("x", 3, "h-a", true)
        };
        let r = check_session("s", &[a, forged, b]);
        assert_eq!(r.chain, Chain::Intact);
        assert_eq!(r.sender.as_deref(), Some("alice@example.com"));
        assert_eq!(r.records, 2);
        assert_eq!(
            r.foreign,
            vec![ForeignRecords {
                sender: "mallory@example.com".into(),
                records: 1
            }]
        );
        assert_eq!(r.last_hash.as_deref(), Some("h-b"));
    }
}
