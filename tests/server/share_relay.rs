//! Live shares (issue 13) through two real `warroom server` processes on one real PostgreSQL:
//! the sharer (the real client uploader, fed like the terminal feeds it) on replica A, the
//! watchers on replica B; late joiners start at a keyframe; presence reaches the sharer's
//! status; authentication; the server killed mid-share; the recording replayed from the start.

use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pg::PgServer;
use reqwest::Method;
use server_process::{ALICE_TOKEN, Api, BOB_TOKEN, ServerProcess, config_text, free_port};
use tokio::sync::mpsc;
use warroom_client::ServerClient;
use warroom_client::share::{self, ShareFeed, ShareStart, WatchEvent};
use warroom_tui::terminal::vt::Screen;

pub(crate) const ALICE_ENV: &str = "WARROOM_SHARE_TEST_ALICE";
pub(crate) const BOB_ENV: &str = "WARROOM_SHARE_TEST_BOB";

pub(crate) fn tokens() {
    // Same values from every test: setting them again is harmless.
    unsafe {
        std::env::set_var(ALICE_ENV, ALICE_TOKEN);
        std::env::set_var(BOB_ENV, BOB_TOKEN);
    }
}

fn db_url(pg: &PgServer) -> String {
    format!("{}?sslmode=disable", pg.url("postgres", "postgres"))
}

pub(crate) fn start_info(id: &str) -> ShareStart {
    ShareStart {
        id: id.into(),
        actor: "alice@example.com".into(),
        contexts: vec!["prod-main".into()],
        width: 40,
        height: 6,
        watchers: None,
    }
}

/// Stands in for the TUI's terminal writer: draws a 40x6 screen every 20 ms (a diff of lines
/// 3 and 4), answers keyframe requests with a full redraw like the event loop does, and records
/// how long each hand-off to the feed took. Every frame it draws names its tick (line 4), so
/// no two frames are alike, and it counts them.
pub(crate) struct FakeUi {
    title: Arc<std::sync::Mutex<String>>,
    line: Arc<std::sync::Mutex<String>>,
    slowest_ns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    keyframe_now: Arc<AtomicBool>,
    /// Frames handed to the feed so far.
    pub(crate) drawn: Arc<AtomicU64>,
}

impl FakeUi {
    pub(crate) fn start(feed: ShareFeed) -> FakeUi {
        let ui = FakeUi {
            title: Arc::new(std::sync::Mutex::new("pg pane: pid 4242 waits".into())),
            line: Arc::new(std::sync::Mutex::new("tick 0".into())),
            slowest_ns: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            keyframe_now: Arc::new(AtomicBool::new(false)),
            drawn: Arc::new(AtomicU64::new(0)),
        };
        let (title, line, slowest, stop, now, drawn) = (
            Arc::clone(&ui.title),
            Arc::clone(&ui.line),
            Arc::clone(&ui.slowest_ns),
            Arc::clone(&ui.stop),
            Arc::clone(&ui.keyframe_now),
            Arc::clone(&ui.drawn),
        );
        tokio::spawn(async move {
            let mut tick = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick += 1;
                let current_line = line.lock().expect("line").clone();
                let bytes = if feed.take_keyframe_request() || now.swap(false, Ordering::Relaxed) {
                    feed.begin_keyframe();
                    let t = title.lock().expect("title").clone();
                    format!("\x1b[2J\x1b[1;1H{t}\x1b[3;1H{current_line}\x1b[K\x1b[4;1Htick {tick}")
                } else {
                    format!("\x1b[3;1H{current_line}\x1b[K\x1b[4;1Htick {tick}\x1b[K")
                };
                let started = Instant::now();
                feed.output(bytes.as_bytes());
                drawn.fetch_add(1, Ordering::Relaxed);
                slowest.fetch_max(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        ui
    }

    pub(crate) fn set_line(&self, text: &str) {
        *self.line.lock().expect("line") = text.to_string();
    }

    /// Stops drawing, after checking that no hand-off to the feed kept the UI 5 ms or more.
    pub(crate) fn stop_checking_it_never_waited(self) {
        let slowest = self.slowest_ns.load(Ordering::Relaxed);
        assert!(
            slowest < 5_000_000,
            "the UI waited {slowest} ns on a hand-off to the share"
        );
    }
}

impl Drop for FakeUi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A watcher's screen, fed from the stream until `done` holds for it or `limit` passes.
pub(crate) struct Watcher {
    rx: mpsc::Receiver<Result<WatchEvent, String>>,
    pub(crate) screen: Screen,
    pub(crate) outputs: Vec<String>,
    markers: Vec<String>,
    ended: bool,
    /// The stream closed or failed (not ended by the share): the watcher has to open another.
    pub(crate) broken: bool,
}

impl Watcher {
    pub(crate) async fn open(url: &str, token_env: &str, id: &str, from_start: bool) -> Watcher {
        let client = ServerClient::new(url, Some(token_env)).expect("client");
        // The sharer registers in the background: wait for the share to exist.
        let deadline = Instant::now() + Duration::from_secs(10);
        let rx = loop {
            match client.watch(id, from_start).await {
                Ok(rx) => break rx,
                Err(e) if e.contains("404") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("watch {id}: {e}"),
            }
        };
        Watcher {
            rx,
            screen: Screen::new(1, 1),
            outputs: Vec::new(),
            markers: Vec::new(),
            ended: false,
            broken: false,
        }
    }

    pub(crate) async fn until(&mut self, limit: Duration, done: impl Fn(&Watcher) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self) {
            let ev = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            match ev {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.broken = !self.ended;
                    return done(self);
                }
                Ok(Some(Ok(ev))) => match ev {
                    WatchEvent::Header { width, height, .. } => {
                        self.screen = Screen::new(width, height);
                    }
                    WatchEvent::Output(text) => {
                        self.screen.feed(text.as_bytes());
                        self.outputs.push(text);
                    }
                    WatchEvent::Resize(w, h) => self.screen.resize(w, h),
                    WatchEvent::Marker(m) => self.markers.push(m),
                    WatchEvent::End | WatchEvent::Reached(_) => self.ended = true,
                },
            }
        }
        true
    }
}

/// A database and two replicas on it (the callers' tokens set).
async fn two_replicas() -> (PgServer, ServerProcess, ServerProcess) {
    tokens();
    let pg = PgServer::start();
    let db = db_url(&pg);
    let a = ServerProcess::start_replica(&db, "").await;
    let b = ServerProcess::start_replica(&db, "").await;
    (pg, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharer_on_one_replica_is_watched_live_on_the_other() {
    let (_pg, a, b) = two_replicas().await;
    let client = ServerClient::new(&a.url(), Some(ALICE_ENV)).expect("client");
    let mut sharing = share::start(client, start_info("sess-live-1"));
    let ui = FakeUi::start(sharing.feed.clone());

    // Listed on the other replica, with no watchers yet.
    let bob_b = ServerClient::new(&b.url(), Some(BOB_ENV)).expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let shares = bob_b.shares().await.expect("list");
        if let Some(s) = shares.into_iter().find(|s| s.id == "sess-live-1") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the share never appeared on replica B"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed.owner, "alice@example.com");
    assert_eq!(listed.contexts, ["prod-main"]);
    assert!(listed.watchers.is_empty());

    // A new screen title appears only in a keyframe; the diffs after it never redraw it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    *ui.title.lock().expect("title") = "pg pane: pid 5555 blocks".into();
    ui.keyframe_now.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A late joiner on replica B sees the current screen at once, starting at the keyframe.
    let mut bob = Watcher::open(&b.url(), BOB_ENV, "sess-live-1", false).await;
    assert!(
        bob.until(Duration::from_secs(2), |w| w
            .screen
            .text()
            .contains("pg pane: pid 5555 blocks"))
            .await,
        "late joiner's screen:\n{}",
        bob.screen.text()
    );
    assert!(
        bob.outputs[0].starts_with("\x1b[2J"),
        "the stream starts at the keyframe: {:?}",
        bob.outputs[0]
    );
    assert!(!bob.outputs.iter().any(|o| o.contains("4242")));

    // Frames drawn on A reach the watcher on B within 1 s, every time.
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let mark = format!("INC-42 step {i}");
        ui.set_line(&mark);
        let drawn = Instant::now();
        assert!(
            bob.until(Duration::from_secs(3), |w| w.screen.text().contains(&mark))
                .await,
            "{mark} never arrived:\n{}",
            bob.screen.text()
        );
        worst = worst.max(drawn.elapsed());
    }
    assert!(
        worst < Duration::from_secs(1),
        "slowest frame from A to B: {worst:?}"
    );

    // The sharer's status bar names the watcher.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = sharing.status.borrow().clone();
        if status == "shared: watched by bob" {
            break;
        }
        assert!(Instant::now() < deadline, "status stayed {status:?}");
        let _ = tokio::time::timeout(Duration::from_secs(1), sharing.status.changed()).await;
    }
    let shares = bob_b.shares().await.expect("list");
    let listed = shares
        .iter()
        .find(|s| s.id == "sess-live-1")
        .expect("listed");
    assert_eq!(listed.watchers, ["bob@example.com"]);
    // The watcher leaves: the list forgets them.
    drop(bob);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let shares = bob_b.shares().await.expect("list");
        let s = shares
            .iter()
            .find(|s| s.id == "sess-live-1")
            .expect("listed");
        if s.watchers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob still listed: {:?}",
            s.watchers
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ui.stop_checking_it_never_waited();
    sharing.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watching_needs_authentication_and_only_the_owner_uploads() {
    let (_pg, a, b) = two_replicas().await;
    let alice = Api::new(&a.url(), Some(ALICE_TOKEN));
    let start = serde_json::json!({"contexts": ["prod-main"], "width": 80, "height": 24});
    let client = reqwest::Client::new();
    let put = alice
        .send_json(Method::PUT, "/v1/shares/sess-auth", &start)
        .await;
    assert_eq!(put.status(), 200);

    // No token, a wrong token: 401, for the stream, the list and an upload.
    let anonymous = Api::new(&b.url(), None);
    for path in ["/v1/shares", "/v1/shares/sess-auth/stream"] {
        assert_eq!(anonymous.http_status(path).await, Some(401), "{path}");
    }
    let wrong = Api::new(&b.url(), Some("not-a-token"));
    assert_eq!(
        wrong.http_status("/v1/shares/sess-auth/stream").await,
        Some(401)
    );
    let frames = "/v1/shares/sess-auth/frames";
    let upload = anonymous
        .send_json(
            Method::POST,
            frames,
            &serde_json::json!({"events": [[0.1, "o", "x"]]}),
        )
        .await;
    assert_eq!(upload.status(), 401);
    // Bob cannot take over or feed alice's share.
    let bob = Api::new(&b.url(), Some(BOB_TOKEN));
    let put = bob
        .send_json(Method::PUT, "/v1/shares/sess-auth", &start)
        .await;
    assert_eq!(put.status(), 403);
    let forged = serde_json::json!({"events": [[0.1, "o", "forged"]]});
    let upload = bob.send_json(Method::POST, frames, &forged).await;
    assert_eq!(upload.status(), 404);
    // Nobody names the sharer shown: the field is not taken, the list shows the owner.
    let posing = serde_json::json!({"actor": "ceo@example.com", "width": 80, "height": 24});
    let put = bob
        .send_json(Method::PUT, "/v1/shares/sess-posing", &posing)
        .await;
    assert_eq!(put.status(), 400);
    let listed: serde_json::Value = serde_json::from_str(
        &bob.send_json(Method::GET, "/v1/shares", &serde_json::json!(null))
            .await
            .text()
            .await
            .expect("body"),
    )
    .expect("json");
    let sess_auth = listed["shares"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "sess-auth"))
        .unwrap_or_else(|| panic!("sess-auth not listed: {listed}"));
    assert_eq!(sess_auth["actor"], "alice@example.com", "{listed}");
    // The sharer's routes refuse an id no client makes and a body of another shape (400, JSON
    // error) before reading or writing the share.
    for (path, body, why) in [
        (
            "bad%20id/frames",
            serde_json::json!({"events": []}),
            "a share id is",
        ),
        ("bad%20id/end", serde_json::json!({}), "a share id is"),
        (
            "sess-auth/frames",
            serde_json::json!({"events": [], "extra": 1}),
            "the body is not valid",
        ),
    ] {
        let r = alice
            .send_json(Method::POST, &format!("/v1/shares/{path}"), &body)
            .await;
        assert_eq!(r.status(), 400, "{path}");
        let answer: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json error");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{path}: {answer}");
    }

    // A watch link works on the other replica, for that share only, and not once tampered.
    let (status, link) = {
        let r = client
            .post(format!("{}/v1/shares/sess-auth/link", a.url()))
            .bearer_auth(BOB_TOKEN)
            .send()
            .await
            .expect("link");
        (
            r.status(),
            serde_json::from_str::<serde_json::Value>(&r.text().await.expect("body"))
                .expect("json"),
        )
    };
    assert_eq!(status, 200, "{link}");
    let path = link["path"].as_str().expect("path").to_string();
    let token = path.split("link=").nth(1).expect("token").to_string();
    let stream = client
        .get(format!(
            "{}/v1/shares/sess-auth/stream?link={token}",
            b.url()
        ))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().expect("ct"),
        "text/event-stream"
    );
    drop(stream);
    // The page itself may not be framed by another site (clickjacking a watcher).
    let page = client
        .get(format!("{}{path}", b.url()))
        .send()
        .await
        .expect("watch page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let other = client
        .get(format!("{}/v1/shares/other/stream?link={token}", b.url()))
        .send()
        .await
        .expect("stream");
    assert_eq!(other.status(), 401);
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let bad = client
        .get(format!(
            "{}/v1/shares/sess-auth/stream?link={tampered}",
            b.url()
        ))
        .send()
        .await
        .expect("stream");
    assert_eq!(bad.status(), 401);
    assert!(!a.log().contains(ALICE_TOKEN) && !b.log().contains(BOB_TOKEN));
    let _ = alice;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_killed_mid_share_never_blocks_the_sharer_and_the_stream_resumes() {
    tokens();
    let pg = PgServer::start();
    let db = db_url(&pg);
    let port = free_port();
    let config = config_text(port, &db, "");
    let mut server = ServerProcess::start(port, &config).await;
    let client = ServerClient::new(&server.url(), Some(ALICE_ENV)).expect("client");
    let sharing = share::start(client, start_info("sess-restart"));
    let ui = FakeUi::start(sharing.feed.clone());
    ui.set_line("before the restart");
    let mut bob = Watcher::open(&server.url(), BOB_ENV, "sess-restart", false).await;
    assert!(
        bob.until(Duration::from_secs(5), |w| w
            .screen
            .text()
            .contains("before the restart"))
            .await
    );

    // Killed (not drained): the sharer goes on drawing; frames are dropped and counted.
    server.terminate(Duration::from_millis(1));
    drop(server);
    ui.set_line("while the server is down");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = sharing.status.borrow().clone();
        if status.contains("unreachable") {
            break;
        }
        assert!(Instant::now() < deadline, "status stayed {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dropped = sharing.feed.dropped();
    assert!(
        dropped > 0,
        "frames drawn while down are counted as dropped"
    );

    // Back on the same port: the sharer reconnects by itself and sends a keyframe.
    let server = ServerProcess::start(port, &config).await;
    ui.set_line("after the restart");
    let mut carol = Watcher::open(&server.url(), BOB_ENV, "sess-restart", false).await;
    assert!(
        carol
            .until(Duration::from_secs(15), |w| {
                let t = w.screen.text();
                t.contains("after the restart") && t.contains("pg pane: pid 4242 waits")
            })
            .await,
        "after the restart the watcher's screen is:\n{}",
        carol.screen.text()
    );
    assert!(
        carol.outputs[0].starts_with("\x1b[2J"),
        "it resumed with a keyframe"
    );
    ui.stop_checking_it_never_waited();
    sharing.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_share_replays_from_the_start_and_is_not_live() {
    let (_pg, a, b) = two_replicas().await;
    let client = ServerClient::new(&a.url(), Some(ALICE_ENV)).expect("client");
    let sharing = share::start(client, start_info("sess-replay"));
    let ui = FakeUi::start(sharing.feed.clone());
    ui.set_line("first words");
    tokio::time::sleep(Duration::from_millis(800)).await;
    ui.set_line("last words");
    tokio::time::sleep(Duration::from_millis(800)).await;
    drop(ui);
    sharing.finish().await;

    let bob_b = ServerClient::new(&b.url(), Some(BOB_ENV)).expect("client");
    assert!(
        !bob_b
            .shares()
            .await
            .expect("list")
            .iter()
            .any(|s| s.id == "sess-replay"),
        "an ended share is not listed as live"
    );
    let live = Api::new(&b.url(), Some(BOB_TOKEN))
        .http_status("/v1/shares/sess-replay/stream")
        .await;
    assert_eq!(live, Some(410));
    let mut replay = Watcher::open(&b.url(), BOB_ENV, "sess-replay", true).await;
    assert!(replay.until(Duration::from_secs(10), |w| w.ended).await);
    let all = replay.outputs.concat();
    let first = all.find("first words").expect("the start is kept");
    let last = all.find("last words").expect("the end is kept");
    assert!(first < last);
    assert!(replay.screen.text().contains("last words"));
}

/// Deliverable 5: `warroom audit timeline` links an action of a shared session to its moment
/// in the recording, and the replay it names (`--at`) shows the screen of that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_timeline_links_an_action_to_its_moment_and_at_replays_up_to_it() {
    let (_pg, a, b) = two_replicas().await;
    let client = ServerClient::new(&a.url(), Some(ALICE_ENV)).expect("client");
    let shared_at = std::time::SystemTime::now();
    let sharing = share::start(client, start_info("sess-timeline"));
    let ui = FakeUi::start(sharing.feed.clone());
    ui.set_line("before the action");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sharing
        .feed
        .marker("confirmed: terminate backend 4242 — reason: INC-42");
    let acted_at = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    ui.set_line("after the action");
    tokio::time::sleep(Duration::from_millis(800)).await;
    drop(ui);
    sharing.finish().await;

    // The audit file of that session: one intent at the moment of the action (the fixture's
    // record with this session id and time).
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = std::fs::read_to_string("tests/fixtures/audit/timeline.jsonl").expect("fixture");
    let mut intent: serde_json::Value =
        serde_json::from_str(fixture.lines().next().expect("a line")).expect("json");
    intent["session_id"] = "sess-timeline".into();
    intent["time"] = humantime::format_rfc3339_millis(acted_at)
        .to_string()
        .into();
    let audit_file = dir.path().join("audit.jsonl");
    std::fs::write(&audit_file, format!("{intent}\n")).expect("write audit");
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nurl = \"{}\"\ntoken_env = \"{BOB_ENV}\"\n",
            b.url()
        ),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args([
            "--config",
            &config.display().to_string(),
            "audit",
            "timeline",
        ])
        .args(["--file", &audit_file.display().to_string(), "-o", "json"])
        .env("XDG_STATE_HOME", dir.path())
        .env_remove("WARROOM_CONFIG")
        .output()
        .expect("warroom audit timeline");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let link = &entries[0]["recording"];
    assert_eq!(link["share_id"], "sess-timeline", "{entries}");
    let offset = link["offset_seconds"].as_f64().expect("offset");
    let expected = acted_at
        .duration_since(shared_at)
        .expect("after")
        .as_secs_f64();
    assert!(
        (offset - expected).abs() < 0.35,
        "offset {offset} vs {expected} since the share started"
    );
    assert_eq!(
        link["replay"],
        format!("warroom shadow sess-timeline --from-start --at {offset:.1}")
    );
    // The markdown names the same replay in its recording column.
    let md = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args([
            "--config",
            &config.display().to_string(),
            "audit",
            "timeline",
        ])
        .args(["--file", &audit_file.display().to_string()])
        .env("XDG_STATE_HOME", dir.path())
        .env_remove("WARROOM_CONFIG")
        .output()
        .expect("warroom audit timeline");
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("| recording |"), "{md}");
    assert!(
        md.contains(link["replay"].as_str().expect("replay")),
        "{md}"
    );

    // What the link replays: the screen up to the action (its marker), not what came after.
    let bob = ServerClient::new(&b.url(), Some(BOB_ENV)).expect("client");
    let mut at = Watcher {
        rx: bob
            .replay_until("sess-timeline", offset)
            .await
            .expect("replay"),
        screen: Screen::new(1, 1),
        outputs: Vec::new(),
        markers: Vec::new(),
        ended: false,
        broken: false,
    };
    assert!(at.until(Duration::from_secs(10), |w| w.ended).await);
    let screen = at.screen.text();
    assert!(screen.contains("before the action"), "{screen}");
    assert!(!screen.contains("after the action"), "{screen}");
    assert!(
        at.markers
            .iter()
            .any(|m| m.contains("terminate backend 4242")),
        "{:?}",
        at.markers
    );
    // A moment past the end shows the last screen.
    let mut end = Watcher {
        rx: bob
            .replay_until("sess-timeline", 3600.0)
            .await
            .expect("replay"),
        screen: Screen::new(1, 1),
        outputs: Vec::new(),
        markers: Vec::new(),
        ended: false,
        broken: false,
    };
    assert!(end.until(Duration::from_secs(10), |w| w.ended).await);
    assert!(end.screen.text().contains("after the action"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_deletes_recordings_of_shares_older_than_retention_days() {
    tokens();
    let pg = PgServer::start();
    let db = db_url(&pg);
    let server = ServerProcess::start_replica(&db, "").await;
    let client = reqwest::Client::new();
    for id in ["sess-old", "sess-recent"] {
        let put = client
            .put(format!("{}/v1/shares/{id}", server.url()))
            .bearer_auth(ALICE_TOKEN)
            .header("content-type", "application/json")
            .body(r#"{"width": 80, "height": 24}"#)
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200);
        let frames = client
            .post(format!("{}/v1/shares/{id}/frames", server.url()))
            .bearer_auth(ALICE_TOKEN)
            .header("content-type", "application/json")
            .body(r#"{"events": [[0.1, "o", "hello"]], "keyframe": true}"#)
            .send()
            .await
            .expect("frames");
        assert_eq!(frames.status(), 200);
        let end = client
            .post(format!("{}/v1/shares/{id}/end", server.url()))
            .bearer_auth(ALICE_TOKEN)
            .send()
            .await
            .expect("end");
        assert_eq!(end.status(), 200);
    }
    drop(server);
    pg.exec(
        "UPDATE shares SET started_at = now() - interval '10 days', \
         last_seen = now() - interval '10 days', ended_at = now() - interval '10 days' \
         WHERE id = 'sess-old'",
    )
    .await;
    // Retention runs when the server is ready, then hourly.
    let server = ServerProcess::start_replica(&db, "retention_days = 3").await;
    let api = Api::new(&server.url(), Some(BOB_TOKEN));
    let deadline = Instant::now() + Duration::from_secs(15);
    while api
        .http_status("/v1/shares/sess-old/stream?from_start=true")
        .await
        != Some(404)
    {
        assert!(
            Instant::now() < deadline,
            "the old recording was not deleted; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut replay = Watcher::open(&server.url(), BOB_ENV, "sess-recent", true).await;
    assert!(replay.until(Duration::from_secs(10), |w| w.ended).await);
    assert_eq!(replay.outputs, ["hello"], "the recent recording is kept");
    let frames_left = pg
        .connect("postgres", "share-test")
        .await
        .query_one(
            "SELECT count(*) FROM share_frames WHERE share_id = 'sess-old'",
            &[],
        )
        .await
        .expect("count")
        .get::<_, i64>(0);
    assert_eq!(frames_left, 0);
    assert!(server.log().contains("deleted old share recordings"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_share_restricted_by_its_sharer_is_seen_and_watched_only_by_those_it_names() {
    let (_pg, a, b) = two_replicas().await;
    let for_nobody_here = ShareStart {
        watchers: Some(vec!["Carol@Example.com".into()]),
        ..start_info("sess-private")
    };
    let sharing = share::start(
        ServerClient::new(&a.url(), Some(ALICE_ENV)).expect("client"),
        for_nobody_here,
    );
    let ui = FakeUi::start(sharing.feed.clone());
    let alice_b = ServerClient::new(&b.url(), Some(ALICE_ENV)).expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !alice_b
        .shares()
        .await
        .expect("list")
        .iter()
        .any(|s| s.id == "sess-private")
    {
        assert!(
            Instant::now() < deadline,
            "the owner does not see her share"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Bob is not named: not listed, no stream, no link, no recording.
    let bob_b = ServerClient::new(&b.url(), Some(BOB_ENV)).expect("client");
    let listed = bob_b.shares().await.expect("list");
    assert!(listed.iter().all(|s| s.id != "sess-private"), "{listed:?}");
    let bob = Api::new(&b.url(), Some(BOB_TOKEN));
    assert_eq!(
        bob.http_status("/v1/shares/sess-private/stream").await,
        Some(403)
    );
    let link = bob
        .send_json(
            Method::POST,
            "/v1/shares/sess-private/link",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(link.status(), 403);
    let recordings = bob_b.recordings().await.expect("recordings");
    assert!(recordings.iter().all(|r| r.id != "sess-private"));
    // The owner still watches her own share.
    let alice = Api::new(&b.url(), Some(ALICE_TOKEN));
    assert_eq!(
        alice
            .http_status("/v1/shares/sess-private/stream?from_start=true")
            .await,
        Some(200)
    );
    drop(ui);
    sharing.finish().await;
}
