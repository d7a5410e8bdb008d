//! Who may read what. A person reads their own records (the ones they sent, and the ones the
//! server wrote running an action for them) and their own requests; an approver also reads the
//! requests they may decide (or decided) and the server's records of those requests; the
//! configured auditors (`[server] auditors`, identities or `group:NAME`) read everything.

use super::auth::Identity;
use super::policy::Caller;
use super::requests::RequestRow;

/// The readers' part of the configuration.
#[derive(Debug, Clone, Default)]
pub struct Readers {
    /// Identities or `group:NAME` entries that read every record and request.
    pub auditors: Vec<String>,
    /// `[server] share_watchers`: who may watch any share (besides its owner and the
    /// auditors); `None`: any authenticated identity.
    pub share_watchers: Option<Vec<String>>,
}

/// What one caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// A person: their identity and the approver entries they match (`identity`,
    /// `group:NAME` for each of their groups).
    Own {
        identity: String,
        approver_keys: Vec<String>,
    },
}

impl Readers {
    pub fn of(&self, identity: &Identity) -> Scope {
        let caller = Caller {
            identity: &identity.0,
            groups: &identity.1,
        };
        if self.auditors.iter().any(|a| caller.matches(a)) {
            return Scope::All;
        }
        let mut approver_keys = vec![identity.0.clone()];
        approver_keys.extend(identity.1.iter().map(|g| format!("group:{g}")));
        Scope::Own {
            identity: identity.0.clone(),
            approver_keys,
        }
    }
}

impl Readers {
    /// May `identity` watch (or replay) the share of `owner` restricted to `named` (`None`:
    /// not restricted by its sharer)? Both the sharer's list and the server's must admit it.
    pub fn may_watch(&self, identity: &Identity, owner: &str, named: Option<&[String]>) -> bool {
        let caller = Caller {
            identity: &identity.0,
            groups: &identity.1,
        };
        let admits =
            |list: Option<&[String]>| list.is_none_or(|l| l.iter().any(|e| caller.matches(e)));
        caller.matches(owner)
            || self.of(identity) == Scope::All
            || (admits(self.share_watchers.as_deref()) && admits(named))
    }
}

impl Scope {
    /// May this caller read request `row`?
    pub fn reads_request(&self, row: &RequestRow) -> bool {
        match self {
            Scope::All => true,
            Scope::Own {
                identity,
                approver_keys,
            } => {
                let r = &row.state;
                r.requester == *identity
                    || r.decision.as_ref().is_some_and(|d| d.by == *identity)
                    || r.approvers.iter().any(|a| approver_keys.contains(a))
            }
        }
    }

    /// The SQL condition on `audit_records` (no alias) for this caller, with its parameters
    /// numbered from `first`: `None` for everything.
    pub fn records_clause(&self, first: usize) -> Option<(String, String, Vec<String>)> {
        match self {
            Scope::All => None,
            Scope::Own {
                identity,
                approver_keys,
            } => {
                let (me, keys) = (first, first + 1);
                let clause = format!(
                    "(received_from = ${me} OR (received_from LIKE 'server:%' AND \
                     (actor_identity = ${me} OR request_id IN \
                       (SELECT q.id FROM action_requests q WHERE q.requester <> ${me} \
                        AND (q.decided_by = ${me} OR q.approvers::jsonb ?| ${keys}::text[])))))"
                );
                Some((clause, identity.clone(), approver_keys.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditors_read_all_and_others_read_as_themselves_with_their_groups() {
        let readers = Readers {
            auditors: vec!["group:audit".into(), "carol@example.com".into()],
            share_watchers: None,
        };
        let dana = Identity("dana@example.com".into(), vec!["audit".into()]);
        let carol = Identity("carol@example.com".into(), vec![]);
        let bob = Identity("bob@example.com".into(), vec!["sre".into()]);
        assert_eq!(readers.of(&dana), Scope::All);
        assert_eq!(readers.of(&carol), Scope::All);
        assert_eq!(
            readers.of(&bob),
            Scope::Own {
                identity: "bob@example.com".into(),
                approver_keys: vec!["bob@example.com".into(), "group:sre".into()],
            }
        );
        assert!(Scope::All.records_clause(1).is_none());
        let (clause, me, keys) = readers.of(&bob).records_clause(3).expect("a clause");
        assert!(clause.contains("received_from = $3") && clause.contains("?| $4::text[]"));
        assert_eq!((me.as_str(), keys.len()), ("bob@example.com", 2));
    }

    #[test]
    fn a_share_admits_its_owner_auditors_and_whoever_both_lists_name() {
        let open = Readers {
            auditors: vec!["group:audit".into()],
            share_watchers: None,
        };
        let sre_only = Readers {
            share_watchers: Some(vec!["group:sre".into()]),
            ..open.clone()
        };
        let alice = Identity("alice@example.com".into(), vec![]);
        let bob = Identity("bob@example.com".into(), vec!["sre".into()]);
        let dave = Identity("dave@example.com".into(), vec![]);
        let dana = Identity("dana@example.com".into(), vec!["audit".into()]);
        let owner = "alice@example.com";
        let named = ["bob@example.com".to_string()];
        // Unrestricted: anyone authenticated.
        assert!(open.may_watch(&dave, owner, None));
        // The sharer names bob: bob, the owner and an auditor, not dave.
        for (who, may) in [(&bob, true), (&alice, true), (&dana, true), (&dave, false)] {
            assert_eq!(open.may_watch(who, owner, Some(&named)), may, "{}", who.0);
        }
        // The server admits group sre only: dave is out even where the sharer names nobody.
        assert!(!sre_only.may_watch(&dave, owner, None));
        assert!(sre_only.may_watch(&bob, owner, None));
        assert!(sre_only.may_watch(&alice, owner, None));
        assert!(!sre_only.may_watch(&bob, owner, Some(&["carol@example.com".to_string()])));
    }
}
