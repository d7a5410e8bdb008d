//! The demo's approvals scene, two terminals and no server: `warroom demo --join` (the junior:
//! every demo action needs approval) and `warroom demo --as-approver` (the trainer: the badge,
//! `:approvals`, approve or deny with a reason). They meet in a folder of JSON files in the
//! state directory, one per request, in the same shape as the server's answers.
//!
//! A simulation for training, not a security boundary: identities are fixed names
//! ("junior@demo", "trainer@demo") and the files can be edited by anyone who can write them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use warroom_client::actions::{ApprovalDesk, OnPending, Verdict, report_of};
use warroom_core::guard::wire::ActionRequest;
use warroom_core::guard::{ActionReport, Delegate, Executor, GuardRequest, GuardedAction};
use warroom_core::protocol::requests::{Decided, RequestState, RequestStatus};

pub const JUNIOR: &str = "junior@demo";
pub const TRAINER: &str = "trainer@demo";
/// How long a demo request waits for the trainer.
const TIMEOUT: Duration = Duration::from_secs(600);
/// How often the junior's waiting request re-reads its file.
const POLL: Duration = Duration::from_millis(200);

pub struct DemoDesk {
    dir: PathBuf,
    me: String,
}

fn now_text() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl DemoDesk {
    pub fn new(dir: &Path, me: &str) -> Result<DemoDesk, String> {
        warroom_core::private_fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(DemoDesk {
            dir: dir.to_path_buf(),
            me: me.to_string(),
        })
    }

    /// `demo-approvals/` in the state directory.
    pub fn default_dir() -> PathBuf {
        warroom_core::config::state_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("demo-approvals")
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        // Ids are uuids: anything else is not a file of ours.
        let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        ok.then(|| self.dir.join(format!("{id}.json")))
    }

    fn read(&self, id: &str) -> Option<RequestState> {
        let text = std::fs::read_to_string(self.path(id)?).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, row: &RequestState) -> Result<(), String> {
        let Some(path) = self.path(&row.id) else {
            return Err("a request without an id".into());
        };
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string(row).map_err(|e| format!("request {}: {e}", row.id))?;
        warroom_core::private_fs::write(&tmp, text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Marks a pending request expired (nothing was done), in its file too.
    fn expire(&self, row: &mut RequestState) {
        row.status = RequestStatus::Expired;
        row.detail = "no approval before the request expired: nothing was done".into();
        let _ = self.write(row);
    }

    /// Every pending request (expired ones are marked so first).
    fn pending_rows(&self) -> Vec<RequestState> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut rows: Vec<RequestState> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str::<RequestState>(&t).ok())
            .filter(|r| r.status == RequestStatus::Pending)
            .collect();
        let now = SystemTime::now();
        for r in &mut rows {
            let expired = r
                .expires_at
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .is_some_and(|t| t <= now);
            if expired {
                self.expire(r);
            }
        }
        rows.retain(|r| r.status == RequestStatus::Pending);
        rows.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        for r in &mut rows {
            r.can_decide = Some(r.requester != self.me);
        }
        rows
    }
}

impl ApprovalDesk for DemoDesk {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<RequestState>, String>> {
        Box::pin(async move { Ok(self.pending_rows()) })
    }

    fn decide<'a>(&'a self, verdict: Verdict<'a>) -> BoxFuture<'a, Result<RequestState, String>> {
        let Verdict {
            id,
            approve,
            reason,
            binding,
        } = verdict;
        Box::pin(async move {
            let Some(mut row) = self.read(id) else {
                return Err(format!("no request {id}"));
            };
            if row.requester == self.me {
                return Err("you cannot approve or deny your own request".into());
            }
            if row.status != RequestStatus::Pending {
                return Err(format!(
                    "request {id} is {}: it cannot be decided again",
                    row.status.as_str()
                ));
            }
            if binding.is_some_and(|b| b != row.binding) {
                return Err("this approval is for another request: nothing was done".into());
            }
            // Approved: running, as on a server; the junior's warroom runs it.
            row.status = if approve {
                RequestStatus::Running
            } else {
                RequestStatus::Denied
            };
            row.decision = Some(Decided {
                by: self.me.clone(),
                reason: reason.to_string(),
                at: now_text(),
            });
            row.detail = if approve {
                format!("approved by {}: the junior's warroom runs it", self.me)
            } else {
                format!("denied by {}: {reason}; nothing was done", self.me)
            };
            self.write(&row)?;
            Ok(row)
        })
    }

    fn withdraw<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<RequestState, String>> {
        Box::pin(async move {
            let Some(mut row) = self.read(id) else {
                return Err(format!("no request {id}"));
            };
            if row.requester != self.me || row.status != RequestStatus::Pending {
                return Err(format!("request {id} is not a pending request of yours"));
            }
            row.status = RequestStatus::Withdrawn;
            row.detail = "withdrawn by the requester: nothing was done".into();
            self.write(&row)?;
            Ok(row)
        })
    }
}

/// A new request of `requester`, waiting for the trainer until `expires`.
fn pending_row(
    id: &str,
    requester: &str,
    action: &GuardedAction,
    reason: &str,
    binding: String,
    expires: SystemTime,
) -> RequestState {
    RequestState {
        id: id.to_string(),
        created_at: now_text(),
        requester: requester.to_string(),
        context: action.context().to_string(),
        action: action.name(),
        summary: action.target_summary(),
        description: action.describe(),
        reason: reason.to_string(),
        binding,
        rule: Some("demo: every action needs the trainer".into()),
        status: RequestStatus::Pending,
        detail: "waiting for approval".into(),
        approvers: vec![TRAINER.into()],
        expires_at: Some(humantime::format_rfc3339_millis(expires).to_string()),
        decision: None,
        finished_at: None,
        reply: None,
        can_decide: None,
    }
}

/// Builds the local executor that runs an approved action, with the approval noted in its
/// audit record.
pub type ExecutorFor = Arc<dyn Fn(Value) -> Executor + Send + Sync>;

/// The junior's delegate: the request waits in the desk until the trainer decides.
pub struct DemoDelegate {
    pub desk: Arc<DemoDesk>,
    pub executor_for: ExecutorFor,
    pub on_pending: Option<OnPending>,
}

impl DemoDelegate {
    async fn request(&self, request: ActionRequest) -> ActionReport {
        let (action, reason) = (&request.action, &request.reason);
        let not_done = |detail: String| ActionReport::not_done(action, detail);
        let id = uuid::Uuid::new_v4().to_string();
        let binding = hex::encode(Sha256::digest(
            format!(
                "{id}\n{}\n{reason}",
                warroom_core::audit::canonical_json(&action.audit_target())
            )
            .as_bytes(),
        ));
        let expires = SystemTime::now() + TIMEOUT;
        let row = pending_row(&id, &self.desk.me, action, reason, binding, expires);
        if let Err(e) = self.desk.write(&row) {
            return not_done(format!("{e}; nothing was done"));
        }
        if let Some(f) = &self.on_pending {
            f(&row);
        }
        let decided = loop {
            tokio::time::sleep(POLL).await;
            let Some(mut now) = self.desk.read(&id) else {
                return not_done(format!("request {id} disappeared: nothing was done"));
            };
            if now.status == RequestStatus::Pending && SystemTime::now() >= expires {
                self.desk.expire(&mut now);
            }
            if now.status != RequestStatus::Pending {
                break now;
            }
        };
        if decided.status != RequestStatus::Running {
            // Denied, withdrawn or expired: said as for a request on a server.
            return report_of(action, &decided);
        }
        let Some(decision) = decided.decision.clone() else {
            return not_done(format!(
                "request {id} is running without a decision: nothing was done"
            ));
        };
        let by = decision.by.clone();
        let note = json!({"request_id": id, "requested_by": self.desk.me,
            "approved_by": decision.by, "approver_reason": decision.reason,
            "approved_at": decision.at});
        let executor = (self.executor_for)(note);
        let confirmed = GuardRequest {
            actions: vec![action.clone()],
            reason: reason.clone(),
            typed_context: request.typed_context.clone(),
        };
        let mut report = match executor.run(confirmed).await.into_iter().next() {
            Some(r) => r,
            None => not_done("nothing was run".into()),
        };
        report.detail.push_str(&format!("; approved by {by}"));
        let done = RequestState {
            status: if report.outcome.ok() {
                RequestStatus::Done
            } else {
                RequestStatus::Failed
            },
            detail: report.detail.clone(),
            finished_at: Some(now_text()),
            ..decided
        };
        let _ = self.desk.write(&done);
        report
    }
}

impl Delegate for DemoDelegate {
    fn run(&self, request: ActionRequest) -> BoxFuture<'_, ActionReport> {
        Box::pin(self.request(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::guard::kafka::{KafkaAction, KafkaGroupTarget};

    #[tokio::test]
    async fn the_requester_cannot_decide_and_a_decision_is_made_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junior = DemoDesk::new(dir.path(), JUNIOR).expect("desk");
        let trainer = DemoDesk::new(dir.path(), TRAINER).expect("desk");
        let id = "0b7c6a52-0000-4000-8000-000000000001";
        let action = GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget::empty(
            "k", "billing",
        )));
        let expires = SystemTime::now() + TIMEOUT;
        let row = RequestState {
            binding: "b1".into(),
            ..pending_row(
                id,
                JUNIOR,
                &action,
                "INC-1 the group is stale",
                String::new(),
                expires,
            )
        };
        junior.write(&row).expect("write");
        assert_eq!(
            trainer.pending().await.expect("list")[0].can_decide,
            Some(true)
        );
        assert_eq!(
            junior.pending().await.expect("list")[0].can_decide,
            Some(false)
        );
        let verdict = |approve, reason, binding| Verdict {
            id,
            approve,
            reason,
            binding,
        };
        let own = junior.decide(verdict(true, "looks fine to me", None)).await;
        assert!(own.expect_err("own").contains("your own request"));
        let other = trainer
            .decide(verdict(true, "checked it", Some("b2")))
            .await;
        assert!(other.expect_err("binding").contains("another request"));
        let row = trainer
            .decide(verdict(false, "not now", Some("b1")))
            .await
            .expect("deny");
        assert_eq!(row.status, RequestStatus::Denied);
        let again = trainer.decide(verdict(true, "changed my mind", None)).await;
        assert!(
            again
                .expect_err("twice")
                .contains("cannot be decided again")
        );
        assert!(junior.path("../etc/passwd").is_none());
    }
}
