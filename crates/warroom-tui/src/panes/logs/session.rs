//! How a log session starts: `l`/`p`/`w` in the Pods pane hand a target over; `:logs ARGS`
//! parses (errors change nothing), lists the named pods through the worker, then follows
//! them through the same session.

use super::LogsPane;
use super::command;
use crate::command::Command;
use crate::keymap::KeyAction;
use crate::panes::pods::LogTarget;
use crate::panes::{Effect, PaneId, PaneMsg};
use crate::workers::Event;
use warroom_core::backends::BackendError;
use warroom_core::backends::kube::{LogSelection, PodRow, selection};
use warroom_core::sanitize;

impl LogsPane {
    /// Messages for the Logs pane: lines, lookups, and targets from other panes.
    pub(super) fn on_msg(&mut self, msg: PaneMsg) -> Vec<Effect> {
        match msg {
            PaneMsg::Worker(Event::KubeLogs(batch)) => {
                self.apply(batch);
                Vec::new()
            }
            PaneMsg::Worker(Event::KubeLogsLookup {
                id,
                context,
                selection,
                result,
            }) => self.on_logs_lookup(id, context, selection, result),
            PaneMsg::FollowLogs(target, selection) => self.follow_logs(target, selection),
            PaneMsg::LookupLogs { context, selection } => self.lookup_logs(context, selection),
            PaneMsg::FocusLogs { context, selection } => {
                let mut effects = self.lookup_logs(context, selection);
                self.quiet_lookup = Some(self.lookup);
                // No toast either: the focus toast says what happened.
                effects.retain(|e| !matches!(e, Effect::Toast(_)));
                effects
            }
            _ => Vec::new(),
        }
    }

    /// `p`: a `:logs` session toggles its own --previous; else the pod selected in the Pods
    /// pane switches between its current and previous container.
    pub(super) fn toggle_previous(&mut self) -> Vec<Effect> {
        if let Some((context, selection)) = self.selection_toggled_previous() {
            return self.lookup_logs(context, selection);
        }
        let action = if self.showing_previous() {
            KeyAction::PodLogs
        } else {
            KeyAction::PodPreviousLogs
        };
        vec![Effect::Send(PaneId::Pods, PaneMsg::Action(action))]
    }

    /// Ask the worker for the pods of `selection`; the answer opens the session.
    fn lookup_logs(&mut self, context: String, selection: LogSelection) -> Vec<Effect> {
        let id = self.begin_lookup();
        vec![
            Effect::Toast(format!(
                ":logs: looking up {}{} in {}…",
                sanitize::cell(&selection::title(&selection), 80),
                if selection.previous {
                    " (previous)"
                } else {
                    ""
                },
                sanitize::cell(&context, 40)
            )),
            Effect::Command(Command::KubeLogsLookup {
                id,
                context,
                selection,
            }),
        ]
    }

    /// The pods arrived: follow them, or say why not (the current session stays).
    fn on_logs_lookup(
        &mut self,
        id: u64,
        context: String,
        selection: LogSelection,
        result: Result<Vec<PodRow>, BackendError>,
    ) -> Vec<Effect> {
        if !self.finish_lookup(id) {
            return Vec::new();
        }
        let title = sanitize::cell(&selection::title(&selection), 80);
        let target = result
            .map_err(|e| format!("cannot list pods: {}", sanitize::cell(&e.to_string(), 200)))
            .and_then(|pods| command::resolve(&selection, &context, &pods));
        let quiet = self.quiet_lookup.take() == Some(id);
        match target {
            // The focused service's logs: followed, but the shown pane stays.
            Ok(target) if quiet => {
                let mut effects = self.follow_logs(target, Some(selection));
                effects.retain(|e| !matches!(e, Effect::Show(_)));
                effects
            }
            Ok(target) => {
                let mut effects = vec![Effect::Toast(format!(
                    ":logs {title}: {}",
                    command::describe(&target.requests)
                ))];
                effects.extend(self.follow_logs(target, Some(selection)));
                effects
            }
            Err(e) => vec![Effect::Warn(format!(":logs {title}: {e}"))],
        }
    }

    /// A new log session in this pane, shown.
    fn follow_logs(&mut self, target: LogTarget, selection: Option<LogSelection>) -> Vec<Effect> {
        let session = match selection {
            Some(s) => self.open_selection(&target, s),
            None => self.open(&target),
        };
        vec![
            Effect::Command(Command::KubeLogs {
                session,
                context: target.context,
                requests: target.requests,
            }),
            Effect::Show(PaneId::Logs),
        ]
    }
}
