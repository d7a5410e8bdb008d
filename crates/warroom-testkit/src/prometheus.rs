//! A real Prometheus (the Debian package `prometheus`) scraping one target every second: a
//! child process on a free loopback port with its config and data in a temp dir, stopped when
//! dropped. [`Prometheus::query`] asks its HTTP API (`/api/v1/query`).
//!
//! A test that cannot find prometheus fails and says how to install it; it never skips.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server_process::free_port;

/// The message a test fails with when prometheus is missing.
pub const INSTALL_HINT: &str = "prometheus not found: run `apt-get install -y prometheus` (or \
                                scripts/test, which installs it), or set WARROOM_PROMETHEUS";

pub struct Prometheus {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// $WARROOM_PROMETHEUS, else `prometheus` on PATH, else /usr/bin/prometheus.
fn find_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WARROOM_PROMETHEUS").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{INSTALL_HINT}; WARROOM_PROMETHEUS={}",
            p.display()
        );
        return p;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("prometheus"))
        .chain([PathBuf::from("/usr/bin/prometheus")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

impl Prometheus {
    /// Starts scraping `http://{target}/metrics` (job `warroom`) every second; waits until its
    /// API answers.
    pub async fn start(target: &str) -> Prometheus {
        let binary = find_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: warroom\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{INSTALL_HINT}: {} did not start: {e}", binary.display()));
        let prometheus = Prometheus {
            child: Some(child),
            port,
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = prometheus
                .http
                .get(format!("http://127.0.0.1:{port}/-/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s; its log:\n{}",
                prometheus.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The instant vector of PromQL `expr`: each series' labels and value.
    pub async fn query(&self, expr: &str) -> Vec<(Value, f64)> {
        let text = self
            .http
            .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query(&[("query", expr)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("query {expr}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("query {expr}: {e}"));
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("query {expr}: not JSON ({e}): {text}"));
        assert_eq!(answer["status"], "success", "query {expr}: {answer}");
        answer["data"]["result"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        let value = r["value"][1]
                            .as_str()
                            .and_then(|v| v.parse::<f64>().ok())
                            .unwrap_or(f64::NAN);
                        (r["metric"].clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until a scrape shows `expr` (one series) at `want`; fails after `limit` with
    /// what it last saw.
    pub async fn wait_for(&self, expr: &str, want: f64, limit: Duration) {
        self.wait_until(expr, &format!("{want}"), |v| v == want, limit)
            .await;
    }

    /// Waits until a scrape shows `expr` (one series) at `min` or more.
    pub async fn wait_at_least(&self, expr: &str, min: f64, limit: Duration) {
        self.wait_until(expr, &format!(">= {min}"), |v| v >= min, limit)
            .await;
    }

    async fn wait_until(&self, expr: &str, want: &str, ok: impl Fn(f64) -> bool, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.query(expr).await;
            if got.len() == 1 && ok(got[0].1) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{expr}: wanted {want}, Prometheus has {got:?} after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
