//! Every screen at every terminal size: no panic, nothing drawn outside the screen, the
//! cursor (when shown) on the screen, and a resize sequence that ends as a fresh draw would.

use warroom_testkit::ui;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use warroom_tui::app::{App, Msg};

/// The sizes people have, the sizes nobody has, and odd ones.
fn sizes() -> Vec<(u16, u16)> {
    let mut out = vec![
        (1, 1),
        (2, 2),
        (10, 3),
        (80, 24),
        (120, 40),
        (300, 100),
        (1, 100),
        (300, 1),
        (3, 7),
        (7, 3),
        (13, 5),
        (33, 9),
        (57, 17),
        (79, 23),
        (81, 25),
        (99, 31),
        (119, 39),
        (201, 61),
        (299, 99),
    ];
    // Every width at a common height and every height at a common width: the places where
    // columns drop, titles shorten and popups shrink.
    out.extend((1..=130).map(|w| (w, 24)));
    out.extend((1..=45).map(|h| (80, h)));
    out
}

/// Draw and check what a terminal would see.
fn check_frame(terminal: &mut Terminal<TestBackend>, app: &App, what: &str) {
    terminal
        .draw(|f| app.render(f))
        .unwrap_or_else(|e| panic!("{what}: draw failed: {e}"));
    let backend = terminal.backend();
    let area = backend.buffer().area;
    if backend.cursor_visible() {
        let p = backend.cursor_position();
        assert!(
            p.x < area.width && p.y < area.height,
            "{what}: cursor at {p:?} outside {area:?}"
        );
    }
}

#[test]
fn every_screen_at_every_size() {
    let scenes = ui::scenes();
    assert!(scenes.len() >= 15, "scenes went missing");
    // One thread per scene: a panic in any of them fails the test with its scene and size.
    std::thread::scope(|s| {
        for (name, app) in scenes {
            s.spawn(move || {
                for (w, h) in sizes() {
                    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
                    check_frame(&mut terminal, &app, &format!("{name} at {w}x{h}"));
                }
            });
        }
    });
}

/// At 80x24 every screen says where it is: the tab bar and the pane or layer are readable.
#[test]
fn every_screen_is_usable_at_80x24() {
    for (name, app) in ui::scenes() {
        let text = ui::screen(&app, 80, 24);
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.contains("1 PostgreSQL") && first.contains("4 Logs"),
            "{name}: no tab bar at 80x24:\n{text}"
        );
        for line in text.lines() {
            assert!(
                unicode_width::UnicodeWidthStr::width(line) <= 80,
                "{name}: line wider than the screen: {line:?}"
            );
        }
    }
}

/// One terminal resized through tiny and huge sizes while keys and data arrive: no panic, and
/// after the last resize the screen is exactly what a fresh terminal of that size shows.
#[test]
fn resize_sequence() {
    let mut app = ui::app();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let steps: [(u16, u16, Option<Msg>); 16] = [
        (80, 24, None),
        (1, 1, Some(ui::key('L'))),
        (0, 0, None),
        (300, 100, Some(ui::key('?'))),
        (2, 2, Some(ui::key('j'))),
        (10, 3, Some(ui::code(crossterm::event::KeyCode::Esc))),
        (120, 40, Some(ui::key('x'))),
        (33, 9, Some(ui::key('a'))),
        (81, 25, Some(ui::code(crossterm::event::KeyCode::Esc))),
        (57, 17, Some(ui::key('/'))),
        (200, 5, Some(ui::key('O'))),
        (5, 60, Some(ui::code(crossterm::event::KeyCode::Enter))),
        (80, 24, Some(ui::key('i'))),
        (13, 5, Some(ui::key(':'))),
        (300, 100, Some(ui::code(crossterm::event::KeyCode::Esc))),
        (100, 30, Some(ui::key('2'))),
    ];
    for (w, h, msg) in steps {
        terminal.backend_mut().resize(w, h);
        app.update(Msg::Resize);
        if let Some(m) = msg {
            app.update(m);
        }
        check_frame(&mut terminal, &app, &format!("resize to {w}x{h}"));
    }
    // Back to the PostgreSQL pane, then a last resize: no stale cells from bigger frames.
    app.update(ui::key('1'));
    terminal.backend_mut().resize(90, 27);
    app.update(Msg::Resize);
    check_frame(&mut terminal, &app, "final resize");
    let resized = ui::text(terminal.backend().buffer());
    assert_eq!(resized, ui::screen(&app, 90, 27));
    assert!(resized.contains("sessions"), "{resized}");
}

/// What a guarded action must always show, whatever the terminal and the number of targets:
/// the reason prompt its rule and input, the confirmation the reason, the audit destination
/// and the buttons (the body gives way first).
#[test]
fn guard_layers_keep_their_essentials_at_every_usable_size() {
    let must: [(&str, &[&str]); 6] = [
        (
            "reason_error",
            &["reason required", "Why?", "reason> slow", "too short"],
        ),
        ("reason_bulk", &["reason required", "Why?", "reason>"]),
        (
            "confirm",
            &[
                "reason: INC-4711",
                "audit:",
                "[ Cancel ]",
                "[ Confirm 1 action ]",
            ],
        ),
        (
            "confirm_protected",
            &[
                "reason: INC-4711",
                "audit:",
                "type demo to confirm",
                "[ Confirm 1 action ]",
            ],
        ),
        (
            "confirm_bulk",
            &["reason: INC-4711", "audit:", "[ Confirm 6 actions ]"],
        ),
        ("results", &["results: 1 of 2 done", "NOT DONE"]),
    ];
    for (name, needles) in must {
        let app = ui::scene(name);
        for w in (44..=200).step_by(13) {
            for h in (16..=60).step_by(6) {
                let text = ui::screen(&app, w, h);
                // Wrapped text may break anywhere: look at it without line breaks.
                let flat: String = text
                    .lines()
                    .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
                    .collect::<Vec<_>>()
                    .join(" ");
                for needle in needles {
                    assert!(
                        flat.contains(needle),
                        "{name} at {w}x{h}: {needle:?} not visible:\n{text}"
                    );
                }
            }
        }
    }
}
