//! Sharing a session with `warroom server` (`warroom --share`), and watching one.
//!
//! The UI side is [`ShareFeed`]: the terminal writer hands it each flushed frame with a
//! `try_send` on a bounded queue, so a slow or lost server never blocks a draw; what does not
//! fit is dropped and counted. An uploader task batches the frames to the server, reconnects
//! with backoff, and after any gap asks the UI for a full-screen redraw (a keyframe) so the
//! watchers' screens are whole again. The answers name who watches, for the status bar.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::{Answer, ServerClient, path_segment, with_json};
use warroom_core::protocol::{
    Empty, LiveShare, LiveShares, Recording, Recordings, StartShare, StreamEvent, StreamHeader,
    Upload, Uploaded, WatchLink,
};

/// Frames queued for the uploader at most; beyond that they are dropped and counted.
pub const QUEUE_CAPACITY: usize = 512;
/// The uploader says it is alive (and learns who watches) at least this often.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Largest batch of frame text sent in one upload.
const BATCH_BYTES: usize = 256 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// After the first frame of an upload, wait this long for more (fewer, larger uploads).
const GATHER: Duration = Duration::from_millis(40);
/// A full redraw at least this often, so a late joiner replays at most this much.
const KEYFRAME_EVERY: Duration = Duration::from_secs(30);
/// Each upload's own bound: a hung server is a lost connection, not a stuck uploader.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// One asciicast v2 event; `key` marks the start of a full-screen redraw.
#[derive(Debug)]
struct Frame {
    t: f64,
    kind: &'static str,
    data: String,
    key: bool,
}

#[derive(Default)]
struct Flags {
    /// The uploader wants a keyframe: the UI redraws the whole screen at its next draw.
    wanted: AtomicBool,
    /// The next output starts that redraw.
    next_is_key: AtomicBool,
    dropped: AtomicU64,
}

/// The UI's handle: never blocks.
#[derive(Clone)]
pub struct ShareFeed {
    tx: mpsc::Sender<Frame>,
    started: Instant,
    flags: Arc<Flags>,
}

impl ShareFeed {
    fn now(&self) -> f64 {
        (self.started.elapsed().as_micros() as f64) / 1e6
    }

    fn send(&self, frame: Frame) {
        let key = frame.key;
        if self.tx.try_send(frame).is_err() {
            self.flags.dropped.fetch_add(1, Ordering::Relaxed);
            if key {
                // The redraw is lost: watchers need another.
                self.flags.wanted.store(true, Ordering::Relaxed);
            }
        }
    }

    /// A frame the terminal just flushed.
    pub fn output(&self, bytes: &[u8]) {
        let key = self.flags.next_is_key.swap(false, Ordering::Relaxed);
        self.send(Frame {
            t: self.now(),
            kind: "o",
            data: String::from_utf8_lossy(bytes).into_owned(),
            key,
        });
    }

    pub fn marker(&self, label: &str) {
        self.send(Frame {
            t: self.now(),
            kind: "m",
            data: warroom_core::sanitize::cell(label, 300),
            key: false,
        });
    }

    pub fn resize(&self, width: u16, height: u16) {
        self.send(Frame {
            t: self.now(),
            kind: "r",
            data: format!("{width}x{height}"),
            key: false,
        });
    }

    /// True once when the uploader asks for a full-screen redraw; the UI then calls
    /// [`ShareFeed::begin_keyframe`], clears its terminal and draws.
    pub fn take_keyframe_request(&self) -> bool {
        self.flags.wanted.swap(false, Ordering::Relaxed)
    }

    pub fn begin_keyframe(&self) {
        self.flags.next_is_key.store(true, Ordering::Relaxed);
    }

    /// Frames dropped so far (queue full or server unreachable).
    pub fn dropped(&self) -> u64 {
        self.flags.dropped.load(Ordering::Relaxed)
    }
}

/// What the sharer tells the server about the session.
#[derive(Debug, Clone, Serialize)]
pub struct ShareStart {
    pub id: String,
    pub actor: String,
    pub contexts: Vec<String>,
    pub width: u16,
    pub height: u16,
    /// Who may watch (identities, `group:NAME`); `None`: any authenticated identity.
    pub watchers: Option<Vec<String>>,
}

/// A running share: the UI's feed, the status-bar text, and the uploader to stop at exit.
pub struct Sharing {
    pub feed: ShareFeed,
    pub status: watch::Receiver<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sharing {
    /// Tells the server the share ended (bounded wait), then stops the uploader.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
        self.task.abort();
    }
}

/// Starts sharing; needs a tokio runtime. Returns at once: the server is reached in the
/// background (the status bar says how it goes).
pub fn start(client: ServerClient, info: ShareStart) -> Sharing {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let flags = Arc::new(Flags::default());
    let (status_tx, status) = watch::channel(format!("shared: connecting to {}", client.display));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let feed = ShareFeed {
        tx,
        started: Instant::now(),
        flags: Arc::clone(&flags),
    };
    // The wall-clock time of the recording's time 0 (the feed's start), for the audit
    // timeline's links into the recording.
    let started = SystemTime::now();
    let task = tokio::spawn(upload_loop(
        client, info, started, rx, flags, status_tx, stopped,
    ));
    Sharing {
        feed,
        status,
        stop: Some(stop),
        task,
    }
}

/// "shared: watched by alice, bob" (always visible to the one being watched).
pub fn status_text(watchers: &[String], dropped: u64) -> String {
    let who = if watchers.is_empty() {
        "shared: nobody watching".to_string()
    } else {
        let names: Vec<String> = watchers
            .iter()
            .map(|w| warroom_core::sanitize::cell(w.split('@').next().unwrap_or(w), 40))
            .collect();
        format!("shared: watched by {}", names.join(", "))
    };
    if dropped > 0 {
        format!("{who} ({dropped} frames dropped)")
    } else {
        who
    }
}

async fn upload_loop(
    client: ServerClient,
    info: ShareStart,
    started: SystemTime,
    mut rx: mpsc::Receiver<Frame>,
    flags: Arc<Flags>,
    status: watch::Sender<String>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut registered = false;
    // Frames drawn before the first connection are superseded by its keyframe, and nobody
    // could have watched them: not counted as dropped.
    let mut ever_registered = false;
    let mut backoff = Duration::from_millis(250);
    let mut carry: Option<Frame> = None;
    let mut watchers_seen: Vec<String> = Vec::new();
    let mut keyframe_at = Instant::now();
    let drop_queued = |rx: &mut mpsc::Receiver<Frame>, carry: &mut Option<Frame>, count: bool| {
        let mut n = u64::from(carry.take().is_some());
        while rx.try_recv().is_ok() {
            n += 1;
        }
        if count {
            flags.dropped.fetch_add(n, Ordering::Relaxed);
        }
    };
    loop {
        if !registered {
            match client.start_share(&info, started).await {
                Ok(()) => {
                    registered = true;
                    backoff = Duration::from_millis(250);
                    // What was queued while away would draw on a screen the watchers lack.
                    drop_queued(&mut rx, &mut carry, ever_registered);
                    ever_registered = true;
                    flags.wanted.store(true, Ordering::Relaxed);
                    let _ = status.send(status_text(&[], flags.dropped.load(Ordering::Relaxed)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "share: server not reachable");
                    let _ = status.send(format!(
                        "shared: server unreachable, retrying ({} frames dropped)",
                        flags.dropped.load(Ordering::Relaxed)
                    ));
                    drop_queued(&mut rx, &mut carry, ever_registered);
                    tokio::select! {
                        _ = &mut stopped => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let mut batch: Vec<Frame> = Vec::new();
        match carry.take() {
            Some(f) => batch.push(f),
            None => tokio::select! {
                _ = &mut stopped => {
                    let _ = client.end_share(&info.id).await;
                    return;
                }
                f = tokio::time::timeout(HEARTBEAT, rx.recv()) => match f {
                    Ok(Some(f)) => batch.push(f),
                    Ok(None) => {
                        let _ = client.end_share(&info.id).await;
                        return;
                    }
                    Err(_) => {} // heartbeat: an empty upload
                },
            },
        }
        let mut bytes: usize = batch.iter().map(|f| f.data.len()).sum();
        let gather_until = tokio::time::Instant::now() + GATHER;
        while bytes < BATCH_BYTES && carry.is_none() {
            let f = match rx.try_recv() {
                Ok(f) => f,
                Err(_) if batch.is_empty() => break,
                Err(_) => match tokio::time::timeout_at(gather_until, rx.recv()).await {
                    Ok(Some(f)) => f,
                    _ => break,
                },
            };
            if f.key {
                // A keyframe starts its own upload: watchers start there.
                carry = Some(f);
                break;
            }
            bytes += f.data.len();
            batch.push(f);
        }
        let key = batch.first().is_some_and(|f| f.key);
        if key {
            keyframe_at = Instant::now();
        } else if keyframe_at.elapsed() >= KEYFRAME_EVERY {
            keyframe_at = Instant::now();
            flags.wanted.store(true, Ordering::Relaxed);
        }
        match client.upload(&info.id, &batch, key).await {
            Ok(watchers) => {
                if watchers.iter().any(|w| !watchers_seen.contains(w)) {
                    // Someone joined: give them a current screen instead of a long replay.
                    flags.wanted.store(true, Ordering::Relaxed);
                }
                watchers_seen.clone_from(&watchers);
                let _ = status.send(status_text(
                    &watchers,
                    flags.dropped.load(Ordering::Relaxed),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "share: upload failed; reconnecting");
                flags
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                registered = false;
            }
        }
    }
}

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// The screen size and who shares (first message).
    Header {
        width: u16,
        height: u16,
        actor: String,
        live: bool,
    },
    Output(String),
    Resize(u16, u16),
    Marker(String),
    /// The share ended (or its recording played out).
    End,
    /// A replay reached the moment asked for (seconds into the recording); later events are
    /// not shown.
    Reached(f64),
}

impl ServerClient {
    /// A sharer's call: bounded by [`UPLOAD_TIMEOUT`].
    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer, String> {
        let request = self.request_on(&self.http, method, path, &[])?;
        let request = with_json(request.timeout(UPLOAD_TIMEOUT), Some(body))?;
        match self
            .exchange(request)
            .await
            .map_err(|failure| failure.text().to_string())?
        {
            (status, answer) if status.is_success() => Ok(answer),
            (status, answer) => Err(self.refusal(status, &answer)),
        }
    }

    /// `PUT /v1/shares/{id}`: start, or resume after a reconnect.
    pub async fn start_share(&self, info: &ShareStart, started: SystemTime) -> Result<(), String> {
        let body = StartShare {
            contexts: info.contexts.clone(),
            width: info.width,
            height: info.height,
            started: Some(humantime::format_rfc3339_millis(started).to_string()),
            watchers: info.watchers.clone(),
        };
        self.send_json(
            reqwest::Method::PUT,
            &format!("v1/shares/{}", path_segment(&info.id)),
            &body,
        )
        .await
        .map(|_| ())
    }

    /// Uploads frames; answers who watches.
    async fn upload(&self, id: &str, frames: &[Frame], key: bool) -> Result<Vec<String>, String> {
        let upload = Upload {
            events: frames
                .iter()
                .map(|f| (f.t, f.kind.to_string(), f.data.clone()))
                .collect(),
            keyframe: key,
        };
        let answer = self
            .send_json(
                reqwest::Method::POST,
                &format!("v1/shares/{}/frames", path_segment(id)),
                &upload,
            )
            .await?;
        Ok(self.parse::<Uploaded>(&answer)?.watchers)
    }

    pub async fn end_share(&self, id: &str) -> Result<(), String> {
        self.send_json(
            reqwest::Method::POST,
            &format!("v1/shares/{}/end", path_segment(id)),
            &Empty {},
        )
        .await
        .map(|_| ())
    }

    /// `GET /v1/shares`: the live shared sessions.
    pub async fn shares(&self) -> Result<Vec<LiveShare>, String> {
        Ok(self.get::<LiveShares>("v1/shares", &[]).await?.shares)
    }

    /// `GET /v1/recordings`: the kept recordings (live or ended) with their start times.
    pub async fn recordings(&self) -> Result<Vec<Recording>, String> {
        Ok(self
            .get::<Recordings>("v1/recordings", &[])
            .await?
            .recordings)
    }

    /// The kept recordings' start times, for the audit timeline's links.
    pub async fn recording_starts(
        &self,
    ) -> Result<Vec<warroom_core::audit::timeline::RecordingStart>, String> {
        Ok(self
            .recordings()
            .await?
            .into_iter()
            .filter_map(|r| {
                Some(warroom_core::audit::timeline::RecordingStart {
                    started: humantime::parse_rfc3339_weak(&r.started).ok()?,
                    share_id: r.id,
                    owner: r.actor,
                })
            })
            .collect())
    }

    /// A short-lived link to watch `id` in a browser (full URL).
    pub async fn watch_link(&self, id: &str) -> Result<String, String> {
        let answer = self
            .send_json(
                reqwest::Method::POST,
                &format!("v1/shares/{}/link", path_segment(id)),
                &Empty {},
            )
            .await?;
        let link: WatchLink = self.parse(&answer)?;
        Ok(format!("{}{}", self.display, link.path))
    }

    /// Opens the watch stream of `id`; events arrive on the returned channel until it ends
    /// or breaks (the last message is then `Err` with why).
    pub async fn watch(
        &self,
        id: &str,
        from_start: bool,
    ) -> Result<mpsc::Receiver<Result<WatchEvent, String>>, String> {
        self.open_stream(id, from_start, None).await
    }

    /// Replays the recording of `id` from its start up to `at` seconds into it, then sends
    /// [`WatchEvent::Reached`] and stops: the screen as it was at that moment.
    pub async fn replay_until(
        &self,
        id: &str,
        at: f64,
    ) -> Result<mpsc::Receiver<Result<WatchEvent, String>>, String> {
        self.open_stream(id, true, Some(at)).await
    }

    async fn open_stream(
        &self,
        id: &str,
        from_start: bool,
        until: Option<f64>,
    ) -> Result<mpsc::Receiver<Result<WatchEvent, String>>, String> {
        let query = if from_start {
            vec![("from_start", "true".to_string())]
        } else {
            Vec::new()
        };
        // No overall timeout on a stream: the server writes at least every 2 s instead.
        let http = warroom_core::protocol::http_client("warroom", None)
            .map_err(|e| format!("HTTP client: {e}"))?;
        let path = format!("v1/shares/{}/stream", path_segment(id));
        let request = self.request_on(&http, reqwest::Method::GET, &path, &query)?;
        let mut response = self
            .send(request)
            .await
            .map_err(|failure| failure.text().to_string())?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(self.refusal(status, &Answer(body.to_vec())));
        }
        let (tx, rx) = mpsc::channel(256);
        let display = self.display.clone();
        tokio::spawn(async move {
            let mut parser = SseParser::default();
            loop {
                let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await;
                let chunk = match chunk {
                    Ok(Ok(Some(c))) => c,
                    Ok(Ok(None)) => {
                        let _ = tx.send(Err(format!("{display} closed the stream"))).await;
                        return;
                    }
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(format!("{display}: stream broke: {e}"))).await;
                        return;
                    }
                    Err(_) => {
                        let _ = tx
                            .send(Err(format!("{display}: the stream went silent")))
                            .await;
                        return;
                    }
                };
                for (event, data) in parser.push(&chunk) {
                    let Some((t, ev)) = parse_event(event.as_deref(), &data) else {
                        continue;
                    };
                    let ev = match (until, t) {
                        (Some(at), Some(t)) if t > at => WatchEvent::Reached(at),
                        (Some(at), None) if ev == WatchEvent::End => WatchEvent::Reached(at),
                        _ => ev,
                    };
                    let end = matches!(ev, WatchEvent::End | WatchEvent::Reached(_));
                    if tx.send(Ok(ev)).await.is_err() || end {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Server-sent events: complete messages as (event name, data).
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(Option<String>, String)> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let message: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&message);
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if !data.is_empty() || event.is_some() {
                out.push((event, data.join("\n")));
            }
        }
        out
    }
}

/// A stream message as an event, with its time into the recording (events only).
fn parse_event(event: Option<&str>, data: &str) -> Option<(Option<f64>, WatchEvent)> {
    if event == Some("done") {
        return Some((None, WatchEvent::End));
    }
    if data.starts_with('{') {
        let h: StreamHeader = serde_json::from_str(data).ok()?;
        return Some((
            None,
            WatchEvent::Header {
                width: h.cols,
                height: h.rows,
                actor: h.actor,
                live: h.live,
            },
        ));
    }
    let StreamEvent(t, kind, text) = serde_json::from_str(data).ok()?;
    Some((
        Some(t),
        match kind.as_str() {
            "o" => WatchEvent::Output(text),
            "m" => WatchEvent::Marker(text),
            "r" => {
                let (w, h) = text.split_once('x')?;
                WatchEvent::Resize(w.parse().ok()?, h.parse().ok()?)
            }
            _ => return None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_messages_split_across_chunks_are_reassembled() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"cols\":80,\"ro").is_empty());
        let got = p.push(
            b"ws\":24,\"time\":0.0,\"id\":\"s\",\"actor\":\"alice@example.com\",\"live\":true}\n\n\
              : idle\n\ndata: [0.5,\"o\",\"hi\"]\n\nevent: done\ndata: {}\n\n",
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            parse_event(got[0].0.as_deref(), &got[0].1),
            Some((
                None,
                WatchEvent::Header {
                    width: 80,
                    height: 24,
                    actor: "alice@example.com".into(),
                    live: true
                }
            ))
        );
        assert_eq!(
            parse_event(got[1].0.as_deref(), &got[1].1),
            Some((Some(0.5), WatchEvent::Output("hi".into())))
        );
        assert_eq!(
            parse_event(got[2].0.as_deref(), &got[2].1),
            Some((None, WatchEvent::End))
        );
    }

    #[test]
    fn status_names_the_watchers_without_their_domains() {
        assert_eq!(
            status_text(&["alice@example.com".into(), "bob@example.com".into()], 0),
            "shared: watched by alice, bob"
        );
        assert_eq!(
            status_text(&[], 3),
            "shared: nobody watching (3 frames dropped)"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (tx, _rx) = mpsc::channel(2);
        let feed = ShareFeed {
            tx,
            started: Instant::now(),
            flags: Arc::default(),
        };
        let started = Instant::now();
        feed.begin_keyframe();
        for _ in 0..1000 {
            feed.output(b"frame");
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(feed.dropped(), 998);
        // The keyframe went in (first), so no new one is wanted.
        assert!(!feed.take_keyframe_request());
    }
}
