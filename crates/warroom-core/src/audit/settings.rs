//! `[audit]` settings, already resolved by the config layer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default timeout of one audit call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do when the audit endpoint cannot take the intent record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnreachable {
    /// Fail closed: nothing runs (`on_unreachable = "deny"`).
    #[default]
    Deny,
    /// Break-glass: the action runs with the local file as the only trail, warns loudly and marks
    /// the record (`on_unreachable = "local-only"`).
    LocalOnly,
}

/// Where audit records go and how the audit call behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The local append-only JSONL file (hash chain).
    pub file: PathBuf,
    /// The audit endpoint that must accept each intent (POST, JSON body).
    pub endpoint: Option<String>,
    /// Name of the environment variable holding a bearer token. The token itself is read at call
    /// time and is never logged, stored in records, or put in error messages.
    pub token_env: Option<String>,
    /// Timeout of one audit call (connect + request + response body).
    pub timeout: Duration,
    pub on_unreachable: OnUnreachable,
    /// Configured identity written into `actor.identity`.
    pub identity: Option<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings::local(AuditSettings::default_file())
    }
}

impl AuditSettings {
    /// Local file only, everything else at its default.
    pub fn local(file: impl Into<PathBuf>) -> AuditSettings {
        AuditSettings {
            file: file.into(),
            endpoint: None,
            token_env: None,
            timeout: DEFAULT_TIMEOUT,
            on_unreachable: OnUnreachable::Deny,
            identity: None,
        }
    }

    /// `$XDG_STATE_HOME/warroom/audit.jsonl`, else `~/.local/state/warroom/audit.jsonl`.
    pub fn default_file() -> PathBuf {
        default_file_from(
            std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// The spool of records not yet delivered to the endpoint: `<file>.pending`.
    pub fn pending_file(&self) -> PathBuf {
        with_suffix(&self.file, ".pending")
    }

    /// Where records go, as shown in the reason prompt:
    /// `audit: /path/audit.jsonl + https://audit.example/records` or
    /// `no audit endpoint: this record stays on this machine (audit: /path/audit.jsonl)`.
    pub fn destination_text(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!(
                "audit: {} + {}",
                self.file.display(),
                redact_endpoint(endpoint)
            ),
            None => format!(
                "{} (audit: {})",
                crate::guard::status::NO_ENDPOINT,
                self.file.display()
            ),
        }
    }
}

fn default_file_from(xdg_state_home: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    // The XDG spec says relative values are invalid and must be ignored.
    let state = match xdg_state_home {
        Some(dir) if dir.is_absolute() => dir,
        _ => home
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local")
            .join("state"),
    };
    state.join("warroom").join("audit.jsonl")
}

/// `path` with `suffix` appended to its file name (`audit.jsonl` -> `audit.jsonl.pending`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The endpoint as it may be shown: user info (`user:password@`) removed.
pub(crate) fn redact_endpoint(endpoint: &str) -> String {
    match reqwest::Url::parse(endpoint) {
        Ok(mut url) => {
            if !url.username().is_empty() || url.password().is_some() {
                // Both only fail for URLs that cannot have credentials, which have none.
                let _ = url.set_username("");
                let _ = url.set_password(None);
            }
            url.to_string()
        }
        Err(_) => endpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_prefers_absolute_xdg_state_home() {
        assert_eq!(
            default_file_from(Some("/x/state".into()), Some("/home/a".into())),
            PathBuf::from("/x/state/warroom/audit.jsonl")
        );
        assert_eq!(
            default_file_from(None, Some("/home/a".into())),
            PathBuf::from("/home/a/.local/state/warroom/audit.jsonl")
        );
        assert_eq!(
            default_file_from(Some("relative".into()), Some("/home/a".into())),
            PathBuf::from("/home/a/.local/state/warroom/audit.jsonl")
        );
    }

    #[test]
    fn destination_text_names_file_and_endpoint_without_credentials() {
        let mut s = AuditSettings::local("/var/a/audit.jsonl");
        assert_eq!(
            s.destination_text(),
            "no audit endpoint: this record stays on this machine (audit: /var/a/audit.jsonl)"
        );
        s.endpoint = Some("https://bob:pw@audit.example/records".into());
        assert_eq!(
            s.destination_text(),
            "audit: /var/a/audit.jsonl + https://audit.example/records"
        );
        assert_eq!(
            s.pending_file(),
            PathBuf::from("/var/a/audit.jsonl.pending")
        );
    }

    #[test]
    fn on_unreachable_uses_config_spelling() {
        assert_eq!(
            serde_json::to_string(&OnUnreachable::LocalOnly)
                .ok()
                .as_deref(),
            Some("\"local-only\"")
        );
        assert_eq!(OnUnreachable::default(), OnUnreachable::Deny);
    }
}
