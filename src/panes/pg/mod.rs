//! The PostgreSQL pane: sessions from pg_stat_activity, the blocking tree, a sparkline of
//! sessions by state, several contexts. State only; drawing is in `render`.

mod render;
pub mod view;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::backends::postgres::{
    ActivitySnapshot, BlockingNode, PgSession, SessionState, blocking_tree,
};
use crate::config::{KeyAction, Scope};
use crate::guard::{GuardedAction, PgTarget};
use crate::widgets::format::opt_duration;
use crate::widgets::sanitize;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use super::contexts::ContextSet;
use super::table::{ListCursor, Sort};
use super::{Detail, Effect, Pane, PaneId, PaneMeta, PaneMsg, PaneStatus};
use crate::app::{Command, Msg};
use view::Column;

/// How many refreshes of history the sparkline keeps (5 minutes at 2 s).
const HISTORY: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgView {
    Sessions,
    Locks,
}

/// Sessions by state at one refresh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub active: u64,
    pub idle_in_transaction: u64,
    pub idle: u64,
    pub waiting: u64,
}

impl StateCounts {
    fn of(sessions: &[PgSession]) -> StateCounts {
        let mut c = StateCounts::default();
        for s in sessions {
            match s.session_state() {
                SessionState::Active => c.active += 1,
                SessionState::Idle => c.idle += 1,
                SessionState::IdleInTransaction => c.idle_in_transaction += 1,
                SessionState::Other => {}
            }
            if s.waits_on_lock() {
                c.waiting += 1;
            }
        }
        c
    }
}

/// One row of the lock view.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRow {
    pub depth: usize,
    pub pid: i32,
    pub waiting_count: usize,
    /// Index into the snapshot's sessions; `None` for blockers not in the snapshot.
    pub session: Option<usize>,
}

/// What the pane knows of one context.
#[derive(Debug, Default)]
struct ContextData {
    snapshot: Option<ActivitySnapshot>,
    history: VecDeque<StateCounts>,
    tree: Vec<BlockingNode>,
}

impl ContextData {
    /// A new snapshot: counted into the history, its blocking tree built once.
    fn keep(&mut self, snap: ActivitySnapshot) {
        self.history.push_back(StateCounts::of(&snap.sessions));
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.tree = blocking_tree(&snap.sessions);
        self.snapshot = Some(snap);
    }
}

pub struct PgPane {
    contexts: ContextSet<ContextData>,
    view: PgView,
    sort: Sort<Column>,
    show_idle: bool,
    filter: String,
    cursor: ListCursor,
    selected_pid: Option<i32>,
    /// pid -> backend_start of marked sessions: a recycled pid is not the marked session.
    marked: BTreeMap<i32, Option<SystemTime>>,
    rows: Vec<usize>,
    tree_rows: Vec<TreeRow>,
}

const META: PaneMeta = PaneMeta {
    id: PaneId::Postgres,
    scope: Scope::Postgres,
    keys: &[
        KeyAction::Cancel,
        KeyAction::Terminate,
        KeyAction::Mark,
        KeyAction::LockView,
        KeyAction::ToggleIdle,
        KeyAction::SortNext,
        KeyAction::SortReverse,
        KeyAction::RefreshFaster,
        KeyAction::RefreshSlower,
        KeyAction::NextContext,
        KeyAction::Open,
        KeyAction::Filter,
    ],
    hints: HINTS,
};

const HINTS: &[KeyAction] = &[
    KeyAction::LockView,
    KeyAction::Cancel,
    KeyAction::Terminate,
    KeyAction::ToggleIdle,
    KeyAction::SortNext,
];

impl PgPane {
    pub fn new(contexts: Vec<String>, initial: Option<&str>, interval: Duration) -> PgPane {
        PgPane {
            contexts: ContextSet::new(contexts, initial, interval),
            view: PgView::Sessions,
            sort: Sort::new(Column::QueryTime),
            show_idle: false,
            filter: String::new(),
            cursor: ListCursor::new(10),
            selected_pid: None,
            marked: BTreeMap::new(),
            rows: Vec::new(),
            tree_rows: Vec::new(),
        }
    }

    pub fn current_context(&self) -> Option<&str> {
        self.contexts.current_name()
    }

    pub fn interval(&self) -> Duration {
        self.contexts.interval()
    }

    pub fn view(&self) -> PgView {
        self.view
    }

    /// Another context is shown: marks, cursor and selection belong to the old one.
    fn context_changed(&mut self) {
        self.marked.clear();
        self.cursor.row = 0;
        self.selected_pid = None;
        self.rebuild();
    }

    pub fn snapshot(&self) -> Option<&ActivitySnapshot> {
        self.contexts.data()?.snapshot.as_ref()
    }

    fn prune_marks(&mut self) {
        let Some(snap) = self.snapshot() else { return };
        let alive: BTreeMap<i32, Option<SystemTime>> = snap
            .sessions
            .iter()
            .map(|s| (s.pid, s.backend_start))
            .collect();
        self.marked
            .retain(|pid, start| alive.get(pid) == Some(start));
    }

    /// Recompute the visible rows, keeping the selection on the same pid.
    fn rebuild(&mut self) {
        let (rows, tree_rows) = match self.contexts.data() {
            Some(ContextData {
                snapshot: Some(snap),
                tree,
                ..
            }) => {
                let rows = view::visible_rows(
                    &snap.sessions,
                    &self.filter,
                    self.show_idle,
                    self.sort.by,
                    self.sort.descending,
                );
                let index: std::collections::HashMap<i32, usize> = snap
                    .sessions
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.pid, i))
                    .collect();
                let tree_rows = tree
                    .iter()
                    .flat_map(BlockingNode::walk)
                    .map(|(depth, n)| TreeRow {
                        depth,
                        pid: n.pid,
                        waiting_count: n.waiting_count,
                        session: index.get(&n.pid).copied(),
                    })
                    .collect();
                (rows, tree_rows)
            }
            _ => (Vec::new(), Vec::new()),
        };
        self.rows = rows;
        self.tree_rows = tree_rows;
        let len = self.row_count();
        if let Some(pid) = self.selected_pid
            && let Some(pos) = (0..len).find(|&i| self.pid_at(i) == Some(pid))
        {
            self.cursor.row = pos;
        }
        self.cursor.row = self.cursor.row.min(len.saturating_sub(1));
        self.selected_pid = self.pid_at(self.cursor.row);
    }

    fn row_count(&self) -> usize {
        match self.view {
            PgView::Sessions => self.rows.len(),
            PgView::Locks => self.tree_rows.len(),
        }
    }

    fn pid_at(&self, row: usize) -> Option<i32> {
        match self.view {
            PgView::Sessions => {
                let snap = self.snapshot()?;
                Some(snap.sessions.get(*self.rows.get(row)?)?.pid)
            }
            PgView::Locks => Some(self.tree_rows.get(row)?.pid),
        }
    }

    pub fn selected_session(&self) -> Option<&PgSession> {
        let pid = self.selected_pid?;
        self.snapshot()?.sessions.iter().find(|s| s.pid == pid)
    }

    fn move_to(&mut self, row: usize) {
        let len = self.row_count();
        self.cursor.row = row.min(len.saturating_sub(1));
        self.selected_pid = self.pid_at(self.cursor.row);
    }

    /// Targets of c/x: the marked sessions, else the selected one.
    fn targets(&self) -> Result<Vec<PgSession>, String> {
        let Some(snap) = self.snapshot() else {
            return Err("no data yet: nothing to act on".into());
        };
        if !self.marked.is_empty() {
            let chosen: Vec<PgSession> = snap
                .sessions
                .iter()
                .filter(|s| self.marked.get(&s.pid) == Some(&s.backend_start))
                .cloned()
                .collect();
            return if chosen.is_empty() {
                Err("the marked sessions are gone".into())
            } else {
                Ok(chosen)
            };
        }
        match self.selected_session() {
            Some(s) => Ok(vec![s.clone()]),
            None if self.view == PgView::Locks && self.selected_pid.is_some() => Err(format!(
                "pid {} is not a visible client session: warroom cannot act on it",
                self.selected_pid.unwrap_or_default()
            )),
            None => Err("no session selected".into()),
        }
    }

    fn guard(&self, make: fn(PgTarget) -> GuardedAction) -> Vec<Effect> {
        let Some(ctx) = self.current_context() else {
            return Effect::toast("no PostgreSQL context configured".into());
        };
        let monitor_role = self.snapshot().map(|s| s.monitor_role.clone());
        match self.targets() {
            // A session whose start time is hidden cannot be identified: the key does nothing
            // but say why and what to grant (the executor refuses it too).
            Ok(sessions) if sessions.iter().any(|s| s.backend_start.is_none()) => {
                let hidden = sessions.iter().filter(|s| s.backend_start.is_none());
                let why: Vec<String> = hidden
                    .map(|s| {
                        crate::backends::postgres::hidden_session_refusal(
                            s.pid,
                            monitor_role.as_deref(),
                        )
                    })
                    .take(1)
                    .collect();
                vec![Effect::Warn(why.join(" "))]
            }
            Ok(sessions) => vec![Effect::Guard(
                sessions
                    .iter()
                    .map(|s| make(PgTarget::from_session(ctx, s)))
                    .collect(),
            )],
            Err(e) => Effect::toast(e),
        }
    }

    /// Marks cleared after the guard ran (the App calls this).
    pub fn clear_marks(&mut self) {
        self.marked.clear();
    }

    pub fn marked_count(&self) -> usize {
        self.marked.len()
    }

    fn detail(&self) -> Option<Detail> {
        let s = self.selected_session()?;
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map_or("-".to_string(), |t| sanitize::cell(t, 200))
        };
        let time = |t: Option<SystemTime>| {
            t.map_or("-".to_string(), |t| {
                humantime::format_rfc3339_seconds(t).to_string()
            })
        };
        let mut lines = vec![
            format!("pid              {}", s.pid),
            format!("database         {}", opt(&s.database)),
            format!("user             {}", opt(&s.user)),
            format!("application      {}", sanitize::cell(&s.application, 200)),
            format!("client           {}", opt(&s.client_addr)),
            format!("state            {}", opt(&s.state)),
            format!("wait             {}", Column::Wait.text(s)),
            format!("session started  {}", time(s.backend_start)),
            format!(
                "query started    {} ({} ago)",
                time(s.query_start),
                opt_duration(s.query_seconds)
            ),
            format!("transaction      {}", opt_duration(s.xact_seconds)),
            format!(
                "blocked by       {}",
                if s.blocked_by.is_empty() {
                    "-".into()
                } else {
                    Column::BlockedBy.text(s)
                }
            ),
            String::new(),
            "query:".into(),
        ];
        // Keep the query's own line breaks; sanitize each line.
        lines.extend(s.query.lines().map(|l| sanitize::cell(l, 2000)));
        Some(Detail {
            title: format!("session {}", s.pid),
            lines,
        })
    }

    /// Counts for the sparkline, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &StateCounts> {
        self.contexts
            .data()
            .into_iter()
            .flat_map(|d| d.history.iter())
    }
}

impl Pane for PgPane {
    fn meta(&self) -> &'static PaneMeta {
        &META
    }

    fn on_action(&mut self, action: KeyAction) -> Vec<Effect> {
        if let Some(effects) = table_keys!(self, action, self.row_count(), "PostgreSQL") {
            return effects;
        }
        match action {
            KeyAction::Open => {
                return match self.detail() {
                    Some(d) => vec![Effect::Detail(d)],
                    None => Effect::toast("no session selected".into()),
                };
            }
            KeyAction::ToggleIdle => {
                self.show_idle = !self.show_idle;
                self.rebuild();
                return Effect::toast(
                    if self.show_idle {
                        "showing idle sessions"
                    } else {
                        "hiding idle sessions"
                    }
                    .into(),
                );
            }
            KeyAction::LockView => {
                self.view = match self.view {
                    PgView::Sessions => PgView::Locks,
                    PgView::Locks => PgView::Sessions,
                };
                self.cursor.row = 0;
                self.rebuild();
                self.move_to(0);
            }
            KeyAction::Mark => {
                if let Some(s) = self.selected_session() {
                    let (pid, start) = (s.pid, s.backend_start);
                    if self.marked.remove(&pid).is_none() {
                        self.marked.insert(pid, start);
                    }
                    self.move_to(self.cursor.row + 1);
                }
            }
            KeyAction::Cancel => return self.guard(GuardedAction::PgCancel),
            KeyAction::Terminate => return self.guard(GuardedAction::PgTerminate),
            _ => return Vec::new(),
        }
        Vec::new()
    }

    fn update(&mut self, msg: PaneMsg) -> Vec<Effect> {
        if let PaneMsg::Worker(Msg::PgUpdate {
            context,
            result,
            retry_in,
        }) = msg
        {
            // A snapshot of the shown context: marks of gone sessions go, rows follow.
            let shown = self
                .contexts
                .apply(&context, result, retry_in, ContextData::keep);
            if shown == Some(true) {
                self.prune_marks();
                self.rebuild();
            }
        }
        Vec::new()
    }

    fn subscriptions(&self, visible: bool) -> Vec<Command> {
        self.contexts.polls(visible, Command::pg_poll)
    }

    context_pane_methods!(context_changed);

    fn on_reports(&mut self, _reports: &[crate::guard::ActionReport]) {
        self.clear_marks();
    }

    fn on_back(&mut self) -> Option<String> {
        if self.marked.is_empty() {
            return None;
        }
        self.clear_marks();
        Some("marks cleared".into())
    }

    fn status(&self) -> PaneStatus {
        let mut note = vec![format!(
            "every {}",
            humantime::format_duration(self.interval())
        )];
        if !self.marked.is_empty() {
            note.push(format!("{} marked", self.marked.len()));
        }
        if let Some(p) = self.snapshot().and_then(ActivitySnapshot::privilege_note) {
            note.push(p);
        }
        self.contexts.status(Some(note.join(" · ")))
    }

    fn explain(&self) -> Vec<String> {
        let mut lines = match self.view {
            PgView::Sessions => vec![
                "Each row is one server session (pg_stat_activity). QUERY: how long its current query has run; XACT: how long its transaction has been open; WAIT: what it waits for; BLOCKED BY: sessions holding a lock it needs.".to_string(),
                "A long XACT in state 'idle in transaction' is a client that opened a transaction and stopped talking: it keeps every lock it took.".to_string(),
            ],
            PgView::Locks => vec![
                "The blocking tree: roots hold locks and wait on nobody; WAITING counts every session queued behind them, directly or behind another waiter. Acting on the root frees the whole queue; acting on a waiter frees nobody else.".to_string(),
            ],
        };
        lines.push("c cancels the running query (the session stays connected); x terminates the session (its transaction rolls back, its locks are released). Both ask for a reason and write an audit record first.".to_string());
        if let Some(s) = self.selected_session() {
            let state = s.state.as_deref().unwrap_or("");
            let about = if s.session_state() == SessionState::IdleInTransaction {
                format!(
                    "Selected pid {}: idle in transaction, runs no query. Cancel does nothing here; terminate ends its transaction.",
                    s.pid
                )
            } else if !s.blocked_by.is_empty() {
                format!(
                    "Selected pid {}: waits on {} — a victim, not the cause. Look at the root of its tree (L).",
                    s.pid,
                    Column::BlockedBy.text(s)
                )
            } else if s.session_state() == SessionState::Active {
                format!(
                    "Selected pid {}: running a query for {}. Cancel stops that query and keeps the session.",
                    s.pid,
                    opt_duration(s.query_seconds)
                )
            } else {
                format!(
                    "Selected pid {}: {}.",
                    s.pid,
                    if state.is_empty() { "no state" } else { state }
                )
            };
            lines.push(about);
        }
        lines
    }

    fn render(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        render::draw(self, frame, area, ctx);
    }
}
