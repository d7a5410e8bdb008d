//! Delegated actions from the client's side: the guard executor's [`Delegate`] for contexts
//! with `via = "server"`, and the approvals calls (`warroom approvals list`, `approve`, `deny`).
//!
//! The server answers with the request's state; this module turns it into the same
//! [`ActionReport`] a local action produces, so the result line reads the same.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CallFailure, ServerClient, path_segment};
use crate::guard::wire::{ActionReply, ActionRequest};
use crate::guard::{ActionReport, Delegate, GuardedAction, Outcome};

/// How long one `POST /v1/actions` may take (the server's action timeout plus its audit).
const ACTION_CALL: Duration = Duration::from_secs(60);
/// One long-poll of `GET /v1/actions/{id}/wait` (the server answers within 25 s).
const WAIT_POLL: u64 = 25;
/// Plain calls (list, approve answers after running the action: as long as an action).
const PLAIN_CALL: Duration = Duration::from_secs(15);

/// A request waiting for approval, as the requester is told about it: read from the pending
/// request's row (the server's answer, or a demo desk file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PendingNotice {
    #[serde(rename = "id")]
    pub request_id: String,
    pub approvers: Vec<String>,
    pub expires_at: Option<String>,
}

/// Called once when a request becomes pending (the CLI prints it; the TUI shows a layer).
pub type OnPending = Arc<dyn Fn(&PendingNotice) + Send + Sync>;

pub struct ServerDelegate {
    client: ServerClient,
    /// Wait for the approval (the default) or return at once (`--no-wait`).
    wait: bool,
    on_pending: Option<OnPending>,
}

impl ServerDelegate {
    pub fn new(client: ServerClient, wait: bool) -> ServerDelegate {
        ServerDelegate {
            client,
            wait,
            on_pending: None,
        }
    }

    pub fn on_pending(mut self, f: OnPending) -> ServerDelegate {
        self.on_pending = Some(f);
        self
    }

    async fn send(&self, request: ActionRequest) -> ActionReport {
        let action = &request.action;
        let not_done = |detail: String| ActionReport::not_done(action, detail);
        let body = match serde_json::to_value(&request) {
            Ok(b) => b,
            Err(e) => return not_done(format!("the request could not be encoded: {e}")),
        };
        let answer = self
            .client
            .call(Method::POST, "v1/actions", Some(&body), ACTION_CALL)
            .await;
        let (status, value) = match answer {
            Ok(a) => a,
            Err(CallFailure::NotSent(why)) => return not_done(format!("{why}; nothing was done")),
            Err(CallFailure::NoAnswer(why)) => {
                return ActionReport {
                    outcome: Outcome::Unknown,
                    ..not_done(format!(
                        "{why}: the server may or may not have acted; check the target and \
                         the server's audit trail"
                    ))
                };
            }
        };
        let mut row = match status {
            200 | 202 => value,
            403 => {
                let mut report = not_done(format!("{} (nothing was done)", error_text(&value)));
                report.audit_id = value
                    .get("audit_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                return report;
            }
            _ => {
                return not_done(format!(
                    "the server answered {status}: {} (nothing was done)",
                    error_text(&value)
                ));
            }
        };
        if text(&row, "status") == "pending" {
            let notice = PendingNotice::deserialize(&row).unwrap_or_default();
            let id = notice.request_id.clone();
            if let Some(f) = &self.on_pending {
                f(&notice);
            }
            if !self.wait {
                return not_done(format!(
                    "waiting for approval: request {id} (approvers: {}); nothing has run yet",
                    notice.approvers.join(", ")
                ));
            }
            let expires = notice
                .expires_at
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339(t).ok());
            row = match self.wait_final(&id, expires).await {
                Ok(r) => r,
                Err(why) => {
                    return not_done(format!(
                        "{why}; request {id} may still be approved and run: `warroom approvals \
                         list` shows it"
                    ));
                }
            };
        }
        report_of(action, &row)
    }

    /// Long-polls until the request is final. Gives up when the server stays unreachable a
    /// minute past the request's expiry; the report then says where to look (it may have been
    /// approved and run meanwhile).
    async fn wait_final(
        &self,
        id: &str,
        expires: Option<std::time::SystemTime>,
    ) -> Result<Value, String> {
        let path = format!("v1/actions/{}/wait?timeout={WAIT_POLL}", path_segment(id));
        let give_up = expires.unwrap_or_else(std::time::SystemTime::now) + Duration::from_secs(60);
        loop {
            let timeout = Duration::from_secs(WAIT_POLL + 10);
            match self.client.call(Method::GET, &path, None, timeout).await {
                Ok((200, row)) if is_final(&row) => return Ok(row),
                Ok((200, _)) => continue,
                Ok((status, v)) => {
                    return Err(format!("the server answered {status}: {}", error_text(&v)));
                }
                Err(e) => {
                    if std::time::SystemTime::now() > give_up {
                        return Err(format!("no answer while waiting: {}", e.text()));
                    }
                    // A lost connection is not an answer: try again after a moment.
                    tracing::warn!(error = %e.text(), "waiting for approval");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

impl Delegate for ServerDelegate {
    fn run(&self, request: ActionRequest) -> BoxFuture<'_, ActionReport> {
        Box::pin(self.send(request))
    }
}

pub(super) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn error_text(v: &Value) -> String {
    crate::sanitize::lines(text(v, "error"), 500)
}

fn is_final(row: &Value) -> bool {
    !matches!(text(row, "status"), "pending" | "running")
}

/// The report for a final request: its result, or who stopped it and why.
pub fn report_of(action: &GuardedAction, row: &Value) -> ActionReport {
    let clean = |s: &str| crate::sanitize::lines(s, 500);
    let status = text(row, "status");
    if let Some(reply) = row
        .get("reply")
        .filter(|r| !r.is_null())
        .and_then(|r| serde_json::from_value::<ActionReply>(r.clone()).ok())
    {
        let mut report = reply.into_report(action.clone());
        report.detail = clean(&report.detail);
        if let Some(by) = row.get("decided_by").and_then(Value::as_str) {
            report
                .detail
                .push_str(&format!("; approved by {}", clean(by)));
        }
        return report;
    }
    let detail = match status {
        "denied" => format!(
            "denied by {}: {} (nothing was done)",
            clean(text(row, "decided_by")),
            clean(text(row, "decided_reason"))
        ),
        _ => format!("{}: {}", clean(status), clean(text(row, "detail"))),
    };
    ActionReport::not_done(action, detail)
}

/// `GET /v1/approvals`: the pending requests.
pub async fn pending(client: &ServerClient) -> Result<Vec<Value>, String> {
    let reply = client
        .call(Method::GET, "v1/approvals", None, PLAIN_CALL)
        .await;
    let list = answer(client, reply)?;
    Ok(list
        .get("requests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Approve or deny request `id` with the decider's own reason; the request's state after.
/// An approver's answer to a pending request, with the approver's own reason. `binding` is
/// the request as the approver saw it: the answer is refused if the request is another by now.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    pub id: &'a str,
    pub approve: bool,
    pub reason: &'a str,
    pub binding: Option<&'a str>,
}

pub async fn decide(client: &ServerClient, verdict: Verdict<'_>) -> Result<Value, String> {
    let verb = if verdict.approve { "approve" } else { "deny" };
    let path = format!("v1/actions/{}/{verb}", path_segment(verdict.id));
    let body = json!({"reason": verdict.reason, "binding": verdict.binding});
    let reply = client
        .call(Method::POST, &path, Some(&body), ACTION_CALL)
        .await;
    answer(client, reply)
}

/// The requester withdraws a pending request.
pub async fn withdraw(client: &ServerClient, id: &str) -> Result<Value, String> {
    let path = format!("v1/actions/{}/withdraw", path_segment(id));
    answer(
        client,
        client.call(Method::POST, &path, None, PLAIN_CALL).await,
    )
}

/// A 200 answer's body, or what the server (or the way to it) said.
fn answer(
    client: &ServerClient,
    reply: Result<(u16, Value), CallFailure>,
) -> Result<Value, String> {
    match reply {
        Ok((200, v)) => Ok(v),
        Ok((status, v)) => Err(format!(
            "{} answered {status}: {}",
            client.display(),
            error_text(&v)
        )),
        Err(e) => Err(e.text().to_string()),
    }
}

/// One line per pending request for `warroom approvals list`.
pub fn render_line(row: &Value) -> String {
    let clean = |s: &str| crate::sanitize::lines(s, 200);
    format!(
        "{}  {}  {} on {} by {}  reason: {}  expires {}{}",
        clean(text(row, "id")),
        clean(text(row, "action")),
        clean(text(row, "summary")),
        clean(text(row, "context")),
        clean(text(row, "requester")),
        clean(text(row, "reason")),
        clean(text(row, "expires_at")),
        if row.get("can_decide").and_then(Value::as_bool) == Some(true) {
            "  [you can approve]"
        } else {
            ""
        }
    )
}

/// Where pending requests are listed and decided: the `[server]`, or the demo's local desk
/// (two terminals, no server). The TUI's badge, waiting layer and `:approvals` use this.
pub trait ApprovalDesk: Send + Sync {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<Value>, String>>;
    fn decide<'a>(&'a self, verdict: Verdict<'a>) -> BoxFuture<'a, Result<Value, String>>;
    fn withdraw<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Value, String>>;
}

impl ApprovalDesk for ServerClient {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<Value>, String>> {
        Box::pin(pending(self))
    }

    fn decide<'a>(&'a self, verdict: Verdict<'a>) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(decide(self, verdict))
    }

    fn withdraw<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(withdraw(self, id))
    }
}
