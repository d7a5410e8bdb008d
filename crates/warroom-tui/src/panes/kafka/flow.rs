//! The two layers of an offset reset before the guard's reason prompt: where to (a typed
//! spec), then the preview the user must acknowledge. Key handling returns the next step
//! as a value; drawing reads only.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::ResetRequest;
use crate::keymap::{KeyAction, Scope};
use crate::panes::{Ctx, Dialog, Effect, Hint};
use crate::theme::Theme;
use crate::widgets::chrome::{popup, text_body};
use crate::widgets::input::TextInput;
use crate::widgets::layout::centered;
use warroom_core::backends::kafka::{ResetPlan, ResetSpec};
use warroom_core::guard::GuardedAction;
use warroom_core::guard::kafka::{KafkaAction, KafkaResetTarget};
use warroom_core::sanitize;

/// Step 1: where to reset, typed: `earliest`, `latest`, `offset N`, `shift N`,
/// `datetime TS`, optionally `topic NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetPrompt {
    pub request: ResetRequest,
    pub input: TextInput,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptStep {
    Stay(ResetPrompt),
    Cancel,
    /// Read the plan from the cluster (nothing changes there).
    Plan {
        context: String,
        group: String,
        spec: ResetSpec,
    },
}

impl ResetPrompt {
    pub fn new(request: ResetRequest) -> ResetPrompt {
        ResetPrompt {
            request,
            input: TextInput::default(),
            error: None,
        }
    }

    pub fn on_key(mut self, action: Option<KeyAction>, key: &KeyEvent) -> PromptStep {
        match action {
            Some(KeyAction::PromptAbort) => PromptStep::Cancel,
            Some(KeyAction::PromptSubmit) => match ResetSpec::parse(self.input.value()) {
                Ok(spec) => PromptStep::Plan {
                    context: self.request.context,
                    group: self.request.group,
                    spec,
                },
                Err(e) => {
                    self.error = Some(e);
                    PromptStep::Stay(self)
                }
            },
            _ => {
                if self.input.handle_key(key) {
                    self.error = None;
                }
                PromptStep::Stay(self)
            }
        }
    }

    pub fn draw(&self, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
        let rect = centered(area, 90, 13);
        let inner = popup(frame, rect, "reset offsets: where to?", theme.warn());
        let mut lines = vec![
            Line::styled(
                format!(
                    "group {} on {}{}",
                    sanitize::cell(&self.request.group, 60),
                    sanitize::cell(&self.request.context, 40),
                    if self.request.members > 0 {
                        format!(
                            " — it has {} member(s): the reset will be refused until they stop",
                            self.request.members
                        )
                    } else {
                        String::new()
                    }
                ),
                theme.header(),
            ),
            Line::styled(
                "earliest | latest | offset N | shift N (e.g. shift -1000) | datetime 2026-11-26T10:00:00Z",
                theme.muted(),
            ),
            Line::styled(
                "add `topic NAME` to reset one topic only. Enter shows a preview; nothing changes yet.",
                theme.muted(),
            ),
            Line::raw(""),
        ];
        if let Some(e) = &self.error {
            lines.push(Line::styled(sanitize::cell(e, 200), theme.danger()));
        }
        let input_row = Rect {
            y: inner.y + inner.height.saturating_sub(1),
            height: 1.min(inner.height),
            ..inner
        };
        text_body(frame, inner, lines, 0);
        self.input.render(frame, input_row, "> ", theme.accent());
    }
}

/// Step 2: per partition current -> target; Enter acknowledges and goes on to the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetPreview {
    pub context: String,
    pub plan: ResetPlan,
    pub members: usize,
    pub scroll: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PreviewStep {
    Stay(ResetPreview),
    Cancel,
    /// Acknowledged: this action goes to the guard (reason, confirmation, audit).
    Acknowledged(GuardedAction),
}

impl ResetPreview {
    pub fn on_key(mut self, action: Option<KeyAction>) -> PreviewStep {
        match action {
            Some(KeyAction::ConfirmAbort | KeyAction::ScrollClose) => PreviewStep::Cancel,
            Some(KeyAction::ConfirmPress) => PreviewStep::Acknowledged(GuardedAction::Kafka(
                KafkaAction::ResetOffsets(KafkaResetTarget::new(&self.context, self.plan, None)),
            )),
            other => {
                self.scroll = crate::panes::scrolled(other, self.scroll).unwrap_or(self.scroll);
                PreviewStep::Stay(self)
            }
        }
    }

    pub fn draw(&self, frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
        let inner = popup(
            frame,
            area,
            "reset preview: read it, then Enter",
            theme.warn(),
        );
        let mut preview = self.plan.preview_lines().into_iter();
        let mut lines = vec![Line::styled(
            sanitize::cell(&preview.next().unwrap_or_default(), 300),
            theme.header(),
        )];
        if self.members > 0 {
            lines.push(Line::styled(
                format!(
                    "The group has {} member(s) now: the reset will be refused unless they stop first.",
                    self.members
                ),
                theme.danger(),
            ));
        }
        lines.push(Line::styled(
            "Enter: acknowledge and give a reason (then confirm) · Esc: cancel, nothing changes",
            theme.muted(),
        ));
        lines.push(Line::raw(""));
        lines.extend(preview.map(|l| Line::raw(sanitize::cell(&l, 300))));
        text_body(frame, inner, lines, self.scroll);
    }
}

const CANCELLED: &str = "reset cancelled: nothing changed";

/// The prompt as a layer: Enter asks the worker for the preview.
impl Dialog for ResetPrompt {
    fn scopes(&self) -> &'static [Scope] {
        &[Scope::Prompt]
    }

    fn on_key(&mut self, action: Option<KeyAction>, key: &KeyEvent) -> Option<Vec<Effect>> {
        match self.clone().on_key(action, key) {
            PromptStep::Stay(p) => {
                *self = p;
                None
            }
            PromptStep::Cancel => Some(vec![Effect::Toast(CANCELLED.into())]),
            PromptStep::Plan {
                context,
                group,
                spec,
            } => Some(vec![
                Effect::Toast(format!("reading offsets for the preview of {group}…")),
                Effect::Command(crate::command::Command::KafkaPlanReset {
                    context,
                    group,
                    spec,
                }),
            ]),
        }
    }

    fn hints(&self) -> &'static [Hint] {
        &[
            (&[KeyAction::PromptSubmit], "preview"),
            (&[KeyAction::PromptAbort], "cancel"),
        ]
    }

    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        ResetPrompt::draw(self, frame, area, ctx.theme);
    }
}

/// The preview as a layer: acknowledging hands the action to the guard flow.
impl Dialog for ResetPreview {
    fn scopes(&self) -> &'static [Scope] {
        &[Scope::Confirm, Scope::Scroll]
    }

    fn on_key(&mut self, action: Option<KeyAction>, _key: &KeyEvent) -> Option<Vec<Effect>> {
        match self.clone().on_key(action) {
            PreviewStep::Stay(p) => {
                *self = p;
                None
            }
            PreviewStep::Cancel => Some(vec![Effect::Toast(CANCELLED.into())]),
            PreviewStep::Acknowledged(action) => Some(vec![Effect::Guard(vec![action])]),
        }
    }

    fn hints(&self) -> &'static [Hint] {
        &[
            (&[KeyAction::ScrollDown, KeyAction::ScrollUp], "scroll"),
            (&[KeyAction::ConfirmPress], "acknowledge, then reason"),
            (&[KeyAction::ConfirmAbort], "cancel"),
        ]
    }

    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        ResetPreview::draw(self, frame, area, ctx.theme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::{KeyChord, Keymap};
    use crossterm::event::{KeyCode, KeyModifiers};
    use warroom_core::backends::kafka::{PartitionReset, ResetTo};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    /// The action the default keymap gives `c` in the prompt's scope.
    fn prompt(c: KeyCode) -> Option<KeyAction> {
        Keymap::default().lookup_in(&[Scope::Prompt], KeyChord::new(c, KeyModifiers::NONE))
    }

    /// The action the default keymap gives `c` in the preview's scopes.
    fn preview_key(c: KeyCode) -> Option<KeyAction> {
        Keymap::default().lookup_in(
            &[Scope::Confirm, Scope::Scroll],
            KeyChord::new(c, KeyModifiers::NONE),
        )
    }

    #[test]
    fn prompt_parses_then_preview_acknowledges_into_a_guarded_action() {
        let mut p = ResetPrompt::new(ResetRequest {
            context: "k1".into(),
            group: "billing".into(),
            members: 0,
        });
        for c in "shift -5".chars() {
            p = match p.on_key(prompt(KeyCode::Char(c)), &key(KeyCode::Char(c))) {
                PromptStep::Stay(p) => p,
                other => panic!("{other:?}"),
            };
        }
        assert_eq!(
            p.clone()
                .on_key(prompt(KeyCode::Enter), &key(KeyCode::Enter)),
            PromptStep::Plan {
                context: "k1".into(),
                group: "billing".into(),
                spec: ResetSpec {
                    to: ResetTo::ShiftBy(-5),
                    topic: None
                }
            }
        );
        let plan = ResetPlan {
            group: "billing".into(),
            topic: None,
            to: ResetTo::ShiftBy(-5),
            partitions: vec![PartitionReset {
                topic: "orders".into(),
                partition: 0,
                current: Some(10),
                target: 5,
                earliest: 0,
                latest: 12,
            }],
        };
        let preview = ResetPreview {
            context: "k1".into(),
            plan: plan.clone(),
            members: 0,
            scroll: 0,
        };
        assert_eq!(
            preview.clone().on_key(preview_key(KeyCode::Esc)),
            PreviewStep::Cancel
        );
        assert_eq!(
            preview.on_key(preview_key(KeyCode::Enter)),
            PreviewStep::Acknowledged(GuardedAction::Kafka(KafkaAction::ResetOffsets(
                KafkaResetTarget {
                    context: "k1".into(),
                    plan,
                    undoes: None
                }
            )))
        );
    }

    #[test]
    fn a_bad_spec_stays_with_an_error() {
        let mut p = ResetPrompt::new(ResetRequest {
            context: "k".into(),
            group: "g".into(),
            members: 0,
        });
        p.input = TextInput::with_value("sideways");
        match p.on_key(prompt(KeyCode::Enter), &key(KeyCode::Enter)) {
            PromptStep::Stay(p) => assert!(p.error.is_some_and(|e| e.contains("unknown target"))),
            other => panic!("{other:?}"),
        }
    }
}
