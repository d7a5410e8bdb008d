//! The HTTP API, version 1. Every `/v1` call is authenticated; errors are JSON
//! `{"error": "...", "status": N}`. Records are append-only: no update or delete endpoint.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Authenticator, Identity};
use super::chain::check_session;
pub use super::error::{error, store_error};
use super::ingest::{self, MAX_BODY};
use super::store::{self, Store, StoreError, Stored};
use warroom_core::protocol::{AuditFilter, AuditPage, ServerRecord, TimeWindow};

/// Default and largest page of `GET /v1/audit`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub struct AppState {
    pub store: Store,
    /// Records to insert, by the group-commit writers ([`super::batch`]).
    pub ingest: super::batch::Queue,
    pub auth: Authenticator,
    /// Set once the schema is migrated; until then `/readyz` and the API answer 503.
    pub ready: std::sync::atomic::AtomicBool,
    /// Cancelled when shutdown begins: open long-polls answer and watch streams end.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Live shares: the replica's doorbell and the watch-link key ([`super::relay`]).
    pub relay: super::relay::Relay,
    /// Delegated actions: the server's contexts, policy and doorbell ([`super::actions`]).
    pub delegation: super::actions::Delegation,
    /// Who reads what ([`super::scope`]).
    pub readers: super::scope::Readers,
}

impl AppState {
    pub(super) fn starting(&self) -> Option<Response> {
        (!self.ready.load(std::sync::atomic::Ordering::Acquire)).then(|| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is starting: the database is not reachable or not migrated yet",
            )
        })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(super::metrics::serve))
        .route("/v1/audit", get(list_audit).post(post_audit))
        .route("/v1/audit/{id}", get(get_audit))
        .route("/v1/sessions/{session_id}/verify", get(verify_session))
        .merge(super::relay::routes())
        .merge(super::actions::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(axum::middleware::from_fn(super::access::track))
        // post_audit reads the body itself, with its own limit and a JSON 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The value as a JSON answer, or the store's error.
pub(super) fn json_or_store_error<T: serde::Serialize>(result: Result<T, StoreError>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(e) => store_error(e),
    }
}

/// Authenticates the caller (401 otherwise); 503 while the server is starting.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Identity, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = state.auth.authenticate(header).await.map_err(|e| {
        tracing::info!(reason = %e, "request refused: not authenticated");
        let mut response = error(StatusCode::UNAUTHORIZED, e.0);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        response
    })?;
    match state.starting() {
        Some(r) => Err(r),
        None => Ok(identity),
    }
}

/// The authenticated caller of a handler: `Caller(identity)` as an argument authenticates the
/// request (401, or 503 while starting) before the handler runs.
pub(crate) struct Caller(pub Identity);

impl axum::extract::FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, Response> {
        let identity = authenticate(state, &parts.headers).await?;
        super::access::Seen::of(parts).set(&identity.0);
        Ok(Caller(identity))
    }
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if let Some(r) = state.starting() {
        return r;
    }
    match tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await {
        Ok(Ok(())) => axum::Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit database did not answer within 3 s",
        ),
    }
}

async fn post_audit(
    State(state): State<Arc<AppState>>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the record is larger than {MAX_BODY} bytes; nothing was stored"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return too_large();
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return error(StatusCode::BAD_REQUEST, "the body could not be read");
        };
        if bytes.len() + chunk.len() > MAX_BODY {
            return too_large();
        }
        bytes.extend_from_slice(&chunk);
    }
    let incoming = match ingest::check(&bytes, ingest::Origin::Client) {
        Ok(i) => i,
        Err(bad) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{}; nothing was stored", bad.0),
            );
        }
    };
    let id = incoming.record.id.clone();
    let session_id = incoming.record.session_id.clone();
    let action = incoming.record.action.clone();
    let mismatch = super::batch::mismatch(&incoming, &identity.0);
    let hash_ok = incoming.hash_ok;
    let (answer, stored) = tokio::sync::oneshot::channel();
    let pending = super::batch::Pending {
        incoming,
        received_from: identity.0.clone(),
        answer,
    };
    let writer_gone = || Err(StoreError::Failed("the ingest writer stopped".into()));
    let result = match state.ingest.send(pending) {
        Ok(()) => stored.await.unwrap_or_else(|_| writer_gone()),
        Err(_) => writer_gone(),
    };
    match result {
        Ok(Stored::New { prev_seen }) => {
            tracing::info!(
                id = %id,
                received_from = %identity.0,
                session_id = %session_id,
                action = %action,
                identity_mismatch = mismatch,
                hash_ok,
                prev_seen,
                "audit record stored"
            );
            accepted(&id)
        }
        Ok(Stored::Duplicate) => {
            tracing::info!(id = %id, received_from = %identity.0, "audit record already stored");
            accepted(&id)
        }
        Ok(Stored::Conflict) => {
            tracing::warn!(id = %id, received_from = %identity.0, "audit record id reused with a different body");
            error(
                StatusCode::CONFLICT,
                format!("a different record is already stored under id {id}"),
            )
        }
        Err(e) => store_error(e),
    }
}

fn accepted(id: &str) -> Response {
    axum::Json(json!({"id": id, "accepted": true})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    context: Option<String>,
    action: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_audit(
    State(state): State<Arc<AppState>>,
    Caller(identity): Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let query = match to_query(params) {
        Ok(q) => q,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let scope = state.readers.of(&identity);
    match state.store.list(&query, &scope).await {
        Ok(mut rows) => {
            let next_cursor = if rows.len() > query.limit {
                rows.truncate(query.limit);
                rows.last().map(|r| encode_cursor(r.received_at, &r.id))
            } else {
                None
            };
            let page = AuditPage {
                records: rows
                    .iter()
                    .map(store::Row::to_wire)
                    .collect::<Vec<ServerRecord<Value>>>(),
                next_cursor,
            };
            axum::Json(page).into_response()
        }
        Err(e) => store_error(e),
    }
}

fn to_query(p: ListParams) -> Result<store::Query, String> {
    let time = |name: &str, v: Option<String>| -> Result<Option<SystemTime>, String> {
        v.map(|s| {
            humantime::parse_rfc3339_weak(&s)
                .map_err(|e| format!("{name}: {s:?} is not an RFC 3339 time ({e})"))
        })
        .transpose()
    };
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(format!("limit must be between 1 and {MAX_LIMIT}"));
    }
    let before = match p.cursor {
        Some(c) => Some(decode_cursor(&c).ok_or("cursor: not a cursor from this API")?),
        None => None,
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(store::Query {
        filter: AuditFilter {
            window: TimeWindow {
                since: time("since", p.since)?,
                until: time("until", p.until)?,
            },
            // Stored identities are canonical: so is the filter.
            actor: nonempty(p.actor).map(|a| super::auth::canonical_identity(&a)),
            context: nonempty(p.context),
            action: nonempty(p.action),
        },
        before,
        limit,
    })
}

/// `<unix micros>~<id>`: the keyset position of the last record of a page.
fn encode_cursor(time: SystemTime, id: &str) -> String {
    let micros = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("{micros}~{id}")
}

fn decode_cursor(cursor: &str) -> Option<(SystemTime, String)> {
    let (micros, id) = cursor.split_once('~')?;
    let micros: u64 = micros.parse().ok()?;
    Some((
        SystemTime::UNIX_EPOCH + Duration::from_micros(micros),
        id.to_string(),
    ))
}

async fn get_audit(
    State(state): State<Arc<AppState>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Response {
    // A record the caller may not read is answered like one that does not exist.
    let scope = state.readers.of(&identity);
    match state.store.get_in(&id, &scope).await {
        Ok(Some(row)) => axum::Json(row.to_wire()).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no record with id {id}")),
        Err(e) => store_error(e),
    }
}

/// The chain check of a session: for its owner, for anyone on the server's own sessions (a
/// count and hashes, nothing of the records), and for auditors.
async fn verify_session(
    State(state): State<Arc<AppState>>,
    Caller(identity): Caller,
    Path(session_id): Path<String>,
) -> Response {
    let report = match state.store.session_chain(&session_id).await {
        Ok(rows) => check_session(&session_id, &rows),
        Err(e) => return store_error(e),
    };
    let readable = match state.readers.of(&identity) {
        super::scope::Scope::All => true,
        super::scope::Scope::Own { identity, .. } => report
            .sender
            .as_deref()
            .is_none_or(|s| s == identity || warroom_core::protocol::is_server_name(s)),
    };
    if !readable {
        return error(
            StatusCode::NOT_FOUND,
            format!("no session {session_id} of yours"),
        );
    }
    axum::Json(report).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_microsecond() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_772_000_000_123_456);
        let c = encode_cursor(t, "a~b");
        assert_eq!(decode_cursor(&c), Some((t, "a~b".to_string())));
        assert_eq!(decode_cursor("garbage"), None);
    }
}
