//! `[[kafka]]` contexts: a cluster's brokers and the librdkafka properties to reach it.

use std::collections::BTreeMap;

use serde::Deserialize;

context_struct! {
    /// One Kafka context, as written in the file.
    #[derive(Debug, Clone, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct KafkaContext {
        pub name: String,
        /// `host:port,host:port`.
        pub brokers: String,
        /// Passed to librdkafka as is (security.protocol, sasl.*, ssl.*): may hold secrets.
        #[serde(default)]
        pub properties: BTreeMap<String, toml::Value>,
    }
}

/// Properties warroom sets itself.
const RESERVED: [&str; 4] = [
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "client.id",
];

impl KafkaContext {
    /// Check brokers and properties; the error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let brokers: Vec<&str> = self.brokers.split(',').map(str::trim).collect();
        if brokers.iter().any(|b| b.is_empty()) {
            return Err((
                "brokers",
                "brokers must be \"host:port\" or \"host1:port,host2:port\"".into(),
            ));
        }
        for b in &brokers {
            let port = b.rsplit_once(':').map(|(_, p)| p);
            if port.is_none_or(|p| p.parse::<u16>().is_err()) {
                return Err((
                    "brokers",
                    format!("{b:?} is not host:port (for example \"kafka1:9092\")"),
                ));
            }
        }
        for (k, v) in &self.properties {
            if RESERVED.contains(&k.as_str()) {
                return Err((
                    "properties",
                    format!(
                        "property {k:?} is set by warroom (brokers go in `brokers`; warroom never joins a group)"
                    ),
                ));
            }
            if property_text(v).is_none() {
                return Err((
                    "properties",
                    format!("property {k:?} must be a string, number or boolean"),
                ));
            }
        }
        Ok(())
    }

    /// The properties as librdkafka takes them: every value a string.
    pub fn property_strings(&self) -> BTreeMap<String, String> {
        self.properties
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), property_text(v)?)))
            .collect()
    }

    /// For `config check`: keys, with secret values hidden.
    pub fn redacted_properties(&self) -> String {
        self.properties
            .iter()
            .map(|(k, v)| {
                let secret = ["password", "secret", "key", "token", "jaas"]
                    .iter()
                    .any(|s| k.to_ascii_lowercase().contains(s));
                let shown = if secret {
                    "***".into()
                } else {
                    property_text(v).unwrap_or_default()
                };
                format!("{k}={shown}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn property_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(brokers: &str, props: &[(&str, toml::Value)]) -> KafkaContext {
        KafkaContext {
            name: "k".into(),
            brokers: brokers.into(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            protected: false,
            read_only: false,
            runbook_url: None,
            via: crate::config::Via::Direct,
        }
    }

    #[test]
    fn kafka_contexts_parse_and_errors_point_at_the_line() {
        let path = std::path::Path::new("c.toml");
        let ok = "[[kafka]]\nname = \"k1\"\nbrokers = \"a:9092,b:9092\"\nproperties = { \"security.protocol\" = \"SASL_SSL\", \"sasl.password\" = \"s3cret\" }\nprotected = true\nrunbook_url = \"https://r/k\"\n";
        let c = crate::config::Config::parse(path, ok).expect("valid");
        assert_eq!(c.contexts.kafka[0].brokers, "a:9092,b:9092");
        assert!(c.contexts.kafka[0].protected);
        let summary = c.summary("default");
        assert!(
            summary.contains("k1  a:9092,b:9092") && !summary.contains("s3cret"),
            "{summary}"
        );
        // Names are unique across kinds.
        let dup = "[[postgres]]\nname = \"x\"\nurl = \"postgres://h/db\"\n[[kafka]]\nname = \"x\"\nbrokers = \"a:1\"\n";
        // The error text of a config that must not parse ("" if it does: the asserts fail).
        let error_of = |text: &str| {
            crate::config::Config::parse(path, text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = error_of(dup);
        assert!(
            e.contains("duplicate context name \"x\" (first used at line 1)")
                && e.contains("c.toml:5:1: kafka[1].name"),
            "{e}"
        );
        let bad = "[[kafka]]\nname = \"k\"\nbrokers = \"nohost\"\n";
        let e = error_of(bad);
        assert!(e.contains("c.toml:3") && e.contains("not host:port"), "{e}");
    }

    #[test]
    fn brokers_and_properties_are_checked_and_secrets_hidden() {
        assert!(ctx("a:9092, b:9093", &[]).validate().is_ok());
        assert_eq!(ctx("a", &[]).validate().map_err(|e| e.0), Err("brokers"));
        assert_eq!(ctx("a:x", &[]).validate().map_err(|e| e.0), Err("brokers"));
        let group = ctx("a:1", &[("group.id", toml::Value::String("g".into()))]);
        assert!(
            group
                .validate()
                .err()
                .is_some_and(|e| e.1.contains("never joins"))
        );
        let c = ctx(
            "a:1",
            &[
                ("sasl.password", toml::Value::String("hunter2".into())),
                ("socket.timeout.ms", toml::Value::Integer(3000)),
            ],
        );
        assert_eq!(
            c.redacted_properties(),
            "sasl.password=*** socket.timeout.ms=3000"
        );
        assert_eq!(c.property_strings()["socket.timeout.ms"], "3000");
    }
}
