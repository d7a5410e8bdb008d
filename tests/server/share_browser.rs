//! The watch page in a real headless Chromium: `GET /watch/{id}?link=...` plays the live share
//! with the embedded asciinema-player over server-sent events. Text the sharer draws shows on
//! the page within 2 s; without a valid link the page is refused.

use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pg::PgServer;
use server_process::{ALICE_TOKEN, Api, BOB_TOKEN, ServerProcess};
use warroom_client::ServerClient;
use warroom_client::share::{self, ShareStart};

const INSTALL_HINT: &str = "install Chromium (apt-get install -y chromium) or run scripts/test";

fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name;
        }
    }
    panic!("Chromium not found: {INSTALL_HINT}");
}

/// The DOM of a page that finishes loading (used for refused pages: no stream is opened).
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("tempdir");
    let out = Command::new(chromium())
        .args(CHROMIUM_ARGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
];

/// Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// JSON messages ended by NUL on fds 3 and 4, here two FIFOs), to read the live page's text.
struct Browser {
    child: std::process::Child,
    to: std::fs::File,
    from: std::io::BufReader<std::fs::File>,
    next_id: u64,
    session: Option<String>,
    _dir: tempfile::TempDir,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cmd_in, cmd_out) = (dir.path().join("in"), dir.path().join("out"));
        for fifo in [&cmd_in, &cmd_out] {
            let ok = Command::new("mkfifo")
                .arg(fifo)
                .status()
                .expect("mkfifo (coreutils)");
            assert!(ok.success());
        }
        let profile = dir.path().join("profile");
        let script = format!(
            "exec {} {} --user-data-dir='{}' --remote-debugging-pipe '{}' 3<'{}' 4>'{}' 2>/dev/null",
            chromium(),
            CHROMIUM_ARGS.join(" "),
            profile.display(),
            url,
            cmd_in.display(),
            cmd_out.display(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .spawn()
            .expect("start chromium");
        let to = std::fs::OpenOptions::new()
            .write(true)
            .open(&cmd_in)
            .expect("open the command pipe");
        let from = std::io::BufReader::new(std::fs::File::open(&cmd_out).expect("event pipe"));
        let mut browser = Browser {
            child,
            to,
            from,
            next_id: 1,
            session: None,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let target = loop {
            let targets = browser.call("Target.getTargets", serde_json::json!({}));
            let page = targets["targetInfos"]
                .as_array()
                .and_then(|a| a.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["targetId"].as_str())
                .map(str::to_string);
            if let Some(id) = page {
                break id;
            }
            assert!(Instant::now() < deadline, "no page target: {targets}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = browser.call(
            "Target.attachToTarget",
            serde_json::json!({"targetId": target, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().map(str::to_string);
        assert!(browser.session.is_some(), "{attached}");
        browser
    }

    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::{BufRead, Write};
        let id = self.next_id;
        self.next_id += 1;
        let mut message = serde_json::json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            message["sessionId"] = serde_json::Value::String(s.clone());
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let mut buf = Vec::new();
            let n = self
                .from
                .read_until(0, &mut buf)
                .expect("read from chromium");
            assert!(n > 0, "chromium closed the pipe");
            buf.pop();
            let answer: serde_json::Value = serde_json::from_slice(&buf).expect("CDP JSON");
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// The page's visible text now.
    fn text(&mut self) -> String {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({
                "expression": "document.body ? document.body.innerText : ''",
                "returnByValue": true,
            }),
        );
        r["result"]["value"].as_str().unwrap_or("").to_string()
    }

    /// Polls the page's text until it contains `text`; how long that took, or the last text.
    fn wait_text(&mut self, text: &str, limit: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            let now = self.text();
            if now.contains(text) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                return Err(now);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_browser_page_shows_what_the_sharer_draws_within_two_seconds() {
    unsafe {
        std::env::set_var("WARROOM_BROWSER_TEST_ALICE", ALICE_TOKEN);
        std::env::set_var("WARROOM_BROWSER_TEST_BOB", BOB_TOKEN);
    }
    let pg = PgServer::start();
    let db = format!("{}?sslmode=disable", pg.url("postgres", "postgres"));
    let server = ServerProcess::start_replica(&db, "").await;
    let client = ServerClient::new(&server.url(), Some("WARROOM_BROWSER_TEST_ALICE")).expect("c");
    let sharing = share::start(
        client,
        ShareStart {
            id: "sess-browser".into(),
            actor: "alice".into(),
            contexts: vec!["prod-main".into()],
            width: 60,
            height: 8,
            watchers: None,
        },
    );
    // The sharer's terminal: a title drawn in keyframes, a line that changes on cue.
    let line = Arc::new(std::sync::Mutex::new(String::from("waiting")));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (feed, line, stop) = (sharing.feed.clone(), Arc::clone(&line), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let current = line.lock().expect("line").clone();
                let bytes = if feed.take_keyframe_request() {
                    feed.begin_keyframe();
                    format!("\x1b[2J\x1b[1;1HPostgreSQL pid 4242 blocks 7\x1b[3;1H{current}\x1b[K")
                } else {
                    format!("\x1b[3;1H{current}\x1b[K")
                };
                feed.output(bytes.as_bytes());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    let bob = ServerClient::new(&server.url(), Some("WARROOM_BROWSER_TEST_BOB")).expect("c");
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = loop {
        match bob.watch_link("sess-browser").await {
            Ok(url) if bob.shares().await.is_ok_and(|s| !s.is_empty()) => break url,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the share never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The page joins late: the current screen (keyframe) at once; then text drawn while it
    // watches shows within 2 s.
    let line2 = Arc::clone(&line);
    let page_url = url.clone();
    let (joined, late) = tokio::task::spawn_blocking(move || {
        let mut browser = Browser::open(&page_url);
        let joined = browser
            .wait_text("PostgreSQL pid 4242 blocks 7", Duration::from_secs(20))
            .unwrap_or_else(|text| panic!("the keyframe is not on the page:\n{text}"));
        let who = browser.text();
        assert!(who.contains("watching as bob@example.com"), "{who}");
        let mut late = Duration::ZERO;
        for i in 0..3 {
            let mark = format!("INC-42 drawn live {i}");
            *line2.lock().expect("line") = mark.clone();
            let took = browser
                .wait_text(&mark, Duration::from_secs(10))
                .unwrap_or_else(|text| panic!("{mark} is not on the page:\n{text}"));
            late = late.max(took);
        }
        (joined, late)
    })
    .await
    .expect("browser");
    eprintln!("browser: keyframe after {joined:?}; slowest live text {late:?}");
    assert!(
        late < Duration::from_secs(2),
        "text drawn by the sharer took {late:?} to show in the browser"
    );

    // No link, a link for another share: refused, and the player never loads.
    let anonymous = Api::new(&server.url(), None);
    assert_eq!(
        anonymous.http_status("/watch/sess-browser").await,
        Some(401)
    );
    let token = url.split("link=").nth(1).expect("token");
    assert_eq!(
        anonymous
            .http_status(&format!("/watch/another?link={token}"))
            .await,
        Some(401)
    );
    let refused = tokio::task::spawn_blocking({
        let base = server.url();
        move || dump_dom(&format!("{base}/watch/sess-browser"))
    })
    .await
    .expect("chromium");
    assert!(!refused.contains("4242"), "{refused}");
    stop.store(true, Ordering::Relaxed);
    sharing.finish().await;
}
