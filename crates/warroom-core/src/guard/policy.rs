//! Policy: may this action run at all, and what must the user type to confirm it?

use std::collections::HashMap;

use super::GuardedAction;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextPolicy {
    pub protected: bool,
    pub read_only: bool,
    pub runbook_url: Option<String>,
}

/// Why an action may not run, in words the user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// `--read-only`: shadow mode, no action anywhere.
    pub global_read_only: bool,
    pub contexts: HashMap<String, ContextPolicy>,
}

impl Policy {
    /// Why actions are disabled on this context, if they are (for key hints too).
    pub fn disabled_reason(&self, context: &str) -> Option<String> {
        if self.global_read_only {
            return Some("warroom runs with --read-only: actions are disabled".into());
        }
        match self.contexts.get(context) {
            None => Some(format!("unknown context {context:?}: actions are disabled")),
            Some(c) if c.read_only => Some(format!(
                "context {context} is read_only in the configuration: actions are disabled"
            )),
            Some(_) => None,
        }
    }

    /// Ok(Some(name)) when the user must type the context name to confirm.
    pub fn check(&self, action: &GuardedAction) -> Result<Option<String>, Refusal> {
        let ctx = action.context();
        if let Some(why) = self.disabled_reason(ctx) {
            return Err(Refusal(why));
        }
        let protected = self.contexts.get(ctx).is_some_and(|c| c.protected);
        Ok(protected.then(|| ctx.to_string()))
    }

    pub fn runbook(&self, context: &str) -> Option<&str> {
        self.contexts.get(context)?.runbook_url.as_deref()
    }
}
