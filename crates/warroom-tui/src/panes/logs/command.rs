//! `:logs [POD | -l SELECTOR] [-n NAMESPACE] [-c CONTAINER] [--since D] [--tail N] [--previous]`:
//! parsed here into a `LogSelection`, then resolved against a listing of the context's pods
//! into one log request per container (the same requests `l`, `p` and `w` make).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::panes::pods::LogTarget;
#[cfg(test)]
use warroom_core::backends::kube::selection::parse;
use warroom_core::backends::kube::selection::{shown, title};
use warroom_core::backends::kube::{
    LogPods, LogRequest, LogSelection, PodKey, PodRow, Since, Tail,
};

/// The tails `l` and `p` use when neither --tail nor --since says otherwise.
pub const DEFAULT_TAIL: i64 = 200;
pub const DEFAULT_PREVIOUS_TAIL: i64 = 1000;

/// The pods of `listing` the selection names, as one request per container.
pub fn resolve(sel: &LogSelection, context: &str, listing: &[PodRow]) -> Result<LogTarget, String> {
    // Scopes may overlap: a pod once.
    let pods: BTreeMap<PodKey, &PodRow> = listing
        .iter()
        .filter(|p| sel.pod().is_none_or(|name| p.name == name))
        .map(|p| (p.key(), p))
        .collect();
    let place = match &sel.namespace {
        Some(ns) => format!("namespace {}", shown(ns)),
        None => format!("the namespaces of context {}", shown(context)),
    };
    if pods.is_empty() {
        return Err(match &sel.pods {
            LogPods::Pod(p) => format!("no pod {} in {place}", shown(p)),
            LogPods::Selector(l) => format!("no pod matches -l {} in {place}", shown(l)),
        });
    }
    if sel.pod().is_some() && pods.len() > 1 {
        let namespaces: Vec<String> = pods.values().map(|p| shown(&p.namespace)).collect();
        return Err(format!(
            "pod {} is in namespaces {}: add -n NAMESPACE",
            shown(&title(sel)),
            namespaces.join(", ")
        ));
    }
    let tail_lines = match sel.tail {
        Tail::Last(n) => Some(n),
        Tail::All => None,
        Tail::Default if sel.since.is_some() => None,
        Tail::Default if sel.previous => Some(DEFAULT_PREVIOUS_TAIL),
        Tail::Default => Some(DEFAULT_TAIL),
    };
    let since = match sel.since {
        // Whole seconds, at least one: the API takes nothing finer.
        Some(Since::Ago(d)) => Some(Since::Ago(Duration::from_secs(d.as_secs().max(1)))),
        other => other,
    };
    let mut requests = Vec::new();
    let mut termination = None;
    for pod in pods.values() {
        let containers: Vec<&String> = match (&sel.container, &pod.last_termination) {
            (Some(c), _) => pod.containers.iter().filter(|x| *x == c).collect(),
            // The previous run of the container that ended, as `p` does.
            (None, Some(t)) if sel.previous => pod
                .containers
                .iter()
                .filter(|x| **x == t.container)
                .collect(),
            (None, _) => pod.containers.iter().collect(),
        };
        if containers.is_empty() && sel.pod().is_some() {
            return Err(format!(
                "pod {} has no container {} (it has: {})",
                shown(&pod.name),
                shown(sel.container.as_deref().unwrap_or("")),
                pod.containers
                    .iter()
                    .map(|c| shown(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if sel.previous && pod.restarts == 0 && pod.last_termination.is_none() {
            if sel.pod().is_some() {
                return Err(format!(
                    "pod {} has not restarted: there is no previous container",
                    shown(&pod.name)
                ));
            }
            continue;
        }
        if sel.previous && sel.pod().is_some() {
            termination = pod
                .last_termination
                .clone()
                .filter(|t| containers.contains(&&t.container));
        }
        requests.extend(containers.into_iter().map(|c| LogRequest {
            pod: pod.key(),
            container: Some(c.clone()),
            previous: sel.previous,
            follow: !sel.previous,
            since,
            tail_lines,
        }));
    }
    if requests.is_empty() {
        let what = format!("-l {}", shown(sel.label_selector().unwrap_or("")));
        return Err(match (&sel.container, sel.previous) {
            (Some(c), _) => format!("no pod matching {what} has a container {}", shown(c)),
            (None, true) => {
                format!("no pod matching {what} has restarted: there are no previous containers")
            }
            (None, false) => format!("the pods matching {what} have no containers"),
        });
    }
    Ok(LogTarget {
        context: context.to_string(),
        title: title(sel),
        requests,
        termination,
    })
}

/// What a session follows, for the header: "2 pods in shop · container app · since 10m · tail 5".
pub fn describe(requests: &[LogRequest]) -> String {
    let mut pods: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.pod.namespace.as_str(), r.pod.name.as_str()))
        .collect();
    pods.dedup();
    let mut namespaces: Vec<&str> = pods.iter().map(|(ns, _)| *ns).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let mut containers: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.container.as_deref())
        .collect();
    containers.sort_unstable();
    containers.dedup();
    let mut parts = vec![match namespaces.as_slice() {
        [ns] => format!("{} in {}", plural(pods.len(), "pod"), shown(ns)),
        _ => plural(pods.len(), "pod"),
    }];
    parts.push(match containers.as_slice() {
        [c] => format!("container {}", shown(c)),
        _ => plural(requests.len(), "container"),
    });
    let first = requests.first();
    match first.and_then(|r| r.since) {
        Some(Since::Ago(d)) => parts.push(format!(
            "since {}",
            humantime::format_duration(Duration::from_secs(d.as_secs()))
        )),
        Some(Since::Time(t)) => {
            parts.push(format!("since {}", humantime::format_rfc3339_seconds(t)))
        }
        None => {}
    }
    match first.map(|r| r.tail_lines) {
        Some(Some(n)) => parts.push(format!("tail {n}")),
        Some(None) if first.is_some_and(|r| r.since.is_none()) => parts.push("whole log".into()),
        _ => {}
    }
    if requests.iter().any(|r| r.previous) {
        parts.push("previous".into());
    }
    parts.join(" · ")
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::kube::Termination;

    fn pod(ns: &str, name: &str, containers: &[&str], restarts: u32) -> PodRow {
        PodRow {
            uid: format!("uid-{name}"),
            resource_version: "1".into(),
            total: containers.len() as u32,
            restarts,
            last_termination: (restarts > 0).then(|| Termination {
                container: containers[0].into(),
                reason: "OOMKilled".into(),
                exit_code: 137,
                signal: None,
                finished_at: None,
            }),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            ..PodRow::running(ns, name)
        }
    }

    #[test]
    fn resolves_a_pod_a_container_or_a_selector() {
        let listing = vec![
            pod("shop", "api-1", &["app", "proxy"], 0),
            pod("shop", "api-2", &["app", "proxy"], 2),
            pod("ops", "api-1", &["app"], 0),
        ];
        let sel = parse("api-1 -n shop").expect("valid");
        let t = resolve(&sel, "k", &listing[..2]).expect("resolves");
        assert_eq!(t.requests.len(), 2, "all containers");
        assert_eq!(t.requests[0].tail_lines, Some(DEFAULT_TAIL));
        assert_eq!(
            describe(&t.requests),
            "1 pod in shop · 2 containers · tail 200"
        );

        let e = resolve(&parse("api-1").expect("valid"), "k", &listing).expect_err("ambiguous");
        assert!(e.contains("namespaces ops, shop"), "{e}");

        let t = resolve(
            &parse("-l app=api -c proxy --since 10m").expect("v"),
            "k",
            &listing[..2],
        )
        .expect("resolves");
        assert_eq!(t.requests.len(), 2);
        assert!(
            t.requests
                .iter()
                .all(|r| r.container.as_deref() == Some("proxy")
                    && r.since == Some(Since::Ago(Duration::from_secs(600)))
                    && r.tail_lines.is_none())
        );
        assert_eq!(
            describe(&t.requests),
            "2 pods in shop · container proxy · since 10m"
        );

        let e = resolve(&parse("api-1 -c db").expect("v"), "k", &listing[..1]).expect_err("no db");
        assert!(e.contains("no container db (it has: app, proxy)"), "{e}");
        let e = resolve(&parse("api-1 -p").expect("v"), "k", &listing[..1]).expect_err("fresh");
        assert!(e.contains("has not restarted"), "{e}");

        // Previous over a selector: only pods that restarted, the container that ended.
        let t = resolve(&parse("-l app=api -p").expect("v"), "k", &listing[..2]).expect("one");
        assert_eq!(t.requests.len(), 1);
        assert_eq!(
            (
                t.requests[0].pod.name.as_str(),
                t.requests[0].previous,
                t.requests[0].follow
            ),
            ("api-2", true, false)
        );
        assert_eq!(t.requests[0].tail_lines, Some(DEFAULT_PREVIOUS_TAIL));

        let e = resolve(&parse("-l app=none").expect("v"), "k", &[]).expect_err("none");
        assert_eq!(
            e,
            "no pod matches -l app=none in the namespaces of context k"
        );
    }
}
