//! Consumer-group members and the pods behind their client hosts. A member's host is the
//! address the broker saw ("/10.0.0.5"); a crash-looping pod keeps its address across
//! restarts, so the hosts of a group's last members still name its pods after they left.

use std::collections::HashMap;

use warroom_core::backends::kafka::{ConsumerGroup, KafkaSnapshot, LagStatus};
use warroom_core::pod_directory::{PodDirectory, PodRef, parse_addr};
use warroom_core::sanitize;
use warroom_core::service::Service;

/// The member hosts of each group the last time it had members: (context, group) -> hosts.
#[derive(Debug, Default)]
pub struct LastMembers(HashMap<(String, String), Vec<String>>);

impl LastMembers {
    pub fn observe(&mut self, context: &str, snap: &KafkaSnapshot) {
        for g in snap.groups.iter().filter(|g| !g.members.is_empty()) {
            let hosts = g.members.iter().map(|m| m.client_host.clone()).collect();
            self.0.insert((context.to_string(), g.id.clone()), hosts);
        }
    }

    /// The hosts of the group's members now, else of its last members.
    pub fn hosts<'a>(&'a self, context: &str, g: &'a ConsumerGroup) -> Vec<&'a str> {
        if !g.members.is_empty() {
            return g.members.iter().map(|m| m.client_host.as_str()).collect();
        }
        self.0
            .get(&(context.to_string(), g.id.clone()))
            .map_or_else(Vec::new, |h| h.iter().map(String::as_str).collect())
    }

    /// Whether a member of the group (now or last seen) connected from `addr`.
    pub fn has_member_at(&self, context: &str, g: &ConsumerGroup, addr: &str) -> bool {
        let want = parse_addr(addr);
        want.is_some() && self.hosts(context, g).iter().any(|h| parse_addr(h) == want)
    }
}

/// "api-7f9c-x2k Running", "worker-0 CrashLoopBackOff", "worker-1 (gone)", or "-".
pub fn pod_cell(pods: &PodDirectory, host: &str) -> String {
    pods.find(host).map_or("-".into(), |p| {
        if p.gone {
            sanitize::cell(&p.label(false), 60)
        } else {
            format!(
                "{} {}",
                sanitize::cell(&p.name, 60),
                sanitize::cell(&p.status, 30)
            )
        }
    })
}

/// The live pods of the services whose group pattern owns `group` (a STOP group has no
/// members to follow: its service says which pods consume it).
pub fn service_pods<'a>(
    services: &'a [Service],
    pods: &'a PodDirectory,
    group: &'a str,
) -> impl Iterator<Item = &'a PodRef> + 'a {
    services
        .iter()
        .filter(move |s| s.matches_group(group) && s.label_selector.is_some())
        .flat_map(move |s| {
            pods.pods()
                .filter(move |p| !p.gone && s.matches_labels(&p.labels))
        })
}

/// For a STOP or STALL group: the failing pods behind its (last) members or its service,
/// said plainly.
pub fn failing_pods_line<'a>(
    status: LagStatus,
    pods: &'a PodDirectory,
    hosts: &[&str],
    of_service: impl Iterator<Item = &'a PodRef>,
) -> Option<String> {
    if !matches!(status, LagStatus::Stop | LagStatus::Stall) {
        return None;
    }
    let mut failing: Vec<&PodRef> = hosts
        .iter()
        .filter_map(|h| pods.find(h))
        .chain(of_service)
        .filter(|p| p.is_failing())
        .collect();
    failing.sort_by(|a, b| (&a.context, &a.name).cmp(&(&b.context, &b.name)));
    failing.dedup_by(|a, b| a.key() == b.key() && a.context == b.context);
    if failing.is_empty() {
        return None;
    }
    let names: Vec<String> = failing
        .iter()
        .map(|p| {
            format!(
                "{} ({})",
                sanitize::cell(&p.name, 60),
                sanitize::cell(&p.status, 30)
            )
        })
        .collect();
    Some(format!(
        "{} because its consumers' pods are failing: {}",
        status.label(),
        names.join(", ")
    ))
}
