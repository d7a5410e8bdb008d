//! `--record FILE`: an asciicast v2 recording of the session (playable with asciinema), with
//! the actions taken as markers. A background thread writes the file so the UI never waits
//! on the disk. The queue to it is bounded: when the disk stalls, frames are dropped (never
//! queued without limit) and the recording gets a marker saying how many.
//!
//! The file is private (0600): it holds whatever the screen showed.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

enum Event {
    Output(f64, Vec<u8>),
    Marker(f64, String),
    Resize(f64, u16, u16),
}

/// A handle for markers and resizes; `writer()` gives the tee for the terminal.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::SyncSender<Event>,
    started: Instant,
    /// Events dropped because the queue was full, not yet reported in the file.
    dropped: Arc<AtomicU64>,
}

/// Events queued for the writer thread at most; beyond that they are dropped and counted.
pub const QUEUE_CAPACITY: usize = 256;

/// Joins the writer thread, so the file is complete when the program exits.
pub struct RecordingDone(JoinHandle<io::Result<()>>);

impl RecordingDone {
    pub fn wait(self) -> io::Result<()> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("recording thread panicked")))
    }
}

impl Recorder {
    /// Create the file and write the header now, so a bad path fails before the TUI starts.
    pub fn create(path: &Path, width: u16, height: u16) -> io::Result<(Recorder, RecordingDone)> {
        let mut file = io::BufWriter::new(warroom_core::private_fs::open_private(path, false)?);
        let header = serde_json::json!({
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "title": "warroom session",
            "env": {"TERM": std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into())},
        });
        writeln!(file, "{header}")?;
        file.flush()?;
        let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer_dropped = Arc::clone(&dropped);
        let started = Instant::now();
        let handle = std::thread::spawn(move || -> io::Result<()> {
            let report_dropped = |file: &mut io::BufWriter<std::fs::File>, t: f64| {
                let n = writer_dropped.swap(0, Ordering::Relaxed);
                if n == 0 {
                    return Ok(());
                }
                let label =
                    format!("warroom: {n} recording event(s) dropped: the disk did not keep up");
                writeln!(file, "{}", serde_json::json!([t, "m", label]))
            };
            for event in rx {
                let t = match &event {
                    Event::Output(t, _) | Event::Marker(t, _) | Event::Resize(t, _, _) => *t,
                };
                report_dropped(&mut file, t)?;
                let line = match event {
                    Event::Output(t, bytes) => {
                        serde_json::json!([t, "o", String::from_utf8_lossy(&bytes)])
                    }
                    Event::Marker(t, label) => serde_json::json!([t, "m", label]),
                    Event::Resize(t, w, h) => serde_json::json!([t, "r", format!("{w}x{h}")]),
                };
                writeln!(file, "{line}")?;
                file.flush()?;
            }
            report_dropped(&mut file, started.elapsed().as_secs_f64())?;
            file.flush()
        });
        Ok((
            Recorder {
                tx,
                started,
                dropped,
            },
            RecordingDone(handle),
        ))
    }

    fn now(&self) -> f64 {
        // Microsecond resolution keeps events strictly ordered and readable.
        (self.started.elapsed().as_micros() as f64) / 1e6
    }

    pub fn marker(&self, label: &str) {
        let label = warroom_core::sanitize::cell(label, 300);
        self.send(Event::Marker(self.now(), label));
    }

    pub fn resize(&self, width: u16, height: u16) {
        self.send(Event::Resize(self.now(), width, height));
    }

    fn output(&self, bytes: Vec<u8>) {
        self.send(Event::Output(self.now(), bytes));
    }

    /// Never blocks the UI: a full queue (stalled disk) drops the event and counts it.
    fn send(&self, event: Event) {
        if let Err(mpsc::TrySendError::Full(_)) = self.tx.try_send(event) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped so far and not yet reported in the file.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The terminal's writer: everything goes to `inner`, and with a recorder a copy of each
/// flushed frame goes to the recording.
pub struct TeeWriter<W: Write> {
    inner: W,
    recorder: Option<Recorder>,
    /// `--share`: each flushed frame also goes to the server (never blocking).
    share: Option<warroom_client::share::ShareFeed>,
    pending: Vec<u8>,
}

impl<W: Write> TeeWriter<W> {
    pub fn new(inner: W, recorder: Option<Recorder>) -> Self {
        TeeWriter {
            inner,
            recorder,
            share: None,
            pending: Vec::new(),
        }
    }

    pub fn sharing(mut self, share: Option<warroom_client::share::ShareFeed>) -> Self {
        self.share = share;
        self
    }
}

impl<W: Write> Write for TeeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.recorder.is_some() || self.share.is_some() {
            self.pending.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(s) = &self.share {
            s.output(&self.pending);
        }
        match &self.recorder {
            Some(r) => r.output(std::mem::take(&mut self.pending)),
            None => self.pending.clear(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_is_asciicast_v2_with_ordered_events_and_markers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.cast");
        let (rec, done) = Recorder::create(&path, 80, 24).expect("create");
        {
            let mut tee = TeeWriter::new(Vec::new(), Some(rec.clone()));
            tee.write_all(b"\x1b[2Jhello").expect("write");
            tee.flush().expect("flush");
            rec.marker("terminate backend 4242: done");
            rec.resize(100, 30);
            tee.write_all("wörld".as_bytes()).expect("write");
            tee.flush().expect("flush");
        }
        drop(rec);
        done.wait().expect("writer");
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines = text.lines();
        let header: serde_json::Value =
            serde_json::from_str(lines.next().expect("header")).expect("json");
        assert_eq!(header["version"], 2);
        assert_eq!(
            (header["width"].as_u64(), header["height"].as_u64()),
            (Some(80), Some(24))
        );
        let events: Vec<serde_json::Value> = lines
            .map(|l| serde_json::from_str(l).expect("event"))
            .collect();
        let codes: Vec<&str> = events.iter().filter_map(|e| e[1].as_str()).collect();
        assert_eq!(codes, ["o", "m", "r", "o"]);
        let times: Vec<f64> = events.iter().filter_map(|e| e[0].as_f64()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(events[0][2], "\u{1b}[2Jhello");
        assert_eq!(events[1][2], "terminate backend 4242: done");
        assert_eq!(events[3][2], "wörld");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the recording is private");
    }

    /// A stalled disk: the recording is a FIFO whose reader does not read. The UI side must not
    /// block or queue without bound; dropped frames are counted in a marker once it drains.
    #[test]
    fn stalled_disk_drops_frames_with_a_counted_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stalled.cast");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo (coreutils) must be installed");
        assert!(status.success());
        let (go, wait) = mpsc::channel::<()>();
        let reader_path = path.clone();
        let reader = std::thread::spawn(move || {
            let mut f = std::fs::File::open(&reader_path).expect("open fifo");
            let _ = wait.recv(); // the disk is stalled until told otherwise
            let mut all = String::new();
            io::Read::read_to_string(&mut f, &mut all).expect("read fifo");
            all
        });
        let (rec, done) = Recorder::create(&path, 80, 24).expect("create");
        // Frames larger than a pipe's buffer: the writer blocks on the first ones.
        const FRAMES: u64 = 2_000;
        let frame = vec![b'x'; 64 * 1024];
        let started = Instant::now();
        {
            let mut tee = TeeWriter::new(io::sink(), Some(rec.clone()));
            for _ in 0..FRAMES {
                tee.write_all(&frame).expect("write");
                tee.flush().expect("flush");
            }
        }
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(10),
            "the UI waited: {took:?}"
        );
        let dropped = rec.dropped();
        drop(rec);
        go.send(()).expect("unstall");
        done.wait().expect("writer");
        let text = reader.join().expect("reader");
        let outputs = text.lines().filter(|l| l.contains("\"o\"")).count() as u64;
        // The drops are reported in markers (one per stretch of drops), with their counts.
        let reported: u64 = text
            .lines()
            .filter_map(|l| {
                l.split("warroom: ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        // Every frame is either in the file or counted as dropped; at most the queue's worth
        // (and what the pipe held) was kept while the disk was stalled.
        assert!(
            dropped > 0 && reported >= dropped,
            "{reported} reported, {dropped} dropped"
        );
        assert_eq!(
            outputs + reported,
            FRAMES,
            "{outputs} written, {reported} reported"
        );
        assert!(
            outputs <= QUEUE_CAPACITY as u64 + 64,
            "{outputs} frames were queued"
        );
    }
}
