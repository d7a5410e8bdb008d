//! Demo scenarios: what the simulated incident looks like, read from a TOML file under demo/.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::kafka::KafkaScenario;
use super::kube::KubeScenario;
use warroom_core::config::ConfigError;

const EMBEDDED: &str = include_str!("../../../demo/incident.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub postgres: PgScenario,
    #[serde(default)]
    pub kafka: KafkaScenario,
    #[serde(default)]
    pub kubernetes: KubeScenario,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PgScenario {
    pub database: String,
    pub idle_sessions: u32,
    pub blocker_pid: i32,
    pub blocker_user: String,
    pub blocker_application: String,
    pub blocker_client: String,
    pub blocker_query: String,
    #[serde(with = "humantime_serde_compat")]
    pub blocker_idle_for: Duration,
    pub waiter_query: String,
    #[serde(with = "humantime_serde_compat")]
    pub waiter_every: Duration,
    pub max_waiters: usize,
}

impl Default for PgScenario {
    fn default() -> Self {
        PgScenario {
            database: "shop".into(),
            idle_sessions: 24,
            blocker_pid: 4242,
            blocker_user: "deploy".into(),
            blocker_application: "migrate-2026-11-26".into(),
            blocker_client: "10.0.9.14".into(),
            blocker_query: "UPDATE orders SET currency = 'EUR' WHERE id = 1001".into(),
            blocker_idle_for: Duration::from_secs(395),
            waiter_query: "UPDATE orders SET status = 'paid' WHERE id = 1001".into(),
            waiter_every: Duration::from_secs(4),
            max_waiters: 60,
        }
    }
}

impl Scenario {
    /// The incident compiled into the binary (demo/incident.toml).
    pub fn embedded() -> Scenario {
        Scenario::parse(Path::new("demo/incident.toml"), EMBEDDED).unwrap_or_else(|_| Scenario {
            name: "demo".into(),
            description: String::new(),
            postgres: PgScenario::default(),
            kafka: KafkaScenario::default(),
            kubernetes: KubeScenario::default(),
        })
    }

    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        Scenario::parse(path, &ConfigError::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ConfigError> {
        let s: Scenario = ConfigError::parse_toml(path, text)?;
        if s.postgres.waiter_every.is_zero() {
            return Err(ConfigError::whole_file(
                path,
                "postgres.waiter_every must be more than 0s",
            ));
        }
        Ok(s)
    }
}

/// Durations written as "4s", "6m35s".
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("demo/ exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn the_embedded_file_matches_the_defaults() {
        assert_eq!(Scenario::embedded().postgres, PgScenario::default());
    }

    #[test]
    fn the_embedded_sections_match_their_defaults() {
        let s = Scenario::embedded();
        assert_eq!(s.kafka, KafkaScenario::default());
        let bad = Scenario::parse(
            Path::new("s.toml"),
            "name = \"x\"\n[kafka]\nlaggin_group = \"g\"\n",
        )
        .expect_err("typo");
        assert_eq!((bad.line, bad.field.as_str()), (3, "kafka.laggin_group"));
        assert!(bad.message.contains("lagging_group"), "{bad}");
    }

    #[test]
    fn errors_name_the_field() {
        let err = Scenario::parse(
            Path::new("s.toml"),
            "name = \"x\"\n[postgres]\nmax_waiter = 3\n",
        )
        .expect_err("typo");
        assert_eq!((err.line, err.field.as_str()), (3, "postgres.max_waiter"));
    }
}
