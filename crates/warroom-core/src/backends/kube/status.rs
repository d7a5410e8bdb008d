//! Pure status logic: from a Pod object to the row the pane shows. No I/O, unit-tested.
//!
//! Follows kubectl's printer for the status column, and adds what kubectl hides: the last
//! termination reason and exit code, and why a Pending pod is pending.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::model::{Health, Owner, PodRow, Termination};

pub fn to_system_time(t: &Time) -> SystemTime {
    let nanos = t.0.as_nanosecond();
    if nanos >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64)
    } else {
        SystemTime::UNIX_EPOCH
    }
}

pub fn pod_row(pod: &Pod) -> PodRow {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let statuses: &[ContainerStatus] = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let init_statuses: &[ContainerStatus] = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[]);
    let containers: Vec<String> = spec
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let total = containers.len().max(statuses.len()) as u32;
    let ready = statuses.iter().filter(|c| c.ready).count() as u32;
    let restarts = statuses.iter().map(|c| c.restart_count.max(0) as u32).sum();
    let last_termination = last_termination(statuses);
    let last_restart = statuses
        .iter()
        .filter_map(|c| {
            c.last_state
                .as_ref()?
                .terminated
                .as_ref()?
                .finished_at
                .as_ref()
        })
        .map(to_system_time)
        .max();
    let owner = meta
        .owner_references
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| meta.owner_references.as_deref().and_then(|o| o.first()))
        .map(|o| Owner {
            kind: o.kind.clone(),
            name: o.name.clone(),
        });
    let deployment = owner.as_ref().and_then(|o| {
        let hash = meta.labels.as_ref()?.get("pod-template-hash")?;
        (o.kind == "ReplicaSet")
            .then(|| o.name.strip_suffix(&format!("-{hash}")))
            .flatten()
            .map(str::to_string)
    });
    let (text, detail, health) = status_text(pod, statuses, init_statuses, ready, total);
    PodRow {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        ready,
        total,
        status: text,
        status_detail: detail,
        health,
        restarts,
        last_restart,
        last_termination,
        created: meta.creation_timestamp.as_ref().map(to_system_time),
        node: spec.and_then(|s| s.node_name.clone()),
        pod_ip: status.and_then(|s| s.pod_ip.clone()),
        owner,
        deployment,
        containers,
        grace_period: meta
            .deletion_grace_period_seconds
            .or_else(|| spec.and_then(|s| s.termination_grace_period_seconds)),
        deleting: meta.deletion_timestamp.is_some(),
        labels: meta
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    }
}

/// The most recent termination of any container: the current state if it is terminated,
/// else the last state.
fn last_termination(statuses: &[ContainerStatus]) -> Option<Termination> {
    statuses
        .iter()
        .filter_map(|c| {
            let state = c.state.as_ref().and_then(|s| s.terminated.as_ref());
            let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let t = state.or(last)?;
            Some(Termination {
                container: c.name.clone(),
                reason: t.reason.clone().unwrap_or_else(|| {
                    if t.exit_code == 0 {
                        "Completed".into()
                    } else {
                        "Error".into()
                    }
                }),
                exit_code: t.exit_code,
                signal: t.signal,
                finished_at: t.finished_at.as_ref().map(to_system_time),
            })
        })
        .max_by_key(|t| t.finished_at)
}

/// The status column as kubectl prints it, plus why and how bad.
fn status_text(
    pod: &Pod,
    statuses: &[ContainerStatus],
    init_statuses: &[ContainerStatus],
    ready: u32,
    total: u32,
) -> (String, Option<String>, Health) {
    let status = pod.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    if pod.metadata.deletion_timestamp.is_some() {
        return ("Terminating".into(), None, Health::Warn);
    }
    if let Some(reason) = status.and_then(|s| s.reason.clone()) {
        // Evicted, NodeLost, Shutdown, ...: the pod-level reason wins.
        let msg = status.and_then(|s| s.message.clone());
        return (reason, msg, Health::Bad);
    }
    for (i, c) in init_statuses.iter().enumerate() {
        let state = c.state.as_ref();
        if let Some(t) = state.and_then(|s| s.terminated.as_ref())
            && t.exit_code != 0
        {
            let r = t
                .reason
                .clone()
                .unwrap_or_else(|| format!("ExitCode:{}", t.exit_code));
            return (format!("Init:{r}"), t.message.clone(), Health::Bad);
        }
        if let Some(w) = state.and_then(|s| s.waiting.as_ref())
            && let Some(r) = w.reason.as_deref()
            && r != "PodInitializing"
        {
            return (format!("Init:{r}"), w.message.clone(), Health::Bad);
        }
        if !c.ready && state.and_then(|s| s.terminated.as_ref()).is_none() {
            return (
                format!("Init:{}/{}", i, init_statuses.len()),
                None,
                Health::Warn,
            );
        }
    }
    // Like kubectl: the last container with something to say decides.
    for c in statuses.iter().rev() {
        let state = c.state.as_ref();
        if let Some(w) = state.and_then(|s| s.waiting.as_ref())
            && let Some(r) = w.reason.as_deref()
        {
            let health = match r {
                "ContainerCreating" | "PodInitializing" => Health::Warn,
                _ => Health::Bad,
            };
            return (r.to_string(), w.message.clone(), health);
        }
        if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            let r = match (&t.reason, t.signal) {
                (Some(r), _) => r.clone(),
                (None, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
                (None, _) => format!("ExitCode:{}", t.exit_code),
            };
            let health = if t.exit_code == 0 {
                Health::Done
            } else {
                Health::Bad
            };
            return (r, t.message.clone(), health);
        }
    }
    match phase.as_str() {
        "Pending" => (phase, pending_why(pod), Health::Warn),
        "Succeeded" => ("Completed".into(), None, Health::Done),
        "Failed" => (phase, None, Health::Bad),
        "Running" if ready < total => ("Running".into(), Some("not ready".into()), Health::Warn),
        "Running" => (phase, None, Health::Ok),
        _ => (phase, None, Health::Warn),
    }
}

/// The failing condition of a Pending pod: "Unschedulable: 0/3 nodes are available...".
fn pending_why(pod: &Pod) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_deref()?;
    conditions
        .iter()
        .find(|c| c.status == "False" && (c.reason.is_some() || c.message.is_some()))
        .map(|c| match (&c.reason, &c.message) {
            (Some(r), Some(m)) => format!("{r}: {m}"),
            (Some(r), None) => r.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => c.type_.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("pod json")
    }

    fn base(status: serde_json::Value) -> serde_json::Value {
        json!({
            "metadata": {"name": "api-7c9d-x2", "namespace": "shop", "uid": "u1",
                "labels": {"pod-template-hash": "7c9d"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7c9d", "uid": "rs", "controller": true}]},
            "spec": {"containers": [{"name": "api"}], "nodeName": "node-1", "terminationGracePeriodSeconds": 30},
            "status": status
        })
    }

    #[test]
    fn crash_looping_pod_shows_oom_and_exit_code() {
        let p = pod(base(json!({
            "phase": "Running", "podIP": "10.0.0.7",
            "containerStatuses": [{"name": "api", "ready": false, "restartCount": 7, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-01-01T10:00:00Z"}}}]
        })));
        let row = pod_row(&p);
        assert_eq!(row.status, "CrashLoopBackOff");
        assert_eq!(row.health, Health::Bad);
        assert_eq!(row.ready_text(), "0/1");
        assert_eq!(row.restarts, 7);
        assert_eq!(row.workload_label().as_deref(), Some("Deployment/api"));
        let t = row.last_termination.expect("termination");
        assert_eq!(t.label(), "OOMKilled (exit 137)");
        assert!(row.last_restart.is_some());
        assert_eq!(row.deployment.as_deref(), Some("api"));
        assert_eq!(row.owner.expect("owner").label(), "ReplicaSet/api-7c9d");
        assert_eq!(row.grace_period, Some(30));
    }

    #[test]
    fn terminated_oom_is_the_status() {
        let p = pod(base(json!({"phase": "Running",
            "containerStatuses": [{"name": "api", "ready": false, "restartCount": 1, "image": "i", "imageID": "",
                "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]})));
        assert_eq!(pod_row(&p).status, "OOMKilled");
    }

    #[test]
    fn image_pull_evicted_and_pending_say_why() {
        let p = pod(base(json!({"phase": "Pending",
            "containerStatuses": [{"name": "api", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}}]})));
        let row = pod_row(&p);
        assert_eq!(row.status, "ImagePullBackOff");
        assert_eq!(row.status_detail.as_deref(), Some("pull access denied"));

        let p = pod(base(
            json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
        ));
        assert_eq!(pod_row(&p).status, "Evicted");

        let p = pod(base(json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]})));
        let row = pod_row(&p);
        assert_eq!(row.status, "Pending");
        assert_eq!(
            row.status_detail.as_deref(),
            Some("Unschedulable: 0/3 nodes are available")
        );
    }

    #[test]
    fn running_and_ready_is_ok() {
        let p = pod(base(json!({"phase": "Running",
            "containerStatuses": [{"name": "api", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"running": {}}}]})));
        let row = pod_row(&p);
        assert_eq!((row.status.as_str(), row.health), ("Running", Health::Ok));
        assert!(row.last_termination.is_none());
    }
}
