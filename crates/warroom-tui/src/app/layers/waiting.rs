//! Waiting for a second person: a delegated action the server holds for approval. Shows the
//! request id, who can approve and the time left; the close key withdraws the request (the
//! result arrives as for any action: "withdrawn", nothing was done).

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::keymap::KeyAction;
use crate::panes::Hint;
use crate::widgets::chrome::{popup, text_body};
use crate::widgets::layout::centered;
use warroom_core::sanitize;

/// Only the abort key withdraws: Enter or q typed by habit must not end the request.
pub(super) const HINTS: &[Hint] = &[(&[KeyAction::PromptAbort], "withdraw the request")];

/// A pending request, as the requester sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub request_id: String,
    pub approvers: Vec<String>,
    pub expires_at: Option<SystemTime>,
    /// The withdrawal was asked for; the layer closes when the result arrives.
    pub withdrawing: bool,
}

impl App {
    pub(super) fn waiting_key(&mut self, mut waiting: Waiting, key: LayerKey) -> Vec<Command> {
        let withdraw = key.action == Some(KeyAction::PromptAbort) && !waiting.withdrawing;
        let id = waiting.request_id.clone();
        waiting.withdrawing |= withdraw;
        self.layers.push(Layer::Waiting(waiting));
        if withdraw {
            vec![Command::WithdrawRequest(id)]
        } else {
            Vec::new()
        }
    }

    pub(super) fn draw_waiting(&self, frame: &mut Frame<'_>, area: Rect, w: &Waiting) {
        let rect = centered(area, 80, 8);
        let inner = popup(frame, rect, "waiting for approval", self.theme.border());
        let left = w.expires_at.map_or("-".to_string(), |t| {
            let secs = t.duration_since(self.wall).map_or(0, |d| d.as_secs());
            format!("{}m{:02}s", secs / 60, secs % 60)
        });
        let approvers = sanitize::cell(&w.approvers.join(", "), 200);
        let lines = vec![
            Line::from(format!("request {}", sanitize::cell(&w.request_id, 64))),
            Line::from(format!("who can approve: {approvers}")),
            Line::from(format!(
                "expires in {left}; nothing runs until someone approves"
            )),
            Line::styled(
                if w.withdrawing {
                    "withdrawing…".to_string()
                } else {
                    format!(
                        "{} withdraws the request",
                        self.key_word(KeyAction::PromptAbort)
                    )
                },
                self.theme.muted(),
            ),
        ];
        text_body(frame, inner, lines, 0);
    }
}
