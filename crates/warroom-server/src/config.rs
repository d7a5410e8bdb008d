//! The server's own configuration file: a `[server]` table, parsed by its own model.
//!
//! Errors name `file:line:col: field: message`, like the client configuration. Secrets (the
//! database password, tokens) are never in this file: tokens appear only as SHA-256 hashes and
//! the password comes from an environment variable or a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use warroom_core::backends::postgres::ConnectSpec;
use warroom_core::config::ConfigError;

use super::connections::ConnectionLimits;

/// Default pool size: enough for 50 concurrent clients on a small machine.
const DEFAULT_POOL_SIZE: usize = 16;
/// The range of the connection timeouts.
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: Spanned<RawServer>,
    /// The server's own contexts for delegated actions (the client's shapes).
    #[serde(default)]
    postgres: Vec<Spanned<warroom_core::config::PostgresContext>>,
    #[serde(default)]
    kafka: Vec<Spanned<warroom_core::config::KafkaContext>>,
    #[serde(default)]
    kubernetes: Vec<Spanned<warroom_core::config::KubernetesContext>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Spanned<String>,
    database_url: Spanned<String>,
    /// Name of an environment variable holding the database password.
    database_password_env: Option<Spanned<String>>,
    /// A file holding the database password (e.g. a mounted Kubernetes Secret).
    database_password_file: Option<Spanned<String>>,
    pool_size: Option<Spanned<usize>>,
    retention_days: Option<Spanned<u32>>,
    tls: Option<Spanned<RawTls>>,
    #[serde(default)]
    token: Vec<Spanned<RawToken>>,
    oidc: Option<Spanned<RawOidc>>,
    /// Policy for delegated actions, first match wins (see [`super::policy`]).
    #[serde(default)]
    rule: Vec<Spanned<super::policy::RawRule>>,
    /// The local hash-chained copy of the delegated actions' records (the database has them
    /// too); default: the state directory.
    actions_audit_file: Option<Spanned<String>>,
    /// Connection limits ([`super::connections::ConnectionLimits`]); durations as "10s".
    max_connections: Option<Spanned<usize>>,
    header_timeout: Option<Spanned<String>>,
    body_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    max_streams_per_identity: Option<Spanned<usize>>,
    /// This replica's name in the records it writes (`server:<replica>`); default: the host name.
    replica: Option<Spanned<String>>,
    /// Who reads every record and request (identities or `group:NAME`).
    auditors: Option<Spanned<Vec<String>>>,
    /// Who may watch any live share, besides its owner and the auditors (default: anyone
    /// authenticated).
    share_watchers: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Spanned<String>,
    key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    identity: Spanned<String>,
    sha256: Spanned<String>,
    /// Groups for `group:NAME` in rules (OIDC callers get theirs from the groups claim).
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: Spanned<String>,
    audience: Spanned<String>,
    identity_claim: Option<Spanned<String>>,
    /// The claim listing the caller's groups (default `groups`), for `group:NAME` in rules.
    groups_claim: Option<Spanned<String>>,
    /// Where the signing keys are; default: `jwks_uri` of the issuer's discovery document.
    jwks_url: Option<Spanned<String>>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub file: PathBuf,
    pub listen: SocketAddr,
    /// The database to connect to; its Debug never shows the password.
    pub database: ConnectSpec,
    pub pool_size: usize,
    /// Whole days to keep; `None` keeps everything.
    pub retention_days: Option<u32>,
    pub tls: Option<TlsFiles>,
    pub auth: AuthConfig,
    /// Delegated actions: the server's own contexts, its rules, its local audit file.
    pub contexts: warroom_core::config::Contexts,
    pub policy: super::policy::ServerPolicy,
    pub actions_audit_file: PathBuf,
    /// The connection cap, the header/body/idle timeouts, long requests per identity.
    pub connections: ConnectionLimits,
    /// The name this replica writes its records under, after `server:`.
    pub replica: String,
    pub readers: super::scope::Readers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How callers authenticate: static tokens, OIDC, or both (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub tokens: Vec<StaticToken>,
    pub oidc: Option<OidcConfig>,
}

/// A static bearer token, stored as the lowercase hex SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticToken {
    pub identity: String,
    pub sha256: [u8; 32],
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: String,
    pub identity_claim: String,
    pub groups_claim: String,
    pub jwks_url: Option<String>,
}

impl ServerConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(path, format!("cannot read: {e}")))?;
        ServerConfig::parse(path, &source)
    }

    /// Validates `source`, the text of `path`.
    pub fn parse(path: &Path, source: &str) -> Result<ServerConfig, ConfigError> {
        let file: File =
            toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
        let at = |span: std::ops::Range<usize>, message: String| {
            ConfigError::at(path, source, span, message)
        };
        let server_span = file.server.span();
        let raw = file.server.into_inner();
        let listen = raw.listen.get_ref().parse::<SocketAddr>().map_err(|_| {
            at(
                raw.listen.span(),
                format!(
                    "{:?} is not an address:port such as \"127.0.0.1:8470\"",
                    raw.listen.get_ref()
                ),
            )
        })?;

        let password_env = raw
            .database_password_env
            .as_ref()
            .map(|s| s.get_ref().as_str());
        if let Some(env) = &raw.database_password_env
            && std::env::var_os(env.get_ref()).is_none()
        {
            return Err(at(
                env.span(),
                format!("the environment variable {} is not set", env.get_ref()),
            ));
        }
        let mut database = ConnectSpec::resolve(raw.database_url.get_ref(), password_env)
            .map_err(|e| at(raw.database_url.span(), e))?;
        if let Some(file) = &raw.database_password_file {
            let password = std::fs::read_to_string(resolve(path, file.get_ref()))
                .map_err(|e| at(file.span(), format!("cannot read the password file: {e}")))?;
            database.set_password(password.trim_end_matches(['\r', '\n']));
        }

        let pool_size = match &raw.pool_size {
            Some(n) if *n.get_ref() == 0 || *n.get_ref() > 1000 => {
                return Err(at(n.span(), "must be between 1 and 1000".into()));
            }
            Some(n) => *n.get_ref(),
            None => DEFAULT_POOL_SIZE,
        };
        let retention_days = match &raw.retention_days {
            Some(d) if *d.get_ref() == 0 => {
                return Err(at(
                    d.span(),
                    "must be at least 1 (leave it out to keep records forever)".into(),
                ));
            }
            Some(d) => Some(*d.get_ref()),
            None => None,
        };
        let connections = connection_limits(&raw, &at)?;
        let tls = raw.tls.as_ref().map(|t| {
            let t = t.get_ref();
            TlsFiles {
                cert: resolve(path, t.cert.get_ref()),
                key: resolve(path, t.key.get_ref()),
            }
        });

        let mut tokens: Vec<StaticToken> = Vec::new();
        for token in &raw.token {
            let t = token.get_ref();
            let identity = t.identity.get_ref().trim();
            if identity.is_empty() || identity.chars().any(char::is_control) {
                return Err(at(
                    t.identity.span(),
                    "must be a non-empty identity without control characters".into(),
                ));
            }
            let sha256 = parse_sha256(t.sha256.get_ref()).ok_or_else(|| {
                at(
                    t.sha256.span(),
                    "must be the SHA-256 of the token as 64 hex digits (e.g. \
                     `printf %s \"$TOKEN\" | sha256sum`), never the token itself"
                        .into(),
                )
            })?;
            if tokens.iter().any(|other| other.sha256 == sha256) {
                return Err(at(
                    t.sha256.span(),
                    "the same token hash is listed twice".into(),
                ));
            }
            tokens.push(StaticToken {
                identity: super::auth::canonical_identity(identity),
                sha256,
                groups: t.groups.clone(),
            });
        }

        let oidc = match &raw.oidc {
            None => None,
            Some(o) => {
                let o = o.get_ref();
                // Keys fetched over plain http could be swapped on the way: https only,
                // except on this machine.
                let url = |s: &Spanned<String>| match reqwest::Url::parse(s.get_ref()) {
                    Ok(u) => super::oidc::secure_url(&u).map_err(|why| at(s.span(), why)),
                    Err(_) => Err(at(s.span(), "must be an https URL".into())),
                };
                url(&o.issuer)?;
                if let Some(j) = &o.jwks_url {
                    url(j)?;
                }
                if o.audience.get_ref().is_empty() {
                    return Err(at(o.audience.span(), "must not be empty".into()));
                }
                let identity_claim = match &o.identity_claim {
                    Some(c) if c.get_ref().is_empty() => {
                        return Err(at(c.span(), "must not be empty".into()));
                    }
                    Some(c) => c.get_ref().clone(),
                    None => "email".to_string(),
                };
                let groups_claim = match &o.groups_claim {
                    Some(c) if c.get_ref().is_empty() => {
                        return Err(at(c.span(), "must not be empty".into()));
                    }
                    Some(c) => c.get_ref().clone(),
                    None => "groups".to_string(),
                };
                Some(OidcConfig {
                    issuer: o.issuer.get_ref().clone(),
                    audience: o.audience.get_ref().clone(),
                    identity_claim,
                    groups_claim,
                    jwks_url: o.jwks_url.as_ref().map(|j| j.get_ref().clone()),
                })
            }
        };
        // The server's own sender names can never be an authenticated identity.
        if let Some(t) = raw
            .token
            .iter()
            .find(|t| warroom_core::protocol::is_server_name(t.get_ref().identity.get_ref().trim()))
        {
            return Err(at(
                t.get_ref().identity.span(),
                format!(
                    "identities starting with {:?} are reserved for the server's own records",
                    warroom_core::protocol::SERVER_PREFIX
                ),
            ));
        }
        let replica = match &raw.replica {
            Some(r) => {
                let name = r.get_ref().trim();
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic() && c != ':') {
                    return Err(at(
                        r.span(),
                        "must be a non-empty name of printable ASCII characters, without spaces \
                         or ':'"
                            .into(),
                    ));
                }
                name.to_string()
            }
            None => host_name(),
        };
        // `auditors` and `share_watchers`: identities (canonical) or `group:NAME` entries.
        let entries = |list: &Spanned<Vec<String>>| -> Result<Vec<String>, ConfigError> {
            let entries: Vec<String> = list
                .get_ref()
                .iter()
                .map(|e| super::auth::canonical_entry(e))
                .collect();
            match entries
                .iter()
                .find(|e| e.is_empty() || e.chars().any(|c| c.is_control() || c.is_whitespace()))
            {
                Some(bad) => Err(at(
                    list.span(),
                    format!("{bad:?} is not an identity or \"group:NAME\""),
                )),
                None => Ok(entries),
            }
        };
        let auditors = raw
            .auditors
            .as_ref()
            .map(entries)
            .transpose()?
            .unwrap_or_default();
        let share_watchers = raw.share_watchers.as_ref().map(entries).transpose()?;
        if tokens.is_empty() && oidc.is_none() {
            return Err(at(
                server_span,
                "no way to authenticate: add [[server.token]] entries or a [server.oidc] table"
                    .into(),
            ));
        }
        let contexts = warroom_core::config::parse_contexts(
            path,
            source,
            (file.postgres, file.kafka, file.kubernetes),
        )?;
        let policy = super::policy::ServerPolicy::parse(path, source, raw.rule)?;
        let actions_audit_file = match &raw.actions_audit_file {
            Some(f) => resolve(path, f.get_ref()),
            None => warroom_core::config::state_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("server-actions-audit.jsonl"),
        };
        Ok(ServerConfig {
            file: path.to_path_buf(),
            contexts,
            policy,
            actions_audit_file,
            listen,
            database,
            pool_size,
            retention_days,
            tls,
            auth: AuthConfig { tokens, oidc },
            connections,
            replica,
            readers: super::scope::Readers {
                auditors,
                share_watchers,
            },
        })
    }

    /// The sender name of the records this replica writes itself.
    pub fn server_sender(&self) -> String {
        format!("{}{}", warroom_core::protocol::SERVER_PREFIX, self.replica)
    }

    /// A few lines for `warroom server check-config`: no secrets, no token hashes.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "replica: {}\nlisten: {}{}\ndatabase: {}\npool_size: {}\nretention: {}\nstatic tokens: {}\n",
            self.replica,
            self.listen,
            if self.tls.is_some() { " (TLS)" } else { "" },
            self.database.display(),
            self.pool_size,
            match self.retention_days {
                Some(d) => format!("{d} day(s)"),
                None => "keep forever".to_string(),
            },
            self.auth.tokens.len(),
        );
        match &self.auth.oidc {
            Some(o) => out.push_str(&format!(
                "oidc: issuer {} audience {} identity claim {}\n",
                o.issuer, o.audience, o.identity_claim
            )),
            None => out.push_str("oidc: off\n"),
        }
        let contexts = self.contexts.names();
        out.push_str(&self.connections.summary());
        let list = |l: &[String]| {
            if l.is_empty() {
                "(none)".to_string()
            } else {
                l.join(", ")
            }
        };
        out.push_str(&format!(
            "auditors (read everything): {}\nshare watchers: {}\n",
            list(&self.readers.auditors),
            self.readers
                .share_watchers
                .as_deref()
                .map_or_else(|| "anyone authenticated".to_string(), list),
        ));
        out.push_str(&format!(
            "delegated contexts: {}\nrules: {}\n",
            if contexts.is_empty() {
                "(none)".to_string()
            } else {
                contexts.join(", ")
            },
            self.policy.rules.len()
        ));
        out
    }
}

/// The connection limits of `[server]`, each checked at its own position.
fn connection_limits(
    raw: &RawServer,
    at: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<ConnectionLimits, ConfigError> {
    let defaults = ConnectionLimits::default();
    let count = |field: &Option<Spanned<usize>>, max: usize, default: usize| match field {
        Some(n) if *n.get_ref() == 0 || *n.get_ref() > max => {
            Err(at(n.span(), format!("must be between 1 and {max}")))
        }
        Some(n) => Ok(*n.get_ref()),
        None => Ok(default),
    };
    let duration = |field: &Option<Spanned<String>>, default: Duration| match field {
        None => Ok(default),
        Some(t) => humantime::parse_duration(t.get_ref())
            .ok()
            .filter(|d| (MIN_TIMEOUT..=MAX_TIMEOUT).contains(d))
            .ok_or_else(|| {
                at(
                    t.span(),
                    format!(
                        "{:?} is not a duration between 100ms and 1h such as \"10s\"",
                        t.get_ref()
                    ),
                )
            }),
    };
    Ok(ConnectionLimits {
        max_connections: count(&raw.max_connections, 1_000_000, defaults.max_connections)?,
        header_timeout: duration(&raw.header_timeout, defaults.header_timeout)?,
        body_timeout: duration(&raw.body_timeout, defaults.body_timeout)?,
        idle_timeout: duration(&raw.idle_timeout, defaults.idle_timeout)?,
        max_streams_per_identity: count(
            &raw.max_streams_per_identity,
            100_000,
            defaults.max_streams_per_identity,
        )?,
    })
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// Relative paths in the file are relative to the file's folder.
fn resolve(config: &Path, value: &str) -> PathBuf {
    let p = PathBuf::from(value);
    if p.is_absolute() {
        return p;
    }
    config.parent().map(|d| d.join(&p)).unwrap_or(p)
}

/// The machine's host name (in a pod: the pod's name), else `warroom-server`.
fn host_name() -> String {
    let usable = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && c != ':'))
            .then(|| s.to_string())
    };
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| usable(&h))
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(|h| usable(&h)))
        .unwrap_or_else(|| "warroom-server".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn parse(text: &str) -> Result<ServerConfig, String> {
        ServerConfig::parse(Path::new("/etc/warroom/server.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_shape_parses() {
        let c = parse(&format!(
            r#"[server]
listen = "127.0.0.1:8470"
database_url = "postgres://warroom@db:5432/warroom"
[[server.token]]
identity = "alice@example.com"
sha256 = "{HASH}"
[server.oidc]
issuer = "https://idp.example"
audience = "warroom"
identity_claim = "email"
"#
        ))
        .expect("valid");
        assert_eq!(c.listen.port(), 8470);
        assert_eq!(c.auth.tokens[0].identity, "alice@example.com");
        assert_eq!(hex::encode(c.auth.tokens[0].sha256), HASH);
        let oidc = c.auth.oidc.clone().expect("oidc");
        assert_eq!(oidc.identity_claim, "email");
        assert_eq!(c.retention_days, None);
        assert!(!c.summary().contains(HASH));
    }

    #[test]
    fn errors_name_file_line_column_and_field() {
        let e = parse(
            "[server]\nlisten = \"127.0.0.1:8470\"\ndatabase_url = \"postgres://db/w\"\n\
             [[server.token]]\nidentity = \"a@b\"\nsha256 = \"secret-token\"\n",
        )
        .expect_err("plain token");
        assert!(
            e.starts_with(
                "/etc/warroom/server.toml:6:10: server.token[1].sha256: must be the SHA-256"
            ),
            "{e}"
        );
        let e = parse("[server]\nlisten = \"nowhere\"\ndatabase_url = \"postgres://db/w\"\n")
            .expect_err("bad listen");
        assert!(
            e.starts_with("/etc/warroom/server.toml:2:10: server.listen: \"nowhere\" is not"),
            "{e}"
        );
        let e = parse(&format!(
            "[server]\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"postgres://db/w\"\n\
             retension_days = 3\n[[server.token]]\nidentity = \"a\"\nsha256 = \"{HASH}\"\n"
        ))
        .expect_err("typo");
        assert!(e.contains(":4:1: "), "{e}");
        assert!(e.contains("did you mean `retention_days`?"), "{e}");
    }

    #[test]
    fn the_example_in_deploy_parses() {
        let c = parse(include_str!("../../../deploy/server.example.toml")).expect("example");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8470");
        assert_eq!(c.auth.tokens[0].identity, "you@example.com");
        let digest: [u8; 32] = sha2::Sha256::digest(b"warroom-try-token").into();
        assert_eq!(c.auth.tokens[0].sha256, digest);
    }

    #[test]
    fn connection_limits_have_defaults_and_bad_values_are_placed() {
        let text = |extra: &str| {
            format!(
                "[server]\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"postgres://db/w\"\n{extra}\n\
                 [[server.token]]\nidentity = \"a\"\nsha256 = \"{HASH}\"\n"
            )
        };
        let c = parse(&text("")).expect("defaults");
        assert_eq!(c.connections, ConnectionLimits::default());
        assert!(
            c.summary().contains("connections: at most 4096"),
            "{}",
            c.summary()
        );
        let c = parse(&text(
            "max_connections = 64\nheader_timeout = \"2s\"\nbody_timeout = \"500ms\"\n\
             idle_timeout = \"1m\"\nmax_streams_per_identity = 3",
        ))
        .expect("set");
        assert_eq!(
            c.connections,
            ConnectionLimits {
                max_connections: 64,
                header_timeout: Duration::from_secs(2),
                body_timeout: Duration::from_millis(500),
                idle_timeout: Duration::from_secs(60),
                max_streams_per_identity: 3,
            }
        );
        assert!(
            c.summary().contains(
                "timeouts: header 2s, body 500ms, idle 1m; long-polls and streams per identity: 3"
            ),
            "{}",
            c.summary()
        );
        let e = parse(&text("header_timeout = \"soon\"")).expect_err("bad duration");
        assert!(
            e.starts_with(
                "/etc/warroom/server.toml:4:18: server.header_timeout: \"soon\" is not a duration"
            ),
            "{e}"
        );
        let e = parse(&text("idle_timeout = \"2h\"")).expect_err("too long");
        assert!(e.contains(":4:16: server.idle_timeout: "), "{e}");
        let e = parse(&text("max_connections = 0")).expect_err("zero");
        assert!(
            e.starts_with(
                "/etc/warroom/server.toml:4:19: server.max_connections: must be between 1"
            ),
            "{e}"
        );
        let e = parse(&text("max_streams_per_identity = 0")).expect_err("zero streams");
        assert!(
            e.contains(":4:28: server.max_streams_per_identity: "),
            "{e}"
        );
    }

    #[test]
    fn static_token_identities_are_canonical() {
        let c = parse(&format!(
            "[server]\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"postgres://db/w\"\n\
             [[server.token]]\nidentity = \" Alice@Example.COM \"\nsha256 = \"{HASH}\"\n"
        ))
        .expect("valid");
        assert_eq!(c.auth.tokens[0].identity, "alice@example.com");
    }

    #[test]
    fn the_servers_own_sender_names_and_bad_auditors_are_refused_with_their_place() {
        let with = |server_lines: &str, identity: &str| {
            parse(&format!(
                "[server]\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"postgres://db/w\"\n\
                 {server_lines}\n[[server.token]]\nidentity = \"{identity}\"\nsha256 = \"{HASH}\"\n"
            ))
        };
        let err = with("", "Server:eu-1").expect_err("reserved").to_string();
        assert!(err.contains(":6:") && err.contains("reserved"), "{err}");
        let err = with("auditors = [\"ops team\"]", "a@b")
            .expect_err("space")
            .to_string();
        assert!(err.contains(":4:") && err.contains("\"ops team\""), "{err}");
        let err = with("replica = \"eu 1\"", "a@b")
            .expect_err("replica")
            .to_string();
        assert!(err.contains(":4:") && err.contains("replica"), "{err}");
        let c = with(
            "auditors = [\" Carol@Example.com\", \"group:Audit\"]\nreplica = \"eu-1\"",
            "a@b",
        )
        .expect("valid");
        assert_eq!(c.readers.auditors, ["carol@example.com", "group:Audit"]);
        assert_eq!(c.server_sender(), "server:eu-1");
    }

    #[test]
    fn a_plain_http_issuer_or_jwks_url_is_refused_unless_loopback() {
        let oidc = |issuer: &str, jwks: &str| {
            parse(&format!(
                "[server]\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"postgres://db/w\"\n\
                 [server.oidc]\nissuer = \"{issuer}\"\naudience = \"w\"\n{jwks}"
            ))
        };
        let e = oidc("http://idp.example", "").expect_err("plain http issuer");
        assert!(
            e.starts_with("/etc/warroom/server.toml:5:10: server.oidc.issuer: "),
            "{e}"
        );
        assert!(e.contains("https"), "{e}");
        let e = oidc(
            "https://idp.example",
            "jwks_url = \"http://keys.example/jwks\"\n",
        )
        .expect_err("plain http jwks_url");
        assert!(
            e.starts_with("/etc/warroom/server.toml:7:12: server.oidc.jwks_url: "),
            "{e}"
        );
        let e = oidc("ftp://idp.example", "").expect_err("ftp");
        assert!(e.contains("server.oidc.issuer"), "{e}");
        for ok in [
            "https://idp.example",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:8080",
        ] {
            oidc(ok, "").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn a_server_without_any_authentication_is_refused() {
        let e = parse("[server]\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"postgres://db/w\"\n")
            .expect_err("no auth");
        assert!(e.contains("no way to authenticate"), "{e}");
    }
}
