//! Delegated actions from the client's side: the guard executor's [`Delegate`] for contexts
//! with `via = "server"`, and the approvals calls (`warroom approvals list`, `approve`, `deny`).
//!
//! The server answers with the request's state; this module turns it into the same
//! [`ActionReport`] a local action produces, so the result line reads the same.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Method;

use super::{Answer, CallFailure, ServerClient, path_segment};
use warroom_core::guard::wire::{ActionReply, ActionRequest};
use warroom_core::guard::{ActionReport, Delegate, GuardedAction, Outcome};
use warroom_core::protocol::requests::{Approvals, Refusal, RequestState, RequestStatus};

/// How long one `POST /v1/actions` may take (the server's action timeout plus its audit).
const ACTION_CALL: Duration = Duration::from_secs(60);
/// One long-poll of `GET /v1/actions/{id}/wait` (the server answers within 25 s).
const WAIT_POLL: u64 = 25;
/// Plain calls (list, approve answers after running the action: as long as an action).
const PLAIN_CALL: Duration = Duration::from_secs(15);

/// Called once when a request becomes pending (the CLI prints it; the TUI shows a layer).
pub type OnPending = Arc<dyn Fn(&RequestState) + Send + Sync>;

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
        let answer = self
            .client
            .call(Method::POST, "v1/actions", Some(&request), ACTION_CALL)
            .await;
        let (status, answer) = match answer {
            Ok(a) => a,
            Err(CallFailure::NotSent(why)) => return not_done(format!("{why}; nothing was done")),
            Err(CallFailure::NoAnswer(why)) => return unknown(action, &why),
        };
        let mut state = match status {
            200 | 202 => match answer.parse::<RequestState>() {
                Ok(state) => state,
                // The server answered that it took the request, in a form this client cannot
                // read: it may have acted.
                Err(e) => return unknown(action, &format!("{}: {e}", self.client.display())),
            },
            403 => {
                let (detail, audit_id) = match answer.parse::<Refusal>() {
                    Ok(r) => (r.error.error, r.audit_id),
                    Err(_) => (answer.error(), None),
                };
                let mut report = not_done(format!("{} (nothing was done)", clean(&detail)));
                report.audit_id = audit_id;
                return report;
            }
            // A gateway's answer (a balancer in front of the server): the server it sent the
            // request to did not answer, and may have acted.
            502 | 504 => {
                let why = format!("{} answered {status}", self.client.display());
                return unknown(action, &why);
            }
            _ => {
                return not_done(format!(
                    "the server answered {status}: {} (nothing was done)",
                    answer.error()
                ));
            }
        };
        if state.status == RequestStatus::Pending {
            let id = state.id.clone();
            if let Some(f) = &self.on_pending {
                f(&state);
            }
            if !self.wait {
                return not_done(format!(
                    "waiting for approval: request {id} (approvers: {}); nothing has run yet",
                    state.approvers.join(", ")
                ));
            }
            let expires = state
                .expires_at
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339(t).ok());
            state = match self.wait_final(&id, expires).await {
                Ok(r) => r,
                Err(why) => {
                    return not_done(format!(
                        "{why}; request {id} may still be approved and run: `warroom approvals \
                         list` shows it"
                    ));
                }
            };
        }
        report_of(action, &state)
    }

    /// Long-polls until the request is final. Gives up when the server stays unreachable a
    /// minute past the request's expiry; the report then says where to look (it may have been
    /// approved and run meanwhile).
    async fn wait_final(
        &self,
        id: &str,
        expires: Option<std::time::SystemTime>,
    ) -> Result<RequestState, String> {
        let path = format!("v1/actions/{}/wait?timeout={WAIT_POLL}", path_segment(id));
        let give_up = expires.unwrap_or_else(std::time::SystemTime::now) + Duration::from_secs(60);
        loop {
            let timeout = Duration::from_secs(WAIT_POLL + 10);
            match self
                .client
                .call(Method::GET, &path, None::<&()>, timeout)
                .await
            {
                Ok((200, answer)) => {
                    let state: RequestState = answer.parse()?;
                    if state.status.is_final() {
                        return Ok(state);
                    }
                }
                // The database restarting (503), or no replica behind a balancer answering
                // (502, 504): no decision was read, so the request may still be approved and
                // run; keep waiting as for a lost connection.
                Ok((status @ 502..=504, answer)) if std::time::SystemTime::now() <= give_up => {
                    tracing::warn!(status, error = %answer.error(), "waiting for approval");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok((status, answer)) => {
                    return Err(format!("the server answered {status}: {}", answer.error()));
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

/// Sent, but no answer to read: the server may or may not have acted.
fn unknown(action: &GuardedAction, why: &str) -> ActionReport {
    ActionReport {
        outcome: Outcome::Unknown,
        ..ActionReport::not_done(
            action,
            format!(
                "{why}: the server may or may not have acted; check the target and the server's \
                 audit trail"
            ),
        )
    }
}

fn clean(s: &str) -> String {
    warroom_core::sanitize::lines(s, 500)
}

/// The report for a final request: its result, or who stopped it and why.
pub fn report_of(action: &GuardedAction, state: &RequestState) -> ActionReport {
    if let Some(reply) = &state.reply {
        let mut report = ActionReply::into_report(reply.clone(), action.clone());
        report.detail = clean(&report.detail);
        if let Some(d) = &state.decision {
            report
                .detail
                .push_str(&format!("; approved by {}", clean(&d.by)));
        }
        return report;
    }
    let detail = match state.status {
        RequestStatus::Denied => {
            let (by, why) = state
                .decision
                .as_ref()
                .map_or(("", ""), |d| (d.by.as_str(), d.reason.as_str()));
            format!("denied by {}: {} (nothing was done)", clean(by), clean(why))
        }
        other => format!("{}: {}", other.as_str(), clean(&state.detail)),
    };
    ActionReport::not_done(action, detail)
}

/// `GET /v1/approvals`: the pending requests.
pub async fn pending(client: &ServerClient) -> Result<Vec<RequestState>, String> {
    let reply = client
        .call(Method::GET, "v1/approvals", None::<&()>, PLAIN_CALL)
        .await;
    Ok(answer::<Approvals>(client, reply)?.requests)
}

/// An approver's answer to a pending request, with the approver's own reason. `binding` is
/// the request as the approver saw it: the answer is refused if the request is another by now.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    pub id: &'a str,
    pub approve: bool,
    pub reason: &'a str,
    pub binding: Option<&'a str>,
}

/// Approve or deny request `id` with the decider's own reason; the request's state after.
pub async fn decide(client: &ServerClient, verdict: Verdict<'_>) -> Result<RequestState, String> {
    let verb = if verdict.approve { "approve" } else { "deny" };
    let path = format!("v1/actions/{}/{verb}", path_segment(verdict.id));
    let body = warroom_core::protocol::requests::Verdict {
        reason: verdict.reason.to_string(),
        binding: verdict.binding.map(str::to_string),
    };
    let reply = client
        .call(Method::POST, &path, Some(&body), ACTION_CALL)
        .await;
    answer(client, reply)
}

/// The requester withdraws a pending request.
pub async fn withdraw(client: &ServerClient, id: &str) -> Result<RequestState, String> {
    let path = format!("v1/actions/{}/withdraw", path_segment(id));
    answer(
        client,
        client
            .call(Method::POST, &path, None::<&()>, PLAIN_CALL)
            .await,
    )
}

/// A 200 answer's body as a `T`, or what the server (or the way to it) said.
fn answer<T: serde::de::DeserializeOwned>(
    client: &ServerClient,
    reply: Result<(u16, Answer), CallFailure>,
) -> Result<T, String> {
    match reply {
        Ok((200, answer)) => client.parse(&answer),
        Ok((status, answer)) => Err(format!(
            "{} answered {status}: {}",
            client.display(),
            answer.error()
        )),
        Err(e) => Err(e.text().to_string()),
    }
}

/// One line per pending request for `warroom approvals list`.
pub fn render_line(row: &RequestState) -> String {
    let clean = |s: &str| warroom_core::sanitize::lines(s, 200);
    format!(
        "{}  {}  {} on {} by {}  reason: {}  expires {}{}",
        clean(&row.id),
        row.action,
        clean(&row.summary),
        clean(&row.context),
        clean(&row.requester),
        clean(&row.reason),
        clean(row.expires_at.as_deref().unwrap_or("")),
        if row.can_decide == Some(true) {
            "  [you can approve]"
        } else {
            ""
        }
    )
}

/// Where pending requests are listed and decided: the `[server]`, or the demo's local desk
/// (two terminals, no server). The TUI's badge, waiting layer and `:approvals` use this.
pub trait ApprovalDesk: Send + Sync {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<RequestState>, String>>;
    fn decide<'a>(&'a self, verdict: Verdict<'a>) -> BoxFuture<'a, Result<RequestState, String>>;
    fn withdraw<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<RequestState, String>>;
}

impl ApprovalDesk for ServerClient {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<RequestState>, String>> {
        Box::pin(pending(self))
    }

    fn decide<'a>(&'a self, verdict: Verdict<'a>) -> BoxFuture<'a, Result<RequestState, String>> {
        Box::pin(decide(self, verdict))
    }

    fn withdraw<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<RequestState, String>> {
        Box::pin(withdraw(self, id))
    }
}
