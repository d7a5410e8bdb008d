//! The real binary, shared and shadowed in real terminals: `warroom demo --share` runs in one
//! tmux server connected to replica A, `warroom shadow ID` in another connected to replica B
//! (a smaller terminal: the view is cropped with a note). The watcher's screen shows the
//! sharer's pane; the sharer's status bar names the watcher; `q` leaves.

use warroom_testkit::pg;
use warroom_testkit::server_process;

use warroom_testkit::tmux;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pg::PgServer;
use server_process::{ALICE_TOKEN, BOB_TOKEN, ServerProcess, config_text, free_port};
use tmux::{Run, Tmux, WAIT};

/// warroom with `args` and the token `token` in a `width` x `height` terminal.
fn term(width: u16, height: u16, token: &str, args: &[&str]) -> Tmux {
    Tmux::start(Run {
        args,
        env: &[("WARROOM_SHARE_TOKEN", token)],
        size: Some((width, height)),
        stderr_to_file: true,
        ..Run::default()
    })
}

fn client_config(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("client.toml");
    std::fs::write(
        &path,
        format!("[server]\nurl = \"{url}\"\ntoken_env = \"WARROOM_SHARE_TOKEN\"\n"),
    )
    .expect("write client config");
    path
}

/// `warroom --config CONFIG sessions ARGS` as bob: its output (it must succeed).
fn sessions(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["--config", &config.display().to_string(), "sessions"])
        .args(args)
        .env("WARROOM_SHARE_TOKEN", BOB_TOKEN)
        .env_remove("WARROOM_CONFIG")
        .output()
        .expect("warroom sessions");
    assert!(
        out.status.success(),
        "sessions: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shared sessions the server of `config` lists (`sessions -o json`).
fn sessions_json(config: &Path) -> serde_json::Value {
    serde_json::from_str(&sessions(config, &["-o", "json"])).expect("json")
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

    let sharer = term(
        100,
        30,
        ALICE_TOKEN,
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
        let list = sessions_json(&config_b);
        if let Some(s) = list.as_array().and_then(|a| a.first()) {
            assert_eq!(s["owner"], "alice@example.com");
            break s["id"].as_str().expect("id").to_string();
        }
        assert!(Instant::now() < deadline, "never listed: {list}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let table = sessions(&config_b, &[]);
    assert!(table.starts_with("ID") && table.contains(&id), "{table}");

    // A smaller terminal: cropped, with a note; the sharer's pane content is on it.
    let watcher = term(
        80,
        24,
        BOB_TOKEN,
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
    watcher.keys(&["q"]);
    assert_eq!(watcher.wait_exit(), 0, "q leaves with success");
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
    let sharer = term(
        100,
        30,
        ALICE_TOKEN,
        &["--config", &config.display().to_string(), "demo"],
    );
    sharer.wait_for("the sharer's status", |s| {
        s.contains("shared: nobody watching")
    });
    let list = sessions_json(&config);
    let shares = list.as_array().expect("array");
    assert_eq!(shares.len(), 1, "{list}");
    assert_eq!(shares[0]["owner"], "alice@example.com");
    drop(server);
}
