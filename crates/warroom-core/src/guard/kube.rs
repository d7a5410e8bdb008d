//! Kubernetes actions as values: delete a pod, rollout-restart its Deployment. The exact
//! effect in words (grace period included), the audit target, and the call itself.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backends::kube::{KubeActor, KubeError, PodKey, RestartRequest};
use crate::sanitize::sanitize;

/// The pod an action targets, as it was on screen when the key was pressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodTarget {
    pub context: String,
    pub namespace: String,
    pub pod: String,
    /// Delete only this pod, not a newer one with the same name (StatefulSets reuse names).
    pub uid: String,
    /// The pod's terminationGracePeriodSeconds (None: the server's default, 30 s).
    pub grace_period: Option<i64>,
    pub status: String,
    pub node: Option<String>,
    /// "ReplicaSet/api-7c9d": what recreates the pod, if anything.
    pub owner: Option<String>,
}

impl PodTarget {
    /// The one way to target a pod (the Pods pane and `warroom kube delete-pod`).
    pub fn of(context: &str, pod: &crate::backends::kube::PodRow) -> PodTarget {
        PodTarget {
            context: context.to_string(),
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            uid: pod.uid.clone(),
            grace_period: pod.grace_period,
            status: pod.status.clone(),
            node: pod.node.clone(),
            owner: pod.owner.as_ref().map(|o| o.label()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentTarget {
    pub context: String,
    pub namespace: String,
    pub deployment: String,
    /// The pod the user was looking at.
    pub from_pod: Option<String>,
}

impl DeploymentTarget {
    /// The one way to target a deployment (the Pods pane, from the pod the user looked at,
    /// and `warroom kube rollout-restart`).
    pub fn new(
        context: &str,
        namespace: &str,
        deployment: &str,
        from_pod: Option<&str>,
    ) -> DeploymentTarget {
        DeploymentTarget {
            context: context.to_string(),
            namespace: namespace.to_string(),
            deployment: deployment.to_string(),
            from_pod: from_pod.map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum KubeAction {
    DeletePod(PodTarget),
    RolloutRestart(DeploymentTarget),
}

impl KubeAction {
    pub fn context(&self) -> &str {
        match self {
            KubeAction::DeletePod(t) => &t.context,
            KubeAction::RolloutRestart(t) => &t.context,
        }
    }

    pub fn name(&self) -> super::ActionName {
        match self {
            KubeAction::DeletePod(_) => super::ActionName::KubeDeletePod,
            KubeAction::RolloutRestart(_) => super::ActionName::KubeRolloutRestart,
        }
    }

    pub fn title(&self) -> String {
        match self {
            KubeAction::DeletePod(t) => format!(
                "delete pod {}/{}",
                sanitize(&t.namespace, 63),
                sanitize(&t.pod, 253)
            ),
            KubeAction::RolloutRestart(t) => format!(
                "rollout restart deployment {}/{}",
                sanitize(&t.namespace, 63),
                sanitize(&t.deployment, 253)
            ),
        }
    }

    /// What the reason prompt shows after the title (see `GuardedAction::target_summary`).
    pub fn target_details(&self) -> Option<String> {
        match self {
            KubeAction::DeletePod(t) => Some(format!(
                "{} on {}",
                sanitize(&t.status, 40),
                t.node
                    .as_deref()
                    .map_or("-".into(), |n| sanitize(n, 60).into_owned())
            )),
            KubeAction::RolloutRestart(t) => t
                .from_pod
                .as_deref()
                .map(|p| format!("owner of pod {}", sanitize(p, 80))),
        }
    }

    /// Why this action cannot be sent as asked, checked before anything is recorded: a grace
    /// period the API cannot take is an error, never silently replaced by the default.
    pub fn problem(&self) -> Option<String> {
        match self {
            KubeAction::DeletePod(PodTarget {
                grace_period: Some(g),
                ..
            }) if u32::try_from(*g).is_err() => Some(format!(
                "grace period {g} s is out of range: use 0 to {} seconds, or leave it out for the \
                 pod's own terminationGracePeriodSeconds",
                u32::MAX
            )),
            _ => None,
        }
    }

    pub fn grace_text(grace: Option<i64>) -> String {
        match grace {
            Some(0) => "0 s: killed at once, no graceful shutdown".into(),
            Some(g) => format!("{g} s (SIGTERM, then SIGKILL after {g} s)"),
            None => "the server default (30 s)".into(),
        }
    }

    pub fn describe(&self) -> Vec<String> {
        match self {
            KubeAction::DeletePod(t) => {
                let mut lines = vec![
                    format!(
                        "Delete pod {} in namespace {} on context {}.",
                        sanitize(&t.pod, 253),
                        sanitize(&t.namespace, 63),
                        t.context
                    ),
                    format!(
                        "  grace period: {}",
                        KubeAction::grace_text(t.grace_period)
                    ),
                    format!(
                        "  status {}, node {}",
                        sanitize(&t.status, 60),
                        t.node.as_deref().map_or("-".into(), |n| sanitize(n, 60).into_owned())
                    ),
                ];
                lines.push(match &t.owner {
                    Some(o) => format!(
                        "  owned by {}: a replacement pod will be created",
                        sanitize(o, 120)
                    ),
                    None => "  no owner: nothing recreates this pod, it is gone for good".into(),
                });
                lines.push(format!(
                    "Only if it is still the same pod (uid {}); otherwise nothing is deleted.",
                    sanitize(&t.uid, 64)
                ));
                lines
            }
            KubeAction::RolloutRestart(t) => vec![
                format!(
                    "Rollout restart of deployment {} in namespace {} on context {}.",
                    sanitize(&t.deployment, 253),
                    sanitize(&t.namespace, 63),
                    t.context
                ),
                "  patches the pod template: kubectl.kubernetes.io/restartedAt = now, plus the reason and the audit id as annotations".into(),
                "  every pod of the deployment is replaced, following its rollout strategy (maxUnavailable / maxSurge)".into(),
                match &t.from_pod {
                    Some(p) => format!(
                        "Only if pod {}'s ReplicaSet is owned by this deployment (same uid); the patch carries that uid as a precondition.",
                        sanitize(p, 80)
                    ),
                    None => "The patch carries the deployment's uid as a precondition.".into(),
                },
            ],
        }
    }

    pub fn audit_target(&self) -> serde_json::Value {
        match self {
            KubeAction::DeletePod(t) => json!({
                "namespace": t.namespace,
                "pod": t.pod,
                "uid": t.uid,
                "grace_period_seconds": t.grace_period,
                "status": t.status,
                "node": t.node,
                "owner": t.owner,
            }),
            KubeAction::RolloutRestart(t) => json!({
                "namespace": t.namespace,
                "deployment": t.deployment,
                "from_pod": t.from_pod,
            }),
        }
    }
}

/// The destructive call, after the intent was recorded: (ok, what happened).
pub(super) async fn act(
    actor: &dyn KubeActor,
    action: &KubeAction,
    audit_id: &str,
    reason: &str,
) -> (bool, String) {
    let result = match action {
        KubeAction::DeletePod(t) => {
            let pod = PodKey {
                namespace: t.namespace.clone(),
                name: t.pod.clone(),
            };
            actor.delete_pod(&pod, Some(&t.uid), t.grace_period).await
        }
        KubeAction::RolloutRestart(t) => {
            actor
                .rollout_restart(RestartRequest {
                    namespace: t.namespace.clone(),
                    deployment: t.deployment.clone(),
                    restarted_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                    reason: reason.to_string(),
                    audit_id: audit_id.to_string(),
                    from_pod: t.from_pod.clone(),
                })
                .await
        }
    };
    match result {
        Ok(detail) => (true, detail),
        Err(KubeError::Conflict(m)) => match action {
            KubeAction::DeletePod(_) => (
                false,
                format!("the pod changed (a new pod has that name now): nothing deleted ({m})"),
            ),
            KubeAction::RolloutRestart(_) => (
                false,
                format!("the deployment is not the one you chose: nothing restarted ({m})"),
            ),
        },
        Err(KubeError::NotFound(m)) => (false, format!("already gone: {m}")),
        Err(e) => (false, format!("the API server refused or failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_describes_grace_and_owner() {
        let a = KubeAction::DeletePod(PodTarget {
            context: "prod".into(),
            namespace: "shop".into(),
            pod: "api-1\u{1b}[2J".into(),
            uid: "u-1".into(),
            grace_period: Some(45),
            status: "CrashLoopBackOff".into(),
            node: Some("node-a".into()),
            owner: None,
        });
        let text = a.describe().join("\n");
        assert!(text.contains("grace period: 45 s"), "{text}");
        assert!(text.contains("gone for good"));
        assert!(!text.contains('\u{1b}'));
        assert_eq!(a.audit_target()["grace_period_seconds"], 45);
    }
}
