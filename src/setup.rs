//! Wiring: from a Config to an App, its backends and the guard executor (real or demo).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::app::{App, GuardInfo};
use crate::audit::{AuditLog, AuditSettings, new_session_id};
use crate::backends::demo::{DemoClock, DemoPg, Scenario};
use crate::backends::postgres::{ConnectSpec, PgInsight, PgSignaller, PgSource, RealPg};
use crate::config::{Config, Theme};
use crate::guard::{ContextPolicy, Executor, Policy, ReasonRules};
use crate::panes::pg::PgPane;
use crate::tui::Backends;

/// Name of the demo's one PostgreSQL context.
pub const DEMO_CONTEXT: &str = "demo";

/// Flags that apply to every mode.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub context: Option<String>,
    pub theme: Option<String>,
    pub read_only: bool,
}

pub fn policy(config: &Config, read_only: bool) -> Policy {
    // The same three settings on every kind of context.
    let entry = |name: &String, protected: bool, read_only: bool, runbook: &Option<String>| {
        let policy = ContextPolicy {
            protected,
            read_only,
            runbook_url: runbook.clone(),
        };
        (name.clone(), policy)
    };
    let pg = config
        .postgres
        .iter()
        .map(|c| entry(&c.name, c.protected, c.read_only, &c.runbook_url));
    let kafka = config
        .kafka
        .iter()
        .map(|c| entry(&c.name, c.protected, c.read_only, &c.runbook_url));
    let kube = config
        .kubernetes
        .iter()
        .map(|c| entry(&c.name, c.protected, c.read_only, &c.runbook_url));
    Policy {
        global_read_only: read_only,
        contexts: pg.chain(kafka).chain(kube).collect(),
    }
}

/// Name of the demo's Kafka context.
pub const DEMO_KAFKA_CONTEXT: &str = "demo-kafka";

/// Name of the demo's Kubernetes context.
pub const DEMO_KUBE_CONTEXT: &str = "demo-k8s";

/// Clients for every Kafka context (built, not connected).
pub fn real_kafka(
    config: &Config,
) -> anyhow::Result<HashMap<String, crate::backends::kafka::RealKafka>> {
    let mut out = HashMap::new();
    for c in &config.kafka {
        let mut spec = crate::backends::kafka::KafkaSpec::new(&c.name, &c.brokers);
        spec.properties = c.property_strings();
        let client = crate::backends::kafka::RealKafka::new(spec)
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
    for c in &config.postgres {
        let spec = ConnectSpec::resolve(&c.url, c.password_env.as_deref())
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("context {}", c.name))?;
        out.insert(c.name.clone(), Arc::new(RealPg::new(spec)));
    }
    Ok(out)
}

/// A Kubernetes context's client and the scopes it watches.
pub type KubeWiring = (
    Arc<crate::backends::kube::RealKube>,
    Vec<crate::backends::kube::PodScope>,
);

/// A kube-rs client per Kubernetes context (built on first use) and the scopes to watch.
pub fn real_kube(config: &Config) -> HashMap<String, KubeWiring> {
    config
        .kubernetes
        .iter()
        .map(|c| {
            let client = Arc::new(crate::backends::kube::RealKube::new(c.kube_context.clone()));
            (c.name.clone(), (client, kube_scopes(c)))
        })
        .collect()
}

/// One scope per namespace, or one for all namespaces.
pub fn kube_scopes(c: &crate::config::KubernetesContext) -> Vec<crate::backends::kube::PodScope> {
    let scope = |ns: Option<String>| crate::backends::kube::PodScope {
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
    if let Some(n) = name
        && config.postgres_context(n).is_none()
        && config.kafka_context(n).is_none()
        && config.kubernetes_context(n).is_none()
    {
        bail!(
            "unknown context {n:?}; configured: {}",
            match config.context_names() {
                names if names.is_empty() => "(none)".into(),
                names => names.join(", "),
            }
        );
    }
    Ok(())
}

pub fn theme(config: &Config, opts: &Options) -> anyhow::Result<Theme> {
    let name = opts.theme.as_deref().unwrap_or(&config.theme);
    Theme::load(name).map_err(anyhow::Error::msg)
}

/// The TUI on real servers.
pub fn real(config: &Config, opts: &Options) -> anyhow::Result<(App, Backends)> {
    check_context(config, opts.context.as_deref())?;
    let pgs = real_pg(config)?;
    let audit = AuditLog::new(config.audit.clone(), new_session_id());
    let mut executor = Executor::new(
        audit.clone(),
        policy(config, opts.read_only),
        reason_rules(config),
        config.terminate_wait,
    )
    .with_action_timeout(config.action_timeout);
    let mut sources: HashMap<String, Arc<dyn PgSource>> = HashMap::new();
    let mut insight: HashMap<String, Arc<dyn PgInsight>> = HashMap::new();
    for (name, pg) in &pgs {
        executor = executor.with_pg(name, pg.clone() as Arc<dyn PgSignaller>);
        sources.insert(name.clone(), pg.clone() as Arc<dyn PgSource>);
        insight.insert(name.clone(), pg.clone() as Arc<dyn PgInsight>);
    }
    let names = config.postgres_names();
    let pane = PgPane::new(names, opts.context.as_deref(), config.refresh);
    let info = GuardInfo {
        policy: policy(config, opts.read_only),
        rules: reason_rules(config),
        actor: actor_text(&audit),
        audit_destination: config.audit.destination_text(),
    };
    let mut kafka_sources: HashMap<String, Arc<dyn crate::backends::kafka::KafkaSource>> =
        HashMap::new();
    for (name, k) in real_kafka(config)? {
        executor = executor.with_kafka(&name, Arc::new(k.clone()));
        kafka_sources.insert(name, Arc::new(k));
    }
    let kafka_pane = crate::panes::kafka::KafkaPane::new(
        config.kafka.iter().map(|c| c.name.clone()).collect(),
        opts.context.as_deref(),
        config.refresh,
    );
    let mut kube = HashMap::new();
    for (name, (client, scopes)) in real_kube(config) {
        executor = executor.with_kube(&name, client.clone());
        kube.insert(
            name,
            crate::workers::kube::KubeContext {
                source: client,
                scopes,
            },
        );
    }
    let pods_pane = crate::panes::pods::PodsPane::new(
        config.kubernetes.iter().map(|c| c.name.clone()).collect(),
        opts.context.as_deref(),
    )
    .watching_always();
    let logs_pane = crate::panes::logs::LogsPane::new(config.logs.buffer_bytes as usize);
    let app = App::new(pane, config.keymap.clone(), theme(config, opts)?, info)
        .with_kafka(kafka_pane)
        .with_kube(pods_pane, logs_pane)
        .with_services(config.services.clone())
        .with_hyperlinks(crate::widgets::link_menu::hyperlinks_supported(|k| {
            std::env::var(k).ok()
        }));
    // `--context` naming a Kafka context opens on the Kafka pane.
    let app = match opts.context.as_deref() {
        Some(name) if config.kafka_context(name).is_some() => {
            app.opening_on(crate::panes::PaneId::Kafka)
        }
        _ => app,
    };
    Ok((
        app,
        Backends {
            pg: sources,
            pg_insight: insight,
            kafka: kafka_sources,
            kube,
            executor: Arc::new(executor),
        },
    ))
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
    let file = crate::config::state_dir()
        .map(|d| d.join("demo-audit.jsonl"))
        .unwrap_or_else(|| std::env::temp_dir().join("warroom-demo-audit.jsonl"));
    let settings = AuditSettings {
        identity: config.audit.identity.clone(),
        ..AuditSettings::local(file)
    };
    let audit = AuditLog::new(settings.clone(), new_session_id());
    let policy = Policy {
        global_read_only: opts.read_only,
        contexts: HashMap::from([
            (
                DEMO_CONTEXT.to_string(),
                ContextPolicy {
                    protected: false,
                    read_only: false,
                    runbook_url: Some("https://runbooks.example/postgres/lock-contention".into()),
                },
            ),
            (
                DEMO_KAFKA_CONTEXT.to_string(),
                ContextPolicy {
                    protected: false,
                    read_only: false,
                    runbook_url: Some("https://runbooks.example/kafka/consumer-lag".into()),
                },
            ),
            (
                DEMO_KUBE_CONTEXT.to_string(),
                ContextPolicy {
                    protected: false,
                    read_only: false,
                    runbook_url: Some("https://runbooks.example/kubernetes/oomkilled".into()),
                },
            ),
        ]),
    };
    let demo_kafka = crate::backends::demo::kafka::DemoKafka::new(
        seed,
        clock.clone(),
        crate::backends::demo::kafka::KafkaScenario::from_table(scenario.kafka.as_ref())
            .map_err(anyhow::Error::msg)?,
    );
    let kube_scenario =
        crate::backends::demo::kube::KubeScenario::from_table(scenario.kubernetes.as_ref())
            .map_err(anyhow::Error::msg)?;
    let kube_namespace = kube_scenario.namespace.clone();
    let demo_kube = crate::backends::demo::kube::DemoKube::new(seed, clock.clone(), kube_scenario);
    let executor = Executor::new(
        audit.clone(),
        policy.clone(),
        reason_rules(config),
        config.terminate_wait,
    )
    .with_action_timeout(config.action_timeout)
    .with_pg(DEMO_CONTEXT, Arc::new(demo_pg.clone()))
    .with_kafka(DEMO_KAFKA_CONTEXT, Arc::new(demo_kafka.clone()))
    .with_kube(DEMO_KUBE_CONTEXT, Arc::new(demo_kube.clone()));
    let pane = PgPane::new(vec![DEMO_CONTEXT.to_string()], None, config.refresh);
    let info = GuardInfo {
        policy,
        rules: reason_rules(config),
        actor: actor_text(&audit),
        audit_destination: format!("{} (demo audit file)", settings.destination_text()),
    };
    let app = App::new(pane, config.keymap.clone(), theme(config, opts)?, info)
        .with_kafka(crate::panes::kafka::KafkaPane::new(
            vec![DEMO_KAFKA_CONTEXT.to_string()],
            None,
            config.refresh,
        ))
        .with_kube(
            crate::panes::pods::PodsPane::new(vec![DEMO_KUBE_CONTEXT.to_string()], None)
                .watching_always(),
            crate::panes::logs::LogsPane::new(config.logs.buffer_bytes as usize),
        )
        .with_services(demo_services(config))
        .with_hyperlinks(crate::widgets::link_menu::hyperlinks_supported(|k| {
            std::env::var(k).ok()
        }));
    let kafka_sources: HashMap<String, Arc<dyn crate::backends::kafka::KafkaSource>> =
        HashMap::from([(
            DEMO_KAFKA_CONTEXT.to_string(),
            Arc::new(demo_kafka) as Arc<dyn crate::backends::kafka::KafkaSource>,
        )]);
    let sources: HashMap<String, Arc<dyn PgSource>> = HashMap::from([(
        DEMO_CONTEXT.to_string(),
        Arc::new(demo_pg.clone()) as Arc<dyn PgSource>,
    )]);
    Ok((
        app,
        Backends {
            pg: sources,
            pg_insight: HashMap::from([(
                DEMO_CONTEXT.to_string(),
                Arc::new(demo_pg.clone()) as Arc<dyn PgInsight>,
            )]),
            kafka: kafka_sources,
            kube: HashMap::from([(
                DEMO_KUBE_CONTEXT.to_string(),
                crate::workers::kube::KubeContext {
                    source: Arc::new(demo_kube),
                    scopes: vec![crate::backends::kube::PodScope {
                        namespace: Some(kube_namespace),
                        label_selector: None,
                    }],
                },
            )]),
            executor: Arc::new(executor),
        },
        demo_pg,
    ))
}

/// The configuration's services, else the demo incident's (demo/services/demo.toml).
fn demo_services(config: &Config) -> Vec<crate::links::service::Service> {
    if !config.services.is_empty() {
        return config.services.clone();
    }
    const DEMO_SERVICES: &str = include_str!("../demo/services/demo.toml");
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
        let names: Vec<String> = super::demo_services(&crate::config::Config::default())
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["billing", "migrations"]);
    }
}
