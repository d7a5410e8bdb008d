//! Live shares (`warroom --share`): sharers upload the asciicast v2 events their terminal
//! draws, watchers stream them. Every replica serves every share: the frames are rows in
//! PostgreSQL (`share_frames`, which is also the recording kept for `retention_days`), and a
//! `NOTIFY warroom_share` committed with them rings the doorbell of every replica, whose one
//! LISTEN connection wakes, per share with local watchers, one reader: it reads the new frames
//! once and fans them out to that replica's watchers. A watcher catches up from the table on
//! joining, after a gap or when it lags; a missed notification only delays frames until the
//! next poll (every 2 s).
//!
//! A live watcher starts at the newest keyframe (a full-screen redraw the sharer sends on
//! start, on reconnect and when asked), so a late joiner sees the current screen at once.
//! Presence: each open stream refreshes a `share_watchers` row; the sharer gets the names in
//! the answer to each upload.
//!
//! Routes (all authenticated like the API; the stream also takes a short-lived signed link):
//! `PUT /v1/shares/{id}` start or resume, `POST /v1/shares/{id}/frames` upload,
//! `POST /v1/shares/{id}/end`, `GET /v1/shares` live shares, `GET /v1/shares/{id}/stream`
//! (server-sent events), `POST /v1/shares/{id}/link` a watch link for a browser,
//! `GET /v1/recordings` the kept recordings with their start times (for the audit timeline).
//!
//! Here: the replica's LISTEN loop and the routes; [`shares`] the sharer's side, [`stream`] the
//! watcher's, [`fanout`] the per-share reader, [`links`] watch links, [`retention`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::api::{AppState, Caller, authenticate, error, json_or_store_error, store_error};
use super::auth::Identity;
use super::store::{Store, StoreError};

mod fanout;
mod retention;
mod shares;
mod stream;
mod watch_links;

use fanout::*;
pub use retention::apply_retention;
use shares::*;
use stream::*;
pub use watch_links::identity_from_link;
use watch_links::*;

/// The NOTIFY channel; the payload is the share id.
pub const CHANNEL: &str = "warroom_share";
/// A share is live while its sharer uploaded or sent a heartbeat this recently.
const LIVE_SECONDS: f64 = 30.0;
/// A watcher is present while its stream refreshed its row this recently.
const WATCHER_SECONDS: f64 = 10.0;
/// How often an open stream refreshes its presence row.
const PRESENCE_EVERY: Duration = Duration::from_secs(3);
/// A watcher polls this often when no doorbell rings (a lost notification, LISTEN down).
const POLL_EVERY: Duration = Duration::from_secs(2);
/// Frames read per query.
const PAGE: i64 = 500;
/// Largest upload (one batch of frames).
const MAX_UPLOAD: usize = 1024 * 1024;
/// Events per stream queued for a slow watcher; beyond that the stream task waits (memory bound).
const STREAM_QUEUE: usize = 32;
/// How long a watch link can be used to open the page and its stream.
pub const LINK_TTL: Duration = Duration::from_secs(600);
const LINK_AUDIENCE: &str = "warroom-watch";

/// The replica's doorbell and the link-signing key.
pub struct Relay {
    doorbell: broadcast::Sender<Arc<str>>,
    link_key: tokio::sync::OnceCell<Vec<u8>>,
    /// One reader per share with local watchers: it reads new frames once per doorbell and
    /// fans them out, instead of every watcher reading the table.
    readers: std::sync::Mutex<HashMap<String, broadcast::Sender<Fanout>>>,
}

impl Relay {
    /// Starts the LISTEN connection (reconnecting forever) of this replica.
    pub fn start(config: &super::config::ServerConfig) -> Result<Relay, String> {
        let (pg, tls) = config.database.pool_parts()?;
        let (doorbell, _) = broadcast::channel(1024);
        tokio::spawn(listen_loop(pg, tls, doorbell.clone()));
        Ok(Relay {
            doorbell,
            link_key: tokio::sync::OnceCell::new(),
            readers: std::sync::Mutex::new(HashMap::new()),
        })
    }

    async fn link_key(&self, store: &Store) -> Result<&[u8], StoreError> {
        self.link_key
            .get_or_try_init(|| async {
                let client = store.client().await?;
                let fresh = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                client
                    .execute(
                        "INSERT INTO share_link_key (id, secret) VALUES (1, $1) \
                         ON CONFLICT (id) DO NOTHING",
                        &[&fresh],
                    )
                    .await?;
                let secret: String = client
                    .query_one("SELECT secret FROM share_link_key WHERE id = 1", &[])
                    .await?
                    .try_get(0)?;
                Ok::<_, StoreError>(secret.into_bytes())
            })
            .await
            .map(Vec::as_slice)
    }
}

async fn listen_loop(
    pg: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    doorbell: broadcast::Sender<Arc<str>>,
) {
    loop {
        match pg.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    while let Some(message) =
                        futures::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    tracing::info!("relay: listening for share frames");
                    // Notifications sent while this connection was down are lost: wake all.
                    let _ = doorbell.send(Arc::from("*"));
                    while let Some(id) = rx.recv().await {
                        let _ = doorbell.send(Arc::from(id));
                    }
                }
                driver.abort();
                tracing::warn!("relay: the LISTEN connection closed; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "relay: LISTEN connection failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The relay's routes, merged into `api::router`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/shares", get(list_shares))
        .route("/v1/shares/{id}", put(start_share))
        .route("/v1/shares/{id}/frames", post(upload_frames))
        .route("/v1/shares/{id}/end", post(end_share))
        .route("/v1/shares/{id}/stream", get(stream))
        .route("/v1/shares/{id}/link", post(make_link))
        .route("/v1/recordings", get(list_recordings))
        .merge(super::watch_page::routes())
}

/// A 400 for an id that is not one a client makes, else `None`.
fn invalid_id(id: &str) -> Option<Response> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (!ok).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "a share id is 1-100 characters of A-Z, a-z, 0-9, '-', '_', '.'",
        )
    })
}

/// The authenticated caller (see [`Caller`]) and the share id of the path, checked: what the
/// sharer's routes and the link route start from.
pub(super) struct ShareCaller {
    identity: Identity,
    id: String,
}

impl FromRequestParts<Arc<AppState>> for ShareCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<ShareCaller, Response> {
        let Caller(identity) = Caller::from_request_parts(parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match invalid_id(&id) {
            Some(refused) => Err(refused),
            None => Ok(ShareCaller { identity, id }),
        }
    }
}

/// A sharer's JSON body: at most [`MAX_UPLOAD`] bytes.
pub(super) type JsonBody<T> = crate::error::JsonBody<T, MAX_UPLOAD>;

/// Live shares and their present watchers (open streams, across all replicas), for
/// `GET /metrics`.
pub async fn live_counts(store: &Store) -> Result<(i64, i64), StoreError> {
    let client = store.client().await?;
    let row = client
        .query_one(
            "SELECT count(*), COALESCE(sum((SELECT count(*) FROM share_watchers w \
               WHERE w.share_id = s.id AND w.last_seen > now() - make_interval(secs => $2))), 0)::bigint \
             FROM shares s \
             WHERE s.ended_at IS NULL AND s.last_seen > now() - make_interval(secs => $1)",
            &[&LIVE_SECONDS, &WATCHER_SECONDS],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
