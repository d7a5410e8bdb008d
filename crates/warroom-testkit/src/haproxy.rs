//! A real load balancer in front of `warroom server` replicas: HAProxy (the Debian package
//! `haproxy`), started as a child process on a free loopback port with its config in a temp
//! dir, stopped when dropped.
//!
//! * Backend `replicas`: one server per replica port, named `r0`, `r1`, ... in order,
//!   round-robin, health-checked on `/readyz` every 250 ms (down after 2 failures, up after 2).
//! * Timeouts long enough for the API's 55 s long-polls and for server-sent event streams.
//! * A connection refused is retried on another server (`option redispatch 1`); nothing else
//!   is retried, so a request that reached a replica is never replayed on another.
//! * The runtime API on a unix socket ([`Haproxy::command`]): put a server in maintenance, cut
//!   its sessions, read its state. Its log (one line per request, naming the server that
//!   served it) is [`Haproxy::log`].
//!
//! A test that cannot find haproxy fails and says how to install it; it never skips.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server_process::free_port;

/// The message a test fails with when haproxy is missing.
pub const INSTALL_HINT: &str = "haproxy not found: run `apt-get install -y haproxy` (or \
                                scripts/test, which installs it), or set WARROOM_HAPROXY";

/// The backend's name in the config, the runtime API and the log.
pub const BACKEND: &str = "replicas";

/// What the runtime API's `show stat` says of a server (`UP`, `DOWN`, `MAINT`, ...).
pub type ServerStatus = String;

pub struct Haproxy {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    servers: usize,
}

/// $WARROOM_HAPROXY, else `haproxy` on PATH, else /usr/sbin/haproxy (not on a user's PATH).
fn find_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WARROOM_HAPROXY").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{INSTALL_HINT}; WARROOM_HAPROXY={}",
            p.display()
        );
        return p;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("haproxy"))
        .find(|p| p.is_file());
    match on_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/haproxy");
        sbin.is_file().then_some(sbin)
    }) {
        Some(p) => p,
        None => panic!("{INSTALL_HINT}"),
    }
}

fn config(port: u16, socket: &Path, backends: &[u16]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server r{i} 127.0.0.1:{p} check\n"))
        .collect();
    format!(
        r#"global
    log stderr format raw local0 info
    stats socket {socket} mode 600 level admin
    maxconn 2000

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    # long-polls wait up to 55 s, event streams stay open: both send or answer within this
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    timeout http-keep-alive 5s
    # only a refused connection is retried (the default retry-on), each time on another server
    retries 3
    option redispatch 1

frontend warroom
    bind 127.0.0.1:{port}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fastinter 250ms downinter 250ms fall 2 rise 2
{servers}"#,
        socket = socket.display(),
    )
}

impl Haproxy {
    /// Starts HAProxy in front of the replicas listening on `backends` (servers `r0`, `r1`,
    /// ... in that order) and waits until it accepts connections and its runtime API answers.
    pub fn start(backends: &[u16]) -> Haproxy {
        let binary = find_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config(port, &dir.path().join("admin.sock"), backends))
            .expect("write haproxy.cfg");
        let check = Command::new(&binary)
            .args(["-c", "-q", "-f"])
            .arg(&cfg)
            .output()
            .unwrap_or_else(|e| panic!("{INSTALL_HINT} (running {}: {e})", binary.display()));
        assert!(
            check.status.success(),
            "haproxy -c refused the config:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let child = Command::new(&binary)
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{INSTALL_HINT} (starting {}: {e})", binary.display()));
        let mut lb = Haproxy {
            child: Some(child),
            port,
            dir,
            servers: backends.len(),
        };
        lb.wait_started();
        lb
    }

    fn wait_started(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("haproxy exited with {status}; its log:\n{}", self.log());
            }
            let listening = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if listening && self.try_command("show info").is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy not listening on {} within 10 s; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("haproxy.log")
    }

    /// Its log: state changes and one line per finished request (`... replicas/r1 ... 200 ...
    /// "GET /path HTTP/1.1"`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The finished requests whose request line contains `path`: (server, HTTP status), in
    /// the order they ended. A request cut before any answer has status -1.
    pub fn served(&self, path: &str) -> Vec<(String, i32)> {
        self.log()
            .lines()
            .filter(|line| {
                line.split('"')
                    .nth(1)
                    .is_some_and(|request| request.contains(path))
            })
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let server = words.find_map(|w| w.strip_prefix(&format!("{BACKEND}/")))?;
                let status = words.nth(1)?.parse().ok()?;
                Some((server.to_string(), status))
            })
            .collect()
    }

    /// Waits (at most `limit`: the log line is written as the request ends) until a request
    /// whose line contains `path` was answered `status` by server `r{server}`.
    pub async fn wait_served(&self, path: &str, server: usize, status: i32, limit: Duration) {
        let deadline = Instant::now() + limit;
        let wanted = (format!("r{server}"), status);
        loop {
            let served = self.served(path);
            if served.contains(&wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {path} answered {status} by r{server}; served: {served:?}; haproxy log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn try_command(&self, command: &str) -> std::io::Result<String> {
        let mut socket = UnixStream::connect(self.dir.path().join("admin.sock"))?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.write_all(format!("{command}\n").as_bytes())?;
        let mut answer = String::new();
        // One command per connection: HAProxy answers and closes.
        socket.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// One command of the runtime API (admin level), its answer.
    pub fn command(&self, command: &str) -> String {
        self.try_command(command)
            .unwrap_or_else(|e| panic!("haproxy runtime API {command:?}: {e}"))
    }

    fn server_name(&self, server: usize) -> String {
        assert!(server < self.servers, "no server r{server}");
        format!("{BACKEND}/r{server}")
    }

    /// Puts server `r{server}` in maintenance: no new requests go to it; the ones it serves
    /// go on (see [`Haproxy::cut_sessions`]).
    pub fn disable(&self, server: usize) {
        let answer = self.command(&format!("disable server {}", self.server_name(server)));
        assert!(answer.trim().is_empty(), "disable server: {answer}");
    }

    /// Takes server `r{server}` out of maintenance (it is used again once its checks pass).
    pub fn enable(&self, server: usize) {
        let answer = self.command(&format!("enable server {}", self.server_name(server)));
        assert!(answer.trim().is_empty(), "enable server: {answer}");
    }

    /// Closes every connection HAProxy holds to server `r{server}` (and so the clients'
    /// requests in flight on them), as a balancer does when it moves traffic away.
    pub fn cut_sessions(&self, server: usize) {
        let answer = self.command(&format!(
            "shutdown sessions server {}",
            self.server_name(server)
        ));
        assert!(answer.trim().is_empty(), "shutdown sessions: {answer}");
    }

    /// Column `field` of `show stat` for server `r{server}`.
    fn stat(&self, server: usize, field: &str) -> String {
        let stat = self.command("show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (Some(px), Some(sv), Some(wanted)) =
            (column("pxname"), column("svname"), column(field))
        else {
            panic!("show stat without pxname, svname or {field}:\n{stat}");
        };
        let name = format!("r{server}");
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.get(px) == Some(&BACKEND) && f.get(sv) == Some(&name.as_str()))
            .and_then(|f| f.get(wanted).map(|s| s.to_string()))
            .unwrap_or_else(|| panic!("server {name} not in show stat:\n{stat}"))
    }

    /// The status HAProxy gives server `r{server}`: `UP`, `DOWN`, `MAINT`, `UP 1/2`, ...
    pub fn status(&self, server: usize) -> ServerStatus {
        self.stat(server, "status")
    }

    /// Requests server `r{server}` serves right now (a long-poll or an event stream counts
    /// until it ends; health checks do not).
    pub fn in_flight(&self, server: usize) -> u64 {
        self.stat(server, "scur").parse().unwrap_or(0)
    }

    /// Waits (at most `limit`) until server `r{server}`'s status starts with `wanted`.
    pub async fn wait_status(&self, server: usize, wanted: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status(server);
            if status.starts_with(wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server r{server} is {status:?}, not {wanted} after {limit:?}; haproxy log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
