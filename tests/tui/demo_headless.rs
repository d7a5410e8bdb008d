//! The demo incident, headless: scripted keys over simulated minutes, through the same App,
//! guard and audit as the TUI, and the state the class should reach.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use warroom_core::config::Config;
use warroom_demo::{DemoClock, DemoPg, Scenario};
use warroom_tui::app::{App, Command, Msg, Polled};
use warroom_tui::setup::{self, Options};
use warroom_tui::terminal::Backends;
use warroom_tui::workers::{Event, Update};

struct Headless {
    app: App,
    backends: Backends,
    world: DemoPg,
    clock: DemoClock,
    active_pg: Vec<String>,
}

impl Headless {
    fn new(read_only: bool) -> Headless {
        let clock = DemoClock::manual();
        let opts = Options {
            read_only,
            ..Options::default()
        };
        let (app, backends, world) = setup::demo(
            &Config::default(),
            &opts,
            &Scenario::embedded(),
            7,
            clock.clone(),
        )
        .expect("demo setup");
        let mut h = Headless {
            app,
            backends,
            world,
            clock,
            active_pg: Vec::new(),
        };
        let cmds = h.app.startup();
        h.perform(cmds);
        h
    }

    /// What the runtime does, without a terminal: polls, and the guard executor.
    fn perform(&mut self, cmds: Vec<Command>) {
        for c in cmds {
            match c {
                Command::Poll {
                    what: Polled::PgSessions,
                    context,
                    active,
                    ..
                } => {
                    self.active_pg.retain(|c| *c != context);
                    if active {
                        self.active_pg.push(context);
                    }
                }
                Command::Execute(req) => {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("rt");
                    let reports = rt.block_on(self.backends.executor.run(req));
                    let more = self.app.update(Msg::GuardDone(reports));
                    self.perform(more);
                }
                _ => {}
            }
        }
    }

    /// Let simulated time pass, refreshing every 2 s as the worker would.
    fn advance(&mut self, secs: f64) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let mut left = secs;
        while left > 0.0 {
            let step = left.min(2.0);
            self.clock.advance(step);
            left -= step;
            for ctx in self.active_pg.clone() {
                let source = self.backends.pg.get(&ctx).expect("source").clone();
                let result = rt.block_on(source.activity()).map_err(Into::into);
                let cmds = self.app.update(Msg::Worker(Event::PgUpdate(Update {
                    context: ctx,
                    result,
                    retry_in: None,
                })));
                self.perform(cmds);
            }
        }
    }

    fn keys(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    fn key(&mut self, code: KeyCode) {
        let cmds = self
            .app
            .update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        self.perform(cmds);
    }

    fn waiting(&self) -> usize {
        self.world.with_world(|w| w.waiting_count()).expect("world")
    }
}

#[test]
fn a_class_finds_the_blocker_terminates_it_and_the_queue_drains() {
    let state = tempfile::tempdir().expect("tempdir");
    let _state_home = warroom_testkit::home::StateHome::set(state.path());

    let mut h = Headless::new(false);
    h.advance(180.0);
    let before = h.waiting();
    assert!(before >= 20, "three minutes in, requests pile up: {before}");

    // Lock view: the root blocker is selected first.
    h.keys("L");
    let root = h
        .app
        .pane_of::<warroom_tui::panes::pg::PgPane>()
        .expect("the PostgreSQL pane")
        .selected_session()
        .map(|s| (s.pid, s.state.clone()));
    assert_eq!(root, Some((4242, Some("idle in transaction".to_string()))));

    // Cancel teaches the lesson: it changes nothing on an idle transaction.
    h.keys("c");
    h.keys("INC-42 try cancelling the migration first");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Enter);
    h.advance(10.0);
    assert!(h.world.with_world(|w| w.migration_alive()).expect("world"));
    assert!(h.waiting() >= before);

    // Terminate frees the queue.
    h.keys("x");
    h.keys("INC-42 migration idle in transaction blocks checkout");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Tab);
    h.key(KeyCode::Enter);
    let toast = h.app.toast().map(|t| t.text.clone()).unwrap_or_default();
    assert!(
        toast.contains("pg_terminate_backend(4242) returned true"),
        "{toast}"
    );
    h.advance(60.0);
    assert!(!h.world.with_world(|w| w.migration_alive()).expect("world"));
    assert_eq!(h.waiting(), 0, "the waiters drained");

    // The demo audit file holds both actions, intent and outcome each, chain intact.
    let file = state.path().join("warroom/demo-audit.jsonl");
    let report = warroom_core::audit::verify(&file).expect("chain intact");
    assert_eq!(report.records, 4);
    let timeline = warroom_core::audit::timeline::timeline(
        &warroom_core::audit::timeline::read_records(&file).expect("read"),
        None,
    );
    let whats: Vec<&str> = timeline.iter().map(|e| e.what.as_str()).collect();
    assert!(whats[0].starts_with("pg.cancel pid=4242"), "{whats:?}");
    assert!(whats[1].starts_with("pg.terminate pid=4242"), "{whats:?}");
    assert_eq!(
        timeline[1].why,
        "INC-42 migration idle in transaction blocks checkout"
    );

    // Shadow mode: the same keys do nothing and say why.
    let mut shadow = Headless::new(true);
    shadow.advance(30.0);
    shadow.keys("Lx");
    assert!(shadow.app.layers().is_empty());
    let toast = shadow
        .app
        .toast()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(toast.contains("--read-only"), "{toast}");
}
