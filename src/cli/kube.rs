//! `warroom kube pods|logs|delete-pod|rollout-restart`: the same backend, log worker and
//! guard executor as the TUI. Tables for people (sanitized), JSON for scripts.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, bail};

use crate::cli::KubeCmd;
use warroom_core::backends::kube::{
    KubeActor, KubeSource, LogRequest, PodKey, PodRow, PodScope, RealKube, Since, StreamNote,
};
use warroom_core::config::{Config, KubernetesContext};
use warroom_core::guard::kube::{DeploymentTarget, KubeAction, PodTarget};
use warroom_core::guard::{ContextKind, GuardedAction};
use warroom_core::sanitize;
use warroom_tui::setup::{self, Options};
use warroom_tui::workers::Event;

pub async fn run(config: &Config, opts: &Options, cmd: KubeCmd) -> anyhow::Result<ExitCode> {
    let ctx = pick(config, opts)?;
    let kube = Arc::new(RealKube::new(ctx.kube_context.clone()));
    match cmd {
        KubeCmd::Pods {
            namespace,
            selector,
            output,
        } => {
            let mut pods = Vec::new();
            for mut scope in scopes(ctx, namespace) {
                scope.label_selector = selector.clone().or(scope.label_selector);
                let list = kube
                    .list_pods(&scope)
                    .await
                    .with_context(|| format!("context {}", ctx.name))?;
                pods.extend(list.pods);
            }
            super::output::print(output, || pods_json(&pods), || pods_table(&pods))?;
            Ok(ExitCode::SUCCESS)
        }
        KubeCmd::Logs {
            namespace,
            pod,
            container,
            previous,
            follow,
            since,
            tail,
        } => {
            let (ns, row) = find_pod(kube.as_ref(), ctx, namespace, &pod).await?;
            let container = match (container, row.containers.as_slice()) {
                (Some(c), _) => c,
                (None, [only]) => only.clone(),
                (None, all) => bail!(
                    "pod {pod} has several containers: choose one with -c ({})",
                    all.join(", ")
                ),
            };
            let since = match since {
                Some(d) => Some(Since::Ago(
                    humantime::parse_duration(&d)
                        .with_context(|| format!("--since {d:?} is not a duration like 10m"))?,
                )),
                None => None,
            };
            let request = LogRequest {
                pod: PodKey {
                    namespace: ns,
                    name: pod,
                },
                container: Some(container.clone()),
                previous,
                follow,
                since,
                tail_lines: tail,
            };
            print_logs(kube, request, container).await
        }
        KubeCmd::DeletePod {
            namespace,
            pod,
            reason,
            grace_period,
            confirm_context,
        } => {
            let (ns, row) = find_pod(kube.as_ref(), ctx, namespace, &pod).await?;
            let mut target = PodTarget::of(&ctx.name, &row);
            target.namespace = ns;
            target.grace_period = grace_period.or(row.grace_period);
            let action = GuardedAction::Kube(KubeAction::DeletePod(target));
            act(config, opts, ctx, kube, action, reason, confirm_context).await
        }
        KubeCmd::RolloutRestart {
            namespace,
            deployment,
            reason,
            confirm_context,
        } => {
            let action = GuardedAction::Kube(KubeAction::RolloutRestart(DeploymentTarget::new(
                &ctx.name,
                &namespace_of(ctx, namespace),
                &deployment,
                None,
            )));
            act(config, opts, ctx, kube, action, reason, confirm_context).await
        }
    }
}

fn pick<'a>(config: &'a Config, opts: &Options) -> anyhow::Result<&'a KubernetesContext> {
    match (&opts.context, config.contexts.kubernetes.as_slice()) {
        (Some(name), _) => config.kubernetes_context(name).with_context(|| {
            format!(
                "unknown Kubernetes context {name:?}; configured: {}",
                config.contexts.listed(ContextKind::Kubernetes)
            )
        }),
        (None, [only]) => Ok(only),
        (None, []) => bail!("no [[kubernetes]] context is configured (see `warroom config check`)"),
        (None, _) => bail!(
            "several Kubernetes contexts are configured: choose one with --context ({})",
            config.contexts.listed(ContextKind::Kubernetes)
        ),
    }
}

fn scopes(ctx: &KubernetesContext, namespace: Option<String>) -> Vec<PodScope> {
    match namespace {
        Some(ns) => vec![PodScope {
            namespace: Some(ns),
            label_selector: ctx.label_selector.clone(),
        }],
        None => setup::kube_scopes(ctx),
    }
}

/// -n, else the context's first namespace, else "default".
fn namespace_of(ctx: &KubernetesContext, namespace: Option<String>) -> String {
    namespace
        .or_else(|| ctx.namespaces.first().cloned())
        .unwrap_or_else(|| "default".into())
}

/// The pod named `pod` in the namespace of -n (see `namespace_of`), and that namespace.
async fn find_pod(
    kube: &RealKube,
    ctx: &KubernetesContext,
    namespace: Option<String>,
    pod: &str,
) -> anyhow::Result<(String, PodRow)> {
    let ns = namespace_of(ctx, namespace);
    let list = kube
        .list_pods(&PodScope {
            namespace: Some(ns.clone()),
            label_selector: None,
        })
        .await?;
    let row = list
        .pods
        .into_iter()
        .find(|p| p.name == pod)
        .with_context(|| format!("pod {pod:?} not found in namespace {ns}"))?;
    Ok((ns, row))
}

async fn print_logs(
    kube: Arc<RealKube>,
    request: LogRequest,
    container: String,
) -> anyhow::Result<ExitCode> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let _task = warroom_tui::workers::kube::spawn_log(0, kube, request, container, tx);
    let mut undelivered = 0;
    let mut failed = false;
    // The worker ends the channel when the stream is over (or failed for good).
    while let Some(msg) = rx.recv().await {
        let Event::KubeLogs(batch) = msg else {
            continue;
        };
        undelivered += batch.undelivered;
        for l in &batch.lines {
            println!("{}", sanitize::sanitize(&l.text, usize::MAX));
        }
        failed = matches!(batch.note, Some(StreamNote::Failed(_)));
        match batch.note {
            Some(StreamNote::Ended) => break,
            Some(StreamNote::Failed(e)) => eprintln!("{}", sanitize::cell(&e, 500)),
            Some(StreamNote::Resumed { .. }) => eprintln!("(stream broke; resumed)"),
            None => {}
        }
    }
    if undelivered > 0 {
        eprintln!("{undelivered} line(s) could not be printed fast enough and were dropped");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn act(
    config: &Config,
    opts: &Options,
    ctx: &KubernetesContext,
    kube: Arc<RealKube>,
    action: GuardedAction,
    reason: String,
    confirm_context: Option<String>,
) -> anyhow::Result<ExitCode> {
    let executor = super::guarded::cli_executor(config, opts)?
        .with_kube(&ctx.name, kube as Arc<dyn KubeActor>);
    Ok(super::guarded::run_guarded(&executor, action, reason, confirm_context).await)
}

fn time(t: Option<SystemTime>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        humantime::format_rfc3339_seconds(t).to_string().into()
    })
}

pub fn pods_json(pods: &[PodRow]) -> serde_json::Value {
    serde_json::Value::Array(
        pods.iter()
            .map(|p| {
                serde_json::json!({
                    "namespace": p.namespace,
                    "name": p.name,
                    "uid": p.uid,
                    "ready": p.ready,
                    "containers": p.total,
                    "status": p.status,
                    "status_detail": p.status_detail,
                    "restarts": p.restarts,
                    "last_restart": time(p.last_restart),
                    "last_termination": p.last_termination.as_ref().map(|t| serde_json::json!({
                        "container": t.container,
                        "reason": t.reason,
                        "exit_code": t.exit_code,
                        "finished_at": time(t.finished_at),
                    })),
                    "created": time(p.created),
                    "node": p.node,
                    "pod_ip": p.pod_ip,
                    "owner": p.owner.as_ref().map(|o| o.label()),
                    "deployment": p.deployment,
                })
            })
            .collect(),
    )
}

fn pods_table(pods: &[PodRow]) -> String {
    let now = SystemTime::now();
    let ago = |t: Option<SystemTime>| {
        t.and_then(|t| now.duration_since(t).ok())
            .map_or("-".into(), |d| {
                warroom_core::human::duration_short(d.as_secs_f64())
            })
    };
    let [name, ready, status, restarts, restart, end, age] = warroom_tui::panes::pods::POD_COLUMNS;
    let mut out = format!(
        "{:<14} {name:<44} {ready:<5} {status:<18} {restarts:>8} {restart:<12} {end:<22} {age:<7} {}\n",
        "NAMESPACE", "OWNER"
    );
    for p in pods {
        out.push_str(&format!(
            "{:<14} {:<44} {:<5} {:<18} {:>8} {:<12} {:<22} {:<7} {}\n",
            sanitize::cell(&p.namespace, 14),
            sanitize::cell(&p.name, 44),
            p.ready_text(),
            sanitize::cell(&p.status, 18),
            p.restarts,
            ago(p.last_restart),
            p.last_termination
                .as_ref()
                .map_or("-".into(), |t| sanitize::cell(&t.label(), 22)),
            ago(p.created),
            p.owner
                .as_ref()
                .map_or("-".into(), |o| sanitize::cell(&o.label(), 60)),
        ));
    }
    out
}
