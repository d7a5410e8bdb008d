//! Configuration: the TOML model, where it is found, and validation with precise errors.

/// A context kind's struct as written in the file: its own fields, then the four every kind
/// has (the guard's policy and where actions run), declared once here and read by
/// `common_fields!` below.
macro_rules! context_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
            #[serde(default)]
            pub protected: bool,
            #[serde(default)]
            pub read_only: bool,
            pub runbook_url: Option<String>,
            /// `via = "server"`: guarded actions run on the `[server]`, not from here.
            #[serde(default)]
            pub via: $crate::config::Via,
        }
    };
}

mod error;
mod kafka;
mod kubernetes;
mod server_link;
pub mod service;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use error::{ConfigError, closest, line_col};
pub use kafka::KafkaContext;
pub use kubernetes::{KubernetesContext, LogsConfig};
pub use server_link::ServerLink;

use crate::audit::{AuditSettings, OnUnreachable};
use crate::guard::{ContextId, ContextKind, ContextPolicy};

context_struct! {
    /// One PostgreSQL context, as written in the file.
    #[derive(Debug, Clone, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct PostgresContext {
        pub name: String,
        /// A postgres:// URL or key=value conninfo. May hold a password: never shown.
        pub url: String,
        pub password_env: Option<String>,
        /// `auto` (default), `always` or `never`: prepare the activity statement once per
        /// connection (see `PrepareMode`).
        pub prepare: Option<String>,
    }
}

/// Where a context's guarded actions run.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// From this machine, with the context's own credentials.
    #[default]
    Direct,
    /// Sent to `warroom server` (`[server] url`), which holds the acting credentials.
    Server,
}

impl PostgresContext {
    /// The URL with any password replaced, for `config check` and the status bar.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The `prepare` setting (checked when the file was loaded; `auto` when absent).
    pub fn prepare_mode(&self) -> crate::backends::postgres::PrepareMode {
        self.prepare
            .as_deref()
            .and_then(crate::backends::postgres::PrepareMode::parse)
            .unwrap_or_default()
    }
}

/// Reason rules for guarded actions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    #[serde(default = "default_min_reason")]
    pub min_reason_len: usize,
    pub reason_pattern: Option<Spanned<String>>,
    /// How long pg_terminate_backend waits for the backend to exit (PostgreSQL 14+).
    pub terminate_wait: Option<Spanned<String>>,
    /// Bound on every destructive call (PostgreSQL signal, Kafka delete/commit, Kubernetes
    /// delete/patch); a call cut off is recorded as outcome `unknown`.
    pub action_timeout: Option<Spanned<String>>,
}

fn default_min_reason() -> usize {
    10
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            min_reason_len: default_min_reason(),
            reason_pattern: None,
            terminate_wait: None,
            action_timeout: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub file: Option<PathBuf>,
    pub endpoint: Option<Spanned<String>>,
    pub token_env: Option<String>,
    pub timeout: Option<Spanned<String>>,
    pub on_unreachable: Option<Spanned<String>>,
    pub identity: Option<String>,
}

/// A key or a list of keys in `[keys]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyList::One(k) => vec![k.as_str()],
            KeyList::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    theme: Option<Spanned<String>>,
    refresh: Option<Spanned<String>>,
    #[serde(default)]
    postgres: Vec<Spanned<PostgresContext>>,
    #[serde(default)]
    kafka: Vec<Spanned<KafkaContext>>,
    #[serde(default)]
    kubernetes: Vec<Spanned<KubernetesContext>>,
    #[serde(default)]
    logs: Option<Spanned<LogsConfig>>,
    #[serde(default)]
    guard: GuardConfig,
    #[serde(default)]
    audit: AuditConfig,
    server: Option<Spanned<server_link::ServerSection>>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<KeyList>>,
    #[serde(default, rename = "service")]
    services: Vec<Spanned<service::ServiceConfig>>,
}

/// The validated configuration the rest of warroom uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from; `None` when no file exists (all defaults).
    pub source: Option<PathBuf>,
    pub refresh: Duration,
    pub contexts: Contexts,
    pub logs: LogsConfig,
    pub min_reason_len: usize,
    pub reason_pattern: Option<regex::Regex>,
    pub terminate_wait: Duration,
    /// `[guard] action_timeout`, default 15s.
    pub action_timeout: Duration,
    pub audit: AuditSettings,
    /// `[server]`: the `warroom server` this warroom talks to, if any.
    pub server: Option<ServerLink>,
    /// `theme` and `[keys]` as written, for the terminal UI to read.
    pub ui: UiSection,
    /// `[[service]]`: matchers over every pane and link templates (`:focus NAME`, `o`).
    pub services: Vec<crate::service::Service>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            refresh: Duration::from_secs(2),
            contexts: Contexts::default(),
            logs: LogsConfig::default(),
            min_reason_len: default_min_reason(),
            reason_pattern: None,
            terminate_wait: Duration::from_secs(5),
            action_timeout: crate::guard::executor::DEFAULT_ACTION_TIMEOUT,
            audit: AuditSettings::local(AuditSettings::default_file()),
            server: None,
            ui: UiSection::default(),
            services: Vec::new(),
        }
    }
}

impl Config {
    /// `--config FILE`, else $WARROOM_CONFIG, else $XDG_CONFIG_HOME/warroom/config.toml
    /// (~/.config when unset). An explicit file must exist; the default one may not.
    pub fn locate(explicit: Option<&Path>) -> (Option<PathBuf>, bool) {
        if let Some(p) = explicit {
            return (Some(p.to_path_buf()), true);
        }
        if let Some(p) = std::env::var_os("WARROOM_CONFIG").filter(|p| !p.is_empty()) {
            return (Some(PathBuf::from(p)), true);
        }
        (config_dir().map(|d| d.join("config.toml")), false)
    }

    /// Find and load the configuration.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match Config::locate(explicit) {
            (Some(path), must_exist) => {
                if !must_exist && !path.exists() {
                    return Ok(Config::default());
                }
                Config::parse(&path, &ConfigError::read(&path)?)
            }
            (None, _) => Ok(Config::default()),
        }
    }

    /// Parse and validate `text`, read from `path` (used in error messages).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = ConfigError::parse_toml(path, text)?;
        let src = Source { path, text };
        let refresh = match &raw.refresh {
            Some(r) => src.duration(r, Duration::from_millis(250))?,
            None => Duration::from_secs(2),
        };
        let has_server = raw
            .server
            .as_ref()
            .is_some_and(|s| s.get_ref().url.is_some());
        if !has_server {
            let delegated = raw
                .postgres
                .iter()
                .filter(|c| c.get_ref().via == Via::Server)
                .map(|c| c.span())
                .chain(
                    raw.kafka
                        .iter()
                        .filter(|c| c.get_ref().via == Via::Server)
                        .map(|c| c.span()),
                )
                .chain(
                    raw.kubernetes
                        .iter()
                        .filter(|c| c.get_ref().via == Via::Server)
                        .map(|c| c.span()),
                )
                .min_by_key(|s| s.start);
            if let Some(span) = delegated {
                let at = find_in(text, span.clone(), "via").unwrap_or(span);
                return Err(src.err(
                    at,
                    "via = \"server\" needs a [server] section with the server's url".into(),
                ));
            }
        }
        let contexts = parse_contexts(path, text, (raw.postgres, raw.kafka, raw.kubernetes))?;
        let services = services(path, text, raw.services)?;
        let logs = src.logs(raw.logs)?;
        let (reason_pattern, terminate_wait, action_timeout) = src.guard(&raw.guard)?;
        let server = match &raw.server {
            Some(section) => section
                .get_ref()
                .resolve(section.span())
                .map_err(|(span, message)| src.err(span, message))?,
            None => None,
        };
        let audit = src.audit(&raw.audit, server.as_ref())?;
        Ok(Config {
            source: Some(path.to_path_buf()),
            refresh,
            contexts,
            logs,
            min_reason_len: raw.guard.min_reason_len,
            reason_pattern,
            terminate_wait,
            action_timeout,
            audit,
            server,
            ui: UiSection {
                theme: raw.theme,
                keys: raw.keys,
                file: Some(FileText {
                    path: path.to_path_buf(),
                    text: text.into(),
                }),
            },
            services,
        })
    }

    pub fn kubernetes_context(&self, name: &str) -> Option<&KubernetesContext> {
        self.contexts.kubernetes.iter().find(|c| c.name == name)
    }

    pub fn kafka_context(&self, name: &str) -> Option<&KafkaContext> {
        self.contexts.kafka.iter().find(|c| c.name == name)
    }

    pub fn postgres_context(&self, name: &str) -> Option<&PostgresContext> {
        self.contexts.postgres.iter().find(|c| c.name == name)
    }

    /// Every context name of every kind, for messages.
    pub fn context_names(&self) -> Vec<String> {
        self.contexts.names()
    }

    /// `--context NAME` names a configured context of some kind.
    pub fn check_context(&self, name: Option<&str>) -> Result<(), String> {
        match name {
            Some(n)
                if self.postgres_context(n).is_none()
                    && self.kafka_context(n).is_none()
                    && self.kubernetes_context(n).is_none() =>
            {
                Err(format!(
                    "unknown context {n:?}; configured: {}",
                    match self.context_names() {
                        names if names.is_empty() => "(none)".into(),
                        names => names.join(", "),
                    }
                ))
            }
            _ => Ok(()),
        }
    }

    /// What `warroom config check` prints: everything, secrets redacted.
    pub fn summary(&self, theme: &str) -> String {
        let mut out = String::new();
        let source = self
            .source
            .as_ref()
            .map_or("(no file: defaults)".to_string(), |p| {
                p.display().to_string()
            });
        out.push_str(&format!("config: {source}\n"));
        out.push_str(&format!(
            "theme: {}\nrefresh: {}\n",
            theme,
            humantime::format_duration(self.refresh)
        ));
        summarize(&mut out, "postgres", &self.contexts.postgres);
        summarize(&mut out, "kafka", &self.contexts.kafka);
        summarize(&mut out, "kubernetes", &self.contexts.kubernetes);
        out.push_str(&format!(
            "logs: buffer_bytes = {}\n",
            self.logs.buffer_bytes
        ));
        out.push_str(&format!(
            "guard: min_reason_len = {}, reason_pattern = {}\n",
            self.min_reason_len,
            self.reason_pattern
                .as_ref()
                .map_or("(none)".to_string(), |r| r.as_str().to_string())
        ));
        out.push_str(&format!("{}\n", self.audit.destination_text()));
        // Names and URLs come from the file: one sanitizer for all of it.
        crate::sanitize::lines(&out, 2000)
    }
}

/// `theme` and `[keys]` as written: warroom-tui checks and reads them (its `settings`), with
/// errors that point into the file like every other error here.
#[derive(Debug, Clone, Default)]
pub struct UiSection {
    pub theme: Option<Spanned<String>>,
    pub keys: BTreeMap<String, Spanned<KeyList>>,
    /// The file they were read from (none: no file, all defaults).
    pub file: Option<FileText>,
}

/// A configuration file and its text, for errors that point into it.
#[derive(Debug, Clone)]
pub struct FileText {
    pub path: PathBuf,
    pub text: std::sync::Arc<str>,
}

impl FileText {
    /// An error at `span` of this file.
    pub fn err(&self, span: std::ops::Range<usize>, msg: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.path, &self.text, span, msg)
    }

    /// The span of `key = ...` inside `within`.
    pub fn find(
        &self,
        within: std::ops::Range<usize>,
        key: &str,
    ) -> Option<std::ops::Range<usize>> {
        find_in(&self.text, within, key)
    }
}

/// The file being parsed: every error points into it (file:line:col).
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn err(&self, span: std::ops::Range<usize>, msg: String) -> ConfigError {
        ConfigError::at(self.path, self.text, span, msg)
    }

    fn duration(&self, v: &Spanned<String>, min: Duration) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(v.get_ref()).map_err(|e| {
            self.err(
                v.span(),
                format!("{:?} is not a duration like \"2s\": {e}", v.get_ref()),
            )
        })?;
        if d < min {
            return Err(self.err(
                v.span(),
                format!("must be at least {}", humantime::format_duration(min)),
            ));
        }
        Ok(d)
    }

    fn logs(&self, logs: Option<Spanned<LogsConfig>>) -> Result<LogsConfig, ConfigError> {
        let Some(l) = logs else {
            return Ok(LogsConfig::default());
        };
        let span = l.span();
        let l = l.into_inner();
        if l.buffer_bytes < kubernetes::MIN_BUFFER_BYTES {
            let at = find_in(self.text, span.clone(), "buffer_bytes").unwrap_or(span);
            return Err(self.err(
                at,
                format!(
                    "buffer_bytes must be at least {}",
                    kubernetes::MIN_BUFFER_BYTES
                ),
            ));
        }
        Ok(l)
    }

    /// `[guard]`: the reason pattern, terminate_wait and action_timeout.
    fn guard(
        &self,
        guard: &GuardConfig,
    ) -> Result<(Option<regex::Regex>, Duration, Duration), ConfigError> {
        let reason_pattern = match &guard.reason_pattern {
            Some(p) => Some(regex::Regex::new(p.get_ref()).map_err(|e| {
                self.err(
                    p.span(),
                    format!("invalid regular expression: {}", regex_problem(&e)),
                )
            })?),
            None => None,
        };
        let terminate_wait = match &guard.terminate_wait {
            Some(w) => self.duration(w, Duration::from_millis(100))?,
            None => Duration::from_secs(5),
        };
        let action_timeout = match &guard.action_timeout {
            Some(t) => self.duration(t, Duration::from_secs(1))?,
            None => crate::guard::executor::DEFAULT_ACTION_TIMEOUT,
        };
        if action_timeout <= terminate_wait {
            let at = guard
                .action_timeout
                .as_ref()
                .or(guard.terminate_wait.as_ref())
                .map_or(0..0, |s| s.span());
            return Err(self.err(
                at,
                format!(
                    "action_timeout ({}) must be longer than terminate_wait ({}): a terminate \
                     waits that long on the server",
                    humantime::format_duration(action_timeout),
                    humantime::format_duration(terminate_wait)
                ),
            ));
        }
        Ok((reason_pattern, terminate_wait, action_timeout))
    }

    /// `[audit]`; with a `[server]` and no endpoint, the server keeps the audit trail.
    fn audit(
        &self,
        raw: &AuditConfig,
        server: Option<&ServerLink>,
    ) -> Result<AuditSettings, ConfigError> {
        let mut audit =
            AuditSettings::local(raw.file.clone().unwrap_or_else(AuditSettings::default_file));
        if let Some(ep) = &raw.endpoint {
            let url = ep.get_ref();
            if let Some(problem) = server_link::url_problem(url, raw.token_env.is_some()) {
                return Err(self.err(ep.span(), problem));
            }
            audit.endpoint = Some(url.clone());
            audit.token_env = raw.token_env.clone();
        } else if let Some(link) = server {
            audit.endpoint = Some(link.endpoint("v1/audit"));
            audit.token_env = raw.token_env.clone().or_else(|| link.token_env.clone());
        } else {
            audit.token_env = raw.token_env.clone();
        }
        audit.identity = raw.identity.clone();
        if let Some(t) = &raw.timeout {
            audit.timeout = self.duration(t, Duration::from_millis(100))?;
        }
        if let Some(o) = &raw.on_unreachable {
            audit.on_unreachable = match o.get_ref().as_str() {
                "deny" => OnUnreachable::Deny,
                "local-only" => OnUnreachable::LocalOnly,
                other => {
                    return Err(self.err(
                        o.span(),
                        format!("unknown value {other:?}: use \"deny\" or \"local-only\""),
                    ));
                }
            };
        }
        Ok(audit)
    }
}

/// "  [protected, read-only]" (the flags that are set) and the end of the line, for `describe`.
fn flags_text(protected: bool, read_only: bool) -> String {
    let flags: Vec<&str> = [(protected, "protected"), (read_only, "read-only")]
        .iter()
        .filter_map(|(on, f)| on.then_some(*f))
        .collect();
    if flags.is_empty() {
        "\n".into()
    } else {
        format!("  [{}]\n", flags.join(", "))
    }
}

/// The settings every kind of context has, with the same meaning: its name, and the policy
/// the guard applies to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextCommon<'a> {
    pub id: ContextId,
    pub protected: bool,
    pub read_only: bool,
    pub runbook_url: Option<&'a str>,
    pub via: Via,
}

impl ContextCommon<'_> {
    pub fn name(&self) -> &str {
        &self.id.name
    }

    /// What the guard applies to this context.
    pub fn policy(&self) -> ContextPolicy {
        ContextPolicy {
            protected: self.protected,
            read_only: self.read_only,
            runbook_url: self.runbook_url.map(str::to_string),
        }
    }
}

/// The one shape of the three kinds of context (`[[postgres]]`, `[[kafka]]`,
/// `[[kubernetes]]`): the common settings, the kind's own check (which key is wrong), and
/// the kind's own part of the `config check` line.
pub trait ContextConfig {
    fn common(&self) -> ContextCommon<'_>;
    /// The key and the message of the first wrong setting.
    fn check(&self) -> Result<(), (&'static str, String)>;
    /// What `config check` says of this context after its name (secrets redacted).
    fn describe(&self) -> String;
}

/// `ContextConfig::common` of a kind with the four common fields (and `check`, for the kinds
/// whose own `validate` already says which key is wrong).
macro_rules! common_fields {
    ($kind:expr, validated) => {
        common_fields!($kind);
        fn check(&self) -> Result<(), (&'static str, String)> {
            self.validate()
        }
    };
    ($kind:expr) => {
        fn common(&self) -> ContextCommon<'_> {
            ContextCommon {
                id: ContextId::new($kind, self.name.clone()),
                protected: self.protected,
                read_only: self.read_only,
                runbook_url: self.runbook_url.as_deref(),
                via: self.via,
            }
        }
    };
}

impl ContextConfig for PostgresContext {
    common_fields!(ContextKind::Postgres);
    fn check(&self) -> Result<(), (&'static str, String)> {
        crate::backends::postgres::ConnectSpec::resolve(&self.url, None)
            .map(drop)
            .map_err(|e| ("url", e))?;
        match self.prepare.as_deref() {
            Some(p) if crate::backends::postgres::PrepareMode::parse(p).is_none() => Err((
                "prepare",
                format!("unknown prepare {p:?}: use \"auto\", \"always\" or \"never\""),
            )),
            _ => Ok(()),
        }
    }
    fn describe(&self) -> String {
        let mut out = self.redacted_url();
        if let Some(env) = &self.password_env {
            let set = std::env::var_os(env).is_some_and(|v| !v.is_empty());
            out.push_str(&format!(
                "  password from ${env} ({})",
                if set { "set" } else { "NOT SET" }
            ));
        }
        out
    }
}

impl ContextConfig for KafkaContext {
    common_fields!(ContextKind::Kafka, validated);
    fn describe(&self) -> String {
        let mut out = self.brokers.clone();
        if !self.properties.is_empty() {
            out.push_str(&format!("  {}", self.redacted_properties()));
        }
        out
    }
}

impl ContextConfig for KubernetesContext {
    common_fields!(ContextKind::Kubernetes, validated);
    fn describe(&self) -> String {
        let mut out = format!(
            "kube context {}  namespaces {}",
            self.kube_context.as_deref().unwrap_or("(current)"),
            if self.namespaces.is_empty() {
                "(all)".to_string()
            } else {
                self.namespaces.join(",")
            }
        );
        if let Some(sel) = &self.label_selector {
            out.push_str(&format!("  -l {sel}"));
        }
        out
    }
}

/// `config check`'s lines for the contexts of one kind.
fn summarize<C: ContextConfig>(out: &mut String, title: &str, contexts: &[C]) {
    out.push_str(&format!("{title} contexts: {}\n", contexts.len()));
    for c in contexts {
        let common = c.common();
        out.push_str(&format!("  {}  {}", common.name(), c.describe()));
        out.push_str(&flags_text(common.protected, common.read_only));
    }
}

/// The contexts of a file, checked like the client's (names unique across kinds): the server
/// configuration reuses this for its own `[[postgres]]`, `[[kafka]]`, `[[kubernetes]]`.
pub type RawContexts = (
    Vec<Spanned<PostgresContext>>,
    Vec<Spanned<KafkaContext>>,
    Vec<Spanned<KubernetesContext>>,
);

/// The validated contexts of each kind: the client's, and the server's own (delegation).
#[derive(Debug, Clone, Default)]
pub struct Contexts {
    pub postgres: Vec<PostgresContext>,
    pub kafka: Vec<KafkaContext>,
    pub kubernetes: Vec<KubernetesContext>,
}

impl Contexts {
    /// Every context of every kind (PostgreSQL, Kafka, Kubernetes), in that order.
    pub fn iter(&self) -> impl Iterator<Item = ContextCommon<'_>> {
        let pg = self.postgres.iter().map(ContextConfig::common);
        let kafka = self.kafka.iter().map(ContextConfig::common);
        let kube = self.kubernetes.iter().map(ContextConfig::common);
        pg.chain(kafka).chain(kube)
    }

    /// Every context name of every kind, in that order.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|c| c.id.name).collect()
    }

    /// The names of one kind, for messages: `a, b`, or `(none)`.
    pub fn listed(&self, kind: ContextKind) -> String {
        let names: Vec<String> = self
            .iter()
            .filter(|c| c.id.kind == kind)
            .map(|c| c.id.name)
            .collect();
        if names.is_empty() {
            "(none)".into()
        } else {
            names.join(", ")
        }
    }
}

pub fn parse_contexts(
    path: &Path,
    text: &str,
    (postgres, kafka, kubernetes): RawContexts,
) -> Result<Contexts, ConfigError> {
    let mut names: BTreeMap<String, std::ops::Range<usize>> = BTreeMap::new();
    Ok(Contexts {
        postgres: contexts(path, text, &mut names, postgres)?,
        kafka: contexts(path, text, &mut names, kafka)?,
        kubernetes: contexts(path, text, &mut names, kubernetes)?,
    })
}

/// The contexts of one kind, in file order: each claims its name (see `claim_context_name`)
/// and is checked; the first error points at its key.
fn contexts<C: ContextConfig>(
    path: &Path,
    text: &str,
    names: &mut BTreeMap<String, std::ops::Range<usize>>,
    raw: Vec<Spanned<C>>,
) -> Result<Vec<C>, ConfigError> {
    raw.into_iter()
        .map(|ctx| {
            let span = ctx.span();
            let c = ctx.into_inner();
            claim_context_name(path, text, names, c.common().name(), &span)?;
            if let Err((key, msg)) = c.check() {
                let key_span = find_in(text, span.clone(), key).unwrap_or(span);
                return Err(ConfigError::at(path, text, key_span, msg));
            }
            Ok(c)
        })
        .collect()
}

/// The services in file order, each checked; names are unique among services. A link's
/// error points at its key in `[service.links]` (or the inline `links = {..}`).
fn services(
    path: &Path,
    text: &str,
    raw: Vec<Spanned<service::ServiceConfig>>,
) -> Result<Vec<crate::service::Service>, ConfigError> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for s in raw {
        let span = s.span();
        let s = s.into_inner();
        let checked = s.check().map_err(|(key, msg)| {
            let in_links = crate::service::LINK_KINDS.contains(&key);
            let at = if in_links {
                links_table(text, span.clone())
                    .and_then(|t| find_in(text, t, key))
                    .or_else(|| find_in(text, span.clone(), "links"))
            } else {
                find_in(text, span.clone(), key)
            };
            ConfigError::at(path, text, at.unwrap_or(span.clone()), msg)
        })?;
        if let Some(first) = names.insert(checked.name.clone(), span.start) {
            let at = find_in(text, span.clone(), "name").unwrap_or(span.clone());
            return Err(ConfigError::at(
                path,
                text,
                at,
                format!(
                    "duplicate service name {:?} (first used at line {})",
                    checked.name,
                    line_col(text, first).0
                ),
            ));
        }
        out.push(checked);
    }
    Ok(out)
}

/// The `[service.links]` header that follows a `[[service]]` header, before the next service.
fn links_table(text: &str, service: std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
    let after = text.get(service.end..)?;
    let next = after.find("[[").unwrap_or(after.len());
    let at = after.get(..next)?.find("[service.links]")?;
    let start = service.end + at;
    Some(start..start + "[service.links]".len())
}

/// Every context, of any kind, needs a name that is not empty and unique across all kinds, so
/// that `--context NAME` and `:ctx NAME` are unambiguous. Errors point at the `name` key.
fn claim_context_name(
    path: &Path,
    text: &str,
    names: &mut BTreeMap<String, std::ops::Range<usize>>,
    name: &str,
    span: &std::ops::Range<usize>,
) -> Result<(), ConfigError> {
    let name_span = find_in(text, span.clone(), "name").unwrap_or(span.clone());
    if name.trim().is_empty() {
        return Err(ConfigError::at(
            path,
            text,
            name_span,
            "context name must not be empty",
        ));
    }
    if let Some(first) = names.insert(name.to_string(), span.clone()) {
        return Err(ConfigError::at(
            path,
            text,
            name_span,
            format!(
                "duplicate context name {name:?} (first used at line {})",
                line_col(text, first.start).0
            ),
        ));
    }
    Ok(())
}

/// $XDG_CONFIG_HOME/warroom, else ~/.config/warroom.
pub fn config_dir() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// $XDG_STATE_HOME/warroom, else ~/.local/state/warroom.
pub fn state_dir() -> Option<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d).join("warroom")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback).join("warroom")),
    }
}

/// Replace the password in a URL or conninfo string.
pub fn redact_url(url: &str) -> String {
    crate::redact::redact_secrets(url).into_owned()
}

/// The regex crate's message is a multi-line drawing; keep its last line, the problem itself.
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(|| one_line(&text), str::to_string)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The span of `key = ...` inside `within`, to point errors at the right line.
fn find_in(
    text: &str,
    within: std::ops::Range<usize>,
    key: &str,
) -> Option<std::ops::Range<usize>> {
    // The span of an array-of-tables entry covers only its `[[header]]`: search from the
    // start of that line to the next header.
    let from = text.get(..within.start)?.rfind('\n').map_or(0, |i| i + 1);
    let mut offset = from;
    for (i, line) in text.get(from..)?.split_inclusive('\n').enumerate() {
        let t = line.trim_start();
        if i > 0 && t.starts_with('[') {
            break;
        }
        if let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - t.len());
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls_and_conninfo() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("host=h password='a b' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn hostile_text_in_the_file_never_reaches_the_terminal() {
        // An unknown key and a context name carrying escape sequences and bidi controls.
        let text = "\"\\u001b]0;pwned\\u0007x\\u202e\" = 1\n";
        let err = Config::parse(Path::new("c.toml"), text).expect_err("unknown key");
        let shown = err.to_string();
        assert!(!shown.chars().any(crate::sanitize::is_unsafe), "{shown:?}");
        let text = "[[postgres]]\nname = \"pg\\u001b[2J\\u200b1\"\nurl = \"postgres://u@h/db\"\n";
        let config = Config::parse(Path::new("c.toml"), text).expect("valid");
        let summary = config.summary("default");
        assert!(
            summary
                .lines()
                .all(|l| !l.chars().any(crate::sanitize::is_unsafe)),
            "{summary:?}"
        );
        assert!(summary.contains("pg1"), "{summary}");
    }

    #[test]
    fn a_full_config_parses() {
        let text = r#"
theme = "light"
refresh = "3s"
[[postgres]]
name = "pg1"
url = "postgres://monitor@db1:5432/app"
password_env = "PG1_PASSWORD"
protected = true
[guard]
min_reason_len = 12
reason_pattern = "INC-[0-9]+"
[audit]
endpoint = "https://audit.example/records"
on_unreachable = "local-only"
[keys]
cancel = "C"
quit = ["q", "ctrl-q"]
"#;
        let c = Config::parse(Path::new("c.toml"), text).expect("valid");
        assert_eq!(
            c.ui.theme.as_ref().map(|t| t.get_ref().as_str()),
            Some("light")
        );
        assert_eq!(c.refresh, Duration::from_secs(3));
        assert!(c.contexts.postgres[0].protected);
        assert_eq!(c.min_reason_len, 12);
        assert_eq!(c.audit.on_unreachable, OnUnreachable::LocalOnly);
        assert_eq!(c.ui.keys.len(), 2);
    }

    #[test]
    fn prepare_is_auto_always_or_never_and_a_wrong_one_points_at_its_line() {
        let ok = "[[postgres]]\nname = \"a\"\nurl = \"postgres://u@h/db\"\nprepare = \"never\"\n\
                  [[postgres]]\nname = \"b\"\nurl = \"postgres://u@h/db\"\n";
        let c = Config::parse(Path::new("c.toml"), ok).expect("valid");
        use crate::backends::postgres::PrepareMode;
        assert_eq!(c.contexts.postgres[0].prepare_mode(), PrepareMode::Never);
        assert_eq!(c.contexts.postgres[1].prepare_mode(), PrepareMode::Auto);
        let bad =
            "[[postgres]]\nname = \"a\"\nurl = \"postgres://u@h/db\"\nprepare = \"sometimes\"\n";
        let err = Config::parse(Path::new("c.toml"), bad)
            .expect_err("unknown prepare")
            .to_string();
        assert!(err.contains("c.toml:4:1"), "{err}");
        assert!(err.contains("\"auto\", \"always\" or \"never\""), "{err}");
    }

    #[test]
    fn context_names_cover_every_kind() {
        let text = "[[kafka]]\nname = \"k1\"\nbrokers = \"b:9092\"\n";
        let c = Config::parse(Path::new("c.toml"), text).expect("valid");
        assert_eq!(c.context_names(), vec!["k1".to_string()]);
        assert_eq!(c.contexts.listed(ContextKind::Postgres), "(none)");
        assert_eq!(c.contexts.listed(ContextKind::Kafka), "k1");
        let err = c.check_context(Some("nope")).expect_err("unknown");
        assert!(err.contains("configured: k1"), "{err}");
    }

    #[test]
    fn server_section_defaults_the_audit_endpoint_and_checks_its_url() {
        let text = "[server]\nurl = \"https://warroom.internal/\"\ntoken_env = \"WARROOM_TOKEN\"\n";
        let c = Config::parse(Path::new("c.toml"), text).expect("valid");
        let link = c.server.as_ref().expect("server");
        assert_eq!(link.url, "https://warroom.internal");
        assert!(!link.share);
        assert_eq!(
            c.audit.endpoint.as_deref(),
            Some("https://warroom.internal/v1/audit")
        );
        assert_eq!(c.audit.token_env.as_deref(), Some("WARROOM_TOKEN"));

        // An explicit [audit] endpoint wins over the server's.
        let text = "[server]\nurl = \"https://warroom.internal\"\n[audit]\nendpoint = \"https://audit.example/r\"\n";
        let c = Config::parse(Path::new("c.toml"), text).expect("valid");
        assert_eq!(c.audit.endpoint.as_deref(), Some("https://audit.example/r"));

        let text = "[server]\nshare = true\n";
        let e = Config::parse(Path::new("c.toml"), text).expect_err("no url");
        assert!(e.to_string().contains("c.toml:1:1"), "{e}");
        assert!(e.to_string().contains("needs url"), "{e}");

        let text = "[server]\nurl = \"http://warroom.example.com\"\ntoken_env = \"T\"\n";
        let e = Config::parse(Path::new("c.toml"), text).expect_err("clear-text token");
        assert!(e.to_string().contains("c.toml:2:7"), "{e}");
        assert!(e.to_string().contains("clear text"), "{e}");
    }
}
