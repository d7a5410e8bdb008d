//! `[[kubernetes]]` contexts (a kubeconfig context, namespaces, a label selector) and the
//! `[logs]` settings of the log tail.

use serde::Deserialize;

context_struct! {
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
    }
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
        if self
            .label_selector
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    #[test]
    fn kubernetes_contexts_and_the_log_buffer_parse() {
        let text = r#"
[[kubernetes]]
name = "prod-k8s"
kube_context = "gke_prod"
namespaces = ["shop", "payments"]
label_selector = "tier=backend"
protected = true
runbook_url = "https://runbooks.example/k8s"

[logs]
buffer_bytes = 1048576
"#;
        let c = Config::parse(Path::new("c.toml"), text).expect("valid");
        let k = c.kubernetes_context("prod-k8s").expect("context");
        assert_eq!(k.kube_context.as_deref(), Some("gke_prod"));
        assert_eq!(k.namespaces, ["shop", "payments"]);
        assert!(k.protected && !k.read_only);
        assert_eq!(c.logs.buffer_bytes, 1_048_576);
        assert!(
            c.summary("default")
                .contains("prod-k8s  kube context gke_prod  namespaces shop,payments")
        );
    }

    #[test]
    fn names_are_unique_across_kinds_and_errors_point_at_the_key() {
        let dup = "[[postgres]]\nname = \"prod\"\nurl = \"postgres://h/db\"\n\n[[kubernetes]]\nname = \"prod\"\n";
        let e = Config::parse(Path::new("c.toml"), dup).expect_err("duplicate");
        assert!(
            e.to_string().contains("duplicate context name \"prod\""),
            "{e}"
        );

        let bad = "[[kubernetes]]\nname = \"k\"\nnamespaces = [\"Shop!\"]\n";
        let e = Config::parse(Path::new("c.toml"), bad).expect_err("bad namespace");
        assert!(e.to_string().contains("c.toml:3"), "{e}");

        let small = "[logs]\nbuffer_bytes = 10\n";
        let e = Config::parse(Path::new("c.toml"), small).expect_err("too small");
        assert!(
            e.to_string().contains("buffer_bytes must be at least"),
            "{e}"
        );
    }
}
