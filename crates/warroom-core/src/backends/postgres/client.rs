//! The real PostgreSQL client: libpq-style connection settings, one statement per refresh,
//! and the identity-checked signalling statement.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::activity::{activity_sql, decode, setting_millis};
use super::header::HeaderTracker;
use super::tls;
use super::{
    ActivitySnapshot, PgError, PgSignaller, PgSource, SignalKind, SignalOutcome, SignalRequest,
};
use crate::backends::{BoxFuture, ErrorKind, pgpass};

/// libpq's sslmode values (tokio-postgres knows only three of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Whether the activity statement is prepared once per connection (a named statement, planned
/// once) or sent unnamed every refresh (planned every refresh, but safe behind a
/// transaction-mode pooler, where the next refresh may reach another server session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrepareMode {
    /// Prepared, unless the session looks pooled: the startup options warroom sent
    /// (statement_timeout) did not arrive, or the server lost the named statement.
    #[default]
    Auto,
    Always,
    Never,
}

impl PrepareMode {
    pub fn parse(s: &str) -> Option<PrepareMode> {
        Some(match s {
            "auto" => PrepareMode::Auto,
            "always" => PrepareMode::Always,
            "never" => PrepareMode::Never,
            _ => return None,
        })
    }
}

/// Everything needed to connect, resolved the way libpq would (PG* variables, ~/.pgpass).
#[derive(Clone)]
pub struct ConnectSpec {
    config: Config,
    ssl: SslMode,
    root_cert: Option<std::path::PathBuf>,
    display: String,
}

impl std::fmt::Debug for ConnectSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the config: it holds the password.
        f.debug_struct("ConnectSpec")
            .field("target", &self.display)
            .finish()
    }
}

/// The settings warroom puts on its own session so that it does no harm.
pub struct SessionLimits {
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
        }
    }
}

impl ConnectSpec {
    /// `url` is a postgres:// URL or key=value conninfo; `password_env` names a variable
    /// holding the password. Errors name the part that is wrong, never the password.
    pub fn resolve(url: &str, password_env: Option<&str>) -> Result<ConnectSpec, String> {
        let (rest, ssl_value, root_cert) = take_ssl_params(url);
        let mut config: Config = if rest.trim().is_empty() {
            Config::new()
        } else {
            rest.parse().map_err(|e: tokio_postgres::Error| {
                // The cause ("invalid value for option `port`") is in the source, not Display.
                let cause = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
                format!("invalid connection string: {}", redact(&cause))
            })?
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(h) => {
                    config.host(&h);
                }
                None if std::path::Path::new("/var/run/postgresql").is_dir() => {
                    config.host_path("/var/run/postgresql");
                }
                None => {
                    config.host("localhost");
                }
            }
        }
        if config.get_ports().is_empty() {
            let port = match env("PGPORT") {
                Some(p) => p
                    .parse()
                    .map_err(|_| format!("PGPORT is not a port number: {p}"))?,
                None => 5432,
            };
            config.port(port);
        }
        if config.get_user().is_none() {
            let user = env("PGUSER").unwrap_or_else(whoami::username);
            config.user(&user);
        }
        let user = config.get_user().unwrap_or_default().to_string();
        if config.get_dbname().is_none() {
            config.dbname(env("PGDATABASE").as_deref().unwrap_or(&user));
        }
        let ssl_value = ssl_value.or_else(|| env("PGSSLMODE"));
        let ssl = match ssl_value.as_deref() {
            None => SslMode::Prefer,
            Some(v) => SslMode::parse(v).ok_or_else(|| {
                format!(
                    "unknown sslmode {v:?}: use disable, allow, prefer, require, verify-ca or verify-full"
                )
            })?,
        };
        let root_cert = root_cert
            .or_else(|| env("PGSSLROOTCERT"))
            .map(std::path::PathBuf::from);
        let host = host_text(&config);
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let dbname = config.get_dbname().unwrap_or_default().to_string();
        if config.get_password().is_none() {
            let from_env = password_env
                .and_then(|name| std::env::var(name).ok())
                .or_else(|| env("PGPASSWORD"))
                .or_else(|| {
                    let path = pgpass::default_path()?;
                    pgpass::lookup(&pgpass::read(&path)?, &host, port, &dbname, &user)
                });
            if let Some(p) = from_env {
                config.password(p);
            }
        }
        config.application_name("warroom");
        config.connect_timeout(Duration::from_secs(5));
        config.keepalives_idle(Duration::from_secs(30));
        let display = format!("{user}@{host}:{port}/{dbname}");
        Ok(ConnectSpec {
            config,
            ssl,
            root_cert,
            display,
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// Sets the password (read from a secret file by the caller); never displayed.
    pub fn set_password(&mut self, password: &str) {
        self.config.password(password);
    }

    /// The resolved config and a TLS connector honouring sslmode, for a connection pool (the
    /// audit server). With sslmode=disable the config says so and the connector is not used.
    pub fn pool_parts(&self) -> Result<(Config, tokio_postgres_rustls::MakeRustlsConnect), String> {
        let mut config = self.config.clone();
        config.ssl_mode(match self.ssl {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let tls = tls::connector(self.ssl, self.root_cert.as_deref())?;
        Ok((config, tls))
    }

    /// The same server and credentials, another database (EXPLAIN must plan in the
    /// database of the session it explains).
    pub fn with_dbname(&self, dbname: &str) -> ConnectSpec {
        let mut other = self.clone();
        other.config.dbname(dbname);
        if let Some((base, _)) = other.display.rsplit_once('/') {
            other.display = format!("{base}/{dbname}");
        }
        other
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// Open a session with warroom's limits; `read_only` makes every transaction read-only.
    pub async fn connect(
        &self,
        limits: &SessionLimits,
        read_only: bool,
    ) -> Result<(Client, u32), PgError> {
        let mut config = self.config.clone();
        let mut options = format!(
            "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout=60000",
            limits.statement_timeout.as_millis(),
            limits.lock_timeout.as_millis()
        );
        if read_only {
            options.push_str(" -c default_transaction_read_only=on");
        }
        config.options(&options);
        let connect_err = |e: tokio_postgres::Error| PgError::Connect {
            target: self.display.clone(),
            detail: redact(&error_text(&e)),
            kind: connect_kind(&e),
        };
        let (client, version) = match self.ssl {
            SslMode::Disable => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let (client, conn) = config.connect(NoTls).await.map_err(connect_err)?;
                let version = server_major(conn.parameter("server_version"));
                spawn_connection(conn);
                (client, version)
            }
            mode => {
                config.ssl_mode(match mode {
                    SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                    _ => tokio_postgres::config::SslMode::Require,
                });
                let tls = tls::connector(mode, self.root_cert.as_deref()).map_err(|detail| {
                    PgError::Connect {
                        target: self.display.clone(),
                        detail,
                        kind: ErrorKind::Other,
                    }
                })?;
                let (client, conn) = config.connect(tls).await.map_err(connect_err)?;
                let version = server_major(conn.parameter("server_version"));
                spawn_connection(conn);
                (client, version)
            }
        };
        Ok((client, version))
    }
}

fn spawn_connection<S, T>(conn: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
}

/// "15.18 (Debian 15.18-0+deb12u1)" -> 15
fn server_major(version: Option<&str>) -> u32 {
    version
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

fn host_text(config: &Config) -> String {
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    }
}

/// Pull sslmode and sslrootcert out of the string: tokio-postgres rejects verify-* modes.
fn take_ssl_params(input: &str) -> (String, Option<String>, Option<String>) {
    let mut ssl = None;
    let mut root = None;
    let is_url = input.starts_with("postgres://") || input.starts_with("postgresql://");
    if is_url {
        let Some((base, query)) = input.split_once('?') else {
            return (input.to_string(), None, None);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslmode", v)) => ssl = Some(v.to_string()),
                Some(("sslrootcert", v)) => root = Some(v.to_string()),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, ssl, root)
    } else {
        let mut kept = Vec::new();
        for token in input.split_whitespace() {
            match token.split_once('=') {
                Some(("sslmode", v)) => ssl = Some(v.trim_matches('\'').to_string()),
                Some(("sslrootcert", v)) => root = Some(v.trim_matches('\'').to_string()),
                _ => kept.push(token),
            }
        }
        (kept.join(" "), ssl, root)
    }
}

/// tokio-postgres errors carry their cause in `source()`; show the whole chain.
pub(crate) fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What a failed connection attempt means for the user: the server's SQLSTATE when it
/// answered (28P01 wrong password, 28000 no pg_hba entry or role may not log in, 42501 no
/// CONNECT grant), else the io error below it (refused, reset, no route, timed out).
pub(crate) fn connect_kind(e: &tokio_postgres::Error) -> ErrorKind {
    use tokio_postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            ErrorKind::AuthFailed
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            ErrorKind::PermissionDenied
        } else if *code == SqlState::CANNOT_CONNECT_NOW || *code == SqlState::TOO_MANY_CONNECTIONS {
            ErrorKind::Unreachable
        } else {
            ErrorKind::Other
        };
    }
    match crate::backends::error::io_cause(e) {
        Some(io) => crate::backends::error::io_kind(io),
        None => ErrorKind::Other,
    }
}

/// Strip anything that looks like a password from an error text.
pub(super) fn redact(text: &str) -> String {
    crate::redact::redact_secrets(text).into_owned()
}

/// The real backend: one long-lived read-only monitoring session, reconnected on demand.
pub struct RealPg {
    pub(super) spec: ConnectSpec,
    limits: SessionLimits,
    pub(super) query_timeout: Duration,
    pub(super) monitor: Mutex<Monitor>,
    prepare: PrepareMode,
}

/// The monitoring session and what warroom keeps between refreshes.
#[derive(Default)]
pub(super) struct Monitor {
    pub(super) client: Option<Client>,
    pub(super) server_major: u32,
    activity_sql: String,
    /// The activity statement prepared on this connection (prepare = auto or always).
    activity_stmt: Option<Statement>,
    /// Auto: the first refresh of this connection showed no pooler in between.
    direct: bool,
    /// Auto: a pooler lost the named statement once; never prepare again.
    prepare_refused: bool,
    header: HeaderTracker,
    /// Where pg_stat_statements lives on this connection (probed once per connection).
    pub(super) statements_probe: Option<super::statements::Probe>,
}

impl RealPg {
    pub fn new(spec: ConnectSpec) -> RealPg {
        let limits = SessionLimits::default();
        // The client-side timeout backs up statement_timeout when the network hangs.
        let query_timeout = limits.statement_timeout + Duration::from_secs(2);
        RealPg {
            spec,
            limits,
            query_timeout,
            monitor: Mutex::new(Monitor::default()),
            prepare: PrepareMode::default(),
        }
    }

    /// How the activity statement is sent (the context's `prepare` setting).
    pub fn with_prepare(mut self, prepare: PrepareMode) -> RealPg {
        self.prepare = prepare;
        self
    }

    pub fn spec(&self) -> &ConnectSpec {
        &self.spec
    }

    /// The monitoring session, connected if it is not (or no longer) open.
    pub(super) async fn monitor(&self) -> Result<tokio::sync::MutexGuard<'_, Monitor>, PgError> {
        let mut guard = self.monitor.lock().await;
        if guard.client.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, major) =
                tokio::time::timeout(self.query_timeout, self.spec.connect(&self.limits, true))
                    .await
                    .map_err(|_| PgError::Connect {
                        target: self.spec.display.clone(),
                        detail: format!("no answer within {:?}", self.query_timeout),
                        kind: ErrorKind::Timeout,
                    })??;
            guard.client = Some(client);
            guard.server_major = major;
            guard.activity_sql = activity_sql(major);
            guard.activity_stmt = None;
            guard.direct = false;
            guard.statements_probe = None;
        }
        Ok(guard)
    }

    async fn fetch(&self) -> Result<ActivitySnapshot, PgError> {
        let mut guard = self.monitor().await?;
        let prepared = match self.prepare {
            PrepareMode::Never => false,
            PrepareMode::Always => true,
            PrepareMode::Auto => guard.direct && !guard.prepare_refused,
        };
        let started = Instant::now();
        let mut result = self.run_activity(&mut guard, prepared).await;
        if prepared
            && self.prepare == PrepareMode::Auto
            && let Err(RunError::Db(e)) = &result
            && lost_statement(e)
        {
            // A transaction-mode pooler handed the refresh to another server session: from
            // now on the unnamed statement, this refresh included (the failed Bind executed
            // nothing, so this is still one statement).
            tracing::info!("activity statement lost between refreshes: not preparing it");
            guard.prepare_refused = true;
            guard.activity_stmt = None;
            result = self.run_activity(&mut guard, false).await;
        }
        let rows = match result {
            Ok(rows) => rows,
            Err(RunError::NoConnection) => return Err(PgError::Query("no connection".into())),
            Err(RunError::Db(e)) => {
                // A broken session is rebuilt on the next refresh.
                guard.client = None;
                return Err(PgError::Query(redact(&error_text(&e))));
            }
            Err(RunError::Timeout) => {
                guard.client = None;
                return Err(PgError::Timeout(self.query_timeout));
            }
        };
        let elapsed = started.elapsed();
        let decoded = decode(&rows).map_err(PgError::Query)?;
        if self.prepare == PrepareMode::Auto && !guard.direct {
            // warroom's startup options reached the server, so nothing rewrote the session:
            // the next refreshes may use a named statement.
            let asked = self.limits.statement_timeout.as_millis();
            guard.direct = decoded
                .statement_timeout
                .as_deref()
                .and_then(setting_millis)
                .is_some_and(|ms| ms == asked);
        }
        let sessions = decoded.sessions;
        let header = decoded
            .figures
            .map(|f| Box::new(guard.header.update(f, &sessions)));
        let hidden_sessions = sessions
            .iter()
            .filter(|s| s.query == "<insufficient privilege>")
            .count();
        Ok(ActivitySnapshot {
            sessions,
            hidden_sessions,
            monitor_role: self.spec.user().to_string(),
            statements: 1,
            elapsed,
            header,
        })
    }

    /// One execution of the activity statement: the named one (prepared on first use on this
    /// connection; Parse and Describe execute nothing) or the unnamed one.
    async fn run_activity(
        &self,
        guard: &mut Monitor,
        prepared: bool,
    ) -> Result<Vec<tokio_postgres::Row>, RunError> {
        let Some(client) = guard.client.as_ref() else {
            return Err(RunError::NoConnection);
        };
        let run = tokio::time::timeout(self.query_timeout, async {
            if !prepared {
                // query_typed: parse, bind and execute in one round trip, with no named
                // statement left on the server (so it also works behind PgBouncer in
                // transaction mode).
                return client.query_typed(&guard.activity_sql, &[]).await;
            }
            let stmt = match &guard.activity_stmt {
                Some(stmt) => stmt.clone(),
                None => {
                    let stmt = client.prepare(&guard.activity_sql).await?;
                    guard.activity_stmt = Some(stmt.clone());
                    stmt
                }
            };
            // Bind and execute the generic plan: one round trip, no planning.
            client.query(&stmt, &[]).await
        });
        match run.await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(RunError::Db(e)),
            Err(_) => Err(RunError::Timeout),
        }
    }

    async fn signal_once(&self, req: SignalRequest) -> Result<SignalOutcome, PgError> {
        let s = &req.session;
        // Without backend_start the identity check cannot tell sessions apart (NULL = NULL).
        if s.backend_start.is_none() {
            return Err(PgError::Refused(super::hidden_session_refusal(
                s.pid,
                Some(self.spec.user()),
            )));
        }
        // Actions use their own short-lived session, never the monitoring one.
        let limits = SessionLimits {
            statement_timeout: req.terminate_wait + Duration::from_secs(5),
            ..SessionLimits::default()
        };
        let (client, major) = self.spec.connect(&limits, false).await?;
        let sql = signal_sql(&req, major);
        let wait_ms = i64::try_from(req.terminate_wait.as_millis()).unwrap_or(i64::MAX);
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            if req.kind == SignalKind::Terminate && major >= 14 {
                vec![&s.pid, &s.backend_start, &s.query_start, &wait_ms]
            } else {
                vec![&s.pid, &s.backend_start, &s.query_start]
            };
        let rows = client
            .query(&sql, &params)
            .await
            .map_err(|e| PgError::Query(redact(&error_text(&e))))?;
        let Some(row) = rows.first() else {
            return Ok(SignalOutcome::Gone);
        };
        let same_session: bool = row.try_get(0).map_err(|e| PgError::Query(e.to_string()))?;
        let same_query: bool = row.try_get(1).map_err(|e| PgError::Query(e.to_string()))?;
        let signalled: Option<bool> = row.try_get(2).map_err(|e| PgError::Query(e.to_string()))?;
        Ok(match (same_session, same_query, signalled) {
            (false, _, _) => SignalOutcome::DifferentSession,
            (true, false, _) => SignalOutcome::DifferentQuery,
            (true, true, Some(returned)) => SignalOutcome::Signalled { returned },
            (true, true, None) => SignalOutcome::Signalled { returned: false },
        })
    }
}

/// Why one run of the activity statement gave no rows.
enum RunError {
    NoConnection,
    Db(tokio_postgres::Error),
    Timeout,
}

/// The server no longer has the named statement (or another one under its name): what a
/// transaction-mode pooler without prepared-statement support answers.
fn lost_statement(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::INVALID_SQL_STATEMENT_NAME || *c == SqlState::DUPLICATE_PSTATEMENT
    })
}

/// The signalling statement: identity check and signal in one statement, so no other
/// session can take the pid in between. The comment ties the server log to the audit id.
pub fn signal_sql(req: &SignalRequest, server_major: u32) -> String {
    let call = match req.kind {
        SignalKind::Cancel => "pg_cancel_backend(t.pid)",
        SignalKind::Terminate if server_major >= 14 => "pg_terminate_backend(t.pid, $4::int8)",
        SignalKind::Terminate => "pg_terminate_backend(t.pid)",
    };
    // Plain equality: a NULL (hidden) backend_start never matches anything.
    let same = "coalesce(t.backend_start = $2::timestamptz, false)";
    let same_query = "t.query_start IS NOT DISTINCT FROM $3::timestamptz";
    format!(
        "/* warroom audit_id={} reason={} */ \
         WITH t AS (SELECT pid, backend_start, query_start FROM pg_stat_activity WHERE pid = $1::int4) \
         SELECT {same}, {same_query}, CASE WHEN {same} AND {same_query} THEN {call} END FROM t",
        comment_safe(&req.audit_id),
        comment_safe(&req.reason),
    )
}

/// Text safe inside an SQL block comment: one line, no comment delimiters.
fn comment_safe(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("{:?}", one_line.replace("*/", "* /").replace("/*", "/ *"))
}

impl PgSource for RealPg {
    fn activity(&self) -> BoxFuture<'_, Result<ActivitySnapshot, PgError>> {
        Box::pin(self.fetch())
    }

    fn describe_target(&self) -> String {
        self.spec.display.clone()
    }
}

impl PgSignaller for RealPg {
    fn signal(&self, request: SignalRequest) -> BoxFuture<'_, Result<SignalOutcome, PgError>> {
        Box::pin(self.signal_once(request))
    }

    fn role(&self) -> Option<String> {
        Some(self.spec.user().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::SessionIdentity;
    use super::*;

    #[test]
    fn ssl_params_are_taken_out_of_urls_and_conninfo() {
        let (rest, ssl, root) =
            take_ssl_params("postgres://u@h:1/db?sslmode=verify-full&connect_timeout=3");
        assert_eq!(rest, "postgres://u@h:1/db?connect_timeout=3");
        assert_eq!(ssl.as_deref(), Some("verify-full"));
        assert_eq!(root, None);
        let (rest, ssl, root) =
            take_ssl_params("host=h sslmode=require sslrootcert=/ca.pem user=u");
        assert_eq!(rest, "host=h user=u");
        assert_eq!(ssl.as_deref(), Some("require"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn passwords_are_redacted_from_errors() {
        assert_eq!(
            redact("bad url postgres://u:hunter2@h/db"),
            "bad url postgres://u:***@h/db"
        );
        assert_eq!(redact("password=hunter2 host=h"), "password=*** host=h");
    }

    #[test]
    fn resolve_uses_url_parts_and_application_name() {
        let spec = ConnectSpec::resolve("postgres://monitor@db1:6543/app?sslmode=disable", None)
            .expect("valid");
        assert_eq!(spec.display(), "monitor@db1:6543/app");
        assert_eq!(spec.ssl, SslMode::Disable);
        assert_eq!(spec.config.get_application_name(), Some("warroom"));
    }

    #[test]
    fn signal_statement_carries_audit_id_and_a_harmless_reason() {
        let req = SignalRequest {
            kind: SignalKind::Terminate,
            session: SessionIdentity {
                pid: 42,
                backend_start: None,
                query_start: None,
            },
            audit_id: "abc-123".into(),
            reason: "INC-1 evil */ DROP TABLE x; /*\n".into(),
            terminate_wait: Duration::from_secs(5),
        };
        let sql = signal_sql(&req, 15);
        assert!(sql.starts_with("/* warroom audit_id=\"abc-123\""));
        assert_eq!(sql.matches("*/").count(), 1, "{sql}");
        assert!(sql.contains("pg_terminate_backend(t.pid, $4::int8)"));
        assert!(signal_sql(&req, 13).contains("pg_terminate_backend(t.pid) END"));
    }

    #[test]
    fn server_major_parses_debian_versions() {
        assert_eq!(server_major(Some("15.18 (Debian 15.18-0+deb12u1)")), 15);
        assert_eq!(server_major(Some("9.6.24")), 9);
        assert_eq!(server_major(None), 0);
    }
}
