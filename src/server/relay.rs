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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::api::{AppState, authenticate, error, store_error};
use super::auth::Identity;
use super::store::{Store, StoreError};

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

/// What a share's reader hands its replica's watchers.
#[derive(Clone)]
enum Fanout {
    Frames(Arc<Vec<(i64, String)>>),
    Ended,
}

/// Frames fanned out per share and replica before a slow watcher lags (then it reads the
/// table itself from where it is).
const FANOUT_QUEUE: usize = 64;

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

async fn read_json<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, Response> {
    let bytes: Bytes = axum::body::to_bytes(body, MAX_UPLOAD).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_UPLOAD} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad body: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartShare {
    actor: Option<String>,
    #[serde(default)]
    contexts: Vec<String>,
    width: u16,
    height: u16,
    /// The sharer's clock when its recording's time 0 was taken (RFC 3339): the audit
    /// timeline's offsets into the recording count from it.
    started: Option<String>,
}

/// The sharer's start time when it is believable (within a day of the server's clock);
/// otherwise the server's own time of the first start is kept.
fn claimed_start(started: Option<&str>) -> Option<SystemTime> {
    let t = humantime::parse_rfc3339_weak(started?).ok()?;
    let now = SystemTime::now();
    let skew = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    (skew < Duration::from_secs(86_400)).then_some(t)
}

async fn start_share(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let identity = match authenticate(&state, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if let Some(r) = invalid_id(&id) {
        return r;
    }
    let start: StartShare = match read_json(body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let actor = crate::sanitize::cell(start.actor.as_deref().unwrap_or(&identity.0), 200);
    let contexts: Vec<String> = start
        .contexts
        .iter()
        .take(50)
        .map(|c| crate::sanitize::cell(c, 200))
        .collect();
    let result = async {
        let client = state.store.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO shares (id, owner, actor, contexts, width, height, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now())) \
                 ON CONFLICT (id) DO UPDATE SET last_seen = now(), ended_at = NULL, \
                   width = EXCLUDED.width, height = EXCLUDED.height, contexts = EXCLUDED.contexts \
                 WHERE shares.owner = EXCLUDED.owner \
                 RETURNING next_seq",
                &[
                    &id,
                    &identity.0,
                    &actor,
                    &contexts,
                    &i32::from(start.width),
                    &i32::from(start.height),
                    &claimed_start(start.started.as_deref()),
                ],
            )
            .await?;
        Ok::<_, StoreError>(row.is_some())
    }
    .await;
    match result {
        Ok(true) => {
            tracing::info!(share = %id, owner = %identity.0, "share started");
            axum::Json(json!({"id": id, "watch_path": format!("/watch/{id}")})).into_response()
        }
        Ok(false) => error(
            StatusCode::FORBIDDEN,
            format!("share {id} belongs to another identity"),
        ),
        Err(e) => store_error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    /// asciicast v2 events: `[seconds, "o" | "r" | "m", data]`.
    events: Vec<(f64, String, String)>,
    /// The first event starts a full-screen redraw: live watchers start there.
    #[serde(default)]
    keyframe: bool,
}

async fn upload_frames(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let identity = match authenticate(&state, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let upload: Upload = match read_json(body).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut times = Vec::with_capacity(upload.events.len());
    let mut kinds = Vec::with_capacity(upload.events.len());
    let mut data = Vec::with_capacity(upload.events.len());
    for (t, kind, text) in upload.events {
        if !t.is_finite() || t < 0.0 || !matches!(kind.as_str(), "o" | "r" | "m") {
            return error(
                StatusCode::BAD_REQUEST,
                "an event is [seconds >= 0, \"o\" | \"r\" | \"m\", text]",
            );
        }
        times.push(t);
        kinds.push(kind);
        // PostgreSQL text holds no NUL; a terminal ignores it anyway.
        data.push(text.replace('\0', ""));
    }
    let keyframe = upload.keyframe && !times.is_empty();
    match store_frames(
        &state.store,
        &id,
        &identity,
        &times,
        &kinds,
        &data,
        keyframe,
    )
    .await
    {
        Ok(Some((next_seq, watchers))) => {
            axum::Json(json!({"next_seq": next_seq, "watchers": watchers})).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no live share {id} of yours: start it with PUT /v1/shares/{id}"),
        ),
        Err(e) => store_error(e),
    }
}

/// Appends the frames and rings the doorbell in one transaction; `None` when the caller has
/// no live share of that id. Answers the next sequence number and who watches.
async fn store_frames(
    store: &Store,
    id: &str,
    owner: &Identity,
    times: &[f64],
    kinds: &[String],
    data: &[String],
    keyframe: bool,
) -> Result<Option<(i64, Vec<String>)>, StoreError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let n = times.len() as i64;
    let Some(row) = tx
        .query_opt(
            "UPDATE shares SET next_seq = next_seq + $3, last_seen = now(), \
               keyframe_seq = CASE WHEN $4 THEN next_seq ELSE keyframe_seq END \
             WHERE id = $1 AND owner = $2 AND ended_at IS NULL \
             RETURNING next_seq",
            &[&id, &owner.0, &n, &keyframe],
        )
        .await?
    else {
        return Ok(None);
    };
    let next_seq: i64 = row.try_get(0)?;
    if n > 0 {
        tx.execute(
            "INSERT INTO share_frames (share_id, seq, t, kind, data) \
             SELECT $1, $2 + u.i - 1, u.t, u.k, u.d \
             FROM unnest($3::float8[], $4::text[], $5::text[]) WITH ORDINALITY AS u(t, k, d, i)",
            &[&id, &(next_seq - n), &times, &kinds, &data],
        )
        .await?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])
            .await?;
    }
    let watchers = watchers_of(&tx, id).await?;
    tx.commit().await?;
    Ok(Some((next_seq, watchers)))
}

async fn watchers_of(
    client: &impl deadpool_postgres::GenericClient,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT DISTINCT identity FROM share_watchers \
             WHERE share_id = $1 AND last_seen > now() - make_interval(secs => $2) \
             ORDER BY identity",
            &[&id, &WATCHER_SECONDS],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(StoreError::from))
        .collect()
}

async fn end_share(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let identity = match authenticate(&state, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let result = async {
        let client = state.store.client().await?;
        let n = client
            .execute(
                "UPDATE shares SET ended_at = now() WHERE id = $1 AND owner = $2 \
                 AND ended_at IS NULL",
                &[&id, &identity.0],
            )
            .await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])
            .await?;
        Ok::<_, StoreError>(n)
    }
    .await;
    match result {
        Ok(_) => {
            tracing::info!(share = %id, owner = %identity.0, "share ended");
            axum::Json(json!({"id": id, "ended": true})).into_response()
        }
        Err(e) => store_error(e),
    }
}

/// One live share as `GET /v1/shares` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShareInfo {
    pub id: String,
    pub actor: String,
    pub owner: String,
    pub contexts: Vec<String>,
    /// RFC 3339.
    pub since: String,
    pub width: u16,
    pub height: u16,
    pub watchers: Vec<String>,
}

async fn list_shares(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate(&state, &headers).await {
        return r;
    }
    let result = async {
        let client = state.store.client().await?;
        let rows = client
            .query(
                "SELECT s.id, s.actor, s.owner, s.contexts, s.started_at, s.width, s.height, \
                   COALESCE((SELECT array_agg(DISTINCT w.identity ORDER BY w.identity) \
                     FROM share_watchers w WHERE w.share_id = s.id \
                       AND w.last_seen > now() - make_interval(secs => $2)), '{}') \
                 FROM shares s \
                 WHERE s.ended_at IS NULL AND s.last_seen > now() - make_interval(secs => $1) \
                 ORDER BY s.started_at, s.id",
                &[&LIVE_SECONDS, &WATCHER_SECONDS],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let since: SystemTime = r.try_get(4)?;
                let size = |i: usize| -> Result<u16, tokio_postgres::Error> {
                    Ok(u16::try_from(r.try_get::<_, i32>(i)?).unwrap_or(0))
                };
                Ok(ShareInfo {
                    id: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    owner: r.try_get(2)?,
                    contexts: r.try_get(3)?,
                    since: humantime::format_rfc3339_seconds(since).to_string(),
                    width: size(5)?,
                    height: size(6)?,
                    watchers: r.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(StoreError::from)
    }
    .await;
    match result {
        Ok(shares) => axum::Json(json!({"shares": shares})).into_response(),
        Err(e) => store_error(e),
    }
}

/// One kept recording as `GET /v1/recordings` lists it (live or ended, until retention).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordingInfo {
    pub id: String,
    pub actor: String,
    /// RFC 3339 with milliseconds: the recording's time 0.
    pub started: String,
    pub ended: bool,
}

/// The newest recordings listed at most (retention bounds them anyway).
const RECORDINGS_LISTED: i64 = 10_000;

/// `GET /v1/recordings`: every kept recording, so `warroom audit timeline` can link actions
/// to their moment in one.
async fn list_recordings(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate(&state, &headers).await {
        return r;
    }
    let result = async {
        let client = state.store.client().await?;
        let rows = client
            .query(
                "SELECT id, actor, started_at, ended_at IS NOT NULL \
                   OR last_seen < now() - make_interval(secs => $1) \
                 FROM shares ORDER BY started_at DESC, id LIMIT $2",
                &[&LIVE_SECONDS, &RECORDINGS_LISTED],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let started: SystemTime = r.try_get(2)?;
                Ok(RecordingInfo {
                    id: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    started: humantime::format_rfc3339_millis(started).to_string(),
                    ended: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(StoreError::from)
    }
    .await;
    match result {
        Ok(recordings) => axum::Json(json!({"recordings": recordings})).into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkClaims {
    sub: String,
    watcher: String,
    aud: String,
    exp: u64,
}

async fn make_link(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let identity = match authenticate(&state, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if let Some(r) = invalid_id(&id) {
        return r;
    }
    let key = match state.relay.link_key(&state.store).await {
        Ok(k) => k,
        Err(e) => return store_error(e),
    };
    let exp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + LINK_TTL.as_secs();
    let claims = LinkClaims {
        sub: id.clone(),
        watcher: identity.0.clone(),
        aud: LINK_AUDIENCE.into(),
        exp,
    };
    match jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    ) {
        Ok(token) => {
            tracing::info!(share = %id, watcher = %identity.0, "watch link issued");
            axum::Json(json!({
                "path": format!("/watch/{id}?link={token}"),
                "expires_in_seconds": LINK_TTL.as_secs(),
            }))
            .into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot sign a link: {e}"),
        ),
    }
}

/// The watcher named by a valid link for share `id`, else a 401.
pub async fn identity_from_link(
    state: &AppState,
    id: &str,
    link: &str,
) -> Result<Identity, Response> {
    let key = state
        .relay
        .link_key(&state.store)
        .await
        .map_err(store_error)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[LINK_AUDIENCE]);
    validation.leeway = 5;
    let refused = |why: &str| {
        tracing::info!(share = %id, reason = why, "watch refused: bad link");
        error(
            StatusCode::UNAUTHORIZED,
            format!("the watch link is not valid: {why}"),
        )
    };
    let data = jsonwebtoken::decode::<LinkClaims>(
        link,
        &jsonwebtoken::DecodingKey::from_secret(key),
        &validation,
    )
    .map_err(|e| refused(&e.to_string()))?;
    if data.claims.sub != id {
        return Err(refused("it is for another share"));
    }
    if let Some(r) = state.starting() {
        return Err(r);
    }
    Ok(Identity(data.claims.watcher, Vec::new()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    #[serde(default)]
    from_start: bool,
    link: Option<String>,
}

struct ShareHead {
    /// The authenticated identity of the sharer (never a self-declared name).
    actor: String,
    width: i32,
    height: i32,
    keyframe_seq: Option<i64>,
    ended: bool,
}

async fn share_head(store: &Store, id: &str) -> Result<Option<ShareHead>, StoreError> {
    let client = store.client().await?;
    let row = client
        .query_opt(
            "SELECT owner, width, height, keyframe_seq, ended_at IS NOT NULL \
               OR last_seen < now() - make_interval(secs => $2) \
             FROM shares WHERE id = $1",
            &[&id, &LIVE_SECONDS],
        )
        .await?;
    row.map(|r| {
        Ok(ShareHead {
            actor: r.try_get(0)?,
            width: r.try_get(1)?,
            height: r.try_get(2)?,
            keyframe_seq: r.try_get(3)?,
            ended: r.try_get(4)?,
        })
    })
    .transpose()
}

/// `GET /v1/shares/{id}/stream`: server-sent events. The first message is a JSON object (the
/// screen size: `cols`/`rows`, as asciinema-player's eventsource driver reads it, plus the
/// share's `actor`, and `time`: the first event's); each next one an asciicast v2 event
/// `[t, code, data]`; `event: done` when the share ends (or the recording is played out).
async fn stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<StreamParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let identity = match &params.link {
        Some(link) => identity_from_link(&state, &id, link).await,
        None => authenticate(&state, &headers).await,
    };
    let identity = match identity {
        Ok(i) => i,
        Err(r) => return r,
    };
    let head = match share_head(&state.store, &id).await {
        Ok(Some(h)) => h,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no share {id}")),
        Err(e) => return store_error(e),
    };
    if head.ended && !params.from_start {
        return error(
            StatusCode::GONE,
            format!("share {id} is not live any more; its recording plays with from_start=true"),
        );
    }
    let start = if params.from_start {
        0
    } else {
        head.keyframe_seq.unwrap_or(0)
    };
    tracing::info!(share = %id, watcher = %identity.0, from_start = params.from_start, "watch started");
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_QUEUE);
    let time = match first_time(&state.store, &id, start).await {
        Ok(t) => t,
        Err(e) => return store_error(e),
    };
    let header = json!({
        "cols": head.width, "rows": head.height, "time": time,
        "id": id, "actor": head.actor, "live": !head.ended,
    });
    let _ = tx.try_send(sse_data(&header.to_string()));
    tokio::spawn(feed_watcher(Arc::clone(&state), id, identity, start, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The time of the frame the stream starts with (0 before any).
async fn first_time(store: &Store, id: &str, seq: i64) -> Result<f64, StoreError> {
    let client = store.client().await?;
    let row = client
        .query_opt(
            "SELECT t FROM share_frames WHERE share_id = $1 AND seq >= $2 ORDER BY seq LIMIT 1",
            &[&id, &seq],
        )
        .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => 0.0,
    })
}

fn sse_data(data: &str) -> Bytes {
    // JSON text holds no raw newline, so one `data:` line is the whole message.
    Bytes::from(format!("data: {data}\n\n"))
}

/// Sends the share's frames from `next` on until the watcher leaves or the share ends.
/// This replica's fan-out of share `id` (started with its first local watcher).
fn subscribe(state: &Arc<AppState>, id: &str) -> broadcast::Receiver<Fanout> {
    let mut readers = state
        .relay
        .readers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(tx) = readers.get(id) {
        return tx.subscribe();
    }
    let (tx, rx) = broadcast::channel(FANOUT_QUEUE);
    readers.insert(id.to_string(), tx.clone());
    tokio::spawn(share_reader(Arc::clone(state), id.to_string(), tx));
    rx
}

/// Reads a share's new frames once per doorbell for all of this replica's watchers; stops
/// when the last one left.
async fn share_reader(state: Arc<AppState>, id: String, tx: broadcast::Sender<Fanout>) {
    let store = &state.store;
    let mut doorbell = state.relay.doorbell.subscribe();
    let mut next: Option<i64> = None;
    loop {
        if next.is_none() {
            next = async {
                let client = store.client().await.ok()?;
                let row = client
                    .query_opt("SELECT next_seq FROM shares WHERE id = $1", &[&id])
                    .await
                    .ok()?;
                Some(row.and_then(|r| r.try_get(0).ok()).unwrap_or(0))
            }
            .await;
        }
        let mut got = false;
        while let Some(from) = next {
            match read_frames(store, &id, from).await {
                Ok(frames) if !frames.is_empty() => {
                    got = true;
                    let full = frames.len() as i64 == PAGE;
                    next = frames.last().map(|(seq, _)| seq + 1);
                    let _ = tx.send(Fanout::Frames(Arc::new(frames)));
                    if !full {
                        break;
                    }
                }
                _ => break,
            }
        }
        if !got
            && matches!(
                share_head(store, &id).await,
                Ok(None) | Ok(Some(ShareHead { ended: true, .. }))
            )
        {
            let _ = tx.send(Fanout::Ended);
        }
        let poll = tokio::time::sleep(POLL_EVERY);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                rung = doorbell.recv() => match rung {
                    Ok(rung) if *rung == *id || &*rung == "*" => break,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut poll).await;
                        break;
                    }
                },
                () = &mut poll => break,
            }
        }
        let mut readers = state
            .relay
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tx.receiver_count() == 0 {
            readers.remove(&id);
            return;
        }
    }
}

/// Sends the share's frames from `next` on until the watcher leaves or the share ends: first
/// what the table holds, then what this replica's reader fans out (the table again to fill a
/// gap or after lagging).
async fn feed_watcher(
    state: Arc<AppState>,
    id: String,
    identity: Identity,
    mut next: i64,
    tx: mpsc::Sender<Bytes>,
) {
    let watch_id = uuid::Uuid::new_v4().to_string();
    // Subscribed before the catch-up read, so nothing falls between the two.
    let mut fanout = subscribe(&state, &id);
    let mut presence_at: Option<Instant> = None;
    let store = &state.store;
    let mut catch_up = true;
    'feed: loop {
        if presence_at.is_none_or(|t| t.elapsed() >= PRESENCE_EVERY) {
            if let Err(e) = mark_present(store, &watch_id, &id, &identity).await {
                tracing::warn!(share = %id, error = %e, "presence not recorded");
            }
            presence_at = Some(Instant::now());
        }
        if catch_up {
            match read_frames(store, &id, next).await {
                Ok(frames) => {
                    let full_page = frames.len() as i64 == PAGE;
                    for (seq, event) in frames {
                        if tx.send(sse_data(&event)).await.is_err() {
                            break 'feed;
                        }
                        next = seq + 1;
                    }
                    catch_up = full_page;
                }
                Err(e) => {
                    tracing::warn!(share = %id, error = %e, "frames not read; retrying");
                    if tx
                        .send(Bytes::from_static(b": database unavailable, retrying\n\n"))
                        .await
                        .is_err()
                    {
                        break 'feed;
                    }
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
            continue;
        }
        tokio::select! {
            item = fanout.recv() => match item {
                Ok(Fanout::Frames(frames)) => {
                    if frames.first().is_some_and(|(seq, _)| *seq > next) {
                        catch_up = true; // a gap: the table has it
                        continue;
                    }
                    for (seq, event) in frames.iter() {
                        if *seq < next {
                            continue;
                        }
                        if tx.send(sse_data(event)).await.is_err() {
                            break 'feed;
                        }
                        next = seq + 1;
                    }
                }
                Ok(Fanout::Ended) => {
                    // Frames committed just before the end come from the table, then stop.
                    if let Ok(rest) = read_frames(store, &id, next).await {
                        for (_, event) in rest {
                            if tx.send(sse_data(&event)).await.is_err() {
                                break 'feed;
                            }
                        }
                    }
                    let _ = tx
                        .send(Bytes::from_static(b"event: done\ndata: {}\n\n"))
                        .await;
                    break 'feed;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => catch_up = true,
                Err(broadcast::error::RecvError::Closed) => break 'feed,
            },
            () = tokio::time::sleep(POLL_EVERY) => {
                // A comment line keeps proxies from closing an idle stream and tells whether
                // the watcher is still there.
                if tx.send(Bytes::from_static(b": idle\n\n")).await.is_err() {
                    break 'feed;
                }
            }
        }
    }
    drop(fanout);
    if let Ok(client) = store.client().await {
        let _ = client
            .execute(
                "DELETE FROM share_watchers WHERE watch_id = $1",
                &[&watch_id],
            )
            .await;
    }
    tracing::info!(share = %id, watcher = %identity.0, "watch ended");
}

async fn mark_present(
    store: &Store,
    watch_id: &str,
    id: &str,
    identity: &Identity,
) -> Result<(), StoreError> {
    let client = store.client().await?;
    client
        .execute(
            "INSERT INTO share_watchers (watch_id, share_id, identity) VALUES ($1, $2, $3) \
             ON CONFLICT (watch_id) DO UPDATE SET last_seen = now()",
            &[&watch_id, &id, &identity.0],
        )
        .await?;
    Ok(())
}

/// Up to a page of frames from `from` on: (seq, the event as asciicast v2 JSON).
async fn read_frames(store: &Store, id: &str, from: i64) -> Result<Vec<(i64, String)>, StoreError> {
    let client = store.client().await?;
    let statement = client
        .prepare_cached(
            "SELECT seq, t, kind, data FROM share_frames \
             WHERE share_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        )
        .await?;
    let rows = client.query(&statement, &[&id, &from, &PAGE]).await?;
    rows.iter()
        .map(|r| {
            let t: f64 = r.try_get(1)?;
            let kind: String = r.try_get(2)?;
            let data: String = r.try_get(3)?;
            Ok((r.try_get(0)?, json!([t, kind, data]).to_string()))
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(StoreError::from)
}

/// Retention of recordings: shares that ended (or went silent) before the cutoff of whole
/// days, with their frames; and presence rows nobody refreshed for a minute.
pub async fn apply_retention(store: &Store, days: u32) -> Result<u64, StoreError> {
    let client = store.client().await?;
    client
        .execute(
            "DELETE FROM share_watchers WHERE last_seen < now() - interval '1 minute'",
            &[],
        )
        .await?;
    let deleted = client
        .execute(
            "DELETE FROM shares WHERE COALESCE(ended_at, last_seen) < \
               (date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => $1)) \
               AT TIME ZONE 'UTC'",
            &[&(days as i32)],
        )
        .await?;
    Ok(deleted)
}
