//! `warroom audit timeline` against fixtures: markdown and JSON, and the --since window.

use std::process::Command;

const FIXTURE: &str = "tests/fixtures/audit/timeline.jsonl";

fn timeline(args: &[&str]) -> String {
    let state = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["audit", "timeline", "--file", FIXTURE])
        .args(args)
        .env("XDG_STATE_HOME", state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .output()
        .expect("run warroom");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn markdown_matches_the_fixture() {
    let expected = std::fs::read_to_string("tests/fixtures/audit/timeline.md").expect("fixture");
    assert_eq!(timeline(&[]), expected);
}

#[test]
fn json_matches_the_fixture_and_pairs_outcomes_with_intents() {
    let expected = std::fs::read_to_string("tests/fixtures/audit/timeline.json").expect("fixture");
    let got = timeline(&["-o", "json"]);
    assert_eq!(got, expected);
    let v: serde_json::Value = serde_json::from_str(&got).expect("json");
    let entries = v.as_array().expect("array");
    assert_eq!(entries.len(), 3, "one entry per intent");
    assert!(
        entries[0]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("ok:"))
    );
    assert!(
        entries[1]["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("failed:"))
    );
    assert_eq!(entries[2]["outcome"], "no outcome recorded");
    // The escape sequence in the fixture's reason never reaches the output.
    assert!(!got.contains('\u{1b}'));
}

#[test]
fn since_keeps_only_recent_actions() {
    // The fixture's records are older than one second.
    let md = timeline(&["--since", "1s"]);
    assert_eq!(md.lines().count(), 2, "header only: {md}");
    let all = timeline(&["--since", "3650d"]);
    assert_eq!(all.lines().count(), 5);
}
