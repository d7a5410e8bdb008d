//! Deterministic screens of the App for the snapshot and terminal-size tests.
//!
//! Used as `warroom_testkit::ui`. Every scene is an App on the demo world
//! at a fixed seed and simulated time, with the built-in default theme, a fixed actor and a fixed
//! audit destination, driven only through `App::update` (keys and messages), as the runtime does.
//! "refreshed …" text is deterministic because the App renders against the time of its last
//! update, not the wall clock.

use std::collections::HashMap;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use warroom_core::guard::{ActionReport, ContextPolicy, Outcome, Policy, ReasonRules};
use warroom_demo::DemoPgWorld;
use warroom_tui::app::{App, Command, GuardInfo, Layer, Msg};
use warroom_tui::setup::Assembly;
use warroom_tui::workers::{Event, Update};

pub const CONTEXT: &str = "demo";
pub const SEED: u64 = 1;
/// Simulated seconds into the incident: a long chain of waiters behind the migration.
pub const AT: f64 = 120.0;
pub const ACTOR: &str = "alice@laptop";
pub const AUDIT: &str =
    "no audit endpoint: this record stays on this machine (audit: /var/lib/warroom/audit.jsonl)";
pub const RUNBOOK: &str = "https://runbooks.example/postgres/lock-contention";

/// Options of a scene's App.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup {
    pub protected: bool,
    pub read_only: bool,
}

pub fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(c));
    }
}

/// An App with no data yet.
pub fn empty_app(setup: Setup) -> App {
    let policy = Policy {
        global_read_only: setup.read_only,
        contexts: HashMap::from([(
            CONTEXT.to_string(),
            ContextPolicy {
                protected: setup.protected,
                read_only: false,
                runbook_url: Some(RUNBOOK.into()),
            },
        )]),
    };
    let info = GuardInfo {
        policy,
        rules: ReasonRules::default(),
        actor: ACTOR.into(),
        audit_destination: AUDIT.into(),
    };
    Assembly::new(info).pg_context(CONTEXT).app()
}

/// Feed the demo world's snapshots every 4 simulated seconds up to `AT`, so the sparklines
/// have a history.
pub fn feed(app: &mut App) {
    let mut world = DemoPgWorld::new(SEED);
    let mut t = 4.0;
    while t <= AT {
        world.advance_to(t);
        app.update(Msg::Worker(Event::PgUpdate(Update {
            context: CONTEXT.into(),
            result: Ok(world.snapshot()),
            retry_in: None,
        })));
        t += 4.0;
    }
}

/// Like [`feed`], with what the real statement adds (the server header with its rates, the
/// lock each waiter waits for, query ids), then two reads of the demo's pg_stat_statements.
pub fn feed_slow(app: &mut App) {
    use warroom_core::backends::postgres::header::HeaderTracker;
    use warroom_core::backends::postgres::statements::{StatementsRead, StatementsTracker};
    use warroom_demo::statements::{DemoStatements, enrich};
    let mut world = DemoPgWorld::new(SEED);
    let mut header = HeaderTracker::default();
    let mut t = 4.0;
    while t <= AT {
        world.advance_to(t);
        let mut snap = world.snapshot();
        enrich(
            &mut snap,
            &mut header,
            world.now(),
            t,
            world.scenario().blocker_pid,
            world.migration_alive(),
        );
        app.update(Msg::Worker(Event::PgUpdate(Update {
            context: CONTEXT.into(),
            result: Ok(snap),
            retry_in: None,
        })));
        t += 4.0;
    }
    let mut demo = DemoStatements::default();
    let mut tracker = StatementsTracker::default();
    for at in [AT - 5.0, AT] {
        let read = StatementsRead::Sample {
            sample: demo.sample(
                at,
                at,
                &world.scenario().waiter_query,
                world.waiting_count(),
            ),
            compute_query_id: Some("auto".into()),
            all_stats: true,
            statements: 1,
        };
        app.update(Msg::Worker(Event::PgStatements(Update {
            context: CONTEXT.into(),
            result: Ok(tracker.report(read)),
            retry_in: None,
        })));
    }
}

pub fn app_with(setup: Setup) -> App {
    let mut app = empty_app(setup);
    feed(&mut app);
    app
}

pub fn app() -> App {
    app_with(Setup::default())
}

/// The reason prompt for terminating the root blocker (lock view, first row).
pub fn reason_prompt(setup: Setup) -> App {
    let mut app = app_with(setup);
    app.update(key('L'));
    app.update(key('x'));
    app
}

pub const REASON: &str = "INC-4711 migration holds the orders row lock";

/// The confirmation for terminating the root blocker.
pub fn confirmation(setup: Setup) -> App {
    let mut app = reason_prompt(setup);
    typed(&mut app, REASON);
    app.update(code(KeyCode::Enter));
    app
}

/// The results layer after a bulk terminate of two marked sessions: one done, one refused.
pub fn results() -> App {
    let mut app = app();
    app.update(key('i'));
    app.update(key(' '));
    app.update(key(' '));
    app.update(key('x'));
    typed(&mut app, REASON);
    app.update(code(KeyCode::Enter));
    let actions = match app.layers().last() {
        Some(Layer::Confirm(c)) => c.actions.clone(),
        other => panic!("expected the confirmation, got {other:?}"),
    };
    assert_eq!(actions.len(), 2, "two marked sessions");
    app.update(code(KeyCode::Tab));
    let commands = app.update(code(KeyCode::Enter));
    assert!(
        matches!(commands.as_slice(), [Command::Execute(r)] if r.actions == actions),
        "{commands:?}"
    );
    let mut reports = Vec::new();
    for (i, action) in actions.into_iter().enumerate() {
        let ok = i == 0;
        reports.push(ActionReport {
            action,
            outcome: if ok { Outcome::Done } else { Outcome::Refused },
            detail: if ok {
                "pg_terminate_backend returned true; the backend exited".into()
            } else {
                "the pid now belongs to a different session: nothing was signalled".into()
            },
            audit_id: Some(format!("00000000-0000-4000-8000-00000000000{i}")),
            warnings: Vec::new(),
        });
    }
    app.update(Msg::GuardDone(reports));
    app
}

/// Cancel the queries of six marked sessions: one reason for all, one record per target.
pub fn bulk(confirm: bool) -> App {
    let mut app = app();
    for _ in 0..6 {
        app.update(key(' '));
    }
    app.update(key('c'));
    if confirm {
        typed(&mut app, REASON);
        app.update(code(KeyCode::Enter));
    }
    app
}

/// Every scene worth drawing: name and App.
pub fn scenes() -> Vec<(&'static str, App)> {
    let mut out: Vec<(&'static str, App)> = Vec::new();
    // The demo's sessions after these keys (`\n` is Enter).
    let after = |keys: &str| {
        let mut a = app();
        for c in keys.chars() {
            a.update(if c == '\n' {
                code(KeyCode::Enter)
            } else {
                key(c)
            });
        }
        a
    };
    out.push(("pg_sessions", after("")));
    out.push(("pg_locks", after("L")));
    out.push(("pg_idle_shown", after("i")));
    out.push(("pg_filter_active", after("/billing\n")));
    out.push(("pg_filter_typing", after("/orders")));
    out.push(("detail", after("L\n")));
    out.push(("help", after("?")));
    out.push(("command_line", after(":kafka")));
    let mut a = reason_prompt(Setup::default());
    typed(&mut a, "slow");
    a.update(code(KeyCode::Enter));
    out.push(("reason_error", a));
    out.push(("confirm", confirmation(Setup::default())));
    let mut a = confirmation(Setup {
        protected: true,
        ..Setup::default()
    });
    a.update(code(KeyCode::Tab));
    typed(&mut a, "dem");
    a.update(code(KeyCode::Enter));
    out.push(("confirm_protected", a));
    out.push(("results", results()));
    out.push(("reason_bulk", bulk(false)));
    out.push(("confirm_bulk", bulk(true)));
    let mut a = empty_app(Setup::default());
    for _ in 0..3 {
        a.update(Msg::Tick);
    }
    out.push(("waiting", a));
    let mut a = empty_app(Setup::default());
    a.update(Msg::Worker(Event::PgUpdate(Update {
        context: CONTEXT.into(),
        result: Err("connection refused (os error 111) connecting to db1:5432".into()),
        retry_in: Some(Duration::from_secs(4)),
    })));
    out.push(("error_no_data", a));
    let mut a = app();
    a.update(Msg::Worker(Event::PgUpdate(Update {
        context: CONTEXT.into(),
        result: Err("db error: FATAL: the database system is shutting down".into()),
        retry_in: Some(Duration::from_secs(8)),
    })));
    out.push(("error_stale_data", a));
    out.push((
        "read_only",
        app_with(Setup {
            read_only: true,
            ..Setup::default()
        }),
    ));
    let mut a = empty_app(Setup::default());
    feed_slow(&mut a);
    out.push(("statements_header", a));
    let mut a = empty_app(Setup::default());
    feed_slow(&mut a);
    a.update(key('T'));
    out.push(("pg_statements", a));
    let mut a = empty_app(Setup::default());
    feed_slow(&mut a);
    a.update(key('W'));
    out.push(("pg_waits", a));
    let mut a = empty_app(Setup::default());
    feed_slow(&mut a);
    a.update(key('L'));
    out.push(("pg_locks_detail", a));
    for (k, name) in [
        ('2', "kafka_no_context"),
        ('3', "pods_no_context"),
        ('4', "logs_no_stream"),
    ] {
        let mut a = app();
        a.update(key(k));
        out.push((name, a));
    }
    out
}

pub fn scene(name: &str) -> App {
    scenes()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| a)
        .unwrap_or_else(|| panic!("no scene {name}"))
}

pub fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal.draw(|f| app.render(f)).expect("draw");
    terminal
}

/// The buffer as lines of text, trailing blanks removed, wide symbols counted once.
pub fn text(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let mut out = String::new();
    if width == 0 {
        return out;
    }
    for row in buffer.content.chunks(width) {
        let mut line = String::new();
        let mut skip = 0usize;
        for cell in row {
            if skip == 0 {
                line.push_str(cell.symbol());
            }
            let w = unicode_width::UnicodeWidthStr::width(cell.symbol()).max(1);
            skip = skip.max(w).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn screen(app: &App, width: u16, height: u16) -> String {
    text(draw(app, width, height).backend().buffer())
}

/// The hints row (the bottom row) of `app` drawn at `width` x `height`: its text, and the
/// text of its cells drawn crossed out (keys that policy disables).
pub fn hints_row(app: &App, width: u16, height: u16) -> (String, String) {
    let terminal = draw(app, width, height);
    let buffer = terminal.backend().buffer();
    let y = height - 1;
    let mut row = String::new();
    let mut crossed = String::new();
    for x in 0..width {
        let cell = &buffer[(x, y)];
        row.push_str(cell.symbol());
        if cell
            .modifier
            .contains(ratatui::style::Modifier::CROSSED_OUT)
        {
            crossed.push_str(cell.symbol());
        }
    }
    (row.trim_end().to_string(), crossed.trim().to_string())
}
