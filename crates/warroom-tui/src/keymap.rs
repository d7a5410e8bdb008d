//! Keys: what each action is called in `[keys]`, its default keys, and lookup by scope.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use warroom_core::guard::ActionName;

/// Where a binding applies. Pane scopes are looked up first, then `Global`. Layer scopes
/// (prompt, confirm, scroll) apply only while such a layer is on top, and nothing else then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Postgres,
    Kafka,
    Pods,
    Logs,
    /// Every pane that has the feature (sorting, polling): looked up after the pane's own
    /// scope and before `Global`.
    Panes,
    /// Text lines: command, filter, reason, reset target.
    Prompt,
    /// The confirmation and the reset preview.
    Confirm,
    /// Views that scroll: help, detail, results, reset preview.
    Scroll,
    /// `:approvals`: looked up before `Scroll` (which moves and closes there).
    Approvals,
}

impl Scope {
    /// The scopes of layers, with a title for the help layer.
    pub const LAYERS: [(Scope, &'static str); 4] = [
        (Scope::Prompt, "in prompts (command, filter, reason)"),
        (Scope::Confirm, "in confirmations"),
        (Scope::Scroll, "in help, details and results"),
        (Scope::Approvals, "in :approvals"),
    ];

    pub fn is_layer(self) -> bool {
        matches!(
            self,
            Scope::Prompt | Scope::Confirm | Scope::Scroll | Scope::Approvals
        )
    }
}

macro_rules! actions {
    ($( $variant:ident => $name:literal, $scope:ident, [$($key:literal),*], $help:literal; )*) => {
        /// Every action a key can trigger.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KeyAction { $($variant),* }

        impl KeyAction {
            pub const ALL: &'static [KeyAction] = &[$(KeyAction::$variant),*];

            /// The name used in `[keys]`.
            pub fn name(self) -> &'static str {
                match self { $(KeyAction::$variant => $name),* }
            }

            pub fn scope(self) -> Scope {
                match self { $(KeyAction::$variant => Scope::$scope),* }
            }

            fn default_keys(self) -> &'static [&'static str] {
                match self { $(KeyAction::$variant => &[$($key),*]),* }
            }

            /// One line for the help layer.
            pub fn help(self) -> &'static str {
                match self { $(KeyAction::$variant => $help),* }
            }
        }
    };
}

actions! {
    Quit => "quit", Global, ["q", "ctrl-c"], "quit warroom";
    Help => "help", Global, ["?"], "show the keys of this pane";
    Command => "command", Global, [":"], "command line (:pg :kafka :pods :logs [ARGS] :ctx NAME :focus [SERVICE] :q)";
    Filter => "filter", Global, ["/"], "filter rows";
    Up => "up", Global, ["k", "up"], "move up";
    Down => "down", Global, ["j", "down"], "move down";
    PageUp => "page_up", Global, ["pageup", "ctrl-b"], "one page up";
    PageDown => "page_down", Global, ["pagedown", "ctrl-f"], "one page down";
    Top => "top", Global, ["g", "home"], "go to the top";
    Bottom => "bottom", Global, ["G", "end"], "go to the bottom";
    Open => "open", Global, ["enter"], "open the detail of the selected row";
    Back => "back", Global, ["esc"], "close the top layer, clear the filter";
    PanePostgres => "pane_postgres", Global, ["1"], "PostgreSQL pane";
    PaneKafka => "pane_kafka", Global, ["2"], "Kafka pane";
    PanePods => "pane_pods", Global, ["3"], "Pods pane";
    PaneLogs => "pane_logs", Global, ["4"], "Logs pane";
    NextContext => "next_context", Global, ["tab"], "next context of this pane";
    Explain => "explain", Global, ["e"], "explain what this pane shows and when to use its actions";
    Links => "links", Global, ["o"], "links of the selection's service (dashboard, traces, logs, runbook)";
    RefreshFaster => "refresh_faster", Panes, ["+"], "refresh more often";
    RefreshSlower => "refresh_slower", Panes, ["-"], "refresh less often";
    SortNext => "sort_next", Panes, ["s"], "sort by the next column";
    SortReverse => "sort_reverse", Panes, ["S"], "reverse the sort order";
    ToggleIdle => "toggle_idle", Postgres, ["i"], "show or hide idle sessions";
    LockView => "lock_view", Postgres, ["L"], "switch between sessions and the blocking tree";
    StatementsView => "statements_view", Postgres, ["T"], "top statements now: pg_stat_statements deltas (also :statements)";
    WaitView => "wait_view", Postgres, ["W"], "wait profile: active sessions per wait event over the last minutes";
    PlanOfQuery => "plan", Postgres, ["E"], "EXPLAIN (never ANALYZE) the selected session's query";
    Cancel => "cancel", Postgres, ["c"], "cancel the query of the selected (or marked) sessions";
    Terminate => "terminate", Postgres, ["x"], "terminate the backend of the selected (or marked) sessions";
    Mark => "mark", Postgres, ["space"], "mark or unmark the session for a bulk action";
    SessionPod => "session_pod", Postgres, ["p"], "jump to the pod behind the selected session's client address";
    SessionLogs => "session_logs", Postgres, ["l"], "follow the logs of the pod behind the selected session";
    PodDelete => "delete_pod", Pods, ["ctrl-d"], "delete the selected pod (grace period shown first)";
    PodRolloutRestart => "rollout_restart", Pods, ["R"], "rollout restart the Deployment of the selected pod";
    PodLogs => "pod_logs", Pods, ["l"], "follow the logs of the selected pod (all containers)";
    PodPreviousLogs => "previous_logs", Pods, ["p"], "logs of the previous (crashed) container of the selected pod";
    PodWorkloadLogs => "workload_logs", Pods, ["w"], "follow the logs of every pod of the selected pod's workload";
    PodGroupByOwner => "group_by_owner", Pods, ["O"], "group pods by owner (Deployment, StatefulSet, Job)";
    PodSessions => "pod_sessions", Pods, ["P"], "the PostgreSQL sessions whose client address is the selected pod's";
    PodGroups => "pod_groups", Pods, ["K"], "the Kafka consumer groups with a member on the selected pod";
    LogsFollow => "logs_follow", Logs, ["f", "space"], "pause or follow the tail (scrolling up pauses too)";
    LogsWrap => "logs_wrap", Logs, ["w"], "wrap long lines";
    LogsTimestamps => "logs_timestamps", Logs, ["t"], "show or hide timestamps";
    LogsJsonFields => "logs_json_fields", Logs, ["J"], "JSON lines: show all fields, or level and message only";
    LogsPrefix => "logs_prefix", Logs, ["P"], "show the pod/container prefix of each line";
    LogsSave => "logs_save", Logs, ["ctrl-s"], "save the buffer to a file";
    LogsClear => "logs_clear", Logs, ["ctrl-l"], "clear the buffer (counters stay)";
    LogsPrevious => "logs_previous", Logs, ["p"], "switch between the pod's current and previous container logs";
    KafkaDeleteGroup => "kafka_delete_group", Kafka, ["D"], "delete the selected consumer group (only when Empty)";
    KafkaResetOffsets => "kafka_reset_offsets", Kafka, ["R"], "reset the selected group's offsets: preview first";
    KafkaUndoReset => "kafka_undo_reset", Kafka, ["u"], "undo the last reset of the selected group";
    PromptSubmit => "prompt_submit", Prompt, ["enter"], "submit the line";
    PromptAbort => "prompt_abort", Prompt, ["esc"], "abort: nothing runs (a filter goes back)";
    ConfirmSwitch => "confirm_switch", Confirm, ["tab", "backtab", "left", "right"], "switch between Cancel and Confirm";
    ConfirmPress => "confirm_press", Confirm, ["enter"], "press the focused button (acknowledge a preview)";
    ConfirmAbort => "confirm_abort", Confirm, ["esc"], "abort: nothing runs";
    ScrollDown => "scroll_down", Scroll, ["j", "down"], "scroll down";
    ScrollUp => "scroll_up", Scroll, ["k", "up"], "scroll up";
    ScrollPageDown => "scroll_page_down", Scroll, ["pagedown"], "scroll one page down";
    ScrollPageUp => "scroll_page_up", Scroll, ["pageup"], "scroll one page up";
    ScrollClose => "scroll_close", Scroll, ["esc", "q", "enter"], "close";
    ApprovalApprove => "approval_approve", Approvals, ["a"], "approve the selected request (with your own reason)";
    ApprovalDeny => "approval_deny", Approvals, ["d"], "deny the selected request (with your own reason)";
}

/// The keys that ask for a guarded action: one per action of the registry.
pub const GUARDED_KEYS: [(KeyAction, ActionName); 7] = [
    (KeyAction::Cancel, ActionName::PgCancel),
    (KeyAction::Terminate, ActionName::PgTerminate),
    (KeyAction::KafkaDeleteGroup, ActionName::KafkaDeleteGroup),
    (KeyAction::KafkaResetOffsets, ActionName::KafkaResetOffsets),
    (KeyAction::KafkaUndoReset, ActionName::KafkaUndoReset),
    (KeyAction::PodDelete, ActionName::KubeDeletePod),
    (KeyAction::PodRolloutRestart, ActionName::KubeRolloutRestart),
];

impl KeyAction {
    pub fn from_name(name: &str) -> Option<KeyAction> {
        // Names from before sorting and refreshing were one action for every pane.
        let name = match name {
            "pods_sort_next" | "kafka_sort_next" => "sort_next",
            "pods_sort_reverse" | "kafka_sort_reverse" => "sort_reverse",
            "kafka_refresh_faster" => "refresh_faster",
            "kafka_refresh_slower" => "refresh_slower",
            other => other,
        };
        KeyAction::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The guarded action this key asks for, if it is a destructive key.
    pub fn guarded(self) -> Option<ActionName> {
        GUARDED_KEYS
            .iter()
            .find(|(key, _)| *key == self)
            .map(|(_, action)| *action)
    }

    /// Destructive keys go through the guard and are disabled in read-only mode.
    pub fn is_guarded(self) -> bool {
        self.guarded().is_some()
    }

    pub fn names() -> Vec<&'static str> {
        KeyAction::ALL.iter().map(|a| a.name()).collect()
    }
}

/// A key with its modifiers, normalised so that `G` and `shift-g` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyChord {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> KeyChord {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                // Shift is carried by the character itself.
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        KeyChord { code, mods }
    }

    pub fn from_event(ev: &KeyEvent) -> KeyChord {
        KeyChord::new(ev.code, ev.modifiers)
    }

    /// Parse "c", "G", "ctrl-c", "alt-x", "enter", "esc", "space", "f5", "pagedown", ...
    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err("empty key".into());
        }
        loop {
            let lower = rest.to_ascii_lowercase();
            let stripped = ["ctrl-", "ctrl+", "alt-", "alt+", "shift-", "shift+"]
                .iter()
                .find(|p| lower.starts_with(**p) && rest.len() > p.len());
            match stripped {
                Some(p) => {
                    mods |= match &p[..p.len() - 1] {
                        "ctrl" => KeyModifiers::CONTROL,
                        "alt" => KeyModifiers::ALT,
                        _ => KeyModifiers::SHIFT,
                    };
                    rest = &rest[p.len()..];
                }
                None => break,
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                if mods.contains(KeyModifiers::SHIFT) {
                    KeyCode::Char(c.to_ascii_uppercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "space" => KeyCode::Char(' '),
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" => KeyCode::PageUp,
                "pagedown" => KeyCode::PageDown,
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
                {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                _ => {
                    return Err(format!(
                        "unknown key {text:?} (examples: \"c\", \"ctrl-d\", \"enter\", \"f5\")"
                    ));
                }
            },
        };
        Ok(KeyChord::new(code, mods))
    }

    /// Short text for hints and help.
    pub fn label(&self) -> String {
        let key = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "backtab".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::F(n) => format!("f{n}"),
            other => format!("{other:?}").to_lowercase(),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("alt-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            out.push_str("shift-");
        }
        out.push_str(&key);
        out
    }
}

/// action -> keys, and (scope, key) -> action.
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: HashMap<KeyAction, Vec<KeyChord>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let keys = KeyAction::ALL
            .iter()
            .map(|&a| {
                let chords = a
                    .default_keys()
                    .iter()
                    .filter_map(|k| KeyChord::parse(k).ok())
                    .collect();
                (a, chords)
            })
            .collect();
        Keymap { keys }
    }
}

impl Keymap {
    pub fn rebind(&mut self, action: KeyAction, chords: Vec<KeyChord>) {
        self.keys.insert(action, chords);
    }

    pub fn keys_of(&self, action: KeyAction) -> &[KeyChord] {
        self.keys.get(&action).map_or(&[], Vec::as_slice)
    }

    /// The first key of an action, for hints ("c cancel").
    pub fn label_of(&self, action: KeyAction) -> String {
        self.keys_of(action)
            .first()
            .map_or_else(|| "(unbound)".into(), KeyChord::label)
    }

    /// The pane's own binding wins over a shared one (`Panes`), which wins over a global one.
    pub fn lookup(&self, scope: Scope, chord: KeyChord) -> Option<KeyAction> {
        if scope == Scope::Global {
            return self.lookup_in(&[Scope::Global], chord);
        }
        self.lookup_in(&[scope, Scope::Panes, Scope::Global], chord)
    }

    /// The action of `chord` in the first of `scopes` that binds it (layers: no fallback).
    pub fn lookup_in(&self, scopes: &[Scope], chord: KeyChord) -> Option<KeyAction> {
        scopes.iter().find_map(|&s| {
            KeyAction::ALL
                .iter()
                .copied()
                .find(|a| a.scope() == s && self.keys_of(*a).contains(&chord))
        })
    }

    /// "j/k": the first key of each action, for a hint.
    pub fn labels_of(&self, actions: &[KeyAction]) -> String {
        actions
            .iter()
            .map(|a| self.label_of(*a))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Two actions that could both fire on one key in one pane are a configuration error.
    pub fn check_conflicts(&self) -> Result<(), String> {
        let mut seen: HashMap<(Scope, KeyChord), KeyAction> = HashMap::new();
        for &a in KeyAction::ALL {
            for &k in self.keys_of(a) {
                if let Some(prev) = seen.insert((a.scope(), k), a) {
                    return Err(format!(
                        "key {:?} is bound to both {:?} and {:?}",
                        k.label(),
                        prev.name(),
                        a.name()
                    ));
                }
            }
        }
        // Keys looked up before another scope's: one key in both would hide the other action.
        struct Shadowing {
            /// The scopes whose keys are looked up first.
            first: fn(Scope) -> bool,
            hidden: Scope,
            /// How the error names the hidden action.
            name_hidden: fn(&str) -> String,
        }
        let shadowing = [
            // `:approvals` looks its own keys up first, then the scroll keys.
            Shadowing {
                first: |s| s == Scope::Approvals,
                hidden: Scope::Scroll,
                name_hidden: |name| format!("{name:?} in :approvals"),
            },
            // A pane key hiding a global one would make the global action unreachable there.
            Shadowing {
                first: |s| s != Scope::Global && !s.is_layer(),
                hidden: Scope::Global,
                name_hidden: |name| format!("the global action {name:?}"),
            },
        ];
        for rule in shadowing {
            for &a in KeyAction::ALL.iter().filter(|a| (rule.first)(a.scope())) {
                for &k in self.keys_of(a) {
                    if let Some(hidden) = seen.get(&(rule.hidden, k)) {
                        return Err(format!(
                            "key {:?} of {:?} hides {}",
                            k.label(),
                            a.name(),
                            (rule.name_hidden)(hidden.name())
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered action has exactly one key, and no other key is guarded.
    #[test]
    fn each_guarded_action_has_one_key() {
        for action in ActionName::ALL {
            let keys: Vec<KeyAction> = KeyAction::ALL
                .iter()
                .copied()
                .filter(|k| k.guarded() == Some(action))
                .collect();
            assert_eq!(keys.len(), 1, "{action}: {keys:?}");
        }
        let guarded = KeyAction::ALL.iter().filter(|k| k.is_guarded()).count();
        assert_eq!(guarded, ActionName::ALL.len());
    }

    #[test]
    fn defaults_have_no_conflicts() {
        assert_eq!(Keymap::default().check_conflicts(), Ok(()));
    }

    #[test]
    fn chords_parse_and_normalise() {
        let g = KeyChord::parse("G").expect("G");
        assert_eq!(g, KeyChord::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
        assert_eq!(KeyChord::parse("shift-g"), Ok(g));
        let cc = KeyChord::parse("ctrl-c").expect("ctrl-c");
        assert_eq!(cc, KeyChord::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(cc.label(), "ctrl-c");
        assert!(KeyChord::parse("hyper-x").is_err());
        assert!(KeyChord::parse("f13").is_err());
    }

    #[test]
    fn pane_keys_win_and_rebinding_moves_a_key() {
        let mut km = Keymap::default();
        let c = KeyChord::parse("c").expect("c");
        assert_eq!(km.lookup(Scope::Postgres, c), Some(KeyAction::Cancel));
        assert_eq!(km.lookup(Scope::Global, c), None);
        km.rebind(KeyAction::Cancel, vec![KeyChord::parse("C").expect("C")]);
        assert_eq!(km.lookup(Scope::Postgres, c), None);
        km.rebind(KeyAction::Terminate, vec![KeyChord::parse("C").expect("C")]);
        assert!(km.check_conflicts().is_err());
    }

    #[test]
    fn layer_keys_are_looked_up_in_their_scopes_only() {
        let mut km = Keymap::default();
        let enter = KeyChord::parse("enter").expect("enter");
        assert_eq!(
            km.lookup_in(&[Scope::Confirm, Scope::Scroll], enter),
            Some(KeyAction::ConfirmPress)
        );
        assert_eq!(
            km.lookup_in(&[Scope::Scroll], enter),
            Some(KeyAction::ScrollClose)
        );
        let j = KeyChord::parse("j").expect("j");
        assert_eq!(km.lookup_in(&[Scope::Prompt], j), None);
        km.rebind(
            KeyAction::PromptSubmit,
            vec![KeyChord::parse("ctrl-j").expect("ctrl-j")],
        );
        assert_eq!(km.lookup_in(&[Scope::Prompt], enter), None);
        assert_eq!(
            km.labels_of(&[KeyAction::ScrollDown, KeyAction::ScrollUp]),
            "j/k"
        );
        // A layer key never hides a global or pane key.
        assert_eq!(km.check_conflicts(), Ok(()));
    }

    #[test]
    fn approvals_keys_come_before_scroll_keys_and_cannot_hide_them() {
        let mut km = Keymap::default();
        let scopes = [Scope::Approvals, Scope::Scroll];
        let a = KeyChord::parse("a").expect("a");
        assert_eq!(km.lookup_in(&scopes, a), Some(KeyAction::ApprovalApprove));
        assert_eq!(km.lookup_in(&[Scope::Scroll], a), None);
        km.rebind(
            KeyAction::ApprovalApprove,
            vec![KeyChord::parse("Y").expect("Y")],
        );
        assert_eq!(km.lookup_in(&scopes, a), None);
        assert_eq!(
            km.lookup_in(&scopes, KeyChord::parse("Y").expect("Y")),
            Some(KeyAction::ApprovalApprove)
        );
        assert_eq!(km.check_conflicts(), Ok(()));
        km.rebind(
            KeyAction::ApprovalDeny,
            vec![KeyChord::parse("q").expect("q")],
        );
        let e = km.check_conflicts().expect_err("q closes the view");
        assert_eq!(
            e,
            r#"key "q" of "approval_deny" hides "scroll_close" in :approvals"#
        );
    }

    #[test]
    fn a_pane_key_cannot_hide_a_global_one() {
        let mut km = Keymap::default();
        km.rebind(KeyAction::Cancel, vec![KeyChord::parse("q").expect("q")]);
        assert_eq!(
            km.check_conflicts(),
            Err(r#"key "q" of "cancel" hides the global action "quit""#.to_string())
        );
    }
}
