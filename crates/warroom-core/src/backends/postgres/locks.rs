//! What a session waiting on a lock waits for, read from pg_locks in the activity statement
//! (pg_locks is only read when some session waits; see `activity_sql`).

use serde::{Deserialize, Serialize};

/// The lock a waiter has asked for and not been granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockDetail {
    /// pg_locks.locktype: relation, tuple, transactionid, virtualxid, object, advisory, ...
    pub locktype: String,
    /// The mode the waiter asked for, e.g. ShareLock, AccessExclusiveLock.
    pub mode: String,
    /// Schema-qualified relation; for a row lock (transactionid) the relation of the row the
    /// waiter holds the tuple lock on, when it holds one.
    pub relation: Option<String>,
    /// The transaction waited for (transactionid locks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactionid: Option<String>,
    /// `(page,tuple)` of a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuple: Option<String>,
    /// Mode(s) the blockers were granted on the same object; None when every blocker is
    /// only queued ahead (waiting for the same lock).
    pub granted_mode_of_blocker: Option<String>,
}

impl LockDetail {
    /// `ShareLock on transaction 745 (row (0,1) of public.accounts), blocker holds ExclusiveLock`
    pub fn describe(&self) -> String {
        let target = match self.locktype.as_str() {
            "relation" => self.relation.clone().unwrap_or_else(|| "a relation".into()),
            "transactionid" => {
                let mut t = format!(
                    "transaction {}",
                    self.transactionid.as_deref().unwrap_or("?")
                );
                if let Some(rel) = &self.relation {
                    match &self.tuple {
                        Some(tuple) => t.push_str(&format!(" (row {tuple} of {rel})")),
                        None => t.push_str(&format!(" (a row of {rel})")),
                    }
                }
                t
            }
            "tuple" => format!(
                "row {} of {}",
                self.tuple.as_deref().unwrap_or("?"),
                self.relation.as_deref().unwrap_or("?")
            ),
            other => match &self.relation {
                Some(rel) => format!("{other} of {rel}"),
                None => other.to_string(),
            },
        };
        let held = match &self.granted_mode_of_blocker {
            Some(m) => format!("blocker holds {m}"),
            None => "blockers are queued ahead for it".to_string(),
        };
        format!("{} on {target}, {held}", self.mode)
    }

    /// A short cell for the sessions table: `ShareLock xid`, `AccessShareLock public.t`.
    pub fn short(&self) -> String {
        let what = match self.locktype.as_str() {
            "relation" | "tuple" => self.relation.clone().unwrap_or_else(|| "?".into()),
            "transactionid" => "xid".into(),
            other => other.into(),
        };
        format!("{} {what}", self.mode.trim_end_matches("Lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock; `row` is the transaction id and tuple of a row lock.
    fn lock(
        locktype: &str,
        mode: &str,
        relation: &str,
        row: Option<(&str, &str)>,
        blocker: Option<&str>,
    ) -> LockDetail {
        LockDetail {
            locktype: locktype.into(),
            mode: mode.into(),
            relation: Some(relation.into()),
            transactionid: row.map(|(xid, _)| xid.into()),
            tuple: row.map(|(_, tuple)| tuple.into()),
            granted_mode_of_blocker: blocker.map(Into::into),
        }
    }

    #[test]
    fn a_lock_says_what_it_waits_for_in_words_and_in_a_cell() {
        let row_lock = lock(
            "transactionid",
            "ShareLock",
            "public.accounts",
            Some(("745", "(0,1)")),
            Some("ExclusiveLock"),
        );
        let table_lock = lock("relation", "AccessShareLock", "app.\"Orders\"", None, None);
        let cases = [
            (
                &row_lock,
                "ShareLock on transaction 745 (row (0,1) of public.accounts), blocker holds ExclusiveLock",
                "Share xid",
            ),
            (
                &table_lock,
                "AccessShareLock on app.\"Orders\", blockers are queued ahead for it",
                "AccessShare app.\"Orders\"",
            ),
        ];
        for (d, describe, short) in cases {
            assert_eq!(d.describe(), describe);
            assert_eq!(d.short(), short);
        }
        let json = serde_json::to_value(&table_lock).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"locktype": "relation", "mode": "AccessShareLock",
                "relation": "app.\"Orders\"", "granted_mode_of_blocker": null})
        );
    }
}
