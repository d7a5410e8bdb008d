//! The Pods pane: pods by watch (no polling), ready x/y, status with its reason, restarts,
//! last termination reason and exit code, owner; events of the selected pod, warnings first.
//! State only; drawing is in `render`.

mod render;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::keymap::{KeyAction, Scope};
use warroom_core::backends::kube::{
    LogRequest, PodChange, PodEvent, PodFeed, PodKey, PodRow, PodScope, Termination,
};
use warroom_core::guard::GuardedAction;
use warroom_core::guard::kube::{DeploymentTarget, KubeAction, PodTarget};
use warroom_core::pod_directory::PodDirectory;
use warroom_core::sanitize;

use super::contexts::ContextSet;

/// The titles of the pod columns between the namespace and the owner (the pane and
/// `warroom kube pods`).
pub const POD_COLUMNS: [&str; 7] = [
    "NAME",
    "READY",
    "STATUS",
    "RESTARTS",
    "LAST RESTART",
    "LAST END",
    "AGE",
];
use super::table::{ListCursor, Sort};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use super::{Detail, Effect, Pane, PaneId, PaneMeta, PaneMsg, PaneStatus};
use crate::command::Command;
use crate::workers::Event;
use warroom_core::backends::BackendError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodSort {
    Status,
    Restarts,
    Name,
    Age,
    LastRestart,
    Node,
}

impl crate::panes::table::Column for PodSort {
    const SORTABLE: &'static [PodSort] = &[
        PodSort::Status,
        PodSort::Restarts,
        PodSort::Name,
        PodSort::Age,
        PodSort::LastRestart,
        PodSort::Node,
    ];

    fn title(self) -> &'static str {
        match self {
            PodSort::Status => "status",
            PodSort::Restarts => "restarts",
            PodSort::Name => "name",
            PodSort::Age => "age",
            PodSort::LastRestart => "last restart",
            PodSort::Node => "node",
        }
    }
}

/// What the Logs pane should follow, built from the selected pod.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTarget {
    pub context: String,
    pub title: String,
    /// One request per container.
    pub requests: Vec<LogRequest>,
    /// For previous logs: how that container ended, shown inline.
    pub termination: Option<Termination>,
}

#[derive(Debug, Default)]
struct ContextData {
    pods: BTreeMap<PodKey, PodRow>,
    listed: bool,
}

pub struct PodsPane {
    /// Pods come by watch: the interval is unused; `received_at` is the last event.
    contexts: ContextSet<ContextData>,
    sort: Sort<PodSort>,
    group_by_owner: bool,
    filter: String,
    /// Keys (namespace/name) in display order.
    rows: Vec<PodKey>,
    cursor: ListCursor,
    selected: Option<PodKey>,
    events: Option<(PodKey, Result<Vec<PodEvent>, String>)>,
    /// The context and pod whose events to fetch next.
    events_wanted: Option<(String, PodKey)>,
    /// Pods by address over every context, for the other panes (sessions -> pods).
    links: PodDirectory,
    links_changed: bool,
    /// Keep every context's watch open, shown or not: the links and the Logs pane need it.
    watch_always: bool,
    /// The Logs pane was opened empty before a pod could be selected: follow the first.
    logs_wanted: bool,
    /// `:focus NAME`: only the pods of this service (its label selector).
    focus: Option<Arc<warroom_core::service::Service>>,
}

const META: PaneMeta = PaneMeta {
    id: PaneId::Pods,
    scope: Scope::Pods,
    keys: &[
        KeyAction::PodLogs,
        KeyAction::PodPreviousLogs,
        KeyAction::PodWorkloadLogs,
        KeyAction::PodDelete,
        KeyAction::PodRolloutRestart,
        KeyAction::SortNext,
        KeyAction::SortReverse,
        KeyAction::PodGroupByOwner,
        KeyAction::PodSessions,
        KeyAction::PodGroups,
        KeyAction::NextContext,
        KeyAction::Open,
        KeyAction::Filter,
    ],
    hints: HINTS,
};

const HINTS: &[KeyAction] = &[
    KeyAction::PodLogs,
    KeyAction::PodPreviousLogs,
    KeyAction::PodDelete,
    KeyAction::PodRolloutRestart,
    KeyAction::SortNext,
];

impl PodsPane {
    pub fn new(contexts: Vec<String>, initial: Option<&str>) -> PodsPane {
        PodsPane {
            contexts: ContextSet::new(contexts, initial, std::time::Duration::ZERO),
            sort: Sort::new(PodSort::Status),
            group_by_owner: false,
            filter: String::new(),
            rows: Vec::new(),
            cursor: ListCursor::new(10),
            selected: None,
            events: None,
            events_wanted: None,
            links: PodDirectory::default(),
            links_changed: false,
            watch_always: false,
            logs_wanted: false,
            focus: None,
        }
    }

    /// `:focus NAME`: the pods of the service, and its logs in the Logs pane (not shown).
    fn set_focus(&mut self, focus: Option<Arc<warroom_core::service::Service>>) -> Vec<Effect> {
        self.focus = focus;
        self.rebuild();
        let (Some(svc), Some(context)) = (&self.focus, self.current_context()) else {
            return Vec::new();
        };
        let selection = match (&svc.log_selector, &svc.label_selector) {
            (Some(args), _) => match warroom_core::backends::kube::selection::parse(args) {
                Ok(s) => s,
                Err(e) => return vec![Effect::Warn(format!("log_selector: {e}"))],
            },
            (None, Some(sel)) => {
                warroom_core::backends::kube::LogSelection::selector(sel.text().to_string())
            }
            (None, None) => return Vec::new(),
        };
        vec![Effect::Send(
            PaneId::Logs,
            PaneMsg::FocusLogs {
                context: context.to_string(),
                selection,
            },
        )]
    }

    /// The focus says which pods are shown: a note for the info line.
    pub fn focus_note(&self) -> Option<String> {
        self.focus.as_ref().map(|svc| {
            let pattern = svc.label_selector.as_ref().map(|s| s.text());
            svc.focus_note("label_selector", "", pattern, "pods")
        })
    }

    /// Keep the pod watches open while hidden: the pods feed the links (session -> pod,
    /// group member -> pod) and the Logs pane when it opens empty. A watch is one long
    /// request per context, not a poll.
    pub fn watching_always(mut self) -> PodsPane {
        self.watch_always = true;
        self
    }

    /// Pods by address over every context.
    pub fn links(&self) -> &PodDirectory {
        &self.links
    }

    /// After a change of the pods: the new directory for every pane, once.
    fn links_news(&mut self) -> Option<Effect> {
        std::mem::take(&mut self.links_changed)
            .then(|| Effect::Broadcast(PaneMsg::Pods(Arc::new(self.links.clone()))))
    }

    /// Another pane jumps here: show `pod` of `context`, then run `then` on it.
    fn show_pod(&mut self, context: &str, pod: PodKey, then: Option<KeyAction>) -> Vec<Effect> {
        if self.current_context() != Some(context) && self.contexts.select(context).is_none() {
            return vec![Effect::Warn(format!(
                "unknown Kubernetes context {}",
                sanitize::cell(context, 40)
            ))];
        }
        if self.pod(&pod).is_none() {
            return vec![Effect::Warn(format!(
                "pod {} is not in the Pods pane (deleted?)",
                sanitize::cell(&pod.to_string(), 80)
            ))];
        }
        if !self.rows.contains(&pod) {
            // The filter hides it: the jump wins.
            self.filter.clear();
        }
        self.selected = Some(pod.clone());
        self.rebuild();
        if self.selected.as_ref() != Some(&pod) {
            // The focus hides it: never act on another pod in its place.
            return vec![Effect::Warn(format!(
                "pod {} is hidden by the focus (:focus clears it)",
                sanitize::cell(&pod.to_string(), 80)
            ))];
        }
        let mut effects = match then {
            Some(action) => self.act(action),
            None => vec![Effect::Show(PaneId::Pods)],
        };
        effects.push(Effect::Resubscribe);
        effects.extend(self.events_command());
        effects
    }

    /// `P`: the database sessions coming from the selected pod's address; `K`: the consumer
    /// groups with a member there.
    fn linked_to_pod(&self, action: KeyAction) -> Vec<Effect> {
        let Some(p) = self.selected_pod() else {
            return Effect::toast("no pod selected".into());
        };
        match &p.pod_ip {
            Some(ip) => {
                let (addr, label) = (ip.clone(), format!("pod {}", p.name));
                let (to, msg) = if action == KeyAction::PodGroups {
                    (PaneId::Kafka, PaneMsg::GroupsOf { addr, label })
                } else {
                    (PaneId::Postgres, PaneMsg::SessionsFrom { addr, label })
                };
                vec![Effect::Send(to, msg)]
            }
            None => Effect::toast(format!(
                "pod {} has no address yet: nothing connects from it",
                sanitize::cell(&p.name, 80)
            )),
        }
    }

    /// The Logs pane opened empty: the selected pod's logs, or as soon as there is one.
    fn follow_selected(&mut self) -> Vec<Effect> {
        if self.selected_pod().is_none() {
            self.logs_wanted = true;
            return Vec::new();
        }
        self.logs_wanted = false;
        self.open_logs(KeyAction::PodLogs)
    }

    pub fn current_context(&self) -> Option<&str> {
        self.contexts.current_name()
    }

    fn data(&self) -> Option<&ContextData> {
        self.contexts.current().map(|p| &p.data)
    }

    /// Pods of the current context, by key.
    pub fn pods(&self) -> impl Iterator<Item = &PodRow> {
        self.data().into_iter().flat_map(|d| d.pods.values())
    }

    pub fn pod(&self, key: &PodKey) -> Option<&PodRow> {
        self.data()?.pods.get(key)
    }

    /// Rows in display order.
    pub fn rows(&self) -> Vec<&PodRow> {
        self.rows.iter().filter_map(|k| self.pod(k)).collect()
    }

    pub fn selected_pod(&self) -> Option<&PodRow> {
        self.pod(self.selected.as_ref()?)
    }

    pub fn events(&self) -> Option<&Result<Vec<PodEvent>, String>> {
        let (key, ev) = self.events.as_ref()?;
        (Some(key) == self.selected.as_ref()).then_some(ev)
    }

    /// The selected pod changed: fetch its events once (the command, if any).
    fn events_command(&mut self) -> Option<Effect> {
        self.events_wanted.take().map(|(context, pod)| {
            Effect::Command(Command::KubeEvents {
                context,
                namespace: pod.namespace,
                pod: pod.name,
            })
        })
    }

    /// After a key: the events of a new selection, and the watch that shows the context.
    fn with_follow_ups(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        effects.extend(self.events_command());
        effects.push(Effect::Resubscribe);
        effects
    }

    /// `l`, `p` or `w` on a pod: a new log session in the Logs pane.
    fn open_logs(&self, action: KeyAction) -> Vec<Effect> {
        match self.log_target(action) {
            Err(e) => vec![Effect::Warn(e)],
            Ok(target) => vec![Effect::Send(
                PaneId::Logs,
                PaneMsg::FollowLogs(target, None),
            )],
        }
    }

    pub fn apply(&mut self, context: &str, feed: PodFeed) {
        let selected = self.selected.clone();
        let Some((entry, shown)) = self.contexts.entry_mut(context) else {
            return;
        };
        entry.received_at = Some(Instant::now());
        let d = &mut entry.data;
        let links = &mut self.links;
        match feed {
            PodFeed::Listed { scope, pods } => {
                self.links_changed |= links.listed(context, scope.namespace.as_deref(), &pods);
                // One step: the old set of this scope goes and the new one comes.
                d.pods.retain(|_, p| !in_scope(&scope, p));
                for p in pods {
                    d.pods.insert(p.key(), p);
                }
                d.listed = true;
                entry.error = None;
            }
            PodFeed::Changed(PodChange::Upsert(p)) => {
                // The selected pod changed (a restart, a new state): its events too.
                if shown && selected.as_ref() == Some(&p.key()) {
                    self.events_wanted = Some((context.to_string(), p.key()));
                }
                self.links_changed |= links.upsert(context, &p);
                d.pods.insert(p.key(), *p);
                entry.error = None;
            }
            PodFeed::Changed(PodChange::Delete(p)) => {
                self.links_changed |= links.deleted(context, &p.key());
                d.pods.remove(&p.key());
            }
            PodFeed::Changed(PodChange::Bookmark(_)) => {}
            PodFeed::Broken { error, retry_in } => {
                entry.error = Some(error);
                entry.retry_in = Some(retry_in);
            }
        }
        if shown {
            self.rebuild();
        }
    }

    pub fn apply_events(
        &mut self,
        context: &str,
        namespace: &str,
        pod: &str,
        result: Result<Vec<PodEvent>, BackendError>,
    ) {
        if Some(context) == self.current_context() {
            let key = PodKey {
                namespace: namespace.to_string(),
                name: pod.to_string(),
            };
            self.events = Some((key, result.map_err(|e| e.to_string())));
        }
    }

    fn matches_filter(&self, p: &PodRow) -> bool {
        if let Some(svc) = &self.focus
            && svc.label_selector.is_some()
            && !svc.matches_labels(&p.labels)
        {
            return false;
        }
        if self.filter.is_empty() {
            return true;
        }
        let f = self.filter.to_lowercase();
        [
            Some(p.name.as_str()),
            Some(p.namespace.as_str()),
            Some(p.status.as_str()),
            p.node.as_deref(),
            p.owner.as_ref().map(|o| o.name.as_str()),
            p.last_termination.as_ref().map(|t| t.reason.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|s| s.to_lowercase().contains(&f))
    }

    /// Recompute the row order and keep the selection on the same pod.
    fn rebuild(&mut self) {
        let mut rows: Vec<&PodRow> = self.pods().filter(|p| self.matches_filter(p)).collect();
        let (sort, desc) = (self.sort.by, self.sort.descending);
        rows.sort_by(|a, b| {
            let ord = match sort {
                PodSort::Status => a.health.cmp(&b.health).then(a.restarts.cmp(&b.restarts)),
                PodSort::Restarts => a.restarts.cmp(&b.restarts),
                PodSort::Name => b.name.cmp(&a.name),
                PodSort::Age => b.created.cmp(&a.created),
                PodSort::LastRestart => a.last_restart.cmp(&b.last_restart),
                PodSort::Node => b.node.cmp(&a.node),
            };
            let ord = if desc { ord.reverse() } else { ord };
            ord.then_with(|| a.key().cmp(&b.key()))
        });
        if self.group_by_owner {
            // Stable: the chosen order stays within each owner.
            rows.sort_by_key(|p| p.workload_label());
        }
        self.rows = rows.iter().map(|p| p.key()).collect();
        if let Some(sel) = &self.selected
            && let Some(i) = self.rows.iter().position(|k| k == sel)
        {
            self.cursor.row = i;
        } else {
            self.cursor.row = self.cursor.row.min(self.rows.len().saturating_sub(1));
        }
        self.select_cursor();
    }

    fn select_cursor(&mut self) {
        let key = self.rows.get(self.cursor.row).cloned();
        if key != self.selected {
            self.selected = key.clone();
            if let (Some(k), Some(ctx)) = (key, self.current_context()) {
                self.events_wanted = Some((ctx.to_string(), k));
            }
        }
    }

    pub fn group_by_owner(&self) -> bool {
        self.group_by_owner
    }

    pub fn sort(&self) -> (PodSort, bool) {
        (self.sort.by, self.sort.descending)
    }

    pub(crate) fn cursor(&self) -> &ListCursor {
        &self.cursor
    }

    /// The logs to follow for `action` (pod logs, previous logs, workload logs).
    pub fn log_target(&self, action: KeyAction) -> Result<LogTarget, String> {
        let ctx = self.current_context().ok_or("no Kubernetes context")?;
        let pod = self.selected_pod().ok_or("no pod selected")?;
        let request = |p: &PodRow, container: &str, previous: bool| LogRequest {
            pod: p.key(),
            container: Some(container.to_string()),
            previous,
            follow: !previous,
            since: None,
            tail_lines: Some(if previous { 1000 } else { 200 }),
        };
        match action {
            KeyAction::PodPreviousLogs => {
                let t = pod.last_termination.clone();
                let container = t
                    .as_ref()
                    .map(|t| t.container.clone())
                    .or_else(|| pod.containers.first().cloned())
                    .ok_or("the pod has no containers")?;
                if pod.restarts == 0 && t.is_none() {
                    return Err(format!(
                        "pod {} has not restarted: there is no previous container",
                        sanitize::cell(&pod.name, 80)
                    ));
                }
                Ok(LogTarget {
                    context: ctx.to_string(),
                    title: format!("{} (previous {})", pod.name, container),
                    requests: vec![request(pod, &container, true)],
                    termination: t,
                })
            }
            KeyAction::PodWorkloadLogs => {
                let owner = pod
                    .owner
                    .clone()
                    .ok_or_else(|| format!("pod {} has no owner", sanitize::cell(&pod.name, 80)))?;
                let mut requests = Vec::new();
                for p in self.pods().filter(|p| p.owner.as_ref() == Some(&owner)) {
                    for c in &p.containers {
                        requests.push(request(p, c, false));
                    }
                }
                Ok(LogTarget {
                    context: ctx.to_string(),
                    title: pod
                        .deployment
                        .as_ref()
                        .map_or(owner.label(), |d| format!("Deployment/{d}")),
                    requests,
                    termination: None,
                })
            }
            _ => Ok(LogTarget {
                context: ctx.to_string(),
                title: pod.name.clone(),
                requests: pod
                    .containers
                    .iter()
                    .map(|c| request(pod, c, false))
                    .collect(),
                termination: None,
            }),
        }
    }

    fn guard(&self, action: KeyAction) -> Vec<Effect> {
        let (Some(ctx), Some(p)) = (self.current_context(), self.selected_pod()) else {
            return Effect::toast("no pod selected".into());
        };
        match action {
            KeyAction::PodDelete => vec![Effect::Guard(vec![GuardedAction::Kube(
                KubeAction::DeletePod(PodTarget::of(ctx, p)),
            )])],
            _ => match &p.deployment {
                Some(d) => vec![Effect::Guard(vec![GuardedAction::Kube(
                    KubeAction::RolloutRestart(DeploymentTarget::new(
                        ctx,
                        &p.namespace,
                        d,
                        Some(&p.name),
                    )),
                )])],
                None => Effect::toast(format!(
                    "pod {} is not managed by a Deployment (owner: {}): rollout restart needs one",
                    sanitize::cell(&p.name, 80),
                    p.owner
                        .as_ref()
                        .map_or("none".into(), |o| sanitize::cell(&o.label(), 80))
                )),
            },
        }
    }

    fn detail(&self) -> Option<Detail> {
        let p = self.selected_pod()?;
        let s = |v: &str| sanitize::cell(v, 200);
        let when = |t: Option<SystemTime>| {
            t.map_or("-".into(), |t| {
                humantime::format_rfc3339_seconds(t).to_string()
            })
        };
        let mut lines = vec![
            format!("namespace   {}", s(&p.namespace)),
            format!(
                "status      {} {}",
                s(&p.status),
                p.status_detail.as_deref().map(s).unwrap_or_default()
            ),
            format!("ready       {}", p.ready_text()),
            format!("restarts    {} (last {})", p.restarts, when(p.last_restart)),
            format!(
                "last end    {}",
                p.last_termination.as_ref().map_or("-".into(), |t| format!(
                    "{} of container {} at {}",
                    s(&t.label()),
                    s(&t.container),
                    when(t.finished_at)
                ))
            ),
            format!(
                "node        {}",
                p.node.as_deref().map(s).unwrap_or("-".into())
            ),
            format!(
                "pod IP      {}",
                p.pod_ip.as_deref().map(s).unwrap_or("-".into())
            ),
            format!(
                "owner       {}",
                p.owner.as_ref().map_or("-".into(), |o| s(&o.label()))
            ),
            format!(
                "deployment  {}",
                p.deployment.as_deref().map(s).unwrap_or("-".into())
            ),
            format!("containers  {}", s(&p.containers.join(", "))),
            format!("created     {}", when(p.created)),
            format!("uid         {}", s(&p.uid)),
            String::new(),
            "events (warnings first):".into(),
        ];
        match self.events() {
            None => lines.push("  loading…".into()),
            Some(Err(e)) => lines.push(format!("  cannot read events: {}", s(e))),
            Some(Ok(ev)) if ev.is_empty() => lines.push("  none".into()),
            Some(Ok(ev)) => lines.extend(ev.iter().map(event_line)),
        }
        Some(Detail {
            title: format!("pod {}", s(&p.name)),
            lines,
        })
    }
}

pub(crate) fn event_line(e: &PodEvent) -> String {
    format!(
        "  {} {} x{}: {}",
        if e.warning { "Warning" } else { "Normal " },
        sanitize::cell(&e.reason, 40),
        e.count,
        sanitize::cell(&e.message, 300)
    )
}

fn in_scope(scope: &PodScope, p: &PodRow) -> bool {
    scope.namespace.as_ref().is_none_or(|ns| *ns == p.namespace)
}

impl Pane for PodsPane {
    fn meta(&self) -> &'static PaneMeta {
        &META
    }
    fn on_action(&mut self, action: KeyAction) -> Vec<Effect> {
        let effects = self.act(action);
        self.with_follow_ups(effects)
    }
    fn update(&mut self, msg: PaneMsg) -> Vec<Effect> {
        match msg {
            PaneMsg::Worker(Event::KubePods { context, feed }) => {
                self.apply(&context, feed);
                let mut effects: Vec<Effect> = self.events_command().into_iter().collect();
                effects.extend(self.links_news());
                if self.logs_wanted && self.selected_pod().is_some() {
                    effects.extend(self.follow_selected());
                }
                effects
            }
            PaneMsg::ShowPod { context, pod, then } => self.show_pod(&context, pod, then),
            PaneMsg::FollowSelected => self.follow_selected(),
            PaneMsg::Focus(focus) => self.set_focus(focus),
            PaneMsg::Worker(Event::KubeEvents {
                context,
                namespace,
                pod,
                result,
            }) => {
                self.apply_events(&context, &namespace, &pod, result);
                Vec::new()
            }
            // Another pane (Logs) asks for the logs of the selected pod.
            PaneMsg::Action(action) => self.on_action(action),
            _ => Vec::new(),
        }
    }
    fn subscriptions(&self, visible: bool) -> Vec<Command> {
        if self.watch_always {
            return self
                .contexts
                .names()
                .iter()
                .map(|context| Command::KubeWatch {
                    context: context.clone(),
                    active: true,
                })
                .collect();
        }
        // Pods come by watch: open while the pane shows the context, closed otherwise.
        self.contexts
            .polls(visible, |context, active, _| Command::KubeWatch {
                context,
                active,
            })
    }
    context_pane_methods!(rebuild);
    /// `:logs ARGS`: parse (errors change nothing), then the Logs pane looks the pods up in
    /// this pane's context.
    fn command_line(&mut self, name: &str, args: &str) -> Option<Vec<Effect>> {
        if name != "logs" || args.is_empty() {
            return None;
        }
        let selection = match warroom_core::backends::kube::selection::parse(args) {
            Ok(s) => s,
            Err(e) => return Some(vec![Effect::Warn(format!(":logs: {e}"))]),
        };
        let Some(context) = self.current_context().map(str::to_string) else {
            return Some(vec![Effect::Warn(
                ":logs: no Kubernetes context; add a [[kubernetes]] section to the config".into(),
            )]);
        };
        Some(vec![Effect::Send(
            PaneId::Logs,
            PaneMsg::LookupLogs { context, selection },
        )])
    }
    fn status(&self) -> PaneStatus {
        self.contexts.status(Some("live (watch)".into()))
    }
    fn render(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        render::draw(self, frame, area, ctx);
    }
    fn link_values(&self) -> warroom_core::service::LinkValues {
        let Some(p) = self.selected_pod() else {
            return Default::default();
        };
        warroom_core::service::LinkValues {
            pod: Some(p.name.clone()),
            namespace: Some(p.namespace.clone()),
            since: p
                .last_restart
                .or(p.created)
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            labels: p.labels.clone(),
            ..Default::default()
        }
    }
    fn explain(&self) -> Vec<String> {
        let mut lines = vec![
            "Each row is a pod. READY: ready containers / all. STATUS: what kubectl shows, with the reason that matters (CrashLoopBackOff: the container keeps dying and Kubernetes waits longer between restarts; OOMKilled: it used more memory than its limit; ImagePullBackOff: the image cannot be pulled; Pending: not scheduled yet, the detail says why).".to_string(),
            "LAST END is how the previous container run ended: OOMKilled (exit 137) means the memory limit, Error with a code means the program exited on its own. p shows the logs of that previous run: the reason is usually in its last lines.".to_string(),
            "ctrl-d deletes the pod: its owner (a ReplicaSet of a Deployment) makes a new one with the same settings, so a crash caused by the settings comes back. R restarts the whole Deployment (every pod replaced, following its rollout strategy). Both ask for a reason and write an audit record first.".to_string(),
        ];
        if let Some(p) = self.selected_pod() {
            let about = match (&p.last_termination, p.health) {
                (Some(t), warroom_core::backends::kube::Health::Bad) if t.reason == "OOMKilled" => {
                    format!(
                        "Selected {}: killed for memory ({}), {} restarts. Look at p (previous logs) for what grew, then fix the limit or the leak; deleting the pod alone will not help.",
                        sanitize::cell(&p.name, 60),
                        t.label(),
                        p.restarts
                    )
                }
                (_, warroom_core::backends::kube::Health::Bad) => format!(
                    "Selected {}: {} — check the events below and its logs (l, p).",
                    sanitize::cell(&p.name, 60),
                    sanitize::cell(&p.status, 40)
                ),
                _ => format!(
                    "Selected {}: {}, {} restarts.",
                    sanitize::cell(&p.name, 60),
                    sanitize::cell(&p.status, 40),
                    p.restarts
                ),
            };
            lines.push(about);
        }
        lines
    }
}

impl PodsPane {
    fn act(&mut self, action: KeyAction) -> Vec<Effect> {
        if let Some(effects) = self.sort.on_action(action, "pods sorted") {
            self.rebuild();
            return effects;
        }
        if let Some(row) = self.cursor.moved(action, self.rows.len()) {
            if !self.rows.is_empty() {
                self.cursor.row = row;
                self.select_cursor();
            }
            return Vec::new();
        }
        match action {
            KeyAction::Open => {
                return self
                    .detail()
                    .map_or_else(Vec::new, |d| vec![Effect::Detail(d)]);
            }
            KeyAction::NextContext => {
                if let Ok(next) = self.contexts.next_name("Kubernetes") {
                    self.contexts.select(&next);
                    self.rebuild();
                    return Effect::toast(format!("context {next}"));
                }
            }
            KeyAction::PodGroupByOwner => {
                self.group_by_owner = !self.group_by_owner;
                self.rebuild();
            }
            KeyAction::PodDelete | KeyAction::PodRolloutRestart => return self.guard(action),
            KeyAction::PodSessions | KeyAction::PodGroups => return self.linked_to_pod(action),
            KeyAction::PodLogs | KeyAction::PodPreviousLogs | KeyAction::PodWorkloadLogs => {
                return self.open_logs(action);
            }
            _ => return Vec::new(),
        }
        Vec::new()
    }

    pub(crate) fn listed(&self) -> bool {
        self.data().is_some_and(|d| d.listed)
    }
}
