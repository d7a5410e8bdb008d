//! The wait profile: what the active sessions were doing over the last minutes, from the
//! activity snapshots already fetched (no statement of its own). Like a database-load chart:
//! each refresh is a sample; a session active with no wait event counts as CPU.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::PgSession;

/// The wait_event_type of an active session that waits on nothing.
pub const CPU: &str = "CPU";

/// What active sessions were doing at one refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSample {
    /// Seconds, on any monotonic clock the caller chooses (the server's now() works).
    pub at: f64,
    /// (wait_event_type or CPU, wait_event or CPU) -> active sessions.
    pub counts: BTreeMap<(String, String), u32>,
}

impl WaitSample {
    pub fn from_sessions(at: f64, sessions: &[PgSession]) -> WaitSample {
        let mut counts = BTreeMap::new();
        for s in sessions
            .iter()
            .filter(|s| s.state.as_deref() == Some("active"))
        {
            let key = match (&s.wait_event_type, &s.wait_event) {
                (Some(t), Some(e)) => (t.clone(), e.clone()),
                (Some(t), None) => (t.clone(), t.clone()),
                _ => (CPU.to_string(), CPU.to_string()),
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        WaitSample { at, counts }
    }
}

/// One wait event over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitLoad {
    pub wait_event_type: String,
    pub wait_event: String,
    /// Average active sessions in this wait over the window's samples.
    pub average_sessions: f64,
    /// The most seen at one refresh.
    pub peak_sessions: u32,
}

impl Default for WaitProfile {
    /// The last 10 minutes.
    fn default() -> Self {
        WaitProfile::new(600.0)
    }
}

/// A bounded history of samples.
#[derive(Debug, Clone)]
pub struct WaitProfile {
    window_seconds: f64,
    samples: VecDeque<WaitSample>,
}

impl WaitProfile {
    pub fn new(window_seconds: f64) -> WaitProfile {
        WaitProfile {
            window_seconds,
            samples: VecDeque::new(),
        }
    }

    pub fn window_seconds(&self) -> f64 {
        self.window_seconds
    }

    /// Add a refresh; samples older than the window are dropped. A clock going backwards
    /// (server restarted, another context) starts the history afresh.
    pub fn push(&mut self, sample: WaitSample) {
        if self.samples.back().is_some_and(|b| sample.at < b.at) {
            self.samples.clear();
        }
        let oldest = sample.at - self.window_seconds;
        self.samples.push_back(sample);
        while self.samples.front().is_some_and(|f| f.at < oldest) {
            self.samples.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Every wait event seen in the window, heaviest first.
    pub fn events(&self) -> Vec<WaitLoad> {
        let n = self.samples.len().max(1) as f64;
        let mut totals: BTreeMap<&(String, String), (u64, u32)> = BTreeMap::new();
        for s in &self.samples {
            for (k, &c) in &s.counts {
                let e = totals.entry(k).or_insert((0, 0));
                e.0 += u64::from(c);
                e.1 = e.1.max(c);
            }
        }
        let mut out: Vec<WaitLoad> = totals
            .into_iter()
            .map(|((t, e), (sum, peak))| WaitLoad {
                wait_event_type: t.clone(),
                wait_event: e.clone(),
                average_sessions: sum as f64 / n,
                peak_sessions: peak,
            })
            .collect();
        out.sort_by(|a, b| {
            b.average_sessions
                .total_cmp(&a.average_sessions)
                .then_with(|| a.wait_event_type.cmp(&b.wait_event_type))
                .then_with(|| a.wait_event.cmp(&b.wait_event))
        });
        out
    }

    /// Per wait_event_type, active sessions at each sample (oldest first): one sparkline or
    /// one layer of a stacked bar per type. Types sorted by their total, heaviest first.
    pub fn series_by_type(&self) -> Vec<(String, Vec<u32>)> {
        let mut by_type: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (i, s) in self.samples.iter().enumerate() {
            for ((t, _), &c) in &s.counts {
                let series = by_type
                    .entry(t.as_str())
                    .or_insert_with(|| vec![0; self.samples.len()]);
                series[i] += c;
            }
        }
        let mut out: Vec<(String, Vec<u32>)> = by_type
            .into_iter()
            .map(|(t, v)| (t.to_string(), v))
            .collect();
        out.sort_by_key(|(t, v)| {
            (
                std::cmp::Reverse(v.iter().map(|&x| u64::from(x)).sum::<u64>()),
                t.clone(),
            )
        });
        out
    }
}

/// Whether a session is in this wait right now (Enter on a wait event filters the sessions).
pub fn session_in_wait(s: &PgSession, wait_event_type: &str, wait_event: &str) -> bool {
    if s.state.as_deref() != Some("active") {
        return false;
    }
    match (&s.wait_event_type, &s.wait_event) {
        (None, _) => wait_event_type == CPU,
        (Some(t), Some(e)) => t == wait_event_type && e == wait_event,
        (Some(t), None) => t == wait_event_type && wait_event == t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(state: &str, wait: Option<(&str, &str)>) -> PgSession {
        PgSession {
            pid: 1,
            state: Some(state.into()),
            wait_event_type: wait.map(|w| w.0.into()),
            wait_event: wait.map(|w| w.1.into()),
            ..PgSession::default()
        }
    }

    #[test]
    fn active_sessions_counted_per_event_idle_ignored_no_wait_is_cpu() {
        let sessions = [
            s("active", None),
            s("active", Some(("Lock", "transactionid"))),
            s("active", Some(("Lock", "transactionid"))),
            s("active", Some(("IO", "DataFileRead"))),
            s("idle", Some(("Client", "ClientRead"))),
            s("idle in transaction", Some(("Client", "ClientRead"))),
        ];
        let sample = WaitSample::from_sessions(0.0, &sessions);
        assert_eq!(
            sample.counts,
            BTreeMap::from([
                ((CPU.into(), CPU.into()), 1),
                (("IO".into(), "DataFileRead".into()), 1),
                (("Lock".into(), "transactionid".into()), 2),
            ])
        );
        assert!(session_in_wait(&sessions[0], CPU, CPU));
        assert!(session_in_wait(&sessions[1], "Lock", "transactionid"));
        assert!(!session_in_wait(&sessions[4], "Client", "ClientRead"));
    }

    #[test]
    fn averages_over_the_window_and_old_samples_drop() {
        let mut p = WaitProfile::new(60.0);
        let lock = [s("active", Some(("Lock", "tuple")))];
        let two_cpu = [s("active", None), s("active", None)];
        p.push(WaitSample::from_sessions(0.0, &lock));
        p.push(WaitSample::from_sessions(30.0, &two_cpu));
        p.push(WaitSample::from_sessions(60.0, &two_cpu));
        assert_eq!(p.len(), 3);
        let events = p.events();
        assert_eq!(events[0].wait_event_type, CPU);
        assert!((events[0].average_sessions - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!(events[0].peak_sessions, 2);
        assert_eq!(
            p.series_by_type(),
            vec![
                ("CPU".to_string(), vec![0, 2, 2]),
                ("Lock".to_string(), vec![1, 0, 0])
            ]
        );
        p.push(WaitSample::from_sessions(91.0, &two_cpu));
        assert_eq!(p.len(), 2, "samples before 31 s dropped");
        assert!(p.events().iter().all(|e| e.wait_event_type == CPU));
        p.push(WaitSample::from_sessions(5.0, &lock));
        assert_eq!(p.len(), 1, "clock went back: history restarts");
    }
}
