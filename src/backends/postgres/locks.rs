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

    #[test]
    fn a_row_lock_says_which_transaction_row_and_table() {
        let d = LockDetail {
            locktype: "transactionid".into(),
            mode: "ShareLock".into(),
            relation: Some("public.accounts".into()),
            transactionid: Some("745".into()),
            tuple: Some("(0,1)".into()),
            granted_mode_of_blocker: Some("ExclusiveLock".into()),
        };
        assert_eq!(
            d.describe(),
            "ShareLock on transaction 745 (row (0,1) of public.accounts), blocker holds ExclusiveLock"
        );
        assert_eq!(d.short(), "Share xid");
    }

    #[test]
    fn a_table_lock_names_the_table() {
        let d = LockDetail {
            locktype: "relation".into(),
            mode: "AccessShareLock".into(),
            relation: Some("app.\"Orders\"".into()),
            transactionid: None,
            tuple: None,
            granted_mode_of_blocker: None,
        };
        assert_eq!(
            d.describe(),
            "AccessShareLock on app.\"Orders\", blockers are queued ahead for it"
        );
        assert_eq!(d.short(), "AccessShare app.\"Orders\"");
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"locktype": "relation", "mode": "AccessShareLock",
                "relation": "app.\"Orders\"", "granted_mode_of_blocker": null})
        );
    }
}
