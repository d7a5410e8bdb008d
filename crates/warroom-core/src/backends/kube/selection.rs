//! A `:logs` selection as written (`[POD | -l SELECTOR] [-n NAMESPACE] [-c CONTAINER]
//! [--since D] [--tail N] [--previous]`), parsed into a `LogSelection`: the TUI's `:logs`, the
//! `[[service]]` log selector and the CLI read it the same way.

use super::{LogPods, LogSelection, Since, Tail};
use crate::sanitize;

pub const USAGE: &str = "usage: :logs [POD | -l SELECTOR] [-n NAMESPACE] [-c CONTAINER] [--since 10m] [--tail N] [--previous]";

/// Parse the arguments after `:logs` (not empty: no arguments means "show the pane").
pub fn parse(args: &str) -> Result<LogSelection, String> {
    let (mut pod, mut selector): (Option<String>, Option<String>) = (None, None);
    let (mut namespace, mut container, mut since_arg, mut tail_arg) = (None, None, None, None);
    let mut previous = false;
    let mut words = split(args)?.into_iter();
    while let Some(word) = words.next() {
        if !word.starts_with('-') {
            if let Some(first) = &pod {
                return Err(format!(
                    "one pod at a time: {} and {} (use -l SELECTOR for several)",
                    shown(first),
                    shown(&word)
                ));
            }
            let name = word
                .strip_prefix("pod/")
                .or_else(|| word.strip_prefix("pods/"))
                .unwrap_or(&word);
            pod = Some(name_arg("pod", name)?);
            continue;
        }
        // --flag=value or --flag value.
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (word.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| words.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag.as_str() {
            "-l" | "--selector" => {
                let v = value("a label selector, e.g. -l app=api")?;
                if v.chars().any(char::is_control) {
                    return Err("the label selector has control characters".into());
                }
                set(&mut selector, v, "-l")?;
            }
            "-n" | "--namespace" => {
                let v = name_arg("namespace", &value("a namespace")?)?;
                set(&mut namespace, v, "-n")?;
            }
            "-c" | "--container" => {
                let v = name_arg("container", &value("a container name")?)?;
                set(&mut container, v, "-c")?;
            }
            "--since" => {
                let v = since(&value(
                    "a duration like 10m, or a time like 2026-01-31T10:00:00Z",
                )?)?;
                if since_arg.replace(v).is_some() {
                    return Err("--since given twice".into());
                }
            }
            "--tail" => {
                let v = tail(&value("a number of lines (-1: the whole log)")?)?;
                if tail_arg.replace(v).is_some() {
                    return Err("--tail given twice".into());
                }
            }
            "-p" | "--previous" => previous = true,
            // Following is what the pane does; accepted so kubectl habits do not error.
            "-f" | "--follow" => {}
            other => return Err(format!("unknown flag {}; {USAGE}", shown(other))),
        }
    }
    let pods = match (pod, selector) {
        (Some(_), Some(_)) => return Err("give a POD or -l SELECTOR, not both".into()),
        (None, None) if container.is_some() => {
            return Err(
                "-c needs a pod: :logs POD -c CONTAINER (or -l SELECTOR -c CONTAINER)".into(),
            );
        }
        (None, None) => return Err(format!("which pods? give a POD or -l SELECTOR; {USAGE}")),
        (Some(p), None) => LogPods::Pod(p),
        (None, Some(s)) => LogPods::Selector(s),
    };
    Ok(LogSelection {
        pods,
        namespace,
        container,
        previous,
        since: since_arg,
        tail: tail_arg.unwrap_or_default(),
    })
}

/// What the selection is called in the header and in messages.
pub fn title(sel: &LogSelection) -> String {
    let mut t = match &sel.pods {
        LogPods::Pod(p) => p.clone(),
        LogPods::Selector(l) => format!("-l {l}"),
    };
    if let Some(ns) = &sel.namespace {
        t.push_str(&format!(" -n {ns}"));
    }
    t
}

pub fn shown(s: &str) -> String {
    sanitize::cell(s, 80)
}

fn set(slot: &mut Option<String>, v: String, flag: &str) -> Result<(), String> {
    if slot.replace(v).is_some() {
        return Err(format!("{flag} given twice"));
    }
    Ok(())
}

/// Pod, namespace and container names are DNS labels or subdomains.
fn name_arg(what: &str, v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "{} is not a {what} name (lower-case letters, digits, - and .)",
            shown(v)
        ))
    }
}

fn since(v: &str) -> Result<Since, String> {
    if let Ok(d) = humantime::parse_duration(v) {
        if d.is_zero() {
            return Err("--since 0: give a duration above zero, e.g. 10m".into());
        }
        return Ok(Since::Ago(d));
    }
    humantime::parse_rfc3339_weak(v)
        .map(Since::Time)
        .map_err(|_| {
            format!(
                "--since {}: not a duration like 10m or 1h30m, nor a time like 2026-01-31T10:00:00Z",
                shown(v)
            )
        })
}

fn tail(v: &str) -> Result<Tail, String> {
    match v.parse::<i64>() {
        Ok(-1) => Ok(Tail::All),
        Ok(n) if n >= 0 => Ok(Tail::Last(n)),
        _ => Err(format!(
            "--tail {}: not a number of lines (-1: the whole log)",
            shown(v)
        )),
    }
}

/// Words, with '...' or "..." grouping (set-based selectors have spaces: "env in (a, b)").
fn split(args: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    for c in args.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unclosed {q}"));
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_every_flag_and_both_value_forms() {
        let s = parse("api-1 -n shop -c app --since=90s --tail 5 -p").expect("valid");
        assert_eq!(s.pods, LogPods::Pod("api-1".into()));
        assert_eq!(s.namespace.as_deref(), Some("shop"));
        assert_eq!(s.container.as_deref(), Some("app"));
        assert_eq!(s.since, Some(Since::Ago(Duration::from_secs(90))));
        assert_eq!(s.tail, Tail::Last(5));
        assert!(s.previous);
        let s = parse("-l 'env in (a, b)' --tail=-1 --since 2026-01-31T10:00:00Z").expect("valid");
        assert_eq!(s.pods, LogPods::Selector("env in (a, b)".into()));
        assert_eq!(s.tail, Tail::All);
        assert!(matches!(s.since, Some(Since::Time(_))));
        assert_eq!(parse("pod/api-1").expect("valid").pod(), Some("api-1"));
    }

    #[test]
    fn bad_input_says_why() {
        for (args, why) in [
            ("api -x", "unknown flag -x"),
            ("api --since soon", "--since soon: not a duration"),
            ("api --since 0s", "above zero"),
            ("api --tail five", "--tail five: not a number"),
            ("api --tail -2", "not a number"),
            ("-c app", "-c needs a pod"),
            ("-n shop", "which pods?"),
            ("api -l app=api", "not both"),
            ("api web", "one pod at a time"),
            ("api -n", "-n needs a namespace"),
            ("API", "not a pod name"),
            ("api -c 'a b'", "not a container name"),
            ("-l 'app=api", "unclosed '"),
            ("api --tail 1 --tail 2", "--tail given twice"),
        ] {
            let e = parse(args).expect_err(args);
            assert!(e.contains(why), "{args}: {e}");
        }
    }
}
