//! `--record FILE`: an asciicast v2 recording of the session (playable with asciinema), with
//! the actions taken as markers. A background thread writes the file so the UI never waits
//! on the disk.

use std::io::{self, Write};
use std::path::Path;
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
    tx: mpsc::Sender<Event>,
    started: Instant,
}

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
        let mut file = io::BufWriter::new(std::fs::File::create(path)?);
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
        let (tx, rx) = mpsc::channel::<Event>();
        let handle = std::thread::spawn(move || -> io::Result<()> {
            for event in rx {
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
            file.flush()
        });
        Ok((
            Recorder {
                tx,
                started: Instant::now(),
            },
            RecordingDone(handle),
        ))
    }

    fn now(&self) -> f64 {
        // Microsecond resolution keeps events strictly ordered and readable.
        (self.started.elapsed().as_micros() as f64) / 1e6
    }

    pub fn marker(&self, label: &str) {
        let label = crate::widgets::sanitize::cell(label, 300);
        let _ = self.tx.send(Event::Marker(self.now(), label));
    }

    pub fn resize(&self, width: u16, height: u16) {
        let _ = self.tx.send(Event::Resize(self.now(), width, height));
    }

    fn output(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(Event::Output(self.now(), bytes));
    }
}

/// The terminal's writer: everything goes to `inner`, and with a recorder a copy of each
/// flushed frame goes to the recording.
pub struct TeeWriter<W: Write> {
    inner: W,
    recorder: Option<Recorder>,
    pending: Vec<u8>,
}

impl<W: Write> TeeWriter<W> {
    pub fn new(inner: W, recorder: Option<Recorder>) -> Self {
        TeeWriter {
            inner,
            recorder,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for TeeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.recorder.is_some() {
            self.pending.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        if let Some(r) = &self.recorder
            && !self.pending.is_empty()
        {
            r.output(std::mem::take(&mut self.pending));
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
    }
}
