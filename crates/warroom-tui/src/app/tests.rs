//! App behaviour driven by values: keys in, layers and commands out. No terminal.

use std::collections::HashMap;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::panes::pg::PgPane;
use crate::workers::Update;
use warroom_core::guard::{ContextPolicy, GuardRequest, GuardedAction, PgAction};
use warroom_demo::DemoPgWorld;

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(c));
    }
}

fn app_with(protected: bool, read_only: bool, global_read_only: bool) -> App {
    let policy = Policy {
        global_read_only,
        contexts: HashMap::from([
            (
                "pg1".to_string(),
                ContextPolicy {
                    protected,
                    read_only,
                    runbook_url: None,
                },
            ),
            ("pg2".to_string(), ContextPolicy::default()),
        ]),
    };
    let info = GuardInfo {
        policy,
        rules: ReasonRules::default(),
        actor: "alice@laptop".into(),
        audit_destination: "audit: /tmp/a.jsonl only (no endpoint configured)".into(),
    };
    let mut app = crate::setup::Assembly::new(info)
        .pg_context("pg1")
        .pg_context("pg2")
        .app();
    let mut world = DemoPgWorld::new(1);
    world.advance_to(90.0);
    app.update(Msg::Worker(Event::PgUpdate(Update {
        context: "pg1".into(),
        result: Ok(world.snapshot()),
        retry_in: None,
    })));
    app
}

fn pg(app: &App) -> &PgPane {
    app.pane_of::<PgPane>().expect("the PostgreSQL pane")
}

fn top(app: &App) -> Option<&Layer> {
    app.layers().last()
}

#[test]
fn terminate_root_blocker_from_lock_view_goes_through_reason_and_confirm() {
    let mut app = app_with(false, false, false);
    app.update(key('L'));
    assert_eq!(app.update(key('x')), vec![]);
    let Some(Layer::Reason(prompt)) = top(&app) else {
        panic!("no reason prompt: {:?}", app.layers())
    };
    assert!(
        matches!(&prompt.actions[..], [GuardedAction::Pg(PgAction::Terminate(t))] if t.pid == 4242 && t.context == "pg1")
    );

    typed(&mut app, "short");
    app.update(code(KeyCode::Enter));
    let Some(Layer::Reason(prompt)) = top(&app) else {
        panic!("prompt closed on a short reason")
    };
    assert!(
        prompt
            .error
            .as_deref()
            .is_some_and(|e| e.contains("too short"))
    );

    typed(&mut app, " reason: INC-7 migration holds the orders lock");
    app.update(code(KeyCode::Enter));
    let Some(Layer::Confirm(c)) = top(&app) else {
        panic!("no confirmation")
    };
    assert_eq!(
        c.focus,
        layers::Button::Cancel,
        "Cancel must have the focus"
    );

    // Enter on the default button aborts.
    assert_eq!(app.update(code(KeyCode::Enter)), vec![]);
    assert!(app.layers().is_empty());
    assert!(
        app.toast()
            .is_some_and(|t| t.text.contains("nothing was done"))
    );
}

#[test]
fn confirm_button_emits_the_exact_request() {
    let mut app = app_with(false, false, false);
    let req = executed(confirmed(&mut app));
    assert_eq!(req.reason, "INC-7 migration holds the orders lock");
    assert_eq!(req.actions.len(), 1);
    assert_eq!(req.actions[0].pg_target().map(|t| t.pid), Some(4242));
    assert_eq!(req.typed_context, None);
}

#[test]
fn esc_in_the_reason_prompt_aborts() {
    let mut app = app_with(false, false, false);
    app.update(key('c'));
    assert!(matches!(top(&app), Some(Layer::Reason(_))));
    assert_eq!(app.update(code(KeyCode::Esc)), vec![]);
    assert!(app.layers().is_empty());
}

#[test]
fn protected_context_needs_its_name_typed() {
    let mut app = app_with(true, false, false);
    confirming(&mut app);
    app.update(code(KeyCode::Tab));
    typed(&mut app, "pg2");
    assert_eq!(app.update(code(KeyCode::Enter)), vec![]);
    let Some(Layer::Confirm(c)) = top(&app) else {
        panic!("confirmation closed")
    };
    assert!(c.error.as_deref().is_some_and(|e| e.contains("pg1")));
    for _ in 0..3 {
        app.update(code(KeyCode::Backspace));
    }
    typed(&mut app, "pg1");
    let req = executed(app.update(code(KeyCode::Enter)));
    assert_eq!(req.typed_context.as_deref(), Some("pg1"));
}

#[test]
fn read_only_refuses_before_any_prompt_and_says_why() {
    for (ctx_ro, global_ro, why) in [(true, false, "read_only"), (false, true, "--read-only")] {
        let mut app = app_with(false, ctx_ro, global_ro);
        app.update(key('x'));
        assert!(app.layers().is_empty());
        let toast = app.toast().map(|t| t.text.clone()).unwrap_or_default();
        assert!(toast.contains(why), "{toast}");
    }
}

#[test]
fn marks_make_one_request_with_one_action_per_target() {
    let mut app = app_with(false, false, false);
    app.update(key(' '));
    app.update(key(' '));
    app.update(key('c'));
    let Some(Layer::Reason(p)) = top(&app) else {
        panic!("no prompt")
    };
    assert_eq!(p.actions.len(), 2);
    let pids: Vec<Option<i32>> = p
        .actions
        .iter()
        .map(|a| a.pg_target().map(|t| t.pid))
        .collect();
    assert_ne!(pids[0], pids[1]);
}

#[test]
fn hidden_pane_stops_polling_and_context_switch_moves_it() {
    let mut app = app_with(false, false, false);
    let cmds = app.update(key('2'));
    assert!(
        cmds.iter().all(|c| matches!(
            c,
            Command::Poll {
                what: Polled::PgSessions | Polled::PgStatements,
                active: false,
                ..
            }
        )),
        "{cmds:?}"
    );
    app.update(key(':'));
    typed(&mut app, "ctx pg2");
    let cmds = app.update(code(KeyCode::Enter));
    assert_eq!(app.active(), PaneId::Postgres);
    assert!(cmds.contains(&Command::Poll {
        what: Polled::PgSessions,
        context: "pg2".into(),
        active: true,
        interval: Duration::from_secs(2)
    }));
    assert!(cmds.contains(&Command::Poll {
        what: Polled::PgSessions,
        context: "pg1".into(),
        active: false,
        interval: Duration::from_secs(2)
    }));
}

#[test]
fn refresh_keys_change_the_interval_within_bounds() {
    let mut app = app_with(false, false, false);
    let cmds = app.update(key('+'));
    assert!(cmds.contains(&Command::Poll {
        what: Polled::PgSessions,
        context: "pg1".into(),
        active: true,
        interval: Duration::from_secs(1)
    }));
    for _ in 0..10 {
        app.update(key('-'));
    }
    assert_eq!(pg(&app).interval(), Duration::from_secs(60));
}

#[test]
fn quit_keys_and_command() {
    for msg in [
        key('q'),
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Msg::Shutdown,
    ] {
        let mut app = app_with(false, false, false);
        assert_eq!(app.update(msg), vec![Command::Quit]);
        assert!(app.should_quit());
    }
    let mut app = app_with(false, false, false);
    app.update(key(':'));
    app.update(key('q'));
    assert_eq!(app.update(code(KeyCode::Enter)), vec![Command::Quit]);
}

#[test]
fn filter_narrows_rows_and_esc_restores() {
    let mut app = app_with(false, false, false);
    app.update(key('/'));
    typed(&mut app, "migrate");
    assert_eq!(pg(&app).filter(), "migrate");
    app.update(code(KeyCode::Enter));
    assert_eq!(pg(&app).selected_session().map(|s| s.pid), Some(4242));
    app.update(code(KeyCode::Esc));
    assert_eq!(pg(&app).filter(), "");
}

#[test]
fn worker_errors_keep_the_last_data_and_show_the_retry() {
    let mut app = app_with(false, false, false);
    app.update(Msg::Worker(Event::PgUpdate(Update {
        context: "pg1".into(),
        result: Err("cannot connect".into()),
        retry_in: Some(Duration::from_secs(4)),
    })));
    let st = app.active_pane().expect("a pane").status();
    assert!(
        st.error
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect") && e.contains("retrying in 4s")),
        "{st:?}"
    );
    assert!(pg(&app).snapshot().is_some());
}

/// Layer keys come from the keymap: rebinding `prompt_submit` moves "continue" in the reason
/// prompt to the new key (Enter then only edits the line), and the hints follow.
#[test]
fn layer_keys_are_rebindable() {
    let mut app = app_with(false, false, false);
    app.keymap.rebind(
        KeyAction::PromptSubmit,
        vec![crate::keymap::KeyChord::parse("ctrl-j").expect("key")],
    );
    app.update(key('L'));
    app.update(key('x'));
    typed(&mut app, "INC-1 the migration holds the lock");
    app.update(code(KeyCode::Enter));
    assert!(
        matches!(top(&app), Some(Layer::Reason(_))),
        "Enter is not bound any more"
    );
    let hints: Vec<String> = top(&app)
        .map(|l| {
            l.hints()
                .iter()
                .map(|(keys, label)| format!("{} {label}", app.keymap.labels_of(keys)))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(hints, vec!["ctrl-j continue", "esc abort: nothing runs"]);
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('j'),
        KeyModifiers::CONTROL,
    )));
    assert!(
        matches!(top(&app), Some(Layer::Confirm(_))),
        "{:?}",
        app.layers()
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 10: quitting while an action runs, paste, keys queued before a confirmation, banner
// ---------------------------------------------------------------------------------------------

fn ctrl_c() -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
}

/// Up to the confirmation of "terminate 4242" with a valid reason.
fn confirming(app: &mut App) {
    app.update(key('L'));
    app.update(key('x'));
    typed(app, "INC-7 migration holds the orders lock");
    app.update(code(KeyCode::Enter));
    assert!(app.confirming(), "{:?}", app.layers());
}

/// Up to the confirmation, then the confirm button pressed: what the App asks the runtime.
fn confirmed(app: &mut App) -> Vec<Command> {
    confirming(app);
    app.update(code(KeyCode::Tab));
    app.update(code(KeyCode::Enter))
}

/// The one request a press of the confirm button sends to the executor.
fn executed(cmds: Vec<Command>) -> GuardRequest {
    match <[Command; 1]>::try_from(cmds) {
        Ok([Command::Execute(req)]) => req,
        other => panic!("{other:?}"),
    }
}

#[test]
fn quit_while_an_action_runs_asks_to_wait_and_a_second_ctrl_c_forces() {
    let mut app = app_with(false, false, false);
    executed(confirmed(&mut app));
    assert!(app.executing());

    // q and :q ask to wait; nothing quits.
    assert_eq!(app.update(key('q')), vec![]);
    assert!(!app.should_quit(), "q quit while the action ran");
    assert!(
        app.toast()
            .is_some_and(|t| t.text.contains("an action is running") && t.error)
    );
    app.update(key(':'));
    typed(&mut app, "q");
    app.update(code(KeyCode::Enter));
    assert!(!app.should_quit(), ":q quit while the action ran");

    // The first ctrl-c asks too; a second one within 3 s forces.
    assert_eq!(app.update(ctrl_c()), vec![]);
    assert!(!app.should_quit());
    assert_eq!(app.update(ctrl_c()), vec![Command::Quit]);
    assert!(app.should_quit() && app.quit_forced());
}

#[test]
fn quit_after_the_outcome_is_immediate() {
    let mut app = app_with(false, false, false);
    executed(confirmed(&mut app));
    app.update(Msg::GuardDone(Vec::new()));
    assert!(!app.executing());
    assert_eq!(app.update(key('q')), vec![Command::Quit]);
    assert!(app.should_quit() && !app.quit_forced());
}

#[test]
fn keys_typed_before_the_confirmation_appeared_never_press_its_buttons() {
    let mut app = app_with(false, false, false);
    app.update(key('L'));
    app.update(key('x'));
    // One batch, as the event loop reads it before drawing: the reason, Enter (the confirmation
    // opens), then Tab and Enter typed ahead, before anyone could read the confirmation.
    let mut batch: Vec<Msg> = "INC-7 migration holds the orders lock"
        .chars()
        .map(key)
        .collect();
    batch.extend([
        code(KeyCode::Enter),
        code(KeyCode::Tab),
        code(KeyCode::Enter),
    ]);
    let cmds = app.update_batch(batch);
    assert_eq!(cmds, vec![], "a queued key confirmed the action");
    let Some(Layer::Confirm(c)) = top(&app) else {
        panic!("the confirmation must stay open: {:?}", app.layers())
    };
    assert_eq!(c.focus, layers::Button::Cancel);
    // Keys after it was drawn work as usual.
    app.update(code(KeyCode::Tab));
    executed(app.update(code(KeyCode::Enter)));
}

#[test]
fn a_paste_types_into_the_prompt_and_never_submits_or_presses_a_button() {
    let mut app = app_with(false, false, false);
    app.update(key('L'));
    app.update(key('x'));
    let cmds = app.update(Msg::Paste(
        "INC-7 migration holds\nthe orders lock\r\n\u{1b}[31m".into(),
    ));
    assert_eq!(cmds, vec![]);
    let Some(Layer::Reason(prompt)) = top(&app) else {
        panic!("the paste submitted the prompt: {:?}", app.layers())
    };
    assert_eq!(
        prompt.input.value(),
        "INC-7 migration holds the orders lock "
    );
    app.update(code(KeyCode::Enter));
    assert!(app.confirming());
    // A paste on the confirmation does nothing at all.
    assert_eq!(app.update(Msg::Paste("\r\n\t\r".into())), vec![]);
    let Some(Layer::Confirm(c)) = top(&app) else {
        panic!("the paste closed the confirmation")
    };
    assert_eq!(c.focus, layers::Button::Cancel);
}

#[test]
fn break_glass_shows_a_banner_until_the_session_ends() {
    let mut app = app_with(false, false, false);
    let req = executed(confirmed(&mut app));
    let report = warroom_core::guard::ActionReport {
        action: req.actions[0].clone(),
        outcome: warroom_core::guard::Outcome::Done,
        detail: "pg_terminate_backend(4242) returned true".into(),
        audit_id: Some("a1".into()),
        warnings: vec!["BREAK-GLASS: audit endpoint https://a is unreachable".into()],
    };
    app.update(Msg::GuardDone(vec![report]));
    for _ in 0..100 {
        app.update(Msg::Tick);
    }
    assert!(app.break_glass_banner().is_some());
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).expect("terminal");
    terminal.draw(|f| app.render(f)).expect("draw");
    let first: String = terminal.backend().buffer().content()[..120]
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(first.contains("BREAK-GLASS"), "{first}");
}
