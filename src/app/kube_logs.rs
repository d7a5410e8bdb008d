//! `:logs ARGS` in the App: parse (errors change nothing), list the named pods through the
//! worker, then follow them through the same log session as `l`, `p` and `w`.

use super::{App, Command};
use crate::backends::kube::{LogSelection, PodRow};
use crate::panes::PaneId;
use crate::panes::logs::command;
use crate::panes::pods::LogTarget;
use crate::widgets::sanitize;

impl App {
    /// `:logs` alone shows the Logs pane; with arguments, it looks the pods up first.
    pub(super) fn logs_command(&mut self, args: &str) -> Vec<Command> {
        if args.is_empty() {
            return self.switch_to(PaneId::Logs);
        }
        let selection = match command::parse(args) {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!(":logs: {e}"));
                return Vec::new();
            }
        };
        let Some(context) = self.pods.current_context().map(str::to_string) else {
            self.warn(":logs: no Kubernetes context; add a [[kubernetes]] section to the config");
            return Vec::new();
        };
        self.lookup_logs(context, selection)
    }

    /// Ask the worker for the pods of `selection`; the answer opens the session.
    pub(super) fn lookup_logs(&mut self, context: String, selection: LogSelection) -> Vec<Command> {
        let id = self.logs.begin_lookup();
        self.say(format!(
            ":logs: looking up {}{} in {}…",
            sanitize::cell(&command::title(&selection), 80),
            if selection.previous {
                " (previous)"
            } else {
                ""
            },
            sanitize::cell(&context, 40)
        ));
        vec![Command::KubeLogsLookup {
            id,
            context,
            selection,
        }]
    }

    /// The pods arrived: follow them, or say why not (the current session stays).
    pub(super) fn on_logs_lookup(
        &mut self,
        id: u64,
        context: String,
        selection: LogSelection,
        result: Result<Vec<PodRow>, String>,
    ) -> Vec<Command> {
        if !self.logs.finish_lookup(id) {
            return Vec::new();
        }
        let title = sanitize::cell(&command::title(&selection), 80);
        let target = result
            .map_err(|e| format!("cannot list pods: {}", sanitize::cell(&e, 200)))
            .and_then(|pods| command::resolve(&selection, &context, &pods));
        match target {
            Ok(target) => {
                self.say(format!(
                    ":logs {title}: {}",
                    command::describe(&target.requests)
                ));
                self.follow_logs(target, Some(selection))
            }
            Err(e) => {
                self.warn(format!(":logs {title}: {e}"));
                Vec::new()
            }
        }
    }

    /// A new log session in the Logs pane, shown.
    pub(super) fn follow_logs(
        &mut self,
        target: LogTarget,
        selection: Option<LogSelection>,
    ) -> Vec<Command> {
        let session = match selection {
            Some(s) => self.logs.open_selection(&target, s),
            None => self.logs.open(&target),
        };
        let mut commands = vec![Command::KubeLogs {
            session,
            context: target.context.clone(),
            requests: target.requests.clone(),
        }];
        commands.extend(self.switch_to(PaneId::Logs));
        commands
    }
}
