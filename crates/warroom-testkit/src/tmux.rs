//! The real binary in a real terminal: warroom runs in a detached tmux session, a test types
//! keys with `tmux send-keys` and reads the screen with `tmux capture-pane`.
//!
//! Each `Tmux` is its own tmux server (`tmux -L <unique socket>`), killed on drop, with its own
//! XDG_STATE_HOME / XDG_CONFIG_HOME / HOME in a temp dir. After warroom exits, the pane's shell
//! records the exit status and `stty -a` (raw mode must be off) and stays alive, so the test
//! can still read the screen and ask tmux whether the alternate screen is off.

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
            bin = shell_quote(&crate::warroom_bin().display().to_string()),
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

/// What the terminal tests ask beyond keys and the screen.
impl Tmux {
    /// The highlighted tab, read from the styled first line.
    pub fn active_tab(&self) -> String {
        highlighted(self.screen_styled().lines().next().unwrap_or(""))
            .trim()
            .to_string()
    }

    pub fn wait_tab(&self, title: &str) {
        let start = Instant::now();
        loop {
            let tab = self.active_tab();
            if tab.ends_with(title) {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "the active tab is {tab:?}, not {title:?}; the screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The warroom process: the child of the pane's shell.
    pub fn warroom_pid(&self) -> i32 {
        let shell: i32 = self.display("#{pane_pid}").parse().expect("pane pid");
        let start = Instant::now();
        loop {
            if let Some(pid) = child_of(shell) {
                return pid;
            }
            if start.elapsed() > WAIT {
                panic!("no child process of the pane shell {shell}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After warroom exited: the terminal is the way it was.
    pub fn assert_terminal_restored(&self) {
        // The shell wrote `stty -a` after warroom: give it a moment.
        let stty_path = self.path("stty");
        let start = Instant::now();
        while !stty_path.exists() && start.elapsed() < WAIT {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            self.display("#{alternate_on}"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.display("#{cursor_flag}"), "1", "the cursor is hidden");
        let stty = std::fs::read_to_string(&stty_path).expect("stty output");
        let words: Vec<&str> = stty.split_whitespace().collect();
        for flag in ["icanon", "echo", "isig"] {
            assert!(
                words.contains(&flag),
                "raw mode left on ({flag} missing):\n{stty}"
            );
        }
    }

    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let path = self.path("state/warroom/demo-audit.jsonl");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no demo audit file {}: {e}", path.display()));
        text.lines()
            .map(|l| serde_json::from_str(l).expect("audit record is JSON"))
            .collect()
    }
}

/// The child of `parent`, from /proc.
fn child_of(parent: i32) -> Option<i32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// Text drawn with a background colour or in reverse video, from a line with SGR sequences.
pub fn highlighted(line: &str) -> String {
    let mut out = String::new();
    let (mut reverse, mut background) = (false, false);
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\x1b[") {
            let end = after.find('m').unwrap_or(after.len());
            let params: Vec<&str> = after[..end].split(';').collect();
            let mut i = 0;
            while i < params.len() {
                match params[i] {
                    "" | "0" => (reverse, background) = (false, false),
                    "7" => reverse = true,
                    "27" => reverse = false,
                    "49" => background = false,
                    "48" => {
                        background = true;
                        // 48;5;n or 48;2;r;g;b
                        i += if params.get(i + 1) == Some(&"5") {
                            2
                        } else {
                            4
                        };
                    }
                    "38" => {
                        i += if params.get(i + 1) == Some(&"5") {
                            2
                        } else {
                            4
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let mut chars = rest.chars();
            let c = chars.next().unwrap_or_default();
            if reverse || background {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out
}
