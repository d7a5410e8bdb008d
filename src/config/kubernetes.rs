//! `[[kubernetes]]` contexts (a kubeconfig context, namespaces, a label selector) and the
//! `[logs]` settings of the log tail.

use serde::Deserialize;

/// One Kubernetes context, as written in the file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesContext {
    pub name: String,
    /// The kubeconfig context (KUBECONFIG honoured); none: the kubeconfig's current context.
    pub kube_context: Option<String>,
    /// Namespaces to watch; empty: all namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    pub label_selector: Option<String>,
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub read_only: bool,
    pub runbook_url: Option<String>,
}

impl KubernetesContext {
    /// Check names; the error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for ns in &self.namespaces {
            let ok = !ns.is_empty()
                && ns.len() <= 63
                && ns
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err((
                    "namespaces",
                    format!("{ns:?} is not a namespace name (lowercase letters, digits, '-')"),
                ));
            }
        }
        if self.label_selector.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(("label_selector", "label_selector must not be blank".into()));
        }
        Ok(())
    }
}

/// `[logs]`: how much log text the Logs pane keeps.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// The buffer's bound in bytes of text; the oldest lines leave first, and are counted.
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: u64,
}

pub const MIN_BUFFER_BYTES: u64 = 64 * 1024;

fn default_buffer_bytes() -> u64 {
    32 * 1024 * 1024
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            buffer_bytes: default_buffer_bytes(),
        }
    }
}
