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
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::actions::{ApprovalDesk, OnPending, PendingNotice, Verdict, report_of, text};
use crate::guard::wire::ActionRequest;
use crate::guard::{ActionReport, Delegate, Executor, GuardRequest};

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
        crate::private_fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(DemoDesk {
            dir: dir.to_path_buf(),
            me: me.to_string(),
        })
    }

    /// `demo-approvals/` in the state directory.
    pub fn default_dir() -> PathBuf {
        crate::config::state_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("demo-approvals")
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        // Ids are uuids: anything else is not a file of ours.
        let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        ok.then(|| self.dir.join(format!("{id}.json")))
    }

    fn read(&self, id: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.path(id)?).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, row: &Value) -> Result<(), String> {
        let Some(path) = self.path(text(row, "id")) else {
            return Err("a request without an id".into());
        };
        let tmp = path.with_extension("tmp");
        crate::private_fs::write(&tmp, row.to_string().as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Marks a pending request expired (nothing was done), in its file too.
    fn expire(&self, row: &mut Value) {
        row["status"] = json!("expired");
        row["detail"] = json!("no approval before the request expired: nothing was done");
        let _ = self.write(row);
    }

    /// Every pending request (expired ones are marked so first).
    fn pending_rows(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut rows: Vec<Value> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
            .filter(|r| text(r, "status") == "pending")
            .collect();
        let now = SystemTime::now();
        for r in &mut rows {
            let expired = humantime::parse_rfc3339(text(r, "expires_at")).is_ok_and(|t| t <= now);
            if expired {
                self.expire(r);
            }
        }
        rows.retain(|r| text(r, "status") == "pending");
        rows.sort_by(|a, b| text(a, "created_at").cmp(text(b, "created_at")));
        for r in &mut rows {
            r["can_decide"] = json!(text(r, "requester") != self.me);
        }
        rows
    }
}

impl ApprovalDesk for DemoDesk {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<Value>, String>> {
        Box::pin(async move { Ok(self.pending_rows()) })
    }

    fn decide<'a>(&'a self, verdict: Verdict<'a>) -> BoxFuture<'a, Result<Value, String>> {
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
            if text(&row, "requester") == self.me {
                return Err("you cannot approve or deny your own request".into());
            }
            if text(&row, "status") != "pending" {
                return Err(format!(
                    "request {id} is {}: it cannot be decided again",
                    text(&row, "status")
                ));
            }
            if binding.is_some_and(|b| b != text(&row, "binding")) {
                return Err("this approval is for another request: nothing was done".into());
            }
            row["status"] = json!(if approve { "approved" } else { "denied" });
            row["decided_by"] = json!(self.me);
            row["decided_reason"] = json!(reason);
            row["decided_at"] = json!(now_text());
            row["detail"] = json!(if approve {
                format!("approved by {}: the junior's warroom runs it", self.me)
            } else {
                format!("denied by {}: {reason}; nothing was done", self.me)
            });
            self.write(&row)?;
            Ok(row)
        })
    }

    fn withdraw<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let Some(mut row) = self.read(id) else {
                return Err(format!("no request {id}"));
            };
            if text(&row, "requester") != self.me || text(&row, "status") != "pending" {
                return Err(format!("request {id} is not a pending request of yours"));
            }
            row["status"] = json!("withdrawn");
            row["detail"] = json!("withdrawn by the requester: nothing was done");
            self.write(&row)?;
            Ok(row)
        })
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
                crate::audit::canonical_json(&action.audit_target())
            )
            .as_bytes(),
        ));
        let expires = SystemTime::now() + TIMEOUT;
        let row = json!({
            "id": id, "created_at": now_text(), "requester": self.desk.me,
            "context": action.context(), "action": action.name(),
            "summary": action.target_summary(), "description": action.describe(),
            "reason": reason, "binding": binding, "rule": "demo: every action needs the trainer",
            "status": "pending", "detail": "waiting for approval", "approvers": [TRAINER],
            "expires_at": humantime::format_rfc3339_millis(expires).to_string(),
        });
        if let Err(e) = self.desk.write(&row) {
            return not_done(format!("{e}; nothing was done"));
        }
        if let Some(f) = &self.on_pending {
            f(&PendingNotice::deserialize(&row).unwrap_or_default());
        }
        let decided = loop {
            tokio::time::sleep(POLL).await;
            let Some(mut now) = self.desk.read(&id) else {
                return not_done(format!("request {id} disappeared: nothing was done"));
            };
            if text(&now, "status") == "pending" && SystemTime::now() >= expires {
                self.desk.expire(&mut now);
            }
            if text(&now, "status") != "pending" {
                break now;
            }
        };
        if text(&decided, "status") != "approved" {
            // Denied or expired: said as for a request on a server.
            return report_of(action, &decided);
        }
        let (by, why) = (
            text(&decided, "decided_by"),
            text(&decided, "decided_reason"),
        );
        let note = json!({"request_id": id, "requested_by": self.desk.me,
            "approved_by": by, "approver_reason": why,
            "approved_at": decided["decided_at"]});
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
        let mut done = decided.clone();
        let ok = report.outcome.ok();
        done["status"] = json!(if ok { "done" } else { "failed" });
        done["detail"] = json!(report.detail);
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

    #[tokio::test]
    async fn the_requester_cannot_decide_and_a_decision_is_made_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junior = DemoDesk::new(dir.path(), JUNIOR).expect("desk");
        let trainer = DemoDesk::new(dir.path(), TRAINER).expect("desk");
        let id = "0b7c6a52-0000-4000-8000-000000000001";
        let far = humantime::format_rfc3339_millis(SystemTime::now() + TIMEOUT).to_string();
        junior
            .write(&json!({"id": id, "requester": JUNIOR, "status": "pending",
                "binding": "b1", "expires_at": far, "created_at": now_text()}))
            .expect("write");
        assert_eq!(
            trainer.pending().await.expect("list")[0]["can_decide"],
            true
        );
        assert_eq!(
            junior.pending().await.expect("list")[0]["can_decide"],
            false
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
        assert_eq!(row["status"], "denied");
        let again = trainer.decide(verdict(true, "changed my mind", None)).await;
        assert!(
            again
                .expect_err("twice")
                .contains("cannot be decided again")
        );
        assert!(junior.path("../etc/passwd").is_none());
    }
}
