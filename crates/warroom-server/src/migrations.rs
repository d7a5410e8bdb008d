//! The schema, versioned: `migrations/NNNN_name.sql`, compiled in, applied in order at start.
//!
//! Replicas starting together serialize on a session-level advisory lock, so each migration runs
//! exactly once; the applied versions are recorded in `warroom_schema_migrations`.

use super::store::{MIGRATION_LOCK, Store, StoreError};

/// (version, name, SQL), in order. Never edit an applied migration: add a new one.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "audit_records",
        include_str!("../migrations/0001_audit_records.sql"),
    ),
    (
        2,
        "action_requests",
        include_str!("../migrations/0002_action_requests.sql"),
    ),
    (3, "shares", include_str!("../migrations/0003_shares.sql")),
    (
        4,
        "request_owners",
        include_str!("../migrations/0004_request_owners.sql"),
    ),
    (
        5,
        "receive_order",
        include_str!("../migrations/0005_receive_order.sql"),
    ),
    (
        6,
        "read_scope",
        include_str!("../migrations/0006_read_scope.sql"),
    ),
    (
        7,
        "share_watchers",
        include_str!("../migrations/0007_share_watchers.sql"),
    ),
];

/// Applies the missing migrations; returns the versions applied now.
pub async fn migrate(store: &Store) -> Result<Vec<i32>, StoreError> {
    let mut client = store.client().await?;
    client
        .query_one("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(&mut client).await;
    // Unlock even after a failure; if the connection is gone the lock went with it.
    let unlocked = client
        .query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn apply(client: &mut deadpool_postgres::Object) -> Result<Vec<i32>, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS warroom_schema_migrations (\
               version integer PRIMARY KEY, \
               name text NOT NULL, \
               applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let done: Vec<i32> = client
        .query("SELECT version FROM warroom_schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO warroom_schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "schema migration applied");
        applied.push(*version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_match_the_file_names() {
        let mut last = 0;
        for (version, name, sql) in MIGRATIONS {
            assert!(*version > last, "migration {version} out of order");
            last = *version;
            assert!(!name.is_empty() && !sql.trim().is_empty());
        }
    }
}
