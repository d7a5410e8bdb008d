//! Group commit for `POST /v1/audit`: concurrent records are inserted by one statement and one
//! commit, and each request is answered only after that commit.
//!
//! Per record, the single-row path paid one statement (parse, plan, executor start), one
//! round trip and one commit (WAL flush) on PostgreSQL. A few writer tasks take whatever is
//! queued (up to [`MAX_BATCH`]) and insert it through `unnest`; while one batch is at the
//! database the next one
//! fills up, so batches grow with the load and stay at one record when the server is idle.
//!
//! Guarantees kept, per record, exactly as [`Store::insert_one`] gives them:
//! - answered only after its row is committed (or found already stored);
//! - idempotent by id: an id already stored answers Duplicate (same canonical body) or Conflict;
//! - `prev_seen` means "genesis or the hash of a record committed before this one": a record whose
//!   `prev_hash` is the hash of another record in the same batch, or whose id repeats one in the
//!   batch, is held back for the next batch (the statement cannot see its own rows);
//! - a batch the database refuses for a reason other than "unavailable" is retried record by
//!   record, so one bad record fails only its own request.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::ingest::Incoming;
use super::store::{Store, StoreError, Stored};

/// Largest batch: one statement of at most this many rows.
pub const MAX_BATCH: usize = 256;

/// One queued record and where its answer goes.
pub struct Pending {
    pub incoming: Incoming,
    pub received_from: String,
    pub answer: oneshot::Sender<Result<Stored, StoreError>>,
}

pub type Queue = mpsc::UnboundedSender<Pending>;

/// Starts `writers` writer tasks on the current tokio runtime; they stop when the queue's
/// senders are all dropped.
pub fn start(store: Store, writers: usize) -> Queue {
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..writers.max(1) {
        let (store, rx) = (store.clone(), Arc::clone(&rx));
        tokio::spawn(async move { writer(store, rx).await });
    }
    tx
}

async fn writer(store: Store, rx: Arc<Mutex<mpsc::UnboundedReceiver<Pending>>>) {
    let mut held: Vec<Pending> = Vec::new();
    loop {
        let mut batch: Vec<Pending> = std::mem::take(&mut held);
        // With records held back, never wait for the queue (another writer may sit on it,
        // waiting for new records): take what is there if the queue is free, else go.
        let queue = if batch.is_empty() {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(p) => batch.push(p),
                None => return,
            }
            Some(rx)
        } else {
            rx.try_lock().ok()
        };
        if let Some(mut rx) = queue {
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
        }
        // The same order in every statement: concurrent batches (other writers, other
        // replicas) with ids in common then wait for each other instead of deadlocking.
        batch.sort_by(|a, b| a.incoming.record.id.cmp(&b.incoming.record.id));
        let (now, later) = split_dependent(batch);
        held = later;
        write(&store, now).await;
    }
}

/// Splits off the records that must wait for an earlier one of the same batch to commit.
fn split_dependent(batch: Vec<Pending>) -> (Vec<Pending>, Vec<Pending>) {
    let hashes: HashSet<&str> = batch
        .iter()
        .map(|p| p.incoming.record.hash.as_str())
        .collect();
    let mut follows = vec![false; batch.len()];
    let mut ids: HashSet<&str> = HashSet::new();
    for (i, p) in batch.iter().enumerate() {
        let r = &p.incoming.record;
        let repeated = !ids.insert(r.id.as_str());
        follows[i] = repeated || hashes.contains(r.prev_hash.as_str());
    }
    let mut now = Vec::with_capacity(batch.len());
    let mut later = Vec::new();
    for (p, wait) in batch.into_iter().zip(follows) {
        if wait {
            later.push(p);
        } else {
            now.push(p);
        }
    }
    // Forged records can follow each other in a circle: write one anyway, so the queue moves
    // (its prev_seen is then decided by the committed rows only, as for any record).
    if now.is_empty() && !later.is_empty() {
        now.push(later.remove(0));
    }
    (now, later)
}

async fn write(store: &Store, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let rows: Vec<(&Incoming, &str)> = batch
        .iter()
        .map(|p| (&p.incoming, p.received_from.as_str()))
        .collect();
    let started = std::time::Instant::now();
    match store.insert_batch(&rows).await {
        Ok(results) => {
            super::metrics::metrics().audit_commit(results.len(), started.elapsed());
            for (p, r) in batch.into_iter().zip(results) {
                let _ = p.answer.send(Ok(r));
            }
        }
        Err(StoreError::Failed(why)) if batch.len() > 1 => {
            tracing::warn!(error = %why, records = batch.len(), "batch insert failed; retrying record by record");
            for p in batch {
                let r = store.insert_one(&p.incoming, &p.received_from).await;
                let _ = p.answer.send(r);
            }
        }
        Err(e) => {
            for p in batch {
                let _ = p.answer.send(Err(clone_error(&e)));
            }
        }
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
        StoreError::Failed(s) => StoreError::Failed(s.clone()),
    }
}

/// Whether the declared identity names someone else than the authenticated one (compared in
/// canonical form: `Alice@example.com` declared by alice is alice). The server's own records
/// declare the requester it acted for: it vouches for that, so they never mismatch.
pub fn mismatch(incoming: &Incoming, received_from: &str) -> bool {
    !incoming.by_server
        && incoming
            .record
            .actor
            .identity
            .as_deref()
            .is_some_and(|declared| !super::auth::same_identity(declared, received_from))
}

/// Column arrays for the `unnest` insert.
#[derive(Default)]
pub struct Columns {
    pub id: Vec<String>,
    pub time: Vec<SystemTime>,
    pub received_from: Vec<String>,
    pub actor_identity: Vec<Option<String>>,
    pub mismatch: Vec<bool>,
    pub phase: Vec<String>,
    pub action: Vec<String>,
    pub context_kind: Vec<String>,
    pub context_name: Vec<String>,
    pub session_id: Vec<String>,
    pub prev_hash: Vec<String>,
    pub hash: Vec<String>,
    pub hash_ok: Vec<bool>,
    pub record: Vec<String>,
}

impl Columns {
    pub fn of(rows: &[(&Incoming, &str)]) -> Columns {
        let mut c = Columns::default();
        for (incoming, received_from) in rows {
            let r = &incoming.record;
            c.id.push(r.id.clone());
            c.time.push(incoming.time);
            c.received_from.push((*received_from).to_string());
            c.actor_identity.push(r.actor.identity.clone());
            c.mismatch.push(mismatch(incoming, received_from));
            c.phase.push(r.phase.as_str().to_string());
            c.action.push(r.action.clone());
            c.context_kind.push(r.context.kind.clone());
            c.context_name.push(r.context.name.clone());
            c.session_id.push(r.session_id.clone());
            c.prev_hash.push(r.prev_hash.clone());
            c.hash.push(r.hash.clone());
            c.hash_ok.push(incoming.hash_ok);
            c.record.push(incoming.canonical.clone());
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Origin, check, tests::sealed};
    use warroom_core::audit::GENESIS_HASH;

    fn pending(id: &str, prev: &str) -> (Pending, String) {
        let (r, line) = sealed(id, prev);
        let (answer, _) = oneshot::channel();
        let incoming = check(line.as_bytes(), Origin::Client).expect("valid");
        let p = Pending {
            incoming,
            received_from: "alice@example.com".into(),
            answer,
        };
        (p, r.hash)
    }

    fn ids(batch: &[Pending]) -> Vec<&str> {
        batch
            .iter()
            .map(|p| p.incoming.record.id.as_str())
            .collect()
    }

    #[test]
    fn a_record_following_one_of_the_same_batch_waits_for_the_next_batch() {
        let (a, ha) = pending("a", GENESIS_HASH);
        let (b, hb) = pending("b", &ha);
        let (c, _) = pending("c", &hb);
        let (x, _) = pending("x", "h-committed-earlier");
        let (now, later) = split_dependent(vec![a, b, c, x]);
        assert_eq!(ids(&now), ["a", "x"]);
        assert_eq!(ids(&later), ["b", "c"]);
        let (now, later) = split_dependent(later);
        assert_eq!((ids(&now), ids(&later)), (vec!["b"], vec!["c"]));
    }

    #[test]
    fn a_repeated_id_waits_and_a_circle_of_forged_records_still_moves() {
        let (a1, _) = pending("a", GENESIS_HASH);
        let (a2, _) = pending("a", GENESIS_HASH);
        let (now, later) = split_dependent(vec![a1, a2]);
        assert_eq!((ids(&now), ids(&later)), (vec!["a"], vec!["a"]));

        // Each record claims to follow the other: neither can go first by the rule.
        let (mut p, hp) = pending("p", "h-q");
        let (q, hq) = pending("q", &hp);
        p.incoming.record.prev_hash = hq;
        let (now, later) = split_dependent(vec![p, q]);
        assert_eq!((ids(&now), ids(&later)), (vec!["p"], vec!["q"]));
    }
}
