//! Wiring: from a Config to an App, its backends and the guard executor (real or demo).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use std::time::Duration;

use crate::app::{App, GuardInfo};
use crate::keymap::Keymap;
use crate::panes::PaneId;
use crate::panes::kafka::KafkaPane;
use crate::panes::logs::LogsPane;
use crate::panes::pg::PgPane;
use crate::panes::pods::PodsPane;
use crate::settings::UiSettings;
use crate::terminal::Backends;
use crate::theme::Theme;
use crate::workers::kube::KubeContext;
use warroom_core::audit::{AuditLog, AuditSettings, new_session_id};
use warroom_core::backends::kafka::{KafkaAdmin, KafkaSource};
use warroom_core::backends::kube::{KubeActor, KubeSource, PodScope};
use warroom_core::backends::postgres::{ConnectSpec, PgSignaller, PgSource, PgStatements, RealPg};
use warroom_core::config::Config;
use warroom_core::guard::{ContextPolicy, Executor, Policy, ReasonRules};
use warroom_demo::{DemoClock, DemoPg, Scenario};

/// Name of the demo's one PostgreSQL context.
pub const DEMO_CONTEXT: &str = "demo";

/// Flags that apply to every mode.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub context: Option<String>,
    pub theme: Option<String>,
    pub read_only: bool,
    /// `--no-wait`: a request that needs approval returns at once.
    pub no_wait: bool,
    /// The demo's approvals scene (`warroom demo --join` / `--as-approver`).
    pub demo_approvals: DemoApprovals,
}

/// Which side of the demo's approvals scene this terminal plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoApprovals {
    #[default]
    Off,
    /// The junior: every demo action waits for the trainer's approval.
    Join,
    /// The trainer: sees the junior's requests and approves or denies them.
    Approver,
}

/// The guard's policy: every context's common settings, and `--read-only` over all.
pub fn policy(config: &Config, read_only: bool) -> Policy {
    Policy {
        global_read_only: read_only,
        contexts: config
            .contexts
            .iter()
            .map(|c| (c.name().to_string(), c.policy()))
            .collect(),
    }
}

/// Contexts whose guarded actions go elsewhere, with the delegate that takes them.
pub type Delegates = Vec<(String, Arc<dyn warroom_core::guard::Delegate>)>;

/// Contexts with `via = "server"`: their guarded actions go to the `[server]` (the executor
/// delegates them there; this machine holds only read credentials).
pub fn delegates(
    config: &Config,
    wait: bool,
    on_pending: Option<warroom_client::actions::OnPending>,
) -> anyhow::Result<Delegates> {
    use warroom_core::config::Via;
    let delegated: Vec<String> = config
        .contexts
        .iter()
        .filter(|c| c.via == Via::Server)
        .map(|c| c.id.name)
        .collect();
    if delegated.is_empty() {
        return Ok(Vec::new());
    }
    let Some(link) = &config.server else {
        bail!("via = \"server\" needs a [server] section with the server's url");
    };
    let client = warroom_client::ServerClient::new(&link.url, link.token_env.as_deref())
        .map_err(anyhow::Error::msg)?;
    let mut delegate = warroom_client::actions::ServerDelegate::new(client, wait);
    if let Some(f) = on_pending {
        delegate = delegate.on_pending(f);
    }
    let delegate: Arc<dyn warroom_core::guard::Delegate> = Arc::new(delegate);
    Ok(delegated
        .into_iter()
        .map(|name| (name, delegate.clone()))
        .collect())
}

/// [`delegates`] registered on an executor (the CLI's).
pub fn with_delegates(
    mut executor: Executor,
    config: &Config,
    wait: bool,
    on_pending: Option<warroom_client::actions::OnPending>,
) -> anyhow::Result<Executor> {
    for (name, delegate) in delegates(config, wait, on_pending)? {
        executor = executor.with_delegate(&name, delegate);
    }
    Ok(executor)
}

/// Name of the demo's Kafka context.
pub const DEMO_KAFKA_CONTEXT: &str = "demo-kafka";

/// Name of the demo's Kubernetes context.
pub const DEMO_KUBE_CONTEXT: &str = "demo-k8s";

/// Clients for every Kafka context (built, not connected).
pub fn real_kafka(
    config: &Config,
) -> anyhow::Result<HashMap<String, warroom_core::backends::kafka::RealKafka>> {
    let mut out = HashMap::new();
    for c in &config.contexts.kafka {
        let mut spec = warroom_core::backends::kafka::KafkaSpec::new(&c.name, &c.brokers);
        spec.properties = c.property_strings();
        let client = warroom_core::backends::kafka::RealKafka::new(spec)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("context {}", c.name))?;
        out.insert(c.name.clone(), client);
    }
    Ok(out)
}

pub fn reason_rules(config: &Config) -> ReasonRules {
    ReasonRules {
        min_len: config.min_reason_len,
        pattern: config.reason_pattern.clone(),
    }
}

/// The actor line shown in prompts: OS user @ host (identity).
pub fn actor_text(audit: &AuditLog) -> String {
    let a = audit.actor();
    match &a.identity {
        Some(id) => format!("{}@{} ({})", a.user, a.host, id),
        None => format!("{}@{}", a.user, a.host),
    }
}

/// Connect specs for every PostgreSQL context (no connection is made yet).
pub fn real_pg(config: &Config) -> anyhow::Result<HashMap<String, Arc<RealPg>>> {
    let mut out = HashMap::new();
    for c in &config.contexts.postgres {
        let spec = ConnectSpec::resolve(&c.url, c.password_env.as_deref())
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("context {}", c.name))?;
        out.insert(
            c.name.clone(),
            Arc::new(RealPg::new(spec).with_prepare(c.prepare_mode())),
        );
    }
    Ok(out)
}

/// A Kubernetes context's client and the scopes it watches.
pub type KubeWiring = (
    Arc<warroom_core::backends::kube::RealKube>,
    Vec<warroom_core::backends::kube::PodScope>,
);

/// A kube-rs client per Kubernetes context (built on first use) and the scopes to watch.
pub fn real_kube(config: &Config) -> HashMap<String, KubeWiring> {
    config
        .contexts
        .kubernetes
        .iter()
        .map(|c| {
            let client = Arc::new(warroom_core::backends::kube::RealKube::new(
                c.kube_context.clone(),
            ));
            (c.name.clone(), (client, kube_scopes(c)))
        })
        .collect()
}

/// One scope per namespace, or one for all namespaces.
pub fn kube_scopes(
    c: &warroom_core::config::KubernetesContext,
) -> Vec<warroom_core::backends::kube::PodScope> {
    let scope = |ns: Option<String>| warroom_core::backends::kube::PodScope {
        namespace: ns,
        label_selector: c.label_selector.clone(),
    };
    if c.namespaces.is_empty() {
        vec![scope(None)]
    } else {
        c.namespaces
            .iter()
            .map(|n| scope(Some(n.clone())))
            .collect()
    }
}

pub fn check_context(config: &Config, name: Option<&str>) -> anyhow::Result<()> {
    config.check_context(name).map_err(anyhow::Error::msg)
}

/// The configuration's `theme` and `[keys]`, checked against the themes and actions the TUI has.
pub fn ui_settings(config: &Config) -> anyhow::Result<UiSettings> {
    Ok(UiSettings::read(config)?)
}

/// The theme `--theme` names, else the configuration's.
pub fn theme(config: &Config, opts: &Options) -> anyhow::Result<Theme> {
    let settings = ui_settings(config)?;
    let name = opts.theme.as_deref().unwrap_or(&settings.theme);
    Theme::load(name).map_err(anyhow::Error::msg)
}

/// `pub fn field(self, value) -> Assembly` for the settings that are set as they are given.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, value: $ty) -> Assembly {
                self.$field = value;
                self
            }
        )*
    };
}

/// The one way an App and its runtime's backends are put together (the TUI, the demo, the
/// tests and the benches): contexts per kind, each with its backend or (for tests that
/// feed the App by hand) none; `build` gives every backend to the runtime and every
/// destructive side to the guard executor, under the one policy in `guard`.
pub struct Assembly {
    guard: GuardInfo,
    keymap: Keymap,
    theme: Theme,
    refresh: Duration,
    log_buffer: usize,
    initial: Option<String>,
    pg: Vec<String>,
    kafka: Vec<String>,
    kube: Vec<String>,
    backends: Parts,
    delegates: Delegates,
    server: Option<crate::terminal::ServerFeed>,
    services: Vec<warroom_core::service::Service>,
    hyperlinks: bool,
    pods_always: bool,
}

/// What `Assembly::build` hands to the runtime and the executor.
#[derive(Default)]
struct Parts {
    pg: HashMap<String, Arc<dyn PgSource>>,
    pg_statements: HashMap<String, Arc<dyn PgStatements>>,
    pg_signal: Vec<(String, Arc<dyn PgSignaller>)>,
    kafka: HashMap<String, Arc<dyn KafkaSource>>,
    kafka_admin: Vec<(String, Arc<dyn KafkaAdmin>)>,
    kube: HashMap<String, KubeContext>,
    kube_actor: Vec<(String, Arc<dyn KubeActor>)>,
}

impl Assembly {
    /// No contexts yet; the default keymap and theme, a 2 s refresh.
    pub fn new(guard: GuardInfo) -> Assembly {
        Assembly {
            guard,
            keymap: Keymap::default(),
            theme: Theme::builtin_default(),
            refresh: Duration::from_secs(2),
            log_buffer: warroom_core::config::LogsConfig::default().buffer_bytes as usize,
            initial: None,
            pg: Vec::new(),
            kafka: Vec::new(),
            kube: Vec::new(),
            backends: Parts::default(),
            delegates: Vec::new(),
            server: None,
            services: Vec::new(),
            hyperlinks: false,
            pods_always: false,
        }
    }

    setters! {
        keymap: Keymap,
        theme: Theme,
        /// How often the polled panes refresh at first.
        refresh: Duration,
        /// The Logs pane's buffer, in bytes.
        log_buffer: usize,
    }

    /// The context shown first (`--context`); a Kafka one opens on the Kafka pane.
    pub fn initial(mut self, context: Option<&str>) -> Assembly {
        self.initial = context.map(str::to_string);
        self
    }

    /// A PostgreSQL context with no backend (the caller feeds the App).
    pub fn pg_context(mut self, name: &str) -> Assembly {
        self.pg.push(name.to_string());
        self
    }

    pub fn kafka_context(mut self, name: &str) -> Assembly {
        self.kafka.push(name.to_string());
        self
    }

    pub fn kube_context(mut self, name: &str) -> Assembly {
        self.kube.push(name.to_string());
        self
    }

    /// A PostgreSQL context and its backend: reads for the workers, signals for the guard.
    pub fn pg<B>(mut self, name: &str, backend: Arc<B>) -> Assembly
    where
        B: PgSource + PgStatements + PgSignaller + 'static,
    {
        let parts = &mut self.backends;
        parts.pg.insert(name.to_string(), backend.clone());
        parts
            .pg_statements
            .insert(name.to_string(), backend.clone());
        parts.pg_signal.push((name.to_string(), backend));
        self.pg_context(name)
    }

    pub fn kafka<B>(mut self, name: &str, backend: Arc<B>) -> Assembly
    where
        B: KafkaSource + KafkaAdmin + 'static,
    {
        let parts = &mut self.backends;
        parts.kafka.insert(name.to_string(), backend.clone());
        parts.kafka_admin.push((name.to_string(), backend));
        self.kafka_context(name)
    }

    /// A Kubernetes context, its backend and the scopes its pod watch covers.
    pub fn kube<B>(mut self, name: &str, backend: Arc<B>, scopes: Vec<PodScope>) -> Assembly
    where
        B: KubeSource + KubeActor + 'static,
    {
        let parts = &mut self.backends;
        let source: Arc<dyn KubeSource> = backend.clone();
        parts
            .kube
            .insert(name.to_string(), KubeContext { source, scopes });
        parts.kube_actor.push((name.to_string(), backend));
        self.kube_context(name)
    }

    /// Guarded actions on `context` go to `delegate` (`via = "server"`, the demo's approvals).
    pub fn delegate(
        mut self,
        context: &str,
        delegate: Arc<dyn warroom_core::guard::Delegate>,
    ) -> Assembly {
        self.delegates.push((context.to_string(), delegate));
        self
    }

    /// The server the runtime polls for approvals and pending requests.
    pub fn server_feed(mut self, feed: crate::terminal::ServerFeed) -> Assembly {
        self.server = Some(feed);
        self
    }

    /// `[[service]]` definitions (`:focus`, the link menu).
    pub fn services(mut self, services: Vec<warroom_core::service::Service>) -> Assembly {
        self.services = services;
        self
    }

    /// The terminal shows OSC 8 hyperlinks.
    pub fn hyperlinks(mut self, on: bool) -> Assembly {
        self.hyperlinks = on;
        self
    }

    /// Keep the pod watch open while the Pods pane is hidden (sessions and groups map to pods).
    pub fn watch_pods_always(mut self) -> Assembly {
        self.pods_always = true;
        self
    }

    /// The App alone (tests, benches: no runtime behind it).
    pub fn app(self) -> App {
        self.split().0
    }

    /// The App and what the runtime needs; the executor acts under `guard.policy` and rules.
    pub fn build(
        mut self,
        audit: AuditLog,
        terminate_wait: Duration,
        action_timeout: Duration,
    ) -> (App, Backends) {
        let mut executor = Executor::new(
            audit,
            self.guard.policy.clone(),
            self.guard.rules.clone(),
            terminate_wait,
        )
        .with_action_timeout(action_timeout);
        for (name, delegate) in &self.delegates {
            executor = executor.with_delegate(name, delegate.clone());
        }
        let server = self.server.take();
        let (app, parts) = self.split();
        for (name, pg) in parts.pg_signal {
            executor = executor.with_pg(&name, pg);
        }
        for (name, admin) in parts.kafka_admin {
            executor = executor.with_kafka(&name, admin);
        }
        for (name, actor) in parts.kube_actor {
            executor = executor.with_kube(&name, actor);
        }
        let backends = Backends {
            pg: parts.pg,
            pg_statements: parts.pg_statements,
            kafka: parts.kafka,
            kube: parts.kube,
            executor: Arc::new(executor),
            server,
        };
        (app, backends)
    }

    fn split(self) -> (App, Parts) {
        let initial = self.initial.as_deref();
        let pods = PodsPane::new(self.kube, initial);
        let pods = if self.pods_always {
            pods.watching_always()
        } else {
            pods
        };
        let app = App::new(
            PgPane::new(self.pg, initial, self.refresh),
            self.keymap,
            self.theme,
            self.guard,
        )
        .with_kafka(KafkaPane::new(self.kafka.clone(), initial, self.refresh))
        .with_kube(pods, LogsPane::new(self.log_buffer))
        .with_services(self.services)
        .with_hyperlinks(self.hyperlinks);
        // `--context` naming a Kafka context opens on the Kafka pane.
        let app = match initial {
            Some(name) if self.kafka.iter().any(|k| k == name) => app.opening_on(PaneId::Kafka),
            _ => app,
        };
        (app, self.backends)
    }
}

/// The TUI on real servers.
pub fn real(config: &Config, opts: &Options) -> anyhow::Result<(App, Backends)> {
    check_context(config, opts.context.as_deref())?;
    let audit = AuditLog::new(config.audit.clone(), new_session_id());
    let info = GuardInfo {
        policy: policy(config, opts.read_only),
        rules: reason_rules(config),
        actor: actor_text(&audit),
        audit_destination: config.audit.destination_text(),
    };
    let mut assembly =
        from_config(Assembly::new(info), config, opts)?.initial(opts.context.as_deref());
    // In the order of the file: the panes list contexts as configured.
    let mut pgs = real_pg(config)?;
    for c in &config.contexts.postgres {
        if let Some(pg) = pgs.remove(&c.name) {
            assembly = assembly.pg(&c.name, pg);
        }
    }
    let mut kafkas = real_kafka(config)?;
    for c in &config.contexts.kafka {
        if let Some(k) = kafkas.remove(&c.name) {
            assembly = assembly.kafka(&c.name, Arc::new(k));
        }
    }
    let mut kubes = real_kube(config);
    for c in &config.contexts.kubernetes {
        if let Some((client, scopes)) = kubes.remove(&c.name) {
            assembly = assembly.kube(&c.name, client, scopes);
        }
    }
    // Pending delegated requests reach the status bar through the runtime.
    let (pending_tx, pending_rx) = tokio::sync::mpsc::unbounded_channel();
    let on_pending: warroom_client::actions::OnPending = Arc::new(move |n| {
        let _ = pending_tx.send(n.clone());
    });
    for (name, delegate) in delegates(config, !opts.no_wait, Some(on_pending))? {
        assembly = assembly.delegate(&name, delegate);
    }
    if let Some(link) = &config.server {
        assembly = assembly.server_feed(crate::terminal::ServerFeed {
            client: Arc::new(
                warroom_client::ServerClient::new(&link.url, link.token_env.as_deref())
                    .map_err(anyhow::Error::msg)?,
            ),
            pending: Some(pending_rx),
        });
    }
    Ok(assembly.build(audit, config.terminate_wait, config.action_timeout))
}

/// The settings every assembly takes from the configuration: keys, theme, refresh, log buffer.
fn from_config(assembly: Assembly, config: &Config, opts: &Options) -> anyhow::Result<Assembly> {
    Ok(assembly
        .keymap(ui_settings(config)?.keymap)
        .theme(theme(config, opts)?)
        .refresh(config.refresh)
        .log_buffer(config.logs.buffer_bytes as usize)
        .services(config.services.clone())
        .hyperlinks(crate::widgets::link_menu::hyperlinks_supported(|k| {
            std::env::var(k).ok()
        }))
        .watch_pods_always())
}

/// The demo: simulated backends, a demo audit file, the same guard.
pub fn demo(
    config: &Config,
    opts: &Options,
    scenario: &Scenario,
    seed: u64,
    clock: DemoClock,
) -> anyhow::Result<(App, Backends, DemoPg)> {
    let demo_pg = DemoPg::from_scenario(seed, clock.clone(), scenario.postgres.clone());
    let file = warroom_core::config::state_dir()
        .map(|d| d.join("demo-audit.jsonl"))
        .unwrap_or_else(|| std::env::temp_dir().join("warroom-demo-audit.jsonl"));
    let settings = AuditSettings {
        identity: config.audit.identity.clone(),
        ..AuditSettings::local(file)
    };
    let audit = AuditLog::new(settings.clone(), new_session_id());
    let runbook = |name: &str, url: &str| {
        let policy = ContextPolicy {
            protected: false,
            read_only: false,
            runbook_url: Some(url.into()),
        };
        (name.to_string(), policy)
    };
    let policy = Policy {
        global_read_only: opts.read_only,
        contexts: HashMap::from([
            runbook(
                DEMO_CONTEXT,
                "https://runbooks.example/postgres/lock-contention",
            ),
            runbook(
                DEMO_KAFKA_CONTEXT,
                "https://runbooks.example/kafka/consumer-lag",
            ),
            runbook(
                DEMO_KUBE_CONTEXT,
                "https://runbooks.example/kubernetes/oomkilled",
            ),
        ]),
    };
    let demo_kafka =
        warroom_demo::kafka::DemoKafka::new(seed, clock.clone(), scenario.kafka.clone());
    let kube_scenario = scenario.kubernetes.clone();
    let kube_scope = PodScope {
        namespace: Some(kube_scenario.namespace.clone()),
        label_selector: None,
    };
    let demo_kube = warroom_demo::kube::DemoKube::new(seed, clock.clone(), kube_scenario);
    let local_executor = {
        let (audit, policy, rules) = (audit.clone(), policy.clone(), reason_rules(config));
        let (wait, timeout) = (config.terminate_wait, config.action_timeout);
        let (pg, kafka, kube) = (demo_pg.clone(), demo_kafka.clone(), demo_kube.clone());
        move || {
            Executor::new(audit.clone(), policy.clone(), rules.clone(), wait)
                .with_action_timeout(timeout)
                .with_pg(DEMO_CONTEXT, Arc::new(pg.clone()))
                .with_kafka(DEMO_KAFKA_CONTEXT, Arc::new(kafka.clone()))
                .with_kube(DEMO_KUBE_CONTEXT, Arc::new(kube.clone()))
        }
    };
    let (delegates, server) = demo_approvals(opts.demo_approvals, local_executor)?;
    let info = GuardInfo {
        policy,
        rules: reason_rules(config),
        actor: actor_text(&audit),
        audit_destination: format!("{} (demo audit file)", settings.destination_text()),
    };
    let mut assembly = from_config(Assembly::new(info), config, opts)?
        .services(demo_services(config))
        .pg(DEMO_CONTEXT, Arc::new(demo_pg.clone()))
        .kafka(DEMO_KAFKA_CONTEXT, Arc::new(demo_kafka))
        .kube(DEMO_KUBE_CONTEXT, Arc::new(demo_kube), vec![kube_scope]);
    for (name, delegate) in delegates {
        assembly = assembly.delegate(&name, delegate);
    }
    if let Some(feed) = server {
        assembly = assembly.server_feed(feed);
    }
    let (app, backends) = assembly.build(audit, config.terminate_wait, config.action_timeout);
    Ok((app, backends, demo_pg))
}

/// The delegates of the demo's approvals scene (the junior's actions wait for the trainer) and
/// the desk both terminals share.
fn demo_approvals(
    role: DemoApprovals,
    local: impl Fn() -> Executor + Send + Sync + 'static,
) -> anyhow::Result<(Delegates, Option<crate::terminal::ServerFeed>)> {
    use warroom_demo::desk::{DemoDelegate, DemoDesk, JUNIOR, TRAINER};
    let me = match role {
        DemoApprovals::Off => return Ok((Vec::new(), None)),
        DemoApprovals::Join => JUNIOR,
        DemoApprovals::Approver => TRAINER,
    };
    let desk = Arc::new(DemoDesk::new(&DemoDesk::default_dir(), me).map_err(anyhow::Error::msg)?);
    let (pending_tx, pending_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut delegates = Delegates::new();
    if role == DemoApprovals::Join {
        let local = Arc::new(local);
        let delegate: Arc<dyn warroom_core::guard::Delegate> = Arc::new(DemoDelegate {
            desk: desk.clone(),
            executor_for: Arc::new(move |note| local().with_record_note(note)),
            on_pending: Some(Arc::new(
                move |n: &warroom_core::protocol::requests::RequestState| {
                    let _ = pending_tx.send(n.clone());
                },
            )),
        });
        for context in [DEMO_CONTEXT, DEMO_KAFKA_CONTEXT, DEMO_KUBE_CONTEXT] {
            delegates.push((context.to_string(), delegate.clone()));
        }
    }
    let feed = crate::terminal::ServerFeed {
        client: desk,
        pending: Some(pending_rx),
    };
    Ok((delegates, Some(feed)))
}

/// The configuration's services, else the demo incident's (demo/services/demo.toml).
fn demo_services(config: &Config) -> Vec<warroom_core::service::Service> {
    if !config.services.is_empty() {
        return config.services.clone();
    }
    const DEMO_SERVICES: &str = include_str!("../../../demo/services/demo.toml");
    Config::parse(
        std::path::Path::new("demo/services/demo.toml"),
        DEMO_SERVICES,
    )
    .map(|c| c.services)
    .unwrap_or_default()
}

#[cfg(test)]
mod demo_services_tests {
    #[test]
    fn the_demo_services_load() {
        let names: Vec<String> = super::demo_services(&warroom_core::config::Config::default())
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["billing", "migrations"]);
    }
}
