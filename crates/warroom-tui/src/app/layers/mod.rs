//! The layer stack above the panes: help, command line, filter, detail, the guard's reason
//! prompt and confirmation, results, and dialogs that panes provide. The top layer gets
//! every key. One file per layer, each with its keys (from the keymap, in layer scopes),
//! its hints and its drawing.

mod approvals;
mod command;
mod confirm;
mod detail;
mod dialog;
mod filter;
mod help;
mod reason;
mod results;
mod waiting;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::{App, Command};
use crate::keymap::{KeyAction, KeyChord, Scope};
use crate::panes::{Detail, Dialog, Hint};
use crate::widgets::input::TextInput;
use warroom_core::guard::ActionReport;

pub use approvals::ApprovalsView;
pub use confirm::{Button, Confirmation};
pub use reason::ReasonPrompt;
pub use waiting::Waiting;

#[derive(Debug)]
pub enum Layer {
    Help {
        scroll: u16,
    },
    Command(TextInput),
    /// Live filter; Esc restores `before`.
    Filter {
        input: TextInput,
        before: String,
    },
    Detail {
        detail: Detail,
        scroll: u16,
    },
    Reason(ReasonPrompt),
    Confirm(Confirmation),
    Results(Vec<ActionReport>),
    /// A pane's own dialog (e.g. the Kafka reset prompt and preview).
    Dialog(Box<dyn Dialog>),
    /// A delegated action waits for a second person's approval on the server.
    Waiting(Waiting),
    /// `:approvals`: requests waiting for this user's decision.
    Approvals(ApprovalsView),
}

impl Layer {
    /// The keymap scopes this layer's keys are looked up in.
    fn scopes(&self) -> &'static [Scope] {
        match self {
            Layer::Help { .. } | Layer::Detail { .. } | Layer::Results(_) => &[Scope::Scroll],
            Layer::Waiting(_) => &[Scope::Prompt],
            Layer::Command(_) | Layer::Filter { .. } | Layer::Reason(_) => &[Scope::Prompt],
            Layer::Confirm(_) => &[Scope::Confirm],
            Layer::Approvals(v) if v.is_typing() => &[Scope::Prompt],
            Layer::Approvals(_) => &[Scope::Approvals, Scope::Scroll],
            Layer::Dialog(d) => d.scopes(),
        }
    }

    /// The hints row while this layer is on top.
    pub fn hints(&self) -> &'static [Hint] {
        match self {
            Layer::Help { .. } => help::HINTS,
            Layer::Detail { .. } => detail::HINTS,
            Layer::Results(_) => results::HINTS,
            Layer::Command(_) | Layer::Filter { .. } => &[],
            Layer::Reason(_) => reason::HINTS,
            Layer::Confirm(_) => confirm::HINTS,
            Layer::Dialog(d) => d.hints(),
            Layer::Waiting(_) => waiting::HINTS,
            Layer::Approvals(v) if v.is_typing() => approvals::TYPING_HINTS,
            Layer::Approvals(_) => approvals::HINTS,
        }
    }

    /// The pane dialog of type `T`, if this layer is one.
    pub fn dialog<T: Dialog>(&self) -> Option<&T> {
        match self {
            Layer::Dialog(d) => (**d).as_any().downcast_ref::<T>(),
            _ => None,
        }
    }
}

/// A key for a layer: its action in the layer's scopes (if bound there) and the raw key
/// (for text input).
pub(super) struct LayerKey {
    pub action: Option<KeyAction>,
    pub event: KeyEvent,
}

impl App {
    pub(super) fn on_layer_key(&mut self, layer: Layer, event: KeyEvent) -> Vec<Command> {
        let chord = KeyChord::from_event(&event);
        let key = LayerKey {
            action: self.keymap.lookup_in(layer.scopes(), chord),
            event,
        };
        match layer {
            Layer::Help { scroll } => self.help_key(scroll, key, chord),
            Layer::Detail { detail, scroll } => self.detail_key(detail, scroll, key),
            Layer::Command(input) => self.command_key(input, key),
            Layer::Filter { input, before } => self.filter_key(input, before, key),
            Layer::Dialog(d) => self.dialog_key(d, key),
            Layer::Results(reports) => self.results_key(reports, key),
            Layer::Reason(prompt) => self.reason_key(prompt, key),
            Layer::Confirm(c) => self.confirm_key(c, key),
            Layer::Waiting(w) => self.waiting_key(w, key),
            Layer::Approvals(v) => self.approvals_key(v, key),
        }
    }

    /// `body` is the pane's area (popups), `line` the hints row (command and filter lines).
    pub(super) fn draw_layer(&self, frame: &mut Frame<'_>, body: Rect, line: Rect, layer: &Layer) {
        match layer {
            Layer::Help { scroll } => self.draw_help(frame, body, *scroll),
            Layer::Command(input) => command::draw(frame, line, input, &self.theme),
            Layer::Filter { input, .. } => filter::draw(frame, line, input, &self.theme),
            Layer::Detail { detail, scroll } => {
                detail::draw(frame, body, detail, *scroll, &self.theme)
            }
            Layer::Reason(p) => self.draw_reason(frame, body, p),
            Layer::Confirm(c) => self.draw_confirm(frame, body, c),
            Layer::Results(r) => results::draw(frame, body, r, &self.keymap, &self.theme),
            Layer::Dialog(d) => d.draw(frame, body, &self.ctx()),
            Layer::Waiting(w) => self.draw_waiting(frame, body, w),
            Layer::Approvals(v) => self.draw_approvals(frame, body, v),
        }
    }

    /// "Esc" for sentences in popups ("Esc closes"): the first key of `action`.
    pub(super) fn key_word(&self, action: KeyAction) -> String {
        capitalized(&self.keymap.label_of(action))
    }
}

fn capitalized(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Rows `lines` take when word-wrapped at `width` (as `text_body` wraps them).
fn rows_of(lines: &[Line<'_>], width: u16) -> u16 {
    let width = usize::from(width).max(1);
    let rows: usize = lines
        .iter()
        .map(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            let (mut rows, mut col) = (1, 0);
            for word in text.split_inclusive(' ') {
                let w = unicode_width::UnicodeWidthStr::width(word);
                let visible = unicode_width::UnicodeWidthStr::width(word.trim_end());
                if col > 0 && col + visible > width {
                    rows += 1;
                    col = 0;
                }
                if visible > width {
                    // A word longer than the line is broken across rows.
                    rows += (visible - 1) / width;
                    col = visible % width + (w - visible);
                } else {
                    col += w;
                }
            }
            rows
        })
        .sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// `text` on one row of `width` columns, ending with "…" when cut.
fn cut(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if unicode_width::UnicodeWidthStr::width(text) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    out
}
