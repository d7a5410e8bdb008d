//! Kubernetes workers: a pod watch per context and scope (list once, then watch; resume
//! from the last resourceVersion, relist on 410 Gone), and one task per log stream (resume
//! from the last timestamp after a cut, never a duplicate; count what the App could not take).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::workers::Event;
use warroom_core::backends::kube::{
    KubeError, KubeSource, LineSplitter, LogBatch, LogRequest, LogSelection, LogSource, PodChange,
    PodFeed, PodScope, RawLogLine, ResumePoint, Since, StreamNote,
};

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Watch the pods of `scopes` on `context` while `active` is true. Each scope has its own
/// list-then-watch loop; the task ends when the control sender or the App is gone.
pub fn spawn_pods(
    context: String,
    source: Arc<dyn KubeSource>,
    scopes: Vec<PodScope>,
    tx: mpsc::Sender<Event>,
    control: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    scopes
        .into_iter()
        .map(|scope| {
            let (context, source, tx, control) =
                (context.clone(), source.clone(), tx.clone(), control.clone());
            tokio::spawn(watch_scope(context, source, scope, tx, control))
        })
        .collect()
}

async fn watch_scope(
    context: String,
    source: Arc<dyn KubeSource>,
    scope: PodScope,
    tx: mpsc::Sender<Event>,
    mut control: watch::Receiver<bool>,
) {
    let send = |feed: PodFeed| {
        let tx = tx.clone();
        let context = context.clone();
        async move { tx.send(Event::KubePods { context, feed }).await.is_ok() }
    };
    // The version to resume from; None: list first.
    let mut version: Option<String> = None;
    let mut backoff = BACKOFF_START;
    loop {
        if !*control.borrow_and_update() {
            // Hidden pane: no watch open on the API server.
            if control.changed().await.is_err() {
                return;
            }
            continue;
        }
        let rv = match &version {
            Some(v) => v.clone(),
            None => match source.list_pods(&scope).await {
                Ok(list) => {
                    let rv = list.resource_version.clone();
                    if !send(PodFeed::Listed {
                        scope: scope.clone(),
                        pods: list.pods,
                    })
                    .await
                    {
                        return;
                    }
                    version = Some(rv.clone());
                    rv
                }
                Err(e) => {
                    if !broken(&send, &mut control, e, &mut backoff).await {
                        return;
                    }
                    continue;
                }
            },
        };
        let mut stream = match source.watch_pods(&scope, &rv).await {
            Ok(s) => s,
            Err(KubeError::Gone(_)) => {
                version = None;
                continue;
            }
            Err(e) => {
                if !broken(&send, &mut control, e, &mut backoff).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                changed = control.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *control.borrow() { continue; }
                    // Hidden: close the watch; resume from `version` when shown again.
                    break;
                }
            };
            match next {
                Some(Ok(change)) => {
                    backoff = BACKOFF_START;
                    let rv = match &change {
                        PodChange::Upsert(p) | PodChange::Delete(p) => p.resource_version.clone(),
                        PodChange::Bookmark(v) => v.clone(),
                    };
                    if !rv.is_empty() {
                        version = Some(rv);
                    }
                    if !matches!(change, PodChange::Bookmark(_))
                        && !send(PodFeed::Changed(change)).await
                    {
                        return;
                    }
                }
                Some(Err(KubeError::Gone(_))) => {
                    // Too old: list again; the listing replaces the scope in one step.
                    version = None;
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(%context, error = %e, "pod watch broke; resuming");
                    break;
                }
                // The server closed the watch (timeout): resume from `version`.
                None => break,
            }
        }
    }
}

/// Report a failure and wait before retrying. False when the worker should end.
async fn broken<F, Fut>(
    send: &F,
    control: &mut watch::Receiver<bool>,
    e: KubeError,
    backoff: &mut Duration,
) -> bool
where
    F: Fn(PodFeed) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let error = warroom_core::backends::BackendError::from(e);
    let wait = super::poller::retry_after(&error, backoff);
    if !send(PodFeed::Broken {
        error,
        retry_in: wait,
    })
    .await
    {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        changed = control.changed() => changed.is_ok(),
    }
}

/// List the pods a `:logs` selection names, within the context's scopes; the App resolves
/// them into log requests and follows them like `l` or `w` would.
pub fn spawn_log_lookup(
    id: u64,
    context: String,
    source: Arc<dyn KubeSource>,
    scopes: Vec<PodScope>,
    selection: LogSelection,
    tx: mpsc::Sender<Event>,
) {
    super::spawn_answer(tx, async move {
        let mut pods = Vec::new();
        let mut result = Ok(());
        for scope in selection.scopes(&scopes) {
            match source.list_pods(&scope).await {
                Ok(list) => pods.extend(list.pods),
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            }
        }
        let result = result.map(|()| pods);
        Event::KubeLogsLookup {
            id,
            context,
            selection,
            result,
        }
    });
}

/// Lines per batch, and the longest a line waits before it is sent.
const BATCH_LINES: usize = 512;
const BATCH_WAIT: Duration = Duration::from_millis(40);

/// Stream one container's log to the App until the stream ends (not following), the task
/// is aborted, or the App is gone.
pub fn spawn_log(
    session: u64,
    source: Arc<dyn KubeSource>,
    request: LogRequest,
    container: String,
    tx: mpsc::Sender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(stream_log(session, source, request, container, tx))
}

struct Outbox {
    session: u64,
    source: LogSource,
    tx: mpsc::Sender<Event>,
    pending: Vec<RawLogLine>,
    undelivered: u64,
    last_flush: Instant,
}

impl Outbox {
    /// Never waits: when the App's channel is full the lines are counted, not queued.
    fn flush(&mut self) -> bool {
        self.last_flush = Instant::now();
        if self.pending.is_empty() && self.undelivered == 0 {
            return true;
        }
        let lines = std::mem::take(&mut self.pending);
        let n = lines.len() as u64;
        let batch = self.batch(lines, None);
        match self.tx.try_send(Event::KubeLogs(batch)) {
            Ok(()) => {
                self.undelivered = 0;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.undelivered += n;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Notes (and the final count) wait for room: they must arrive.
    async fn note(&mut self, note: StreamNote) -> bool {
        let lines = std::mem::take(&mut self.pending);
        let batch = self.batch(lines, Some(note));
        self.undelivered = 0;
        self.tx.send(Event::KubeLogs(batch)).await.is_ok()
    }

    fn batch(&self, lines: Vec<RawLogLine>, note: Option<StreamNote>) -> LogBatch {
        LogBatch {
            session: self.session,
            source: self.source.clone(),
            lines,
            undelivered: self.undelivered,
            note,
        }
    }
}

async fn stream_log(
    session: u64,
    source: Arc<dyn KubeSource>,
    mut request: LogRequest,
    container: String,
    tx: mpsc::Sender<Event>,
) {
    request.container = Some(container.clone());
    let mut out = Outbox {
        session,
        source: LogSource {
            namespace: request.pod.namespace.clone(),
            pod: request.pod.name.clone(),
            container,
        },
        tx,
        pending: Vec::new(),
        undelivered: 0,
        last_flush: Instant::now(),
    };
    let mut resume = ResumePoint::default();
    let mut splitter = LineSplitter::default();
    let mut backoff = BACKOFF_START;
    let mut first = true;
    loop {
        let mut req = request.clone();
        if !first {
            // After a cut: from the last timestamp seen, not the original tail/since. Before
            // any line was seen, the original request again: without its tail or since it
            // would replay the whole log.
            resume.begin_resume();
            if let Some(since) = resume.since() {
                req.tail_lines = None;
                req.since = Some(Since::Time(since));
            }
            if !out
                .note(StreamNote::Resumed {
                    from: resume.last(),
                })
                .await
            {
                return;
            }
        }
        first = false;
        let mut stream = match source.logs(&req).await {
            Ok(s) => s,
            Err(e) => {
                let fatal = matches!(e, KubeError::NotFound(_) | KubeError::Api { code: 400, .. });
                if !out.note(StreamNote::Failed(e.to_string())).await || fatal || !request.follow {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let mut lines = Vec::new();
        let ended_cleanly = loop {
            let next = tokio::time::timeout(BATCH_WAIT, stream.next()).await;
            match next {
                Err(_) => {
                    if !out.flush() {
                        return;
                    }
                    continue;
                }
                Ok(Some(Ok(chunk))) => {
                    backoff = BACKOFF_START;
                    splitter.push(&chunk, &mut lines);
                    for l in lines.drain(..) {
                        if resume.accept(&l) {
                            out.pending.push(l);
                        }
                    }
                    if (out.pending.len() >= BATCH_LINES || out.last_flush.elapsed() >= BATCH_WAIT)
                        && !out.flush()
                    {
                        return;
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::info!(error = %e, "log stream broke; resuming");
                    break false;
                }
                Ok(None) => break splitter.pending_len() == 0,
            }
        };
        // A partial last line is not shown: it comes back whole on resume.
        splitter.reset();
        if !out.flush() {
            return;
        }
        if !request.follow || request.previous {
            let _ = out.note(StreamNote::Ended).await;
            return;
        }
        // A clean end while following: the container restarted or stopped. Resume; a pod
        // that is gone answers 404 and ends the stream.
        if ended_cleanly {
            backoff = backoff.max(Duration::from_secs(1));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One Kubernetes context as the runtime serves it: where to read, which scopes to watch.
#[derive(Clone)]
pub struct KubeContext {
    pub source: Arc<dyn KubeSource>,
    pub scopes: Vec<PodScope>,
}

/// The runtime's Kubernetes tasks: a pod watch per context (switched by visibility) and the
/// log streams of the current Logs session.
#[derive(Default)]
pub struct KubeTasks {
    watches: std::collections::HashMap<String, watch::Sender<bool>>,
    logs: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for KubeTasks {
    fn drop(&mut self) {
        for h in &self.logs {
            h.abort();
        }
    }
}

/// The Kubernetes contexts the runtime knows, by name.
pub type KubeContexts = std::collections::HashMap<String, KubeContext>;

impl KubeTasks {
    /// Keep a pod watch open on `context` while `active`.
    pub fn watch(
        &mut self,
        context: String,
        active: bool,
        contexts: &KubeContexts,
        tx: &mpsc::Sender<Event>,
    ) {
        if let Some(sender) = self.watches.get(&context) {
            sender.send_if_modified(|a| std::mem::replace(a, active) != active);
        } else if active && let Some(k) = contexts.get(&context) {
            let (sender, receiver) = watch::channel(true);
            spawn_pods(
                context.clone(),
                k.source.clone(),
                k.scopes.clone(),
                tx.clone(),
                receiver,
            );
            self.watches.insert(context, sender);
        }
    }

    /// Read the events of one pod once.
    pub fn events(
        &mut self,
        context: String,
        namespace: String,
        pod: String,
        contexts: &KubeContexts,
        tx: &mpsc::Sender<Event>,
    ) {
        let Some(k) = contexts.get(&context) else {
            return;
        };
        let source = k.source.clone();
        super::spawn_answer(tx.clone(), async move {
            let result = source.pod_events(&namespace, &pod).await;
            Event::KubeEvents {
                context,
                namespace,
                pod,
                result: result.map_err(Into::into),
            }
        });
    }

    /// List the pods of a `:logs` selection (lookup `id`), or say there is no such context.
    pub fn lookup(
        &mut self,
        id: u64,
        context: String,
        selection: LogSelection,
        contexts: &KubeContexts,
        tx: &mpsc::Sender<Event>,
    ) {
        match contexts.get(&context) {
            Some(k) => spawn_log_lookup(
                id,
                context,
                k.source.clone(),
                k.scopes.clone(),
                selection,
                tx.clone(),
            ),
            None => {
                let _ = tx.try_send(Event::KubeLogsLookup {
                    id,
                    result: Err(format!("no Kubernetes context {context}").into()),
                    context,
                    selection,
                });
            }
        }
    }

    /// A new log session replaces the old one: its streams close, these open.
    pub fn follow(
        &mut self,
        session: u64,
        context: String,
        requests: Vec<LogRequest>,
        contexts: &KubeContexts,
        tx: &mpsc::Sender<Event>,
    ) {
        for h in self.logs.drain(..) {
            h.abort();
        }
        if let Some(k) = contexts.get(&context) {
            for r in requests {
                let container = r.container.clone().unwrap_or_default();
                self.logs.push(spawn_log(
                    session,
                    k.source.clone(),
                    r,
                    container,
                    tx.clone(),
                ));
            }
        }
    }
}
