//! The log buffer: bounded in bytes, with exact counters of what left it and of what never
//! reached it. Lines are sanitized and parsed (JSON) once, at ingest; a regex filter keeps
//! an index of matching lines up to date as lines come and go.

use std::collections::VecDeque;
use std::time::SystemTime;

use regex::Regex;

use warroom_core::sanitize::sanitize;

/// Characters of a line kept for display (the rest is cut at ingest, never laid out).
pub const MAX_LINE_CHARS: usize = 16 * 1024;
/// What a line costs beyond its text: the entry itself and the allocator's share of its
/// strings, so a flood of empty lines is bounded too.
const LINE_OVERHEAD: usize = std::mem::size_of::<LogEntry>() + 32;

/// A JSON log line, read as level + message + the other fields.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonView {
    pub level: Option<String>,
    pub message: String,
    /// "key=value key=value", sorted by key.
    pub fields: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub seq: u64,
    /// Index into the buffer's sources (pod/container), for colour and prefix.
    pub source: u16,
    pub time: Option<SystemTime>,
    /// Sanitized.
    pub text: String,
    pub json: Option<JsonView>,
    /// A line warroom wrote (stream resumed, container ended), not the container.
    pub system: bool,
}

impl LogEntry {
    fn cost(&self) -> usize {
        LINE_OVERHEAD
            + self.text.len()
            + self
                .json
                .as_ref()
                .map_or(0, |j| j.message.len() + j.fields.len() + 8)
    }
}

#[derive(Debug)]
pub struct LogBuffer {
    entries: VecDeque<LogEntry>,
    bytes: usize,
    cap: usize,
    next_seq: u64,
    /// Lines that left the buffer because it was full (oldest first).
    evicted: u64,
    /// Lines read from the server that never reached the buffer (a full channel).
    undelivered: u64,
    filter: Option<Regex>,
    /// Seqs of entries matching the filter, in order.
    matches: VecDeque<u64>,
    sources: Vec<String>,
}

impl LogBuffer {
    pub fn new(cap_bytes: usize) -> LogBuffer {
        LogBuffer {
            entries: VecDeque::new(),
            bytes: 0,
            cap: cap_bytes.max(4096),
            next_seq: 0,
            evicted: 0,
            undelivered: 0,
            filter: None,
            matches: VecDeque::new(),
            sources: Vec::new(),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn undelivered(&self) -> u64 {
        self.undelivered
    }

    /// Every line that is not in the buffer and was not cleared by the user.
    pub fn dropped(&self) -> u64 {
        self.evicted + self.undelivered
    }

    /// Lines ever added (container lines and warroom's own).
    pub fn total(&self) -> u64 {
        self.next_seq
    }

    pub fn add_undelivered(&mut self, n: u64) {
        self.undelivered += n;
    }

    pub fn source_index(&mut self, label: &str) -> u16 {
        match self.sources.iter().position(|s| s == label) {
            Some(i) => i as u16,
            None => {
                self.sources.push(label.to_string());
                (self.sources.len() - 1) as u16
            }
        }
    }

    pub fn source_label(&self, i: u16) -> &str {
        self.sources.get(i as usize).map_or("?", String::as_str)
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Forget every line; the counters of dropped lines stay.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.matches.clear();
        self.bytes = 0;
    }

    /// Add one raw line: sanitized, parsed, counted; the oldest lines leave while over the cap.
    pub fn push(&mut self, source: u16, time: Option<SystemTime>, raw: &str, system: bool) -> bool {
        let json = if raw.trim_start().starts_with('{') {
            parse_json(raw)
        } else {
            None
        };
        let entry = LogEntry {
            seq: self.next_seq,
            source,
            time,
            text: sanitize(raw, MAX_LINE_CHARS).into_owned(),
            json,
            system,
        };
        self.next_seq += 1;
        let matched = self.filter.as_ref().is_none_or(|re| matches(re, &entry));
        if matched && self.filter.is_some() {
            self.matches.push_back(entry.seq);
        }
        self.bytes += entry.cost();
        self.entries.push_back(entry);
        while self.bytes > self.cap && self.entries.len() > 1 {
            self.evict();
        }
        matched
    }

    fn evict(&mut self) {
        if let Some(old) = self.entries.pop_front() {
            self.bytes -= old.cost();
            self.evicted += 1;
            if self.matches.front() == Some(&old.seq) {
                self.matches.pop_front();
            }
        }
    }

    pub fn filter(&self) -> Option<&Regex> {
        self.filter.as_ref()
    }

    /// Set (or clear) the filter and rebuild the index of matching lines.
    pub fn set_filter(&mut self, filter: Option<Regex>) {
        self.matches.clear();
        if let Some(re) = &filter {
            self.matches = self
                .entries
                .iter()
                .filter(|e| matches(re, e))
                .map(|e| e.seq)
                .collect();
        }
        self.filter = filter;
    }

    /// Lines to show: the matching ones when filtering.
    pub fn visible_len(&self) -> usize {
        if self.filter.is_some() {
            self.matches.len()
        } else {
            self.entries.len()
        }
    }

    /// The i-th visible line.
    pub fn visible(&self, i: usize) -> Option<&LogEntry> {
        if self.filter.is_some() {
            let seq = *self.matches.get(i)?;
            self.by_seq(seq)
        } else {
            self.entries.get(i)
        }
    }

    fn by_seq(&self, seq: u64) -> Option<&LogEntry> {
        let first = self.entries.front()?.seq;
        self.entries
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }

    pub fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }
}

fn matches(re: &Regex, e: &LogEntry) -> bool {
    re.is_match(&e.text)
}

/// Level and message of a JSON log line; None when it is not a JSON object.
pub fn parse_json(raw: &str) -> Option<JsonView> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw).ok()?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    const LEVEL: [&str; 5] = ["level", "lvl", "severity", "levelname", "log.level"];
    const MESSAGE: [&str; 5] = ["msg", "message", "@message", "event", "log"];
    let level_key = LEVEL.iter().find(|k| v.contains_key(**k));
    let msg_key = MESSAGE.iter().find(|k| v.contains_key(**k));
    let level = level_key
        .and_then(|k| v.get(*k))
        .map(|l| sanitize(&text(l), 16).to_uppercase());
    let message = msg_key
        .and_then(|k| v.get(*k))
        .map(|m| sanitize(&text(m), MAX_LINE_CHARS).into_owned())
        .unwrap_or_default();
    let mut fields = String::new();
    for (k, val) in &v {
        if Some(&k.as_str()) == level_key || Some(&k.as_str()) == msg_key {
            continue;
        }
        if !fields.is_empty() {
            fields.push(' ');
        }
        fields.push_str(&sanitize(k, 64));
        fields.push('=');
        fields.push_str(&sanitize(&text(val), 512));
        if fields.len() > MAX_LINE_CHARS {
            break;
        }
    }
    Some(JsonView {
        level,
        message,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_bounded_in_bytes_and_counts_every_eviction() {
        let mut b = LogBuffer::new(64 * 1024);
        for i in 0..100_000 {
            b.push(0, None, &format!("line {i:06} {}", "x".repeat(50)), false);
        }
        assert!(b.bytes() <= b.cap());
        assert_eq!(b.evicted() + b.len() as u64, 100_000);
        assert_eq!(
            b.entries()
                .last()
                .map(|e| e.text.clone())
                .unwrap_or_default()[..11],
            *"line 099999"
        );
    }

    #[test]
    fn the_filter_index_follows_evictions() {
        let mut b = LogBuffer::new(8 * 1024);
        b.set_filter(Regex::new("ERROR").ok());
        for i in 0..1000 {
            let t = if i % 10 == 0 { "ERROR boom" } else { "ok" };
            b.push(0, None, &format!("{i} {t}"), false);
        }
        let shown: Vec<_> = (0..b.visible_len()).filter_map(|i| b.visible(i)).collect();
        assert!(!shown.is_empty());
        assert!(shown.iter().all(|e| e.text.contains("ERROR")));
        assert_eq!(
            shown.last().map(|e| e.text.as_str()),
            Some("990 ERROR boom")
        );
    }

    #[test]
    fn json_lines_read_as_level_and_message() {
        let j = parse_json(r#"{"level":"error","msg":"out of memory","rss_mb":2048,"pod":"w-0"}"#)
            .expect("json");
        assert_eq!(j.level.as_deref(), Some("ERROR"));
        assert_eq!(j.message, "out of memory");
        assert_eq!(j.fields, "pod=w-0 rss_mb=2048");
        assert!(parse_json("not json").is_none());
    }

    #[test]
    fn escape_sequences_never_enter_the_buffer() {
        let mut b = LogBuffer::new(1 << 20);
        b.push(0, None, "\u{1b}]0;pwned\u{07}\u{1b}[2Jhello\u{8}\r", false);
        b.push(
            0,
            None,
            r#"{"msg":"a\u001b[31mb","level":"\u001b[5mwarn"}"#,
            false,
        );
        for e in b.entries() {
            assert!(!e.text.chars().any(char::is_control), "{:?}", e.text);
            if let Some(j) = &e.json {
                assert!(!j.message.chars().any(char::is_control));
                assert!(
                    !j.level
                        .clone()
                        .unwrap_or_default()
                        .chars()
                        .any(char::is_control)
                );
            }
        }
    }
}
