//! Sorting, filtering and columns of the sessions table. Pure functions over a snapshot.

use std::cmp::Ordering;

use warroom_core::backends::postgres::PgSession;
use warroom_core::human::opt_duration;
use warroom_core::sanitize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Pid,
    Database,
    User,
    Application,
    Client,
    State,
    Wait,
    QueryTime,
    XactTime,
    BlockedBy,
    /// What a waiter waits for: lock mode and table (or xid).
    Lock,
    Query,
    /// The pod behind the client address (shown when a Kubernetes context is watched).
    Pod,
}

impl crate::panes::table::Column for Column {
    const SORTABLE: &'static [Column] = &Column::ALL;

    fn title(self) -> &'static str {
        match self {
            Column::Pid => "PID",
            Column::Database => "DB",
            Column::User => "USER",
            Column::Application => "APP",
            Column::Client => "CLIENT",
            Column::State => "STATE",
            Column::Wait => "WAIT",
            Column::QueryTime => "QUERY",
            Column::XactTime => "XACT",
            Column::BlockedBy => "BLOCKED BY",
            Column::Lock => "LOCK",
            Column::Query => "QUERY TEXT",
            Column::Pod => "POD",
        }
    }
}

impl Column {
    /// Sort order of `s`; also the order of columns on screen.
    pub const ALL: [Column; 12] = [
        Column::Pid,
        Column::Database,
        Column::User,
        Column::Application,
        Column::Client,
        Column::State,
        Column::Wait,
        Column::QueryTime,
        Column::XactTime,
        Column::BlockedBy,
        Column::Lock,
        Column::Query,
    ];

    /// Width on screen; the query text takes what is left.
    pub fn width(self) -> u16 {
        match self {
            Column::Pid => 7,
            Column::Database => 10,
            Column::User => 10,
            Column::Application => 18,
            Column::Client => 15,
            Column::State => 11,
            Column::Wait => 18,
            Column::QueryTime => 7,
            Column::XactTime => 7,
            Column::BlockedBy => 11,
            Column::Lock => 24,
            // The query text keeps at least this much; other columns give way first.
            Column::Query => 30,
            Column::Pod => 30,
        }
    }

    /// Lower numbers are dropped last when the terminal is narrow.
    fn priority(self) -> u8 {
        match self {
            Column::Pid | Column::Query => 0,
            Column::State | Column::QueryTime => 1,
            Column::BlockedBy => 2,
            Column::Lock => 5,
            Column::Application => 3,
            // An old transaction is what holds locks: keep XACT longer than USER.
            Column::XactTime => 4,
            Column::Wait => 5,
            Column::User => 6,
            Column::Database => 7,
            Column::Client => 8,
            // Where a session comes from says more than its application name.
            Column::Pod => 2,
        }
    }

    /// Text of this column for one session, sanitized.
    pub fn text(self, s: &PgSession) -> String {
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "-".into(), |t| sanitize::cell(t, 64))
        };
        match self {
            Column::Pid => s.pid.to_string(),
            Column::Database => opt(&s.database),
            Column::User => opt(&s.user),
            Column::Application => sanitize::cell(&s.application, 64),
            Column::Client => opt(&s.client_addr),
            Column::State => opt(&s.state),
            Column::Wait => match (&s.wait_event_type, &s.wait_event) {
                (Some(t), Some(e)) => sanitize::cell(&format!("{t}:{e}"), 64),
                (Some(t), None) => sanitize::cell(t, 64),
                _ => "-".into(),
            },
            Column::QueryTime => opt_duration(s.query_seconds),
            Column::XactTime => opt_duration(s.xact_seconds),
            Column::BlockedBy => {
                if s.blocked_by.is_empty() {
                    String::new()
                } else {
                    s.blocked_by
                        .iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                }
            }
            Column::Lock => s
                .lock
                .as_ref()
                .map_or_else(String::new, |l| sanitize::cell(&l.short(), 64)),
            Column::Query => sanitize::cell(&s.query, 400),
            // Drawn from the pod directory (`PgPane::pod_text`); the CLI table has none.
            Column::Pod => "-".into(),
        }
    }
}

/// Columns that fit in `width`, in screen order; the query text always stays.
pub fn columns_for_width(width: u16) -> Vec<Column> {
    columns_for(width, false)
}

/// The same, with the POD column after CLIENT when `with_pod` (pods are watched).
pub fn columns_for(width: u16, with_pod: bool) -> Vec<Column> {
    let mut all: Vec<Column> = Column::ALL.to_vec();
    if with_pod {
        let at = all
            .iter()
            .position(|c| *c == Column::Client)
            .map_or(0, |i| i + 1);
        all.insert(at, Column::Pod);
    }
    let mut chosen: Vec<Column> = all.clone();
    let total = |cols: &[Column]| cols.iter().map(|c| c.width() + 1).sum::<u16>();
    while total(&chosen) > width {
        let drop = chosen
            .iter()
            .copied()
            .filter(|c| c.priority() > 0)
            .max_by_key(|c| c.priority());
        match drop {
            Some(d) => chosen.retain(|c| *c != d),
            None => break,
        }
    }
    // A narrower column dropped late may still fit where a wide one did not.
    let mut dropped: Vec<Column> = all
        .iter()
        .copied()
        .filter(|c| !chosen.contains(c))
        .collect();
    dropped.sort_by_key(|c| c.priority());
    for c in dropped {
        if total(&chosen) + c.width() < width {
            chosen.push(c);
        }
    }
    chosen.sort_by_key(|c| all.iter().position(|x| x == c));
    chosen
}

fn cmp_opt<T: PartialOrd>(a: &Option<T>, b: &Option<T>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

pub fn compare(col: Column, a: &PgSession, b: &PgSession) -> Ordering {
    let ord = match col {
        Column::Pid => a.pid.cmp(&b.pid),
        Column::Database => a.database.cmp(&b.database),
        Column::User => a.user.cmp(&b.user),
        Column::Application => a.application.cmp(&b.application),
        Column::Client => a.client_addr.cmp(&b.client_addr),
        Column::State => a.state.cmp(&b.state),
        Column::Wait => {
            (&a.wait_event_type, &a.wait_event).cmp(&(&b.wait_event_type, &b.wait_event))
        }
        Column::QueryTime => cmp_opt(&a.query_seconds, &b.query_seconds),
        Column::XactTime => cmp_opt(&a.xact_seconds, &b.xact_seconds),
        Column::BlockedBy => a.blocked_by.len().cmp(&b.blocked_by.len()),
        Column::Lock => a
            .lock
            .as_ref()
            .map(|l| &l.mode)
            .cmp(&b.lock.as_ref().map(|l| &l.mode)),
        Column::Query => a.query.cmp(&b.query),
        Column::Pod => a.client_addr.cmp(&b.client_addr),
    };
    // Ties broken by pid so the order is stable across refreshes.
    ord.then(a.pid.cmp(&b.pid))
}

/// Case-insensitive match of the filter over application, user, database and query.
pub fn matches(s: &PgSession, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    let hit = |v: &str| v.to_lowercase().contains(needle_lower);
    hit(&s.application)
        || s.user.as_deref().is_some_and(hit)
        || s.database.as_deref().is_some_and(hit)
        || hit(&s.query)
        || s.pid.to_string() == needle_lower
}

/// Indices of the sessions to show, in order.
pub fn visible_rows(
    sessions: &[PgSession],
    filter: &str,
    show_idle: bool,
    sort: Column,
    descending: bool,
) -> Vec<usize> {
    let needle = filter.to_lowercase();
    let mut rows: Vec<usize> = sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| (show_idle || !s.is_idle()) && matches(s, &needle))
        .map(|(i, _)| i)
        .collect();
    rows.sort_by(|&a, &b| {
        let o = compare(sort, &sessions[a], &sessions[b]);
        if descending { o.reverse() } else { o }
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_keep_pid_state_and_query() {
        let cols = columns_for_width(40);
        assert!(cols.contains(&Column::Pid));
        assert!(cols.contains(&Column::Query));
        assert!(!cols.contains(&Column::Client));
        assert_eq!(columns_for_width(400).len(), Column::ALL.len());
        assert_eq!(columns_for_width(0), vec![Column::Pid, Column::Query]);
        assert!(!columns_for_width(400).contains(&Column::Pod));
        let wide = columns_for(400, true);
        let client = wide.iter().position(|c| *c == Column::Client);
        assert_eq!(wide.get(client.map_or(0, |i| i + 1)), Some(&Column::Pod));
        assert!(
            columns_for(120, true).contains(&Column::Pod),
            "kept before USER and DB"
        );
    }
}
