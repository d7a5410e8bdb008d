//! `[[service]]`: what a service is called in each system, and its links. Checked when the
//! file is read; errors point at the key (file:line:col: key: message).

use serde::Deserialize;

use crate::service::{LINK_KINDS, LabelSelector, Pattern, Service, check_template};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    /// pg_stat_activity.application_name, `*` and `?` as wildcards.
    pub application_name: Option<String>,
    /// Consumer group ids, `*` and `?` as wildcards.
    pub kafka_group: Option<String>,
    /// Pods: `app=billing,tier!=cron`.
    pub label_selector: Option<String>,
    /// What `:logs` follows for this service (`-l app=billing -n shop`).
    pub log_selector: Option<String>,
    #[serde(default)]
    pub links: ServiceLinks,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceLinks {
    pub dashboard: Option<String>,
    pub traces: Option<String>,
    pub logs: Option<String>,
    pub runbook: Option<String>,
}

impl ServiceConfig {
    /// The checked service, or the key at fault and why.
    pub fn check(&self) -> Result<Service, (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "service name must not be empty".into()));
        }
        let pattern = |key: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|p| Pattern::new(p).map_err(|e| (key, e)))
                .transpose()
        };
        let application_name = pattern("application_name", &self.application_name)?;
        let kafka_group = pattern("kafka_group", &self.kafka_group)?;
        let label_selector = self
            .label_selector
            .as_deref()
            .map(|s| LabelSelector::parse(s).map_err(|e| ("label_selector", e)))
            .transpose()?;
        if let Some(sel) = &self.log_selector {
            crate::backends::kube::selection::parse(sel)
                .map_err(|e| ("log_selector", format!("not a :logs selection: {e}")))?;
        }
        if application_name.is_none()
            && kafka_group.is_none()
            && label_selector.is_none()
            && self.log_selector.is_none()
        {
            return Err((
                "name",
                "a service needs at least one of application_name, kafka_group, label_selector, log_selector".into(),
            ));
        }
        let l = &self.links;
        let mut links = Vec::new();
        for (kind, template) in
            LINK_KINDS
                .into_iter()
                .zip([&l.dashboard, &l.traces, &l.logs, &l.runbook])
        {
            if let Some(t) = template {
                check_template(t).map_err(|e| (kind, e))?;
                links.push((kind, t.clone()));
            }
        }
        Ok(Service {
            name: self.name.clone(),
            application_name,
            kafka_group,
            label_selector,
            log_selector: self.log_selector.clone(),
            links,
        })
    }
}
