//! Services: a name people use in an incident ("billing") for what it is in each system:
//! its sessions (application_name pattern), its consumer groups (group pattern), its pods
//! (label selector), its logs (a `:logs` selection), and its links (dashboard, traces, logs,
//! runbook URL templates). Pure matching and expansion; no I/O.

use std::collections::BTreeMap;

use crate::percent::percent_encode;

/// The placeholders a link template may use.
pub const PLACEHOLDERS: [&str; 5] = ["pod", "namespace", "group", "pid", "since"];
/// The links a service may have, in menu order.
pub const LINK_KINDS: [&str; 4] = ["dashboard", "traces", "logs", "runbook"];

/// A `*` / `?` pattern, whole-string, case-sensitive.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    regex: regex::Regex,
}

impl Pattern {
    pub fn new(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("the pattern must not be empty".into());
        }
        let mut re = String::from("^");
        for c in text.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        let regex = regex::Regex::new(&re).map_err(|e| e.to_string())?;
        Ok(Pattern {
            text: text.to_string(),
            regex,
        })
    }

    pub fn matches(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text
    }
}

/// One requirement of an equality-based label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
}

/// `app=billing,tier!=cron,team` (Kubernetes' equality-based selector).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSelector {
    text: String,
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        };
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim) {
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else {
                Requirement::Exists(part.into())
            };
            let ok = match &req {
                Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => {
                    valid(k) && (v.is_empty() || valid(v))
                }
                Requirement::Exists(k) => valid(k),
            };
            if !ok {
                return Err(format!(
                    "{part:?} is not a label requirement (key=value, key!=value or key)"
                ));
            }
            requirements.push(req);
        }
        Ok(LabelSelector {
            text: text.to_string(),
            requirements,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A checked `[[service]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub application_name: Option<Pattern>,
    pub kafka_group: Option<Pattern>,
    pub label_selector: Option<LabelSelector>,
    /// `:logs` arguments (`-l app=billing -n shop`), checked when the config is read.
    pub log_selector: Option<String>,
    /// (kind, template), in `LINK_KINDS` order.
    pub links: Vec<(&'static str, String)>,
}

/// What the selection of a pane says, for the link templates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkValues {
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub group: Option<String>,
    pub pid: Option<String>,
    /// RFC 3339, when the selection has a start (a session's query, a pod's last restart).
    pub since: Option<String>,
    /// For finding the service of the selection when none is focused.
    pub application: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl LinkValues {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "pod" => self.pod.as_deref(),
            "namespace" => self.namespace.as_deref(),
            "group" => self.group.as_deref(),
            "pid" => self.pid.as_deref(),
            "since" => self.since.as_deref(),
            _ => None,
        }
    }
}

impl Service {
    /// The note a pane shows while focused on this service: what the service's `field`
    /// limits the list to (`label`, then the `pattern`), or, without one, that all `items`
    /// stay. Sanitized here: names and patterns come from the config file.
    pub fn focus_note(
        &self,
        field: &str,
        label: &str,
        pattern: Option<&str>,
        items: &str,
    ) -> String {
        let name = crate::sanitize::cell(&self.name, 40);
        match pattern {
            Some(p) => format!("focus {name}: {label}{}", crate::sanitize::cell(p, 60)),
            None => format!("focus {name} has no {field}: all {items}"),
        }
    }

    pub fn matches_application(&self, application: &str) -> bool {
        self.application_name
            .as_ref()
            .is_some_and(|p| p.matches(application))
    }

    pub fn matches_group(&self, group: &str) -> bool {
        self.kafka_group.as_ref().is_some_and(|p| p.matches(group))
    }

    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.label_selector
            .as_ref()
            .is_some_and(|s| s.matches(labels))
    }

    /// Whether the selection belongs to this service (any matcher).
    pub fn owns(&self, v: &LinkValues) -> bool {
        v.application
            .as_deref()
            .is_some_and(|a| self.matches_application(a))
            || v.group.as_deref().is_some_and(|g| self.matches_group(g))
            || (!v.labels.is_empty() && self.matches_labels(&v.labels))
    }

    /// Each link expanded for `values`: `Ok(url)`, or `Err(the placeholders it lacks)`.
    pub fn expand_links(&self, values: &LinkValues) -> Vec<(&'static str, Result<String, String>)> {
        self.links
            .iter()
            .map(|(kind, template)| (*kind, expand(template, values)))
            .collect()
    }
}

/// The placeholders in a template, or what is wrong with it.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a '{' without its '}'".to_string())?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; known: {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
            ));
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Check a link template: an http(s) URL with known placeholders only.
pub fn check_template(template: &str) -> Result<(), String> {
    if !(template.starts_with("https://") || template.starts_with("http://")) {
        return Err("a link must be an http:// or https:// URL".into());
    }
    if template
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("a link must not contain spaces or control characters".into());
    }
    placeholders(template).map(|_| ())
}

/// Fill a template; every value is percent-encoded (RFC 3986 unreserved characters stay),
/// so a pod or group name can neither change the URL's shape nor reach the terminal as a
/// control sequence.
pub fn expand(template: &str, values: &LinkValues) -> Result<String, String> {
    let mut missing = Vec::new();
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        match values.get(name) {
            Some(v) => out.push_str(&percent_encode(v)),
            None => missing.push(format!("{{{name}}}")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "needs {} (select a row that has it)",
            missing.join(" ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billing() -> Service {
        Service {
            name: "billing".into(),
            application_name: Some(Pattern::new("billing-*").expect("pattern")),
            kafka_group: Some(Pattern::new("billing.*").expect("pattern")),
            label_selector: Some(LabelSelector::parse("app=billing,tier!=cron").expect("sel")),
            log_selector: None,
            links: vec![
                (
                    "dashboard",
                    "https://grafana.example/d/billing?var-pod={pod}&var-ns={namespace}".into(),
                ),
                (
                    "traces",
                    "https://traces.example/search?group={group}&since={since}".into(),
                ),
            ],
        }
    }

    #[test]
    fn focus_note_names_the_pattern_or_says_everything_stays_and_is_sanitized() {
        let svc = billing();
        let pattern = svc.kafka_group.as_ref().map(|p| p.text());
        assert_eq!(
            svc.focus_note("kafka_group", "groups ", pattern, "groups"),
            "focus billing: groups billing.*"
        );
        assert_eq!(
            svc.focus_note("label_selector", "", None, "pods"),
            "focus billing has no label_selector: all pods"
        );
        let hostile = Service {
            name: "bill\x1b[2Jing".into(),
            ..billing()
        };
        let note = hostile.focus_note("label_selector", "", Some("app=\x1b]0;x\x07b"), "pods");
        assert!(!note.contains('\x1b') && !note.contains('\x07'), "{note:?}");
    }

    #[test]
    fn matchers_cover_sessions_groups_and_pods() {
        let s = billing();
        assert!(s.matches_application("billing-api"));
        assert!(!s.matches_application("api-billing"));
        assert!(s.matches_group("billing.invoices"));
        assert!(
            !s.matches_group("billingXinvoices"),
            "'.' is a dot, not any character"
        );
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(s.matches_labels(&labels(&[("app", "billing")])));
        assert!(!s.matches_labels(&labels(&[("app", "billing"), ("tier", "cron")])));
        assert!(!s.matches_labels(&labels(&[("app", "search")])));
        assert!(LabelSelector::parse("app=bil ling").is_err());
        assert!(LabelSelector::parse("").is_err());
    }

    #[test]
    fn templates_expand_with_every_value_escaped() {
        let s = billing();
        let hostile = LinkValues {
            pod: Some("api-1&var-x=1#\u{1b}]8;;https://evil/\u{7}".into()),
            namespace: Some("shop".into()),
            ..LinkValues::default()
        };
        let links = s.expand_links(&hostile);
        let (kind, Ok(url)) = &links[0] else {
            panic!("{links:?}");
        };
        assert_eq!(*kind, "dashboard");
        assert_eq!(
            url,
            "https://grafana.example/d/billing?var-pod=api-1%26var-x%3D1%23%1B%5D8%3B%3Bhttps%3A%2F%2Fevil%2F%07&var-ns=shop"
        );
        assert!(!url.chars().any(|c| c.is_control()));
        // A link whose values are missing says which.
        assert_eq!(
            links[1].1,
            Err("needs {group} {since} (select a row that has it)".into())
        );
    }

    #[test]
    fn templates_are_checked() {
        assert!(check_template("https://x.example/{pod}/{since}").is_ok());
        assert!(check_template("javascript:alert(1)").is_err());
        assert!(
            check_template("https://x.example/{user}")
                .is_err_and(|e| e.contains("unknown placeholder {user}"))
        );
        assert!(check_template("https://x.example/{pod").is_err());
        assert!(check_template("https://x.example/a b").is_err());
    }
}
