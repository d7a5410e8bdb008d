//! The Logs pane: follow one container, a pod or a workload; a buffer bounded in bytes with
//! an exact dropped-lines counter; regex filter and highlight; JSON lines as level +
//! message; wrap, timestamps, prefix; pause with an "N new lines" marker; save to a file.

pub mod buffer;
pub mod command;
mod render;
mod session;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use regex::Regex;

use crate::keymap::{KeyAction, Scope};
use crate::panes::pods::LogTarget;
use warroom_core::backends::kube::{LogBatch, LogSelection, StreamNote, Termination};
use warroom_core::sanitize;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::Ctx;
use super::{Effect, Pane, PaneId, PaneMeta, PaneMsg, PaneStatus};
pub use buffer::{JsonView, LogBuffer, LogEntry};

/// How a stream is doing, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    Live,
    Resumed(u32),
    Ended,
    Failed(String),
}

pub struct LogsPane {
    buffer: LogBuffer,
    session: u64,
    context: Option<String>,
    title: Option<String>,
    /// What the session follows: pods, containers, since, tail.
    follows: String,
    /// The last `:logs` lookup asked for; an older answer is ignored.
    lookup: u64,
    lookup_pending: bool,
    /// The lookup of a focused service's logs: follow them without showing this pane.
    quiet_lookup: Option<u64>,
    /// The context and `:logs` selection of this session (None: opened from the Pods pane).
    selection: Option<(String, LogSelection)>,
    termination: Option<Termination>,
    previous: bool,
    last_batch: Option<std::time::Instant>,
    streams: BTreeMap<String, StreamState>,
    /// None: following the tail. Some(b): paused; lines with seq < b are the ones that were
    /// there (the last of them at the bottom), later ones are "new".
    paused_at: Option<u64>,
    wrap: bool,
    timestamps: bool,
    json_fields: bool,
    prefix: bool,
    filter: String,
    filter_error: Option<String>,
    save_dir: Option<PathBuf>,
    page: Cell<usize>,
}

const META: PaneMeta = PaneMeta {
    id: PaneId::Logs,
    scope: Scope::Logs,
    keys: &[
        KeyAction::LogsFollow,
        KeyAction::LogsPrevious,
        KeyAction::Filter,
        KeyAction::LogsWrap,
        KeyAction::LogsTimestamps,
        KeyAction::LogsJsonFields,
        KeyAction::LogsPrefix,
        KeyAction::LogsSave,
        KeyAction::LogsClear,
        KeyAction::Up,
        KeyAction::Down,
        KeyAction::PageUp,
        KeyAction::PageDown,
        KeyAction::Top,
        KeyAction::Bottom,
    ],
    hints: HINTS,
};

const HINTS: &[KeyAction] = &[
    KeyAction::LogsFollow,
    KeyAction::Filter,
    KeyAction::LogsWrap,
    KeyAction::LogsTimestamps,
    KeyAction::LogsSave,
];

impl LogsPane {
    pub fn new(buffer_bytes: usize) -> LogsPane {
        LogsPane {
            buffer: LogBuffer::new(buffer_bytes),
            session: 0,
            context: None,
            title: None,
            follows: String::new(),
            lookup: 0,
            lookup_pending: false,
            quiet_lookup: None,
            selection: None,
            termination: None,
            previous: false,
            last_batch: None,
            streams: BTreeMap::new(),
            paused_at: None,
            wrap: false,
            timestamps: false,
            json_fields: false,
            prefix: false,
            filter: String::new(),
            filter_error: None,
            save_dir: None,
            page: Cell::new(20),
        }
    }

    /// Where `save` writes (default: the state directory, else the temp directory).
    pub fn with_save_dir(mut self, dir: PathBuf) -> LogsPane {
        self.save_dir = Some(dir);
        self
    }

    pub fn buffer(&self) -> &LogBuffer {
        &self.buffer
    }

    pub fn session(&self) -> u64 {
        self.session
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// "2 pods in shop · container app · since 10m · tail 5".
    pub fn follows(&self) -> &str {
        &self.follows
    }

    /// A `:logs` lookup starts: its id tags the answer.
    pub fn begin_lookup(&mut self) -> u64 {
        self.lookup += 1;
        self.lookup_pending = true;
        self.lookup
    }

    /// True when `id` is the lookup still awaited (a newer one, or a session opened
    /// meanwhile with `l`/`w`, makes it stale).
    pub fn finish_lookup(&mut self, id: u64) -> bool {
        let current = self.lookup_pending && id == self.lookup;
        if current {
            self.lookup_pending = false;
        }
        current
    }

    /// Open a session for a resolved `:logs` selection (so `p` can toggle its --previous).
    pub fn open_selection(&mut self, target: &LogTarget, selection: LogSelection) -> u64 {
        let session = self.open(target);
        self.selection = Some((target.context.clone(), selection));
        session
    }

    /// The session's `:logs` selection with --previous switched, if it came from `:logs`.
    pub fn selection_toggled_previous(&self) -> Option<(String, LogSelection)> {
        let (context, selection) = self.selection.as_ref()?;
        let mut s = selection.clone();
        s.previous = !s.previous;
        Some((context.clone(), s))
    }

    pub fn streams(&self) -> &BTreeMap<String, StreamState> {
        &self.streams
    }

    /// The session shows a previous (terminated) container's log.
    pub fn showing_previous(&self) -> bool {
        self.previous
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    pub fn options(&self) -> (bool, bool, bool, bool) {
        (self.wrap, self.timestamps, self.json_fields, self.prefix)
    }

    /// Start a new session for `target`: a fresh buffer; the returned id tags its batches.
    pub fn open(&mut self, target: &LogTarget) -> u64 {
        self.session += 1;
        self.buffer = LogBuffer::new(self.buffer.cap());
        let filter = self.buffer_filter();
        self.buffer.set_filter(filter);
        self.context = Some(target.context.clone());
        self.title = Some(target.title.clone());
        self.follows = command::describe(&target.requests);
        self.lookup_pending = false;
        self.selection = None;
        self.termination = target.termination.clone();
        self.previous = target.requests.iter().any(|r| r.previous);
        self.streams = target
            .requests
            .iter()
            .map(|r| {
                (
                    format!("{}/{}", r.pod.name, r.container.as_deref().unwrap_or("")),
                    StreamState::Live,
                )
            })
            .collect();
        self.prefix = target.requests.len() > 1;
        self.paused_at = None;
        self.session
    }

    fn buffer_filter(&self) -> Option<Regex> {
        (!self.filter.is_empty())
            .then(|| Regex::new(&self.filter).ok())
            .flatten()
    }

    pub fn apply(&mut self, batch: LogBatch) {
        if batch.session != self.session {
            return;
        }
        self.last_batch = Some(std::time::Instant::now());
        self.buffer.add_undelivered(batch.undelivered);
        let label = batch.source.label();
        let src = self.buffer.source_index(&label);
        for l in &batch.lines {
            self.buffer.push(src, l.time, &l.text, false);
        }
        let Some(note) = batch.note else { return };
        let state = self
            .streams
            .entry(label.clone())
            .or_insert(StreamState::Live);
        let text = match note {
            StreamNote::Resumed { from } => {
                let n = match state {
                    StreamState::Resumed(n) => *n + 1,
                    _ => 1,
                };
                *state = StreamState::Resumed(n);
                format!(
                    "── {label}: stream broke, resumed from {} (lines already shown are skipped)",
                    from.map_or("the start".into(), |t| humantime::format_rfc3339_millis(t)
                        .to_string())
                )
            }
            StreamNote::Ended => {
                *state = StreamState::Ended;
                match &self.termination {
                    Some(t) if batch.source.container == t.container => format!(
                        "── previous container {} ended: {} at {}",
                        t.container,
                        t.label(),
                        t.finished_at.map_or("(unknown time)".into(), |f| {
                            humantime::format_rfc3339_seconds(f).to_string()
                        })
                    ),
                    _ => format!("── {label}: stream ended"),
                }
            }
            StreamNote::Failed(e) => {
                *state = StreamState::Failed(e.clone());
                format!("── {label}: {e}")
            }
        };
        self.buffer.push(src, Some(SystemTime::now()), &text, true);
    }

    /// Position of the paused bottom line among the visible lines.
    pub fn bottom_index(&self) -> Option<usize> {
        let len = self.buffer.visible_len();
        if len == 0 {
            return None;
        }
        match self.paused_at {
            None => Some(len - 1),
            // When the paused lines were evicted meanwhile, the oldest one left is shown.
            Some(b) => Some(self.position_of(b).unwrap_or(0).saturating_sub(1)),
        }
    }

    /// Visible lines that arrived after the pause (or after the line scrolled to).
    pub fn new_since_pause(&self) -> usize {
        match self.paused_at {
            Some(b) => self.buffer.visible_len() - self.position_of(b).unwrap_or(0),
            None => 0,
        }
    }

    /// How many visible lines have a seq below `seq`.
    fn position_of(&self, seq: u64) -> Option<usize> {
        // Visible seqs are increasing: binary search.
        let (mut lo, mut hi) = (0, self.buffer.visible_len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let s = self.buffer.visible(mid)?.seq;
            if s < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    fn scroll(&mut self, delta: isize) {
        let Some(bottom) = self.bottom_index() else {
            return;
        };
        let len = self.buffer.visible_len();
        let target = (bottom as isize + delta).clamp(0, len as isize - 1) as usize;
        if delta > 0 && target + 1 >= len {
            self.paused_at = None;
            return;
        }
        self.paused_at = self.buffer.visible(target).map(|e| e.seq + 1);
    }

    pub(crate) fn set_page(&self, rows: usize) {
        self.page.set(rows.max(1));
    }

    /// Where to save the buffer and what to write: every buffered line, after a line saying how
    /// many were dropped. The runtime writes it, off the UI task.
    pub fn save_request(&self) -> (PathBuf, String) {
        let dir = self
            .save_dir
            .clone()
            .or_else(|| warroom_core::config::state_dir().map(|d| d.join("logs")))
            .unwrap_or_else(std::env::temp_dir);
        let name: String = self
            .title
            .as_deref()
            .unwrap_or("logs")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(':', "");
        let path = dir.join(format!("{name}-{stamp}.log"));
        let mut out = String::with_capacity(self.buffer.bytes());
        if self.buffer.dropped() > 0 {
            out.push_str(&format!(
                "# {} earlier line(s) were dropped ({} evicted from the buffer, {} not delivered)\n",
                self.buffer.dropped(),
                self.buffer.evicted(),
                self.buffer.undelivered()
            ));
        }
        for e in self.buffer.entries() {
            if let Some(t) = e.time {
                out.push_str(&humantime::format_rfc3339_nanos(t).to_string());
                out.push(' ');
            }
            out.push_str(self.buffer.source_label(e.source));
            out.push(' ');
            out.push_str(&e.text);
            out.push('\n');
        }
        (path, out)
    }
}

impl Pane for LogsPane {
    fn meta(&self) -> &'static PaneMeta {
        &META
    }
    fn on_action(&mut self, action: KeyAction) -> Vec<Effect> {
        let page = self.page.get() as isize;
        match action {
            KeyAction::Up => self.scroll(-1),
            KeyAction::Down => self.scroll(1),
            KeyAction::PageUp => self.scroll(-page),
            KeyAction::PageDown => self.scroll(page),
            KeyAction::Top => self.scroll(isize::MIN / 2),
            KeyAction::Bottom => self.paused_at = None,
            KeyAction::LogsFollow => {
                if self.paused_at.is_some() {
                    self.paused_at = None;
                } else {
                    // Everything there now is "seen"; what comes next is counted.
                    self.paused_at = Some(self.buffer.total());
                }
            }
            KeyAction::LogsWrap => self.wrap = !self.wrap,
            KeyAction::LogsTimestamps => self.timestamps = !self.timestamps,
            KeyAction::LogsJsonFields => self.json_fields = !self.json_fields,
            KeyAction::LogsPrefix => self.prefix = !self.prefix,
            KeyAction::LogsClear => {
                self.buffer.clear();
                self.paused_at = None;
            }
            KeyAction::LogsPrevious => return self.toggle_previous(),
            KeyAction::LogsSave => {
                let (path, contents) = self.save_request();
                return vec![Effect::WriteFile {
                    path,
                    contents,
                    what: format!("{} lines", self.buffer.len()),
                }];
            }
            _ => return Vec::new(),
        }
        Vec::new()
    }
    fn filter(&self) -> &str {
        &self.filter
    }
    fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_string();
        if filter.is_empty() {
            self.filter_error = None;
            self.buffer.set_filter(None);
        } else {
            match Regex::new(filter) {
                Ok(re) => {
                    self.filter_error = None;
                    self.buffer.set_filter(Some(re));
                }
                Err(e) => {
                    self.filter_error = Some(format!(
                        "not a regular expression: {}",
                        sanitize::cell(&e.to_string(), 120)
                    ));
                    self.buffer.set_filter(None);
                }
            }
        }
        // The paused line may not be visible any more: follow again.
        self.paused_at = None;
    }
    fn status(&self) -> PaneStatus {
        PaneStatus {
            context: self.context.clone(),
            last_refresh: self.last_batch,
            error: self.filter_error.clone(),
            note: Some(format!(
                "{} lines · {} dropped",
                self.buffer.len(),
                self.buffer.dropped()
            )),
        }
    }
    fn render(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        render::draw(self, frame, area, ctx);
    }
    fn update(&mut self, msg: PaneMsg) -> Vec<Effect> {
        self.on_msg(msg)
    }
    /// Never blank when there is something to follow: opened with nothing chosen, it
    /// follows the pod selected in the Pods pane.
    fn on_shown(&mut self) -> Vec<Effect> {
        if self.title.is_some() || self.lookup_pending {
            return Vec::new();
        }
        vec![Effect::Send(PaneId::Pods, PaneMsg::FollowSelected)]
    }
    fn explain(&self) -> Vec<String> {
        vec![
            "The log tail of a container, a pod or a workload (a colour per pod). JSON lines show their level and message; J shows every field. / filters with a regular expression and highlights the matches.".to_string(),
            "The buffer keeps a bounded number of bytes: when it is full the oldest lines leave, and the header counts them (evicted), as well as lines the screen could not take in time (not delivered). Nothing disappears without being counted.".to_string(),
            "Scrolling up (or f) pauses: new lines keep arriving and are counted in the marker at the bottom; G or f follows again. ctrl-s saves what the buffer holds to a file for the postmortem.".to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::kube::{LogRequest, LogSource, RawLogLine};

    fn pane(dir: &std::path::Path) -> (LogsPane, u64) {
        let mut p = LogsPane::new(4096).with_save_dir(dir.to_path_buf());
        let session = p.open(&LogTarget {
            context: "k".into(),
            title: "api/app".into(),
            requests: vec![LogRequest {
                pod: warroom_core::backends::kube::PodKey {
                    namespace: "ns".into(),
                    name: "api".into(),
                },
                container: Some("app".into()),
                previous: false,
                follow: true,
                since: None,
                tail_lines: None,
            }],
            termination: None,
        });
        (p, session)
    }

    fn batch(session: u64, lines: &[&str], undelivered: u64) -> LogBatch {
        LogBatch {
            session,
            source: LogSource {
                namespace: "ns".into(),
                pod: "api".into(),
                container: "app".into(),
            },
            lines: lines
                .iter()
                .map(|t| RawLogLine {
                    time: None,
                    text: t.to_string(),
                })
                .collect(),
            undelivered,
            note: None,
        }
    }

    #[test]
    fn save_writes_the_buffer_and_says_what_was_dropped() {
        let dir = std::env::temp_dir().join(format!("warroom-logs-{}", std::process::id()));
        let (mut p, s) = pane(&dir);
        let many: Vec<String> = (0..200).map(|i| format!("line {i:03}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        p.apply(batch(s, &refs, 7));
        let (path, contents) = p.save_request();
        assert!(path.starts_with(&dir));
        crate::panes::write_file(&path, &contents).expect("saved");
        let text = std::fs::read_to_string(&path).expect("read");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!(
                "{} earlier line(s) were dropped",
                p.buffer().dropped()
            )),
            "{first}"
        );
        assert!(first.contains("7 not delivered"), "{first}");
        assert!(text.ends_with("api/app line 199\n"), "{text}");
        assert_eq!(text.lines().count(), p.buffer().len() + 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scrolling_back_pauses_and_counts_new_lines_exactly() {
        let (mut p, s) = pane(&std::env::temp_dir());
        let lines: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        p.apply(batch(s, &refs, 0));
        p.on_action(KeyAction::Up);
        p.on_action(KeyAction::Up);
        assert!(p.is_paused());
        assert_eq!(p.bottom_index(), Some(7));
        assert_eq!(p.new_since_pause(), 2, "the two lines below the view");
        p.apply(batch(s, &["n1", "n2", "n3"], 0));
        assert_eq!(p.new_since_pause(), 5);
        assert_eq!(p.bottom_index(), Some(7), "the view does not move");
        p.on_action(KeyAction::PageDown);
        assert!(!p.is_paused(), "scrolling to the end follows again");
    }

    #[test]
    fn a_bad_regex_says_so_and_shows_everything() {
        let dir = std::env::temp_dir();
        let (mut p, s) = pane(&dir);
        p.apply(batch(s, &["a", "b"], 0));
        p.set_filter("(");
        assert!(
            p.status()
                .error
                .is_some_and(|e| e.contains("not a regular expression"))
        );
        assert_eq!(p.buffer().visible_len(), 2);
        p.set_filter("b");
        assert_eq!(p.buffer().visible_len(), 1);
    }
}
