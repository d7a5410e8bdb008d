//! The real backend: kube-rs over the kubeconfig (KUBECONFIG honoured; tokens, client
//! certificates and exec plugins as kube-rs supports them).

use std::time::SystemTime;

use futures::{AsyncReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, Preconditions, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

use super::status::{pod_row, to_system_time};
use super::{
    KubeActor, KubeError, KubeSource, LogRequest, LogStream, PodChange, PodEvent, PodKey, PodList,
    PodScope, PodWatch, RestartRequest, Since, sort_events,
};
use crate::backends::{BoxFuture, ErrorKind};

/// Server-side watch timeout: the server ends the watch, the worker resumes it.
const WATCH_TIMEOUT_SECS: u32 = 290;

/// One kubeconfig context. The client is built on first use (building may run an exec
/// plugin), so wiring stays synchronous and cheap.
pub struct RealKube {
    kube_context: Option<String>,
    /// A kubeconfig file; None: KUBECONFIG, else ~/.kube/config.
    kubeconfig: Option<std::path::PathBuf>,
    client: OnceCell<Client>,
}

impl RealKube {
    pub fn new(kube_context: Option<String>) -> RealKube {
        RealKube {
            kube_context,
            kubeconfig: None,
            client: OnceCell::new(),
        }
    }

    /// Read this kubeconfig file instead of KUBECONFIG / ~/.kube/config.
    pub fn with_kubeconfig(mut self, path: impl Into<std::path::PathBuf>) -> RealKube {
        self.kubeconfig = Some(path.into());
        self
    }

    async fn client(&self) -> Result<Client, KubeError> {
        self.client
            .get_or_try_init(|| async {
                let kubeconfig = match &self.kubeconfig {
                    Some(path) => Kubeconfig::read_from(path),
                    None => Kubeconfig::read(),
                }
                .map_err(|e| KubeError::Other(format!("kubeconfig: {e}")))?;
                let options = KubeConfigOptions {
                    context: self.kube_context.clone(),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| KubeError::Other(format!("kubeconfig: {e}")))?;
                Client::try_from(config).map_err(|e| KubeError::Other(format!("client: {e}")))
            })
            .await
            .cloned()
    }

    async fn pods(&self, namespace: Option<&str>) -> Result<Api<Pod>, KubeError> {
        let client = self.client().await?;
        Ok(match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        })
    }
}

/// The pod's controlling ReplicaSet must be controlled by the Deployment `name` with `uid`.
/// Otherwise `Conflict`: restarting would act on a Deployment the user did not look at.
async fn check_owned_by(
    client: &Client,
    ns: &str,
    pod: &str,
    name: &str,
    uid: &str,
) -> Result<(), KubeError> {
    let controller =
        |refs: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
         kind: &str| {
            refs.as_ref()
                .and_then(|r| {
                    r.iter()
                        .find(|o| o.kind == kind && o.controller == Some(true))
                })
                .cloned()
        };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let p = pods.get(pod).await.map_err(map_err)?;
    let Some(rs_ref) = controller(&p.metadata.owner_references, "ReplicaSet") else {
        return Err(KubeError::Conflict(format!(
            "pod {ns}/{pod} is not controlled by a ReplicaSet"
        )));
    };
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let rs = sets.get(&rs_ref.name).await.map_err(map_err)?;
    if rs.metadata.uid.as_deref() != Some(rs_ref.uid.as_str()) {
        return Err(KubeError::Conflict(format!(
            "ReplicaSet {ns}/{} is not the one pod {pod} belongs to (uid changed)",
            rs_ref.name
        )));
    }
    match controller(&rs.metadata.owner_references, "Deployment") {
        Some(d) if d.name == name && d.uid == uid => Ok(()),
        Some(d) => Err(KubeError::Conflict(format!(
            "ReplicaSet {ns}/{} is owned by deployment {} (uid {}), not by {name} (uid {uid})",
            rs_ref.name, d.name, d.uid
        ))),
        None => Err(KubeError::Conflict(format!(
            "ReplicaSet {ns}/{} is not controlled by a Deployment",
            rs_ref.name
        ))),
    }
}

pub(crate) fn map_err(e: kube::Error) -> KubeError {
    match e {
        kube::Error::Api(s) => status_error(s.code, s.message),
        kube::Error::Auth(e) => KubeError::Transport {
            detail: format!("credentials: {e}"),
            kind: ErrorKind::AuthFailed,
        },
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => KubeError::Transport {
            kind: transport_kind(&e),
            detail: e.to_string(),
        },
        other => KubeError::Other(other.to_string()),
    }
}

/// A request that got no HTTP answer: timed out, or not connected.
fn transport_kind(e: &kube::Error) -> ErrorKind {
    if let Some(io) = crate::backends::error::io_cause(e) {
        return crate::backends::error::io_kind(io);
    }
    // tower's and hyper's timeouts are not io errors; their words say so.
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string().to_lowercase();
        if text.contains("timed out") || text.contains("elapsed") {
            return ErrorKind::Timeout;
        }
        next = err.source();
    }
    ErrorKind::Unreachable
}

fn status_error(code: u16, message: String) -> KubeError {
    match code {
        410 => KubeError::Gone(message),
        404 => KubeError::NotFound(message),
        409 => KubeError::Conflict(message),
        _ => KubeError::Api { code, message },
    }
}

fn to_jiff(t: SystemTime) -> Option<k8s_openapi::jiff::Timestamp> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    k8s_openapi::jiff::Timestamp::from_second(d.as_secs() as i64).ok()
}

impl KubeSource for RealKube {
    fn list_pods(&self, scope: &PodScope) -> BoxFuture<'_, Result<PodList, KubeError>> {
        let scope = scope.clone();
        Box::pin(async move {
            let api = self.pods(scope.namespace.as_deref()).await?;
            let mut lp = ListParams::default();
            if let Some(sel) = &scope.label_selector {
                lp = lp.labels(sel);
            }
            let list = api.list(&lp).await.map_err(map_err)?;
            Ok(PodList {
                pods: list.items.iter().map(pod_row).collect(),
                resource_version: list.metadata.resource_version.unwrap_or_default(),
            })
        })
    }

    fn watch_pods(
        &self,
        scope: &PodScope,
        resource_version: &str,
    ) -> BoxFuture<'_, Result<PodWatch, KubeError>> {
        let scope = scope.clone();
        let rv = resource_version.to_string();
        Box::pin(async move {
            let api = self.pods(scope.namespace.as_deref()).await?;
            let mut wp = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
            wp.bookmarks = true;
            if let Some(sel) = &scope.label_selector {
                wp = wp.labels(sel);
            }
            let stream = api.watch(&wp, &rv).await.map_err(map_err)?;
            let changes = stream.map(|ev| match ev {
                Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => {
                    Ok(PodChange::Upsert(Box::new(pod_row(&p))))
                }
                Ok(WatchEvent::Deleted(p)) => Ok(PodChange::Delete(Box::new(pod_row(&p)))),
                Ok(WatchEvent::Bookmark(b)) => Ok(PodChange::Bookmark(b.metadata.resource_version)),
                Ok(WatchEvent::Error(s)) => Err(status_error(s.code, s.message)),
                Err(e) => Err(map_err(e)),
            });
            Ok(changes.boxed())
        })
    }

    fn pod_events(
        &self,
        namespace: &str,
        pod: &str,
    ) -> BoxFuture<'_, Result<Vec<PodEvent>, KubeError>> {
        let ns = namespace.to_string();
        let field = format!("involvedObject.name={pod},involvedObject.kind=Pod");
        Box::pin(async move {
            let api: Api<Event> = Api::namespaced(self.client().await?, &ns);
            let list = api
                .list(&ListParams::default().fields(&field))
                .await
                .map_err(map_err)?;
            let mut events: Vec<PodEvent> = list
                .items
                .iter()
                .map(|e| PodEvent {
                    warning: e.type_.as_deref() == Some("Warning"),
                    reason: e.reason.clone().unwrap_or_default(),
                    message: e.message.clone().unwrap_or_default(),
                    count: e.count.unwrap_or(1),
                    last_seen: e
                        .last_timestamp
                        .as_ref()
                        .or(e.first_timestamp.as_ref())
                        .map(to_system_time)
                        .or_else(|| {
                            e.event_time.as_ref().map(|t| {
                                to_system_time(
                                    &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.0),
                                )
                            })
                        }),
                })
                .collect();
            sort_events(&mut events);
            Ok(events)
        })
    }

    fn logs(&self, request: &LogRequest) -> BoxFuture<'_, Result<LogStream, KubeError>> {
        let req = request.clone();
        Box::pin(async move {
            let api = self.pods(Some(&req.pod.namespace)).await?;
            let lp = LogParams {
                container: req.container.clone(),
                follow: req.follow,
                previous: req.previous,
                since_seconds: match req.since {
                    Some(Since::Ago(d)) => Some(d.as_secs() as i64),
                    _ => None,
                },
                since_time: match req.since {
                    Some(Since::Time(t)) => to_jiff(t),
                    _ => None,
                },
                tail_lines: req.tail_lines,
                timestamps: true,
                ..LogParams::default()
            };
            let reader = api.log_stream(&req.pod.name, &lp).await.map_err(map_err)?;
            let stream = futures::stream::try_unfold(Box::pin(reader), |mut r| async move {
                let mut buf = vec![0u8; 64 * 1024];
                let n = r
                    .read(&mut buf)
                    .await
                    .map_err(|e| KubeError::Other(format!("log stream: {e}")))?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some((buf, r)))
            });
            Ok(stream.into_stream().boxed())
        })
    }

    fn describe_target(&self) -> String {
        match &self.kube_context {
            Some(c) => format!("kubeconfig context {c}"),
            None => "the kubeconfig's current context".into(),
        }
    }
}

impl KubeActor for RealKube {
    fn delete_pod(
        &self,
        pod: &PodKey,
        uid: Option<&str>,
        grace_period: Option<i64>,
    ) -> BoxFuture<'_, Result<String, KubeError>> {
        let PodKey {
            namespace: ns,
            name,
        } = pod.clone();
        let uid = uid.map(str::to_string);
        Box::pin(async move {
            let api = self.pods(Some(&ns)).await?;
            let grace_period_seconds = match grace_period {
                Some(g) => Some(u32::try_from(g).map_err(|_| {
                    KubeError::Other(format!("grace period {g} s is out of range"))
                })?),
                None => None,
            };
            let dp = DeleteParams {
                grace_period_seconds,
                preconditions: uid.map(|u| Preconditions {
                    uid: Some(u),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            api.delete(&name, &dp).await.map_err(map_err)?;
            Ok(format!("pod {ns}/{name} deleted"))
        })
    }

    fn rollout_restart(&self, request: RestartRequest) -> BoxFuture<'_, Result<String, KubeError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let ns = request.namespace.as_str();
            let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
            let deployment = api.get(&request.deployment).await.map_err(map_err)?;
            let uid = deployment.metadata.uid.clone().ok_or_else(|| {
                KubeError::Other(format!("deployment {ns}/{} has no uid", request.deployment))
            })?;
            if let Some(pod) = &request.from_pod {
                check_owned_by(&client, ns, pod, &request.deployment, &uid).await?;
            }
            let pp = PatchParams::default();
            let d = api
                .patch(
                    &request.deployment,
                    &pp,
                    &Patch::Strategic(request.patch_with_uid(&uid)),
                )
                .await
                .map_err(map_err)?;
            Ok(format!(
                "deployment {}/{} restarted (generation {})",
                request.namespace,
                request.deployment,
                d.metadata.generation.unwrap_or_default()
            ))
        })
    }
}
