//! Lag over time, from the snapshots warroom has seen: a status in Burrow's spirit, an
//! estimated time lag, a sparkline, and when each committed offset last moved.
//!
//! Pure functions over observations; the pane feeds it every snapshot.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use super::model::{ConsumerGroup, KafkaSnapshot};

/// How many observations the status looks at (Burrow's default window is 10 commits).
pub const STATUS_WINDOW: usize = 10;
/// How long observations are kept (for the time-lag estimate and the sparkline).
pub const KEEP_FOR: Duration = Duration::from_secs(30 * 60);
/// At most this many observations per group, whatever the refresh interval.
pub const KEEP_AT_MOST: usize = 600;

/// A group's health, judged from the window of observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum LagStatus {
    /// Lag is not growing, or there is none.
    Ok,
    /// Offsets move, but lag grew across the whole window.
    Warn,
    /// Members are there (they heartbeat and commit) but the committed offset does not move
    /// while there is lag.
    Stall,
    /// Nobody is in the group to commit and there is lag.
    Stop,
    /// A committed offset went backwards.
    Rewind,
    /// No members and nothing to catch up on.
    Empty,
}

impl LagStatus {
    pub fn label(self) -> &'static str {
        match self {
            LagStatus::Ok => "OK",
            LagStatus::Warn => "WARN",
            LagStatus::Stall => "STALL",
            LagStatus::Stop => "STOP",
            LagStatus::Rewind => "REWIND",
            LagStatus::Empty => "EMPTY",
        }
    }

    /// How much it deserves attention: higher sorts first.
    pub fn severity(self) -> u8 {
        match self {
            LagStatus::Stop | LagStatus::Rewind => 4,
            LagStatus::Stall => 3,
            LagStatus::Warn => 2,
            LagStatus::Empty => 1,
            LagStatus::Ok => 0,
        }
    }
}

/// How far behind in time the committed offsets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TimeLag {
    /// Interpolated from the log end offsets seen.
    About(Duration),
    /// The committed offset is older than every log end offset kept.
    AtLeast(Duration),
    Unknown,
}

impl TimeLag {
    pub fn text(self) -> String {
        match self {
            TimeLag::About(d) => short_duration(d),
            // Under a second of history says nothing yet.
            TimeLag::AtLeast(d) if d < Duration::from_secs(1) => "-".into(),
            TimeLag::AtLeast(d) => format!(">{}", short_duration(d)),
            TimeLag::Unknown => "-".into(),
        }
    }

    fn seconds(self) -> f64 {
        match self {
            TimeLag::About(d) | TimeLag::AtLeast(d) => d.as_secs_f64(),
            TimeLag::Unknown => -1.0,
        }
    }
}

pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// One partition at one refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub at: SystemTime,
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
}

impl Point {
    fn lag(&self) -> Option<i64> {
        Some((self.log_end? - self.committed?).max(0))
    }
}

/// One group at one refresh: what the status needs besides the partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupPoint {
    at: SystemTime,
    members: usize,
    total_lag: i64,
}

#[derive(Debug, Clone, Default)]
struct GroupHistory {
    points: VecDeque<GroupPoint>,
    partitions: BTreeMap<(String, i32), VecDeque<Point>>,
    /// When each partition's committed offset last changed, as far as warroom saw.
    moved: HashMap<(String, i32), Moved>,
}

/// When a committed offset last moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    At(SystemTime),
    /// Not since warroom started watching at this time.
    NotSince(SystemTime),
}

/// The history of every group of one cluster.
#[derive(Debug, Clone, Default)]
pub struct History {
    groups: HashMap<String, GroupHistory>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Record a snapshot. Groups that disappeared are forgotten.
    pub fn observe(&mut self, snap: &KafkaSnapshot) {
        let at = snap.taken_at;
        self.groups
            .retain(|id, _| snap.groups.iter().any(|g| &g.id == id));
        for g in &snap.groups {
            let h = self.groups.entry(g.id.clone()).or_default();
            h.observe(g, at);
        }
    }

    pub fn status(&self, group: &ConsumerGroup) -> LagStatus {
        match self.groups.get(&group.id) {
            Some(h) => h.status(group),
            None => status_without_history(group),
        }
    }

    /// Total lag per observation, oldest first, for the sparkline.
    pub fn lag_series(&self, group: &str) -> Vec<u64> {
        self.groups.get(group).map_or_else(Vec::new, |h| {
            h.points
                .iter()
                .map(|p| u64::try_from(p.total_lag).unwrap_or(0))
                .collect()
        })
    }

    /// The group's time lag: the worst of its partitions.
    pub fn time_lag(&self, group: &ConsumerGroup, now: SystemTime) -> TimeLag {
        let Some(h) = self.groups.get(&group.id) else {
            return if group.total_lag() == 0 && !group.partitions.is_empty() {
                TimeLag::About(Duration::ZERO)
            } else {
                TimeLag::Unknown
            };
        };
        let mut worst = TimeLag::Unknown;
        for p in &group.partitions {
            let key = (p.topic.clone(), p.partition);
            let t = match (p.committed, h.partitions.get(&key)) {
                (Some(c), Some(points)) => time_lag_of(c, points, now),
                _ => TimeLag::Unknown,
            };
            if t.seconds() > worst.seconds() {
                worst = t;
            }
        }
        worst
    }

    pub fn last_moved(&self, group: &str, topic: &str, partition: i32) -> Option<Moved> {
        self.groups
            .get(group)?
            .moved
            .get(&(topic.to_string(), partition))
            .copied()
    }
}

impl GroupHistory {
    fn observe(&mut self, g: &ConsumerGroup, at: SystemTime) {
        self.points.push_back(GroupPoint {
            at,
            members: g.members.len(),
            total_lag: g.total_lag(),
        });
        trim(&mut self.points, at, |p| p.at);
        for p in &g.partitions {
            let key = (p.topic.clone(), p.partition);
            let series = self.partitions.entry(key.clone()).or_default();
            let previous = series.back().and_then(|q| q.committed);
            match (previous, series.is_empty()) {
                (_, true) => {
                    self.moved.insert(key.clone(), Moved::NotSince(at));
                }
                (prev, false) if prev != p.committed => {
                    self.moved.insert(key.clone(), Moved::At(at));
                }
                _ => {}
            }
            series.push_back(Point {
                at,
                committed: p.committed,
                log_end: p.log_end,
            });
            trim(series, at, |q| q.at);
        }
        self.partitions.retain(|(t, n), _| {
            g.partitions
                .iter()
                .any(|p| &p.topic == t && p.partition == *n)
        });
        self.moved.retain(|(t, n), _| {
            g.partitions
                .iter()
                .any(|p| &p.topic == t && p.partition == *n)
        });
    }

    fn status(&self, g: &ConsumerGroup) -> LagStatus {
        let lag = g.total_lag();
        let window = |series: &VecDeque<Point>| -> Vec<Point> {
            let skip = series.len().saturating_sub(STATUS_WINDOW);
            series.iter().skip(skip).copied().collect()
        };
        // REWIND: any committed offset went backwards inside the window.
        for series in self.partitions.values() {
            let w = window(series);
            if w.windows(2)
                .any(|pair| match (pair[0].committed, pair[1].committed) {
                    (Some(a), Some(b)) => b < a,
                    _ => false,
                })
            {
                return LagStatus::Rewind;
            }
        }
        if g.members.is_empty() {
            return if lag > 0 {
                LagStatus::Stop
            } else {
                LagStatus::Empty
            };
        }
        if lag == 0 {
            return LagStatus::Ok;
        }
        // STALL: a lagging partition whose committed offset did not move across a window of
        // at least three observations, while its members are there.
        let stalled = self.partitions.values().any(|series| {
            let w = window(series);
            w.len() >= 3
                && w.last().and_then(Point::lag).is_some_and(|l| l > 0)
                && w.iter().all(|p| p.committed == w[0].committed)
        });
        if stalled {
            return LagStatus::Stall;
        }
        // WARN: total lag never fell and grew from the first to the last observation.
        let skip = self.points.len().saturating_sub(STATUS_WINDOW);
        let w: Vec<i64> = self.points.iter().skip(skip).map(|p| p.total_lag).collect();
        let members_steady = self
            .points
            .iter()
            .skip(skip)
            .all(|p| p.members == g.members.len());
        if w.len() >= 3
            && w.windows(2).all(|p| p[1] >= p[0])
            && w[w.len() - 1] > w[0]
            && members_steady
        {
            return LagStatus::Warn;
        }
        LagStatus::Ok
    }
}

/// With one snapshot only, membership and lag are all there is to go on.
pub fn status_without_history(g: &ConsumerGroup) -> LagStatus {
    if g.members.is_empty() {
        if g.total_lag() > 0 {
            LagStatus::Stop
        } else {
            LagStatus::Empty
        }
    } else {
        LagStatus::Ok
    }
}

fn trim<T>(q: &mut VecDeque<T>, now: SystemTime, at: impl Fn(&T) -> SystemTime) {
    while q.len() > KEEP_AT_MOST {
        q.pop_front();
    }
    while q
        .front()
        .is_some_and(|p| now.duration_since(at(p)).unwrap_or_default() > KEEP_FOR)
    {
        q.pop_front();
    }
}

/// When was the log end at `committed`? Interpolate between the two observations around it;
/// the time lag is how long ago that was.
pub fn time_lag_of(committed: i64, points: &VecDeque<Point>, now: SystemTime) -> TimeLag {
    let ends: Vec<(SystemTime, i64)> = points
        .iter()
        .filter_map(|p| Some((p.at, p.log_end?)))
        .collect();
    let Some(&(_, latest_end)) = ends.last() else {
        return TimeLag::Unknown;
    };
    if committed >= latest_end {
        return TimeLag::About(Duration::ZERO);
    }
    // The newest observation whose end offset was still at or below the committed offset.
    for pair in ends.windows(2).rev() {
        let ((t0, e0), (t1, e1)) = (pair[0], pair[1]);
        if e0 <= committed && committed < e1 {
            let span = t1.duration_since(t0).unwrap_or_default().as_secs_f64();
            let frac = (committed - e0) as f64 / (e1 - e0) as f64;
            let reached = t0 + Duration::from_secs_f64(span * frac);
            return TimeLag::About(now.duration_since(reached).unwrap_or_default());
        }
    }
    let oldest = ends[0].0;
    TimeLag::AtLeast(now.duration_since(oldest).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::kafka::model::RefreshCost;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn group(committed: i64, end: i64, members: usize) -> ConsumerGroup {
        crate::backends::kafka::fixtures::group("billing", members, committed, end)
    }

    fn snap(at: u64, g: ConsumerGroup) -> KafkaSnapshot {
        KafkaSnapshot {
            taken_at: t(at),
            groups: vec![g],
            cost: RefreshCost::default(),
        }
    }

    fn run(steps: &[(u64, i64, i64, usize)]) -> (History, ConsumerGroup) {
        let mut h = History::new();
        let mut last = group(0, 0, 1);
        for &(at, c, e, m) in steps {
            last = group(c, e, m);
            h.observe(&snap(at, last.clone()));
        }
        (h, last)
    }

    /// (time, committed, log end, members) per refresh.
    type Steps = &'static [(u64, i64, i64, usize)];

    #[test]
    fn status_and_lag_series_follow_the_offsets_and_members() {
        // Steps, the status they lead to, the lag at each refresh.
        let cases: [(&str, Steps, LagStatus, &[u64]); 6] = [
            (
                "growing lag with moving offsets",
                &[
                    (0, 10, 20, 1),
                    (10, 20, 40, 1),
                    (20, 30, 60, 1),
                    (30, 40, 90, 1),
                ],
                LagStatus::Warn,
                &[10, 20, 30, 50],
            ),
            (
                "keeping up",
                &[(0, 10, 20, 1), (10, 30, 40, 1), (20, 55, 60, 1)],
                LagStatus::Ok,
                &[10, 10, 5],
            ),
            (
                "members but offset frozen with lag",
                &[(0, 10, 20, 1), (10, 10, 30, 1), (20, 10, 40, 1)],
                LagStatus::Stall,
                &[10, 20, 30],
            ),
            (
                "no members with lag",
                &[(0, 10, 20, 0), (10, 10, 30, 0)],
                LagStatus::Stop,
                &[10, 20],
            ),
            (
                "no members without lag",
                &[(0, 30, 30, 0), (10, 30, 30, 0)],
                LagStatus::Empty,
                &[0, 0],
            ),
            (
                "offset going backwards",
                &[(0, 50, 60, 1), (10, 5, 70, 1), (20, 20, 80, 1)],
                LagStatus::Rewind,
                &[10, 65, 60],
            ),
        ];
        for (name, steps, status, lags) in cases {
            let (h, g) = run(steps);
            assert_eq!(h.status(&g), status, "{name}");
            assert_eq!(h.lag_series("billing"), lags, "{name}");
        }
    }

    #[test]
    fn time_lag_interpolates_log_end_history() {
        // The log end passed 15 at t=5 (10 at t=0, 20 at t=10); committed 15 seen at t=30.
        let (h, g) = run(&[
            (0, 0, 10, 1),
            (10, 5, 20, 1),
            (20, 10, 30, 1),
            (30, 15, 40, 1),
        ]);
        assert_eq!(
            h.time_lag(&g, t(30)),
            TimeLag::About(Duration::from_secs(25))
        );
        // Older than anything seen: at least the history's length.
        let (h, g) = run(&[(0, 0, 10, 1), (10, 1, 20, 1)]);
        assert_eq!(
            h.time_lag(&g, t(10)),
            TimeLag::AtLeast(Duration::from_secs(10))
        );
        let (h, g) = run(&[(0, 10, 10, 1)]);
        assert_eq!(h.time_lag(&g, t(0)), TimeLag::About(Duration::ZERO));
    }

    #[test]
    fn last_moved_tracks_commit_changes() {
        let (h, _) = run(&[(0, 1, 5, 1), (10, 1, 6, 1), (20, 3, 7, 1), (30, 3, 8, 1)]);
        assert_eq!(h.last_moved("billing", "orders", 0), Some(Moved::At(t(20))));
        let (h, _) = run(&[(0, 1, 5, 1), (10, 1, 6, 1)]);
        assert_eq!(
            h.last_moved("billing", "orders", 0),
            Some(Moved::NotSince(t(0)))
        );
    }
}
