//! How long recordings are kept.

use super::*;

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
