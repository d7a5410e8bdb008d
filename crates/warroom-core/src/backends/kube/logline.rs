//! Log stream bytes to lines: split on newlines, read the kubelet's timestamp prefix, and
//! resume after a cut without losing or repeating a line.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// One complete line of a container log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLogLine {
    /// From the `timestamps=true` prefix; None when the server sent none.
    pub time: Option<SystemTime>,
    pub text: String,
}

/// Longest line kept whole, in bytes; the rest is cut at ingest (a 10 MB line costs 64 KiB).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Splits a byte stream into lines. A partial last line stays pending until its newline
/// arrives; if the stream ends first it is dropped here and comes back on resume.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
    /// The pending line grew past MAX_LINE_BYTES: the rest of it is skipped.
    overflow: usize,
}

impl LineSplitter {
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<RawLogLine>) {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.take(&rest[..pos]);
            out.push(self.finish());
            rest = &rest[pos + 1..];
        }
        self.take(rest);
    }

    /// Bytes of a line that has not ended yet.
    pub fn pending_len(&self) -> usize {
        self.pending.len() + self.overflow
    }

    /// Forget a partial line (the stream was cut).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.overflow = 0;
    }

    fn take(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.pending.len());
        let n = bytes.len().min(room);
        self.pending.extend_from_slice(&bytes[..n]);
        self.overflow += bytes.len() - n;
    }

    fn finish(&mut self) -> RawLogLine {
        let mut bytes = std::mem::take(&mut self.pending);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let overflow = std::mem::take(&mut self.overflow);
        let mut line = parse_line(&String::from_utf8_lossy(&bytes));
        if overflow > 0 {
            line.text
                .push_str(&format!(" … [{overflow} more bytes cut]"));
        }
        line
    }
}

/// "2026-01-01T10:00:00.123456789Z message" -> (time, message).
pub fn parse_line(line: &str) -> RawLogLine {
    if let Some((head, rest)) = line.split_once(' ')
        && head.len() >= 20
        && head.as_bytes().get(4) == Some(&b'-')
        && let Some(t) = parse_time(head)
    {
        return RawLogLine {
            time: Some(t),
            text: rest.to_string(),
        };
    }
    RawLogLine {
        time: None,
        text: line.to_string(),
    }
}

pub fn parse_time(s: &str) -> Option<SystemTime> {
    let ts: k8s_openapi::jiff::Timestamp = s.parse().ok()?;
    let nanos = ts.as_nanosecond();
    (nanos >= 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos as u64))
}

/// RFC 3339 with nanoseconds, as the kubelet writes it.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Remembers where a stream got to, so a resumed stream (sinceTime has second precision
/// and is inclusive) delivers each line exactly once.
#[derive(Debug, Default, Clone)]
pub struct ResumePoint {
    last: Option<SystemTime>,
    /// Lines already delivered with timestamp == `last`.
    seen_at_last: HashSet<String>,
    /// Replaying after a resume: lines up to `last` are checked against what was seen.
    replaying: bool,
}

impl ResumePoint {
    /// The sinceTime to resume from: `last` rounded down to the second.
    pub fn since(&self) -> Option<SystemTime> {
        let t = self.last?;
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    pub fn last(&self) -> Option<SystemTime> {
        self.last
    }

    /// A new connection starts: lines up to the resume point may come again.
    pub fn begin_resume(&mut self) {
        self.replaying = self.last.is_some();
    }

    /// Should this line be delivered? Records it when it is.
    pub fn accept(&mut self, line: &RawLogLine) -> bool {
        let Some(t) = line.time else {
            // No timestamp: nothing to deduplicate against.
            return !self.replaying;
        };
        if self.replaying
            && let Some(last) = self.last
        {
            if t < last {
                return false;
            }
            if t == last {
                return self.seen_at_last.insert(line.text.clone());
            }
            self.replaying = false;
        }
        match self.last {
            Some(last) if t == last => {
                self.seen_at_last.insert(line.text.clone());
            }
            Some(last) if t < last => {}
            _ => {
                self.last = Some(t);
                self.seen_at_last.clear();
                self.seen_at_last.insert(line.text.clone());
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> (Vec<RawLogLine>, LineSplitter) {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        (out, s)
    }

    #[test]
    fn splits_across_chunks_and_reads_timestamps() {
        let (out, s) = lines(&[
            b"2026-01-01T10:00:00.5Z hel",
            b"lo\n2026-01-01T10:00:01Z bye\r\npart",
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, "hello");
        assert_eq!(out[1].text, "bye");
        assert_eq!(
            format_time(out[0].time.expect("t")),
            "2026-01-01T10:00:00.500000000Z"
        );
        assert_eq!(s.pending_len(), 4);
    }

    #[test]
    fn a_huge_line_is_cut_at_ingest() {
        let big = vec![b'x'; 10 * 1024 * 1024];
        let (out, _) = lines(&[&big, b"\n"]);
        assert!(out[0].text.len() < MAX_LINE_BYTES + 100);
        assert!(out[0].text.ends_with("more bytes cut]"));
    }

    #[test]
    fn resume_skips_what_was_delivered_at_the_same_second() {
        let mut r = ResumePoint::default();
        let a = parse_line("2026-01-01T10:00:00.1Z a");
        let b = parse_line("2026-01-01T10:00:00.2Z b");
        let b2 = parse_line("2026-01-01T10:00:00.2Z b2");
        let c = parse_line("2026-01-01T10:00:00.3Z c");
        assert!(r.accept(&a) && r.accept(&b));
        assert_eq!(
            r.since().map(format_time).as_deref(),
            Some("2026-01-01T10:00:00.000000000Z")
        );
        r.begin_resume();
        assert!(!r.accept(&a));
        assert!(!r.accept(&b));
        assert!(r.accept(&b2));
        assert!(r.accept(&c));
        assert!(r.accept(&parse_line("2026-01-01T10:00:00.3Z c again")));
    }
}
