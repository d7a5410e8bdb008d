//! The sharer's side: start or resume, upload frames (with presence in the answer), end;
//! and the lists of live shares and kept recordings.

use super::*;
use warroom_core::protocol::{
    LiveShare, LiveShares, Recording, Recordings, StartShare, Upload, Uploaded,
};

/// The sharer's start time when it is believable (within a day of the server's clock);
/// otherwise the server's own time of the first start is kept.
pub(super) fn claimed_start(started: Option<&str>) -> Option<SystemTime> {
    let t = humantime::parse_rfc3339_weak(started?).ok()?;
    let now = SystemTime::now();
    let skew = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    (skew < Duration::from_secs(86_400)).then_some(t)
}

pub(super) async fn start_share(
    State(state): State<Arc<AppState>>,
    ShareCaller { identity, id }: ShareCaller,
    crate::error::JsonBody(start): JsonBody<StartShare>,
) -> Response {
    // The sharer shown anywhere is the authenticated owner, never a name the client declares.
    let actor = identity.0.clone();
    let watchers = match start.watchers.as_deref().map(watcher_entries).transpose() {
        Ok(w) => w,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let contexts: Vec<String> = start
        .contexts
        .iter()
        .take(50)
        .map(|c| warroom_core::sanitize::cell(c, 200))
        .collect();
    let result = async {
        let client = state.store.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO shares (id, owner, actor, contexts, width, height, started_at, \
                   watchers) \
                 VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8) \
                 ON CONFLICT (id) DO UPDATE SET last_seen = now(), ended_at = NULL, \
                   width = EXCLUDED.width, height = EXCLUDED.height, contexts = EXCLUDED.contexts, \
                   watchers = EXCLUDED.watchers \
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
                    &watchers,
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

/// Most entries a share's watcher list takes.
const MAX_WATCHERS: usize = 100;

/// The sharer's watcher list as the server compares it: identities canonical, `group:NAME`
/// exact; an empty or blank entry, or too many, is refused.
fn watcher_entries(named: &[String]) -> Result<Vec<String>, String> {
    if named.len() > MAX_WATCHERS {
        return Err(format!("at most {MAX_WATCHERS} watchers may be named"));
    }
    named
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            if entry.is_empty() || entry.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!(
                    "watcher {entry:?} is not an identity or \"group:NAME\""
                ));
            }
            Ok(crate::auth::canonical_entry(entry))
        })
        .collect()
}

pub(super) async fn upload_frames(
    State(state): State<Arc<AppState>>,
    ShareCaller { identity, id }: ShareCaller,
    crate::error::JsonBody(upload): JsonBody<Upload>,
) -> Response {
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
            axum::Json(Uploaded { next_seq, watchers }).into_response()
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
pub(super) async fn store_frames(
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

pub(super) async fn watchers_of(
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

pub(super) async fn end_share(
    State(state): State<Arc<AppState>>,
    ShareCaller { identity, id }: ShareCaller,
) -> Response {
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

pub(super) async fn list_shares(
    State(state): State<Arc<AppState>>,
    Caller(identity): Caller,
) -> Response {
    let result = async {
        let client = state.store.client().await?;
        let rows = client
            .query(
                "SELECT s.id, s.owner AS actor, s.owner, s.contexts, s.started_at, s.width, s.height, \
                   COALESCE((SELECT array_agg(DISTINCT w.identity ORDER BY w.identity) \
                     FROM share_watchers w WHERE w.share_id = s.id \
                       AND w.last_seen > now() - make_interval(secs => $2)), '{}'), s.watchers \
                 FROM shares s \
                 WHERE s.ended_at IS NULL AND s.last_seen > now() - make_interval(secs => $1) \
                 ORDER BY s.started_at, s.id",
                &[&LIVE_SECONDS, &WATCHER_SECONDS],
            )
            .await?;
        rows.iter()
            .filter(|r| {
                let owner: String = r.try_get(2).unwrap_or_default();
                let named: Option<Vec<String>> = r.try_get(8).unwrap_or_default();
                state.readers.may_watch(&identity, &owner, named.as_deref())
            })
            .map(|r| {
                let since: SystemTime = r.try_get(4)?;
                let size = |i: usize| -> Result<u16, tokio_postgres::Error> {
                    Ok(u16::try_from(r.try_get::<_, i32>(i)?).unwrap_or(0))
                };
                Ok(LiveShare {
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
    json_or_store_error(result.map(|shares| LiveShares { shares }))
}

/// The newest recordings listed at most (retention bounds them anyway).
pub(super) const RECORDINGS_LISTED: i64 = 10_000;

/// `GET /v1/recordings`: every kept recording, so `warroom audit timeline` can link actions
/// to their moment in one.
pub(super) async fn list_recordings(
    State(state): State<Arc<AppState>>,
    Caller(identity): Caller,
) -> Response {
    let result = async {
        let client = state.store.client().await?;
        let rows = client
            .query(
                "SELECT id, owner AS actor, started_at, ended_at IS NOT NULL \
                   OR last_seen < now() - make_interval(secs => $1), watchers \
                 FROM shares ORDER BY started_at DESC, id LIMIT $2",
                &[&LIVE_SECONDS, &RECORDINGS_LISTED],
            )
            .await?;
        rows.iter()
            .filter(|r| {
                let owner: String = r.try_get(1).unwrap_or_default();
                let named: Option<Vec<String>> = r.try_get(4).unwrap_or_default();
                state.readers.may_watch(&identity, &owner, named.as_deref())
            })
            .map(|r| {
                let started: SystemTime = r.try_get(2)?;
                Ok(Recording {
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
    json_or_store_error(result.map(|recordings| Recordings { recordings }))
}
