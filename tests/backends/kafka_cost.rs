//! What one refresh costs the broker, counted on the wire by a proxy in front of a real
//! Kafka-protocol broker (tansu): the list, describe, metadata and end-offset requests do
//! not grow with the number of groups; OffsetFetch is one per group (librdkafka's API takes
//! one group per request), sent concurrently, and so are librdkafka's coordinator lookups
//! beyond its small coordinator cache.

use warroom_testkit::kafka;

use std::time::Duration;

use kafka::{Proxy, Tansu, api, commit, create_topic, free_port, produce};
use warroom_core::backends::kafka::{KafkaSource, KafkaSpec, RealKafka};

/// Requests by API key for one warm refresh with `groups` groups.
async fn one_refresh(groups: usize) -> (std::collections::HashMap<i16, usize>, usize) {
    let (broker_port, proxy_port) = (free_port(), free_port());
    let broker = Tansu::start_on(broker_port, proxy_port);
    let proxy = Proxy::start(proxy_port, broker_port, Duration::ZERO);
    let b = broker.bootstrap();
    for t in ["orders", "payments"] {
        create_topic(&b, t, 3);
        for p in 0..3 {
            produce(&b, t, p, 2);
        }
    }
    for i in 0..groups {
        let topic = if i % 2 == 0 { "orders" } else { "payments" };
        commit(
            &b,
            &format!("group-{i:03}"),
            &[(topic, 0, 1), (topic, 1, 0), (topic, 2, 2)],
        );
    }
    let mut spec = KafkaSpec::new("cost", &b);
    spec.timeout = std::time::Duration::from_secs(10);
    let kafka = RealKafka::new(spec).expect("client");
    // Warm: connections, ApiVersions and coordinator lookups are not per refresh.
    let warm = kafka.snapshot().await.expect("warm-up refresh");
    assert_eq!(warm.groups.len(), groups);
    proxy.reset();
    let snap = kafka.snapshot().await.expect("refresh");
    assert_eq!(snap.groups.len(), groups);
    assert!(
        snap.groups
            .iter()
            .all(|g| g.partitions.len() == 3 && g.total_lag() == 3)
    );
    (proxy.counts(), snap.cost.total_requests())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_describe_and_end_offset_requests_do_not_grow_with_groups() {
    let (ten, reported_ten) = one_refresh(10).await;
    let (fifty, reported_fifty) = one_refresh(50).await;
    let show = |m: &std::collections::HashMap<i16, usize>| format!("{m:?}");
    for key in [
        api::LIST_GROUPS,
        api::DESCRIBE_GROUPS,
        api::LIST_OFFSETS,
        api::METADATA,
    ] {
        let (a, b) = (
            ten.get(&key).copied().unwrap_or(0),
            fifty.get(&key).copied().unwrap_or(0),
        );
        assert_eq!(
            a,
            b,
            "api key {key}: 10 groups {}, 50 groups {}",
            show(&ten),
            show(&fifty)
        );
        assert!(
            a <= 2,
            "api key {key}: {a} requests for one broker: {}",
            show(&ten)
        );
    }
    assert_eq!(ten.get(&api::LIST_GROUPS), Some(&1), "{}", show(&ten));
    assert_eq!(ten.get(&api::DESCRIBE_GROUPS), Some(&1), "{}", show(&ten));
    assert_eq!(ten.get(&api::LIST_OFFSETS), Some(&1), "{}", show(&ten));
    // One OffsetFetch per group. librdkafka looks the coordinator up per group too, once its
    // small coordinator cache (about ten groups) is full: at most one FindCoordinator per group.
    assert_eq!(ten.get(&api::OFFSET_FETCH), Some(&10), "{}", show(&ten));
    assert_eq!(fifty.get(&api::OFFSET_FETCH), Some(&50), "{}", show(&fifty));
    assert!(
        fifty.get(&api::FIND_COORDINATOR).copied().unwrap_or(0) <= 50,
        "{}",
        show(&fifty)
    );
    // What the snapshot reports matches the wire, coordinator lookups aside.
    let wire = |m: &std::collections::HashMap<i16, usize>| {
        m.iter()
            .filter(|(k, _)| **k != api::FIND_COORDINATOR)
            .map(|(_, v)| v)
            .sum::<usize>()
    };
    assert_eq!(reported_ten, wire(&ten), "{}", show(&ten));
    assert_eq!(reported_fifty, wire(&fifty), "{}", show(&fifty));
}
