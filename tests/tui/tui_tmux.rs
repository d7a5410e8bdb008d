//! The real binary in a real terminal: `warroom demo` runs in a detached tmux session
//! (`warroom_testkit::tmux`), the test types keys and reads the screen.

use warroom_testkit::tmux;

use std::process::Command;

use tmux::{Run, Tmux, highlighted};

fn wait_for_sessions(t: &Tmux) -> String {
    t.wait_for("the PostgreSQL pane with sessions", |s| {
        s.contains("sessions ") && s.contains("PID") && s.contains("4242")
    })
}

#[test]
fn switch_panes_help_lock_view_terminate_and_quit() {
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10"],
        ..Run::default()
    });
    wait_for_sessions(&t);
    t.wait_tab("PostgreSQL");

    // Panes by number, and back.
    for (key, title) in [
        ("2", "Kafka"),
        ("3", "Pods"),
        ("4", "Logs"),
        ("1", "PostgreSQL"),
    ] {
        t.keys(&[key]);
        t.wait_tab(title);
    }
    // And by the command line.
    t.keys(&[":"]);
    t.type_text("kafka");
    t.keys(&["Enter"]);
    t.wait_tab("Kafka");
    t.keys(&[":"]);
    t.type_text("pg");
    t.keys(&["Enter"]);
    t.wait_tab("PostgreSQL");

    // Help opens and Esc closes it.
    t.keys(&["?"]);
    let help = t.wait_text("keys: PostgreSQL pane");
    assert!(help.contains("terminate the backend"), "{help}");
    t.keys(&["Escape"]);
    t.wait_for("the help to close", |s| {
        !s.contains("keys: PostgreSQL pane")
    });

    // The lock view: the migration is the root blocker, with waiters behind it.
    t.keys(&["L"]);
    let tree = t.wait_for("the blocking tree with waiters", |s| {
        s.contains("blocking tree") && s.contains("└ ")
    });
    let root = tree
        .lines()
        .find(|l| l.starts_with("4242 "))
        .unwrap_or_else(|| panic!("no root 4242:\n{tree}"));
    let waiting: usize = root
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no waiting count in {root:?}"));
    assert!(waiting >= 1, "{root}");

    // Terminate the root blocker: reason, Tab to Confirm, Enter.
    t.keys(&["x"]);
    t.wait_text("reason required");
    let reason = "INC-4711 migration holds the orders row lock";
    t.type_text(reason);
    t.keys(&["Enter"]);
    let confirm = t.wait_text("confirm: this cannot be undone");
    assert!(
        confirm.contains("Terminate PostgreSQL backend 4242"),
        "{confirm}"
    );
    t.keys(&["Tab", "Enter"]);
    let done = t.wait_text("terminate backend 4242: done");
    assert!(done.contains("returned true"), "{done}");

    // The waiters drain once the lock is gone.
    t.wait_text("no session waits on a lock");

    // The demo audit trail: an intent, then its outcome, with the reason.
    let records = t.audit_records();
    assert_eq!(records.len(), 2, "{records:#?}");
    let (intent, outcome) = (&records[0], &records[1]);
    assert_eq!(intent["phase"], "intent");
    assert_eq!(intent["action"], "pg.terminate");
    assert_eq!(intent["reason"], reason);
    assert_eq!(intent["target"]["pid"], 4242);
    assert_eq!(intent["context"]["name"], "demo");
    assert_eq!(outcome["phase"], "outcome");
    assert_eq!(outcome["intent_id"], intent["id"]);
    assert_eq!(outcome["outcome"]["ok"], true);
    assert_eq!(outcome["prev_hash"], intent["hash"]);

    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0, "warroom exit status");
    t.assert_terminal_restored();
}

/// The real SIGWINCH path: tmux resizes the window down to 1x1 and up to 300x100 while
/// warroom runs; it keeps drawing at each size and still answers keys.
#[test]
fn resizing_the_real_terminal() {
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10"],
        ..Run::default()
    });
    wait_for_sessions(&t);
    for (w, h) in [(1, 1), (2, 2), (10, 3), (300, 100), (37, 11), (80, 24)] {
        let out = t.tmux(&[
            "resize-window",
            "-t",
            "main",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        assert!(out.status.success(), "resize-window {w}x{h}");
        assert_eq!(
            t.display("#{window_width}x#{window_height}"),
            format!("{w}x{h}")
        );
        // Drawn at the new size: the tab bar starts the first line.
        let first = |s: &str| s.lines().next().unwrap_or("").to_string();
        // (capture-pane drops trailing blanks: at 1x1 there is nothing to see)
        let want: String = " warroom "
            .chars()
            .take(w)
            .collect::<String>()
            .trim_end()
            .to_string();
        t.wait_for(&format!("a frame at {w}x{h}"), |s| {
            first(s).starts_with(&want)
        });
        assert!(
            !t.path("exit").exists(),
            "warroom exited at {w}x{h}:\n{}",
            t.screen()
        );
    }
    // Still answering keys at the last size.
    t.keys(&["L"]);
    t.wait_text("blocking tree");
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
    t.assert_terminal_restored();
}

#[test]
fn sigterm_restores_the_terminal() {
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10"],
        ..Run::default()
    });
    wait_for_sessions(&t);
    // Leave a layer open: the terminal must be restored from anywhere.
    t.keys(&["?"]);
    t.wait_text("keys: PostgreSQL pane");
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "warroom uses the alternate screen"
    );
    let pid = t.warroom_pid();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let code = t.wait_exit();
    t.assert_terminal_restored();
    assert_eq!(code, 0, "SIGTERM is a clean shutdown");
}

#[test]
fn read_only_shows_actions_disabled() {
    let t = Tmux::start(Run {
        args: &["--read-only", "demo", "--speed", "10"],
        ..Run::default()
    });
    let screen = wait_for_sessions(&t);
    let first = screen.lines().next().unwrap_or("");
    assert!(first.contains("READ-ONLY"), "{first}");
    assert!(screen.contains("disabled (read-only)"), "{screen}");
    t.keys(&["L"]);
    t.wait_for("the root blocker in the lock view", |s| {
        s.contains("blocking tree") && s.contains("└ ")
    });
    t.keys(&["x"]);
    let refused = t.wait_text("--read-only");
    assert!(!refused.contains("reason required"), "{refused}");
    assert!(
        !t.path("state/warroom/demo-audit.jsonl").exists(),
        "a refused action wrote an audit record"
    );
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
    t.assert_terminal_restored();
}

/// Colour codes in a styled capture: 38/48 with 5 (256 colours) or 2 (RGB), or 30-37/40-47.
fn has_colour(styled: &str) -> bool {
    styled.split("\x1b[").skip(1).any(|seq| {
        let params = seq.split('m').next().unwrap_or("");
        params.split(';').any(|p| {
            matches!(p, "38" | "48")
                || p.parse::<u8>().is_ok_and(|n| {
                    (30..=37).contains(&n) || (40..=47).contains(&n) || (90..=107).contains(&n)
                })
        })
    })
}

#[test]
fn no_color_means_monochrome() {
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10"],
        env: &[("NO_COLOR", "1")],
        ..Run::default()
    });
    wait_for_sessions(&t);
    let styled = t.screen_styled();
    assert!(
        !has_colour(&styled),
        "colours despite NO_COLOR:\n{styled:?}"
    );
    // The active tab and the selected row are shown in reverse video instead.
    assert_eq!(t.active_tab(), "1 PostgreSQL");
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
}

/// "#rrggbb" as it appears in an SGR sequence: "r;g;b".
fn rgb(hex: &str) -> String {
    let n = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex");
    format!("{};{};{}", n(1), n(3), n(5))
}

#[test]
fn theme_flag_selects_the_light_theme() {
    let light_accent = rgb("#0969da");
    let default_accent = rgb("#88c0d0");
    let t = Tmux::start(Run {
        args: &["--theme", "light", "demo", "--speed", "10"],
        ..Run::default()
    });
    wait_for_sessions(&t);
    let styled = t.screen_styled();
    assert!(
        styled.contains(&light_accent),
        "no light accent:\n{styled:?}"
    );
    assert!(
        !styled.contains(&default_accent),
        "default accent:\n{styled:?}"
    );
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
}

const USER_THEME: &str = r##"
fg = "#d8dee9"
bg = "reset"
muted = "#7b8496"
accent = "#123456"
ok = "#a3be8c"
warn = "#ebcb8b"
danger = "#ff6b6b"
selection_fg = "#0b0e14"
selection_bg = "#654321"
border = "#4c566a"
header = "#e5e9f0"
"##;

#[test]
fn user_theme_from_the_config_dir_named_in_config_toml() {
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10"],
        config_files: &[
            ("themes/mine.toml", USER_THEME),
            ("config.toml", "theme = \"mine\"\n"),
        ],
        ..Run::default()
    });
    wait_for_sessions(&t);
    let styled = t.screen_styled();
    assert!(
        styled.contains(&rgb("#123456")),
        "no user accent:\n{styled:?}"
    );
    assert!(
        styled.contains(&rgb("#654321")),
        "no user selection:\n{styled:?}"
    );
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
}

#[test]
fn highlighted_reads_background_and_reverse() {
    let line = "\x1b[1m\x1b[38;2;1;2;3m warroom \x1b[0m\x1b[38;2;11;14;20m\x1b[48;2;136;192;208m 1 PostgreSQL \x1b[38;2;1;2;3m\x1b[49m 2 Kafka ";
    assert_eq!(highlighted(line).trim(), "1 PostgreSQL");
    assert_eq!(highlighted("a \x1b[7m b \x1b[27m c").trim(), "b");
    assert_eq!(
        highlighted("a \x1b[0;7m\x1b[39m\x1b[49m b \x1b[0m c").trim(),
        "b"
    );
    assert!(has_colour("\x1b[38;5;3mx"));
    assert!(!has_colour("\x1b[1m\x1b[7mx\x1b[0m"));
}

/// `--record FILE`: a valid asciicast v2 file, events in order, the action as markers, and the
/// screen content in the output events; then `audit timeline` tells the same story.
#[test]
fn record_the_session_and_print_the_timeline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cast = dir.path().join("session.cast");
    let cast_arg = cast.display().to_string();
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10", "--record", &cast_arg],
        ..Run::default()
    });
    wait_for_sessions(&t);
    t.keys(&["L"]);
    t.wait_for("the blocking tree", |s| s.contains("└ "));
    t.keys(&["x"]);
    t.wait_text("reason required");
    t.type_text("INC-5 recorded for training");
    t.keys(&["Enter"]);
    t.wait_text("confirm: this cannot be undone");
    t.keys(&["Tab", "Enter"]);
    t.wait_text("terminate backend 4242: done");
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);

    let text = std::fs::read_to_string(&cast).expect("the recording exists");
    let mut lines = text.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("header")).expect("header is JSON");
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(100), Some(30))
    );
    let events: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(l).expect("event is JSON"))
        .collect();
    let times: Vec<f64> = events
        .iter()
        .map(|e| e[0].as_f64().expect("time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "events out of order"
    );
    let output: String = events
        .iter()
        .filter(|e| e[1] == "o")
        .filter_map(|e| e[2].as_str())
        .collect();
    // The first frame is drawn whole; later ones only where cells changed.
    assert!(
        output.contains("1 PostgreSQL") && output.contains("waiting"),
        "the screen is in the output events"
    );
    assert!(events.iter().filter(|e| e[1] == "o").count() > 5);
    let markers: Vec<&str> = events
        .iter()
        .filter(|e| e[1] == "m")
        .filter_map(|e| e[2].as_str())
        .collect();
    assert!(
        markers
            .iter()
            .any(|m| m.starts_with("confirmed: terminate backend 4242") && m.contains("INC-5")),
        "{markers:?}"
    );
    assert!(
        markers
            .iter()
            .any(|m| m.starts_with("terminate backend 4242: done")),
        "{markers:?}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["audit", "timeline", "--file"])
        .arg(t.path("state").join("warroom/demo-audit.jsonl"))
        .output()
        .expect("run timeline");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        md.contains("pg.terminate pid=4242")
            && md.contains("INC-5 recorded for training")
            && md.contains("ok: pg_terminate_backend(4242) returned true"),
        "{md}"
    );
}

/// Issue 10 item 9: a paste (with a trailing newline) into the reason prompt never submits it:
/// warroom turns bracketed paste on, so the newline is part of the pasted text, not an Enter.
#[test]
fn a_paste_never_submits_the_reason_prompt() {
    let t = Tmux::start(Run {
        args: &["demo", "--speed", "10"],
        ..Run::default()
    });
    wait_for_sessions(&t);
    t.keys(&["x"]);
    t.wait_text("reason required");
    let out = t.tmux(&[
        "set-buffer",
        "-b",
        "pasted",
        "INC-4711 pasted from the incident doc\n",
    ]);
    assert!(out.status.success(), "set-buffer");
    let out = t.tmux(&["paste-buffer", "-p", "-b", "pasted", "-t", "main"]);
    assert!(out.status.success(), "paste-buffer");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let screen = t.screen();
    assert!(
        !screen.contains("confirm: this cannot be undone"),
        "the paste submitted the prompt:\n{screen}"
    );
    assert!(screen.contains("reason required"), "{screen}");
    assert!(
        !t.path("state/warroom/demo-audit.jsonl").exists(),
        "nothing may be recorded"
    );
    t.keys(&["Escape"]);
    // Esc and q read together would be alt-q: q only once the prompt is gone.
    t.wait_for("the prompt to close", |s| !s.contains("reason required"));
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0, "warroom exit status");
    t.assert_terminal_restored();
}
