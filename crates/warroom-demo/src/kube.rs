//! The Kubernetes side of the demo incident: the image-resizer pod is OOMKilled again and
//! again (its logs say why: memory grows to the limit), other pods log normally. Restarting
//! its Deployment brings it back healthy; deleting the pod only gets a replacement that
//! crashes the same way. Same traits as the real backend.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde::Deserialize;

use super::clock::DemoClock;
use super::rng::Rng;
use warroom_core::backends::BoxFuture;
use warroom_core::backends::kube::{
    Health, KubeActor, KubeError, KubeSource, LogRequest, LogStream, Owner, PodChange, PodEvent,
    PodKey, PodList, PodRow, PodScope, PodWatch, RestartRequest, Since, Termination, sort_events,
};

/// The `[kubernetes]` table of a scenario file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KubeScenario {
    pub namespace: String,
    /// The Deployment whose pod is OOMKilled.
    pub crashing: String,
    pub memory_limit_mib: u32,
    /// Seconds a run of the crashing container lasts before it hits the limit.
    pub crash_after: f64,
    /// Deployments that log normally (two pods each).
    pub healthy: Vec<String>,
    /// The Job that runs the migration left idle in transaction: its pod's address is the
    /// blocker session's client address (`[postgres] blocker_client`).
    pub migration_job: String,
    pub migration_ip: String,
    /// The consumer of the stopped group: its pod crash-loops on a poison message, at the
    /// address the group's members had.
    pub consumer: String,
    pub consumer_ip: String,
}

impl Default for KubeScenario {
    fn default() -> Self {
        KubeScenario {
            namespace: "shop".into(),
            crashing: "image-resizer".into(),
            memory_limit_mib: 512,
            crash_after: 40.0,
            healthy: vec!["api".into(), "checkout".into()],
            migration_job: "migrate-2026-11-26".into(),
            migration_ip: "10.0.9.14".into(),
            consumer: "billing-worker".into(),
            consumer_ip: "10.0.3.14".into(),
        }
    }
}

const BACKOFF_START: f64 = 10.0;
const BACKOFF_MAX: f64 = 80.0;
const HISTORY: usize = 20_000;

#[derive(Debug, Clone)]
struct SimPod {
    row: PodRow,
    crashing: bool,
    /// The current container run started (sim seconds); None while in back-off.
    run_started: Option<f64>,
    backoff_until: Option<f64>,
    backoff: f64,
    /// Bumped on every new container run: follow streams of the old run end.
    run: u64,
    logs: Vec<(SystemTime, String)>,
    previous: Vec<(SystemTime, String)>,
    next_log_at: f64,
    events: Vec<PodEvent>,
}

impl SimPod {
    /// The container dies at `now` (sim seconds, `t` on the wall clock) with its last log
    /// line: logs become the previous run's, a restart is counted and back-off doubles.
    fn crash(&mut self, last_line: &str, termination: Termination, now: f64, t: SystemTime) {
        self.logs.push((t, last_line.into()));
        self.previous = std::mem::take(&mut self.logs);
        self.row.restarts += 1;
        self.backoff = (self.backoff * 2.0).min(BACKOFF_MAX);
        self.back_off(termination, t, now + self.backoff);
    }

    /// The container ended with `termination` at `t`; no run until `until` (sim seconds).
    fn back_off(&mut self, termination: Termination, t: SystemTime, until: f64) {
        let message = format!(
            "Back-off restarting failed container ({}, exit code {})",
            termination.reason, termination.exit_code
        );
        self.row.last_termination = Some(termination);
        self.row.last_restart = Some(t);
        self.run_started = None;
        self.backoff_until = Some(until);
        self.events.push(event(true, "BackOff", &message, t));
    }
}

/// The simulated cluster. Public so tests and the scenario can step it.
#[derive(Debug)]
pub struct DemoKubeWorld {
    scenario: KubeScenario,
    rng: Rng,
    now: f64,
    rv: u64,
    pods: BTreeMap<String, SimPod>,
    history: Vec<(u64, PodChange)>,
    generation: u64,
    /// The current ReplicaSet hash of each Deployment (a rollout changes it).
    hashes: BTreeMap<String, String>,
    /// Wall time of simulated second 0: ages read right next to the real clock.
    base: SystemTime,
    /// Annotations written by rollout restarts, per deployment.
    pub restarts: BTreeMap<String, BTreeMap<String, String>>,
}

fn at_base(base: SystemTime, t: f64) -> SystemTime {
    if t >= 0.0 {
        base + Duration::from_secs_f64(t)
    } else {
        base.checked_sub(Duration::from_secs_f64(-t))
            .unwrap_or(base)
    }
}

impl DemoKubeWorld {
    pub fn new(seed: u64, scenario: KubeScenario) -> DemoKubeWorld {
        let mut w = DemoKubeWorld {
            scenario,
            rng: Rng::new(seed ^ 0x6b75_6265),
            now: 0.0,
            rv: 5000,
            pods: BTreeMap::new(),
            history: Vec::new(),
            generation: 0,
            hashes: BTreeMap::new(),
            base: SystemTime::now(),
            restarts: BTreeMap::new(),
        };
        for d in w.scenario.healthy.clone() {
            for _ in 0..2 {
                w.create_pod(&d, false, -3600.0);
            }
        }
        let crashing = w.scenario.crashing.clone();
        let key = w.create_pod(&crashing, true, -1800.0);
        // It has been crashing for a while when the incident starts.
        let base = w.base;
        let previous = oom_run_logs(&w.scenario, base, -60.0);
        if let Some(p) = w.pods.get_mut(&key) {
            p.row.restarts = 6;
            p.backoff = BACKOFF_MAX / 2.0;
            p.previous = previous;
            // In back-off when the incident starts; it runs again soon, and dies again.
            let died = at_base(base, -20.0);
            p.back_off(oom_termination(&crashing, died), died, 12.0);
        }
        w.refresh_status(&key);
        // The pods the links lead to, from their own random stream (the rest of the
        // incident stays as it was).
        let main = std::mem::replace(&mut w.rng, Rng::new(seed ^ 0x6c69_6e6b));
        w.add_linked_pods();
        w.rng = main;
        w.history.clear();
        w
    }

    /// The migration Job's pod (silent: a session idle in transaction logs nothing) and the
    /// crash-looping consumer of the stopped group.
    fn add_linked_pods(&mut self) {
        let job = self.scenario.migration_job.clone();
        let key = self.create_pod(&job, false, -420.0);
        let ip = self.scenario.migration_ip.clone();
        if let Some(p) = self.pods.get_mut(&key) {
            let suffix = p
                .row
                .name
                .rsplit('-')
                .next()
                .unwrap_or_default()
                .to_string();
            p.row.name = format!("{job}-{suffix}");
            p.row.owner = Some(Owner {
                kind: "Job".into(),
                name: job.clone(),
            });
            p.row.deployment = None;
            p.row.containers = vec!["migrate".into()];
            p.row.labels = [("job-name".to_string(), job.clone())].into();
            p.row.pod_ip = Some(ip);
            p.next_log_at = f64::INFINITY;
        }
        // The name changed: the key follows it.
        if let Some(p) = self.pods.remove(&key) {
            self.pods.insert(p.row.key().to_string(), p);
        }
        let consumer = self.scenario.consumer.clone();
        let key = self.create_pod(&consumer, true, -1500.0);
        let (ip, base) = (self.scenario.consumer_ip.clone(), self.base);
        if let Some(p) = self.pods.get_mut(&key) {
            p.row.pod_ip = Some(ip);
            p.row.restarts = 9;
            p.backoff = BACKOFF_MAX;
            p.previous = vec![
                (at_base(base, -32.0), "{\"level\":\"info\",\"msg\":\"joined group billing-invoices, assigned payments-0..5\"}".into()),
                (at_base(base, -31.0), "{\"level\":\"error\",\"msg\":\"cannot decode invoice at payments/3 offset 251733: unknown currency \\\"XBT\\\"\"}".into()),
                (at_base(base, -30.0), "panic: poison message: giving up".into()),
            ];
            let died = at_base(base, -30.0);
            let termination = Termination {
                container: consumer.clone(),
                reason: "Error".into(),
                exit_code: 1,
                signal: None,
                finished_at: Some(died),
            };
            p.back_off(termination, died, 25.0);
        }
        self.refresh_status(&key);
    }

    pub fn now(&self) -> f64 {
        self.now
    }

    pub fn pods(&self) -> Vec<PodRow> {
        self.pods.values().map(|p| p.row.clone()).collect()
    }

    pub fn pod(&self, name: &str) -> Option<PodRow> {
        self.pods
            .values()
            .find(|p| p.row.name == name)
            .map(|p| p.row.clone())
    }

    fn at(&self, t: f64) -> SystemTime {
        at_base(self.base, t)
    }

    fn create_pod(&mut self, deployment: &str, crashing: bool, started: f64) -> String {
        self.generation += 1;
        let hash = match self.hashes.get(deployment) {
            Some(h) => h.clone(),
            None => {
                let h = format!("{:09x}", self.rng.range(0x1_0000_0000, 0xf_ffff_ffff));
                self.hashes.insert(deployment.to_string(), h.clone());
                h
            }
        };
        let suffix = format!("{:05x}", self.rng.range(0, 0xfffff));
        let name = format!("{deployment}-{hash}-{suffix}");
        let ns = self.scenario.namespace.clone();
        let node = format!("node-{}", self.rng.range(1, 4));
        let ip = format!("10.1.{}.{}", self.rng.range(0, 4), self.rng.range(2, 250));
        let row = PodRow {
            uid: format!("demo-{}", self.rng.next_u64()),
            created: Some(self.at(started)),
            node: Some(node),
            pod_ip: Some(ip),
            owner: Some(Owner {
                kind: "ReplicaSet".into(),
                name: format!("{deployment}-{hash}"),
            }),
            deployment: Some(deployment.to_string()),
            containers: vec![deployment.to_string()],
            grace_period: Some(30),
            labels: [("app".to_string(), deployment.to_string())].into(),
            ..PodRow::running(&ns, &name)
        };
        let key = row.key().to_string();
        let next = self.now + self.rng.unit();
        self.pods.insert(
            key.clone(),
            SimPod {
                row,
                crashing,
                run_started: Some(self.now.max(started)),
                backoff_until: None,
                backoff: BACKOFF_START,
                run: 0,
                logs: Vec::new(),
                previous: Vec::new(),
                next_log_at: next,
                events: vec![
                    event(
                        false,
                        "Scheduled",
                        "Successfully assigned the pod",
                        self.at(started),
                    ),
                    event(
                        false,
                        "Started",
                        "Started container",
                        self.at(started + 2.0),
                    ),
                ],
            },
        );
        self.record(&key, false);
        key
    }

    fn record(&mut self, key: &str, deleted: bool) {
        self.rv += 1;
        let rv = self.rv.to_string();
        let Some(p) = self.pods.get_mut(key) else {
            return;
        };
        p.row.resource_version = rv;
        let change = if deleted {
            PodChange::Delete(Box::new(p.row.clone()))
        } else {
            PodChange::Upsert(Box::new(p.row.clone()))
        };
        self.history.push((self.rv, change));
        if self.history.len() > HISTORY {
            self.history.drain(..HISTORY / 2);
        }
    }

    fn refresh_status(&mut self, key: &str) {
        let Some(p) = self.pods.get_mut(key) else {
            return;
        };
        if p.backoff_until.is_some() {
            p.row.status = "CrashLoopBackOff".into();
            p.row.status_detail = Some(format!(
                "back-off {}s restarting failed container={}",
                p.backoff as u64,
                p.row.containers.first().cloned().unwrap_or_default()
            ));
            p.row.health = Health::Bad;
            p.row.ready = 0;
        } else {
            p.row.status = "Running".into();
            p.row.status_detail = None;
            p.row.health = Health::Ok;
            p.row.ready = 1;
        }
    }

    /// Move simulated time forward to `t`.
    pub fn advance_to(&mut self, t: f64) {
        // A long jump is simulated from its last minute only.
        if t - self.now > 120.0 {
            self.now = t - 120.0;
        }
        while self.now < t {
            self.now = (self.now + 0.25).min(t);
            let keys: Vec<String> = self.pods.keys().cloned().collect();
            for key in keys {
                self.step(&key);
            }
        }
    }

    fn step(&mut self, key: &str) {
        let now = self.now;
        let limit = self.scenario.memory_limit_mib as f64;
        let crash_after = self.scenario.crash_after;
        let base = self.base;
        let at = |t: f64| at_base(base, t);
        let consumer = self.scenario.consumer.clone();
        let Some(p) = self.pods.get_mut(key) else {
            return;
        };
        if p.crashing
            && p.backoff_until.is_none()
            && now >= p.next_log_at
            && p.row.deployment.as_deref() == Some(consumer.as_str())
        {
            // The consumer reads the poison message again, and dies again.
            let started = p.run_started.unwrap_or(now);
            if now - started < 2.0 {
                p.logs.push((
                    at(now),
                    "{\"level\":\"info\",\"msg\":\"joined group billing-invoices, assigned payments-0..5\"}".into(),
                ));
                p.next_log_at = started + 2.0;
                return;
            }
            p.logs.push((
                at(now),
                "{\"level\":\"error\",\"msg\":\"cannot decode invoice at payments/3 offset 251733: unknown currency \\\"XBT\\\"\"}".into(),
            ));
            let termination = Termination {
                container: consumer,
                reason: "Error".into(),
                exit_code: 1,
                signal: None,
                finished_at: Some(at(now)),
            };
            p.crash(
                "panic: poison message: giving up",
                termination,
                now,
                at(now),
            );
            self.refresh_status(key);
            self.record(key, false);
            return;
        }
        if let Some(until) = p.backoff_until {
            if now >= until {
                p.backoff_until = None;
                p.run_started = Some(now);
                p.run += 1;
                p.logs.clear();
                p.events.push(event(
                    false,
                    "Started",
                    "Started container",
                    at_base(self.base, now),
                ));
                self.refresh_status(key);
                self.record(key, false);
            }
            return;
        }
        if now < p.next_log_at {
            return;
        }
        if p.crashing {
            let started = p.run_started.unwrap_or(now);
            let frac = ((now - started) / crash_after).clamp(0.0, 1.0);
            let rss = 180.0 + (limit - 180.0) * frac;
            let batch = ((now - started) / 3.0) as u64 + 1;
            p.logs.push((
                at(now),
                format!(
                    "{{\"level\":\"info\",\"msg\":\"resizing batch {batch}: rss {rss:.0} MiB of {limit:.0} MiB limit\",\"images\":{},\"rss_mib\":{rss:.0}}}",
                    batch * 250
                ),
            ));
            if rss > limit * 0.85 {
                p.logs.push((
                    at(now),
                    format!(
                        "{{\"level\":\"warn\",\"msg\":\"memory high: originals kept in memory until the batch ends\",\"rss_mib\":{rss:.0}}}"
                    ),
                ));
            }
            p.next_log_at = now + 3.0;
            if frac >= 1.0 {
                let container = p.row.containers.first().cloned().unwrap_or_default();
                let termination = oom_termination(&container, at(now));
                p.crash(
                    "fatal error: runtime: out of memory",
                    termination,
                    now,
                    at(now),
                );
                self.refresh_status(key);
                self.record(key, false);
            }
        } else {
            let line = self.request_line();
            let Some(p) = self.pods.get_mut(key) else {
                return;
            };
            p.logs.push((at_base(base, now), line));
            if p.logs.len() > 5000 {
                p.logs.drain(..1000);
            }
            p.next_log_at = now + 0.3 + self.rng.unit() * 1.7;
        }
    }

    fn request_line(&mut self) -> String {
        let path = *self
            .rng
            .pick(&["/orders", "/orders/1001", "/cart", "/health", "/payments"]);
        let status = if self.rng.unit() < 0.04 { 503 } else { 200 };
        let ms = self.rng.range(3, 120);
        if self.rng.unit() < 0.5 {
            format!(
                "{{\"level\":\"{}\",\"msg\":\"GET {path}\",\"status\":{status},\"duration_ms\":{ms}}}",
                if status == 200 { "info" } else { "warn" }
            )
        } else {
            format!("GET {path} {status} {ms}ms")
        }
    }

    fn delete(&mut self, name: &str, uid: Option<&str>) -> Result<String, KubeError> {
        let key = self
            .pods
            .iter()
            .find(|(_, p)| p.row.name == name)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| KubeError::NotFound(format!("pods \"{name}\" not found")))?;
        if let Some(u) = uid
            && self.pods.get(&key).is_some_and(|p| p.row.uid != u)
        {
            return Err(KubeError::Conflict(format!(
                "Precondition failed: UID in precondition: {u}"
            )));
        }
        self.record(&key, true);
        let gone = self.pods.remove(&key);
        // The ReplicaSet replaces it, with the same image and limits.
        if let Some(p) = gone
            && let Some(d) = p.row.deployment.clone()
        {
            self.create_pod(&d, p.crashing, self.now);
        }
        Ok(format!("pod {name} deleted (simulated)"))
    }

    fn rollout_restart(&mut self, r: &RestartRequest) -> Result<String, KubeError> {
        let keys: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, p)| p.row.deployment.as_deref() == Some(r.deployment.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        if keys.is_empty() {
            return Err(KubeError::NotFound(format!(
                "deployments.apps \"{}\" not found",
                r.deployment
            )));
        }
        let n = keys.len();
        // A new template: a new ReplicaSet hash.
        self.hashes.remove(&r.deployment);
        for k in keys {
            self.record(&k, true);
            self.pods.remove(&k);
        }
        // The new template (with the raised memory limit of the fix) runs healthy.
        for _ in 0..n {
            self.create_pod(&r.deployment, false, self.now);
        }
        let ann = self.restarts.entry(r.deployment.clone()).or_default();
        if let serde_json::Value::Object(m) =
            &r.patch()["spec"]["template"]["metadata"]["annotations"]
        {
            for (k, v) in m {
                ann.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        }
        Ok(format!("deployment {} restarted (simulated)", r.deployment))
    }

    fn changes_after(&self, rv: u64) -> Result<Vec<PodChange>, KubeError> {
        if let Some((first, _)) = self.history.first()
            && rv + 1 < *first
        {
            return Err(KubeError::Gone(format!("too old resource version: {rv}")));
        }
        Ok(self
            .history
            .iter()
            .filter(|(v, _)| *v > rv)
            .map(|(_, c)| c.clone())
            .collect())
    }

    /// Lines of a container, and the run they belong to (None: no such pod).
    fn log_lines(&self, req: &LogRequest) -> Option<(Vec<(SystemTime, String)>, u64)> {
        let p = self.pods.values().find(|p| p.row.name == req.pod.name)?;
        let lines = if req.previous { &p.previous } else { &p.logs };
        Some((lines.clone(), p.run))
    }
}

fn event(warning: bool, reason: &str, message: &str, t: SystemTime) -> PodEvent {
    PodEvent {
        warning,
        reason: reason.into(),
        message: message.into(),
        count: 1,
        last_seen: Some(t),
    }
}

fn oom_termination(container: &str, t: SystemTime) -> Termination {
    Termination {
        container: container.to_string(),
        reason: "OOMKilled".into(),
        exit_code: 137,
        signal: None,
        finished_at: Some(t),
    }
}

fn oom_run_logs(s: &KubeScenario, base: SystemTime, start: f64) -> Vec<(SystemTime, String)> {
    let at = |t: f64| at_base(base, t);
    let limit = s.memory_limit_mib as f64;
    let mut out = Vec::new();
    let mut t = 0.0;
    while t <= s.crash_after {
        let rss = 180.0 + (limit - 180.0) * (t / s.crash_after);
        out.push((
            at(start + t),
            format!("{{\"level\":\"info\",\"msg\":\"resizing batch {}: rss {rss:.0} MiB of {limit:.0} MiB limit\",\"rss_mib\":{rss:.0}}}", (t / 3.0) as u64 + 1),
        ));
        if rss > limit * 0.85 {
            out.push((
                at(start + t),
                format!("{{\"level\":\"warn\",\"msg\":\"memory high: originals kept in memory until the batch ends\",\"rss_mib\":{rss:.0}}}"),
            ));
        }
        t += 3.0;
    }
    out.push((
        at(start + s.crash_after),
        "fatal error: runtime: out of memory".into(),
    ));
    out
}

/// The shared simulated cluster, stepped by the demo clock.
#[derive(Clone)]
pub struct DemoKube {
    world: Arc<Mutex<DemoKubeWorld>>,
    clock: DemoClock,
}

/// How often simulated streams look for news, in real time.
const POLL: Duration = Duration::from_millis(200);

impl DemoKube {
    pub fn new(seed: u64, clock: DemoClock, scenario: KubeScenario) -> DemoKube {
        DemoKube {
            world: Arc::new(Mutex::new(DemoKubeWorld::new(seed, scenario))),
            clock,
        }
    }

    /// Step the world to the clock's time and look at it.
    pub fn with_world<T>(&self, f: impl FnOnce(&mut DemoKubeWorld) -> T) -> Option<T> {
        let now = self.clock.now();
        let mut w = self.world.lock().ok()?;
        w.advance_to(now);
        Some(f(&mut w))
    }

    fn poisoned() -> KubeError {
        KubeError::Other("demo world poisoned".into())
    }
}

impl KubeSource for DemoKube {
    fn list_pods(&self, scope: &PodScope) -> BoxFuture<'_, Result<PodList, KubeError>> {
        let ns = scope.namespace.clone();
        // Label selectors as the API server reads them (equality-based).
        let selector = match scope.label_selector.as_deref() {
            Some(text) => match warroom_core::service::LabelSelector::parse(text) {
                Ok(s) => Some(s),
                Err(e) => return Box::pin(async move { Err(KubeError::Other(e)) }),
            },
            None => None,
        };
        let out = self.with_world(|w| PodList {
            pods: w
                .pods()
                .into_iter()
                .filter(|p| ns.as_ref().is_none_or(|n| *n == p.namespace))
                .filter(|p| selector.as_ref().is_none_or(|s| s.matches(&p.labels)))
                .collect(),
            resource_version: w.rv.to_string(),
        });
        Box::pin(async move { out.ok_or_else(DemoKube::poisoned) })
    }

    fn watch_pods(
        &self,
        scope: &PodScope,
        resource_version: &str,
    ) -> BoxFuture<'_, Result<PodWatch, KubeError>> {
        let start: u64 = resource_version.parse().unwrap_or(0);
        let ns = scope.namespace.clone();
        let me = self.clone();
        Box::pin(async move {
            // An old version is refused at once, like the API server's 410.
            me.with_world(|w| w.changes_after(start).map(|_| ()))
                .ok_or_else(DemoKube::poisoned)??;
            let stream = futures::stream::unfold((me, start), move |(me, cursor)| {
                let ns = ns.clone();
                async move {
                    tokio::time::sleep(POLL).await;
                    let r = me.with_world(|w| (w.changes_after(cursor), w.rv))?;
                    let (changes, rv) = r;
                    let batch: Vec<Result<PodChange, KubeError>> = match changes {
                        Err(e) => vec![Err(e)],
                        Ok(c) if c.is_empty() => vec![Ok(PodChange::Bookmark(rv.to_string()))],
                        Ok(c) => c
                            .into_iter()
                            .filter(|ch| match ch {
                                PodChange::Upsert(p) | PodChange::Delete(p) => {
                                    ns.as_ref().is_none_or(|n| *n == p.namespace)
                                }
                                PodChange::Bookmark(_) => true,
                            })
                            .map(Ok)
                            .collect(),
                    };
                    Some((futures::stream::iter(batch), (me, rv)))
                }
            })
            .flatten();
            Ok(stream.boxed())
        })
    }

    fn pod_events(
        &self,
        _namespace: &str,
        pod: &str,
    ) -> BoxFuture<'_, Result<Vec<PodEvent>, KubeError>> {
        let pod = pod.to_string();
        let out = self.with_world(|w| {
            w.pods
                .values()
                .find(|p| p.row.name == pod)
                .map(|p| p.events.clone())
        });
        Box::pin(async move {
            let mut ev = out
                .ok_or_else(DemoKube::poisoned)?
                .ok_or_else(|| KubeError::NotFound(format!("pods \"{pod}\" not found")))?;
            sort_events(&mut ev);
            Ok(ev)
        })
    }

    fn logs(&self, request: &LogRequest) -> BoxFuture<'_, Result<LogStream, KubeError>> {
        let req = request.clone();
        let me = self.clone();
        Box::pin(async move {
            let (lines, run) = me
                .with_world(|w| w.log_lines(&req))
                .ok_or_else(DemoKube::poisoned)?
                .ok_or_else(|| {
                    KubeError::NotFound(format!("pods \"{}\" not found", req.pod.name))
                })?;
            if req.previous && lines.is_empty() {
                return Err(KubeError::Api {
                    code: 400,
                    message: format!(
                        "previous terminated container in pod \"{}\" not found",
                        req.pod.name
                    ),
                });
            }
            let since = match req.since {
                Some(Since::Time(t)) => Some(t),
                Some(Since::Ago(d)) => {
                    let s = d.as_secs() as f64;
                    me.with_world(|w| w.at(w.now() - s))
                }
                None => None,
            };
            let selected: Vec<&(SystemTime, String)> = lines
                .iter()
                .filter(|(t, _)| since.is_none_or(|s| *t >= s))
                .collect();
            let skip = req
                .tail_lines
                .map_or(0, |n| selected.len().saturating_sub(n.max(0) as usize));
            let first: Vec<u8> = selected[skip..].iter().flat_map(|l| render(l)).collect();
            let sent = lines.len();
            let head = futures::stream::iter([Ok(first)]);
            if !req.follow || req.previous {
                return Ok(head.boxed());
            }
            let tail =
                futures::stream::unfold((me, req, sent), move |(me, req, sent)| async move {
                    tokio::time::sleep(POLL).await;
                    let (lines, now_run) = me.with_world(|w| w.log_lines(&req))??;
                    if now_run != run || lines.len() < sent {
                        // The container restarted: this stream ends, like the kubelet's.
                        return None;
                    }
                    let data: Vec<u8> = lines[sent..].iter().flat_map(render).collect();
                    Some((Ok(data), (me, req, lines.len())))
                });
            Ok(head.chain(tail).boxed())
        })
    }

    fn describe_target(&self) -> String {
        "demo cluster (simulated)".into()
    }
}

fn render(line: &(SystemTime, String)) -> Vec<u8> {
    format!("{} {}\n", humantime::format_rfc3339_nanos(line.0), line.1).into_bytes()
}

impl KubeActor for DemoKube {
    fn delete_pod(
        &self,
        pod: &PodKey,
        uid: Option<&str>,
        _grace_period: Option<i64>,
    ) -> BoxFuture<'_, Result<String, KubeError>> {
        let out = self.with_world(|w| w.delete(&pod.name, uid));
        Box::pin(async move { out.ok_or_else(DemoKube::poisoned)? })
    }

    fn rollout_restart(&self, request: RestartRequest) -> BoxFuture<'_, Result<String, KubeError>> {
        let out = self.with_world(|w| w.rollout_restart(&request));
        Box::pin(async move { out.ok_or_else(DemoKube::poisoned)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crashing(w: &DemoKubeWorld) -> PodRow {
        w.pods()
            .into_iter()
            .find(|p| p.deployment.as_deref() == Some("image-resizer"))
            .expect("the crashing pod")
    }

    #[test]
    fn the_resizer_is_oomkilled_again_and_a_restart_brings_it_back() {
        let mut w = DemoKubeWorld::new(1, KubeScenario::default());
        let p = crashing(&w);
        assert_eq!(
            p.last_termination.as_ref().map(|t| t.label()).as_deref(),
            Some("OOMKilled (exit 137)")
        );
        assert_eq!(
            p.last_termination.as_ref().map(|t| t.container.as_str()),
            Some("image-resizer")
        );
        let before = p.restarts;
        w.advance_to(60.0);
        let p = crashing(&w);
        assert_eq!(p.restarts, before + 1);
        assert_eq!(p.status, "CrashLoopBackOff");
        let prev = w
            .pods
            .values()
            .find(|s| s.row.deployment.as_deref() == Some("image-resizer"))
            .map(|s| s.previous.clone())
            .unwrap_or_default();
        assert!(prev.last().is_some_and(|l| l.1.contains("out of memory")));
        // Healthy pods log.
        assert!(
            w.pods
                .values()
                .filter(|s| !s.crashing && s.row.deployment.is_some())
                .all(|s| !s.logs.is_empty())
        );

        let r = RestartRequest {
            namespace: "shop".into(),
            deployment: "image-resizer".into(),
            restarted_at: "2026-11-26T10:00:00Z".into(),
            reason: "INC-7 raise the limit".into(),
            audit_id: "a-1".into(),
            from_pod: None,
        };
        w.rollout_restart(&r).expect("restart");
        w.advance_to(400.0);
        let p = crashing(&w);
        assert_eq!((p.status.as_str(), p.restarts), ("Running", 0));
        assert_eq!(w.restarts["image-resizer"]["warroom.dev/audit-id"], "a-1");
    }

    #[test]
    fn label_selectors_list_only_the_matching_pods_and_the_links_have_their_addresses() {
        let kube = DemoKube::new(3, DemoClock::manual(), KubeScenario::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let list = |sel: Option<&str>| {
            let scope = PodScope {
                namespace: None,
                label_selector: sel.map(str::to_string),
            };
            rt.block_on(kube.list_pods(&scope))
        };
        let billing = list(Some("app=billing-worker")).expect("listed");
        assert_eq!(billing.pods.len(), 1);
        assert_eq!(billing.pods[0].pod_ip.as_deref(), Some("10.0.3.14"));
        assert_eq!(billing.pods[0].health, Health::Bad);
        let job = list(Some("job-name")).expect("listed");
        assert_eq!(job.pods.len(), 1);
        assert_eq!(job.pods[0].pod_ip.as_deref(), Some("10.0.9.14"));
        assert_eq!(
            job.pods[0].owner.as_ref().map(Owner::label).as_deref(),
            Some("Job/migrate-2026-11-26")
        );
        assert_eq!(list(None).expect("listed").pods.len(), 7);
        assert!(list(Some("app=a b")).is_err());
    }

    #[test]
    fn deleting_the_pod_gets_a_replacement_that_still_crashes() {
        let mut w = DemoKubeWorld::new(3, KubeScenario::default());
        let p = crashing(&w);
        assert!(matches!(
            w.delete(&p.name, Some("wrong")),
            Err(KubeError::Conflict(_))
        ));
        w.delete(&p.name, Some(&p.uid)).expect("delete");
        let q = crashing(&w);
        assert_ne!(q.name, p.name);
        w.advance_to(60.0);
        assert_eq!(
            crashing(&w).last_termination.map(|t| t.reason),
            Some("OOMKilled".into())
        );
    }
}
