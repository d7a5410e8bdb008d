//! One connection: its phase (idle, a head arriving, a request in service), the deadline that
//! phase sets, and the reads that move it from idle to "a head arriving".

use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ConnectionLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No request in service, nothing of the next one received, since then.
    Idle(Instant),
    /// The first bytes of a request head arrived then; hyper has not called the service.
    Head(Instant),
    /// A request is in service (from the call until its response body is dropped).
    Busy,
}

/// Why the server closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The cap was reached and this was the longest-idle connection.
    Evicted,
    /// A request head took longer than `header_timeout`.
    HeaderTimeout,
    /// Nothing was received for `idle_timeout` with no request in service.
    IdleTimeout,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Evicted => "evicted at the connection cap",
            Closed::HeaderTimeout => "header timeout",
            Closed::IdleTimeout => "idle timeout",
        }
    }
}

/// What the registry and the connection's own task share about one connection.
pub struct Conn {
    state: Mutex<State>,
    /// Rung on every change of phase and on eviction: the deadline is computed again.
    changed: Notify,
}

pub(super) struct State {
    pub(super) phase: Phase,
    pub(super) in_service: usize,
    /// Its key in the registry's idle order while it is there.
    pub(super) idle_key: Option<u64>,
    /// Counted out of the registry (evicted or ended): never idle again.
    pub(super) gone: bool,
    pub(super) evicted: bool,
}

impl Conn {
    pub(super) fn new(idle_key: u64) -> Conn {
        Conn {
            state: Mutex::new(State {
                phase: Phase::Idle(Instant::now()),
                in_service: 0,
                idle_key: Some(idle_key),
                gone: false,
                evicted: false,
            }),
            changed: Notify::new(),
        }
    }

    /// The state; callers that also hold the registry's lock take that one first.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock: a panic elsewhere does not spoil it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn ring(&self) {
        self.changed.notify_waiters();
    }

    /// Bytes were read: if the connection was idle, a request head starts arriving now.
    fn bytes_arrived(&self) {
        let mut state = self.lock();
        if matches!(state.phase, Phase::Idle(_)) {
            state.phase = Phase::Head(Instant::now());
            drop(state);
            self.ring();
        }
    }

    /// Resolves when the server should close the connection: evicted, or the deadline of its
    /// phase passed. A connection with a request in service has no deadline here.
    pub async fn until_closed(&self, limits: &ConnectionLimits) -> Closed {
        loop {
            // Registered before the state is read, so no change falls in between.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let due = {
                let state = self.lock();
                if state.evicted {
                    return Closed::Evicted;
                }
                match state.phase {
                    Phase::Busy => None,
                    Phase::Idle(since) => Some((since + limits.idle_timeout, Closed::IdleTimeout)),
                    Phase::Head(since) => {
                        Some((since + limits.header_timeout, Closed::HeaderTimeout))
                    }
                }
            };
            match due {
                None => changed.await,
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => tokio::select! {
                    () = &mut changed => {},
                    () = tokio::time::sleep_until(at) => {},
                },
            }
        }
    }
}

/// The connection's byte stream (plain TCP, or TLS after the handshake), noting reads.
pub struct Tracked<T> {
    io: T,
    conn: std::sync::Arc<Conn>,
}

impl<T> Tracked<T> {
    pub fn new(io: T, conn: std::sync::Arc<Conn>) -> Tracked<T> {
        Tracked { io, conn }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
