//! The Kafka pane: consumer groups with lag, status, trend and time lag; a group's
//! partitions in the detail; delete, reset (with preview) and undo through the guard.
//! State only; drawing is in `render`. It knows nothing of rdkafka: it gets snapshots.

pub mod flow;
pub mod member_pods;
mod render;
pub mod view;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::keymap::{KeyAction, Scope};
use warroom_core::backends::kafka::{ConsumerGroup, History, KafkaSnapshot, Moved, ResetPlan};
use warroom_core::guard::kafka::{KafkaAction, KafkaGroupTarget, KafkaResetTarget};
use warroom_core::guard::{ActionReport, GuardedAction};
use warroom_core::sanitize;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use super::contexts::ContextSet;
use super::table::{ListCursor, Sort};
use super::{Detail, Effect, Pane, PaneId, PaneMeta, PaneMsg, PaneStatus};
use crate::command::{Command, Polled};
use crate::workers::Event;
use view::{GroupRow, SortKey};
use warroom_core::backends::BackendError;

#[derive(Debug, Default)]
struct ContextData {
    snapshot: Option<KafkaSnapshot>,
    history: History,
}

/// A reset that ran in this session, for `u`.
#[derive(Debug, Clone, PartialEq)]
pub struct DoneReset {
    pub plan: ResetPlan,
    pub audit_id: Option<String>,
}

pub struct KafkaPane {
    contexts: ContextSet<ContextData>,
    sort: Sort<SortKey>,
    filter: String,
    cursor: ListCursor,
    selected: Option<String>,
    rows: Vec<GroupRow>,
    /// (context, group) -> the last reset done from this session.
    resets: HashMap<(String, String), DoneReset>,
    /// Pods by address (from the Pods pane): the pod of each member.
    pods: std::sync::Arc<warroom_core::pod_directory::PodDirectory>,
    /// The hosts of each group's last members (a STOP group has none now).
    last_members: member_pods::LastMembers,
    /// Only the groups with a member at this address (a pod's, from the Pods pane).
    member_filter: Option<(String, String)>,
    /// `:focus NAME`: only the groups of this service (its kafka_group pattern).
    focus: Option<std::sync::Arc<warroom_core::service::Service>>,
    /// Every service: which pods consume a group that has no members.
    services: std::sync::Arc<Vec<warroom_core::service::Service>>,
}

const META: PaneMeta = PaneMeta {
    id: PaneId::Kafka,
    scope: Scope::Kafka,
    keys: &[
        KeyAction::Open,
        KeyAction::KafkaDeleteGroup,
        KeyAction::KafkaResetOffsets,
        KeyAction::KafkaUndoReset,
        KeyAction::SortNext,
        KeyAction::SortReverse,
        KeyAction::RefreshFaster,
        KeyAction::RefreshSlower,
        KeyAction::NextContext,
        KeyAction::Filter,
    ],
    hints: HINTS,
};

const HINTS: &[KeyAction] = &[
    KeyAction::Open,
    KeyAction::KafkaResetOffsets,
    KeyAction::KafkaUndoReset,
    KeyAction::KafkaDeleteGroup,
    KeyAction::SortNext,
];

impl KafkaPane {
    pub fn new(contexts: Vec<String>, initial: Option<&str>, interval: Duration) -> KafkaPane {
        KafkaPane {
            contexts: ContextSet::new(contexts, initial, interval),
            sort: Sort::new(SortKey::Lag),
            filter: String::new(),
            cursor: ListCursor::new(10),
            selected: None,
            rows: Vec::new(),
            resets: HashMap::new(),
            pods: Default::default(),
            last_members: Default::default(),
            member_filter: None,
            focus: None,
            services: Default::default(),
        }
    }

    /// From the Pods pane: the groups a pod's address is (or last was) a member of.
    fn groups_of(&mut self, addr: String, label: String) -> Vec<Effect> {
        self.member_filter = Some((addr, label.clone()));
        self.cursor.row = 0;
        self.selected = None;
        self.rebuild();
        let label = sanitize::cell(&label, 80);
        Effect::show_filtered(
            PaneId::Kafka,
            format!(
                "{} consumer group(s) with a member on {label} (esc shows all)",
                self.rows.len()
            ),
        )
    }

    /// The groups are limited to a pod's memberships: what to say about it.
    pub fn member_limit(&self) -> Option<String> {
        let focus = self.focus.as_ref().map(|svc| {
            let pattern = svc.kafka_group.as_ref().map(|p| p.text());
            svc.focus_note("kafka_group", "groups ", pattern, "groups")
        });
        let member = self
            .member_filter
            .as_ref()
            .map(|(_, label)| format!("only groups of {} (esc clears)", sanitize::cell(label, 60)));
        match (focus, member) {
            (Some(f), Some(m)) => Some(format!("{f} · {m}")),
            (f, m) => f.or(m),
        }
    }

    pub fn current_context(&self) -> Option<&str> {
        self.contexts.current_name()
    }

    pub fn interval(&self) -> Duration {
        self.contexts.interval()
    }

    /// Another context is shown: the cursor and the selection belong to the old one.
    fn context_changed(&mut self) {
        self.cursor.row = 0;
        self.selected = None;
        self.rebuild();
    }

    pub fn snapshot(&self) -> Option<&KafkaSnapshot> {
        self.contexts.data()?.snapshot.as_ref()
    }

    pub fn history(&self) -> Option<&History> {
        self.contexts.data().map(|d| &d.history)
    }

    /// A new snapshot (or error) from the worker for `context`.
    pub fn apply(
        &mut self,
        context: &str,
        result: Result<KafkaSnapshot, BackendError>,
        retry_in: Option<Duration>,
    ) {
        if let Ok(snap) = &result {
            self.last_members.observe(context, snap);
        }
        let shown = self.contexts.apply(context, result, retry_in, |d, snap| {
            d.history.observe(&snap);
            d.snapshot = Some(snap);
        });
        if shown == Some(true) {
            self.rebuild();
        }
    }

    /// Remember successful resets (for undo) after the guard ran; forget undone ones.
    pub fn on_reports(&mut self, reports: &[ActionReport]) {
        for r in reports.iter().filter(|r| r.outcome.ok()) {
            match &r.action {
                GuardedAction::Kafka(KafkaAction::ResetOffsets(t)) => {
                    self.resets.insert(
                        (t.context.clone(), t.plan.group.clone()),
                        DoneReset {
                            plan: t.plan.clone(),
                            audit_id: r.audit_id.clone(),
                        },
                    );
                }
                GuardedAction::Kafka(KafkaAction::UndoReset(t)) => {
                    self.resets
                        .remove(&(t.context.clone(), t.plan.group.clone()));
                }
                _ => {}
            }
        }
    }

    pub fn last_reset(&self, context: &str, group: &str) -> Option<&DoneReset> {
        self.resets.get(&(context.to_string(), group.to_string()))
    }

    fn rebuild(&mut self) {
        self.rows = match self.contexts.data() {
            // Time lag is measured at the snapshot's time, not the clock's: the demo's clock
            // runs faster than the wall.
            Some(ContextData {
                snapshot: Some(snap),
                history,
                ..
            }) => view::visible_rows(
                snap,
                history,
                &self.filter,
                self.sort.by,
                self.sort.descending,
                snap.taken_at,
            ),
            _ => Vec::new(),
        };
        if let (Some(svc), Some(snap)) = (
            self.focus.as_ref().filter(|s| s.kafka_group.is_some()),
            self.contexts.data().and_then(|d| d.snapshot.as_ref()),
        ) {
            self.rows.retain(|r| {
                snap.groups
                    .get(r.index)
                    .is_some_and(|g| svc.matches_group(&g.id))
            });
        }
        if let (Some((addr, _)), Some(ctx), Some(snap)) = (
            &self.member_filter,
            self.contexts.current_name(),
            self.contexts.data().and_then(|d| d.snapshot.as_ref()),
        ) {
            let last = &self.last_members;
            self.rows.retain(|r| {
                snap.groups
                    .get(r.index)
                    .is_some_and(|g| last.has_member_at(ctx, g, addr))
            });
        }
        if let Some(sel) = self.selected.clone()
            && let Some(pos) =
                (0..self.rows.len()).find(|&i| self.group_at(i).is_some_and(|g| g.id == sel))
        {
            self.cursor.row = pos;
        }
        self.cursor.row = self.cursor.row.min(self.rows.len().saturating_sub(1));
        self.selected = self.group_at(self.cursor.row).map(|g| g.id.clone());
    }

    fn group_at(&self, row: usize) -> Option<&ConsumerGroup> {
        self.snapshot()?.groups.get(self.rows.get(row)?.index)
    }

    /// The groups shown, in order (filters, focus and limits applied).
    pub fn shown_groups(&self) -> Vec<&ConsumerGroup> {
        (0..self.rows.len())
            .filter_map(|i| self.group_at(i))
            .collect()
    }

    pub fn selected_group(&self) -> Option<&ConsumerGroup> {
        let id = self.selected.as_deref()?;
        self.snapshot()?.group(id)
    }

    fn move_to(&mut self, row: usize) {
        self.cursor.row = row.min(self.rows.len().saturating_sub(1));
        self.selected = self.group_at(self.cursor.row).map(|g| g.id.clone());
    }

    fn delete(&self) -> Vec<Effect> {
        let (Some(ctx), Some(g)) = (self.current_context(), self.selected_group()) else {
            return Effect::toast("no group selected".into());
        };
        if !g.is_empty_state() {
            return Effect::toast(format!(
                "group {} is {} with {} member(s): only an Empty group can be deleted (stop its consumers first)",
                sanitize::cell(&g.id, 60),
                sanitize::cell(&g.state, 20),
                g.members.len()
            ));
        }
        vec![Effect::Guard(vec![GuardedAction::Kafka(
            KafkaAction::DeleteGroup(KafkaGroupTarget::of(ctx, g)),
        )])]
    }

    fn undo(&self) -> Vec<Effect> {
        let (Some(ctx), Some(g)) = (self.current_context(), self.selected_group()) else {
            return Effect::toast("no group selected".into());
        };
        let Some(done) = self.last_reset(ctx, &g.id) else {
            return Effect::toast(format!(
                "no reset of group {} was done in this session: nothing to undo",
                sanitize::cell(&g.id, 60)
            ));
        };
        let plan = done.plan.undo();
        if plan.partitions.is_empty() {
            return Effect::toast("the reset had no offsets before it: nothing to restore".into());
        }
        vec![Effect::Guard(vec![GuardedAction::Kafka(
            KafkaAction::UndoReset(KafkaResetTarget::new(ctx, plan, done.audit_id.clone())),
        )])]
    }

    fn detail(&self) -> Option<Detail> {
        let g = self.selected_group()?;
        let ctx = self.current_context()?;
        let history = self.history()?;
        let status = history.status(g);
        let now = self.snapshot().map_or_else(SystemTime::now, |s| s.taken_at);
        let mut lines = vec![
            format!("group     {}", sanitize::cell(&g.id, 200)),
            format!(
                "state     {} · {} member(s) · protocol {}",
                sanitize::cell(&g.state, 30),
                g.members.len(),
                sanitize::cell(&g.protocol_type, 30)
            ),
            format!(
                "lag       {} total, {} max · status {} · time lag {}",
                g.total_lag(),
                g.max_lag(),
                status.label(),
                history.time_lag(g, now).text()
            ),
        ];
        if let Some(e) = &g.error {
            lines.push(format!(
                "offsets   could not be read: {}",
                sanitize::cell(e, 200)
            ));
        }
        let hosts = self.last_members.hosts(ctx, g);
        let of_service = member_pods::service_pods(&self.services, &self.pods, &g.id);
        if let Some(line) = member_pods::failing_pods_line(status, &self.pods, &hosts, of_service) {
            lines.push(format!("pods      {line}"));
        }
        if let Some(done) = self.last_reset(ctx, &g.id) {
            lines.push(format!(
                "reset     to {} in this session (u undoes it)",
                done.plan.to.text()
            ));
        }
        lines.push(String::new());
        lines.push(format!(
            "{:<20} {:>4} {:>11} {:>11} {:>9}  {:<30} {}",
            "TOPIC", "PART", "COMMITTED", "LOG END", "LAG", "OWNER (client, host)", "COMMIT MOVED"
        ));
        for p in &g.partitions {
            let owner = view::owner_text(g, &p.topic, p.partition, (16, 15));
            let moved = match history.last_moved(&g.id, &p.topic, p.partition) {
                Some(Moved::At(t)) => format!("{} ago", ago(now, t)),
                Some(Moved::NotSince(t))
                    if now.duration_since(t).unwrap_or_default().as_secs() == 0 =>
                {
                    "not seen yet".into()
                }
                Some(Moved::NotSince(t)) => format!("not in {}", ago(now, t)),
                None => "-".into(),
            };
            let [committed, end, lag] = view::offset_cells(p);
            let topic = sanitize::cell(&p.topic, 20);
            let pod = match g.owner(&p.topic, p.partition) {
                Some(m) if !self.pods.is_empty() => {
                    format!(
                        "  pod {}",
                        member_pods::pod_cell(&self.pods, &m.client_host)
                    )
                }
                _ => String::new(),
            };
            lines.push(format!(
                "{topic:<20} {:>4} {committed:>11} {end:>11} {lag:>9}  {owner:<30} {moved}{pod}",
                p.partition,
            ));
        }
        if !g.members.is_empty() {
            lines.push(String::new());
            lines.push("members:".into());
            for m in &g.members {
                lines.push(format!(
                    "  {}  client {}  host {}  {} partition(s){}",
                    sanitize::cell(&m.member_id, 60),
                    sanitize::cell(&m.client_id, 40),
                    sanitize::cell(&m.client_host, 40),
                    m.assignment.len(),
                    if self.pods.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "  pod {}",
                            member_pods::pod_cell(&self.pods, &m.client_host)
                        )
                    }
                ));
            }
        } else if !self.pods.is_empty() && !hosts.is_empty() {
            lines.push(String::new());
            lines.push("last members (before they left):".into());
            for h in &hosts {
                lines.push(format!(
                    "  host {}  pod {}",
                    sanitize::cell(h, 40),
                    member_pods::pod_cell(&self.pods, h)
                ));
            }
        }
        Some(Detail {
            title: format!("consumer group {}", sanitize::cell(&g.id, 60)),
            lines,
        })
    }
}

fn ago(now: SystemTime, t: SystemTime) -> String {
    warroom_core::backends::kafka::history::short_duration(
        now.duration_since(t).unwrap_or_default(),
    )
}

/// What the reset prompt needs from the pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    pub context: String,
    pub group: String,
    pub members: usize,
}

impl KafkaPane {
    /// `R`: the selected group, for the reset prompt.
    pub fn reset_request(&self) -> Result<ResetRequest, String> {
        let ctx = self
            .current_context()
            .ok_or("no Kafka context configured")?;
        let g = self.selected_group().ok_or("no group selected")?;
        Ok(ResetRequest {
            context: ctx.to_string(),
            group: g.id.clone(),
            members: g.members.len(),
        })
    }
}

impl KafkaPane {
    /// The preview of a reset arrived: show it for acknowledgement (or say why there is none).
    fn on_plan(&mut self, context: String, result: Result<ResetPlan, BackendError>) -> Vec<Effect> {
        match result {
            Ok(plan) => {
                let members = self
                    .snapshot()
                    .and_then(|s| s.group(&plan.group))
                    .map_or(0, |g| g.members.len());
                vec![
                    Effect::Toast(format!(
                        "preview of the reset of {}: read it, Enter to go on, Esc to cancel",
                        sanitize::cell(&plan.group, 60)
                    )),
                    Effect::Dialog(Box::new(flow::ResetPreview {
                        context,
                        plan,
                        members,
                        scroll: 0,
                    })),
                ]
            }
            Err(e) => vec![Effect::Warn(format!(
                "no preview, nothing changed: {}",
                sanitize::cell(&e.to_string(), 200)
            ))],
        }
    }
}

impl Pane for KafkaPane {
    fn meta(&self) -> &'static PaneMeta {
        &META
    }

    fn on_action(&mut self, action: KeyAction) -> Vec<Effect> {
        if let Some(effects) = table_keys!(self, action, self.rows.len(), "Kafka") {
            return effects;
        }
        match action {
            KeyAction::Open => match self.detail() {
                Some(d) => vec![Effect::Detail(d)],
                None => Effect::toast("no group selected".into()),
            },
            KeyAction::KafkaDeleteGroup => self.delete(),
            KeyAction::KafkaUndoReset => self.undo(),
            KeyAction::KafkaResetOffsets => match self.reset_request() {
                Ok(r) => vec![Effect::Dialog(Box::new(flow::ResetPrompt::new(r)))],
                Err(e) => Effect::toast(e),
            },
            _ => Vec::new(),
        }
    }

    fn update(&mut self, msg: PaneMsg) -> Vec<Effect> {
        match msg {
            PaneMsg::Worker(Event::KafkaUpdate(u)) => self.apply(&u.context, u.result, u.retry_in),
            PaneMsg::Worker(Event::KafkaPlan { context, result }) => {
                return self.on_plan(context, result);
            }
            PaneMsg::Pods(pods) => self.pods = pods,
            PaneMsg::Services(services) => self.services = services,
            PaneMsg::Focus(focus) => {
                self.focus = focus;
                self.rebuild();
            }
            PaneMsg::GroupsOf { addr, label } => return self.groups_of(addr, label),
            _ => {}
        }
        Vec::new()
    }

    fn subscriptions(&self, visible: bool) -> Vec<Command> {
        self.contexts.polls(visible, Command::poll(Polled::Kafka))
    }

    context_pane_methods!(context_changed);

    fn link_values(&self) -> warroom_core::service::LinkValues {
        warroom_core::service::LinkValues {
            group: self.selected_group().map(|g| g.id.clone()),
            ..Default::default()
        }
    }

    fn on_back(&mut self) -> Option<String> {
        self.member_filter.take()?;
        self.rebuild();
        Some("showing all groups".into())
    }

    fn on_reports(&mut self, reports: &[ActionReport]) {
        KafkaPane::on_reports(self, reports);
    }

    fn status(&self) -> PaneStatus {
        self.contexts.status(Some(format!(
            "every {}",
            humantime::format_duration(self.interval())
        )))
    }

    fn explain(&self) -> Vec<String> {
        let mut lines = vec![
            "Each row is one consumer group. LAG: messages written but not yet consumed (log end offset minus committed offset, summed over partitions); MAX: the worst partition; TIME LAG: how long ago the log end was where the group's commit is now, estimated from the log end offsets warroom has seen.".to_string(),
            "STATUS from the last refreshes: OK keeps up; WARN lag grew every time; STALL members are there but the committed offset does not move; STOP no members and lag waiting; REWIND a committed offset went backwards; EMPTY no members, nothing waiting.".to_string(),
            "enter shows each partition with its owner; R resets offsets (preview first, the group must have no members); u puts back the offsets from before the last reset; D deletes an Empty group. Each asks for a reason and writes an audit record first.".to_string(),
        ];
        if let (Some(g), Some(h)) = (self.selected_group(), self.history()) {
            let about = match h.status(g) {
                warroom_core::backends::kafka::LagStatus::Stop => {
                    "nobody consumes and messages wait: restart the consumers, or reset the offsets if the backlog is not worth processing"
                }
                warroom_core::backends::kafka::LagStatus::Stall => {
                    "consumers are connected but stuck on a message: look at their logs before resetting"
                }
                warroom_core::backends::kafka::LagStatus::Warn => {
                    "the consumers fall behind: add consumers or look at what slows them"
                }
                warroom_core::backends::kafka::LagStatus::Rewind => {
                    "someone moved the offsets back: messages are being replayed"
                }
                _ => "nothing alarming",
            };
            lines.push(format!(
                "Selected group {}: {about}.",
                sanitize::cell(&g.id, 60)
            ));
        }
        lines
    }

    fn render(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        render::draw(self, frame, area, ctx);
    }
}

#[cfg(test)]
mod tests;
