//! Rules for the reason typed before an action.

#[derive(Debug, Clone)]
pub struct ReasonRules {
    pub min_len: usize,
    pub pattern: Option<regex::Regex>,
}

impl Default for ReasonRules {
    fn default() -> Self {
        ReasonRules {
            min_len: 10,
            pattern: None,
        }
    }
}

impl ReasonRules {
    /// The trimmed reason, or what is wrong with it.
    pub fn validate(&self, reason: &str) -> Result<String, String> {
        if reason.chars().any(char::is_control) {
            return Err("the reason must not contain control characters".into());
        }
        let r = reason.trim();
        if r.is_empty() {
            return Err("a reason is required".into());
        }
        let len = r.chars().count();
        if len < self.min_len {
            return Err(format!(
                "the reason is too short: {len} characters, at least {} needed",
                self.min_len
            ));
        }
        if let Some(p) = &self.pattern
            && !p.is_match(r)
        {
            return Err(format!(
                "the reason must match {:?} (e.g. a ticket id)",
                p.as_str()
            ));
        }
        Ok(r.to_string())
    }

    /// One line for the prompt.
    pub fn describe(&self) -> String {
        match &self.pattern {
            Some(p) => format!(
                "at least {} characters, matching {}",
                self.min_len,
                p.as_str()
            ),
            None => format!("at least {} characters", self.min_len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_enforced() {
        let rules = ReasonRules {
            min_len: 10,
            pattern: regex::Regex::new("INC-[0-9]+").ok(),
        };
        assert!(rules.validate("   ").is_err());
        assert!(
            rules
                .validate("INC-1 x")
                .expect_err("short")
                .contains("too short")
        );
        assert!(
            rules
                .validate("no ticket here at all")
                .expect_err("pattern")
                .contains("INC-")
        );
        assert!(rules.validate("INC-42 blocker\u{1b}[2J").is_err());
        assert_eq!(
            rules
                .validate("  INC-42 migration blocks checkout ")
                .as_deref(),
            Ok("INC-42 migration blocks checkout")
        );
    }
}
