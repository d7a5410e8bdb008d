//! Load harness for live shares: `--sessions` sharers (the real client uploader, fed frames the
//! way the terminal writer feeds it) and `--watchers` watchers on the first session (plus one on
//! each other session), through a real `warroom server` process on a free loopback port.
//!
//! Measures, in two phases of `--seconds` each (sharing with nobody watching, then watched):
//! - the sharer's cost per frame on its UI thread: the hand-off to the share (`ShareFeed::output`),
//!   p50 / p99 / max, and frames dropped;
//! - delivery latency from the hand-off to each watcher's receipt (frames carry their send time);
//! - the server process's memory (VmRSS sampled each second, VmHWM at the end).
//!
//! Give it a throwaway PostgreSQL where the database `warroom_share_load` may be (re)created, and
//! the `warroom` binary (built with `cargo build --release`):
//! ```sh
//! cargo build --release --example share_load --bin warroom
//! target/release/examples/share_load --url postgres://postgres@127.0.0.1:54330/postgres \
//!   --server-bin target/release/warroom
//! ```

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Parser;
use tokio::sync::Mutex;
use tokio_postgres::NoTls;

use warroom_client::ServerClient;
use warroom_client::share::{self, ShareStart, WatchEvent};

const TOKEN: &str = "share-load-token";
const TOKEN_ENV: &str = "WARROOM_SHARE_LOAD_TOKEN";

#[derive(Parser, Debug)]
struct Args {
    /// A PostgreSQL where the database `warroom_share_load` may be dropped and created.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "target/release/warroom")]
    server_bin: String,
    #[arg(long, default_value_t = 10)]
    sessions: usize,
    #[arg(long, default_value_t = 20)]
    watchers: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Frames per second each sharer draws.
    #[arg(long, default_value_t = 20)]
    fps: u64,
    /// Bytes of each (diff) frame.
    #[arg(long, default_value_t = 1500)]
    frame_bytes: usize,
}

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<f64>, unit: &str) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name}: n={} p50={:.3}{unit} p99={:.3}{unit} max={:.3}{unit}",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (admin, conn) = tokio_postgres::connect(&args.url, NoTls)
        .await
        .context("connect to --url")?;
    tokio::spawn(conn);
    admin
        .batch_execute("DROP DATABASE IF EXISTS warroom_share_load")
        .await?;
    admin
        .batch_execute("CREATE DATABASE warroom_share_load")
        .await?;
    let db_url = {
        let mut u = reqwest::Url::parse(&args.url)?;
        u.set_path("/warroom_share_load");
        u.to_string()
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("server.toml");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()))
    };
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{db_url}?sslmode=disable\"\n\n\
             [[server.token]]\nidentity = \"load@example.com\"\nsha256 = \"{sha}\"\n"
        ),
    )?;
    let child = Command::new(&args.server_bin)
        .args(["server", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", args.server_bin))?;
    let server = Server(child);
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        anyhow::ensure!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY of set_var: single-threaded use before any task reads the environment.
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
    println!(
        "server pid {pid}: VmRSS {} KiB after start",
        proc_kib(pid, "VmRSS:").unwrap_or(0)
    );

    // Sharers.
    let watched = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let handoffs: Arc<Mutex<[Vec<f64>; 2]>> = Arc::new(Mutex::new([Vec::new(), Vec::new()]));
    let mut sharings = Vec::new();
    let mut drawers = Vec::new();
    for s in 0..args.sessions {
        let client = ServerClient::new(&base, Some(TOKEN_ENV)).map_err(anyhow::Error::msg)?;
        let sharing = share::start(
            client,
            ShareStart {
                id: format!("load-{s}"),
                actor: "load".into(),
                contexts: vec!["prod".into()],
                width: 200,
                height: 50,
                watchers: None,
            },
        );
        let feed = sharing.feed.clone();
        let (watched, stop, handoffs) = (
            Arc::clone(&watched),
            Arc::clone(&stop),
            Arc::clone(&handoffs),
        );
        let (fps, frame_bytes) = (args.fps, args.frame_bytes);
        drawers.push(tokio::spawn(async move {
            let pad = "x".repeat(frame_bytes.saturating_sub(40));
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / fps));
            let mut local: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let key = feed.take_keyframe_request();
                if key {
                    feed.begin_keyframe();
                }
                let frame = if key {
                    format!("\x1b[2J\x1b[1;1HT={} {}", micros_now(), pad.repeat(5))
                } else {
                    format!("\x1b[3;1HT={} {pad}", micros_now())
                };
                let started = Instant::now();
                feed.output(frame.as_bytes());
                let took = started.elapsed().as_secs_f64() * 1e6;
                local[usize::from(watched.load(Ordering::Relaxed))].push(took);
            }
            let mut all = handoffs.lock().await;
            for (i, v) in local.into_iter().enumerate() {
                all[i].extend(v);
            }
        }));
        sharings.push(sharing);
    }
    let sample_rss = |label: &'static str, secs: u64| async move {
        let mut max = 0;
        for _ in 0..secs {
            tokio::time::sleep(Duration::from_secs(1)).await;
            max = max.max(proc_kib(pid, "VmRSS:").unwrap_or(0));
        }
        println!("{label}: server VmRSS max {max} KiB");
    };
    println!(
        "phase 1: {} sessions shared, nobody watching",
        args.sessions
    );
    sample_rss("phase 1", args.seconds).await;

    // Watchers: `--watchers` on session 0, one on each other session.
    watched.store(true, Ordering::Relaxed);
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let mut watcher_tasks = Vec::new();
    let targets: Vec<String> = (0..args.watchers)
        .map(|_| "load-0".to_string())
        .chain((1..args.sessions).map(|s| format!("load-{s}")))
        .collect();
    for id in targets {
        let client = ServerClient::new(&base, Some(TOKEN_ENV)).map_err(anyhow::Error::msg)?;
        let joined = micros_now();
        let mut rx = client.watch(&id, false).await.map_err(anyhow::Error::msg)?;
        let (latencies, stop) = (Arc::clone(&latencies), Arc::clone(&stop));
        watcher_tasks.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while let Some(Ok(ev)) = rx.recv().await {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let WatchEvent::Output(text) = ev
                    && let Some(t) = text
                        .split("T=")
                        .nth(1)
                        .and_then(|r| r.split(' ').next())
                        .and_then(|n| n.parse::<u64>().ok())
                {
                    // Frames drawn before the watcher joined are its catch-up, not live latency.
                    if t >= joined {
                        local.push((micros_now().saturating_sub(t)) as f64 / 1000.0);
                    }
                }
            }
            latencies.lock().await.extend(local);
        }));
    }
    println!(
        "phase 2: {} watchers on load-0, 1 on each of the other {} sessions",
        args.watchers,
        args.sessions - 1
    );
    sample_rss("phase 2", args.seconds).await;
    stop.store(true, Ordering::Relaxed);
    for d in drawers {
        let _ = d.await;
    }
    let dropped: u64 = sharings.iter().map(|s| s.feed.dropped()).sum();
    for s in sharings {
        s.finish().await;
    }
    for w in watcher_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    let handoffs = handoffs.lock().await;
    summary(
        "phase 1 sharer hand-off per frame",
        handoffs[0].clone(),
        " us",
    );
    summary(
        "phase 2 sharer hand-off per frame",
        handoffs[1].clone(),
        " us",
    );
    println!("frames dropped by sharers: {dropped}");
    summary(
        "phase 2 delivery latency, hand-off to watcher",
        latencies.lock().await.clone(),
        " ms",
    );
    println!(
        "server VmHWM (peak RSS) {} KiB",
        proc_kib(pid, "VmHWM:").unwrap_or(0)
    );
    drop(server);
    Ok(())
}
