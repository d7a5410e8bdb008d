//! The real client, on rdkafka (librdkafka built from source).
//!
//! One refresh: Metadata once; ListGroups + batched DescribeGroups per broker
//! (`fetch_group_list`); OffsetFetch per group, concurrently (`ffi`); log end offsets with
//! one batched ListOffsets per partition leader (`offsets_for_times` with the end offset).
//! Never one watermark query per partition.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::{Offset, TopicPartitionList};

use super::assignment::decode_assignment;
use super::ffi;
use super::model::{
    ConsumerGroup, GroupMember, GroupState, KafkaSnapshot, PartitionOffsets, RefreshCost,
};
use super::plan::{self, PlanInputs, ResetPlan, ResetSpec, ResetTo};
use super::{KafkaAdmin, KafkaError, KafkaSource};
use crate::backends::{BoxFuture, ErrorKind};

/// How to reach one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSpec {
    pub name: String,
    /// `host:port,host:port`.
    pub brokers: String,
    /// Passed to librdkafka as is (security.protocol, sasl.*, ssl.*, ...).
    pub properties: BTreeMap<String, String>,
    /// Per call (metadata, group list, offsets).
    pub timeout: Duration,
    /// OffsetFetch requests in flight at once.
    pub fetch_window: usize,
}

impl KafkaSpec {
    pub fn new(name: &str, brokers: &str) -> KafkaSpec {
        KafkaSpec {
            name: name.to_string(),
            brokers: brokers.to_string(),
            properties: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            fetch_window: 64,
        }
    }

    fn client_config(&self, group: Option<&str>) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c.set("client.id", "warroom");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        if let Some(g) = group {
            c.set("group.id", g);
            c.set("enable.auto.commit", "false");
            c.set("enable.auto.offset.store", "false");
        }
        c
    }
}

/// Cheap to clone: every clone shares the same librdkafka clients.
#[derive(Clone)]
pub struct RealKafka {
    spec: Arc<KafkaSpec>,
    /// No group.id: it never joins or commits; used for metadata, groups and offsets.
    monitor: Arc<BaseConsumer>,
    admin: Arc<OnceLock<Result<Arc<AdminClient<DefaultClientContext>>, KafkaError>>>,
}

fn rd_err(e: RdError) -> KafkaError {
    KafkaError::Request(e.to_string())
}

/// What a failed metadata or group call means: SASL or SSL refused our credentials, an
/// ACL refused the request, or (anything else from librdkafka here, timeouts included: no
/// broker answered) the cluster was not reached.
fn reach_kind(code: Option<rdkafka::types::RDKafkaErrorCode>) -> ErrorKind {
    use rdkafka::types::RDKafkaErrorCode as C;
    match code {
        Some(C::Authentication | C::SaslAuthenticationFailed) => ErrorKind::AuthFailed,
        Some(
            C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::DelegationTokenAuthorizationFailed,
        ) => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unreachable,
    }
}

impl RealKafka {
    /// Builds the client; no connection is made until the first call.
    pub fn new(spec: KafkaSpec) -> Result<RealKafka, KafkaError> {
        let monitor: BaseConsumer = spec
            .client_config(None)
            .create()
            .map_err(|e| KafkaError::Config(e.to_string()))?;
        Ok(RealKafka {
            spec: Arc::new(spec),
            monitor: Arc::new(monitor),
            admin: Arc::new(OnceLock::new()),
        })
    }

    pub fn spec(&self) -> &KafkaSpec {
        &self.spec
    }

    fn unreachable(&self, e: RdError) -> KafkaError {
        KafkaError::Unreachable {
            target: self.spec.brokers.clone(),
            detail: e.to_string(),
            kind: reach_kind(e.rdkafka_error_code()),
        }
    }

    /// One refresh, blocking (call it on a blocking thread).
    pub fn snapshot_blocking(&self) -> Result<KafkaSnapshot, KafkaError> {
        let started = Instant::now();
        let timeout = self.spec.timeout;
        let md = self
            .monitor
            .fetch_metadata(None, timeout)
            .map_err(|e| self.unreachable(e))?;
        let brokers = md.brokers().len();
        let leaders: HashMap<(String, i32), i32> = md
            .topics()
            .iter()
            .flat_map(|t| {
                t.partitions()
                    .iter()
                    .map(move |p| ((t.name().to_string(), p.id()), p.leader()))
            })
            .collect();
        let list = self
            .monitor
            .fetch_group_list(None, timeout)
            .map_err(|e| self.unreachable(e))?;
        let mut infos: Vec<_> = list.groups().iter().collect();
        infos.sort_by(|a, b| a.name().cmp(b.name()));
        let names: Vec<String> = infos.iter().map(|g| g.name().to_string()).collect();
        let committed =
            ffi::list_group_offsets(&self.monitor, &names, self.spec.fetch_window, timeout);

        let mut wanted: BTreeSet<(String, i32)> = BTreeSet::new();
        for offsets in committed.iter().flatten() {
            for (t, p, _) in offsets {
                wanted.insert((t.clone(), *p));
            }
        }
        let ends = self.end_offsets(&wanted, Offset::End)?;
        let leader_count = wanted
            .iter()
            .filter_map(|k| leaders.get(k))
            .collect::<BTreeSet<_>>()
            .len();

        let mut groups = Vec::with_capacity(infos.len());
        for (info, offsets) in infos.iter().zip(committed) {
            let members = info
                .members()
                .iter()
                .map(|m| GroupMember {
                    member_id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    client_host: m.client_host().to_string(),
                    assignment: m
                        .assignment()
                        .and_then(decode_assignment)
                        .unwrap_or_default(),
                })
                .collect();
            let (partitions, error) = match offsets {
                Ok(list) => (
                    list.into_iter()
                        .map(|(topic, partition, committed)| PartitionOffsets {
                            log_end: ends.get(&(topic.clone(), partition)).copied(),
                            committed: (committed >= 0).then_some(committed),
                            topic,
                            partition,
                        })
                        .collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(e)),
            };
            groups.push(ConsumerGroup {
                id: info.name().to_string(),
                state: info.state().to_string(),
                protocol_type: info.protocol_type().to_string(),
                members,
                partitions,
                error,
            });
        }
        let cost = RefreshCost {
            brokers,
            metadata_requests: 1,
            list_groups_requests: brokers,
            describe_groups_requests: if names.is_empty() { 0 } else { brokers },
            list_offsets_requests: leader_count,
            offset_fetch_requests: names.len(),
            partitions: wanted.len(),
            wall: started.elapsed(),
        };
        Ok(KafkaSnapshot {
            taken_at: SystemTime::now(),
            groups,
            cost,
        })
    }

    /// Offsets for many partitions with one ListOffsets per leader. `at` is `Offset::End`,
    /// `Offset::Beginning` or `Offset::Offset(timestamp_ms)`.
    fn end_offsets(
        &self,
        partitions: &BTreeSet<(String, i32)>,
        at: Offset,
    ) -> Result<HashMap<(String, i32), i64>, KafkaError> {
        let mut out = HashMap::new();
        if partitions.is_empty() {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for (t, p) in partitions {
            tpl.add_partition_offset(t, *p, at).map_err(rd_err)?;
        }
        let res = self
            .monitor
            .offsets_for_times(tpl, self.spec.timeout)
            .map_err(|e| self.unreachable(e))?;
        for el in res.elements() {
            if el.error().is_err() {
                continue;
            }
            if let Offset::Offset(n) = el.offset() {
                out.insert((el.topic().to_string(), el.partition()), n);
            }
        }
        Ok(out)
    }

    /// The baseline for measurements: what tools without batching do, per group one
    /// describe, one offset fetch and one end-offset lookup. Returns the requests sent.
    pub fn naive_refresh_blocking(&self) -> Result<RefreshCost, KafkaError> {
        let started = Instant::now();
        let timeout = self.spec.timeout;
        let list = self
            .monitor
            .fetch_group_list(None, timeout)
            .map_err(|e| self.unreachable(e))?;
        let names: Vec<String> = list.groups().iter().map(|g| g.name().to_string()).collect();
        let mut cost = RefreshCost {
            list_groups_requests: 1,
            ..RefreshCost::default()
        };
        for name in &names {
            self.monitor
                .fetch_group_list(Some(name), timeout)
                .map_err(|e| self.unreachable(e))?;
            cost.describe_groups_requests += 1;
            let offsets =
                ffi::list_group_offsets(&self.monitor, std::slice::from_ref(name), 1, timeout);
            cost.offset_fetch_requests += 1;
            let wanted: BTreeSet<(String, i32)> = offsets
                .into_iter()
                .flatten()
                .flatten()
                .map(|(t, p, _)| (t, p))
                .collect();
            cost.partitions += wanted.len();
            self.end_offsets(&wanted, Offset::End)?;
            cost.list_offsets_requests += 1;
        }
        cost.wall = started.elapsed();
        Ok(cost)
    }

    pub fn plan_reset_blocking(
        &self,
        group: &str,
        spec: &ResetSpec,
    ) -> Result<ResetPlan, KafkaError> {
        let timeout = self.spec.timeout;
        let committed = ffi::list_group_offsets(&self.monitor, &[group.to_string()], 1, timeout)
            .into_iter()
            .next()
            .unwrap_or_else(|| Err("no answer".into()))
            .map_err(KafkaError::Request)?;
        let current: HashMap<(String, i32), i64> = committed
            .into_iter()
            .filter(|(_, _, o)| *o >= 0)
            .map(|(t, p, o)| ((t, p), o))
            .collect();
        let mut keys: BTreeSet<(String, i32)> = BTreeSet::new();
        match &spec.topic {
            Some(topic) => {
                let md = self
                    .monitor
                    .fetch_metadata(Some(topic), timeout)
                    .map_err(|e| self.unreachable(e))?;
                for t in md.topics() {
                    if t.error().is_some() {
                        return Err(KafkaError::Request(format!("topic {topic} does not exist")));
                    }
                    for p in t.partitions() {
                        keys.insert((t.name().to_string(), p.id()));
                    }
                }
            }
            None => keys.extend(current.keys().cloned()),
        }
        let inputs = PlanInputs {
            partitions: keys
                .iter()
                .map(|(t, p)| (t.clone(), *p, current.get(&(t.clone(), *p)).copied()))
                .collect(),
            earliest: self.end_offsets(&keys, Offset::Beginning)?,
            latest: self.end_offsets(&keys, Offset::End)?,
            by_time: match spec.to {
                ResetTo::Datetime(t) => {
                    let ms = t
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    self.end_offsets(&keys, Offset::Offset(ms))?
                }
                _ => HashMap::new(),
            },
        };
        plan::plan(group, spec, &inputs).map_err(KafkaError::Request)
    }

    pub fn group_state_blocking(&self, group: &str) -> Result<GroupState, KafkaError> {
        let list = self
            .monitor
            .fetch_group_list(Some(group), self.spec.timeout)
            .map_err(|e| self.unreachable(e))?;
        Ok(match list.groups().iter().find(|g| g.name() == group) {
            Some(g) => GroupState {
                state: g.state().to_string(),
                members: g.members().len(),
            },
            None => GroupState {
                state: "Dead".into(),
                members: 0,
            },
        })
    }

    /// Commit as the group itself without joining it: the coordinator accepts this only
    /// while the group has no members (generation -1), a second guard after our re-check.
    pub fn commit_blocking(
        &self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), KafkaError> {
        let consumer: BaseConsumer = self
            .spec
            .client_config(Some(group))
            .create()
            .map_err(|e| KafkaError::Config(e.to_string()))?;
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for (t, p, o) in offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(rd_err)?;
        }
        consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| KafkaError::Refused(e.to_string()))
    }

    fn admin(&self) -> Result<Arc<AdminClient<DefaultClientContext>>, KafkaError> {
        self.admin
            .get_or_init(|| {
                self.spec
                    .client_config(None)
                    .create()
                    .map(Arc::new)
                    .map_err(|e| KafkaError::Config(e.to_string()))
            })
            .clone()
    }

    pub async fn delete_group_async(&self, group: &str) -> Result<(), KafkaError> {
        let admin = self.admin()?;
        let opts = AdminOptions::new().request_timeout(Some(self.spec.timeout));
        let results = admin.delete_groups(&[group], &opts).await.map_err(rd_err)?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(()),
            Some(Err((_, code))) => Err(KafkaError::Refused(format!("{code:?}: {code}"))),
            None => Err(KafkaError::Request("the broker returned no result".into())),
        }
    }
}

/// Run a blocking librdkafka call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KafkaError::Request(format!("worker thread failed: {e}")))?
}

impl KafkaSource for RealKafka {
    fn snapshot(&self) -> BoxFuture<'_, Result<KafkaSnapshot, KafkaError>> {
        let me = self.clone();
        Box::pin(blocking(move || me.snapshot_blocking()))
    }

    fn plan_reset(
        &self,
        group: &str,
        spec: &ResetSpec,
    ) -> BoxFuture<'_, Result<ResetPlan, KafkaError>> {
        let (me, group, spec) = (self.clone(), group.to_string(), spec.clone());
        Box::pin(blocking(move || me.plan_reset_blocking(&group, &spec)))
    }

    fn describe_target(&self) -> String {
        format!("{} ({})", self.spec.name, self.spec.brokers)
    }
}

impl KafkaAdmin for RealKafka {
    fn group_state(&self, group: &str) -> BoxFuture<'_, Result<GroupState, KafkaError>> {
        let (me, group) = (self.clone(), group.to_string());
        Box::pin(blocking(move || me.group_state_blocking(&group)))
    }

    fn delete_group(&self, group: &str) -> BoxFuture<'_, Result<(), KafkaError>> {
        let (me, group) = (self.clone(), group.to_string());
        Box::pin(async move { me.delete_group_async(&group).await })
    }

    fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<(String, i32, i64)>,
    ) -> BoxFuture<'_, Result<(), KafkaError>> {
        let (me, group) = (self.clone(), group.to_string());
        Box::pin(blocking(move || me.commit_blocking(&group, &offsets)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_and_sasl_properties_reach_a_librdkafka_built_with_them() {
        let mut spec = KafkaSpec::new("k", "127.0.0.1:1");
        for (k, v) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "monitor"),
            ("sasl.password", "secret"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            spec.properties.insert(k.into(), v.into());
        }
        assert!(RealKafka::new(spec).is_ok());

        let mut bad = KafkaSpec::new("k", "127.0.0.1:1");
        bad.properties.insert("no.such.property".into(), "1".into());
        match RealKafka::new(bad) {
            Err(KafkaError::Config(e)) => assert!(e.contains("no.such.property"), "{e}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("an unknown property must be refused"),
        }
    }

    #[test]
    fn librdkafka_codes_sort_into_auth_acl_and_unreachable() {
        use rdkafka::types::RDKafkaErrorCode as C;
        assert_eq!(reach_kind(Some(C::Authentication)), ErrorKind::AuthFailed);
        assert_eq!(
            reach_kind(Some(C::SaslAuthenticationFailed)),
            ErrorKind::AuthFailed
        );
        assert_eq!(
            reach_kind(Some(C::GroupAuthorizationFailed)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(reach_kind(Some(C::AllBrokersDown)), ErrorKind::Unreachable);
        assert_eq!(reach_kind(None), ErrorKind::Unreachable);
    }
}
