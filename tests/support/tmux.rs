//! The real binary in a real terminal: warroom runs in a detached tmux session, a test types
//! keys with `tmux send-keys` and reads the screen with `tmux capture-pane`.
//!
//! Each `Tmux` is its own tmux server (`tmux -L <unique socket>`), killed on drop, with its own
//! XDG_STATE_HOME / XDG_CONFIG_HOME / HOME in a temp dir. After warroom exits, the pane's shell
//! records the exit status and `stty -a` (raw mode must be off) and stays alive, so the test
//! can still read the screen and ask tmux whether the alternate screen is off.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str = "install tmux (apt-get install -y tmux) or run scripts/test";
/// The terminal size unless a `Run` says otherwise.
pub const WIDTH: u16 = 100;
pub const HEIGHT: u16 = 30;
pub const WAIT: Duration = Duration::from_secs(30);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// How to start warroom.
#[derive(Default)]
pub struct Run<'a> {
    pub args: &'a [&'a str],
    pub env: &'a [(&'a str, &'a str)],
    /// Files to create under the temp XDG_CONFIG_HOME/warroom/ before starting.
    pub config_files: &'a [(&'a str, &'a str)],
    /// Columns and rows of the terminal; `WIDTH` x `HEIGHT` when not given.
    pub size: Option<(u16, u16)>,
    /// warroom's stderr goes to the file `stderr` (quoted when a wait times out) instead of
    /// the screen.
    pub stderr_to_file: bool,
}

/// A tmux server with one session running warroom. Dropping it kills the server.
pub struct Tmux {
    socket: String,
    /// The server's socket file: kill-server leaves it behind.
    socket_path: Option<PathBuf>,
    dir: tempfile::TempDir,
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Tmux {
    pub fn start(run: Run<'_>) -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!("tmux not found: {INSTALL_HINT}"),
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = format!(
            "warroom-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut t = Tmux {
            socket,
            socket_path: None,
            dir,
        };
        for sub in ["state", "config/warroom", "home"] {
            std::fs::create_dir_all(t.path(sub)).expect("mkdir");
        }
        for (name, text) in run.config_files {
            let p = t.path("config/warroom").join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write config file");
        }
        let mut env = vec![
            format!(
                "XDG_STATE_HOME={}",
                shell_quote(&t.path("state").display().to_string())
            ),
            format!(
                "XDG_CONFIG_HOME={}",
                shell_quote(&t.path("config").display().to_string())
            ),
            format!(
                "HOME={}",
                shell_quote(&t.path("home").display().to_string())
            ),
        ];
        env.extend(
            run.env
                .iter()
                .map(|(k, v)| format!("{k}={}", shell_quote(v))),
        );
        let args: Vec<String> = run.args.iter().map(|a| shell_quote(a)).collect();
        let script = format!(
            "cd {dir}\n\
             env -u WARROOM_CONFIG -u NO_COLOR -u TMUX {env} {bin} {args}{stderr}\n\
             echo $? > exit.tmp && mv exit.tmp exit\n\
             stty -a > stty 2>&1\n\
             exec sleep 600\n",
            dir = shell_quote(&t.dir.path().display().to_string()),
            env = env.join(" "),
            bin = shell_quote(env!("CARGO_BIN_EXE_warroom")),
            args = args.join(" "),
            stderr = if run.stderr_to_file { " 2> stderr" } else { "" },
        );
        let script_path = t.path("run.sh");
        std::fs::write(&script_path, script).expect("write script");
        let (width, height) = run.size.unwrap_or((WIDTH, HEIGHT));
        let out = t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &format!("sh {}", shell_quote(&script_path.display().to_string())),
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.socket_path = Some(PathBuf::from(t.display("#{socket_path}")));
        t
    }

    /// A path in this terminal's temp dir (`state`, `config/warroom`, `home`, `exit`, ...).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}): {INSTALL_HINT}"))
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with colours and attributes as escape sequences.
    pub fn screen_styled(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-e", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Named keys (`Enter`, `Escape`, `Tab`) or single characters.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.tmux(&["send-keys", "-t", "main", k]);
            assert!(out.status.success(), "send-keys {k}");
        }
    }

    /// Text typed as is.
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "main", "-l", text]);
        assert!(out.status.success(), "send-keys -l {text}");
    }

    pub fn display(&self, format: &str) -> String {
        let out = self.tmux(&["display", "-p", "-t", "main", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until the screen satisfies `ok`; fail with the last screen (and warroom's stderr
    /// and exit status, when there are).
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                let stderr = std::fs::read_to_string(self.path("stderr")).unwrap_or_default();
                panic!(
                    "timed out waiting for {what}; the screen:\n{screen}\nstderr: {stderr}\nexit: {:?}",
                    self.exit_code()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(&format!("{text:?}"), |s| s.contains(text))
    }

    /// The exit status warroom returned, if it exited.
    pub fn exit_code(&self) -> Option<String> {
        std::fs::read_to_string(self.path("exit"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The exit status warroom returned, once it exited.
    pub fn wait_exit(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(code) = self.exit_code() {
                return code.parse().expect("exit status");
            }
            if start.elapsed() > WAIT {
                panic!("warroom did not exit; the screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}
