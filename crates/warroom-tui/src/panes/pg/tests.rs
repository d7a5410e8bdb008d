//! The slow-database views of the PostgreSQL pane, driven by values: actions and worker
//! messages in, effects, commands and rows out.

use std::time::Duration;

use super::*;
use crate::workers::Update;
use warroom_core::backends::postgres::explain::ExplainResult;
use warroom_core::backends::postgres::header::HeaderTracker;
use warroom_core::backends::postgres::statements::{
    Counters, StatementDelta, StatementInfo, StatementRates, StatementsDelta,
};
use warroom_demo::DemoPgWorld;
use warroom_demo::statements::{enrich, query_id};

/// The demo incident at 90 s, with lock detail, query ids and the header.
fn pane() -> (PgPane, ActivitySnapshot) {
    let mut world = DemoPgWorld::new(1);
    world.advance_to(90.0);
    let mut snap = world.snapshot();
    enrich(
        &mut snap,
        &mut HeaderTracker::default(),
        world.now(),
        world.server_time(),
        world.scenario().blocker_pid,
        true,
    );
    let mut pane = PgPane::new(vec!["pg1".into()], None, Duration::from_secs(2));
    pane.update(PaneMsg::Worker(Event::PgUpdate(Update {
        context: "pg1".into(),
        result: Ok(snap.clone()),
        retry_in: None,
    })));
    (pane, snap)
}

fn statements_poll(cmds: &[Command]) -> Option<bool> {
    cmds.iter().find_map(|c| match c {
        Command::Poll {
            what: Polled::PgStatements,
            active,
            ..
        } => Some(*active),
        _ => None,
    })
}

#[test]
fn statements_are_polled_only_while_their_view_is_shown() {
    let (mut pane, _) = pane();
    assert_eq!(statements_poll(&pane.subscriptions(true)), Some(false));
    let effects = pane.on_action(KeyAction::StatementsView);
    assert!(matches!(effects.as_slice(), [Effect::Resubscribe]));
    assert_eq!(pane.view(), PgView::Statements);
    assert_eq!(statements_poll(&pane.subscriptions(true)), Some(true));
    assert_eq!(
        statements_poll(&pane.subscriptions(false)),
        Some(false),
        "hidden pane: no poll"
    );
    pane.on_action(KeyAction::StatementsView);
    assert_eq!(pane.view(), PgView::Sessions);
    assert_eq!(statements_poll(&pane.subscriptions(true)), Some(false));
}

fn delta(queryid: i64, query: &str, total_ms: f64) -> StatementDelta {
    let interval = Counters {
        calls: 10,
        total_ms,
        max_ms: 1.0,
        rows: 10,
        ..Counters::default()
    };
    StatementDelta {
        queryid,
        info: StatementInfo {
            query: query.into(),
            ..StatementInfo::default()
        },
        interval,
        rates: StatementRates::of(&interval, 5.0, total_ms * 2.0),
    }
}

#[test]
fn enter_on_a_statement_shows_the_sessions_running_it() {
    let (mut pane, snap) = pane();
    let waiter_query = &world_waiter_query();
    let q = query_id(waiter_query);
    let running: Vec<i32> = snap
        .sessions
        .iter()
        .filter(|s| &s.query == waiter_query)
        .map(|s| s.pid)
        .collect();
    assert!(running.len() >= 2, "the demo has waiters by 90 s");
    pane.on_action(KeyAction::StatementsView);
    pane.update(PaneMsg::Worker(Event::PgStatements(Update {
        context: "pg1".into(),
        result: Ok(StatementsReport {
            update: StatementsUpdate::Deltas(StatementsDelta {
                interval_seconds: 5.0,
                total_ms_all: 100.0,
                statements: vec![delta(7, "SELECT 1", 10.0), delta(q, waiter_query, 90.0)],
                not_shown: 0,
                hidden: 0,
            }),
            compute_query_id_off: false,
            hidden: 0,
        }),
        retry_in: None,
    })));
    // Sorted by time: the waiters' statement first. `s` sorts by calls, then back.
    assert_eq!(pane.statement_rows()[0].queryid, q);
    pane.on_action(KeyAction::Open);
    assert_eq!(pane.view(), PgView::Sessions);
    let shown: Vec<i32> = (0..pane.rows.len())
        .filter_map(|i| pane.pid_at(i))
        .collect();
    let mut expected = running.clone();
    expected.sort_unstable();
    let mut got = shown.clone();
    got.sort_unstable();
    assert_eq!(got, expected);
    assert!(pane.session_limit().is_some());
    assert_eq!(pane.on_back().as_deref(), Some("showing all sessions"));
    assert!(pane.rows.len() > running.len());
}

fn world_waiter_query() -> String {
    warroom_demo::PgScenario::default().waiter_query
}

#[test]
fn wait_profile_counts_the_lock_waiters_and_enter_filters_them() {
    let (mut pane, snap) = pane();
    pane.on_action(KeyAction::WaitView);
    assert_eq!(pane.view(), PgView::Waits);
    let events = pane.wait_events();
    let tuple = events
        .iter()
        .position(|e| e.wait_event_type == "Lock" && e.wait_event == "tuple")
        .expect("waiters queued on the tuple lock");
    let expected = snap
        .sessions
        .iter()
        .filter(|s| {
            s.wait_event.as_deref() == Some("tuple") && s.state.as_deref() == Some("active")
        })
        .count();
    assert_eq!(events[tuple].average_sessions, expected as f64);
    for _ in 0..tuple {
        pane.on_action(KeyAction::Down);
    }
    pane.on_action(KeyAction::Open);
    assert_eq!(pane.view(), PgView::Sessions);
    assert_eq!(pane.rows.len(), expected);
    for i in 0..pane.rows.len() {
        let pid = pane.pid_at(i).expect("a row");
        let s = snap
            .sessions
            .iter()
            .find(|s| s.pid == pid)
            .expect("session");
        assert_eq!(s.wait_event.as_deref(), Some("tuple"));
    }
}

#[test]
fn e_asks_for_the_plan_of_the_selected_session_and_the_answer_opens_a_detail() {
    let (mut pane, _) = pane();
    let pid = pane.selected_session().expect("a selected session").pid;
    let effects = pane.on_action(KeyAction::PlanOfQuery);
    assert!(
        effects.iter().any(|e| matches!(
            e,
            Effect::Command(Command::PgExplain { context, pid: p }) if context == "pg1" && *p == pid
        )),
        "{effects:?}"
    );
    let effects = pane.update(PaneMsg::Worker(Event::PgPlan {
        context: "pg1".into(),
        result: Ok(ExplainResult {
            pid,
            database: Some("shop".into()),
            state: Some("active".into()),
            query: "UPDATE orders SET status = 'paid' WHERE id = 1001".into(),
            generic_plan: false,
            plan: vec!["Update on orders".into()],
            refused: None,
        }),
    }));
    let Some(Effect::Detail(d)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert!(d.title.contains(&pid.to_string()));
    assert!(d.lines.iter().any(|l| l == "Update on orders"));
    assert!(d.lines.iter().any(|l| l.contains("not executed")));
}

#[test]
fn waiters_show_their_lock_in_the_column_and_the_detail() {
    let (mut pane, snap) = pane();
    let waiter = snap
        .sessions
        .iter()
        .find(|s| s.wait_event.as_deref() == Some("transactionid"))
        .expect("the first waiter");
    assert_eq!(view::Column::Lock.text(waiter), "Share xid");
    pane.on_action(KeyAction::LockView);
    let row = (0..pane.tree_rows.len())
        .find(|&i| pane.pid_at(i) == Some(waiter.pid))
        .expect("in the tree");
    for _ in 0..row {
        pane.on_action(KeyAction::Down);
    }
    let effects = pane.on_action(KeyAction::Open);
    let Some(Effect::Detail(d)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert!(
        d.lines
            .iter()
            .any(|l| l.contains("waits for        ShareLock on transaction")),
        "{:#?}",
        d.lines
    );
}

#[test]
fn no_action_on_a_session_from_the_statements_or_wait_views() {
    let (mut pane, _) = pane();
    assert!(pane.selected_session().is_some());
    for view in [KeyAction::StatementsView, KeyAction::WaitView] {
        pane.on_action(view);
        for key in [KeyAction::Cancel, KeyAction::Terminate] {
            let effects = pane.on_action(key);
            assert!(
                effects.iter().all(|e| !matches!(e, Effect::Guard(_))),
                "{key:?} in {:?}: {effects:?}",
                pane.view()
            );
        }
        pane.on_action(view);
    }
}
