//! The consumer-group snapshot: what one refresh of a Kafka cluster returns.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::serde_time;

/// Kafka's "no committed offset" sentinel (OffsetFetch returns -1).
pub const NO_OFFSET: i64 = -1;

/// One member of a consumer group, as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// (topic, partition) pairs assigned to this member, decoded from the consumer protocol.
    pub assignment: Vec<(String, i32)>,
}

/// One partition a group has committed offsets for, with the log end offset next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionOffsets {
    pub topic: String,
    pub partition: i32,
    /// `None`: the group never committed on this partition.
    pub committed: Option<i64>,
    /// `None`: the end offset could not be read (leader unavailable).
    pub log_end: Option<i64>,
}

impl PartitionOffsets {
    /// Log end minus committed; never negative (a commit can run ahead of a stale end offset).
    pub fn lag(&self) -> Option<i64> {
        match (self.committed, self.log_end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerGroup {
    pub id: String,
    /// Stable, Empty, PreparingRebalance, CompletingRebalance, Dead, or what the broker said.
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<GroupMember>,
    pub partitions: Vec<PartitionOffsets>,
    /// The committed offsets could not be fetched for this group.
    pub error: Option<String>,
}

impl ConsumerGroup {
    /// No members: offsets may be reset and the group deleted.
    pub fn is_empty_state(&self) -> bool {
        self.members.is_empty() && no_member_state(&self.state)
    }

    pub fn total_lag(&self) -> i64 {
        self.partitions
            .iter()
            .filter_map(PartitionOffsets::lag)
            .sum()
    }

    pub fn max_lag(&self) -> i64 {
        self.partitions
            .iter()
            .filter_map(PartitionOffsets::lag)
            .max()
            .unwrap_or(0)
    }

    /// Distinct topics, in order of first appearance.
    pub fn topics(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.partitions {
            if !out.contains(&p.topic) {
                out.push(p.topic.clone());
            }
        }
        out
    }

    /// The member a partition is assigned to, if the broker reported assignments.
    pub fn owner(&self, topic: &str, partition: i32) -> Option<&GroupMember> {
        self.members.iter().find(|m| {
            m.assignment
                .iter()
                .any(|(t, p)| t == topic && *p == partition)
        })
    }
}

/// What one refresh cost the cluster: requests by kind and wall time.
/// The list, describe and end-offset counts scale with brokers, not with groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshCost {
    pub brokers: usize,
    pub metadata_requests: usize,
    /// ListGroups: one per broker.
    pub list_groups_requests: usize,
    /// DescribeGroups: one batched request per broker (coordinator).
    pub describe_groups_requests: usize,
    /// ListOffsets: one batched request per partition leader.
    pub list_offsets_requests: usize,
    /// OffsetFetch: one per group (librdkafka), sent concurrently. librdkafka also looks up
    /// each group's coordinator (FindCoordinator) once its cache of about ten groups is full;
    /// those lookups are not counted here (the proxy in tests/backends/kafka_cost.rs counts them).
    pub offset_fetch_requests: usize,
    pub partitions: usize,
    #[serde(serialize_with = "serde_time::millis")]
    pub wall: Duration,
}

impl RefreshCost {
    pub fn total_requests(&self) -> usize {
        self.metadata_requests
            + self.list_groups_requests
            + self.describe_groups_requests
            + self.list_offsets_requests
            + self.offset_fetch_requests
    }

    /// The debug line under the table.
    pub fn debug_line(&self) -> String {
        format!(
            "refresh {} ms, {} requests: metadata {}, ListGroups {}, DescribeGroups {}, ListOffsets {}, OffsetFetch {} (+ coordinator lookups; {} brokers, {} partitions)",
            self.wall.as_millis(),
            self.total_requests(),
            self.metadata_requests,
            self.list_groups_requests,
            self.describe_groups_requests,
            self.list_offsets_requests,
            self.offset_fetch_requests,
            self.brokers,
            self.partitions
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaSnapshot {
    #[serde(serialize_with = "serde_time::rfc3339_millis")]
    pub taken_at: SystemTime,
    pub groups: Vec<ConsumerGroup>,
    pub cost: RefreshCost,
}

impl KafkaSnapshot {
    pub fn group(&self, id: &str) -> Option<&ConsumerGroup> {
        self.groups.iter().find(|g| g.id == id)
    }
}

/// A group's state and members right now: what the executor re-checks before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub state: String,
    pub members: usize,
}

impl GroupState {
    pub fn is_empty(&self) -> bool {
        self.members == 0 && no_member_state(&self.state)
    }
}

/// Empty, or Dead (the coordinator forgot the group): no member can be hurt.
fn no_member_state(state: &str) -> bool {
    state.eq_ignore_ascii_case("Empty") || state.eq_ignore_ascii_case("Dead")
}
