//! The PostgreSQL side of the demo incident: a migration left idle in transaction holds a
//! row lock on `orders`; API requests pile up behind it, one queued behind another.
//! Terminating the migration releases the lock and the waiters drain.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::clock::{DemoClock, epoch};
use super::rng::Rng;
use super::scenario::PgScenario;
use super::statements::{self, DemoStatements};
use warroom_core::backends::BoxFuture;
use warroom_core::backends::postgres::explain::ExplainResult;
use warroom_core::backends::postgres::header::HeaderTracker;
use warroom_core::backends::postgres::statements::{StatementsRead, StatementsTracker};
use warroom_core::backends::postgres::{
    ActivitySnapshot, PgError, PgSession, PgSignaller, PgSource, PgStatements, SignalKind,
    SignalOutcome, SignalRequest,
};

#[derive(Debug, Clone)]
struct DemoSession {
    pid: i32,
    user: String,
    database: String,
    application: String,
    client: String,
    state: &'static str,
    wait: Option<(&'static str, &'static str)>,
    backend_start: f64,
    xact_start: Option<f64>,
    query_start: f64,
    query: String,
    /// For waiters: whom they wait on.
    blocked_by: Vec<i32>,
    /// Active sessions finish at this simulated time.
    ends_at: Option<f64>,
}

/// The simulated server. Public so tests and the demo scenario can step it.
#[derive(Debug)]
pub struct DemoPgWorld {
    rng: Rng,
    now: f64,
    next_pid: i32,
    sessions: Vec<DemoSession>,
    migration_alive: bool,
    next_waiter_at: f64,
    scenario: PgScenario,
    /// Wall time of simulated second 0.
    epoch: SystemTime,
}

impl DemoPgWorld {
    pub fn new(seed: u64) -> DemoPgWorld {
        DemoPgWorld::from_scenario(seed, PgScenario::default())
    }

    pub fn from_scenario(seed: u64, scenario: PgScenario) -> DemoPgWorld {
        let mut w = DemoPgWorld {
            rng: Rng::new(seed),
            now: 0.0,
            next_pid: 12000,
            sessions: Vec::new(),
            migration_alive: true,
            next_waiter_at: 5.0,
            scenario,
            epoch: epoch(),
        };
        for i in 0..w.scenario.idle_sessions {
            let app = *w.rng.pick(&["api", "api", "worker", "billing", "admin"]);
            let pid = w.take_pid();
            let started = -3600.0 - f64::from(i) * 97.0;
            let last = -(w.rng.range(1, 400) as f64);
            let session = DemoSession {
                wait: Some(("Client", "ClientRead")),
                backend_start: started,
                query_start: last,
                query: "COMMIT".into(),
                ..w.app_session(pid, app, "idle")
            };
            w.sessions.push(session);
        }
        let sc = &w.scenario;
        let idle = sc.blocker_idle_for.as_secs_f64();
        w.sessions.push(DemoSession {
            pid: sc.blocker_pid,
            user: sc.blocker_user.clone(),
            database: sc.database.clone(),
            application: sc.blocker_application.clone(),
            client: sc.blocker_client.clone(),
            state: "idle in transaction",
            wait: Some(("Client", "ClientRead")),
            backend_start: -idle - 25.0,
            xact_start: Some(-idle - 5.0),
            query_start: -idle,
            query: sc.blocker_query.clone(),
            blocked_by: vec![],
            ends_at: None,
        });
        w
    }

    /// A session of the application `app` (user "app") from a random client address; the
    /// caller sets its times, query and waits.
    fn app_session(&mut self, pid: i32, app: &str, state: &'static str) -> DemoSession {
        DemoSession {
            pid,
            user: "app".into(),
            database: self.scenario.database.clone(),
            application: app.into(),
            client: format!("10.0.{}.{}", self.rng.range(1, 4), self.rng.range(2, 250)),
            state,
            wait: None,
            backend_start: 0.0,
            xact_start: None,
            query_start: 0.0,
            query: String::new(),
            blocked_by: vec![],
            ends_at: None,
        }
    }

    fn take_pid(&mut self) -> i32 {
        self.next_pid += i32::try_from(self.rng.range(1, 40)).unwrap_or(1);
        self.next_pid
    }

    /// Move the simulation to `t` seconds after the incident started.
    pub fn advance_to(&mut self, t: f64) {
        while self.now < t {
            let dt = (t - self.now).min(0.5);
            self.now += dt;
            self.tick();
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        // Short queries finish, new ones start.
        self.sessions.retain(|s| s.ends_at.is_none_or(|e| e > now));
        let active = self
            .sessions
            .iter()
            .filter(|s| s.state == "active" && s.blocked_by.is_empty())
            .count();
        if active < 6 && self.rng.unit() < 0.6 {
            let pid = self.take_pid();
            let (app, query) = *self.rng.pick(&[
                ("api", "SELECT * FROM products WHERE sku = $1"),
                ("api", "SELECT count(*) FROM carts WHERE user_id = $1"),
                (
                    "worker",
                    "INSERT INTO events (kind, payload) VALUES ($1, $2)",
                ),
                (
                    "billing",
                    "SELECT sum(amount) FROM invoices WHERE month = $1",
                ),
            ]);
            let len = 0.2 + self.rng.unit() * 4.0;
            let session = DemoSession {
                backend_start: now - 900.0,
                xact_start: Some(now),
                query_start: now,
                query: query.into(),
                ends_at: Some(now + len),
                ..self.app_session(pid, app, "active")
            };
            self.sessions.push(session);
        }
        // Requests pile up behind the migration's row lock.
        if self.migration_alive && now >= self.next_waiter_at {
            let every = self.scenario.waiter_every.as_secs_f64();
            self.next_waiter_at = now + every * (0.5 + self.rng.unit());
            let waiters: Vec<i32> = self.waiters().collect();
            if waiters.len() < self.scenario.max_waiters {
                let pid = self.take_pid();
                // The first waiter waits on the transaction, later ones queue on the tuple.
                let (blocked_by, wait) = match waiters.first() {
                    None => (vec![self.scenario.blocker_pid], ("Lock", "transactionid")),
                    Some(&first) => (vec![first], ("Lock", "tuple")),
                };
                self.sessions.push(DemoSession {
                    pid,
                    user: "app".into(),
                    database: self.scenario.database.clone(),
                    application: "api".into(),
                    client: format!("10.0.1.{}", self.rng.range(2, 250)),
                    state: "active",
                    wait: Some(wait),
                    backend_start: now - 600.0,
                    xact_start: Some(now),
                    query_start: now,
                    query: self.scenario.waiter_query.clone(),
                    blocked_by,
                    ends_at: None,
                });
            }
        }
        // Once the lock is gone, waiters get it one after another.
        if !self.migration_alive {
            let mut released = 0;
            for s in self
                .sessions
                .iter_mut()
                .filter(|s| !s.blocked_by.is_empty())
            {
                if released < 4 {
                    s.blocked_by.clear();
                    s.wait = None;
                    s.ends_at = Some(now + 0.3);
                    released += 1;
                } else {
                    s.blocked_by = vec![];
                    s.wait = Some(("Lock", "tuple"));
                    s.ends_at = Some(now + 1.0);
                }
            }
        }
    }

    fn waiters(&self) -> impl Iterator<Item = i32> + '_ {
        self.sessions
            .iter()
            .filter(|s| !s.blocked_by.is_empty())
            .map(|s| s.pid)
    }

    /// Sessions waiting on a lock right now.
    pub fn waiting_count(&self) -> usize {
        self.waiters().count()
    }

    pub fn migration_alive(&self) -> bool {
        self.migration_alive
    }

    /// Seconds since the incident started.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// The simulated server's clock, as epoch seconds (what now() would say).
    pub fn server_time(&self) -> f64 {
        sim_time(self.epoch, self.now)
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    pub fn scenario(&self) -> &PgScenario {
        &self.scenario
    }

    pub fn snapshot(&self) -> ActivitySnapshot {
        let at = |secs: f64| sim_time(self.epoch, secs);
        let sessions = self
            .sessions
            .iter()
            .map(|s| PgSession {
                pid: s.pid,
                database: Some(s.database.clone()),
                user: Some(s.user.clone()),
                application: s.application.clone(),
                client_addr: Some(s.client.clone()),
                state: Some(s.state.into()),
                wait_event_type: s.wait.map(|w| w.0.into()),
                wait_event: s.wait.map(|w| w.1.into()),
                query_seconds: Some(self.now - s.query_start),
                xact_seconds: s.xact_start.map(|x| self.now - x),
                blocked_by: s.blocked_by.clone(),
                query: s.query.clone(),
                backend_start: Some(at(s.backend_start)),
                query_start: Some(at(s.query_start)),
                query_id: None,
                lock: None,
            })
            .collect();
        ActivitySnapshot {
            sessions,
            hidden_sessions: 0,
            monitor_role: "monitor".into(),
            statements: 1,
            elapsed: Duration::from_millis(3),
            header: None,
        }
    }

    /// Apply a signal with the same identity rules as the real server.
    pub fn signal(&mut self, req: &SignalRequest) -> SignalOutcome {
        let seen = &req.session;
        let Some(idx) = self.sessions.iter().position(|s| s.pid == seen.pid) else {
            return SignalOutcome::Gone;
        };
        let s = &self.sessions[idx];
        if seen.backend_start != Some(sim_time(self.epoch, s.backend_start)) {
            return SignalOutcome::DifferentSession;
        }
        if seen.query_start != Some(sim_time(self.epoch, s.query_start)) {
            return SignalOutcome::DifferentQuery;
        }
        match req.kind {
            // Cancelling an idle-in-transaction session does nothing, as on a real server.
            SignalKind::Cancel if s.state != "active" => {}
            SignalKind::Cancel | SignalKind::Terminate => {
                let pid = s.pid;
                self.sessions.remove(idx);
                if pid == self.scenario.blocker_pid {
                    self.migration_alive = false;
                }
                // Waiters queued behind a removed waiter move up to its blocker.
                for w in self.sessions.iter_mut() {
                    if w.blocked_by.contains(&pid) {
                        w.blocked_by = if self.migration_alive {
                            vec![self.scenario.blocker_pid]
                        } else {
                            vec![]
                        };
                    }
                }
            }
        }
        SignalOutcome::Signalled { returned: true }
    }
}

fn sim_time(epoch: SystemTime, secs: f64) -> SystemTime {
    // Whole microseconds, as PostgreSQL stores them, so identities compare exactly.
    let micros = (secs * 1e6).round() as i64;
    if micros >= 0 {
        epoch + Duration::from_micros(micros.unsigned_abs())
    } else {
        epoch - Duration::from_micros(micros.unsigned_abs())
    }
}

/// The demo backend: a shared world advanced by a clock.
#[derive(Clone)]
pub struct DemoPg {
    world: Arc<Mutex<DemoPgWorld>>,
    clock: DemoClock,
    /// What the slow-database views keep between reads (header rates, statement counters).
    slow: Arc<Mutex<(HeaderTracker, DemoStatements)>>,
}

impl DemoPg {
    pub fn new(seed: u64, clock: DemoClock) -> DemoPg {
        DemoPg::from_scenario(seed, clock, PgScenario::default())
    }

    pub fn from_scenario(seed: u64, clock: DemoClock, scenario: PgScenario) -> DemoPg {
        DemoPg {
            world: Arc::new(Mutex::new(DemoPgWorld {
                epoch: clock.epoch(),
                ..DemoPgWorld::from_scenario(seed, scenario)
            })),
            clock,
            slow: Arc::new(Mutex::new(Default::default())),
        }
    }

    pub fn with_world<T>(&self, f: impl FnOnce(&mut DemoPgWorld) -> T) -> Option<T> {
        let mut w = self.world.lock().ok()?;
        w.advance_to(self.clock.now());
        Some(f(&mut w))
    }
}

impl PgSource for DemoPg {
    fn activity(&self) -> BoxFuture<'_, Result<ActivitySnapshot, PgError>> {
        let snap = self.with_world(|w| {
            let mut snap = w.snapshot();
            if let Ok(mut slow) = self.slow.lock() {
                statements::enrich(
                    &mut snap,
                    &mut slow.0,
                    w.now(),
                    w.server_time(),
                    w.scenario().blocker_pid,
                    w.migration_alive(),
                );
            }
            snap
        });
        Box::pin(async move { snap.ok_or_else(|| PgError::Query("demo world poisoned".into())) })
    }

    fn describe_target(&self) -> String {
        "demo@shop (simulated)".into()
    }
}

impl PgStatements for DemoPg {
    fn statements<'a>(
        &'a self,
        _tracker: &'a StatementsTracker,
    ) -> BoxFuture<'a, Result<StatementsRead, PgError>> {
        let read = self.with_world(|w| {
            let mut slow = self.slow.lock().ok()?;
            let sample = slow.1.sample(
                w.now(),
                w.server_time(),
                &w.scenario().waiter_query,
                w.waiting_count(),
            );
            Some(StatementsRead::Sample {
                sample,
                compute_query_id: Some("auto".into()),
                all_stats: true,
                statements: 1,
            })
        });
        Box::pin(async move {
            read.flatten()
                .ok_or_else(|| PgError::Query("demo world poisoned".into()))
        })
    }

    fn explain(&self, pid: i32) -> BoxFuture<'_, Result<ExplainResult, PgError>> {
        let result = self.with_world(|w| {
            let snap = w.snapshot();
            statements::explain(pid, snap.sessions.iter().find(|s| s.pid == pid))
        });
        Box::pin(async move { result.ok_or_else(|| PgError::Query("demo world poisoned".into())) })
    }
}

impl PgSignaller for DemoPg {
    fn signal(&self, request: SignalRequest) -> BoxFuture<'_, Result<SignalOutcome, PgError>> {
        let out = self.with_world(|w| w.signal(&request));
        Box::pin(async move { out.ok_or_else(|| PgError::Query("demo world poisoned".into())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::postgres::blocking_tree;

    #[test]
    fn waiters_pile_up_behind_the_migration_and_drain_after_terminate() {
        let mut w = DemoPgWorld::new(7);
        w.advance_to(120.0);
        let snap = w.snapshot();
        let tree = blocking_tree(&snap.sessions);
        assert_eq!(tree[0].pid, 4242);
        assert!(tree[0].waiting_count >= 10, "{}", tree[0].waiting_count);
        let m = snap.sessions.iter().find(|s| s.pid == 4242).cloned();
        let m = m.expect("migration present");
        let req = SignalRequest {
            kind: SignalKind::Terminate,
            session: m.identity(),
            audit_id: "t".into(),
            reason: "test".into(),
            terminate_wait: Duration::from_secs(1),
        };
        assert!(w.signal(&req).ok());
        w.advance_to(140.0);
        assert_eq!(w.waiting_count(), 0);
        assert_eq!(w.signal(&req), SignalOutcome::Gone);
    }

    #[test]
    fn same_seed_same_incident() {
        let mut a = DemoPgWorld::new(3);
        let mut b = DemoPgWorld::new(3);
        a.advance_to(60.0);
        b.advance_to(60.0);
        assert_eq!(a.snapshot(), b.snapshot());
    }
}
