//! The Kafka side against a real Kafka-protocol broker (tansu, warroom_testkit::kafka) with
//! real rdkafka producers and consumer groups: lag per partition, Empty and Stable groups,
//! delete, resets and undo through the guard executor with their audit records, the pane's
//! view, and a broker that goes away mid-refresh and comes back.
//!
//! tansu reports a Stable group's state but no member details (client id, host,
//! assignment): member attribution is tested in the unit tests of `backends::kafka` with
//! bytes shaped like a real broker's reply, not here.

use warroom_testkit::kafka;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka::{Member, Proxy, Tansu, commit, create_topic, free_port, high_watermark, produce};
use serde_json::Value;
use warroom_core::audit::{AuditLog, AuditSettings, new_session_id};
use warroom_core::backends::kafka::{
    ConsumerGroup, KafkaAdmin, KafkaSnapshot, KafkaSource, KafkaSpec, RealKafka, ResetSpec,
};
use warroom_core::guard::kafka::{KafkaAction, KafkaGroupTarget, KafkaResetTarget};
use warroom_core::guard::{
    ContextPolicy, Executor, GuardRequest, GuardedAction, Outcome, Policy, ReasonRules,
};

const CTX: &str = "kafka-test";
const REASON: &str = "INC-812 billing consumer stuck on a poison message";

fn client(bootstrap: &str) -> RealKafka {
    let mut spec = KafkaSpec::new(CTX, bootstrap);
    spec.timeout = Duration::from_secs(5);
    RealKafka::new(spec).expect("client")
}

/// The broker, a topic `orders` with 3 partitions holding 10, 20 and 30 records.
fn broker_with_orders() -> Tansu {
    let t = Tansu::start();
    let b = t.bootstrap();
    create_topic(&b, "orders", 3);
    for (p, n) in [(0, 10), (1, 20), (2, 30)] {
        produce(&b, "orders", p, n);
    }
    // The watermarks first: everything below relies on them.
    for (p, n) in [(0, 10), (1, 20), (2, 30)] {
        assert_eq!(
            high_watermark(&b, "orders", p),
            n,
            "high watermark of orders-{p}"
        );
    }
    t
}

fn group<'a>(snap: &'a KafkaSnapshot, id: &str) -> &'a ConsumerGroup {
    snap.group(id).unwrap_or_else(|| {
        panic!(
            "group {id} not in the snapshot: {:?}",
            snap.groups.iter().map(|g| &g.id).collect::<Vec<_>>()
        )
    })
}

fn offsets(g: &ConsumerGroup) -> Vec<(String, i32, Option<i64>, Option<i64>)> {
    let mut v: Vec<_> = g
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition, p.committed, p.log_end))
        .collect();
    v.sort();
    v
}

async fn wait_for(
    kafka: &RealKafka,
    what: &str,
    ok: impl Fn(&KafkaSnapshot) -> bool,
) -> KafkaSnapshot {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = kafka.snapshot().await
            && ok(&s)
        {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Guard {
    executor: Executor,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

fn guard(kafka: &RealKafka) -> Guard {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("audit.jsonl");
    let policy = Policy {
        global_read_only: false,
        contexts: HashMap::from([(CTX.to_string(), ContextPolicy::default())]),
    };
    let executor = Executor::new(
        AuditLog::new(AuditSettings::local(&file), new_session_id()),
        policy,
        ReasonRules {
            min_len: 10,
            pattern: None,
        },
        Duration::from_secs(5),
    )
    .with_kafka(CTX, Arc::new(kafka.clone()) as Arc<dyn KafkaAdmin>);
    Guard {
        executor,
        file,
        _dir: dir,
    }
}

impl Guard {
    async fn run(&self, action: GuardedAction) -> warroom_core::guard::ActionReport {
        let mut reports = self
            .executor
            .run(GuardRequest {
                actions: vec![action],
                reason: REASON.into(),
                typed_context: None,
            })
            .await;
        assert_eq!(reports.len(), 1);
        reports.remove(0)
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }
}

fn delete_target(g: &ConsumerGroup) -> GuardedAction {
    GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget {
        context: CTX.into(),
        group: g.id.clone(),
        state: g.state.clone(),
        members: g.members.len(),
        topics: g.topics(),
        total_lag: g.total_lag(),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_per_partition_for_empty_and_stable_groups() {
    let broker = broker_with_orders();
    let b = broker.bootstrap();
    commit(
        &b,
        "billing",
        &[("orders", 0, 4), ("orders", 1, 20), ("orders", 2, 5)],
    );
    let member = Member::join(&b, "search", "orders");
    let kafka = client(&b);
    let snap = wait_for(&kafka, "search to be Stable and caught up", |s| {
        s.group("search")
            .is_some_and(|g| g.state == "Stable" && g.partitions.len() == 3 && g.total_lag() == 0)
    })
    .await;

    let billing = group(&snap, "billing");
    assert_eq!(billing.state, "Empty");
    assert!(billing.members.is_empty());
    assert!(billing.is_empty_state());
    assert_eq!(
        offsets(billing),
        vec![
            ("orders".into(), 0, Some(4), Some(10)),
            ("orders".into(), 1, Some(20), Some(20)),
            ("orders".into(), 2, Some(5), Some(30)),
        ]
    );
    assert_eq!((billing.total_lag(), billing.max_lag()), (31, 25));

    let search = group(&snap, "search");
    assert_eq!(search.state, "Stable");
    assert!(!search.is_empty_state(), "a Stable group is not deletable");
    assert_eq!(
        offsets(search),
        vec![
            ("orders".into(), 0, Some(10), Some(10)),
            ("orders".into(), 1, Some(20), Some(20)),
            ("orders".into(), 2, Some(30), Some(30)),
        ]
    );
    assert!(member.consumed.load(std::sync::atomic::Ordering::Relaxed) >= 60);

    // What the refresh cost: one broker, so one ListGroups, one DescribeGroups, one
    // ListOffsets (one leader), and one OffsetFetch per group.
    assert_eq!(snap.cost.brokers, 1);
    assert_eq!(snap.cost.list_groups_requests, 1);
    assert_eq!(snap.cost.describe_groups_requests, 1);
    assert_eq!(snap.cost.list_offsets_requests, 1);
    assert_eq!(snap.cost.offset_fetch_requests, snap.groups.len());
    assert_eq!(snap.cost.partitions, 3);

    // The pane over two refreshes: billing STOP (no members, lag), search OK.
    let mut pane =
        warroom_tui::panes::kafka::KafkaPane::new(vec![CTX.into()], None, Duration::from_secs(1));
    pane.apply(CTX, Ok(snap.clone()), None);
    produce(&b, "orders", 2, 3);
    let snap2 = kafka.snapshot().await.expect("second snapshot");
    assert_eq!(group(&snap2, "billing").total_lag(), 34);
    pane.apply(CTX, Ok(snap2), None);
    let h = pane.history().expect("history");
    let s = pane.snapshot().expect("snapshot");
    assert_eq!(
        h.status(group(s, "billing")),
        warroom_core::backends::kafka::LagStatus::Stop
    );
    assert_eq!(h.lag_series("billing"), vec![31, 34]);
    drop(member);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_an_empty_group_and_refuse_a_stable_one_with_audit_records() {
    let broker = broker_with_orders();
    let b = broker.bootstrap();
    commit(&b, "old-reports", &[("orders", 0, 1)]);
    let member = Member::join(&b, "live", "orders");
    let kafka = client(&b);
    let snap = wait_for(&kafka, "live to be Stable with commits", |s| {
        s.group("live")
            .is_some_and(|g| g.state == "Stable" && !g.partitions.is_empty())
            && s.group("old-reports").is_some()
    })
    .await;
    let g = guard(&kafka);

    // A Stable group: the executor re-reads its state and refuses; the group stays.
    let report = g.run(delete_target(group(&snap, "live"))).await;
    assert!(!report.outcome.ok(), "{report:?}");
    assert!(
        report.detail.contains("is Stable with"),
        "{}",
        report.detail
    );
    assert!(
        kafka
            .snapshot()
            .await
            .expect("snapshot")
            .group("live")
            .is_some()
    );

    // An Empty group is deleted.
    let report = g.run(delete_target(group(&snap, "old-reports"))).await;
    assert!(report.outcome == Outcome::Done, "{report:?}");
    let after = kafka.snapshot().await.expect("snapshot");
    assert!(
        after.group("old-reports").is_none(),
        "deleted group still listed"
    );

    // Audit: intent + outcome for each executed attempt, with the group in the target.
    let records = g.records();
    let actions: Vec<(&str, &str, bool)> = records
        .iter()
        .map(|r| {
            (
                r["phase"].as_str().unwrap_or(""),
                r["target"]["group"].as_str().unwrap_or(""),
                r["outcome"]["ok"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("intent", "live", false),
            ("outcome", "live", false),
            ("intent", "old-reports", false),
            ("outcome", "old-reports", true),
        ],
        "{records:#?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["action"] == "kafka.delete_group" && r["reason"] == REASON)
    );
    drop(member);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_to_earliest_latest_offset_and_shift_then_undo_with_audit_records() {
    let broker = broker_with_orders();
    let b = broker.bootstrap();
    commit(
        &b,
        "billing",
        &[("orders", 0, 4), ("orders", 1, 15), ("orders", 2, 5)],
    );
    let kafka = client(&b);
    let g = guard(&kafka);
    let committed = |s: &KafkaSnapshot| -> Vec<Option<i64>> {
        offsets(group(s, "billing")).iter().map(|o| o.2).collect()
    };
    wait_for(&kafka, "billing", |s| s.group("billing").is_some()).await;

    for (spec, want_preview, want_after) in [
        ("earliest", vec![0, 0, 0], vec![Some(0), Some(0), Some(0)]),
        (
            "latest",
            vec![10, 20, 30],
            vec![Some(10), Some(20), Some(30)],
        ),
        (
            "offset 12",
            vec![10, 12, 12],
            vec![Some(10), Some(12), Some(12)],
        ),
        ("shift -5", vec![5, 7, 7], vec![Some(5), Some(7), Some(7)]),
        // After the undo below: back at 10, 12, 12; +3 is clamped to the log end of orders-0.
        (
            "shift +3 topic orders",
            vec![10, 15, 15],
            vec![Some(10), Some(15), Some(15)],
        ),
    ] {
        let before = committed(&kafka.snapshot().await.expect("snapshot"));
        let plan = kafka
            .plan_reset("billing", &ResetSpec::parse(spec).expect("spec"))
            .await
            .expect("plan");
        assert_eq!(
            plan.partitions.iter().map(|p| p.target).collect::<Vec<_>>(),
            want_preview,
            "{spec}"
        );
        assert_eq!(
            plan.partitions
                .iter()
                .map(|p| p.current)
                .collect::<Vec<_>>(),
            before,
            "{spec}"
        );
        let report = g
            .run(GuardedAction::Kafka(KafkaAction::ResetOffsets(
                KafkaResetTarget {
                    context: CTX.into(),
                    plan: plan.clone(),
                    undoes: None,
                },
            )))
            .await;
        assert!(report.outcome == Outcome::Done, "{spec}: {report:?}");
        let after = committed(&kafka.snapshot().await.expect("snapshot"));
        assert_eq!(after, want_after, "{spec}");
        // The audit record keeps the offsets from before, for undo.
        let records = g.records();
        let intent = &records[records.len() - 2];
        assert_eq!(intent["action"], "kafka.reset_offsets");
        let previous: Vec<Option<i64>> = intent["target"]["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| p["previous"].as_i64())
            .collect();
        assert_eq!(previous, before, "{spec}");
        let last_audit = report.audit_id.clone();
        // Undo: back to the offsets before this reset, through the guard too.
        if spec == "shift -5" {
            let undo = g
                .run(GuardedAction::Kafka(KafkaAction::UndoReset(
                    KafkaResetTarget {
                        context: CTX.into(),
                        plan: plan.undo(),
                        undoes: last_audit.clone(),
                    },
                )))
                .await;
            assert!(undo.outcome == Outcome::Done, "{undo:?}");
            assert_eq!(
                committed(&kafka.snapshot().await.expect("snapshot")),
                before
            );
            let records = g.records();
            let intent = &records[records.len() - 2];
            assert_eq!(intent["action"], "kafka.undo_reset");
            assert_eq!(intent["target"]["undoes"].as_str(), last_audit.as_deref());
        }
    }

    // A member joins: the reset is refused at the re-check, offsets stay.
    let member = Member::join(&b, "billing", "orders");
    wait_for(&kafka, "billing to be Stable", |s| {
        s.group("billing").is_some_and(|g| g.state == "Stable")
    })
    .await;
    let plan = kafka
        .plan_reset("billing", &ResetSpec::parse("earliest").expect("spec"))
        .await
        .expect("plan");
    let report = g
        .run(GuardedAction::Kafka(KafkaAction::ResetOffsets(
            KafkaResetTarget {
                context: CTX.into(),
                plan,
                undoes: None,
            },
        )))
        .await;
    assert!(!report.outcome.ok());
    assert!(
        report.detail.contains("nothing was done"),
        "{}",
        report.detail
    );
    drop(member);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_mid_refresh_then_back() {
    // A proxy with 300 ms each way keeps the refresh in flight long enough to kill the
    // broker under it.
    let (broker_port, proxy_port) = (free_port(), free_port());
    let mut broker = Tansu::start_on(broker_port, proxy_port);
    let _proxy = Proxy::start(proxy_port, broker_port, Duration::from_millis(300));
    let b = broker.bootstrap();
    create_topic(&b, "orders", 1);
    produce(&b, "orders", 0, 5);
    commit(&b, "billing", &[("orders", 0, 2)]);
    let kafka = client(&b);
    let first = kafka.snapshot().await.expect("first snapshot");
    assert_eq!(group(&first, "billing").total_lag(), 3);

    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (ctl_tx, ctl_rx) = tokio::sync::watch::channel(warroom_tui::workers::pg::PollControl {
        active: true,
        interval: Duration::from_millis(200),
    });
    let worker = warroom_tui::workers::kafka::spawn(
        CTX.into(),
        Arc::new(kafka.clone()) as Arc<dyn KafkaSource>,
        tx,
        ctl_rx,
    );
    let mut pane = warroom_tui::panes::kafka::KafkaPane::new(
        vec![CTX.into()],
        None,
        Duration::from_millis(200),
    );
    use warroom_tui::panes::Pane;
    let (r, _) = next_update(&mut rx).await;
    pane.apply(CTX, r.clone(), None);
    assert!(r.is_ok());
    // Kill the broker while the next refresh is on the wire.
    tokio::time::sleep(Duration::from_millis(250)).await;
    broker.stop();
    let mut saw_error = false;
    for _ in 0..10 {
        let (r, retry) = next_update(&mut rx).await;
        if r.is_err() {
            assert!(retry.is_some(), "an error says when it retries");
            pane.apply(CTX, r, retry);
            saw_error = true;
            break;
        }
    }
    assert!(saw_error, "the refresh failed while the broker was down");
    let status = pane.status();
    assert!(
        status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("retrying in")),
        "{status:?}"
    );
    assert!(
        pane.snapshot().is_some(),
        "the last good data stays on screen"
    );

    // Back (empty: the memory engine starts afresh), with the group recreated.
    broker.restart();
    create_topic(&b, "orders", 1);
    produce(&b, "orders", 0, 7);
    commit(&b, "billing", &[("orders", 0, 1)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (r, retry) = next_update(&mut rx).await;
        let recovered = r
            .as_ref()
            .is_ok_and(|s| s.group("billing").is_some_and(|g| g.total_lag() == 6));
        pane.apply(CTX, r, retry);
        if recovered {
            break;
        }
        assert!(Instant::now() < deadline, "the pane did not recover");
    }
    assert_eq!(pane.status().error, None);
    drop(ctl_tx);
    worker.abort();
}

async fn next_update(
    rx: &mut tokio::sync::mpsc::Receiver<warroom_tui::workers::Event>,
) -> (
    Result<KafkaSnapshot, warroom_core::backends::BackendError>,
    Option<Duration>,
) {
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Some(warroom_tui::workers::Event::KafkaUpdate(warroom_tui::workers::Update {
            result,
            retry_in,
            ..
        }))) => (result, retry_in),
        other => panic!("no Kafka update: {other:?}"),
    }
}
