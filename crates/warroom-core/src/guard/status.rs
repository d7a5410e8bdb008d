//! How a CLI run of guarded actions ends: the exit status and the warnings for stderr.
//!
//! Exit status (README, "Command line"):
//! - 0: every action ran and the audit endpoint has its records;
//! - 1: something was refused, failed, or has an unknown outcome;
//! - 3: every action ran, but its audit trail exists only on this machine (no endpoint is
//!   configured, or break-glass: the endpoint did not accept it and `on_unreachable =
//!   "local-only"`), or an outcome could not be delivered or written.

use super::ActionReport;
use crate::audit::AuditSettings;

/// The action ran but its record stays on this machine (or was lost).
pub const EXIT_LOCAL_ONLY: u8 = 3;

/// What the prompt, the confirmation and the CLI say when no endpoint is configured.
pub const NO_ENDPOINT: &str = "no audit endpoint: this record stays on this machine";

/// The exit status and the warnings to print on stderr for these reports.
pub fn cli_status(reports: &[ActionReport], audit: &AuditSettings) -> (u8, Vec<String>) {
    let mut warnings = Vec::new();
    if reports.iter().any(|r| !r.outcome.ok()) {
        return (1, warnings);
    }
    let mut local = false;
    if audit.endpoint.is_none() && reports.iter().any(|r| r.outcome.executed()) {
        local = true;
        warnings.push(format!("warning: {NO_ENDPOINT} ({})", audit.file.display()));
    }
    for r in reports {
        for w in &r.warnings {
            local = true;
            warnings.push(format!("warning: {w}"));
        }
    }
    (if local { EXIT_LOCAL_ONLY } else { 0 }, warnings)
}
