//! The contexts of a pane: their names, which one is shown, what the pane keeps of each,
//! the last answer of its worker (data, or an error with the retry), and how often it polls.
//! Shared by the panes that poll (PostgreSQL, Kafka) and the Pods pane (a watch).

use std::time::{Duration, Instant};

use super::Effect;
use crate::command::Command;
use crate::keymap::KeyAction;
use warroom_core::backends::BackendError;
use warroom_core::sanitize;

const MIN_INTERVAL: Duration = Duration::from_millis(500);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// What a pane keeps of one context, with the worker's last answer.
#[derive(Debug, Default)]
pub struct Polled<T> {
    pub data: T,
    pub received_at: Option<Instant>,
    pub error: Option<BackendError>,
    pub retry_in: Option<Duration>,
}

#[derive(Debug)]
pub struct ContextSet<T> {
    names: Vec<String>,
    current: usize,
    polled: Vec<Polled<T>>,
    interval: Duration,
}

impl<T: Default> ContextSet<T> {
    /// `initial` is shown first when it is one of `names`, else the first name.
    pub fn new(names: Vec<String>, initial: Option<&str>, interval: Duration) -> ContextSet<T> {
        let current = initial
            .and_then(|n| names.iter().position(|c| c == n))
            .unwrap_or(0);
        let polled = names.iter().map(|_| Polled::default()).collect();
        ContextSet {
            names,
            current,
            polled,
            interval,
        }
    }
}

impl<T> ContextSet<T> {
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn current_name(&self) -> Option<&str> {
        self.names.get(self.current).map(String::as_str)
    }

    pub fn current(&self) -> Option<&Polled<T>> {
        self.polled.get(self.current)
    }

    /// What the pane keeps of the shown context.
    pub fn data(&self) -> Option<&T> {
        self.current().map(|p| &p.data)
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Show `name`: `Some(true)` when the shown context changed, `Some(false)` when it was
    /// already shown, `None` when it is not one of these contexts.
    pub fn select(&mut self, name: &str) -> Option<bool> {
        let i = self.names.iter().position(|c| c == name)?;
        let changed = i != self.current;
        self.current = i;
        Some(changed)
    }

    /// The context after the shown one (`tab`), or why there is none.
    pub fn next_name(&self, kind: &str) -> Result<String, String> {
        if self.names.len() < 2 {
            return Err(format!("only one {kind} context is configured"));
        }
        Ok(self.names[(self.current + 1) % self.names.len()].clone())
    }

    /// The entry of `name` and whether it is the shown context.
    pub fn entry_mut(&mut self, name: &str) -> Option<(&mut Polled<T>, bool)> {
        let i = self.names.iter().position(|c| c == name)?;
        let shown = i == self.current;
        self.polled.get_mut(i).map(|p| (p, shown))
    }

    /// A worker's answer for `name`: data goes through `keep`; an error keeps the last data
    /// on screen (the error says it is stale). Returns whether `name` is shown; `None` for
    /// a context this pane does not have.
    pub fn apply<S>(
        &mut self,
        name: &str,
        result: Result<S, BackendError>,
        retry_in: Option<Duration>,
        keep: impl FnOnce(&mut T, S),
    ) -> Option<bool> {
        let (p, shown) = self.entry_mut(name)?;
        match result {
            Ok(value) => {
                keep(&mut p.data, value);
                p.received_at = Some(Instant::now());
                p.error = None;
                p.retry_in = None;
            }
            Err(e) => {
                p.error = Some(e);
                p.retry_in = retry_in;
            }
        }
        Some(shown)
    }

    /// `+` / `-`: poll twice as often, or half as often, within limits.
    pub fn step_interval(&mut self, faster: bool) {
        let next = if faster {
            self.interval / 2
        } else {
            self.interval * 2
        };
        self.interval = next.clamp(MIN_INTERVAL, MAX_INTERVAL);
    }

    /// `+`, `-` and `tab`: the effects when the key is about contexts or polling, and
    /// whether the shown context changed (the pane then resets its selection).
    pub fn on_action(&mut self, action: KeyAction, kind: &str) -> Option<(Vec<Effect>, bool)> {
        match action {
            KeyAction::RefreshFaster | KeyAction::RefreshSlower => {
                self.step_interval(action == KeyAction::RefreshFaster);
                Some((self.poll_changed(), false))
            }
            KeyAction::NextContext => Some(match self.next_name(kind) {
                Ok(next) => {
                    let changed = self.select(&next).unwrap_or(false);
                    (self.poll_changed(), changed)
                }
                Err(e) => (Effect::toast(e), false),
            }),
            _ => None,
        }
    }

    /// The interval or the shown context changed: say so, and poll accordingly.
    pub fn poll_changed(&self) -> Vec<Effect> {
        vec![
            Effect::Toast(format!(
                "{}: refresh every {}",
                self.current_name().unwrap_or("-"),
                humantime::format_duration(self.interval)
            )),
            Effect::Resubscribe,
        ]
    }

    /// One poll command per context: only the shown one of a visible pane is active.
    pub fn polls(
        &self,
        visible: bool,
        make: impl Fn(String, bool, Duration) -> Command,
    ) -> Vec<Command> {
        let current = self.current_name();
        self.names
            .iter()
            .map(|c| {
                make(
                    c.clone(),
                    visible && Some(c.as_str()) == current,
                    self.interval,
                )
            })
            .collect()
    }

    /// The status bar of a pane over these contexts: the shown one, its last answer and error.
    pub fn status(&self, note: Option<String>) -> super::PaneStatus {
        super::PaneStatus {
            context: self.current_name().map(str::to_string),
            last_refresh: self.current().and_then(|p| p.received_at),
            error: self.error_text(),
            note,
        }
    }

    /// The shown context's error for the status bar: its kind and the retry first (a long
    /// error is cut at the right edge of the bar).
    pub fn error_text(&self) -> Option<String> {
        let p = self.current()?;
        Some(error_line(p.error.as_ref()?, p.retry_in))
    }
}

/// A worker's error as the status bar says it: "unreachable, retrying in 4s: …", "auth
/// failed, not retried for 1m: …" (credentials are not retried soon), "retrying in 2s: …".
pub fn error_line(e: &BackendError, retry_in: Option<Duration>) -> String {
    let when = retry_in.map(|r| {
        let r = humantime::format_duration(Duration::from_secs(r.as_secs().max(1)));
        if e.kind.needs_operator() {
            format!("not retried for {r}")
        } else {
            format!("retrying in {r}")
        }
    });
    let head = match (e.kind.label(), when) {
        (Some(kind), Some(when)) => format!("{kind}, {when}: "),
        (Some(kind), None) => format!("{kind}: "),
        (None, Some(when)) => format!("{when}: "),
        (None, None) => String::new(),
    };
    format!("{head}{}", sanitize::cell(&e.message, 300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Polled;
    use warroom_core::backends::ErrorKind;

    #[test]
    fn errors_keep_the_data_and_say_when_the_retry_comes() {
        let mut set: ContextSet<Vec<u32>> = ContextSet::new(
            vec!["a".into(), "b".into()],
            Some("b"),
            Duration::from_secs(2),
        );
        assert_eq!(set.current_name(), Some("b"));
        assert_eq!(set.apply("b", Ok(7), None, |d, v| d.push(v)), Some(true));
        assert_eq!(set.apply("a", Ok(1), None, |d, v| d.push(v)), Some(false));
        assert_eq!(set.apply::<u32>("zz", Ok(1), None, |_, _| ()), None);
        set.apply::<u32>(
            "b",
            Err("down".into()),
            Some(Duration::from_secs(4)),
            |_, _| (),
        );
        assert_eq!(set.current().map(|p| p.data.clone()), Some(vec![7]));
        assert_eq!(set.error_text().as_deref(), Some("retrying in 4s: down"));
        let away = BackendError::new(ErrorKind::Unreachable, "connection refused");
        set.apply::<u32>("b", Err(away), Some(Duration::from_secs(4)), |_, _| ());
        assert_eq!(
            set.error_text().as_deref(),
            Some("unreachable, retrying in 4s: connection refused")
        );
        let refused = BackendError::new(ErrorKind::AuthFailed, "password authentication failed");
        set.apply::<u32>("b", Err(refused), Some(Duration::from_secs(60)), |_, _| ());
        assert_eq!(
            set.error_text().as_deref(),
            Some("auth failed, not retried for 1m: password authentication failed")
        );
        assert_eq!(set.next_name("X").as_deref(), Ok("a"));
        assert_eq!(set.select("a"), Some(true));
        assert_eq!(set.select("a"), Some(false));
        assert_eq!(set.select("zz"), None);
        for _ in 0..10 {
            set.step_interval(true);
        }
        assert_eq!(set.interval(), MIN_INTERVAL);
        let polls = set.polls(true, Command::poll(Polled::PgSessions));
        assert_eq!(
            polls,
            vec![
                Command::Poll {
                    what: Polled::PgSessions,
                    context: "a".into(),
                    active: true,
                    interval: MIN_INTERVAL
                },
                Command::Poll {
                    what: Polled::PgSessions,
                    context: "b".into(),
                    active: false,
                    interval: MIN_INTERVAL
                }
            ]
        );
    }
}
