//! The PostgreSQL pane at 10,000 sessions: applying a snapshot (sort, filter, blocking tree)
//! and drawing one full frame of the App into ratatui's TestBackend. Aim: under 2 ms a frame.
//!
//! `cargo bench --bench pg_pane_render` measures; `cargo test --all-targets` runs each
//! benchmark once (criterion's test mode), so this file is also checked by the test suite.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use warroom_core::backends::postgres::{ActivitySnapshot, PgSession, blocking_tree};
use warroom_tui::app::{App, GuardInfo, Msg};
use warroom_tui::keymap::KeyAction;
use warroom_tui::panes::Pane;
use warroom_tui::panes::pg::PgPane;
use warroom_tui::setup::Assembly;
use warroom_tui::workers::{Event, Update};

const SESSIONS: usize = 10_000;
const CONTEXT: &str = "bench";

/// A tiny deterministic generator, so every run draws the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const QUERIES: [&str; 6] = [
    "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 50",
    "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
    "INSERT INTO events (kind, payload, created_at) VALUES ($1, $2, now())",
    "SELECT count(*)\n  FROM line_items li\n  JOIN orders o ON o.id = li.order_id\n WHERE o.status = 'open'",
    "COMMIT",
    // Hostile text: escape sequences and control characters go through sanitize.
    "SELECT '\u{1b}[31mred\u{1b}[0m', E'tab\\there' /* \u{7} bell */",
];

const APPS: [&str; 5] = ["api", "worker", "billing", "report", "psql"];

/// 10,000 sessions: mostly idle, some active, some idle in transaction, and chains of
/// waiters (each chain: a holder idle in transaction, then 1 to 5 waiters, each waiting on
/// the previous one and sometimes also on the holder).
fn synthetic_snapshot() -> ActivitySnapshot {
    let mut rng = Lcg(42);
    let now = SystemTime::now();
    let mut sessions = Vec::with_capacity(SESSIONS);
    let mut chain_holder: Option<i32> = None;
    let mut previous: Option<i32> = None;
    for i in 0..SESSIONS {
        let pid = 10_000 + i as i32;
        let roll = rng.below(100);
        let (state, wait, blocked_by) = if roll < 55 {
            chain_holder = None;
            ("idle", Some(("Client", "ClientRead")), vec![])
        } else if roll < 80 {
            chain_holder = None;
            ("active", None, vec![])
        } else if roll < 92 {
            chain_holder = Some(pid);
            previous = Some(pid);
            (
                "idle in transaction",
                Some(("Client", "ClientRead")),
                vec![],
            )
        } else {
            match (chain_holder, previous) {
                (Some(holder), Some(prev)) => {
                    previous = Some(pid);
                    let mut by = vec![prev];
                    if prev != holder && rng.below(3) == 0 {
                        by.push(holder);
                    }
                    ("active", Some(("Lock", "transactionid")), by)
                }
                _ => ("active", Some(("IO", "DataFileRead")), vec![]),
            }
        };
        let query_seconds = rng.below(3_600_000) as f64 / 1000.0;
        let in_xact = state != "idle";
        sessions.push(PgSession {
            pid,
            database: Some(format!("db{}", rng.below(4))),
            user: Some(format!("user{}", rng.below(20))),
            application: format!("{}-{}", APPS[rng.below(5) as usize], rng.below(50)),
            client_addr: Some(format!("10.0.{}.{}", rng.below(256), rng.below(256))),
            state: Some(state.to_string()),
            wait_event_type: wait.map(|w| w.0.to_string()),
            wait_event: wait.map(|w| w.1.to_string()),
            query_seconds: Some(query_seconds),
            xact_seconds: in_xact.then_some(query_seconds + 1.0),
            blocked_by,
            query: QUERIES[rng.below(QUERIES.len() as u64) as usize].to_string(),
            backend_start: Some(now - Duration::from_secs(7200)),
            query_start: Some(now - Duration::from_secs_f64(query_seconds)),
            query_id: None,
            lock: None,
        });
    }
    ActivitySnapshot {
        sessions,
        hidden_sessions: 0,
        monitor_role: "monitor".into(),
        statements: 1,
        elapsed: Duration::from_millis(5),
        header: None,
    }
}

fn app() -> App {
    Assembly::new(GuardInfo::default())
        .pg_context(CONTEXT)
        .app()
}

fn update(snapshot: ActivitySnapshot) -> Msg {
    Msg::Worker(Event::PgUpdate(Update {
        context: CONTEXT.into(),
        result: Ok(snapshot),
        retry_in: None,
    }))
}

fn bench(c: &mut Criterion) {
    let snapshot = synthetic_snapshot();
    let waiting = snapshot
        .sessions
        .iter()
        .filter(|s| !s.blocked_by.is_empty())
        .count();
    let tree = blocking_tree(&snapshot.sessions);
    assert!(waiting > 100 && tree.len() > 50, "the data has chains");

    c.bench_function("pg/blocking_tree/10k", |b| {
        b.iter(|| blocking_tree(black_box(&snapshot.sessions)))
    });

    // Applying a snapshot: state counts, tree, sort and filter (idle shown: all 10k sorted).
    let mut applied = app();
    applied
        .pane_of_mut::<PgPane>()
        .expect("the PostgreSQL pane")
        .on_action(KeyAction::ToggleIdle);
    c.bench_function("pg/apply/10k", |b| {
        b.iter_batched(
            || update(snapshot.clone()),
            |msg| applied.update(msg),
            BatchSize::LargeInput,
        )
    });

    // The same frames with 100 sessions: drawing costs what is visible, not what exists.
    let mut small = snapshot.clone();
    small.sessions.truncate(100);
    for (size, data, view, lock_view) in [
        ("10k", &snapshot, "sessions", false),
        ("10k", &snapshot, "locks", true),
        ("100", &small, "sessions", false),
    ] {
        let mut app = app();
        app.pane_of_mut::<PgPane>()
            .expect("the PostgreSQL pane")
            .on_action(KeyAction::ToggleIdle);
        if lock_view {
            app.pane_of_mut::<PgPane>()
                .expect("the PostgreSQL pane")
                .on_action(KeyAction::LockView);
        }
        app.update(update(data.clone()));
        // Cursor in the middle, so the visible window is not the first page.
        for _ in 0..20 {
            app.pane_of_mut::<PgPane>()
                .expect("the PostgreSQL pane")
                .on_action(KeyAction::PageDown);
        }
        for (w, h) in [(200u16, 50u16), (80, 24)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
            c.bench_function(&format!("pg/frame/{size}/{view}/{w}x{h}"), |b| {
                b.iter(|| {
                    terminal
                        .draw(|frame| app.render(frame))
                        .expect("draw into the test backend");
                })
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
