//! Configuration, seen from the command line: every file in tests/fixtures/config/invalid/
//! fails `warroom config check` with the exact message in its sibling `.err` file (file, line,
//! column, field, message), every file in valid/ passes, the file is found where the README
//! says, user themes load from the config directory, and shell completions print.
//!
//! Adding a fixture adds a case: drop `name.toml` and `name.err` into invalid/. To write the
//! `.err` files from the current messages, run with `WARROOM_BLESS=1` and review `git diff`.
//!
//! The binary runs with a cleared environment (HOME and XDG dirs in a temp dir), so neither the
//! user's files nor PG* variables change the messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// A clean environment: an empty HOME and XDG dirs under a temp dir.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        for d in ["home", "config", "state"] {
            std::fs::create_dir_all(env.path(d)).expect("mkdir");
        }
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    /// `warroom ARGS` in `cwd` with only HOME, XDG_STATE_HOME and `vars` set.
    fn run(&self, cwd: &Path, args: &[&str], vars: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warroom"));
        cmd.current_dir(cwd)
            .args(args)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("XDG_STATE_HOME", self.path("state"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("run warroom")
    }

    /// `config check` with XDG_CONFIG_HOME set to the temp config dir.
    fn check(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["config", "check"]);
        let config = self.path("config");
        self.run(self.dir.path(), &all, &[("XDG_CONFIG_HOME", &config)])
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_with(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(&format!(".{ext}")))
        .collect();
    names.sort();
    names
}

#[test]
fn every_invalid_config_fails_with_its_expected_message() {
    let dir = fixtures().join("invalid");
    let bless = std::env::var_os("WARROOM_BLESS").is_some();
    let env = Env::new();
    let tomls = files_with(&dir, "toml");
    assert!(tomls.len() >= 16, "fixtures went missing: {tomls:?}");
    for err in files_with(&dir, "err") {
        let toml = err.replace(".err", ".toml");
        assert!(tomls.contains(&toml), "{err} has no {toml}");
    }
    let mut failures = Vec::new();
    for name in &tomls {
        // Relative to the fixture directory, so the message names just the file.
        let out = env.run(&dir, &["--config", name, "config", "check"], &[]);
        let got = stderr(&out)
            .trim_end()
            .strip_prefix("warroom: ")
            .unwrap_or(&stderr(&out))
            .to_string();
        let err_path = dir.join(name.replace(".toml", ".err"));
        if bless {
            std::fs::write(&err_path, format!("{got}\n")).expect("write .err");
            continue;
        }
        if out.status.success() {
            failures.push(format!("{name}: accepted\n{}", stdout(&out)));
            continue;
        }
        let Ok(want) = std::fs::read_to_string(&err_path) else {
            failures.push(format!("{name}: no {}; got: {got}", err_path.display()));
            continue;
        };
        if got != want.trim_end() {
            failures.push(format!(
                "{name}:\n  want: {}\n  got:  {got}",
                want.trim_end()
            ));
        }
        // Every message names the file, a line and a column.
        if !got.starts_with(&format!("{name}:")) || got.split(':').nth(2).is_none() {
            failures.push(format!("{name}: no file:line:column in {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ (WARROOM_BLESS=1 rewrites the .err files):\n{}",
        failures.len(),
        tomls.len(),
        failures.join("\n")
    );
}

#[test]
fn every_valid_config_passes_check() {
    let dir = fixtures().join("valid");
    let env = Env::new();
    let tomls = files_with(&dir, "toml");
    assert!(!tomls.is_empty());
    for name in tomls {
        let out = env.run(&dir, &["--config", &name, "config", "check"], &[]);
        assert!(
            out.status.success(),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).trim_end().ends_with("ok"), "{}", stdout(&out));
    }
}

#[test]
fn config_check_redacts_secrets_and_shows_contexts() {
    let env = Env::new();
    let full = fixtures().join("valid/full.toml");
    let out = env.check(&["--config", full.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(!text.contains("s3cret"), "password shown:\n{text}");
    assert!(
        text.contains("postgres://monitor:***@db1.internal"),
        "{text}"
    );
    assert!(
        text.contains("prod-main") && text.contains("staging"),
        "{text}"
    );
    assert!(
        text.contains("protected") && text.contains("read-only"),
        "{text}"
    );
    assert!(
        text.contains("$STAGING_PG_PASSWORD (NOT SET)"),
        "the missing password variable is not reported:\n{text}"
    );
}

fn context_file(name: &str) -> String {
    format!("[[postgres]]\nname = \"{name}\"\nurl = \"postgres://monitor@db1:5432/app\"\n")
}

/// --config, else $WARROOM_CONFIG, else $XDG_CONFIG_HOME/warroom/config.toml, else
/// ~/.config/warroom/config.toml, else defaults.
#[test]
fn the_config_file_is_searched_in_the_documented_order() {
    let env = Env::new();
    let flag = env.write("flag.toml", &context_file("from-flag"));
    let from_env = env.write("env.toml", &context_file("from-env"));
    let xdg = env.write("config/warroom/config.toml", &context_file("from-xdg"));
    let home = env.write(
        "home/.config/warroom/config.toml",
        &context_file("from-home"),
    );
    let xdg_dir = env.path("config");
    let cwd = env.dir.path();
    let check = |args: &[&str], vars: &[(&str, &Path)], want_file: &Path, want_ctx: &str| {
        let mut all = args.to_vec();
        all.extend(["config", "check"]);
        let out = env.run(cwd, &all, vars);
        let text = stdout(&out);
        assert!(out.status.success(), "{all:?}: {text}{}", stderr(&out));
        assert!(
            text.contains(&format!("config: {}", want_file.display())),
            "{all:?} {vars:?}: wrong file\n{text}"
        );
        assert!(text.contains(want_ctx), "{text}");
    };
    let flag_arg = flag.to_str().expect("utf-8 path");
    let all_vars: [(&str, &Path); 2] =
        [("WARROOM_CONFIG", &from_env), ("XDG_CONFIG_HOME", &xdg_dir)];
    check(&["--config", flag_arg], &all_vars, &flag, "from-flag");
    check(&[], &all_vars, &from_env, "from-env");
    check(&[], &[("XDG_CONFIG_HOME", &xdg_dir)], &xdg, "from-xdg");
    // An empty WARROOM_CONFIG counts as unset.
    let empty = Path::new("");
    check(
        &[],
        &[("WARROOM_CONFIG", empty), ("XDG_CONFIG_HOME", &xdg_dir)],
        &xdg,
        "from-xdg",
    );
    check(&[], &[], &home, "from-home");

    // No file anywhere: the defaults.
    std::fs::remove_file(&home).expect("rm");
    let out = env.run(cwd, &["config", "check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("config: (no file: defaults)"),
        "{}",
        stdout(&out)
    );

    // A file named explicitly must exist.
    let missing = env.path("missing.toml");
    let out = env.run(
        cwd,
        &[
            "--config",
            missing.to_str().expect("utf-8"),
            "config",
            "check",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "{}:1:1: (file): cannot read the file",
            missing.display()
        )),
        "{}",
        stderr(&out)
    );
    let out = env.run(cwd, &["config", "check"], &[("WARROOM_CONFIG", &missing)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read the file"),
        "{}",
        stderr(&out)
    );
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
fn user_themes_come_from_the_config_dir() {
    let env = Env::new();
    env.write("config/warroom/themes/mine.toml", USER_THEME);
    env.write(
        "config/warroom/themes/broken.toml",
        &USER_THEME.replace("#123456", "blurple"),
    );
    // By flag and by the config file.
    let out = env.check(&["--theme", "mine"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.write("config/warroom/config.toml", "theme = \"mine\"\n");
    let out = env.check(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("theme: mine"), "{}", stdout(&out));
    // The shipped themes work from any directory.
    for name in ["default", "light", "high-contrast"] {
        let out = env.check(&["--theme", name]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
    // An unknown theme lists the user's themes too.
    let out = env.check(&["--theme", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown theme \"nope\"; available: default, light, high-contrast"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("mine"), "{}", stderr(&out));
    // A broken theme names its file and the field.
    let out = env.check(&["--theme", "broken"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("broken.toml") && err.contains("accent"),
        "{err}"
    );
}

#[test]
fn completions_for_bash_mention_the_subcommands() {
    let env = Env::new();
    let out = env.run(env.dir.path(), &["completions", "bash"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.len() > 1000, "short completion script:\n{text}");
    for word in [
        "demo",
        "completions",
        "config",
        "check",
        "--read-only",
        "--theme",
    ] {
        assert!(text.contains(word), "completions lack {word}");
    }
    let out = env.run(env.dir.path(), &["completions", "nosuchshell"], &[]);
    assert!(!out.status.success());
}
