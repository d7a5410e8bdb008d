//! Server policy: `[[server.rule]]`, first match wins, no match refuses (fail closed).
//!
//! A rule matches a request by the caller's authenticated identity (or one of its groups,
//! `group:NAME`), the server context and the action name (globs with `*`). The matching rule
//! then decides: `allow = false` refuses; otherwise the reason must satisfy the rule's
//! `min_reason_len` and `reason_pattern`, and `approval` says whether a second person must
//! approve first.
//!
//! Identities in `identities` and `approvers` are compared in their canonical form (trimmed,
//! lower-cased: [`canonical_identity`]); group names are compared exactly, case-sensitive, as
//! the token configuration or the identity provider spells them (folding them could only widen
//! who matches a rule).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use warroom_core::config::ConfigError;
use warroom_core::guard::{ActionName, ReasonRules};

use super::auth::{canonical_identity, same_identity};

/// Default minimum reason length when a rule sets none (the client's default too).
const DEFAULT_MIN_REASON: usize = 10;
/// Default time an approval request stays open.
const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    name: Spanned<String>,
    identities: Spanned<Vec<String>>,
    contexts: Spanned<Vec<String>>,
    actions: Spanned<Vec<String>>,
    #[serde(default = "yes")]
    allow: bool,
    min_reason_len: Option<usize>,
    reason_pattern: Option<Spanned<String>>,
    approval: Option<Spanned<RawApproval>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    required: bool,
    approvers: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub scope: RuleScope,
    pub allow: bool,
    pub reason: ReasonRules,
    pub approval: Option<Approval>,
}

/// The requests a rule applies to: any listed caller (an identity, `*` or `group:NAME`), on
/// any listed context, running any listed action (names or globs).
#[derive(Debug, Clone)]
pub struct RuleScope {
    pub identities: Vec<String>,
    pub contexts: Vec<String>,
    pub actions: Vec<String>,
}

impl RuleScope {
    pub fn matches(&self, caller: Caller<'_>, context: &str, action: ActionName) -> bool {
        self.identities.iter().any(|i| caller.matches(i))
            && self.contexts.iter().any(|c| glob(c, context))
            && self.actions.iter().any(|a| glob(a, action.as_str()))
    }
}

/// A second person must approve before the action runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// Identities or `group:NAME` entries allowed to approve (never the requester).
    pub approvers: Vec<String>,
    pub timeout: Duration,
}

/// Who is asking, as authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub identity: &'a str,
    pub groups: &'a [String],
}

impl Caller<'_> {
    /// Does this caller match an `identities`/`approvers` entry (`*`, an identity, `group:X`)?
    pub fn matches(&self, entry: &str) -> bool {
        match entry.strip_prefix("group:") {
            Some(group) => self.groups.iter().any(|g| g == group),
            None => entry == "*" || same_identity(entry, self.identity),
        }
    }
}

/// What the policy says about one request.
#[derive(Debug, Clone)]
pub enum Decision<'a> {
    /// The rule allows it (the reason still has to pass the rule's checks).
    Allow(&'a Rule),
    /// Refused: by a rule (named) or because none matched.
    Refuse { rule: Option<String>, why: String },
}

/// The ordered rules.
#[derive(Debug, Clone, Default)]
pub struct ServerPolicy {
    pub rules: Vec<Rule>,
}

impl ServerPolicy {
    /// First match wins; no match refuses.
    pub fn decide(&self, caller: Caller<'_>, context: &str, action: ActionName) -> Decision<'_> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.scope.matches(caller, context, action));
        match rule {
            None => Decision::Refuse {
                rule: None,
                why: format!(
                    "no server rule allows {} to run {action} on context {context} (no rule \
                     matched: the server refuses by default)",
                    caller.identity
                ),
            },
            Some(r) if !r.allow => Decision::Refuse {
                rule: Some(r.name.clone()),
                why: format!(
                    "rule {:?} refuses {action} on context {context} for {}",
                    r.name, caller.identity
                ),
            },
            Some(r) => Decision::Allow(r),
        }
    }

    /// Validates the `[[server.rule]]` tables of `source` (the text of `path`).
    pub fn parse(
        path: &Path,
        source: &str,
        raw: Vec<Spanned<RawRule>>,
    ) -> Result<ServerPolicy, ConfigError> {
        let at = |span: std::ops::Range<usize>, message: String| {
            ConfigError::at(path, source, span, message)
        };
        let mut rules: Vec<Rule> = Vec::new();
        for raw in raw {
            let span = raw.span();
            let r = raw.into_inner();
            let name = r.name.get_ref().trim().to_string();
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(at(
                    r.name.span(),
                    "must be a non-empty name without control characters".into(),
                ));
            }
            if rules.iter().any(|other| other.name == name) {
                return Err(at(r.name.span(), format!("a rule named {name:?} exists")));
            }
            for (list, what) in [
                (&r.identities, "an identity, \"*\" or \"group:NAME\""),
                (&r.contexts, "a context name or glob"),
                (&r.actions, "an action name or glob such as \"pg.*\""),
            ] {
                if list.get_ref().is_empty() {
                    return Err(at(list.span(), format!("must list at least one: {what}")));
                }
                if let Some(bad) = list.get_ref().iter().find(|e| !entry_ok(e)) {
                    return Err(at(
                        list.span(),
                        format!("{bad:?} is not {what} (no spaces or control characters)"),
                    ));
                }
            }
            if let Some(bad) = r.identities.get_ref().iter().find(|e| !prefix_ok(e)) {
                return Err(at(
                    r.identities.span(),
                    format!("{bad:?}: write the prefix as \"group:\" (lower case)"),
                ));
            }
            if let Some(bad) = r
                .actions
                .get_ref()
                .iter()
                .find(|a| !ActionName::ALL.iter().any(|known| glob(a, known.as_str())))
            {
                return Err(at(
                    r.actions.span(),
                    format!(
                        "{bad:?} matches no action; actions: {}",
                        ActionName::ALL.map(ActionName::as_str).join(", ")
                    ),
                ));
            }
            let pattern = match &r.reason_pattern {
                Some(p) => Some(
                    regex::Regex::new(p.get_ref())
                        .map_err(|e| at(p.span(), format!("invalid regular expression: {e}")))?,
                ),
                None => None,
            };
            let approval = match &r.approval {
                Some(a) if a.get_ref().required => {
                    let raw_a = a.get_ref();
                    let Some(approvers) =
                        raw_a.approvers.as_ref().filter(|l| !l.get_ref().is_empty())
                    else {
                        return Err(at(
                            raw_a.approvers.as_ref().map_or(a.span(), |l| l.span()),
                            "approval.required needs approvers = [...] (identities or \
                             \"group:NAME\")"
                                .into(),
                        ));
                    };
                    if let Some(bad) = approvers
                        .get_ref()
                        .iter()
                        .find(|e| !entry_ok(e) || !prefix_ok(e))
                    {
                        return Err(at(
                            approvers.span(),
                            format!("{bad:?} is not an identity or \"group:NAME\""),
                        ));
                    }
                    let timeout = match &raw_a.timeout {
                        Some(t) => humantime::parse_duration(t.get_ref())
                            .ok()
                            .filter(|d| *d >= Duration::from_secs(1))
                            .ok_or_else(|| {
                                at(
                                    t.span(),
                                    format!("{:?} is not a duration of 1s or more", t.get_ref()),
                                )
                            })?,
                        None => DEFAULT_APPROVAL_TIMEOUT,
                    };
                    Some(Approval {
                        approvers: approvers
                            .get_ref()
                            .iter()
                            .map(|e| canonical_entry(e))
                            .collect(),
                        timeout,
                    })
                }
                _ => None,
            };
            if !r.allow && (approval.is_some() || pattern.is_some()) {
                return Err(at(
                    span,
                    "allow = false refuses outright: approval and reason_pattern do not apply"
                        .into(),
                ));
            }
            rules.push(Rule {
                name,
                scope: RuleScope {
                    identities: r
                        .identities
                        .get_ref()
                        .iter()
                        .map(|e| canonical_entry(e))
                        .collect(),
                    contexts: r.contexts.into_inner(),
                    actions: r.actions.into_inner(),
                },
                allow: r.allow,
                reason: ReasonRules {
                    min_len: r.min_reason_len.unwrap_or(DEFAULT_MIN_REASON),
                    pattern,
                },
                approval,
            });
        }
        Ok(ServerPolicy { rules })
    }

    /// What `warroom server check-policy` prints: one line per rule, in order.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.rules.iter().enumerate() {
            out.push_str(&format!(
                "{}. {:?}: {} {} on {} by {}{}\n",
                i + 1,
                r.name,
                if r.allow { "allow" } else { "refuse" },
                r.scope.actions.join(","),
                r.scope.contexts.join(","),
                r.scope.identities.join(","),
                match &r.approval {
                    Some(a) => format!(
                        ", approval by {} within {}",
                        a.approvers.join(","),
                        humantime::format_duration(a.timeout)
                    ),
                    None => String::new(),
                }
            ));
        }
        out.push_str(&format!(
            "{} rule(s); a request no rule matches is refused\n",
            self.rules.len()
        ));
        out
    }
}

fn entry_ok(e: &str) -> bool {
    !e.is_empty() && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `Group:sre` would turn into the group entry `group:sre` once canonical: refused instead.
fn prefix_ok(e: &str) -> bool {
    e.starts_with("group:") || !e.to_lowercase().starts_with("group:")
}

/// An `identities`/`approvers` entry as it is compared: identities canonical, `*` and
/// `group:NAME` as written.
fn canonical_entry(e: &str) -> String {
    if e == "*" || e.starts_with("group:") {
        e.to_string()
    } else {
        canonical_identity(e)
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        rule: Vec<Spanned<RawRule>>,
    }

    fn policy(text: &str) -> Result<ServerPolicy, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        ServerPolicy::parse(Path::new("/etc/w/server.toml"), text, file.rule)
            .map_err(|e| e.to_string())
    }

    const RULES: &str = r#"
[[rule]]
name = "interns never"
identities = ["intern@example.com"]
contexts = ["*"]
actions = ["*"]
allow = false

[[rule]]
name = "prod needs a second pair of eyes"
identities = ["*"]
contexts = ["prod*"]
actions = ["pg.*", "kafka.*", "kube.*"]
min_reason_len = 20
approval = { required = true, approvers = ["group:sre", "bob@example.com"], timeout = "10m" }

[[rule]]
name = "sre on staging"
identities = ["group:sre"]
contexts = ["staging"]
actions = ["pg.cancel", "pg.terminate"]
"#;

    #[test]
    fn first_match_wins_and_no_match_refuses() {
        let p = policy(RULES).expect("valid");
        let sre = ["sre".to_string()];
        let alice = Caller {
            identity: "alice@example.com",
            groups: &sre,
        };
        let intern = Caller {
            identity: "intern@example.com",
            groups: &[],
        };
        match p.decide(intern, "prod-eu", ActionName::PgCancel) {
            Decision::Refuse { rule, .. } => assert_eq!(rule.as_deref(), Some("interns never")),
            other => panic!("{other:?}"),
        }
        match p.decide(alice, "prod-eu", ActionName::KubeDeletePod) {
            Decision::Allow(r) => {
                assert_eq!(r.name, "prod needs a second pair of eyes");
                assert_eq!(r.reason.min_len, 20);
                let a = r.approval.as_ref().expect("approval");
                assert_eq!(a.timeout, Duration::from_secs(600));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p.decide(alice, "staging", ActionName::PgTerminate),
            Decision::Allow(r) if r.approval.is_none()
        ));
        let nobody = Caller {
            identity: "carol@example.com",
            groups: &[],
        };
        match p.decide(nobody, "staging", ActionName::PgCancel) {
            Decision::Refuse { rule: None, why } => assert!(why.contains("no rule"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_point_at_the_field() {
        let e = policy(
            "[[rule]]\nname = \"x\"\nidentities = [\"*\"]\ncontexts = [\"p\"]\nactions = [\"pg.drop\"]\n",
        )
        .expect_err("unknown action");
        assert!(
            e.starts_with("/etc/w/server.toml:5:11: rule[1].actions:"),
            "{e}"
        );
        assert!(e.contains("matches no action"), "{e}");
        let e = policy(
            "[[rule]]\nname = \"x\"\nidentities = [\"*\"]\ncontexts = [\"p\"]\nactions = [\"pg.*\"]\napproval = { required = true, approvers = [] }\n",
        )
        .expect_err("no approvers");
        assert!(e.contains(":6:43: "), "{e}");
        assert!(e.contains("needs approvers"), "{e}");
    }

    #[test]
    fn identities_in_rules_are_canonical_and_groups_exact() {
        let p = policy(
            r#"
[[rule]]
name = "alice, with approval"
identities = ["Alice@Example.COM"]
contexts = ["prod"]
actions = ["pg.*"]
approval = { required = true, approvers = ["Bob@Example.com", "group:SRE"] }
"#,
        )
        .expect("valid");
        let rule = &p.rules[0];
        assert_eq!(rule.scope.identities, ["alice@example.com"]);
        let approval = rule.approval.as_ref().expect("approval");
        assert_eq!(approval.approvers, ["bob@example.com", "group:SRE"]);
        let alice = Caller {
            identity: "alice@example.com",
            groups: &[],
        };
        assert!(matches!(
            p.decide(alice, "prod", ActionName::PgCancel),
            Decision::Allow(_)
        ));
        let sre = ["sre".to_string()];
        let lower = Caller {
            identity: "carol@example.com",
            groups: &sre,
        };
        assert!(!approval.approvers.iter().any(|a| lower.matches(a)));
        let upper = ["SRE".to_string()];
        let carol = Caller {
            identity: "carol@example.com",
            groups: &upper,
        };
        assert!(approval.approvers.iter().any(|a| carol.matches(a)));
        let e = policy(
            "[[rule]]\nname = \"x\"\nidentities = [\"Group:sre\"]\ncontexts = [\"p\"]\nactions = [\"pg.*\"]\n",
        )
        .expect_err("Group:");
        assert!(e.contains(":3:14: "), "{e}");
    }

    #[test]
    fn globs() {
        assert!(glob("pg.*", "pg.cancel"));
        assert!(!glob("pg.*", "kafka.delete_group"));
        assert!(glob("*", "anything"));
        assert!(glob("prod-*-db", "prod-eu-db"));
        assert!(!glob("prod-*-db", "prod-eu-dbx"));
        assert!(glob("exact", "exact"));
    }
}
