//! One access-log line and the request series per request: method, route template, status,
//! duration and the authenticated identity. Never the path's ids, the query string (a watch
//! link's signature travels there) or a header.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use super::metrics::{method_label, metrics};

/// Where the authenticating extractor leaves the caller's identity for the access line.
#[derive(Clone, Default)]
pub struct Seen(Arc<OnceLock<String>>);

impl Seen {
    /// The request was authenticated as `identity`.
    pub fn set(&self, identity: &str) {
        let _ = self.0.set(identity.to_string());
    }

    /// The slot of this request (a detached one outside [`track`], e.g. in unit tests).
    pub fn of(parts: &Parts) -> Seen {
        parts.extensions.get::<Seen>().cloned().unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Seen {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Seen, Self::Rejection> {
        Ok(Seen::of(parts))
    }
}

/// The middleware (`Router::layer`, so the route is matched when it runs).
pub async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    // Unmatched paths are one label: a client picks the path.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let seen = Seen::default();
    request.extensions_mut().insert(seen.clone());
    let response = next.run(request).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    metrics().request(method, &route, status, took);
    tracing::info!(
        target: "warroom::access",
        method,
        route = %route,
        status,
        duration_ms = took.as_secs_f64() * 1000.0,
        identity = seen.0.get().map_or("-", String::as_str),
        "request"
    );
    response
}
