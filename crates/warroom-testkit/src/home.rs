//! A temp home for runs of the real `warroom` binary: its config file, state and config
//! dirs, tracing log and audit file. The binary runs off the async threads, so the servers a
//! test started (audit receiver, `warroom server`) keep answering meanwhile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Home {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Default for Home {
    fn default() -> Home {
        Home::new()
    }
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("tempdir"),
            env: Vec::new(),
        }
    }

    /// Set `key` in the binary's environment (e.g. a token the config names).
    pub fn with_env(mut self, key: &str, value: &str) -> Home {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    pub fn audit_file(&self) -> PathBuf {
        self.path().join("audit/audit.jsonl")
    }

    pub fn set_config(&self, text: &str) {
        std::fs::write(self.config(), text).expect("write config");
    }

    /// The real binary with this home's config; nothing of the caller's PostgreSQL or
    /// warroom environment leaks in.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::warroom_bin());
        cmd.arg("--config")
            .arg(self.config())
            .arg("--log-file")
            .arg(self.path().join("warroom.log"))
            .args(args)
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("WARROOM_CONFIG");
        for var in [
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGSSLMODE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs the binary off the async threads, so the test's servers keep answering.
    pub async fn warroom(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run the warroom binary");
        eprintln!(
            "warroom {args:?} -> {:?}\n--- stdout\n{}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs the binary on this thread (tests whose servers run elsewhere).
    pub fn warroom_blocking(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run the warroom binary")
    }

    /// The audit file's records (none when it does not exist).
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_file())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    /// The audit file's lines; it must exist.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.audit_file())
            .expect("read the audit file")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The run's stdout; it must have succeeded (else both outputs, for `what`).
pub fn succeed(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// `XDG_STATE_HOME` of this test process, for the tests that run the demo in-process (its
/// audit file, saved logs and approvals desk live there). The environment is the process's:
/// one such test at a time holds the guard, and the variable points at its own directory.
pub struct StateHome {
    _turn: std::sync::MutexGuard<'static, ()>,
}

static STATE_HOME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl StateHome {
    pub fn set(dir: &Path) -> StateHome {
        // A test that failed while holding it poisons nothing the next one relies on.
        let turn = STATE_HOME.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the tests that change it hold the lock; std serializes its own reads and
        // writes of the environment, and these tests call no C code that reads it.
        unsafe { std::env::set_var("XDG_STATE_HOME", dir) };
        StateHome { _turn: turn }
    }
}
