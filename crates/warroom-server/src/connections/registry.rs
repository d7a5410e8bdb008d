//! The open connections: how many, which are idle and since when (the eviction order), and
//! the summary log line of the cap (never one per connection).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::conn::{Conn, Phase};
use crate::metrics::metrics;

/// At most one cap line per this period; what happened meanwhile is counted into the next.
const REPORT_EVERY: Duration = Duration::from_secs(10);

pub struct Registry {
    max: usize,
    open: Mutex<Open>,
}

struct Open {
    count: usize,
    /// Connections with no request in service. Keys come from `next_key` when a connection
    /// becomes idle, so the first entry is the one idle longest.
    idle: BTreeMap<u64, Arc<Conn>>,
    next_key: u64,
    /// Since the last cap line.
    evicted: u64,
    refused: u64,
    reported_at: Option<Instant>,
}

/// What the cap did since the last line.
struct CapReport {
    max_connections: usize,
    open: usize,
    evicted: u64,
    refused: u64,
}

impl CapReport {
    fn log(&self) {
        tracing::warn!(
            max_connections = self.max_connections,
            open = self.open,
            evicted_idle = self.evicted,
            refused = self.refused,
            "connection cap reached (server.max_connections): evicted_idle = the longest-idle \
             connections closed to make room, refused = new ones closed because every open \
             connection had a request in service; counts since the previous such line"
        );
    }
}

impl Open {
    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    /// The counts, if a line is due now (the first event after a quiet period logs at once).
    fn report(&mut self, max_connections: usize, force: bool) -> Option<CapReport> {
        if self.evicted == 0 && self.refused == 0 {
            return None;
        }
        let due = force || self.reported_at.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if !due {
            return None;
        }
        self.reported_at = Some(Instant::now());
        Some(CapReport {
            max_connections,
            open: self.count,
            evicted: std::mem::take(&mut self.evicted),
            refused: std::mem::take(&mut self.refused),
        })
    }
}

/// An admitted connection: counted until this is dropped (when its task ends).
pub struct Admitted {
    registry: Arc<Registry>,
    conn: Arc<Conn>,
}

impl Admitted {
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        let mut state = self.conn.lock();
        if !state.gone {
            state.gone = true;
            open.count -= 1;
            metrics().connection_closed();
            if let Some(key) = state.idle_key.take() {
                open.idle.remove(&key);
            }
        }
    }
}

impl Registry {
    pub fn new(max_connections: usize) -> Registry {
        Registry {
            max: max_connections.max(1),
            open: Mutex::new(Open {
                count: 0,
                idle: BTreeMap::new(),
                next_key: 0,
                evicted: 0,
                refused: 0,
                reported_at: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Every unlock leaves the counts consistent: a panic elsewhere does not spoil them.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection in; at the cap, first closes the connection idle longest.
    /// `None` (refused) when every open connection has a request in service.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.lock();
        let at_cap = open.count >= self.max;
        if at_cap {
            match open.idle.pop_first() {
                Some((_, oldest)) => {
                    let mut state = oldest.lock();
                    state.gone = true;
                    state.evicted = true;
                    state.idle_key = None;
                    drop(state);
                    oldest.ring();
                    open.count -= 1;
                    open.evicted += 1;
                    metrics().connection_evicted();
                    metrics().connection_closed();
                }
                None => {
                    open.refused += 1;
                    metrics().connection_refused();
                }
            }
        }
        let admitted = (open.count < self.max).then(|| {
            let key = open.key();
            let conn = Arc::new(Conn::new(key));
            open.idle.insert(key, Arc::clone(&conn));
            open.count += 1;
            metrics().connection_opened();
            Admitted {
                registry: Arc::clone(self),
                conn,
            }
        });
        let report = if at_cap {
            open.report(self.max, false)
        } else {
            None
        };
        drop(open);
        if let Some(r) = report {
            r.log();
        }
        admitted
    }

    /// The service was called: the connection is busy, out of the idle order.
    pub(super) fn start_request(&self, conn: &Conn) {
        let mut open = self.lock();
        let mut state = conn.lock();
        state.in_service += 1;
        if let Some(key) = state.idle_key.take() {
            open.idle.remove(&key);
        }
        state.phase = Phase::Busy;
        drop(state);
        drop(open);
        conn.ring();
    }

    /// Its response body was dropped (written out, or abandoned): idle again from now.
    pub(super) fn end_request(&self, conn: &Arc<Conn>) {
        let mut open = self.lock();
        let mut state = conn.lock();
        state.in_service = state.in_service.saturating_sub(1);
        if state.in_service == 0 && !state.gone {
            let key = open.key();
            open.idle.insert(key, Arc::clone(conn));
            state.idle_key = Some(key);
            state.phase = Phase::Idle(Instant::now());
        }
        drop(state);
        drop(open);
        conn.ring();
    }

    /// Logs what the cap did and has not been logged yet, every [`REPORT_EVERY`] (the last
    /// events of a burst would otherwise wait for the next one).
    pub async fn report_every_period(self: Arc<Self>) {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = self.lock().report(self.max, true);
            if let Some(r) = report {
                r.log();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(registry: &Registry, a: &Admitted) {
        registry.start_request(a.conn());
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_stay() {
        let registry = Arc::new(Registry::new(3));
        let first = registry.admit().expect("first");
        let second = registry.admit().expect("second");
        let third = registry.admit().expect("third");
        busy(&registry, &first);
        // Second is now the longest idle: the fourth connection evicts it, not the busy first.
        let fourth = registry.admit().expect("fourth");
        assert!(second.conn().lock().evicted);
        assert!(!first.conn().lock().evicted);
        assert!(!third.conn().lock().evicted);
        // The first becomes idle again (after the third and fourth): the third goes next.
        registry.end_request(first.conn());
        let _fifth = registry.admit().expect("fifth");
        assert!(third.conn().lock().evicted);
        assert!(!first.conn().lock().evicted);
        drop(second);
        drop(third);
        assert_eq!(registry.lock().count, 3);
        // All busy: a new one is refused, nothing evicted.
        busy(&registry, &first);
        busy(&registry, &fourth);
        busy(&registry, &_fifth);
        assert!(registry.admit().is_none());
        assert_eq!(registry.lock().count, 3);
        drop(fourth);
        assert!(registry.admit().is_some());
    }
}
