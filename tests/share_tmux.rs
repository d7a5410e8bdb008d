//! The real binary, shared and shadowed in real terminals: `warroom demo --share` runs in one
//! tmux server connected to replica A, `warroom shadow ID` in another connected to replica B
//! (a smaller terminal: the view is cropped with a note). The watcher's screen shows the
//! sharer's pane; the sharer's status bar names the watcher; `q` leaves.

#[path = "support/pg.rs"]
mod pg;
#[path = "support/warroom_server.rs"]
mod warroom_server;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pg::PgServer;
use warroom_server::{ALICE_TOKEN, BOB_TOKEN, ServerProcess, config_text, free_port};

const INSTALL_HINT: &str = "install tmux (apt-get install -y tmux) or run scripts/test";
const WAIT: Duration = Duration::from_secs(30);

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One tmux server running one command in a `width` x `height` terminal; killed on drop.
struct Term {
    socket: String,
    dir: tempfile::TempDir,
}

impl Term {
    fn start(name: &str, width: u16, height: u16, env: &[(&str, String)], args: &[&str]) -> Term {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!("tmux not found: {INSTALL_HINT}"),
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let t = Term {
            socket: format!("warroom-share-{}-{name}", std::process::id()),
            dir,
        };
        for sub in ["state", "config", "home"] {
            std::fs::create_dir_all(t.path(sub)).expect("mkdir");
        }
        let mut vars = vec![
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
        vars.extend(env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v))));
        let args: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        let script = format!(
            "cd {dir}\nenv -u WARROOM_CONFIG -u NO_COLOR -u TMUX {vars} {bin} {args} 2> stderr\n\
             echo $? > exit.tmp && mv exit.tmp exit\nexec sleep 600\n",
            dir = shell_quote(&t.dir.path().display().to_string()),
            vars = vars.join(" "),
            bin = shell_quote(env!("CARGO_BIN_EXE_warroom")),
            args = args.join(" "),
        );
        let script_path = t.path("run.sh");
        std::fs::write(&script_path, script).expect("write script");
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
        t
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}): {INSTALL_HINT}"))
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            let stderr = std::fs::read_to_string(self.path("stderr")).unwrap_or_default();
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {what}; the screen:\n{screen}\nstderr: {stderr}\nexit: {:?}",
                self.exit_code()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn exit_code(&self) -> Option<String> {
        std::fs::read_to_string(self.path("exit"))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn client_config(dir: &std::path::Path, url: &str) -> PathBuf {
    let path = dir.join("client.toml");
    std::fs::write(
        &path,
        format!("[server]\nurl = \"{url}\"\ntoken_env = \"WARROOM_SHARE_TOKEN\"\n"),
    )
    .expect("write client config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_demo_is_shadowed_in_another_terminal_through_another_replica() {
    let pg = PgServer::start();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let (pa, pb) = (free_port(), free_port());
    let a = ServerProcess::start(pa, &config_text(pa, &db, "")).await;
    let b = ServerProcess::start(pb, &config_text(pb, &db, "")).await;
    let configs = tempfile::tempdir().expect("tempdir");
    let config_a = client_config(configs.path(), &a.url());
    let config_b_dir = tempfile::tempdir().expect("tempdir");
    let config_b = client_config(config_b_dir.path(), &b.url());

    let sharer = Term::start(
        "sharer",
        100,
        30,
        &[("WARROOM_SHARE_TOKEN", ALICE_TOKEN.to_string())],
        &[
            "--config",
            &config_a.display().to_string(),
            "demo",
            "--share",
        ],
    );
    sharer.wait_for("the sharer's status", |s| {
        s.contains("shared: nobody watching")
    });

    // `warroom sessions -o json` on replica B lists it.
    let deadline = Instant::now() + WAIT;
    let id = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args([
                "--config",
                &config_b.display().to_string(),
                "sessions",
                "-o",
                "json",
            ])
            .env("WARROOM_SHARE_TOKEN", BOB_TOKEN)
            .env_remove("WARROOM_CONFIG")
            .output()
            .expect("warroom sessions");
        assert!(
            out.status.success(),
            "sessions: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        if let Some(s) = list.as_array().and_then(|a| a.first()) {
            assert_eq!(s["owner"], "alice@example.com");
            break s["id"].as_str().expect("id").to_string();
        }
        assert!(Instant::now() < deadline, "never listed: {list}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let table = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--config", &config_b.display().to_string(), "sessions"])
        .env("WARROOM_SHARE_TOKEN", BOB_TOKEN)
        .env_remove("WARROOM_CONFIG")
        .output()
        .expect("warroom sessions");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.starts_with("ID") && table.contains(&id), "{table}");

    // A smaller terminal: cropped, with a note; the sharer's pane content is on it.
    let watcher = Term::start(
        "watcher",
        80,
        24,
        &[("WARROOM_SHARE_TOKEN", BOB_TOKEN.to_string())],
        &["--config", &config_b.display().to_string(), "shadow", &id],
    );
    let sharer_screen = sharer.screen();
    // A line of the sharer's pane that fits the watcher's width, looked for on its screen.
    let probe: String = sharer_screen
        .lines()
        .nth(2)
        .expect("a pane line")
        .chars()
        .take(60)
        .collect::<String>()
        .trim_end()
        .to_string();
    assert!(probe.len() > 10, "probe {probe:?} from:\n{sharer_screen}");
    let seen = watcher.wait_for("the sharer's pane on the watcher", |s| {
        s.contains(&probe) && s.contains("cropped")
    });
    assert!(seen.contains("shadowing alice@example.com"), "{seen}");
    assert!(seen.contains("cropped: 100x30 shown in 80x23"), "{seen}");
    sharer.wait_for("the watcher named on the sharer's status bar", |s| {
        s.lines()
            .next()
            .unwrap_or("")
            .contains("shared: watched by bob")
    });

    // q leaves.
    let _ = watcher.tmux(&["send-keys", "-t", "main", "q"]);
    let start = Instant::now();
    while watcher.exit_code().is_none() {
        assert!(
            start.elapsed() < WAIT,
            "q did not leave:\n{}",
            watcher.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(watcher.exit_code().as_deref(), Some("0"));
    sharer.wait_for("nobody watching again", |s| {
        s.lines()
            .next()
            .unwrap_or("")
            .contains("shared: nobody watching")
    });
    drop((a, b));
}

/// `[server] share = true` in the configuration shares without `--share`: the status bar says
/// so and the session is listed on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_true_in_the_config_shares_without_the_flag() {
    let pg = PgServer::start();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let port = free_port();
    let server = ServerProcess::start(port, &config_text(port, &db, "")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nurl = \"{}\"\ntoken_env = \"WARROOM_SHARE_TOKEN\"\nshare = true\n",
            server.url()
        ),
    )
    .expect("write client config");
    let sharer = Term::start(
        "configured",
        100,
        30,
        &[("WARROOM_SHARE_TOKEN", ALICE_TOKEN.to_string())],
        &["--config", &config.display().to_string(), "demo"],
    );
    sharer.wait_for("the sharer's status", |s| {
        s.contains("shared: nobody watching")
    });
    let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args([
            "--config",
            &config.display().to_string(),
            "sessions",
            "-o",
            "json",
        ])
        .env("WARROOM_SHARE_TOKEN", BOB_TOKEN)
        .env_remove("WARROOM_CONFIG")
        .output()
        .expect("warroom sessions");
    assert!(
        out.status.success(),
        "sessions: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let shares = list.as_array().expect("array");
    assert_eq!(shares.len(), 1, "{list}");
    assert_eq!(shares[0]["owner"], "alice@example.com");
    drop(server);
}
