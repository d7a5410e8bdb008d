//! An HTTP/1.1 emulator of the real Kubernetes API, on 127.0.0.1 and a free port, for
//! integration tests. No API server can be installed on these machines; this one is checked
//! with the real `kubectl` (tests/backends/kube_kubectl.rs), so it speaks the API kubectl expects.
//!
//! Served: discovery (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/apps/v1`); pods list, get,
//! watch (increasing resourceVersion, bookmarks, `410 Gone` for versions older than the last
//! [`KubeEmulator::compact`]), delete (uid precondition, grace period recorded); `pods/log`
//! (follow as a chunked stream, previous, sinceTime with second precision, sinceSeconds,
//! tailLines, timestamps); deployments get and merge / strategic-merge patch (a changed pod
//! template replaces the deployment's pods, like a rollout); core/v1 events with field
//! selectors; `application/json;as=Table` for kubectl's printing. A request with a bearer
//! token other than the kubeconfig's ([`KubeEmulator::kubeconfig`]) gets 401; client-go sends
//! none over plain HTTP, so anonymous requests are served, as the old insecure port did.
//!
//! Faults on demand: [`KubeEmulator::drop_watches`] closes every open watch mid-stream,
//! [`KubeEmulator::cut_next_log_stream`] cuts the next log stream after N bytes (mid-line).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const TOKEN: &str = "emulator-token";

type Key = (String, String);

#[derive(Debug, Clone)]
pub struct LogLine {
    pub time: SystemTime,
    pub text: String,
}

#[derive(Debug, Default)]
struct State {
    rv: u64,
    pods: BTreeMap<Key, Value>,
    deployments: BTreeMap<Key, Value>,
    replicasets: BTreeMap<Key, Value>,
    events: Vec<Value>,
    /// (resourceVersion, type, object) of every pod change.
    history: Vec<(u64, &'static str, Value)>,
    /// Watches from versions below this get 410 Gone.
    compacted: u64,
    /// (ns, pod, container, previous) -> lines.
    logs: HashMap<(String, String, String, bool), Vec<LogLine>>,
    /// Bumped by drop_watches: open watches end.
    watch_epoch: u64,
    /// The next log stream is cut after this many bytes.
    cut_log_after: Option<usize>,
    requests: Vec<String>,
    /// Requests that carried the kubeconfig's bearer token.
    authenticated: usize,
    deletes: Vec<Value>,
    patches: Vec<(String, Value)>,
    bookmark_every: Duration,
    pod_counter: u64,
    /// Each pod DELETE waits this long before it is carried out and answered.
    hold_deletes: Duration,
}

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, kind: &'static str, mut pod: Value) -> Value {
        let rv = self.bump();
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.history.push((rv, kind, pod.clone()));
        pod
    }
}

/// The running emulator. Dropping it stops it.
pub struct KubeEmulator {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: watch::Sender<u64>,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KubeEmulator {
    pub async fn start() -> KubeEmulator {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            rv: 1000,
            bookmark_every: Duration::from_millis(300),
            ..State::default()
        }));
        let (changed, _) = watch::channel(0u64);
        let shared = Shared {
            state: state.clone(),
            changed: changed.clone(),
            addr,
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, shared).await;
                });
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let emu = KubeEmulator {
            addr,
            state,
            changed,
            dir,
            task,
        };
        std::fs::write(emu.kubeconfig(), emu.kubeconfig_text()).expect("write kubeconfig");
        emu
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one context, `emulator`, namespace `default`, a bearer token.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kubeconfig like [`KubeEmulator::kubeconfig`] but with `token`: any other token
    /// than the right one gets 401, as an expired or revoked token does on a real cluster.
    pub fn kubeconfig_with_token(&self, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!("kubeconfig-{token}"));
        let text = self
            .kubeconfig_text()
            .replace(&format!("token: {TOKEN}"), &format!("token: {token}"));
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// A directory for kubectl's discovery cache (HOME), so runs do not share one.
    pub fn home(&self) -> PathBuf {
        let h = self.dir.path().join("home");
        std::fs::create_dir_all(&h).expect("home");
        h
    }

    fn kubeconfig_text(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {}\n\
contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: tester\n    namespace: default\n\
current-context: emulator\nusers:\n- name: tester\n  user:\n    token: {TOKEN}\n",
            self.url()
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Every request line seen, "METHOD /path?query".
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// How many requests carried the kubeconfig's bearer token.
    pub fn authenticated(&self) -> usize {
        self.lock().authenticated
    }

    /// From now on each pod DELETE waits `hold` before it takes effect and is answered (a slow
    /// API server, or a call a dying client never sees the end of).
    pub fn hold_deletes(&self, hold: Duration) {
        self.lock().hold_deletes = hold;
    }

    /// DeleteOptions bodies received.
    pub fn deletes(&self) -> Vec<Value> {
        self.lock().deletes.clone()
    }

    /// (content type, body) of patches received.
    pub fn patches(&self) -> Vec<(String, Value)> {
        self.lock().patches.clone()
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn set_bookmark_interval(&self, every: Duration) {
        self.lock().bookmark_every = every;
    }

    /// Add a Deployment and `replicas` Running pods owned by it (through a ReplicaSet).
    pub fn add_deployment(&self, ns: &str, name: &str, replicas: usize) -> Vec<String> {
        {
            let mut s = self.lock();
            let rv = s.bump();
            let d = json!({
                "kind": "Deployment", "apiVersion": "apps/v1",
                "metadata": {"name": name, "namespace": ns, "uid": format!("dep-{name}"),
                    "resourceVersion": rv.to_string(), "generation": 1,
                    "creationTimestamp": rfc3339(SystemTime::now() - Duration::from_secs(3600))},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": name, "image": format!("registry.example/{name}:1")}]}}},
                "status": {"replicas": replicas, "readyReplicas": replicas}
            });
            s.deployments.insert((ns.into(), name.into()), d);
            let rs = replicaset_of(ns, name, "5d8f7c9b4", &format!("dep-{name}"));
            s.replicasets
                .insert((ns.into(), format!("{name}-5d8f7c9b4")), rs);
        }
        let hash = "5d8f7c9b4";
        (0..replicas)
            .map(|_| {
                self.add_pod(pod_of_deployment(
                    ns,
                    name,
                    hash,
                    &self.next_suffix(),
                    running(name),
                ))
            })
            .collect()
    }

    fn next_suffix(&self) -> String {
        let mut s = self.lock();
        s.pod_counter += 1;
        format!("{:05x}", 0x1a2b3 + s.pod_counter * 7919)
    }

    /// The Deployment is deleted and created again under the same name (a new uid); its old
    /// ReplicaSets and pods still name the old uid as their owner.
    pub fn recreate_deployment(&self, ns: &str, name: &str) {
        let mut s = self.lock();
        let rv = s.bump();
        if let Some(d) = s.deployments.get_mut(&(ns.into(), name.into())) {
            d["metadata"]["uid"] = json!(format!("dep-{name}-recreated"));
            d["metadata"]["resourceVersion"] = json!(rv.to_string());
        }
    }

    pub fn deployment(&self, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .deployments
            .get(&(ns.into(), name.into()))
            .cloned()
    }

    /// Add (or replace) a pod object; returns its name. A watch sees ADDED.
    pub fn add_pod(&self, pod: Value) -> String {
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        {
            let mut s = self.lock();
            let pod = s.record("ADDED", pod);
            s.pods.insert((ns, name.clone()), pod);
        }
        self.notify();
        name
    }

    /// Replace a pod's status; a watch sees MODIFIED.
    pub fn set_pod_status(&self, ns: &str, name: &str, status: Value) {
        {
            let mut s = self.lock();
            let Some(mut pod) = s.pods.get(&(ns.into(), name.into())).cloned() else {
                return;
            };
            pod["status"] = status;
            let pod = s.record("MODIFIED", pod);
            s.pods.insert((ns.into(), name.into()), pod);
        }
        self.notify();
    }

    pub fn pod(&self, ns: &str, name: &str) -> Option<Value> {
        self.lock().pods.get(&(ns.into(), name.into())).cloned()
    }

    pub fn pod_names(&self, ns: &str) -> Vec<String> {
        self.lock()
            .pods
            .keys()
            .filter(|(n, _)| n == ns)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Append lines to a container's log (current, or the previous run).
    pub fn add_logs(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
        lines: &[(SystemTime, &str)],
    ) {
        {
            let mut s = self.lock();
            let log = s
                .logs
                .entry((ns.into(), pod.into(), container.into(), previous))
                .or_default();
            log.extend(lines.iter().map(|(t, l)| LogLine {
                time: *t,
                text: l.to_string(),
            }));
        }
        self.notify();
    }

    /// Append many lines at once without building a slice of tuples.
    pub fn add_log_lines(&self, ns: &str, pod: &str, container: &str, lines: Vec<LogLine>) {
        {
            let mut s = self.lock();
            s.logs
                .entry((ns.into(), pod.into(), container.into(), false))
                .or_default()
                .extend(lines);
        }
        self.notify();
    }

    pub fn add_event(&self, ns: &str, pod: &str, warning: bool, reason: &str, message: &str) {
        let mut s = self.lock();
        let rv = s.bump();
        let n = s.events.len();
        s.events.push(json!({
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": format!("{pod}.{n:x}"), "namespace": ns, "resourceVersion": rv.to_string()},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns, "apiVersion": "v1"},
            "reason": reason, "message": message, "type": if warning {"Warning"} else {"Normal"},
            "count": 1, "firstTimestamp": rfc3339(SystemTime::now()), "lastTimestamp": rfc3339(SystemTime::now()),
            "source": {"component": "kubelet"}
        }));
    }

    /// Forget history: watches from any version before now get 410 Gone.
    pub fn compact(&self) {
        let mut s = self.lock();
        // Like an etcd compaction after more writes: every version seen so far is too old.
        s.bump();
        s.compacted = s.rv;
        s.history.clear();
    }

    /// Close every open watch stream (as a load balancer or an API server restart would).
    pub fn drop_watches(&self) {
        self.lock().watch_epoch += 1;
        self.notify();
    }

    /// Cut the next log stream after `bytes` bytes of body, without the final chunk.
    pub fn cut_next_log_stream(&self, bytes: usize) {
        self.lock().cut_log_after = Some(bytes);
    }
}

/// A Running, ready pod's status for container `c`.
pub fn running(c: &str) -> Value {
    json!({"phase": "Running", "podIP": "10.1.0.9", "startTime": rfc3339(SystemTime::now() - Duration::from_secs(600)),
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": c, "ready": true, "restartCount": 0, "image": "img", "imageID": "",
            "started": true, "state": {"running": {"startedAt": rfc3339(SystemTime::now() - Duration::from_secs(600))}}}]})
}

/// A crash-looping container whose last run ended with `reason` / `exit_code`.
pub fn crash_looping(c: &str, restarts: i32, reason: &str, exit_code: i32) -> Value {
    let finished = SystemTime::now() - Duration::from_secs(20);
    json!({"phase": "Running", "podIP": "10.1.0.10",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": [{"name": c, "ready": false, "restartCount": restarts, "image": "img", "imageID": "",
            "started": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 40s restarting failed container={c}")}},
            "lastState": {"terminated": {"reason": reason, "exitCode": exit_code,
                "startedAt": rfc3339(finished - Duration::from_secs(30)), "finishedAt": rfc3339(finished)}}}]})
}

/// ReplicaSet `{deployment}-{hash}` (uid `rs-{deployment}`, the uid its pods name), controlled
/// by the Deployment with `deployment_uid`.
fn replicaset_of(ns: &str, deployment: &str, hash: &str, deployment_uid: &str) -> Value {
    json!({
        "kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": {"name": format!("{deployment}-{hash}"), "namespace": ns,
            "uid": format!("rs-{deployment}"), "resourceVersion": "1",
            "labels": {"app": deployment, "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                "uid": deployment_uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": deployment, "pod-template-hash": hash}},
            "template": {"metadata": {"labels": {"app": deployment, "pod-template-hash": hash}},
                "spec": {"containers": [{"name": deployment, "image": format!("registry.example/{deployment}:1")}]}}}
    })
}

/// A pod owned by ReplicaSet `{deployment}-{hash}`, labelled like a Deployment's pod.
pub fn pod_of_deployment(
    ns: &str,
    deployment: &str,
    hash: &str,
    suffix: &str,
    status: Value,
) -> Value {
    let name = format!("{deployment}-{hash}-{suffix}");
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "creationTimestamp": rfc3339(SystemTime::now() - Duration::from_secs(900)),
            "labels": {"app": deployment, "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{deployment}-{hash}"),
                "uid": format!("rs-{deployment}"), "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [{"name": deployment, "image": format!("registry.example/{deployment}:1")}],
            "nodeName": "node-a", "terminationGracePeriodSeconds": 30, "restartPolicy": "Always"},
        "status": status
    })
}

/// A bare pod (no owner) with the given containers.
pub fn bare_pod(ns: &str, name: &str, containers: &[&str], status: Value) -> Value {
    let cs: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "img"}))
        .collect();
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "creationTimestamp": rfc3339(SystemTime::now() - Duration::from_secs(300)), "labels": {"app": name}},
        "spec": {"containers": cs, "nodeName": "node-b", "terminationGracePeriodSeconds": 30},
        "status": status
    })
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn rfc3339_nanos(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    changed: watch::Sender<u64>,
    addr: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn notify(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1"))
    }
    fn wants_table(&self) -> bool {
        self.headers
            .get("accept")
            .is_some_and(|a| a.contains("as=Table"))
    }
}

/// Read one request; None at a clean end of the connection.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Request>> {
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p;
        }
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let line_end = loop {
                if let Some(p) = find(buf, b"\r\n") {
                    break p;
                }
                let mut chunk = [0u8; 8192];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..line_end]).trim(), 16)
                .unwrap_or(0);
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                let mut chunk = [0u8; 8192];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        while buf.len() < len {
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        body = buf.drain(..len).collect();
    }
    let (path, qs) = target.split_once('?').unwrap_or((&target, ""));
    let query = qs
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    Ok(Some(Request {
        method,
        path: path.to_string(),
        query,
        headers,
        body,
    }))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn respond(
    sock: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache, private\r\n\r\n",
        reason(code),
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await
}

async fn respond_json(sock: &mut TcpStream, code: u16, v: &Value) -> std::io::Result<()> {
    respond(sock, code, "application/json", v.to_string().as_bytes()).await
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        _ => "Status",
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

async fn start_chunked(sock: &mut TcpStream, content_type: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await
}

async fn chunk(sock: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    sock.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    sock.write_all(data).await?;
    sock.write_all(b"\r\n").await
}

async fn end_chunked(sock: &mut TcpStream) -> std::io::Result<()> {
    sock.write_all(b"0\r\n\r\n").await
}

async fn serve(mut sock: TcpStream, shared: Shared) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut sock, &mut buf).await? {
        let line = {
            let mut q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            q.sort();
            format!("{} {}?{}", req.method, req.path, q.join("&"))
        };
        shared.lock().requests.push(line);
        // Over plain HTTP (the old insecure port) client-go sends no credentials, so an
        // anonymous request is served; a wrong token is refused.
        let authorized = req
            .headers
            .get("authorization")
            .is_none_or(|a| a == &format!("Bearer {TOKEN}"));
        if req.headers.contains_key("authorization") && authorized {
            shared.lock().authenticated += 1;
        }
        if !authorized {
            respond_json(&mut sock, 401, &status(401, "Unauthorized", "Unauthorized")).await?;
            continue;
        }
        let keep_open = route(&mut sock, &shared, &req).await?;
        if !keep_open {
            return sock.shutdown().await;
        }
    }
    Ok(())
}

/// Ok(false) when the connection must close (after a stream).
async fn route(sock: &mut TcpStream, shared: &Shared, req: &Request) -> std::io::Result<bool> {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let m = req.method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["version"]) => respond_json(sock, 200, &json!({"major": "1", "minor": "33",
            "gitVersion": "v1.33.0-emulator", "gitCommit": "0000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"})).await?,
        ("GET", ["api"]) => respond_json(sock, 200, &json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}]})).await?,
        ("GET", ["apis"]) => respond_json(sock, 200, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]})).await?,
        ("GET", ["api", "v1"]) => respond_json(sock, 200, &core_resources()).await?,
        ("GET", ["apis", "apps", "v1"]) => respond_json(sock, 200, &apps_resources()).await?,
        ("GET", ["api", "v1", "pods"]) => return pods_collection(sock, shared, req, None).await,
        ("GET", ["api", "v1", "namespaces", ns, "pods"]) => {
            return pods_collection(sock, shared, req, Some(ns)).await;
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => {
            let pod = shared.lock().pods.get(&(ns.to_string(), name.to_string())).cloned();
            match pod {
                Some(p) => respond_json(sock, 200, &p).await?,
                None => not_found(sock, "pods", name).await?,
            }
        }
        ("DELETE", ["api", "v1", "namespaces", ns, "pods", name]) => delete_pod(sock, shared, req, ns, name).await?,
        ("GET", ["api", "v1", "namespaces", ns, "pods", name, "log"]) => return pod_log(sock, shared, req, ns, name).await,
        ("GET", ["api", "v1", "namespaces", ns, "events"]) => {
            let items: Vec<Value> = {
                let s = shared.lock();
                s.events
                    .iter()
                    .filter(|e| e["metadata"]["namespace"] == *ns && matches_fields(e, req.q("fieldSelector")))
                    .cloned()
                    .collect()
            };
            let rv = shared.lock().rv;
            respond_json(sock, 200, &json!({"kind": "EventList", "apiVersion": "v1",
                "metadata": {"resourceVersion": rv.to_string()}, "items": items})).await?;
        }
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            let d = shared.lock().deployments.get(&(ns.to_string(), name.to_string())).cloned();
            match d {
                Some(d) => respond_json(sock, 200, &d).await?,
                None => not_found(sock, "deployments.apps", name).await?,
            }
        }
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "replicasets", name]) => {
            let rs = shared.lock().replicasets.get(&(ns.to_string(), name.to_string())).cloned();
            match rs {
                Some(rs) => respond_json(sock, 200, &rs).await?,
                None => not_found(sock, "replicasets.apps", name).await?,
            }
        }
        ("PATCH", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            patch_deployment(sock, shared, req, ns, name).await?;
        }
        _ => respond_json(sock, 404, &status(404, "NotFound", &format!("the server could not find the requested resource ({m} {})", req.path))).await?,
    }
    Ok(true)
}

async fn not_found(sock: &mut TcpStream, kind: &str, name: &str) -> std::io::Result<()> {
    let (res, group) = kind.split_once('.').unwrap_or((kind, ""));
    let mut st = status(404, "NotFound", &format!("{kind} \"{name}\" not found"));
    st["details"] = json!({"name": name, "group": group, "kind": res});
    respond_json(sock, 404, &st).await
}

/// What kubectl's discovery expects a full resource to allow.
fn all_verbs() -> Value {
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

fn core_resources() -> Value {
    let verbs = all_verbs();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": verbs, "shortNames": ["po"], "categories": ["all"]},
        {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
        {"name": "events", "singularName": "event", "namespaced": true, "kind": "Event", "verbs": verbs, "shortNames": ["ev"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["get", "list", "watch"], "shortNames": ["ns"]}
    ]})
}

fn apps_resources() -> Value {
    let verbs = all_verbs();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
        {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "verbs": verbs, "shortNames": ["deploy"], "categories": ["all"]},
        {"name": "replicasets", "singularName": "replicaset", "namespaced": true, "kind": "ReplicaSet", "verbs": verbs, "shortNames": ["rs"], "categories": ["all"]}
    ]})
}

fn matches_labels(pod: &Value, selector: Option<&str>) -> bool {
    let Some(sel) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    sel.split(',').all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            pod["metadata"]["labels"][k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            let v = v.trim_start_matches('=');
            pod["metadata"]["labels"][k.trim()].as_str() == Some(v.trim())
        } else {
            !pod["metadata"]["labels"][term.trim()].is_null()
        }
    })
}

fn matches_fields(obj: &Value, selector: Option<&str>) -> bool {
    let Some(sel) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    sel.split(',').all(|term| {
        let Some((k, v)) = term.split_once('=') else {
            return true;
        };
        let v = v.trim_start_matches('=');
        let mut cur = obj;
        for part in k.split('.') {
            cur = &cur[part];
        }
        cur.as_str() == Some(v)
    })
}

fn pod_matches(pod: &Value, ns: Option<&str>, req: &Request) -> bool {
    ns.is_none_or(|ns| pod["metadata"]["namespace"] == ns)
        && matches_labels(pod, req.q("labelSelector"))
        && matches_fields(pod, req.q("fieldSelector"))
}

fn table_columns() -> Value {
    json!([
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
        {"name": "Ready", "type": "string", "format": "", "description": "ready/total", "priority": 0},
        {"name": "Status", "type": "string", "format": "", "description": "status", "priority": 0},
        {"name": "Restarts", "type": "string", "format": "", "description": "restarts", "priority": 0},
        {"name": "Age", "type": "string", "format": "", "description": "age", "priority": 0},
        {"name": "IP", "type": "string", "format": "", "description": "pod IP", "priority": 1},
        {"name": "Node", "type": "string", "format": "", "description": "node", "priority": 1}
    ])
}

fn table_row(pod: &Value) -> Value {
    let cs = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = cs.iter().filter(|c| c["ready"] == true).count();
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let restarts: i64 = cs
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let mut st = pod["status"]["reason"]
        .as_str()
        .or(pod["status"]["phase"].as_str())
        .unwrap_or("Unknown")
        .to_string();
    for c in cs.iter().rev() {
        if let Some(r) = c["state"]["waiting"]["reason"].as_str() {
            st = r.to_string();
        } else if let Some(r) = c["state"]["terminated"]["reason"].as_str() {
            st = r.to_string();
        }
    }
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        st = "Terminating".into();
    }
    let age = pod["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or("<unknown>".to_string(), |d| {
            format!("{}m", d.as_secs() / 60)
        });
    json!({"cells": [pod["metadata"]["name"], format!("{ready}/{total}"), st, restarts.to_string(), age,
        pod["status"]["podIP"].as_str().unwrap_or("<none>"), pod["spec"]["nodeName"].as_str().unwrap_or("<none>")],
        "object": pod})
}

fn table(rows: Vec<Value>, rv: u64) -> Value {
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": table_columns(), "rows": rows})
}

async fn pods_collection(
    sock: &mut TcpStream,
    shared: &Shared,
    req: &Request,
    ns: Option<&str>,
) -> std::io::Result<bool> {
    if req.flag("watch") {
        watch_pods(sock, shared, req, ns).await?;
        return Ok(false);
    }
    let (items, rv) = {
        let s = shared.lock();
        let items: Vec<Value> = s
            .pods
            .values()
            .filter(|p| pod_matches(p, ns, req))
            .cloned()
            .collect();
        (items, s.rv)
    };
    let body = if req.wants_table() {
        table(items.iter().map(table_row).collect(), rv)
    } else {
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}, "items": items})
    };
    respond_json(sock, 200, &body).await?;
    Ok(true)
}

async fn watch_pods(
    sock: &mut TcpStream,
    shared: &Shared,
    req: &Request,
    ns: Option<&str>,
) -> std::io::Result<()> {
    let from: Option<u64> = req
        .q("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0);
    let bookmarks = req.flag("allowWatchBookmarks");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map(Duration::from_secs);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let as_table = req.wants_table();
    let ctype = "application/json";
    start_chunked(sock, ctype).await?;
    let mut rx = shared.changed.subscribe();
    let (epoch, every) = {
        let s = shared.lock();
        (s.watch_epoch, s.bookmark_every)
    };
    let encode = |kind: &str, obj: &Value, rv: u64| -> Vec<u8> {
        let object = if as_table && kind != "BOOKMARK" && kind != "ERROR" {
            table(vec![table_row(obj)], rv)
        } else {
            obj.clone()
        };
        let mut line = json!({"type": kind, "object": object})
            .to_string()
            .into_bytes();
        line.push(b'\n');
        line
    };
    // Where this watch is: events with rv > cursor are still to send.
    let mut cursor = match from {
        Some(v) => {
            let gone = v < shared.lock().compacted;
            if gone {
                let st = status(410, "Expired", &format!("too old resource version: {v}"));
                chunk(sock, &encode("ERROR", &st, 0)).await?;
                return end_chunked(sock).await;
            }
            v
        }
        None => {
            // No version: synthetic ADDED events for what exists now.
            let (items, rv) = {
                let s = shared.lock();
                let items: Vec<Value> = s
                    .pods
                    .values()
                    .filter(|p| pod_matches(p, ns, req))
                    .cloned()
                    .collect();
                (items, s.rv)
            };
            for p in &items {
                chunk(sock, &encode("ADDED", p, rv)).await?;
            }
            rv
        }
    };
    let mut next_bookmark = tokio::time::Instant::now() + every;
    loop {
        let (events, now_rv, dropped) = {
            let s = shared.lock();
            let ev: Vec<(u64, &'static str, Value)> = s
                .history
                .iter()
                .filter(|(rv, _, p)| *rv > cursor && pod_matches(p, ns, req))
                .cloned()
                .collect();
            (ev, s.rv, s.watch_epoch != epoch)
        };
        if dropped {
            // Cut without the final chunk: the client sees the connection end mid-stream.
            return Ok(());
        }
        for (rv, kind, obj) in &events {
            chunk(sock, &encode(kind, obj, *rv)).await?;
        }
        cursor = cursor.max(events.last().map_or(cursor, |e| e.0));
        if bookmarks && tokio::time::Instant::now() >= next_bookmark {
            cursor = cursor.max(now_rv);
            let bm = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": cursor.to_string(),
                "annotations": {"k8s.io/initial-events-end": "false"}}});
            chunk(sock, &encode("BOOKMARK", &bm, cursor)).await?;
            next_bookmark = tokio::time::Instant::now() + every;
        }
        let wake = next_bookmark;
        tokio::select! {
            r = rx.changed() => if r.is_err() { return Ok(()); },
            _ = tokio::time::sleep_until(wake), if bookmarks => {},
            _ = tokio::time::sleep_until(deadline.unwrap_or(wake)), if deadline.is_some() => {
                return end_chunked(sock).await;
            }
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return end_chunked(sock).await;
        }
    }
}

async fn delete_pod(
    sock: &mut TcpStream,
    shared: &Shared,
    req: &Request,
    ns: &str,
    name: &str,
) -> std::io::Result<()> {
    let opts: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    let key = (ns.to_string(), name.to_string());
    let hold = shared.lock().hold_deletes;
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    let result = {
        let mut s = shared.lock();
        s.deletes.push(opts.clone());
        match s.pods.get(&key).cloned() {
            None => Err(None),
            Some(pod) => {
                let want = opts["preconditions"]["uid"].as_str();
                if want.is_some_and(|u| pod["metadata"]["uid"].as_str() != Some(u)) {
                    Err(Some(status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on Pod \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {}",
                            want.unwrap_or_default(),
                            pod["metadata"]["uid"].as_str().unwrap_or_default()
                        ),
                    )))
                } else {
                    s.pods.remove(&key);
                    Ok(s.record("DELETED", pod))
                }
            }
        }
    };
    shared.notify();
    match result {
        Ok(pod) => respond_json(sock, 200, &pod).await,
        Err(Some(st)) => respond_json(sock, 409, &st).await,
        Err(None) => not_found(sock, "pods", name).await,
    }
}

/// RFC 7386 JSON merge patch (what a strategic merge does on maps, the only shape used here).
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

async fn patch_deployment(
    sock: &mut TcpStream,
    shared: &Shared,
    req: &Request,
    ns: &str,
    name: &str,
) -> std::io::Result<()> {
    let ctype = req.headers.get("content-type").cloned().unwrap_or_default();
    if !(ctype.starts_with("application/merge-patch+json")
        || ctype.starts_with("application/strategic-merge-patch+json"))
    {
        let st = status(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {ctype})"
            ),
        );
        return respond_json(sock, 415, &st).await;
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&req.body) else {
        return respond_json(
            sock,
            400,
            &status(400, "BadRequest", "the patch is not JSON"),
        )
        .await;
    };
    let key = (ns.to_string(), name.to_string());
    let updated = {
        let mut s = shared.lock();
        s.patches.push((ctype.clone(), patch.clone()));
        match s.deployments.get(&key).cloned() {
            None => None,
            // metadata.uid in a patch is a precondition, as on a real API server.
            Some(d)
                if patch["metadata"]["uid"].is_string()
                    && patch["metadata"]["uid"] != d["metadata"]["uid"] =>
            {
                Some((d, None))
            }
            Some(mut d) => {
                let before = d["spec"]["template"].clone();
                merge(&mut d, &patch);
                let rv = s.bump();
                d["metadata"]["resourceVersion"] = json!(rv.to_string());
                let template_changed = d["spec"]["template"] != before;
                if template_changed {
                    let generation = d["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                    d["metadata"]["generation"] = json!(generation);
                }
                s.deployments.insert(key, d.clone());
                Some((d, Some(template_changed)))
            }
        }
    };
    let Some((d, template_changed)) = updated else {
        return not_found(sock, "deployments.apps", name).await;
    };
    let Some(template_changed) = template_changed else {
        let message = format!(
            "Operation cannot be fulfilled on deployments.apps \"{name}\": Precondition failed: \
             UID in precondition: {}, UID in object meta: {}",
            patch["metadata"]["uid"].as_str().unwrap_or_default(),
            d["metadata"]["uid"].as_str().unwrap_or_default()
        );
        return respond_json(sock, 409, &status(409, "Conflict", &message)).await;
    };
    if template_changed {
        rollout(shared, ns, name, &d);
    }
    shared.notify();
    respond_json(sock, 200, &d).await
}

/// A changed template: the old pods go, fresh Running pods of a new ReplicaSet come.
fn rollout(shared: &Shared, ns: &str, name: &str, d: &Value) {
    let mut s = shared.lock();
    let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(2);
    let hash = format!(
        "{:09x}",
        0x6b5f8c7d1u64.wrapping_add(generation as u64 * 104729)
    );
    let old: Vec<Key> = s
        .pods
        .iter()
        .filter(|(k, p)| k.0 == ns && p["metadata"]["labels"]["app"] == name)
        .map(|(k, _)| k.clone())
        .collect();
    for k in old {
        if let Some(p) = s.pods.remove(&k) {
            s.record("DELETED", p);
        }
    }
    let owner = d["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    s.replicasets.insert(
        (ns.to_string(), format!("{name}-{hash}")),
        replicaset_of(ns, name, &hash, &owner),
    );
    for _ in 0..replicas {
        s.pod_counter += 1;
        let suffix = format!("{:05x}", 0x2c3d4 + s.pod_counter * 7919);
        let pod = pod_of_deployment(ns, name, &hash, &suffix, running(name));
        let pname = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pod = s.record("ADDED", pod);
        s.pods.insert((ns.to_string(), pname), pod);
    }
}

async fn pod_log(
    sock: &mut TcpStream,
    shared: &Shared,
    req: &Request,
    ns: &str,
    name: &str,
) -> std::io::Result<bool> {
    let pod = shared
        .lock()
        .pods
        .get(&(ns.to_string(), name.to_string()))
        .cloned();
    let Some(pod) = pod else {
        not_found(sock, "pods", name).await?;
        return Ok(true);
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match req.q("container") {
        Some(c) if !c.is_empty() => {
            if !containers.iter().any(|x| x == c) {
                let st = status(
                    400,
                    "BadRequest",
                    &format!("container {c} is not valid for pod {name}"),
                );
                respond_json(sock, 400, &st).await?;
                return Ok(true);
            }
            c.to_string()
        }
        _ if containers.len() == 1 => containers[0].clone(),
        _ => {
            let st = status(
                400,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                ),
            );
            respond_json(sock, 400, &st).await?;
            return Ok(true);
        }
    };
    let previous = req.flag("previous");
    let key = (
        ns.to_string(),
        name.to_string(),
        container.clone(),
        previous,
    );
    if previous && !shared.lock().logs.contains_key(&key) {
        let st = status(
            400,
            "BadRequest",
            &format!("previous terminated container \"{container}\" in pod \"{name}\" not found"),
        );
        respond_json(sock, 400, &st).await?;
        return Ok(true);
    }
    let since: Option<SystemTime> = match (req.q("sinceTime"), req.q("sinceSeconds")) {
        (Some(t), _) => humantime::parse_rfc3339(t)
            .ok()
            .or_else(|| humantime::parse_rfc3339_weak(t).ok()),
        (None, Some(s)) => s
            .parse::<u64>()
            .ok()
            .map(|s| SystemTime::now() - Duration::from_secs(s)),
        _ => None,
    };
    // The API's sinceTime has second precision and is inclusive.
    let since = since.map(|t| {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    });
    let tail: Option<usize> = req.q("tailLines").and_then(|t| t.parse().ok());
    let timestamps = req.flag("timestamps");
    let follow = req.flag("follow") && !previous;
    let render = |l: &LogLine| -> Vec<u8> {
        let mut out = Vec::with_capacity(l.text.len() + 40);
        if timestamps {
            out.extend_from_slice(rfc3339_nanos(l.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(l.text.as_bytes());
        out.push(b'\n');
        out
    };
    let mut rx = shared.changed.subscribe();
    let (initial, mut sent) = {
        let s = shared.lock();
        let lines = s.logs.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let selected: Vec<&LogLine> = lines
            .iter()
            .filter(|l| since.is_none_or(|t| l.time >= t))
            .collect();
        let skip = tail.map_or(0, |n| selected.len().saturating_sub(n));
        let mut body = Vec::new();
        for l in &selected[skip..] {
            body.extend(render(l));
        }
        (body, lines.len())
    };
    let mut cut = shared.lock().cut_log_after.take();
    start_chunked(sock, "text/plain").await?;
    let mut write = |data: Vec<u8>| -> (Vec<u8>, bool) {
        match cut.as_mut() {
            Some(left) if data.len() >= *left => {
                let part = data[..*left].to_vec();
                (part, true)
            }
            Some(left) => {
                *left -= data.len();
                (data, false)
            }
            None => (data, false),
        }
    };
    for piece in initial.chunks(32 * 1024) {
        let (data, stop) = write(piece.to_vec());
        chunk(sock, &data).await?;
        if stop {
            // Mid-line, no final chunk: the client sees a broken stream.
            return Ok(false);
        }
    }
    if !follow {
        end_chunked(sock).await?;
        return Ok(true);
    }
    loop {
        if rx.changed().await.is_err() {
            return Ok(false);
        }
        let (more, gone) = {
            let s = shared.lock();
            let lines = s.logs.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let mut body = Vec::new();
            for l in lines.iter().skip(sent) {
                body.extend(render(l));
            }
            sent = lines.len();
            (
                body,
                !s.pods.contains_key(&(ns.to_string(), name.to_string())),
            )
        };
        for piece in more.chunks(32 * 1024) {
            let (data, stop) = write(piece.to_vec());
            chunk(sock, &data).await?;
            if stop {
                return Ok(false);
            }
        }
        if gone {
            end_chunked(sock).await?;
            return Ok(false);
        }
    }
}
