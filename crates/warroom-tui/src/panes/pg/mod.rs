//! The PostgreSQL pane: sessions from pg_stat_activity, the blocking tree, a sparkline of
//! sessions by state, several contexts. State only; drawing is in `render`.

mod render;
#[cfg(test)]
mod tests;
pub mod view;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::keymap::{KeyAction, Scope};
use warroom_core::backends::postgres::statements::{
    StatementDelta, StatementsReport, StatementsSort, StatementsUpdate, sessions_running,
};
use warroom_core::backends::postgres::waits::{WaitLoad, WaitProfile, WaitSample, session_in_wait};
use warroom_core::backends::postgres::{
    ActivitySnapshot, BlockingNode, PgSession, SessionState, blocking_tree,
};
use warroom_core::guard::{GuardedAction, PgTarget};
use warroom_core::human::opt_duration;
use warroom_core::pod_directory::{PodDirectory, PodRef};
use warroom_core::sanitize;
use warroom_core::service::{LinkValues, Service};

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use super::contexts::ContextSet;
use super::table::{ListCursor, Sort};
use super::{Detail, Effect, Pane, PaneId, PaneMeta, PaneMsg, PaneStatus};
use crate::command::{Command, Polled};
use crate::workers::Event;
use view::Column;

/// How many refreshes of history the sparkline keeps (5 minutes at 2 s).
const HISTORY: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgView {
    Sessions,
    Locks,
    /// pg_stat_statements deltas (polled only while shown).
    Statements,
    /// Active sessions per wait event over the last minutes.
    Waits,
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
    waits: WaitProfile,
    statements: Option<StatementsReport>,
    statements_error: Option<String>,
}

impl ContextData {
    /// A new snapshot: counted into the history, its blocking tree built once.
    fn keep(&mut self, snap: ActivitySnapshot) {
        // The server's clock when it says; else this machine's (samples only need an order).
        let at = snap.header.as_ref().map_or_else(
            || {
                SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            },
            |h| h.figures.server_time,
        );
        self.waits
            .push(WaitSample::from_sessions(at, &snap.sessions));
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
    stmt_sort: StatementsSort,
    stmt_cursor: ListCursor,
    wait_cursor: ListCursor,
    /// Sessions limited to one wait event (Enter in the wait profile).
    wait_filter: Option<(String, String)>,
    /// Sessions limited to one statement (Enter in the statements view, PostgreSQL 14+).
    query_id_filter: Option<i64>,
    /// Pods by address (from the Pods pane's watch): the POD column and the jumps.
    pods: Arc<PodDirectory>,
    /// Sessions limited to one client address (a pod's, from the Pods pane): address, pod.
    client_filter: Option<(String, String)>,
    /// `:focus NAME`: only the sessions of this service (its application_name pattern).
    focus: Option<Arc<Service>>,
}

const META: PaneMeta = PaneMeta {
    id: PaneId::Postgres,
    scope: Scope::Postgres,
    keys: &[
        KeyAction::Cancel,
        KeyAction::Terminate,
        KeyAction::Mark,
        KeyAction::LockView,
        KeyAction::StatementsView,
        KeyAction::WaitView,
        KeyAction::PlanOfQuery,
        KeyAction::SessionPod,
        KeyAction::SessionLogs,
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

/// The hints row must fit 80 columns with the global hints: `E`, `i` and `s` are in `?`.
const HINTS: &[KeyAction] = &[
    KeyAction::LockView,
    KeyAction::StatementsView,
    KeyAction::WaitView,
    KeyAction::Cancel,
    KeyAction::Terminate,
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
            stmt_sort: StatementsSort::Time,
            stmt_cursor: ListCursor::new(10),
            wait_cursor: ListCursor::new(10),
            wait_filter: None,
            query_id_filter: None,
            pods: Arc::default(),
            client_filter: None,
            focus: None,
        }
    }

    /// The sessions of the sessions view, in order (filters and limits applied).
    pub fn shown_sessions(&self) -> Vec<&PgSession> {
        let Some(snap) = self.snapshot() else {
            return Vec::new();
        };
        self.rows
            .iter()
            .filter_map(|&i| snap.sessions.get(i))
            .collect()
    }

    /// Whether pods are watched (the POD column is shown).
    pub fn links_pods(&self) -> bool {
        !self.pods.is_empty()
    }

    /// The pod behind a session's client address, if one is known.
    pub fn pod_of(&self, s: &PgSession) -> Option<&PodRef> {
        self.pods.find(s.client_addr.as_deref()?)
    }

    /// The POD cell: the pod's name (or workload), "(via pooler)", "(gone)"; "-" if none.
    pub fn pod_text(&self, s: &PgSession, workload: bool) -> String {
        self.pod_of(s)
            .map_or_else(|| "-".into(), |p| sanitize::cell(&p.label(workload), 64))
    }

    /// Gone and failing pods stand out.
    pub fn pod_style(&self, s: &PgSession, theme: &crate::theme::Theme) -> ratatui::style::Style {
        match self.pod_of(s) {
            Some(p) if p.gone => theme.muted(),
            Some(p) if p.is_failing() => theme.danger(),
            Some(p) if p.pooler => theme.warn(),
            _ => ratatui::style::Style::default(),
        }
    }

    /// `p` / `l` on a session: its pod in the Pods pane, or that pod's logs.
    fn jump_to_pod(&self, then: Option<KeyAction>) -> Vec<Effect> {
        let Some(s) = self.selected_session() else {
            return Effect::toast("no session selected".into());
        };
        let Some(addr) = s.client_addr.as_deref() else {
            return Effect::toast(format!(
                "pid {}: no client address (a local socket, or hidden from the monitoring role)",
                s.pid
            ));
        };
        let addr_text = sanitize::cell(addr, 64);
        if self.pods.is_empty() {
            return Effect::toast(
                "no pods are watched: add a [[kubernetes]] context to link sessions to pods".into(),
            );
        }
        let Some(pod) = self.pod_of(s) else {
            let n = self.pods.pods_at(addr).len();
            return Effect::toast(if n > 1 {
                format!(
                    "{n} live pods share {addr_text} (host network): warroom cannot tell which one"
                )
            } else {
                format!("no pod of the watched contexts has address {addr_text}")
            });
        };
        let name = sanitize::cell(&pod.name, 80);
        if pod.gone {
            return vec![Effect::Warn(format!(
                "pod {name} ({}) that had {addr_text} was deleted: it is gone",
                sanitize::cell(&pod.namespace, 40)
            ))];
        }
        let mut effects = vec![Effect::Send(
            PaneId::Pods,
            PaneMsg::ShowPod {
                context: pod.context.clone(),
                pod: pod.key(),
                then,
            },
        )];
        if then.is_none() {
            effects.push(Effect::Show(PaneId::Pods));
        }
        if pod.pooler {
            effects.push(Effect::Toast(format!(
                "{name} is a connection pooler: the application behind it is not visible from here"
            )));
        }
        effects
    }

    /// From the Pods pane: only the sessions of one client address.
    fn sessions_from(&mut self, addr: String, label: String) -> Vec<Effect> {
        let want = warroom_core::pod_directory::parse_addr(&addr);
        let count = self.snapshot().map_or(0, |snap| {
            snap.sessions
                .iter()
                .filter(|s| {
                    s.client_addr
                        .as_deref()
                        .and_then(warroom_core::pod_directory::parse_addr)
                        == want
                })
                .count()
        });
        self.client_filter = Some((addr, label.clone()));
        if self.view != PgView::Sessions {
            self.set_view(PgView::Sessions);
        }
        self.cursor.row = 0;
        self.selected_pid = None;
        self.rebuild();
        let context = self
            .current_context()
            .map_or("-".into(), |c| sanitize::cell(c, 40));
        let label = sanitize::cell(&label, 80);
        Effect::show_filtered(
            PaneId::Postgres,
            format!("{count} session(s) from {label} in {context}"),
        )
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
                let mut rows = view::visible_rows(
                    &snap.sessions,
                    &self.filter,
                    self.show_idle
                        || self.wait_filter.is_some()
                        || self.query_id_filter.is_some()
                        || self.client_filter.is_some(),
                    self.sort.by,
                    self.sort.descending,
                );
                if let Some((t, e)) = &self.wait_filter {
                    rows.retain(|&i| {
                        snap.sessions
                            .get(i)
                            .is_some_and(|s| session_in_wait(s, t, e))
                    });
                }
                if let Some(q) = self.query_id_filter {
                    rows.retain(|&i| snap.sessions.get(i).is_some_and(|s| s.query_id == Some(q)));
                }
                if let Some(svc) = &self.focus
                    && svc.application_name.is_some()
                {
                    rows.retain(|&i| {
                        snap.sessions
                            .get(i)
                            .is_some_and(|s| svc.matches_application(&s.application))
                    });
                }
                if let Some((addr, _)) = &self.client_filter {
                    let want = warroom_core::pod_directory::parse_addr(addr);
                    rows.retain(|&i| {
                        snap.sessions.get(i).is_some_and(|s| {
                            s.client_addr
                                .as_deref()
                                .and_then(warroom_core::pod_directory::parse_addr)
                                == want
                        })
                    });
                }
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
            PgView::Statements => self.statement_rows().len(),
            PgView::Waits => self.wait_events().len(),
        }
    }

    /// The statements of the last interval, sorted and filtered as shown.
    pub fn statement_rows(&self) -> Vec<&StatementDelta> {
        let Some(StatementsReport {
            update: StatementsUpdate::Deltas(d),
            ..
        }) = self.contexts.data().and_then(|d| d.statements.as_ref())
        else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&StatementDelta> = d
            .statements
            .iter()
            .filter(|s| needle.is_empty() || s.info.query.to_lowercase().contains(&needle))
            .collect();
        let mut owned: Vec<StatementDelta> = rows.iter().map(|s| (*s).clone()).collect();
        self.stmt_sort.sort(&mut owned);
        let order: Vec<i64> = owned.iter().map(|s| s.queryid).collect();
        rows.sort_by_key(|s| order.iter().position(|q| *q == s.queryid));
        rows
    }

    pub fn statements_report(&self) -> Option<&StatementsReport> {
        self.contexts.data()?.statements.as_ref()
    }

    pub fn statements_error(&self) -> Option<&str> {
        self.contexts.data()?.statements_error.as_deref()
    }

    pub fn wait_profile(&self) -> Option<&WaitProfile> {
        self.contexts.data().map(|d| &d.waits)
    }

    /// Wait events over the window, heaviest first.
    pub fn wait_events(&self) -> Vec<WaitLoad> {
        self.wait_profile()
            .map(WaitProfile::events)
            .unwrap_or_default()
    }

    /// The sessions are limited (wait event, statement): what to say about it.
    pub fn session_limit(&self) -> Option<String> {
        let focus = self.focus.as_ref().map(|svc| {
            let pattern = svc.application_name.as_ref().map(|p| p.text());
            svc.focus_note("application_name", "application_name ", pattern, "sessions")
        });
        let other = self.other_limit();
        match (focus, other) {
            (Some(f), Some(o)) => Some(format!("{f} · {o}")),
            (f, o) => f.or(o),
        }
    }

    fn other_limit(&self) -> Option<String> {
        if let Some((t, e)) = &self.wait_filter {
            return Some(format!("only {t}:{e} (esc clears)"));
        }
        if let Some((addr, label)) = &self.client_filter {
            return Some(format!(
                "only from {} {} (esc clears)",
                sanitize::cell(label, 60),
                sanitize::cell(addr, 40)
            ));
        }
        self.query_id_filter
            .map(|q| format!("only statement {q} (esc clears)"))
    }

    fn set_view(&mut self, view: PgView) -> Vec<Effect> {
        self.view = if self.view == view {
            PgView::Sessions
        } else {
            view
        };
        self.cursor.row = 0;
        self.rebuild();
        self.move_to(0);
        // The statements poll runs only while its view is shown.
        vec![Effect::Resubscribe]
    }

    fn plan(&self) -> Vec<Effect> {
        let Some(ctx) = self.current_context() else {
            return Effect::toast("no PostgreSQL context configured".into());
        };
        match self.selected_session() {
            Some(s) => vec![
                Effect::Command(Command::PgExplain {
                    context: ctx.to_string(),
                    pid: s.pid,
                }),
                Effect::Toast(format!(
                    "planning the query of pid {} (EXPLAIN, not run)",
                    s.pid
                )),
            ],
            None => Effect::toast("select a session to see the plan of its query".into()),
        }
    }

    /// Enter in the statements view: the sessions running the selected statement now.
    fn sessions_of_statement(&mut self) -> Vec<Effect> {
        let rows = self.statement_rows();
        let Some(q) = rows.get(self.stmt_cursor.row).map(|s| s.queryid) else {
            return Effect::toast("no statement selected".into());
        };
        let off = self
            .statements_report()
            .is_some_and(|r| r.compute_query_id_off);
        let running = self
            .snapshot()
            .map(|s| sessions_running(&s.sessions, q).len())
            .unwrap_or(0);
        self.query_id_filter = Some(q);
        let mut effects = self.set_view(PgView::Sessions);
        if self.view != PgView::Sessions {
            effects = self.set_view(PgView::Sessions);
        }
        effects.push(Effect::Toast(if off {
            "compute_query_id is off: sessions carry no query_id, none can be matched".into()
        } else if self
            .snapshot()
            .is_some_and(|s| s.sessions.iter().all(|x| x.query_id.is_none()))
        {
            "sessions show no query_id (PostgreSQL 14+ with compute_query_id): none can be matched"
                .into()
        } else {
            format!("{running} session(s) run statement {q} now")
        }));
        effects
    }

    /// Enter in the wait profile: the sessions in the selected wait event.
    fn sessions_in_wait(&mut self) -> Vec<Effect> {
        let Some(e) = self.wait_events().get(self.wait_cursor.row).cloned() else {
            return Effect::toast("no wait event selected".into());
        };
        let text = format!("sessions in {}:{}", e.wait_event_type, e.wait_event);
        self.wait_filter = Some((e.wait_event_type, e.wait_event));
        let mut effects = self.set_view(PgView::Sessions);
        if self.view != PgView::Sessions {
            effects = self.set_view(PgView::Sessions);
        }
        effects.push(Effect::Toast(text));
        effects
    }

    fn pid_at(&self, row: usize) -> Option<i32> {
        match self.view {
            PgView::Sessions => {
                let snap = self.snapshot()?;
                Some(snap.sessions.get(*self.rows.get(row)?)?.pid)
            }
            PgView::Locks => Some(self.tree_rows.get(row)?.pid),
            PgView::Statements | PgView::Waits => None,
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

    /// c/x would act on a session whose start time is hidden (it cannot be identified).
    fn targets_hidden(&self) -> bool {
        self.targets()
            .is_ok_and(|sessions| sessions.iter().any(|s| s.backend_start.is_none()))
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
                        warroom_core::backends::postgres::hidden_session_refusal(
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
            format!(
                "waits for        {}",
                s.lock
                    .as_ref()
                    .map_or("-".into(), |l| sanitize::cell(&l.describe(), 300))
            ),
            format!(
                "query_id         {}",
                s.query_id.map_or("-".into(), |q| q.to_string())
            ),
            String::new(),
            "query:".into(),
        ];
        if self.links_pods() {
            // After "client": the pod behind its address.
            let pod = self.pod_of(s).map_or("-".into(), |p| {
                let owner = p
                    .owner
                    .as_deref()
                    .map_or(String::new(), |o| format!(", {o}"));
                sanitize::cell(
                    &format!("{}/{} in {}{owner}", p.namespace, p.label(false), p.context),
                    200,
                )
            });
            lines.insert(5, format!("pod              {pod}"));
        }
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

fn sort_name(s: StatementsSort) -> &'static str {
    match s {
        StatementsSort::Time => "time",
        StatementsSort::Calls => "calls",
        StatementsSort::Mean => "mean time",
        StatementsSort::Io => "blocks read + temp",
    }
}

impl Pane for PgPane {
    fn meta(&self) -> &'static PaneMeta {
        &META
    }

    fn on_action(&mut self, action: KeyAction) -> Vec<Effect> {
        match (self.view, action) {
            (_, KeyAction::StatementsView) => return self.set_view(PgView::Statements),
            (_, KeyAction::WaitView) => return self.set_view(PgView::Waits),
            (PgView::Sessions | PgView::Locks, KeyAction::PlanOfQuery) => return self.plan(),
            (PgView::Statements | PgView::Waits, KeyAction::PlanOfQuery) => {
                return Effect::toast(
                    "E plans a session's query: select one in the sessions view".into(),
                );
            }
            // No session is shown in these views: never act on one selected elsewhere.
            (
                PgView::Statements | PgView::Waits,
                KeyAction::Cancel | KeyAction::Terminate | KeyAction::Mark,
            ) => {
                return Effect::toast(
                    "cancel, terminate and mark act on sessions: enter lists the sessions of the selected row".into(),
                );
            }
            (PgView::Statements, KeyAction::Open) => return self.sessions_of_statement(),
            (PgView::Waits, KeyAction::Open) => return self.sessions_in_wait(),
            (PgView::Statements, KeyAction::SortNext | KeyAction::SortReverse) => {
                self.stmt_sort = match self.stmt_sort {
                    StatementsSort::Time => StatementsSort::Calls,
                    StatementsSort::Calls => StatementsSort::Mean,
                    StatementsSort::Mean => StatementsSort::Io,
                    StatementsSort::Io => StatementsSort::Time,
                };
                return Effect::toast(format!(
                    "statements sorted by {}",
                    sort_name(self.stmt_sort)
                ));
            }
            (PgView::Statements, _) => {
                if let Some(row) = self.stmt_cursor.moved(action, self.row_count()) {
                    self.stmt_cursor.row = row.min(self.row_count().saturating_sub(1));
                    return Vec::new();
                }
            }
            (PgView::Waits, _) => {
                if let Some(row) = self.wait_cursor.moved(action, self.row_count()) {
                    self.wait_cursor.row = row.min(self.row_count().saturating_sub(1));
                    return Vec::new();
                }
            }
            _ => {}
        }
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
            KeyAction::LockView => return self.set_view(PgView::Locks),
            KeyAction::Mark => {
                if let Some(s) = self.selected_session() {
                    let (pid, start) = (s.pid, s.backend_start);
                    if self.marked.remove(&pid).is_none() {
                        self.marked.insert(pid, start);
                    }
                    self.move_to(self.cursor.row + 1);
                }
            }
            KeyAction::SessionPod => return self.jump_to_pod(None),
            KeyAction::SessionLogs => return self.jump_to_pod(Some(KeyAction::PodLogs)),
            KeyAction::Cancel => return self.guard(GuardedAction::pg_cancel),
            KeyAction::Terminate => return self.guard(GuardedAction::pg_terminate),
            _ => return Vec::new(),
        }
        Vec::new()
    }

    fn update(&mut self, msg: PaneMsg) -> Vec<Effect> {
        match msg {
            PaneMsg::Worker(Event::PgUpdate(u)) => {
                // A snapshot of the shown context: marks of gone sessions go, rows follow.
                let shown =
                    self.contexts
                        .apply(&u.context, u.result, u.retry_in, ContextData::keep);
                if shown == Some(true) {
                    self.prune_marks();
                    self.rebuild();
                }
            }
            PaneMsg::Worker(Event::PgStatements(u)) => {
                if let Some((p, _)) = self.contexts.entry_mut(&u.context) {
                    let d = &mut p.data;
                    match u.result {
                        Ok(report) => {
                            d.statements = Some(report);
                            d.statements_error = None;
                        }
                        Err(e) => d.statements_error = Some(e.to_string()),
                    }
                }
                self.stmt_cursor.row = self.stmt_cursor.row.min(self.row_count().saturating_sub(1));
            }
            PaneMsg::Pods(pods) => self.pods = pods,
            PaneMsg::Focus(focus) => {
                self.focus = focus;
                self.rebuild();
            }
            PaneMsg::SessionsFrom { addr, label } => return self.sessions_from(addr, label),
            PaneMsg::Worker(Event::PgPlan { context, result }) => {
                return match result {
                    Ok(plan) => {
                        let (title, lines) = crate::widgets::statements::plan_detail(&plan);
                        vec![Effect::Detail(Detail {
                            title: format!("{title} ({})", sanitize::cell(&context, 40)),
                            lines,
                        })]
                    }
                    Err(e) => vec![Effect::Warn(format!("no plan: {e}"))],
                };
            }
            _ => {}
        }
        Vec::new()
    }

    fn subscriptions(&self, visible: bool) -> Vec<Command> {
        let mut polls = self
            .contexts
            .polls(visible, Command::poll(Polled::PgSessions));
        polls.extend(self.contexts.polls(
            visible && self.view == PgView::Statements,
            Command::poll(Polled::PgStatements),
        ));
        polls
    }

    fn command_line(&mut self, name: &str, _args: &str) -> Option<Vec<Effect>> {
        match name {
            "statements" => {
                let mut effects = vec![Effect::Show(PaneId::Postgres)];
                if self.view != PgView::Statements {
                    effects.extend(self.set_view(PgView::Statements));
                }
                Some(effects)
            }
            "waits" => {
                let mut effects = vec![Effect::Show(PaneId::Postgres)];
                if self.view != PgView::Waits {
                    effects.extend(self.set_view(PgView::Waits));
                }
                Some(effects)
            }
            _ => None,
        }
    }

    context_pane_methods!(context_changed);

    fn on_reports(&mut self, _reports: &[warroom_core::guard::ActionReport]) {
        self.clear_marks();
    }

    fn on_back(&mut self) -> Option<String> {
        if self.wait_filter.is_some()
            || self.query_id_filter.is_some()
            || self.client_filter.is_some()
        {
            self.wait_filter = None;
            self.query_id_filter = None;
            self.client_filter = None;
            self.rebuild();
            return Some("showing all sessions".into());
        }
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

    fn guard_blocked(&self) -> Option<&'static str> {
        self.targets_hidden().then_some("hidden session")
    }

    fn explain(&self) -> Vec<String> {
        let mut lines = match self.view {
            PgView::Sessions => vec![
                "Each row is one server session (pg_stat_activity). QUERY: how long its current query has run; XACT: how long its transaction has been open; WAIT: what it waits for; BLOCKED BY: sessions holding a lock it needs.".to_string(),
                "A long XACT in state 'idle in transaction' is a client that opened a transaction and stopped talking: it keeps every lock it took.".to_string(),
            ],
            PgView::Locks => vec![
                "The blocking tree: roots hold locks and wait on nobody; WAITING counts every session queued behind them, directly or behind another waiter. Acting on the root frees the whole queue; acting on a waiter frees nobody else.".to_string(),
                "LOCK says what each waiter waits for: the lock type and mode it asked for, the table (or the transaction and row), and the mode its blocker holds.".to_string(),
            ],
            PgView::Statements => vec![
                "Statements from pg_stat_statements, counted over the last refresh interval only (not since the last reset): CALLS/S, TIME% (share of all statements' execution time), MS/S (execution milliseconds per second: 1000 = one core busy), MEAN, MAX* (since the entry was reset), ROWS/C, shared blocks READ from outside shared buffers and HIT in them, TEMP blocks, WAL.".to_string(),
                "Read it top down: the first rows are what eats the server now. A high MEAN with few calls is one slow query (E on a session running it shows its plan); many calls with a low MEAN is an application loop. enter lists the sessions running the statement now (PostgreSQL 14+, compute_query_id).".to_string(),
                "Polled only while this view is shown: one statement per refresh, the top 500 by time in the interval.".to_string(),
            ],
            PgView::Waits => vec![
                "The wait profile: how many active sessions were in each wait event, on average over the refreshes of the last 10 minutes, with one sparkline per wait type. CPU means active with no wait: working, or waiting for a CPU.".to_string(),
                "Lock: sessions queue behind another's lock (look at the blocking tree, L). LWLock: contention inside the server. IO: reading or writing data files or WAL. Client: the server waits for the application. enter shows the sessions in the selected wait now.".to_string(),
            ],
        };
        lines.push("The header: connections used / max_connections and per state; commits, rollbacks, cache hit ratio and temp bytes over the last interval; the longest transaction; the oldest xmin holder (what keeps vacuum from cleaning: a session, a prepared transaction or a replication slot); each standby's lag, or the replay lag of this standby.".to_string());
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

    fn link_values(&self) -> LinkValues {
        let Some(s) = self.selected_session() else {
            return LinkValues::default();
        };
        let pod = self.pod_of(s).filter(|p| !p.gone);
        LinkValues {
            pod: pod.map(|p| p.name.clone()),
            namespace: pod.map(|p| p.namespace.clone()),
            pid: Some(s.pid.to_string()),
            since: s
                .query_start
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            application: Some(s.application.clone()),
            ..LinkValues::default()
        }
    }
}
