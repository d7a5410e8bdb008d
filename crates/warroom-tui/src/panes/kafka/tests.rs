use std::time::{Duration, SystemTime};

use super::*;
use warroom_core::backends::kafka::RefreshCost;

use warroom_core::backends::kafka::fixtures::group;

fn pane() -> KafkaPane {
    let mut p = KafkaPane::new(vec!["k1".into()], None, Duration::from_secs(2));
    let snap = KafkaSnapshot {
        taken_at: SystemTime::now(),
        groups: vec![group("billing", 0, 10, 500), group("search", 2, 90, 100)],
        cost: RefreshCost::default(),
    };
    p.apply("k1", Ok(snap), None);
    p
}

#[test]
fn rows_sorted_by_lag_and_detail_names_owner() {
    let mut p = pane();
    assert_eq!(p.selected_group().map(|g| g.id.as_str()), Some("billing"));
    p.on_action(KeyAction::Down);
    let [Effect::Detail(d)] = &p.on_action(KeyAction::Open)[..] else {
        panic!("detail expected");
    };
    let text = d.lines.join("\n");
    assert!(text.contains("billing-worker /10.0.0.7"), "{text}");
    assert!(text.contains("orders"), "{text}");
}

#[test]
fn delete_only_for_empty_groups() {
    let mut p = pane();
    let out = p.on_action(KeyAction::KafkaDeleteGroup);
    assert!(
        matches!(&out[..], [Effect::Guard(a)] if matches!(&a[..], [GuardedAction::Kafka(KafkaAction::DeleteGroup(t))] if t.group == "billing" && t.total_lag == 490)),
        "{out:?}"
    );
    p.on_action(KeyAction::Down);
    let out = p.on_action(KeyAction::KafkaDeleteGroup);
    assert!(
        matches!(&out[..], [Effect::Toast(t)] if t.contains("only an Empty group")),
        "{out:?}"
    );
}

#[test]
fn reset_asks_for_a_target_and_undo_follows_a_done_reset() {
    let mut p = pane();
    let out = p.on_action(KeyAction::KafkaResetOffsets);
    let [Effect::Dialog(d)] = &out[..] else {
        panic!("the reset prompt expected: {out:?}")
    };
    assert_eq!(
        (**d)
            .as_any()
            .downcast_ref::<flow::ResetPrompt>()
            .map(|p| &p.request),
        Some(&ResetRequest {
            context: "k1".into(),
            group: "billing".into(),
            members: 0
        })
    );
    assert!(
        matches!(&p.on_action(KeyAction::KafkaUndoReset)[..], [Effect::Toast(t)] if t.contains("nothing to undo"))
    );
    let plan = warroom_core::backends::kafka::fixtures::plan(500);
    let action = GuardedAction::Kafka(KafkaAction::ResetOffsets(KafkaResetTarget {
        context: "k1".into(),
        plan: plan.clone(),
        undoes: None,
    }));
    p.on_reports(&[ActionReport {
        action,
        outcome: warroom_core::guard::Outcome::Done,
        detail: "done".into(),
        audit_id: Some("a-1".into()),
        warnings: vec![],
    }]);
    let out = p.on_action(KeyAction::KafkaUndoReset);
    let [Effect::Guard(actions)] = &out[..] else {
        panic!("guard expected: {out:?}")
    };
    assert_eq!(
        actions,
        &vec![GuardedAction::Kafka(KafkaAction::UndoReset(
            KafkaResetTarget {
                context: "k1".into(),
                plan: plan.undo(),
                undoes: Some("a-1".into()),
            }
        ))]
    );
}

fn screen(p: &KafkaPane, w: u16, h: u16) -> String {
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("term");
    term.draw(|f| {
        p.render(
            f,
            f.area(),
            &crate::panes::Ctx::now(&crate::theme::Theme::builtin_default()),
        );
    })
    .expect("draw");
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn draws_lag_status_and_cost_with_names_sanitized() {
    let mut p = KafkaPane::new(vec!["k1".into()], None, Duration::from_secs(2));
    let mut evil = group("evil\u{1b}[2Jgroup", 0, 0, 7);
    evil.partitions[0].topic = "t\u{7}opic".into();
    let snap = KafkaSnapshot {
        taken_at: SystemTime::now(),
        groups: vec![group("billing", 0, 10, 500), evil],
        cost: RefreshCost {
            brokers: 3,
            metadata_requests: 1,
            list_groups_requests: 3,
            describe_groups_requests: 3,
            list_offsets_requests: 2,
            offset_fetch_requests: 2,
            partitions: 2,
            wall: Duration::from_millis(12),
        },
    };
    p.apply("k1", Ok(snap), None);
    let text = screen(&p, 140, 30);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    assert!(
        text.contains("billing") && text.contains("490") && text.contains("STOP"),
        "{text}"
    );
    assert!(text.contains("evil"), "{text}");
    assert!(text.contains("refresh 12 ms, 11 requests"), "{text}");
    // A refresh error keeps the data and says so in the status.
    p.apply(
        "k1",
        Err("broker down".into()),
        Some(Duration::from_secs(2)),
    );
    assert!(
        p.status()
            .error
            .is_some_and(|e| e.contains("retrying in 2s: broker down"))
    );
    assert!(screen(&p, 140, 30).contains("billing"));
    // Narrow terminals draw without panicking.
    let _ = screen(&p, 30, 6);
    let _ = screen(&p, 1, 1);
}

/// Members as brokers report them ("/10.0.0.7": Apache Kafka's client host) map to pods;
/// once the members are gone (STOP), their last hosts still name the crash-looping pods.
#[test]
fn members_map_to_pods_and_a_stopped_group_says_its_pods_crash_loop() {
    use warroom_core::pod_directory::fixtures::{directory, pod};
    let mut p = pane();
    let pods = directory(&[
        pod("billing-worker-0", Some("10.0.0.7"), true),
        pod("api-1", Some("10.0.0.8"), false),
    ]);
    p.update(PaneMsg::Pods(std::sync::Arc::new(pods)));
    p.on_action(KeyAction::Down);
    assert_eq!(p.selected_group().map(|g| g.id.as_str()), Some("search"));
    let detail = |p: &mut KafkaPane| match &p.on_action(KeyAction::Open)[..] {
        [Effect::Detail(d)] => d.lines.join("\n"),
        other => panic!("detail expected: {other:?}"),
    };
    let text = detail(&mut p);
    assert!(
        text.contains("host /10.0.0.7  1 partition(s)  pod billing-worker-0 CrashLoopBackOff"),
        "{text}"
    );
    assert!(
        text.contains("pod billing-worker-0 CrashLoopBackOff"),
        "the partition row names the owner's pod: {text}"
    );
    assert!(!text.contains("because its consumers' pods"), "{text}");

    // The members leave and lag waits: STOP, and the detail says why.
    for end in [200, 300] {
        let snap = KafkaSnapshot {
            taken_at: SystemTime::now(),
            groups: vec![group("billing", 0, 10, 500), group("search", 0, 90, end)],
            cost: RefreshCost::default(),
        };
        p.apply("k1", Ok(snap), None);
    }
    let text = detail(&mut p);
    assert!(
        text.contains(
            "STOP because its consumers' pods are failing: billing-worker-0 (CrashLoopBackOff)"
        ),
        "{text}"
    );
    assert!(
        text.contains("host /10.0.0.7  pod billing-worker-0 CrashLoopBackOff"),
        "{text}"
    );

    // From the pod: the groups it is (or last was) a member of.
    let out = p.update(PaneMsg::GroupsOf {
        addr: "10.0.0.7".into(),
        label: "pod billing-worker-0".into(),
    });
    assert!(
        matches!(out.first(), Some(Effect::Show(PaneId::Kafka))),
        "{out:?}"
    );
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.selected_group().map(|g| g.id.as_str()), Some("search"));
    assert!(p.on_back().is_some());
    assert_eq!(p.rows.len(), 2);
}
