//! Which groups are shown, in which order. Pure functions over a snapshot and its history.

use std::time::SystemTime;

use warroom_core::backends::kafka::{ConsumerGroup, History, KafkaSnapshot, LagStatus, TimeLag};

/// The committed offset, log end and lag of a partition as text ("-" when unknown).
pub fn offset_cells(p: &warroom_core::backends::kafka::PartitionOffsets) -> [String; 3] {
    [p.committed, p.log_end, p.lag()].map(|v| v.map_or("-".to_string(), |v| v.to_string()))
}

/// "client-id host" of the member that owns a partition (cut at `(id, host)` widths), or "-".
pub fn owner_text(
    g: &ConsumerGroup,
    topic: &str,
    partition: i32,
    (id, host): (usize, usize),
) -> String {
    use warroom_core::sanitize::cell;
    g.owner(topic, partition).map_or("-".to_string(), |m| {
        format!("{} {}", cell(&m.client_id, id), cell(&m.client_host, host))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Lag,
    Status,
    TimeLag,
    Name,
}

impl crate::panes::table::Column for SortKey {
    const SORTABLE: &'static [SortKey] = &[
        SortKey::Lag,
        SortKey::Status,
        SortKey::TimeLag,
        SortKey::Name,
    ];

    fn title(self) -> &'static str {
        match self {
            SortKey::Lag => "lag",
            SortKey::Status => "status",
            SortKey::TimeLag => "time lag",
            SortKey::Name => "name",
        }
    }
}

/// One row: the group and what history says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub index: usize,
    pub status: LagStatus,
    pub time_lag: TimeLag,
}

fn matches(g: &ConsumerGroup, status: LagStatus, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let hay = |s: &str| s.to_lowercase().contains(needle);
    hay(&g.id) || hay(&g.state) || hay(status.label()) || g.topics().iter().any(|t| hay(t))
}

fn time_key(t: TimeLag) -> u128 {
    match t {
        TimeLag::About(d) | TimeLag::AtLeast(d) => d.as_millis() + 1,
        TimeLag::Unknown => 0,
    }
}

/// Rows matching `filter` (group, topic, state or status; case-insensitive), sorted.
pub fn visible_rows(
    snap: &KafkaSnapshot,
    history: &History,
    filter: &str,
    sort: SortKey,
    descending: bool,
    now: SystemTime,
) -> Vec<GroupRow> {
    let needle = filter.trim().to_lowercase();
    let mut rows: Vec<GroupRow> = snap
        .groups
        .iter()
        .enumerate()
        .filter_map(|(index, g)| {
            let status = history.status(g);
            matches(g, status, &needle).then(|| GroupRow {
                index,
                status,
                time_lag: history.time_lag(g, now),
            })
        })
        .collect();
    let groups = &snap.groups;
    rows.sort_by(|a, b| {
        let (ga, gb) = (&groups[a.index], &groups[b.index]);
        let primary = match sort {
            SortKey::Lag => ga.total_lag().cmp(&gb.total_lag()),
            SortKey::Status => a.status.severity().cmp(&b.status.severity()),
            SortKey::TimeLag => time_key(a.time_lag).cmp(&time_key(b.time_lag)),
            SortKey::Name => gb.id.cmp(&ga.id),
        };
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| ga.id.cmp(&gb.id))
    });
    rows
}

/// Eight-level bars for an inline trend.
pub fn trend(series: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &series[series.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0);
    tail.iter()
        .map(|v| {
            let i = v.saturating_mul(7).checked_div(max).unwrap_or(0) as usize;
            BARS[i.min(7)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::kafka::{PartitionOffsets, RefreshCost};

    fn g(id: &str, lag: i64, topic: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.into(),
            state: "Empty".into(),
            protocol_type: "consumer".into(),
            members: vec![],
            partitions: vec![PartitionOffsets {
                topic: topic.into(),
                partition: 0,
                committed: Some(0),
                log_end: Some(lag),
            }],
            error: None,
        }
    }

    #[test]
    fn sorts_by_lag_and_filters_by_topic_or_status() {
        let snap = KafkaSnapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            groups: vec![
                g("a", 5, "orders"),
                g("b", 50, "payments"),
                g("c", 0, "orders"),
            ],
            cost: RefreshCost::default(),
        };
        let h = History::new();
        let ids = |rows: Vec<GroupRow>| -> Vec<String> {
            rows.iter()
                .map(|r| snap.groups[r.index].id.clone())
                .collect()
        };
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            ids(visible_rows(&snap, &h, "", SortKey::Lag, true, now)),
            ["b", "a", "c"]
        );
        assert_eq!(
            ids(visible_rows(&snap, &h, "ORDERS", SortKey::Lag, true, now)),
            ["a", "c"]
        );
        assert_eq!(
            ids(visible_rows(&snap, &h, "stop", SortKey::Name, true, now)),
            ["a", "b"]
        );
        assert_eq!(
            ids(visible_rows(&snap, &h, "", SortKey::Name, true, now)),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn trend_scales_to_the_maximum() {
        assert_eq!(trend(&[0, 5, 10], 8), "▁▄█");
        assert_eq!(trend(&[0, 0], 8), "▁▁");
        assert_eq!(trend(&[1, 2, 3, 4], 2), "▆█");
    }
}
