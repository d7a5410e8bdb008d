//! The layer stack above the panes: help, command line, filter, detail, and the guard's
//! reason prompt and confirmation. The top layer gets every key.

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Command};
use crate::guard::{ActionReport, GuardRequest, GuardedAction};
use crate::panes::Detail;
use crate::widgets::input::TextInput;

#[derive(Debug, Clone, PartialEq)]
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
    /// Kafka reset, step 1: where to.
    KafkaResetPrompt(crate::panes::kafka::flow::ResetPrompt),
    /// Kafka reset, step 2: the preview to acknowledge before the reason prompt.
    KafkaResetPreview(crate::panes::kafka::flow::ResetPreview),
}

/// Step 1 of a guarded action: why?
#[derive(Debug, Clone, PartialEq)]
pub struct ReasonPrompt {
    pub actions: Vec<GuardedAction>,
    /// The context name the user must type in the confirmation (protected contexts).
    pub must_type: Option<String>,
    pub runbook: Option<String>,
    pub input: TextInput,
    pub error: Option<String>,
}

impl ReasonPrompt {
    pub fn new(
        actions: Vec<GuardedAction>,
        must_type: Option<String>,
        runbook: Option<String>,
    ) -> Self {
        ReasonPrompt {
            actions,
            must_type,
            runbook,
            input: TextInput::default(),
            error: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Cancel,
    Confirm,
}

/// Step 2: the exact effect, and a Cancel button that has the focus.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub actions: Vec<GuardedAction>,
    pub reason: String,
    pub must_type: Option<String>,
    pub typed: TextInput,
    pub focus: Button,
    pub error: Option<String>,
}

impl Confirmation {
    /// The request this confirmation will run, for tests and for the executor.
    pub fn request(&self) -> GuardRequest {
        GuardRequest {
            actions: self.actions.clone(),
            reason: self.reason.clone(),
            typed_context: self
                .must_type
                .as_ref()
                .map(|_| self.typed.value().to_string()),
        }
    }
}

impl App {
    pub(super) fn on_layer_key(&mut self, layer: Layer, key: KeyEvent) -> Vec<Command> {
        match layer {
            Layer::Help { scroll } => match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => {}
                KeyCode::Down | KeyCode::Char('j') => self.layers.push(Layer::Help {
                    scroll: scroll.saturating_add(1),
                }),
                KeyCode::Up | KeyCode::Char('k') => self.layers.push(Layer::Help {
                    scroll: scroll.saturating_sub(1),
                }),
                _ => self.layers.push(Layer::Help { scroll }),
            },
            Layer::Detail { detail, scroll } => match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => {}
                KeyCode::Down | KeyCode::Char('j') => self.layers.push(Layer::Detail {
                    detail,
                    scroll: scroll.saturating_add(1),
                }),
                KeyCode::Up | KeyCode::Char('k') => self.layers.push(Layer::Detail {
                    detail,
                    scroll: scroll.saturating_sub(1),
                }),
                KeyCode::PageDown => self.layers.push(Layer::Detail {
                    detail,
                    scroll: scroll.saturating_add(10),
                }),
                KeyCode::PageUp => self.layers.push(Layer::Detail {
                    detail,
                    scroll: scroll.saturating_sub(10),
                }),
                _ => self.layers.push(Layer::Detail { detail, scroll }),
            },
            Layer::Command(mut input) => match key.code {
                KeyCode::Esc => {}
                KeyCode::Enter => {
                    return self.execute_command_line(input.value().trim_start_matches(':'));
                }
                _ => {
                    input.handle_key(&key);
                    self.layers.push(Layer::Command(input));
                }
            },
            Layer::Filter { mut input, before } => match key.code {
                KeyCode::Esc => self.pane_mut().set_filter(&before),
                KeyCode::Enter => {}
                _ => {
                    if input.handle_key(&key) {
                        self.pane_mut().set_filter(input.value());
                    }
                    self.layers.push(Layer::Filter { input, before });
                }
            },
            Layer::KafkaResetPrompt(p) => {
                use crate::panes::kafka::flow::PromptStep;
                match p.on_key(&key) {
                    PromptStep::Stay(p) => self.layers.push(Layer::KafkaResetPrompt(p)),
                    PromptStep::Cancel => self.say("reset cancelled: nothing changed"),
                    PromptStep::Plan {
                        context,
                        group,
                        spec,
                    } => {
                        self.say(format!("reading offsets for the preview of {group}…"));
                        return vec![Command::KafkaPlanReset {
                            context,
                            group,
                            spec,
                        }];
                    }
                }
            }
            Layer::KafkaResetPreview(p) => {
                use crate::panes::kafka::flow::PreviewStep;
                match p.on_key(&key) {
                    PreviewStep::Stay(p) => self.layers.push(Layer::KafkaResetPreview(p)),
                    PreviewStep::Cancel => self.say("reset cancelled: nothing changed"),
                    PreviewStep::Acknowledged(action) => self.begin_guard(vec![action]),
                }
            }
            Layer::Results(_) => {
                if !matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                    return Vec::new();
                }
            }
            Layer::Reason(mut prompt) => match key.code {
                KeyCode::Esc => self.say("aborted: nothing was done"),
                KeyCode::Enter => match self.guard.rules.validate(prompt.input.value()) {
                    Ok(reason) => self.layers.push(Layer::Confirm(Confirmation {
                        actions: prompt.actions,
                        reason,
                        must_type: prompt.must_type,
                        typed: TextInput::default(),
                        focus: Button::Cancel,
                        error: None,
                    })),
                    Err(why) => {
                        prompt.error = Some(why);
                        self.layers.push(Layer::Reason(prompt));
                    }
                },
                _ => {
                    if prompt.input.handle_key(&key) {
                        prompt.error = None;
                    }
                    self.layers.push(Layer::Reason(prompt));
                }
            },
            Layer::Confirm(mut c) => match key.code {
                KeyCode::Esc => self.say("aborted: nothing was done"),
                KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right => {
                    c.focus = match c.focus {
                        Button::Cancel => Button::Confirm,
                        Button::Confirm => Button::Cancel,
                    };
                    self.layers.push(Layer::Confirm(c));
                }
                KeyCode::Enter => match c.focus {
                    Button::Cancel => self.say("aborted: nothing was done"),
                    Button::Confirm => {
                        if let Some(name) = &c.must_type
                            && c.typed.value() != name
                        {
                            c.error = Some(format!("type the context name {name:?} to confirm"));
                            self.layers.push(Layer::Confirm(c));
                            return Vec::new();
                        }
                        self.executing = true;
                        let n = c.actions.len();
                        self.say(format!("running {n} action(s): audit first…"));
                        return vec![Command::Execute(c.request())];
                    }
                },
                _ => {
                    if c.must_type.is_some() && c.typed.handle_key(&key) {
                        c.error = None;
                    }
                    self.layers.push(Layer::Confirm(c));
                }
            },
        }
        Vec::new()
    }
}
