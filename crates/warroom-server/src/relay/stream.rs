//! The watcher's side: the server-sent events stream of a share, from its newest keyframe
//! (live) or its start (the recording).

use super::*;
use crate::store::from_row;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamParams {
    #[serde(default)]
    from_start: bool,
    link: Option<String>,
}

pub(super) struct ShareHead {
    /// The authenticated identity of the sharer (never a self-declared name).
    pub(super) actor: String,
    pub(super) width: i32,
    pub(super) height: i32,
    pub(super) keyframe_seq: Option<i64>,
    pub(super) ended: bool,
    /// Who the sharer lets watch (`None`: any authenticated identity).
    pub(super) watchers: Option<Vec<String>>,
}

from_row!(ShareHead: actor, width, height, keyframe_seq, ended, watchers);

impl ShareHead {
    /// The answer to a caller the share does not admit (the same for a live share and its
    /// recording).
    pub(super) fn refuses(
        &self,
        readers: &crate::scope::Readers,
        identity: &Identity,
        id: &str,
    ) -> Option<Response> {
        (!readers.may_watch(identity, &self.actor, self.watchers.as_deref())).then(|| {
            error(
                StatusCode::FORBIDDEN,
                format!(
                    "share {id} is restricted: {} is not among its watchers",
                    identity.0
                ),
            )
        })
    }
}

pub(super) async fn share_head(store: &Store, id: &str) -> Result<Option<ShareHead>, StoreError> {
    store
        .row(
            "SELECT owner AS actor, width, height, keyframe_seq, (ended_at IS NOT NULL \
               OR last_seen < now() - make_interval(secs => $2)) AS ended, watchers \
             FROM shares WHERE id = $1",
            &[&id, &LIVE_SECONDS],
        )
        .await
}

/// `GET /v1/shares/{id}/stream`: server-sent events. The first message is a JSON object (the
/// screen size: `cols`/`rows`, as asciinema-player's eventsource driver reads it, plus the
/// share's `actor`, and `time`: the first event's); each next one an asciicast v2 event
/// `[t, code, data]`; `event: done` when the share ends (or the recording is played out).
pub(super) async fn stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::Extension(streams): axum::Extension<Arc<crate::connections::Streams>>,
    Path(id): Path<String>,
    seen: crate::access::Seen,
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
    seen.set(&identity.0);
    // Held by the body, so until the watcher goes: the identity's streams are capped (429).
    let slot = match streams.open(&identity.0) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let head = match share_head(&state.store, &id).await {
        Ok(Some(h)) => h,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no share {id}")),
        Err(e) => return store_error(e),
    };
    if let Some(refused) = head.refuses(&state.readers, &identity, &id) {
        return refused;
    }
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
    let header = warroom_core::protocol::StreamHeader {
        cols: u16::try_from(head.width).unwrap_or(0),
        rows: u16::try_from(head.height).unwrap_or(0),
        time,
        id: id.clone(),
        actor: head.actor.clone(),
        live: !head.ended,
    };
    let _ = tx.try_send(sse_data(
        &serde_json::to_string(&header).unwrap_or_default(),
    ));
    tokio::spawn(feed_watcher(Arc::clone(&state), id, identity, start, tx));
    let open = (slot, crate::metrics::metrics().share_stream());
    let body = futures::stream::unfold((rx, open), |(mut rx, open)| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), (rx, open)))
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
pub(super) async fn first_time(store: &Store, id: &str, seq: i64) -> Result<f64, StoreError> {
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

pub(super) fn sse_data(data: &str) -> Bytes {
    // JSON text holds no raw newline, so one `data:` line is the whole message.
    Bytes::from(format!("data: {data}\n\n"))
}

/// Sends the share's frames from `next` on until the watcher leaves or the share ends: first
/// what the table holds, then what this replica's reader fans out (the table again to fill a
/// gap or after lagging).
pub(super) async fn feed_watcher(
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
            // The replica is stopping: the stream ends without "done", so the watcher opens
            // it again (through the balancer, on another replica) from a keyframe.
            () = state.stopping.cancelled() => break 'feed,
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

pub(super) async fn mark_present(
    store: &Store,
    watch_id: &str,
    id: &str,
    identity: &Identity,
) -> Result<(), StoreError> {
    store
        .execute(
            "INSERT INTO share_watchers (watch_id, share_id, identity) VALUES ($1, $2, $3) \
             ON CONFLICT (watch_id) DO UPDATE SET last_seen = now()",
            &[&watch_id, &id, &identity.0],
        )
        .await?;
    Ok(())
}

/// Up to a page of frames from `from` on: (seq, the event as asciicast v2 JSON).
pub(super) async fn read_frames(
    store: &Store,
    id: &str,
    from: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
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
            let event = warroom_core::protocol::StreamEvent(t, kind, data);
            Ok((
                r.try_get(0)?,
                serde_json::to_string(&event).unwrap_or_default(),
            ))
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(StoreError::from)
}
