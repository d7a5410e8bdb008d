//! `warroom server` as a real process (the test binary's `warroom`), on a free loopback port,
//! against a database URL, with its stderr (JSON log lines) kept in a file.
//!
//! `ALICE`/`BOB` and their tokens are the identities the test configurations know.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warroom_core::audit::{Actor, AuditRecord, ContextRef, Delivery, Phase, RECORD_VERSION};

/// Tokens the configs written here accept, and the identities they map to.
pub const ALICE_TOKEN: &str = "alice-test-token-7f3a9c";
pub const ALICE: &str = "alice@example.com";
pub const BOB_TOKEN: &str = "bob-test-token-22c1e0";
pub const BOB: &str = "bob@example.com";

pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An intent record as a client sends it to the audit endpoint (a cancel on `prod-main`),
/// not sealed yet: seal it after the previous record's hash of its chain.
pub fn client_record(id: &str, session: &str, time: &str, identity: Option<&str>) -> AuditRecord {
    AuditRecord {
        version: RECORD_VERSION,
        id: id.to_string(),
        time: time.to_string(),
        phase: Phase::Intent,
        intent_id: None,
        actor: Actor {
            user: "alice".into(),
            host: "laptop".into(),
            identity: identity.map(str::to_string),
        },
        context: ContextRef {
            kind: "postgres".into(),
            name: "prod-main".into(),
        },
        action: "pg.cancel".into(),
        target: json!({"pid": 14024, "query": "select pg_sleep(600)"}),
        reason: "INC-42 runaway report query".into(),
        outcome: None,
        delivery: Delivery::Remote,
        tool_version: "0.1.0".into(),
        session_id: session.to_string(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The config text of one replica: alice and bob as static tokens, plus `extra` lines in
/// `[server]` (before the tables).
pub fn config_text(port: u16, database_url: &str, extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:{port}"
database_url = "{database_url}"
{extra}

[[server.token]]
identity = "{ALICE}"
sha256 = "{alice}"

[[server.token]]
identity = "{BOB}"
sha256 = "{bob}"
"#,
        alice = sha256_hex(ALICE_TOKEN),
        bob = sha256_hex(BOB_TOKEN),
    )
}

pub struct ServerProcess {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `warroom server --config <dir>/server.toml` with `config` (use [`config_text`]);
    /// does not wait for it (see [`ServerProcess::wait_ready`]).
    pub fn spawn(port: u16, config: &str) -> ServerProcess {
        ServerProcess::spawn_with_env(port, config, &[])
    }

    pub fn spawn_with_env(port: u16, config: &str, env: &[(&str, &str)]) -> ServerProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.toml");
        std::fs::write(&path, config).expect("write server config");
        let log = dir.path().join("server.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(crate::warroom_bin());
        cmd.arg("server")
            .arg("--config")
            .arg(&path)
            .env_remove("WARROOM_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start warroom server");
        ServerProcess {
            child: Some(child),
            port,
            dir,
            log,
        }
    }

    /// Starts and waits until `/readyz` answers 200 (schema migrated, database reachable).
    pub async fn start(port: u16, config: &str) -> ServerProcess {
        let server = ServerProcess::spawn(port, config);
        server.wait_ready(Duration::from_secs(30)).await;
        server
    }

    /// One replica of [`config_text`] (alice and bob, plus `extra` in `[server]`) on a free
    /// port, started and ready.
    pub async fn start_replica(database_url: &str, extra: &str) -> ServerProcess {
        let port = free_port();
        ServerProcess::start(port, &config_text(port, database_url, extra)).await
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("server.toml")
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn wait_ready(&self, limit: Duration) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.url())).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "warroom server on port {} not ready within {limit:?}; its log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (no shutdown of any kind, as when a node dies), and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit (at most `limit`); returns whether it exited with 0.
    pub fn terminate(&mut self, limit: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        // `kill` as the shell builtin: no procps needed.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -TERM {}", child.id()))
            .status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A small HTTP client for the API, with a bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: Option<&str>) -> Api {
        Api {
            base: base.to_string(),
            token: token.map(str::to_string),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("client"),
        }
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// POST /v1/audit with a raw body; (status, JSON answer).
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .auth(self.http.post(format!("{}/v1/audit", self.base)))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /v1/audit");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("answer {status} is not JSON: {text:?}")),
        )
    }

    /// `method` `path` with a JSON `body`; the response as it comes.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.auth(
            self.http
                .request(method.clone(), format!("{}{path}", self.base)),
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// The status of GET `path`, or `None` when nothing answers.
    pub async fn http_status(&self, path: &str) -> Option<u16> {
        let r = self
            .auth(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await;
        r.ok().map(|r| r.status().as_u16())
    }

    /// GET a path; (status, JSON answer).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .auth(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("GET {path} -> {status}, not JSON: {text:?}")),
        )
    }
}
