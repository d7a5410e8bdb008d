//! The Kafka side of the demo incident: the billing consumer crashed (its pod crash-loops),
//! its group is Empty and lag on `payments` grows. Resetting the group's offsets (the
//! poison message is skipped) or restarting the consumer brings members back, and they
//! drain the backlog faster than it grows. Other groups keep up, fall slowly behind, or
//! sit Empty for deletion.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::clock::DemoClock;
use super::rng::Rng;
use warroom_core::backends::BoxFuture;
use warroom_core::backends::kafka::{
    ConsumerGroup, GroupMember, GroupState, KafkaAdmin, KafkaError, KafkaSnapshot, KafkaSource,
    PartitionOffsets, PlanInputs, RefreshCost, ResetPlan, ResetSpec, ResetTo, plan,
};

/// `[kafka]` in a demo scenario file: the lagging group. Every key is optional.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaScenario {
    pub lagging_group: String,
    pub topic: String,
    pub partitions: usize,
    /// Messages per second per partition.
    pub produce_rate: f64,
    /// Lag per partition when the demo starts.
    pub initial_lag: f64,
    /// How fast the recovered consumer reads, per partition.
    pub catch_up_rate: f64,
}

impl Default for KafkaScenario {
    fn default() -> Self {
        KafkaScenario {
            lagging_group: "billing-invoices".into(),
            topic: "payments".into(),
            partitions: 6,
            produce_rate: 40.0,
            initial_lag: 3000.0,
            catch_up_rate: 90.0,
        }
    }
}

#[derive(Debug, Clone)]
struct Topic {
    name: String,
    ends: Vec<f64>,
    rate: f64,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    committed: BTreeMap<(usize, usize), f64>,
    members: Vec<GroupMember>,
    /// Messages per second per partition while it has members.
    rate: f64,
    /// Members (re)join at this simulated time.
    joins_at: Option<f64>,
    client: (&'static str, &'static str),
    member_count: usize,
}

/// The simulated cluster. Public so tests and the scenario can step it.
#[derive(Debug)]
pub struct DemoKafkaWorld {
    rng: Rng,
    now: f64,
    topics: Vec<Topic>,
    groups: Vec<Group>,
    scenario: KafkaScenario,
}

impl DemoKafkaWorld {
    pub fn new(seed: u64, scenario: KafkaScenario) -> DemoKafkaWorld {
        let partitions = scenario.partitions.max(1);
        let topics = vec![
            Topic {
                name: scenario.topic.clone(),
                ends: (0..partitions)
                    .map(|p| 250_000.0 + 1000.0 * p as f64)
                    .collect(),
                rate: scenario.produce_rate,
            },
            Topic {
                name: "orders".into(),
                ends: vec![80_000.0, 81_500.0, 79_200.0],
                rate: 15.0,
            },
            Topic {
                name: "audit".into(),
                ends: vec![12_000.0, 12_400.0],
                rate: 0.0,
            },
        ];
        let mut w = DemoKafkaWorld {
            rng: Rng::new(seed ^ 0x6b_6166_6b61),
            now: 0.0,
            topics,
            groups: Vec::new(),
            scenario: scenario.clone(),
        };
        let lag = scenario.initial_lag;
        w.add_group(
            &scenario.lagging_group,
            &[0],
            0,
            scenario.catch_up_rate,
            ("billing-worker", "10.0.3.14"),
            2,
            lag,
        );
        w.add_group(
            "search-indexer",
            &[1],
            3,
            30.0,
            ("search-indexer", "10.0.4.21"),
            3,
            20.0,
        );
        w.add_group(
            "analytics-rollup",
            &[1],
            2,
            12.0,
            ("analytics", "10.0.5.9"),
            2,
            400.0,
        );
        w.add_group(
            "audit-archiver",
            &[2],
            0,
            0.0,
            ("archiver", "10.0.6.2"),
            1,
            0.0,
        );
        w.add_group(
            "legacy-reports",
            &[1],
            0,
            0.0,
            ("reports", "10.0.7.30"),
            1,
            52_000.0,
        );
        w
    }

    #[allow(clippy::too_many_arguments)]
    fn add_group(
        &mut self,
        id: &str,
        topics: &[usize],
        members: usize,
        rate: f64,
        client: (&'static str, &'static str),
        member_count: usize,
        lag: f64,
    ) {
        let mut committed = BTreeMap::new();
        for &t in topics {
            for (p, end) in self.topics[t].ends.iter().enumerate() {
                let jitter = self.rng.unit() * lag * 0.2;
                committed.insert((t, p), (end - lag - jitter).max(0.0).floor());
            }
        }
        let mut g = Group {
            id: id.into(),
            committed,
            members: Vec::new(),
            rate,
            joins_at: None,
            client,
            member_count,
        };
        if members > 0 {
            self.join(&mut g);
        }
        self.groups.push(g);
    }

    /// Members join and share the partitions round-robin.
    fn join(&mut self, g: &mut Group) {
        let parts: Vec<(usize, usize)> = g.committed.keys().copied().collect();
        g.members = (0..g.member_count)
            .map(|i| {
                let suffix = self.rng.range(0x1000, 0xffff);
                GroupMember {
                    member_id: format!("{}-{i}-{suffix:x}", g.client.0),
                    client_id: format!("{}-{i}", g.client.0),
                    client_host: format!("/{}", g.client.1),
                    assignment: parts
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| k % g.member_count.max(1) == i)
                        .map(|(_, (t, p))| {
                            (self.topics[*t].name.clone(), i32::try_from(*p).unwrap_or(0))
                        })
                        .collect(),
                }
            })
            .collect();
        g.joins_at = None;
    }

    /// Move the simulation to `t` seconds after the incident started.
    pub fn advance_to(&mut self, t: f64) {
        while self.now < t {
            let dt = (t - self.now).min(1.0);
            self.now += dt;
            self.tick(dt);
        }
    }

    fn tick(&mut self, dt: f64) {
        for topic in &mut self.topics {
            for end in &mut topic.ends {
                let noise = 0.7 + 0.6 * self.rng.unit();
                *end += topic.rate * dt * noise;
            }
        }
        let mut groups = std::mem::take(&mut self.groups);
        for g in &mut groups {
            if g.joins_at.is_some_and(|at| at <= self.now) {
                self.join(g);
            }
            if g.members.is_empty() {
                continue;
            }
            for ((t, p), c) in &mut g.committed {
                let end = self.topics[*t].ends[*p].floor();
                let step = g.rate * dt * (0.8 + 0.4 * self.rng.unit());
                *c = (*c + step).min(end).floor();
            }
        }
        self.groups = groups;
    }

    pub fn now(&self) -> f64 {
        self.now
    }

    /// The consumer of the lagging group was restarted (e.g. its deployment): members
    /// join a few seconds later and drain the backlog.
    pub fn consumer_restarted(&mut self) {
        let id = self.scenario.lagging_group.clone();
        let now = self.now;
        if let Some(g) = self
            .groups
            .iter_mut()
            .find(|g| g.id == id && g.members.is_empty())
        {
            g.joins_at = Some(now + 5.0);
        }
    }

    pub fn snapshot(&self, epoch: SystemTime) -> KafkaSnapshot {
        let groups: Vec<ConsumerGroup> = self
            .groups
            .iter()
            .map(|g| ConsumerGroup {
                id: g.id.clone(),
                state: if g.members.is_empty() {
                    "Empty"
                } else {
                    "Stable"
                }
                .into(),
                protocol_type: "consumer".into(),
                members: g.members.clone(),
                partitions: g
                    .committed
                    .iter()
                    .map(|((t, p), c)| PartitionOffsets {
                        topic: self.topics[*t].name.clone(),
                        partition: i32::try_from(*p).unwrap_or(0),
                        committed: Some(*c as i64),
                        log_end: Some(self.topics[*t].ends[*p].floor() as i64),
                    })
                    .collect(),
                error: None,
            })
            .collect();
        let partitions = self.topics.iter().map(|t| t.ends.len()).sum();
        KafkaSnapshot {
            taken_at: epoch + Duration::from_secs_f64(self.now.max(0.0)),
            cost: RefreshCost {
                brokers: 3,
                metadata_requests: 1,
                list_groups_requests: 3,
                describe_groups_requests: 3,
                list_offsets_requests: 3,
                offset_fetch_requests: groups.len(),
                partitions,
                wall: Duration::from_millis(4),
            },
            groups,
        }
    }

    fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn group_state(&self, id: &str) -> GroupState {
        match self.group(id) {
            Some(g) if !g.members.is_empty() => GroupState {
                state: "Stable".into(),
                members: g.members.len(),
            },
            Some(_) => GroupState {
                state: "Empty".into(),
                members: 0,
            },
            None => GroupState {
                state: "Dead".into(),
                members: 0,
            },
        }
    }

    pub fn plan_reset(
        &self,
        id: &str,
        spec: &ResetSpec,
        epoch: SystemTime,
    ) -> Result<ResetPlan, String> {
        let g = self
            .group(id)
            .ok_or_else(|| format!("group {id} does not exist"))?;
        let mut inputs = PlanInputs::default();
        let topic_index = |name: &str| self.topics.iter().position(|t| t.name == name);
        let keys: Vec<(usize, usize)> = match &spec.topic {
            Some(name) => {
                let t = topic_index(name).ok_or_else(|| format!("topic {name} does not exist"))?;
                (0..self.topics[t].ends.len()).map(|p| (t, p)).collect()
            }
            None => g.committed.keys().copied().collect(),
        };
        for (t, p) in keys {
            let topic = &self.topics[t];
            let key = (topic.name.clone(), i32::try_from(p).unwrap_or(0));
            let end = topic.ends[p].floor() as i64;
            inputs.partitions.push((
                key.0.clone(),
                key.1,
                g.committed.get(&(t, p)).map(|c| *c as i64),
            ));
            // Seven days of retention at the current rate.
            let earliest = (end - (topic.rate * 7.0 * 86_400.0) as i64).max(0);
            inputs.earliest.insert(key.clone(), earliest);
            inputs.latest.insert(key.clone(), end);
            if let ResetTo::Datetime(ts) = spec.to {
                let ago = (epoch + Duration::from_secs_f64(self.now.max(0.0)))
                    .duration_since(ts)
                    .map_or(0.0, |d| d.as_secs_f64());
                inputs.by_time.insert(key, end - (ago * topic.rate) as i64);
            }
        }
        plan::plan(id, spec, &inputs)
    }

    pub fn delete_group(&mut self, id: &str) -> Result<(), KafkaError> {
        match self.group(id) {
            None => Err(KafkaError::Refused(
                "GroupIdNotFound: Broker: The group id does not exist".into(),
            )),
            Some(g) if !g.members.is_empty() => Err(KafkaError::Refused(
                "NonEmptyGroup: Broker: The group is not empty".into(),
            )),
            Some(_) => {
                self.groups.retain(|g| g.id != id);
                Ok(())
            }
        }
    }

    /// A reset of the lagging group also brings its consumer back: the poison message is
    /// behind it now.
    pub fn commit(&mut self, id: &str, offsets: &[(String, i32, i64)]) -> Result<(), KafkaError> {
        let index: HashMap<String, usize> = self
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let now = self.now;
        let lagging = id == self.scenario.lagging_group;
        let Some(g) = self.groups.iter_mut().find(|g| g.id == id) else {
            return Err(KafkaError::Refused(
                "GroupIdNotFound: Broker: The group id does not exist".into(),
            ));
        };
        if !g.members.is_empty() {
            return Err(KafkaError::Refused(
                "UnknownMemberId: Broker: The group is not empty".into(),
            ));
        }
        for (topic, p, o) in offsets {
            if let (Some(t), Ok(p)) = (index.get(topic), usize::try_from(*p)) {
                g.committed.insert((*t, p), *o as f64);
            }
        }
        if lagging {
            g.joins_at = Some(now + 5.0);
        }
        Ok(())
    }
}

/// The demo cluster behind `KafkaSource` and `KafkaAdmin`.
#[derive(Clone)]
pub struct DemoKafka {
    world: Arc<Mutex<DemoKafkaWorld>>,
    clock: DemoClock,
}

impl DemoKafka {
    pub fn new(seed: u64, clock: DemoClock, scenario: KafkaScenario) -> DemoKafka {
        DemoKafka {
            world: Arc::new(Mutex::new(DemoKafkaWorld::new(seed, scenario))),
            clock,
        }
    }

    /// Run `f` on the world, moved to the clock's time first.
    pub fn with_world<T>(&self, f: impl FnOnce(&mut DemoKafkaWorld) -> T) -> Option<T> {
        let mut w = self.world.lock().ok()?;
        w.advance_to(self.clock.now());
        Some(f(&mut w))
    }

    fn poisoned() -> KafkaError {
        KafkaError::Request("demo world poisoned".into())
    }
}

impl KafkaSource for DemoKafka {
    fn snapshot(&self) -> BoxFuture<'_, Result<KafkaSnapshot, KafkaError>> {
        let epoch = self.clock.epoch();
        let snap = self.with_world(|w| w.snapshot(epoch));
        Box::pin(async move { snap.ok_or_else(DemoKafka::poisoned) })
    }

    fn plan_reset(
        &self,
        group: &str,
        spec: &ResetSpec,
    ) -> BoxFuture<'_, Result<ResetPlan, KafkaError>> {
        let epoch = self.clock.epoch();
        let out = self.with_world(|w| w.plan_reset(group, spec, epoch));
        Box::pin(async move {
            out.ok_or_else(DemoKafka::poisoned)?
                .map_err(KafkaError::Request)
        })
    }

    fn describe_target(&self) -> String {
        "demo Kafka cluster (simulated)".into()
    }
}

impl KafkaAdmin for DemoKafka {
    fn group_state(&self, group: &str) -> BoxFuture<'_, Result<GroupState, KafkaError>> {
        let out = self.with_world(|w| w.group_state(group));
        Box::pin(async move { out.ok_or_else(DemoKafka::poisoned) })
    }

    fn delete_group(&self, group: &str) -> BoxFuture<'_, Result<(), KafkaError>> {
        let out = self.with_world(|w| w.delete_group(group));
        Box::pin(async move { out.ok_or_else(DemoKafka::poisoned)? })
    }

    fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<(String, i32, i64)>,
    ) -> BoxFuture<'_, Result<(), KafkaError>> {
        let out = self.with_world(|w| w.commit(group, &offsets));
        Box::pin(async move { out.ok_or_else(DemoKafka::poisoned)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::kafka::{History, LagStatus};

    fn lag_of(s: &KafkaSnapshot, id: &str) -> i64 {
        s.group(id).map_or(-1, ConsumerGroup::total_lag)
    }

    #[tokio::test]
    async fn the_billing_group_falls_behind_until_a_reset_brings_its_consumer_back() {
        let clock = DemoClock::manual();
        let kafka = DemoKafka::new(7, clock.clone(), KafkaScenario::default());
        let mut history = History::new();
        let mut lags = Vec::new();
        for _ in 0..6 {
            clock.advance(10.0);
            let s = kafka.snapshot().await.expect("snapshot");
            history.observe(&s);
            lags.push(lag_of(&s, "billing-invoices"));
        }
        assert!(lags.windows(2).all(|w| w[1] > w[0]), "lag grows: {lags:?}");
        let s = kafka.snapshot().await.expect("snapshot");
        let billing = s.group("billing-invoices").expect("group");
        assert_eq!(history.status(billing), LagStatus::Stop);
        assert_eq!(
            history.status(s.group("search-indexer").expect("g")),
            LagStatus::Ok
        );
        assert_eq!(
            history.status(s.group("analytics-rollup").expect("g")),
            LagStatus::Warn
        );
        assert_eq!(
            history.status(s.group("audit-archiver").expect("g")),
            LagStatus::Empty
        );

        // Shift back the backlog except 1,000 per partition, then the consumer drains it.
        let plan = kafka
            .plan_reset(
                "billing-invoices",
                &ResetSpec::parse("latest").expect("spec"),
            )
            .await
            .expect("plan");
        assert!(plan.skipped() > 0);
        kafka
            .commit_offsets("billing-invoices", plan.commits())
            .await
            .expect("commit");
        let after_reset = lag_of(&kafka.snapshot().await.expect("s"), "billing-invoices");
        clock.advance(60.0);
        let s = kafka.snapshot().await.expect("s");
        assert_eq!(
            s.group("billing-invoices").map(|g| g.members.len()),
            Some(2)
        );
        assert!(
            lag_of(&s, "billing-invoices") < lags[5] / 4,
            "{after_reset} then {}",
            lag_of(&s, "billing-invoices")
        );
        // Members are back: no more resets or deletes.
        assert!(kafka.delete_group("billing-invoices").await.is_err());
        kafka
            .delete_group("audit-archiver")
            .await
            .expect("empty group deleted");
        assert!(
            kafka
                .snapshot()
                .await
                .expect("s")
                .group("audit-archiver")
                .is_none()
        );
    }
}
