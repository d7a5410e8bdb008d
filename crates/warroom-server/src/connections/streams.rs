//! The per-identity cap on open long-polls and event streams: requests that hold their
//! connection (and are never evicted) for as long as they last.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Open long requests per identity, on this server (each replica counts its own). Handlers
/// get it as an `Extension`: [`super::TrackedService`] puts it into every request.
#[derive(Debug)]
pub struct Streams {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open long request of `identity`, given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Streams>,
    identity: String,
}

impl Streams {
    pub fn new(max_per_identity: usize) -> Streams {
        Streams {
            max: max_per_identity,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // Every unlock leaves the counts consistent: a panic elsewhere does not spoil them.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more long request of `identity`, or why not (a 429).
    pub fn open(self: &Arc<Self>, identity: &str) -> Result<StreamSlot, TooManyStreams> {
        let mut open = self.lock();
        let count = open.entry(identity.to_string()).or_insert(0);
        if *count >= self.max {
            return Err(TooManyStreams {
                identity: identity.to_string(),
                max: self.max,
            });
        }
        *count += 1;
        Ok(StreamSlot {
            streams: Arc::clone(self),
            identity: identity.to_string(),
        })
    }

    #[cfg(test)]
    fn count(&self, identity: &str) -> usize {
        self.lock().get(identity).copied().unwrap_or(0)
    }
}

/// The identity already holds its `max` long requests.
#[derive(Debug)]
pub struct TooManyStreams {
    identity: String,
    max: usize,
}

impl IntoResponse for TooManyStreams {
    fn into_response(self) -> Response {
        let TooManyStreams { identity, max } = self;
        tracing::info!(
            identity,
            max,
            "long-poll or event stream refused: too many open"
        );
        crate::error::error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many open long-polls and event streams for {identity}: at most {max} at a \
                 time on this server (server.max_streams_per_identity); close one and retry"
            ),
        )
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if let Some(count) = open.get_mut(&self.identity) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.identity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_per_identity_and_slots_come_back() {
        let streams = Arc::new(Streams::new(2));
        let a1 = streams.open("alice").expect("first");
        let _a2 = streams.open("alice").expect("second");
        let refused = streams.open("alice").expect_err("third").into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let _b = streams.open("bob").expect("bob is counted apart");
        drop(a1);
        let _a3 = streams.open("alice").expect("a slot came back");
        assert_eq!(streams.count("alice"), 2);
        drop(_a2);
        drop(_a3);
        assert_eq!(streams.count("alice"), 0);
        assert!(
            !streams.lock().contains_key("alice"),
            "no entry kept for nobody"
        );
    }
}
