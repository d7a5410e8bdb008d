//! `:approvals`: the requests on the `[server]` waiting for a second person. The full
//! description, target and reason of the selected one; `approval_approve` (`a`) and
//! `approval_deny` (`d`) decide it, each with the approver's own typed reason (the server
//! refuses the requester's own requests).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use warroom_core::protocol::requests::RequestState;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::panes::Hint;
use crate::widgets::chrome::{popup, text_body};
use crate::widgets::input::TextInput;
use crate::widgets::layout::centered;
use warroom_core::sanitize;

pub(super) const HINTS: &[Hint] = &[
    (&[KeyAction::ScrollDown, KeyAction::ScrollUp], "select"),
    (&[KeyAction::ApprovalApprove], "approve"),
    (&[KeyAction::ApprovalDeny], "deny"),
    (&[KeyAction::ScrollClose], "close"),
];

pub(super) const TYPING_HINTS: &[Hint] = &[
    (&[KeyAction::PromptSubmit], "send"),
    (&[KeyAction::PromptAbort], "back"),
];

/// Fewest characters of an approver's reason (the server's rule too).
const MIN_REASON: usize = 10;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalsView {
    /// The pending requests as the server lists them; `None` until the first answer.
    pub rows: Option<Vec<RequestState>>,
    pub error: Option<String>,
    pub selected: usize,
    /// Typing a reason: (approve?, the input).
    pub typing: Option<(bool, TextInput)>,
}

impl ApprovalsView {
    pub(super) fn is_typing(&self) -> bool {
        self.typing.is_some()
    }

    fn current(&self) -> Option<&RequestState> {
        self.rows.as_ref()?.get(self.selected)
    }
}

impl App {
    /// `:approvals`: open the view and ask the runtime for the list.
    pub(in crate::app) fn open_approvals(&mut self) -> Vec<Command> {
        self.layers.push(Layer::Approvals(ApprovalsView::default()));
        vec![Command::ListApprovals]
    }

    /// A fresh list (or why there is none) for the open view.
    pub(in crate::app) fn approvals_listed(&mut self, result: Result<Vec<RequestState>, String>) {
        for layer in &mut self.layers {
            if let Layer::Approvals(v) = layer {
                match &result {
                    Ok(rows) => {
                        v.selected = v.selected.min(rows.len().saturating_sub(1));
                        v.rows = Some(rows.clone());
                        v.error = None;
                    }
                    Err(e) => v.error = Some(e.clone()),
                }
            }
        }
    }

    pub(super) fn approvals_key(&mut self, mut view: ApprovalsView, key: LayerKey) -> Vec<Command> {
        if let Some((approve, mut input)) = view.typing.take() {
            match key.action {
                Some(KeyAction::PromptAbort) => {}
                Some(KeyAction::PromptSubmit) => {
                    let reason = input.value().trim().to_string();
                    if reason.chars().count() < MIN_REASON {
                        self.warn(format!(
                            "give your own reason (at least {MIN_REASON} characters)"
                        ));
                        view.typing = Some((approve, input));
                    } else if let Some(row) = view.current() {
                        let cmd = Command::DecideRequest {
                            id: row.id.clone(),
                            approve,
                            reason,
                            binding: row.binding.clone(),
                        };
                        self.say(format!(
                            "{} request {}…",
                            if approve { "approving" } else { "denying" },
                            sanitize::cell(&row.id, 40)
                        ));
                        self.layers.push(Layer::Approvals(view));
                        return vec![cmd];
                    }
                }
                _ => {
                    input.handle_key(&key.event);
                    view.typing = Some((approve, input));
                }
            }
            self.layers.push(Layer::Approvals(view));
            return Vec::new();
        }
        let count = view.rows.as_ref().map_or(0, Vec::len);
        match key.action {
            Some(KeyAction::ScrollClose) => return Vec::new(),
            Some(KeyAction::ScrollDown) => {
                view.selected = (view.selected + 1).min(count.saturating_sub(1));
            }
            Some(KeyAction::ScrollUp) => view.selected = view.selected.saturating_sub(1),
            Some(a @ (KeyAction::ApprovalApprove | KeyAction::ApprovalDeny)) => {
                match view.current() {
                    Some(row) if row.can_decide == Some(true) => {
                        view.typing = Some((a == KeyAction::ApprovalApprove, TextInput::default()));
                    }
                    Some(_) => self.warn(
                        "you cannot decide this request (your own, or you are not an approver)",
                    ),
                    None => {}
                }
            }
            _ => {}
        }
        self.layers.push(Layer::Approvals(view));
        Vec::new()
    }

    pub(super) fn draw_approvals(&self, frame: &mut Frame<'_>, area: Rect, v: &ApprovalsView) {
        let rect = centered(area, 110, area.height.saturating_sub(2).max(8));
        let n = v.rows.as_ref().map_or(0, Vec::len);
        let inner = popup(
            frame,
            rect,
            &format!("approvals: {n} waiting"),
            self.theme.border(),
        );
        let clean = |s: &str| sanitize::cell(s, 300);
        let mut lines = Vec::new();
        if let Some(e) = &v.error {
            lines.push(Line::styled(format!("✖ {}", clean(e)), self.theme.danger()));
        }
        match &v.rows {
            None => lines.push(Line::styled("loading…", self.theme.muted())),
            Some(rows) if rows.is_empty() => {
                lines.push(Line::styled("no approval waiting", self.theme.muted()))
            }
            Some(rows) => {
                for (i, r) in rows.iter().enumerate() {
                    let line = format!(
                        "{} {}  {} on {} by {}{}",
                        if i == v.selected { "▶" } else { " " },
                        r.action,
                        clean(&r.summary),
                        clean(&r.context),
                        clean(&r.requester),
                        if r.can_decide == Some(true) {
                            ""
                        } else {
                            "  (not yours to decide)"
                        }
                    );
                    lines.push(if i == v.selected {
                        Line::styled(line, self.theme.selection())
                    } else {
                        Line::from(line)
                    });
                }
                if let Some(r) = v.current() {
                    lines.push(Line::from(""));
                    lines.push(Line::from(format!("request {}", clean(&r.id))));
                    for d in &r.description {
                        lines.push(Line::from(clean(d)));
                    }
                    lines.push(Line::from(format!("reason: {}", clean(&r.reason))));
                    lines.push(Line::from(format!(
                        "rule: {}; expires {}",
                        clean(r.rule.as_deref().unwrap_or("")),
                        clean(r.expires_at.as_deref().unwrap_or(""))
                    )));
                }
            }
        }
        if let Some((approve, input)) = &v.typing {
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    "{} — your reason: {}▏",
                    if *approve { "APPROVE" } else { "DENY" },
                    clean(input.value())
                ),
                self.theme.accent(),
            ));
        }
        text_body(frame, inner, lines, 0);
    }
}
