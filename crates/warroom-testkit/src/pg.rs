//! A real PostgreSQL server for integration tests.
//!
//! It needs the OS packages (`initdb`, `pg_ctl`, `postgres`); a test that cannot find them
//! fails and says how to install them.
//!
//! * `initdb` runs once per test process into a template; each [`PgServer::start`] copies the
//!   template into its own temp dir and starts a server on a free loopback port (~0.2 s with
//!   the clusters on /dev/shm, the default when it is roomy; ~0.8 s on a disk).
//! * [`PgServer::stop`] (clean) or [`PgServer::crash`] (immediate), then
//!   [`PgServer::start_again`], bring the server down and back on the same port.
//! * When the tests run as root, every server program runs as the `postgres` OS user.
//! * `pg_stat_statements` is preloaded and created in `postgres` and `template1`; every
//!   statement is logged to [`PgServer::log_path`].
//! * Dropping a [`PgServer`] stops it and removes its directory. If the test process dies
//!   without dropping it (killed, timed out, held in a `static`), a small watchdog shell notices
//!   (its stdin pipe closes) and does the same, so no server outlives the tests.
//! * Sessions the harness opens for itself (`exec`, polling) use [`HARNESS_APP`] as
//!   application_name, so tests that count sessions can leave them out.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::{JoinHandle, JoinSet};
use tokio_postgres::{Client, NoTls};

/// The message every test fails with when the server binaries are missing. Never skip silently.
pub const INSTALL_HINT: &str = "PostgreSQL server binaries not found: run `apt-get install -y postgresql` (or scripts/test, which installs it)";

/// application_name of the short-lived sessions the harness opens for itself.
pub const HARNESS_APP: &str = "pg-harness";

/// How long the harness waits for sessions to reach the state it set them up for.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Port collisions (another process took the port between probe and bind) are retried.
const START_ATTEMPTS: usize = 5;

/// Appended to the template's postgresql.conf. Durability is off: these servers are thrown away.
const SERVER_SETTINGS: &str = "
# --- warroom test harness ---
listen_addresses = '127.0.0.1'
max_connections = 600
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
log_statement = 'all'
log_min_messages = info
logging_collector = off
log_line_prefix = '%m [%p] app=%a user=%u db=%d '
fsync = off
synchronous_commit = off
full_page_writes = off
# backends whose client vanished (a test dropped it mid-query) exit instead of sleeping on
client_connection_check_interval = '1s'
";

// ---------------------------------------------------------------------------------------------
// Locating the binaries and running them as the right OS user
// ---------------------------------------------------------------------------------------------

struct Toolchain {
    /// Directory holding initdb, pg_ctl and postgres.
    bin: PathBuf,
    /// Set when we are root: server programs must run as the `postgres` OS user.
    run_as: Option<RunAs>,
}

struct RunAs {
    uid: u32,
    gid: u32,
    /// `runuser` when present (no PAM session, no shell quoting), else `su`.
    runuser: Option<PathBuf>,
}

fn toolchain() -> &'static Toolchain {
    static TOOLCHAIN: OnceLock<Toolchain> = OnceLock::new();
    TOOLCHAIN.get_or_init(|| Toolchain {
        bin: find_bin_dir(),
        run_as: if effective_uid() == 0 {
            Some(postgres_os_user())
        } else {
            None
        },
    })
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// $WARROOM_PG_BIN, else the newest /usr/lib/postgresql/*/bin. Not PATH: on Debian
/// /usr/bin/pg_ctl (or /usr/local/bin/pg_ctl) may be a wrapper.
fn find_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WARROOM_PG_BIN").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return dir;
        }
        panic!(
            "{INSTALL_HINT}; WARROOM_PG_BIN={} does not contain initdb, pg_ctl and postgres",
            dir.display()
        );
    }
    let mut candidates: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    match candidates.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "{INSTALL_HINT}; looked in /usr/lib/postgresql/*/bin (set WARROOM_PG_BIN to use another directory)"
        ),
    }
}

/// The effective uid, from /proc/self/status (no libc), falling back to `id -u`.
fn effective_uid() -> u32 {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|euid| euid.parse().ok())
        });
    from_proc.unwrap_or_else(|| {
        let out = Command::new("id")
            .arg("-u")
            .output()
            .expect("run `id -u` to learn whether the tests run as root");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("`id -u` prints a number")
    })
}

fn postgres_os_user() -> RunAs {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    let (Some(uid), Some(gid)) = (id("-u"), id("-g")) else {
        panic!(
            "the tests run as root and PostgreSQL refuses to: they need the `postgres` OS user, \
             which the postgresql package creates ({INSTALL_HINT})"
        );
    };
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    RunAs { uid, gid, runuser }
}

/// A command for one of the server programs, run as `postgres` when we are root. The working
/// directory is `cwd` because the `postgres` user may not be allowed into ours.
fn server_command(program: &str, args: &[&str], cwd: &Path) -> Command {
    let tc = toolchain();
    let program = tc.bin.join(program);
    let mut cmd = match &tc.run_as {
        None => {
            let mut cmd = Command::new(&program);
            cmd.args(args);
            cmd
        }
        Some(RunAs {
            runuser: Some(runuser),
            ..
        }) => {
            let mut cmd = Command::new(runuser);
            cmd.args(["-u", "postgres", "--"]).arg(&program).args(args);
            cmd
        }
        Some(RunAs { runuser: None, .. }) => {
            let line = std::iter::once(program.to_string_lossy().into_owned())
                .chain(args.iter().map(|a| a.to_string()))
                .map(|word| shell_quote(&word))
                .collect::<Vec<_>>()
                .join(" ");
            let mut cmd = Command::new("su");
            cmd.args(["postgres", "-s", "/bin/sh", "-c", &format!("exec {line}")]);
            cmd
        }
    };
    cmd.current_dir(cwd).stdin(Stdio::null());
    cmd
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Gives `dir` to the `postgres` OS user when we are root (the programs run as that user).
fn hand_over(dir: &Path) {
    if let Some(run_as) = &toolchain().run_as {
        std::os::unix::fs::chown(dir, Some(run_as.uid), Some(run_as.gid))
            .unwrap_or_else(|e| panic!("chown {} to the postgres OS user: {e}", dir.display()));
    }
}

fn output_text(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!("{what} failed: {cmd:?}\n{}", output_text(&out));
    }
    out
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("temp path is not UTF-8: {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Watchdog: cleans up after a test process that died without dropping its servers
// ---------------------------------------------------------------------------------------------

/// A `sh` that blocks reading a pipe whose write end only this process holds. When the process
/// ends for any reason the pipe closes: the shell stops the server in `<dir>/data` (if any) and
/// removes `<dir>`. A normal drop kills the shell first. Its own process group keeps a Ctrl-C
/// in the terminal from killing it before it has cleaned up.
struct Watchdog(Child);

const WATCHDOG_SCRIPT: &str = r#"
read -r _line
pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
fi
rm -rf "$1"
"#;

impl Watchdog {
    fn spawn(dir: &Path) -> Watchdog {
        use std::os::unix::process::CommandExt;
        let child = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT, "pg-harness-watchdog"])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn the cleanup watchdog (sh)");
        Watchdog(child)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Kill before the pipe closes, or the shell would start cleaning up.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The template cluster (initdb once per test process)
// ---------------------------------------------------------------------------------------------

struct Template {
    data: PathBuf,
    /// Never dropped (it lives in a static): removes the template when the process ends.
    _watchdog: Watchdog,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let started = Instant::now();
        // Fails (with the install hint) before anything is created.
        let toolchain = toolchain();
        // A TempDir until the end, so a failed initdb leaves nothing behind.
        let tempdir = tempfile::Builder::new()
            .prefix("warroom-pg-template-")
            .tempdir_in(temp_base())
            .expect("create the template temp dir");
        let dir = tempdir.path().to_path_buf();
        hand_over(&dir);
        let data = dir.join("data");
        run(
            &mut server_command(
                "initdb",
                &[
                    "-D",
                    path_str(&data),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                &dir,
            ),
            "initdb of the template cluster",
        );
        // The view exists in every database the tests use, as on a monitored production server.
        for db in ["template1", "postgres"] {
            single_user_sql(
                &data,
                db,
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
            );
        }
        append(&data.join("postgresql.conf"), SERVER_SETTINGS);
        let watchdog = Watchdog::spawn(&tempdir.keep());
        eprintln!(
            "pg harness: template cluster from {} ready in {:?} (in {})",
            toolchain.bin.display(),
            started.elapsed(),
            dir.display()
        );
        Template {
            data,
            _watchdog: watchdog,
        }
    })
}

/// Runs one statement in single-user mode (no server, no port, no client library needed).
fn single_user_sql(data: &Path, db: &str, sql: &str) {
    let cwd = data.parent().unwrap_or(data);
    let mut cmd = server_command("postgres", &["--single", "-D", path_str(data), db], cwd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("single-user postgres: could not run {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{sql}\n").as_bytes())
            .expect("write SQL to single-user postgres");
    }
    let out = child
        .wait_with_output()
        .expect("wait for single-user postgres");
    // Single-user mode exits 0 even when the statement failed.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("ERROR:") || stderr.contains("FATAL:") {
        panic!(
            "single-user postgres ({db}): `{sql}` failed\n{}",
            output_text(&out)
        );
    }
}

fn append(file: &Path, text: &str) {
    OpenOptions::new()
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("append to {}: {e}", file.display()));
}

/// Where the clusters live: $WARROOM_PG_TMPDIR, else /dev/shm when it is a roomy tmpfs (a copy
/// of the template there takes ~0.05 s instead of ~0.5-1 s on a disk: it is ~1000 small files),
/// else the system temp dir. When running as root the `postgres` user must be able to reach it.
fn temp_base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("WARROOM_PG_TMPDIR").filter(|v| !v.is_empty()) {
            return PathBuf::from(dir);
        }
        const ENOUGH_KIB: u64 = 2 * 1024 * 1024;
        let shm_free_kib = Command::new("df")
            .args(["-P", "-k", "/dev/shm"])
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                // Filesystem 1024-blocks Used Available Capacity Mounted-on
                text.lines()
                    .nth(1)?
                    .split_whitespace()
                    .nth(3)?
                    .parse::<u64>()
                    .ok()
            });
        match shm_free_kib {
            Some(kib) if kib >= ENOUGH_KIB => PathBuf::from("/dev/shm"),
            _ => std::env::temp_dir(),
        }
    })
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

// ---------------------------------------------------------------------------------------------
// PgServer
// ---------------------------------------------------------------------------------------------

/// One PostgreSQL server on 127.0.0.1, in its own temp dir. Superuser `postgres`, trust auth,
/// database `postgres`. Stopped and removed on drop.
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    running: AtomicBool,
    // Field order matters on drop: the watchdog dies before the directory goes.
    _watchdog: Watchdog,
    _tempdir: tempfile::TempDir,
}

/// A temp dir for one server, watched (removed if this process dies) and owned by the
/// postgres user; its `data` directory is where the cluster goes.
fn server_dir(prefix: &str) -> (tempfile::TempDir, Watchdog, PathBuf) {
    let tempdir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(temp_base())
        .expect("create a temp dir for the server");
    let dir = tempdir.path().to_path_buf();
    let watchdog = Watchdog::spawn(&dir);
    hand_over(&dir);
    (tempdir, watchdog, dir.join("data"))
}

impl PgServer {
    /// Copies the template cluster and starts a server on a free loopback port.
    /// Panics with [`INSTALL_HINT`] when PostgreSQL is not installed.
    pub fn start() -> PgServer {
        let template = template();
        let started = Instant::now();
        let (tempdir, watchdog, data) = server_dir("warroom-pg-");
        // cp -a keeps the owner (postgres) and the 0700 mode postgres insists on.
        run(
            Command::new("cp").arg("-a").arg(&template.data).arg(&data),
            "copy the template cluster",
        );
        PgServer::start_on_free_port(tempdir, watchdog, data, started)
    }

    /// A standby of this server: `pg_basebackup -R -X stream` into its own temp dir, started
    /// on its own free port, streaming from this one (hot standby, read-only sessions).
    /// Stopped and removed on drop like any [`PgServer`].
    pub fn start_standby(&self) -> PgServer {
        let started = Instant::now();
        let (tempdir, watchdog, data) = server_dir("warroom-pg-standby-");
        let port = self.port.to_string();
        run(
            &mut server_command(
                "pg_basebackup",
                &[
                    "-D",
                    path_str(&data),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "--no-sync",
                ],
                tempdir.path(),
            ),
            "pg_basebackup of the primary (the standby's copy)",
        );
        PgServer::start_on_free_port(tempdir, watchdog, data, started)
    }

    fn start_on_free_port(
        tempdir: tempfile::TempDir,
        watchdog: Watchdog,
        data: PathBuf,
        started: Instant,
    ) -> PgServer {
        let dir = tempdir.path().to_path_buf();
        let mut server = PgServer {
            port: 0,
            log: dir.join("server.log"),
            dir,
            data,
            running: AtomicBool::new(false),
            _watchdog: watchdog,
            _tempdir: tempdir,
        };
        for attempt in 1..=START_ATTEMPTS {
            let port = free_loopback_port();
            // Later lines win in postgresql.conf, so a retry just appends again.
            append(
                &server.data.join("postgresql.conf"),
                &format!(
                    "port = {port}\nunix_socket_directories = '{}'\n",
                    path_str(&server.dir).replace('\'', "''")
                ),
            );
            let log_before = std::fs::metadata(&server.log).map_or(0, |m| m.len());
            match server.pg_ctl_start() {
                Ok(()) => {
                    server.port = port;
                    server.running.store(true, Ordering::SeqCst);
                    eprintln!(
                        "pg harness: server on 127.0.0.1:{port} started in {:?} (dir {})",
                        started.elapsed(),
                        server.dir.display()
                    );
                    return server;
                }
                Err(failure) if attempt < START_ATTEMPTS && server.port_was_taken(log_before) => {
                    eprintln!("pg harness: port {port} was taken, retrying: {failure}");
                }
                Err(failure) => panic!(
                    "could not start PostgreSQL on port {port}: {failure}\n--- server log ---\n{}",
                    server.log_contents()
                ),
            }
        }
        unreachable!("the last start attempt either returns or panics")
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let out = server_command(
            "pg_ctl",
            &[
                "start",
                "-D",
                path_str(&self.data),
                "-l",
                path_str(&self.log),
                "-w",
                "-t",
                "60",
            ],
            &self.dir,
        )
        .output()
        .map_err(|e| format!("could not run pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(output_text(&out))
        }
    }

    /// Whether the log written since byte `since` says the port was taken.
    fn port_was_taken(&self, since: u64) -> bool {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let recent = String::from_utf8_lossy(log.get(since as usize..).unwrap_or_default());
        recent.contains("Address already in use") || recent.contains("could not bind")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://USER@127.0.0.1:PORT/DB`
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// `host=127.0.0.1 port=PORT user=USER dbname=postgres`
    pub fn conninfo(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres",
            self.port
        )
    }

    /// The directory holding data/, server.log and the unix socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The server log so far (every statement is logged; prefix `%m [%p] app=%a user=%u db=%d`).
    pub fn log_contents(&self) -> String {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`): open sessions are terminated, clients
    /// see their connections drop, committed data is kept. The port and data stay, for
    /// [`PgServer::start_again`].
    pub fn stop(&self) {
        if self.running.swap(false, Ordering::SeqCst) {
            run(
                &mut self.pg_ctl_stop("fast"),
                "pg_ctl stop -m fast (PgServer::stop)",
            );
        }
    }

    /// Stops the server like a crash (`pg_ctl stop -m immediate`: no shutdown checkpoint, crash
    /// recovery on the next start). With `synchronous_commit = off`, transactions committed in
    /// the last few hundred milliseconds may be lost, as on a real crash of such a server.
    pub fn crash(&self) {
        if self.running.swap(false, Ordering::SeqCst) {
            run(
                &mut self.pg_ctl_stop("immediate"),
                "pg_ctl stop -m immediate (PgServer::crash)",
            );
        }
    }

    fn pg_ctl_stop(&self, mode: &str) -> Command {
        server_command(
            "pg_ctl",
            &[
                "stop",
                "-D",
                path_str(&self.data),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
            ],
            &self.dir,
        )
    }

    /// Starts the stopped server again on the same port with the same data.
    pub fn start_again(&self) {
        if self.is_running() {
            return;
        }
        let started = Instant::now();
        if let Err(failure) = self.pg_ctl_start() {
            panic!(
                "could not start PostgreSQL again on port {}: {failure}\n--- server log ---\n{}",
                self.port,
                self.log_contents()
            );
        }
        self.running.store(true, Ordering::SeqCst);
        eprintln!(
            "pg harness: server on 127.0.0.1:{} started again in {:?}",
            self.port,
            started.elapsed()
        );
    }

    /// [`PgServer::stop`] then [`PgServer::start_again`].
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    // -----------------------------------------------------------------------------------------
    // Sessions
    // -----------------------------------------------------------------------------------------

    fn config(&self, user: &str, db: &str, application_name: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .dbname(db)
            .application_name(application_name)
            .connect_timeout(Duration::from_secs(10));
        config
    }

    async fn open(&self, user: &str, db: &str, application_name: &str) -> (Client, JoinHandle<()>) {
        let (client, connection) = self
            .config(user, db, application_name)
            .connect(NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "connect to {} as application_name '{application_name}': {e}",
                    self.url(user, db)
                )
            });
        let task = tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away; tests provoke both.
            let _ = connection.await;
        });
        (client, task)
    }

    /// A session to database `postgres`; its connection task runs until the client is dropped.
    pub async fn connect(&self, user: &str, application_name: &str) -> Client {
        self.open(user, "postgres", application_name).await.0
    }

    /// Like [`PgServer::connect`], to another database.
    pub async fn connect_db(&self, user: &str, db: &str, application_name: &str) -> Client {
        self.open(user, db, application_name).await.0
    }

    /// (query, calls) of every statement `role` ran since the last pg_stat_statements reset.
    pub async fn statements_of(&self, role: &str) -> Vec<(String, i64)> {
        let client = self.connect("postgres", HARNESS_APP).await;
        client
            .query(
                "SELECT s.query, s.calls FROM pg_stat_statements s \
                 JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1 ORDER BY s.query",
                &[&role],
            )
            .await
            .expect("read pg_stat_statements")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Runs `sql` (one or more statements, simple protocol) as the superuser in `postgres`,
    /// on a session that is closed before this returns.
    pub async fn exec(&self, sql: &str) {
        let (client, connection) = self.open("postgres", "postgres", HARNESS_APP).await;
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("exec `{sql}`: {e:?}"));
        drop(client);
        let _ = connection.await;
    }

    /// `CREATE ROLE name LOGIN` (not a superuser), plus `GRANT pg_monitor` when asked.
    pub async fn create_role(&self, name: &str, with_pg_monitor: bool) {
        let role = quote_ident(name);
        let mut sql = format!("CREATE ROLE {role} LOGIN");
        if with_pg_monitor {
            sql.push_str(&format!("; GRANT pg_monitor TO {role}"));
        }
        self.exec(&sql).await;
    }

    /// A login role (with pg_monitor) that must give `password` over TCP (scram-sha-256,
    /// as on a production server); every other role keeps trust. Returns once the server
    /// refuses the role without its password.
    pub async fn create_role_with_password(&self, name: &str, password: &str) {
        self.create_role(name, true).await;
        self.exec(&format!(
            "ALTER ROLE {} PASSWORD '{}'",
            quote_ident(name),
            password.replace('\'', "''")
        ))
        .await;
        let hba = self.data.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        // First match wins: this line goes before the trust lines.
        let line = format!(
            "host all {} 127.0.0.1/32 scram-sha-256\n",
            quote_ident(name)
        );
        std::fs::write(&hba, format!("{line}{old}")).expect("write pg_hba.conf");
        self.exec("SELECT pg_reload_conf()").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let refused = tokio_postgres::connect(&self.conninfo(name), tokio_postgres::NoTls)
                .await
                .is_err();
            if refused {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server still lets {name} in without a password"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `pg_blocking_pids(pid)`, sorted.
    pub async fn blocking_pids(&self, pid: i32) -> Vec<i32> {
        let (client, connection) = self.open("postgres", "postgres", HARNESS_APP).await;
        let mut pids: Vec<i32> = client
            .query_one("SELECT pg_blocking_pids($1)", &[&pid])
            .await
            .unwrap_or_else(|e| panic!("pg_blocking_pids({pid}): {e:?}"))
            .get(0);
        pids.sort_unstable();
        drop(client);
        let _ = connection.await;
        pids
    }

    /// Opens `n` idle sessions (as `postgres`) with the given application_name.
    pub async fn open_idle_sessions(&self, n: usize, application_name: &str) -> Vec<Client> {
        let mut clients = Vec::with_capacity(n);
        // In batches, to be gentle on a 2-core machine that also runs the tests.
        for batch in (0..n).collect::<Vec<_>>().chunks(50) {
            let mut set = JoinSet::new();
            for _ in batch {
                let config = self.config("postgres", "postgres", application_name);
                set.spawn(async move {
                    let (client, connection) = config.connect(NoTls).await?;
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    Ok::<_, tokio_postgres::Error>(client)
                });
            }
            while let Some(joined) = set.join_next().await {
                let client = joined
                    .expect("connect task panicked")
                    .unwrap_or_else(|e| panic!("open idle session '{application_name}': {e}"));
                clients.push(client);
            }
        }
        clients
    }

    /// Opens `n` sessions each running `SELECT pg_sleep(600)` in a background task, and waits
    /// until the server shows all of them active. Dropping the result ends them.
    pub async fn open_active_sessions(&self, n: usize, application_name: &str) -> ActiveSessions {
        let mut sessions = Vec::with_capacity(n);
        for batch in (0..n).collect::<Vec<_>>().chunks(20) {
            let mut set = JoinSet::new();
            for _ in batch {
                let config = self.config("postgres", "postgres", application_name);
                let app = application_name.to_string();
                set.spawn(async move {
                    let (client, connection) = config.connect(NoTls).await?;
                    let connection = tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    let session = Session::new(app, Arc::new(client), connection).await;
                    session.run_in_background("SELECT pg_sleep(600)");
                    Ok::<_, tokio_postgres::Error>(session)
                });
            }
            while let Some(joined) = set.join_next().await {
                let session = joined
                    .expect("connect task panicked")
                    .unwrap_or_else(|e| panic!("open active session '{application_name}': {e}"));
                sessions.push(session);
            }
        }
        let pids: Vec<i32> = sessions.iter().map(|s| s.pid).collect();
        self.wait_for_state(
            &pids,
            "state = 'active' AND wait_event = 'PgSleep'",
            "sleeping in pg_sleep",
        )
        .await;
        ActiveSessions { sessions }
    }

    /// One session (as `postgres`) running `sql` in a background task, e.g. a long query with
    /// a custom text. Does not wait for it to start; see [`BackgroundSession::pid`].
    pub async fn spawn_query(&self, application_name: &str, sql: &str) -> BackgroundSession {
        let session = self.session(application_name).await;
        session.run_in_background(sql);
        BackgroundSession(session)
    }

    /// Like [`PgServer::spawn_query`], but as role `user` (which must be able to log in).
    pub async fn spawn_query_as(
        &self,
        user: &str,
        application_name: &str,
        sql: &str,
    ) -> BackgroundSession {
        let (client, connection) = self.open(user, "postgres", application_name).await;
        let session =
            Session::new(application_name.to_string(), Arc::new(client), connection).await;
        session.run_in_background(sql);
        BackgroundSession(session)
    }

    async fn session(&self, application_name: &str) -> Session {
        let (client, connection) = self.open("postgres", "postgres", application_name).await;
        Session::new(application_name.to_string(), Arc::new(client), connection).await
    }

    /// Polls pg_stat_activity until every pid in `pids` satisfies `condition` (SQL over
    /// pg_stat_activity columns); panics with the sessions' state after [`SETTLE_TIMEOUT`].
    pub async fn wait_for_state(&self, pids: &[i32], condition: &str, what: &str) {
        let (client, connection) = self.open("postgres", "postgres", HARNESS_APP).await;
        let pids = pids.to_vec();
        let sql =
            format!("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) AND ({condition})");
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let ready: i64 = client
                .query_one(&sql, &[&pids])
                .await
                .unwrap_or_else(|e| panic!("poll pg_stat_activity for {what}: {e:?}"))
                .get(0);
            if ready as usize == pids.len() {
                break;
            }
            if Instant::now() > deadline {
                let rows = client
                    .query(
                        "SELECT pid, application_name, state, wait_event_type, wait_event, query \
                         FROM pg_stat_activity WHERE pid = ANY($1) ORDER BY pid",
                        &[&pids],
                    )
                    .await
                    .map(|rows| {
                        rows.iter()
                            .map(|r| {
                                format!(
                                    "  pid {} app {:?} state {:?} wait {:?}/{:?} query {:?}",
                                    r.get::<_, i32>(0),
                                    r.get::<_, Option<String>>(1),
                                    r.get::<_, Option<String>>(2),
                                    r.get::<_, Option<String>>(3),
                                    r.get::<_, Option<String>>(4),
                                    r.get::<_, Option<String>>(5),
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_else(|e| format!("  (could not list them: {e})"));
                panic!(
                    "after {SETTLE_TIMEOUT:?}, only {ready} of {} sessions are {what} ({condition}):\n{rows}",
                    pids.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(client);
        let _ = connection.await;
    }

    // -----------------------------------------------------------------------------------------
    // Scenario: a lock chain
    // -----------------------------------------------------------------------------------------

    /// Creates `accounts(id int primary key, balance int)` (rows 1, 2, 3) and opens, in this
    /// order, sessions that stay as they are until the returned value is dropped:
    ///
    /// | application_name | state                                                      |
    /// |------------------|------------------------------------------------------------|
    /// | `idle-app`       | idle                                                       |
    /// | `sleeper`        | active, `SELECT pg_sleep(600)`                             |
    /// | `migration`      | idle in transaction, holds the lock on row 1               |
    /// | `api-1`          | UPDATE row 1: waits on migration (first in the queue)      |
    /// | `api-2`          | UPDATE row 1: queued behind api-1                          |
    /// | `api-3`          | holds row 2 in its transaction, then UPDATE row 1: queued  |
    /// | `report`         | UPDATE row 2: waits on api-3                               |
    ///
    /// All four waiters have `wait_event_type = 'Lock'` when this returns. What
    /// `pg_blocking_pids` reports follows PostgreSQL's row-lock queue: the first waiter (api-1)
    /// holds the tuple lock and waits on the migration's transaction, so later waiters on row 1
    /// are reported blocked by api-1 (and by those queued ahead of them), not by the migration:
    /// api-1 -> [migration], api-2 -> [api-1], api-3 -> [api-1, api-2], report -> [api-3].
    /// Transitively all four wait behind the migration, the one root.
    pub async fn lock_chain(&self) -> LockChain {
        self.exec(
            "CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY, balance int);
             INSERT INTO accounts VALUES (1, 100), (2, 200), (3, 300) ON CONFLICT (id) DO NOTHING;",
        )
        .await;
        let mut sessions = Vec::new();

        sessions.push(self.session("idle-app").await);

        let sleeper = self.session("sleeper").await;
        sleeper.run_in_background("SELECT pg_sleep(600)");
        sessions.push(sleeper);

        let migration = self.session("migration").await;
        migration
            .client
            .batch_execute("BEGIN; UPDATE accounts SET balance = balance WHERE id = 1")
            .await
            .expect("migration: lock row 1 in an open transaction");
        sessions.push(migration);

        // One waiter at a time, so the order in the lock queue is known.
        for app in ["api-1", "api-2"] {
            let api = self.session(app).await;
            api.run_in_background("UPDATE accounts SET balance = balance - 1 WHERE id = 1");
            self.wait_for_state(&[api.pid], "wait_event_type = 'Lock'", "waiting on a lock")
                .await;
            sessions.push(api);
        }

        let api3 = self.session("api-3").await;
        api3.client
            .batch_execute("BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = 2")
            .await
            .expect("api-3: lock row 2 in an open transaction");
        api3.run_in_background("UPDATE accounts SET balance = balance - 1 WHERE id = 1");
        self.wait_for_state(&[api3.pid], "wait_event_type = 'Lock'", "waiting on a lock")
            .await;
        sessions.push(api3);

        let report = self.session("report").await;
        report.run_in_background("UPDATE accounts SET balance = balance * 1 WHERE id = 2");
        self.wait_for_state(
            &[report.pid],
            "wait_event_type = 'Lock'",
            "waiting on a lock",
        )
        .await;
        sessions.push(report);

        let chain = LockChain { sessions };
        self.wait_for_state(
            &[chain.pid("sleeper")],
            "state = 'active' AND wait_event = 'PgSleep'",
            "sleeping in pg_sleep",
        )
        .await;
        self.wait_for_state(&[chain.pid("idle-app")], "state = 'idle'", "idle")
            .await;
        self.wait_for_state(
            &[chain.pid("migration")],
            "state = 'idle in transaction'",
            "idle in transaction",
        )
        .await;
        chain
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Also when a start failed half-way: whatever left a postmaster.pid gets stopped.
        let running = self.running.swap(false, Ordering::SeqCst);
        if running || self.data.join("postmaster.pid").exists() {
            // No panic in drop: a failure here must not turn a test failure into an abort.
            match self.pg_ctl_stop("immediate").output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!("pg harness: pg_ctl stop failed\n{}", output_text(&out)),
                Err(e) => eprintln!("pg harness: could not run pg_ctl stop: {e}"),
            }
        }
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// ---------------------------------------------------------------------------------------------
// Sessions kept alive for a scenario
// ---------------------------------------------------------------------------------------------

struct Session {
    application_name: String,
    pid: i32,
    client: Arc<Client>,
    connection: JoinHandle<()>,
    query: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Session {
    async fn new(
        application_name: String,
        client: Arc<Client>,
        connection: JoinHandle<()>,
    ) -> Session {
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap_or_else(|e| panic!("{application_name}: pg_backend_pid(): {e:?}"))
            .get(0);
        Session {
            application_name,
            pid,
            client,
            connection,
            query: std::sync::Mutex::new(None),
        }
    }

    /// Sends `sql` from a background task, so a query that blocks does not block the test.
    /// Its result is ignored: tests cancel and terminate these sessions on purpose.
    fn run_in_background(&self, sql: &str) {
        let client = Arc::clone(&self.client);
        let sql = sql.to_string();
        let task = tokio::spawn(async move {
            let _ = client.batch_execute(&sql).await;
        });
        if let Ok(mut slot) = self.query.lock()
            && let Some(previous) = slot.replace(task)
        {
            previous.abort();
        }
    }

    fn query_finished(&self) -> bool {
        match self.query.lock() {
            Ok(slot) => slot.as_ref().is_none_or(|task| task.is_finished()),
            Err(_) => true,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.query.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
        // Closes the socket; the server ends the backend (at once if idle, within
        // client_connection_check_interval if it is running a query).
        self.connection.abort();
    }
}

/// A session running a query in the background (see [`PgServer::spawn_query`]).
pub struct BackgroundSession(Session);

impl BackgroundSession {
    pub fn pid(&self) -> i32 {
        self.0.pid
    }

    /// True once the query returned (or failed, e.g. because the backend was cancelled).
    pub fn query_finished(&self) -> bool {
        self.0.query_finished()
    }
}

/// Sessions running `SELECT pg_sleep(600)`; dropping this ends them.
pub struct ActiveSessions {
    sessions: Vec<Session>,
}

impl ActiveSessions {
    pub fn pids(&self) -> Vec<i32> {
        self.sessions.iter().map(|s| s.pid).collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// The sessions of [`PgServer::lock_chain`], alive until this is dropped.
pub struct LockChain {
    sessions: Vec<Session>,
}

impl LockChain {
    /// After the root blocker is gone, its waiters proceed. api-1 (first in the row-1 queue) updates
    /// and commits; api-3 updates row 1 inside its own open transaction. api-2 raced api-3 for row 1:
    /// it either won and committed, or it now waits on api-3 (the scenario's second open
    /// transaction), never on the migration.
    pub async fn assert_waiters_proceeded(&self, pg: &PgServer) {
        let chain = self;
        pg.wait_for_state(&[chain.api1()], "state = 'idle'", "done with its UPDATE")
            .await;
        pg.wait_for_state(
            &[chain.api3()],
            "state = 'idle in transaction'",
            "done with its UPDATE",
        )
        .await;
        pg.wait_for_state(
            &[chain.api2()],
            &format!(
                "state = 'idle' OR pg_blocking_pids(pid) = ARRAY[{}]",
                chain.api3()
            ),
            "done, or waiting on api-3 only",
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(chain.query_finished("api-1") && chain.query_finished("api-3")) {
            assert!(
                Instant::now() < deadline,
                "the waiters' UPDATEs did not return after the terminate"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let client = pg.connect("postgres", HARNESS_APP).await;
        let behind_root: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                &[&chain.migration()],
            )
            .await
            .expect("pg_blocking_pids")
            .get(0);
        assert_eq!(behind_root, 0, "nobody waits on the terminated root");
        let api2_done: bool = client
            .query_one(
                "SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $1",
                &[&chain.api2()],
            )
            .await
            .expect("api-2")
            .get(0);
        let balance: i32 = client
            .query_one("SELECT balance FROM accounts WHERE id = 1", &[])
            .await
            .expect("read row 1")
            .get(0);
        let expected = if api2_done { 98 } else { 99 };
        assert_eq!(
            balance, expected,
            "the committed UPDATEs of api-1 (and api-2)"
        );
    }

    /// Every application_name of the scenario, in the order the sessions were opened.
    pub const ROLES: [&'static str; 7] = [
        "idle-app",
        "sleeper",
        "migration",
        "api-1",
        "api-2",
        "api-3",
        "report",
    ];

    /// The backend pid of a role (its application_name); panics on an unknown role.
    pub fn pid(&self, application_name: &str) -> i32 {
        self.sessions
            .iter()
            .find(|s| s.application_name == application_name)
            .map(|s| s.pid)
            .unwrap_or_else(|| {
                panic!(
                    "no session '{application_name}' in the lock chain (roles: {:?})",
                    Self::ROLES
                )
            })
    }

    pub fn idle(&self) -> i32 {
        self.pid("idle-app")
    }

    pub fn sleeper(&self) -> i32 {
        self.pid("sleeper")
    }

    pub fn migration(&self) -> i32 {
        self.pid("migration")
    }

    pub fn api1(&self) -> i32 {
        self.pid("api-1")
    }

    pub fn api2(&self) -> i32 {
        self.pid("api-2")
    }

    pub fn api3(&self) -> i32 {
        self.pid("api-3")
    }

    pub fn report(&self) -> i32 {
        self.pid("report")
    }

    /// The four sessions waiting on a lock: api-1, api-2, api-3, report.
    pub fn waiters(&self) -> [i32; 4] {
        [self.api1(), self.api2(), self.api3(), self.report()]
    }

    /// (application_name, pid) of every session, in [`LockChain::ROLES`] order.
    pub fn pids(&self) -> Vec<(&str, i32)> {
        self.sessions
            .iter()
            .map(|s| (s.application_name.as_str(), s.pid))
            .collect()
    }

    /// The client of a session that is not busy (`idle-app` or `migration`), e.g. to
    /// `ROLLBACK` the migration and release the chain. Panics for a busy or unknown role.
    pub fn client(&self, application_name: &str) -> &Client {
        assert!(
            matches!(application_name, "idle-app" | "migration"),
            "the '{application_name}' session is busy running its query; only idle-app and migration can take commands"
        );
        self.sessions
            .iter()
            .find(|s| s.application_name == application_name)
            .map(|s| s.client.as_ref())
            .unwrap_or_else(|| panic!("no session '{application_name}' in the lock chain"))
    }

    /// True once the role's background query returned (e.g. after the migration let go).
    pub fn query_finished(&self, application_name: &str) -> bool {
        self.sessions
            .iter()
            .find(|s| s.application_name == application_name)
            .is_none_or(|s| s.query_finished())
    }
}
