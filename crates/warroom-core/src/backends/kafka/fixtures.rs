//! Test data shared by the unit tests of the Kafka history, the guard and the pane.

use super::{ConsumerGroup, GroupMember, PartitionOffsets, PartitionReset, ResetPlan, ResetTo};

/// Group `id` on one partition ("orders" 0) with `members` members (each assigned that
/// partition, client "billing-worker" on /10.0.0.7): Stable with members, else Empty.
pub fn group(id: &str, members: usize, committed: i64, end: i64) -> ConsumerGroup {
    ConsumerGroup {
        id: id.into(),
        state: if members > 0 { "Stable" } else { "Empty" }.into(),
        protocol_type: "consumer".into(),
        members: (0..members)
            .map(|i| GroupMember {
                member_id: format!("m{i}"),
                client_id: "billing-worker".into(),
                client_host: "/10.0.0.7".into(),
                assignment: vec![("orders".into(), 0)],
            })
            .collect(),
        partitions: vec![PartitionOffsets {
            topic: "orders".into(),
            partition: 0,
            committed: Some(committed),
            log_end: Some(end),
        }],
        error: None,
    }
}

/// A reset of group "billing" to the latest offset `latest` of "orders" 0, committed at 10.
pub fn plan(latest: i64) -> ResetPlan {
    ResetPlan {
        group: "billing".into(),
        topic: None,
        to: ResetTo::Latest,
        partitions: vec![PartitionReset {
            topic: "orders".into(),
            partition: 0,
            current: Some(10),
            target: latest,
            earliest: 0,
            latest,
        }],
    }
}
