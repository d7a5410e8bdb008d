//! What keeps slow or silent clients from starving the server: a cap on open connections,
//! header, body and idle timeouts, and a per-identity cap on the requests that may hold a
//! connection for long (long-polls and event streams).
//!
//! A connection is *idle* while no request is in service on it: nothing received yet, a
//! request head arriving (hyper has not called the service), or between keep-alive requests.
//! Idle connections are what a slow client can pile up, so they are what the cap evicts
//! (longest idle first) and what the header and idle timeouts close. A connection with a
//! request in service (a long-poll, an event stream, a body being read) is never evicted;
//! the body timeout bounds the body, and [`Streams`] bounds how many long requests one
//! identity may hold.
//!
//! hyper's own `header_read_timeout` is not used: in hyper 1.x its timer starts as soon as the
//! connection waits for the next head, so it would also close keep-alive connections after
//! the (short) header timeout. Here the header timeout starts at the first byte of a head and
//! the idle timeout covers the wait before it.
//!
//! [`registry`]: the cap and the eviction order; [`conn`]: one connection's phase, deadlines
//! and reads; [`service`]: the service wrapper (request in service, body timeout);
//! [`streams`]: the per-identity slots.

use std::time::Duration;

mod conn;
mod registry;
mod service;
mod streams;

pub use conn::{Closed, Conn, Tracked};
pub use registry::{Admitted, Registry};
pub use service::{InService, TimedBody, TrackedService};
pub use streams::{StreamSlot, Streams, TooManyStreams};

/// The limits of `[server]` (`max_connections`, `header_timeout`, `body_timeout`,
/// `idle_timeout`, `max_streams_per_identity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections; at the cap the longest-idle one is closed to make room.
    pub max_connections: usize,
    /// From the first byte of a request head to its end.
    pub header_timeout: Duration,
    /// From the end of a request head to the end of its body.
    pub body_timeout: Duration,
    /// A connection with no request in service and nothing received is closed after this.
    pub idle_timeout: Duration,
    /// Concurrent long-polls (`GET /v1/actions/{id}/wait`) and event streams
    /// (`GET /v1/shares/{id}/stream`) of one identity on one server.
    pub max_streams_per_identity: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            // Bodies are at most 1 MiB (a share upload): 30 s is ~35 KB/s.
            body_timeout: Duration::from_secs(30),
            // Longer than the 60 s idle timeout of common load balancers, so that they, not
            // the server, close a pooled connection (else a request can race the close).
            idle_timeout: Duration::from_secs(75),
            max_streams_per_identity: 32,
        }
    }
}

impl ConnectionLimits {
    /// One line for `check-config`.
    pub fn summary(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        format!(
            "connections: at most {} (the longest-idle is closed to make room); timeouts: \
             header {}, body {}, idle {}; long-polls and streams per identity: {}\n",
            self.max_connections,
            d(self.header_timeout),
            d(self.body_timeout),
            d(self.idle_timeout),
            self.max_streams_per_identity
        )
    }
}

/// Warns when `max_connections` cannot be reached because the process may open fewer files
/// (`ulimit -n`): accepting would then fail before the cap evicts anything.
pub fn warn_if_above_open_file_limit(max_connections: usize) {
    // The pool, the LISTEN connections, the listener, logs: a margin for what is not a client.
    const RESERVED: u64 = 128;
    let Some(limit) = open_file_limit() else {
        return;
    };
    if (max_connections as u64).saturating_add(RESERVED) > limit {
        tracing::warn!(
            max_connections,
            open_file_limit = limit,
            "server.max_connections is above the open-file limit (ulimit -n) minus {RESERVED}: \
             under a flood, accepting fails before the cap makes room; raise the limit or \
             lower max_connections"
        );
    }
}

/// The soft `Max open files` of this process (Linux), if known.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
