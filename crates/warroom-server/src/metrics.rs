//! `GET /metrics`: the server's series in the Prometheus/OpenMetrics text format.
//!
//! One process-wide registry: the counting points sit deep (the group-commit writers, the
//! connection registry) and one process is one replica, so a static is simpler than threading
//! a handle through every layer. Label values are route templates, methods, status codes,
//! action names and states: never an identity, a share id or a token.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use warroom_core::guard::ActionName;
use warroom_core::protocol::requests::RequestStatus;

use super::api::AppState;

/// What a scrape waits for the database's share counts before leaving them out.
const DB_COUNTS_WITHIN: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// What happened to a request that needed approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalEvent {
    /// Filed, waiting for an approver.
    Requested,
    Approved,
    Denied,
    Withdrawn,
    Expired,
    /// Approved, but the policy no longer allowed it on a second look.
    Refused,
}

impl ApprovalEvent {
    fn as_str(self) -> &'static str {
        match self {
            ApprovalEvent::Requested => "requested",
            ApprovalEvent::Approved => "approved",
            ApprovalEvent::Denied => "denied",
            ApprovalEvent::Withdrawn => "withdrawn",
            ApprovalEvent::Expired => "expired",
            ApprovalEvent::Refused => "refused",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    audit_batch_records: Histogram,
    audit_commit_seconds: Histogram,
    approvals: Family<StateLabels, Counter>,
    approval_decision_seconds: Histograms<StateLabels>,
    actions: Family<ActionLabels, Counter>,
    share_streams: Gauge,
    shares_live: Gauge,
    share_watchers: Gauge,
    pool_max: Gauge,
    pool_connections: Family<StateLabels, Gauge>,
    pool_waiting: Gauge,
    connections_open: Gauge,
    connections_evicted: Counter,
    connections_refused: Counter,
}

fn latency() -> Histogram {
    // 1 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn decision_time() -> Histogram {
    // 5 s .. ~1.4 h: people decide in seconds to an hour.
    Histogram::new(exponential_buckets(5.0, 2.0, 11))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's series.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("warroom");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency),
            audit_batch_records: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            audit_commit_seconds: latency(),
            approvals: Family::default(),
            approval_decision_seconds: Family::new_with_constructor(decision_time),
            actions: Family::default(),
            share_streams: Gauge::default(),
            shares_live: Gauge::default(),
            share_watchers: Gauge::default(),
            pool_max: Gauge::default(),
            pool_connections: Family::default(),
            pool_waiting: Gauge::default(),
            connections_open: Gauge::default(),
            connections_evicted: Counter::default(),
            connections_refused: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            m.requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time to the response head, by method and route template (an event stream's \
             duration is not included)",
            Unit::Seconds,
            m.request_seconds.clone(),
        );
        r.register(
            "audit_batch_records",
            "Records per group commit of POST /v1/audit",
            m.audit_batch_records.clone(),
        );
        r.register_with_unit(
            "audit_commit_duration",
            "Time of one group commit (insert and commit)",
            Unit::Seconds,
            m.audit_commit_seconds.clone(),
        );
        r.register(
            "approvals",
            "Requests needing approval, by what happened: requested, approved, denied, \
             withdrawn, expired, refused (no longer allowed when approved)",
            m.approvals.clone(),
        );
        r.register_with_unit(
            "approval_decision",
            "Time from a request to its approval or denial, by state",
            Unit::Seconds,
            m.approval_decision_seconds.clone(),
        );
        r.register(
            "actions",
            "Delegated actions by action and outcome (refused, done, failed, unknown, not_done)",
            m.actions.clone(),
        );
        r.register(
            "share_streams",
            "Watch streams open on this replica",
            m.share_streams.clone(),
        );
        r.register(
            "shares_live",
            "Live shares (all replicas: read from the database at scrape time)",
            m.shares_live.clone(),
        );
        r.register(
            "share_watchers",
            "Watchers of live shares (all replicas: read from the database at scrape time)",
            m.share_watchers.clone(),
        );
        r.register(
            "db_pool_max",
            "Largest size of the database pool",
            m.pool_max.clone(),
        );
        r.register(
            "db_pool_connections",
            "Database connections in the pool, by state (in_use, idle)",
            m.pool_connections.clone(),
        );
        r.register(
            "db_pool_waiting",
            "Tasks waiting for a database connection",
            m.pool_waiting.clone(),
        );
        r.register(
            "connections_open",
            "Open client connections",
            m.connections_open.clone(),
        );
        r.register(
            "connections_evicted",
            "Idle connections closed to make room at max_connections",
            m.connections_evicted.clone(),
        );
        r.register(
            "connections_refused",
            "New connections closed at max_connections (every open one had a request in \
             service)",
            m.connections_refused.clone(),
        );
        Metrics { registry, ..m }
    }

    /// One answered request; `route` is the template (`/v1/audit/{id}`), never the path.
    pub fn request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let route = route.to_string();
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.clone(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels { method, route })
            .observe(took.as_secs_f64());
    }

    /// One group commit of `records` records.
    pub fn audit_commit(&self, records: usize, took: Duration) {
        self.audit_batch_records.observe(records as f64);
        self.audit_commit_seconds.observe(took.as_secs_f64());
    }

    pub fn approval(&self, what: ApprovalEvent, count: u64) {
        self.approvals
            .get_or_create(&StateLabels {
                state: what.as_str(),
            })
            .inc_by(count);
    }

    /// An approval or denial `after` the request was filed.
    pub fn decided_after(&self, what: ApprovalEvent, after: Duration) {
        self.approval_decision_seconds
            .get_or_create(&StateLabels {
                state: what.as_str(),
            })
            .observe(after.as_secs_f64());
    }

    /// A delegated action that ended (refused, or run with this result).
    pub fn action(&self, action: ActionName, outcome: RequestStatus) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub fn connection_opened(&self) {
        self.connections_open.inc();
    }

    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    pub fn connection_evicted(&self) {
        self.connections_evicted.inc();
    }

    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// Counts an open watch stream until the guard is dropped.
    pub fn share_stream(&self) -> StreamOpen {
        self.share_streams.inc();
        StreamOpen(())
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// An open watch stream, counted in `warroom_share_streams` while it lives.
pub struct StreamOpen(());

impl Drop for StreamOpen {
    fn drop(&mut self) {
        metrics().share_streams.dec();
    }
}

/// The method as a label: the standard ones, else `other` (a client picks the method).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, s)| s)
}

/// `GET /metrics`, unauthenticated (a scraper has no token): counts only, see README's threat
/// model. The pool is read now; the share counts come from the database, left as they were if
/// it does not answer quickly.
pub(super) async fn serve(State(state): State<Arc<AppState>>) -> Response {
    let m = metrics();
    let pool = state.store.pool_status();
    let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    m.pool_max.set(gauge(pool.max_size));
    m.pool_waiting.set(gauge(pool.waiting));
    m.pool_connections
        .get_or_create(&StateLabels { state: "idle" })
        .set(gauge(pool.available));
    m.pool_connections
        .get_or_create(&StateLabels { state: "in_use" })
        .set(gauge(pool.size.saturating_sub(pool.available)));
    if state.starting().is_none()
        && let Ok(Ok((shares, watchers))) =
            tokio::time::timeout(DB_COUNTS_WITHIN, super::relay::live_counts(&state.store)).await
    {
        m.shares_live.set(shares);
        m.share_watchers.set(watchers);
    }
    match m.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => super::error::error(StatusCode::INTERNAL_SERVER_ERROR, "metrics not encoded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_with_the_prefix_and_labelled_by_template() {
        let m = metrics();
        // Label sets no other test (nor the server) counts: the registry is process-wide.
        m.request("GET", "/test/{only-here}", 404, Duration::from_millis(3));
        m.action(ActionName::KubeRolloutRestart, RequestStatus::Expired);
        let text = m.encode().expect("encode");
        assert!(
            text.contains(
                r#"warroom_http_requests_total{method="GET",route="/test/{only-here}",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"warroom_actions_total{action="kube.rollout_restart",outcome="expired"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE warroom_audit_commit_duration_seconds histogram"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn unknown_methods_are_one_label() {
        let m = axum::http::Method::from_bytes(b"BREW").expect("method");
        assert_eq!(method_label(&m), "other");
        assert_eq!(method_label(&axum::http::Method::PUT), "PUT");
    }
}
