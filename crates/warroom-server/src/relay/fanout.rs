//! One reader per watched share and replica: it reads new frames once per doorbell and fans
//! them out to that replica's watchers.

use super::*;

/// What a share's reader hands its replica's watchers.
#[derive(Clone)]
pub(super) enum Fanout {
    Frames(Arc<Vec<(i64, String)>>),
    Ended,
}

/// Frames fanned out per share and replica before a slow watcher lags (then it reads the
/// table itself from where it is).
pub(super) const FANOUT_QUEUE: usize = 64;

/// This replica's fan-out of share `id` (started with its first local watcher).
pub(super) fn subscribe(state: &Arc<AppState>, id: &str) -> broadcast::Receiver<Fanout> {
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
pub(super) async fn share_reader(state: Arc<AppState>, id: String, tx: broadcast::Sender<Fanout>) {
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
