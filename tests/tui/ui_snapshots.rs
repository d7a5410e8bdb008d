//! Snapshots of every screen of the TUI at 80x24 and 120x40 (TestBackend + insta).
//!
//! The screens come from `warroom_testkit::ui`: the demo world at a fixed seed and simulated time,
//! the built-in default theme, a fixed actor and audit destination. Review a change with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test --test ui_snapshots` and `git diff`).

use warroom_testkit::ui;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn check(name: &str) {
    let app = ui::scene(name);
    for (w, h) in SIZES {
        let text = ui::screen(&app, w, h);
        insta::with_settings!({
            description => format!("{name} at {w}x{h}"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
        });
    }
}

#[test]
fn pg_sessions() {
    check("pg_sessions");
}

#[test]
fn pg_locks() {
    check("pg_locks");
}

#[test]
fn pg_idle_shown() {
    check("pg_idle_shown");
}

#[test]
fn pg_filter_active() {
    check("pg_filter_active");
}

#[test]
fn pg_filter_typing() {
    check("pg_filter_typing");
}

#[test]
fn detail_layer() {
    check("detail");
}

#[test]
fn help_layer() {
    check("help");
}

#[test]
fn command_line() {
    check("command_line");
}

#[test]
fn reason_prompt_with_error() {
    check("reason_error");
}

#[test]
fn confirmation() {
    check("confirm");
}

#[test]
fn confirmation_protected_context() {
    check("confirm_protected");
}

#[test]
fn reason_prompt_for_six_marked_sessions() {
    check("reason_bulk");
}

#[test]
fn confirmation_for_six_marked_sessions() {
    check("confirm_bulk");
}

#[test]
fn results_layer() {
    check("results");
}

#[test]
fn waiting_for_first_snapshot() {
    check("waiting");
}

#[test]
fn error_before_any_data() {
    check("error_no_data");
}

#[test]
fn error_with_stale_data() {
    check("error_stale_data");
}

#[test]
fn read_only_disables_actions() {
    check("read_only");
}

/// The other panes, as the shell shows them with nothing configured.
#[test]
fn other_panes_without_contexts() {
    check("kafka_no_context");
    check("pods_no_context");
    check("logs_no_stream");
}

#[test]
fn statements_header() {
    check("statements_header");
}

#[test]
fn pg_statements() {
    check("pg_statements");
}

#[test]
fn pg_waits() {
    check("pg_waits");
}

#[test]
fn pg_locks_detail() {
    check("pg_locks_detail");
}

/// Every scene has a snapshot test above: a new scene cannot be forgotten.
#[test]
fn every_scene_is_snapshotted() {
    let source = include_str!("ui_snapshots.rs");
    for (name, _) in ui::scenes() {
        assert!(
            source.contains(&format!("check(\"{name}\")")),
            "scene {name} has no snapshot test"
        );
    }
}

/// On a read-only context the guarded keys of the PostgreSQL pane are greyed (crossed out)
/// in the hints row, with why; elsewhere they are live.
#[test]
fn pg_read_only_greys_the_guarded_keys_with_the_reason() {
    let (row, crossed) = ui::hints_row(&ui::app(), 120, 40);
    assert!(crossed.is_empty(), "nothing disabled: {row}");
    assert!(
        row.contains("c cancel") && row.contains("x terminate"),
        "{row}"
    );
    let read_only = ui::app_with(ui::Setup {
        read_only: true,
        ..ui::Setup::default()
    });
    let (row, crossed) = ui::hints_row(&read_only, 120, 40);
    assert_eq!(crossed, "c x", "{row}");
    assert!(row.contains("disabled (read-only)"), "{row}");
    assert!(!row.contains("c cancel"), "{row}");
}

/// A session whose start time is hidden (a role without pg_read_all_stats sees NULL
/// backend_start) cannot be identified, so c/x cannot act on it: the hints row greys them
/// with why, as on a read-only context; a visible session has them live again.
#[test]
fn pg_hidden_session_greys_the_guarded_keys_with_the_reason() {
    use warroom_demo::DemoPgWorld;
    use warroom_tui::app::Msg;
    use warroom_tui::workers::{Event, Update};

    let mut world = DemoPgWorld::new(ui::SEED);
    world.advance_to(ui::AT);
    let visible = world.snapshot();
    let mut hidden = visible.clone();
    for s in &mut hidden.sessions {
        s.backend_start = None;
    }
    let mut app = ui::empty_app(ui::Setup::default());
    let update = |snapshot| {
        Msg::Worker(Event::PgUpdate(Update {
            context: ui::CONTEXT.into(),
            result: Ok(snapshot),
            retry_in: None,
        }))
    };
    app.update(update(hidden));
    let (row, crossed) = ui::hints_row(&app, 120, 40);
    assert_eq!(crossed, "c x", "{row}");
    assert!(row.contains("disabled (hidden session)"), "{row}");
    assert!(!row.contains("c cancel"), "{row}");

    app.update(update(visible));
    let (row, crossed) = ui::hints_row(&app, 120, 40);
    assert!(crossed.is_empty(), "nothing disabled: {row}");
    assert!(row.contains("c cancel"), "{row}");
}

#[test]
fn help_scrolls_to_its_last_row_when_lines_wrap() {
    // At 60 columns several help lines wrap; scrolling to the end must still reach the last
    // key of the last section (it used to stop short by the number of wrapped rows).
    let mut a = ui::app();
    a.update(ui::key('?'));
    for _ in 0..200 {
        a.update(ui::key('j'));
    }
    let screen = ui::screen(&a, 60, 16);
    assert!(screen.contains("in :approvals"), "{screen}");
    assert!(screen.contains("deny the selected request"), "{screen}");
    assert!(screen.contains("reason)"), "{screen}");
}
