//! Delegated action requests on the wire: what `POST /v1/actions`, `GET /v1/actions/{id}`
//! (and `/wait`), approve, deny, withdraw and `GET /v1/approvals` answer, and what an
//! approver sends. The server writes these from its rows; the client and the TUI read them.

use serde::{Deserialize, Serialize};

use crate::guard::ActionName;
use crate::guard::wire::ActionReply;

/// Where a request stands. `Pending` waits for an approver, `Running` is being acted on;
/// every other status is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Running,
    Done,
    Failed,
    Unknown,
    /// Refused by the server's policy or reason rules.
    Refused,
    /// Allowed, but nothing was run (the target changed, the executor refused).
    NotDone,
    Denied,
    Expired,
    Withdrawn,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 10] = [
        RequestStatus::Pending,
        RequestStatus::Running,
        RequestStatus::Done,
        RequestStatus::Failed,
        RequestStatus::Unknown,
        RequestStatus::Refused,
        RequestStatus::NotDone,
        RequestStatus::Denied,
        RequestStatus::Expired,
        RequestStatus::Withdrawn,
    ];

    /// The status as stored in `action_requests.status` and sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Running => "running",
            RequestStatus::Done => "done",
            RequestStatus::Failed => "failed",
            RequestStatus::Unknown => "unknown",
            RequestStatus::Refused => "refused",
            RequestStatus::NotDone => "not_done",
            RequestStatus::Denied => "denied",
            RequestStatus::Expired => "expired",
            RequestStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<RequestStatus> {
        RequestStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing changes any more.
    pub const fn is_final(self) -> bool {
        match self {
            RequestStatus::Pending | RequestStatus::Running => false,
            RequestStatus::Done
            | RequestStatus::Failed
            | RequestStatus::Unknown
            | RequestStatus::Refused
            | RequestStatus::NotDone
            | RequestStatus::Denied
            | RequestStatus::Expired
            | RequestStatus::Withdrawn => true,
        }
    }
}

/// One request as the server tells it. Times are RFC 3339 (milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestState {
    pub id: String,
    pub created_at: String,
    /// The requester's identity, as the server authenticated it.
    pub requester: String,
    pub context: String,
    #[serde(with = "action_name")]
    pub action: ActionName,
    /// The action and its target in one line.
    pub summary: String,
    /// The exact effect, as the confirmation showed it (the server's reading of the target).
    pub description: Vec<String>,
    pub reason: String,
    /// What an approval is bound to: the approver sends it back with the verdict.
    pub binding: String,
    pub rule: Option<String>,
    pub status: RequestStatus,
    pub detail: String,
    pub approvers: Vec<String>,
    pub expires_at: Option<String>,
    /// The approver's or denier's answer, once there is one.
    pub decision: Option<Decided>,
    pub finished_at: Option<String>,
    /// The executor's answer, once the action ran (or was refused by the executor).
    pub reply: Option<ActionReply>,
    /// In `GET /v1/approvals` only: whether the caller may approve or deny it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_decide: Option<bool>,
}

/// Who approved or denied a request, with their own reason, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decided {
    /// The decider, as the server authenticated them.
    pub by: String,
    pub reason: String,
    pub at: String,
}

/// `GET /v1/approvals`: the pending requests, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    pub requests: Vec<RequestState>,
}

/// The body of `POST /v1/actions/{id}/approve` and `/deny`: the decider's own reason and the
/// binding of the request as they saw it (an approval of another request is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub reason: String,
    #[serde(default)]
    pub binding: Option<String>,
}

/// `POST /v1/actions` refused by the server's policy (403): which rule, why, and the audit
/// record of the refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    #[serde(flatten)]
    pub error: ErrorBody,
    pub rule: Option<String>,
    pub why: String,
    pub request_id: String,
    pub audit_id: Option<String>,
}

/// Every error answer of the API: `{"error": "...", "status": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
}

/// An action's name as its string in the registry.
mod action_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::guard::ActionName;

    pub fn serialize<S: Serializer>(name: &ActionName, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ActionName, D::Error> {
        let text = String::deserialize(d)?;
        ActionName::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown action {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_their_stored_names_and_only_two_are_open() {
        for s in RequestStatus::ALL {
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
        }
        let open: Vec<_> = RequestStatus::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(open, [RequestStatus::Pending, RequestStatus::Running]);
    }
}
