//! What `warroom server` and its client (`warroom_client`) exchange over HTTP: one type
//! per message, serialized by one side and deserialized by the other, so the two ends cannot
//! drift apart. No I/O here: the server's handlers and the client's calls use these.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;

pub mod requests;

/// A connection attempt gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client as both ends make them: a redirect is refused, never followed (a bearer
/// token must not travel to another host), and it names itself `{product}/{version}`.
/// `timeout` bounds each whole request; `None` for streams, which bound each read instead.
pub fn http_client(
    product: &str,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!("{product}/{}", env!("CARGO_PKG_VERSION")));
    match timeout {
        Some(t) => builder.timeout(t),
        None => builder,
    }
    .build()
}

/// Filters of `GET /v1/audit`; a record matches all that are given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub window: TimeWindow,
    /// The authenticated identity that sent the record (`received_from`).
    pub actor: Option<String>,
    pub context: Option<String>,
    pub action: Option<String>,
}

/// Records with `since <= time < until`; an open end when `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl AuditFilter {
    /// The query-string parameters the server reads back (times as RFC 3339).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let time = |t: SystemTime| humantime::format_rfc3339_micros(t).to_string();
        let TimeWindow { since, until } = self.window;
        let times = [("since", since), ("until", until)]
            .into_iter()
            .filter_map(|(key, t)| Some((key, time(t?))));
        let texts = [
            ("actor", &self.actor),
            ("context", &self.context),
            ("action", &self.action),
        ]
        .into_iter()
        .filter_map(|(key, v)| Some((key, v.clone()?)));
        times.chain(texts).collect()
    }
}

/// One record as the server holds it: the record as it was sent, plus the server's stamps.
/// The server serves the record's JSON untouched (`R = serde_json::Value`); the client reads it
/// as an [`AuditRecord`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord<R = AuditRecord> {
    pub record: R,
    /// The authenticated identity that sent it.
    pub received_from: String,
    /// RFC 3339 with milliseconds.
    pub received_at: String,
    pub identity_mismatch: bool,
    pub hash_ok: bool,
    pub prev_seen: bool,
}

impl ServerRecord {
    /// Who the record is from as the server knows it: the authenticated sender first, what the
    /// record declares only beside it, flagged when the two differ. The server's own records
    /// name the person it acted for and the replica that ran it.
    pub fn sender_text(&self) -> String {
        let actor = &self.record.actor;
        let declared = actor.identity.as_deref().unwrap_or("no identity");
        let mut text = if is_server_name(&self.received_from) {
            format!("{declared} (run by {})", self.received_from)
        } else if self.identity_mismatch {
            format!(
                "{} (declares {declared}: IDENTITY MISMATCH)",
                self.received_from
            )
        } else {
            format!("{} ({}@{})", self.received_from, actor.user, actor.host)
        };
        if !self.hash_ok {
            text.push_str(" [HASH MISMATCH: edited]");
        }
        text
    }
}

/// A page of `GET /v1/audit`, newest first; `next_cursor` fetches the next (older) page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditPage<R = AuditRecord> {
    pub records: Vec<ServerRecord<R>>,
    pub next_cursor: Option<String>,
}

/// The sender names and session namespace of what `warroom server` writes itself: its
/// records are sent as `server:<replica>` in sessions `server:<replica>:<uuid>`. No
/// authenticated identity has this prefix and `POST /v1/audit` refuses such a session, so a
/// client can never post a record that passes for the server's.
pub const SERVER_PREFIX: &str = "server:";

/// `name` is in the server's own namespace (any case: `Server:x` is refused as well).
pub fn is_server_name(name: &str) -> bool {
    name.get(..SERVER_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(SERVER_PREFIX))
}

/// `GET /v1/sessions/{id}/verify`: the chain check of one session. A session is one process
/// run of one sender: its chain is the records of its owner (the sender of its first received
/// record); records other senders posted under the same session id are counted in `foreign`,
/// never linked into the owner's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReport {
    pub session_id: String,
    /// The authenticated sender whose chain this is (`None`: no records).
    pub sender: Option<String>,
    /// Records of the owner's chain.
    pub records: usize,
    /// On the wire: `status`, and `first_break` (null unless broken).
    #[serde(flatten)]
    pub chain: Chain,
    /// The session's first record follows a record this server does not hold.
    pub starts_after_unseen_record: bool,
    /// Hash of the newest record of the session, to compare with the client's file.
    pub last_hash: Option<String>,
    /// Records under this session id sent by others than its owner.
    pub foreign: Vec<ForeignRecords>,
}

/// Records someone other than a session's owner posted under its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignRecords {
    pub sender: String,
    pub records: usize,
}

/// How a session's chain stands: a broken one always names where it first breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ChainWire", try_from = "ChainWire")]
pub enum Chain {
    Intact,
    Broken(ChainBreak),
    /// No records of this session.
    Empty,
}

impl Chain {
    pub fn status(&self) -> ChainStatus {
        match self {
            Chain::Intact => ChainStatus::Intact,
            Chain::Broken(_) => ChainStatus::Broken,
            Chain::Empty => ChainStatus::Empty,
        }
    }

    pub fn first_break(&self) -> Option<&ChainBreak> {
        match self {
            Chain::Broken(b) => Some(b),
            Chain::Intact | Chain::Empty => None,
        }
    }
}

/// [`Chain`] as the wire has it.
#[derive(Serialize, Deserialize)]
struct ChainWire {
    status: ChainStatus,
    first_break: Option<ChainBreak>,
}

impl From<Chain> for ChainWire {
    fn from(chain: Chain) -> ChainWire {
        ChainWire {
            status: chain.status(),
            first_break: chain.first_break().cloned(),
        }
    }
}

impl TryFrom<ChainWire> for Chain {
    type Error = String;

    fn try_from(wire: ChainWire) -> Result<Chain, String> {
        match (wire.status, wire.first_break) {
            (ChainStatus::Intact, None) => Ok(Chain::Intact),
            (ChainStatus::Empty, None) => Ok(Chain::Empty),
            (ChainStatus::Broken, Some(b)) => Ok(Chain::Broken(b)),
            (ChainStatus::Broken, None) => Err("a broken chain without its first break".into()),
            (status, Some(_)) => Err(format!(
                "a first break on a chain whose status is {status:?}"
            )),
        }
    }
}

/// The `status` of a [`Chain`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    Intact,
    Broken,
    /// No records of this session.
    Empty,
}

/// The first record where a session's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub id: String,
    /// RFC 3339 with milliseconds.
    pub time: String,
    pub problem: ChainProblem,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblem {
    /// The stored hash does not match the record's content.
    HashMismatch,
    /// A record before it is missing.
    Gap,
    /// Two records follow the same one.
    Fork,
}

impl ChainProblem {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainProblem::HashMismatch => "hash_mismatch",
            ChainProblem::Gap => "gap",
            ChainProblem::Fork => "fork",
        }
    }
}

/// `PUT /v1/shares/{id}`: the sharer starts (or resumes) sharing its session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartShare {
    #[serde(default)]
    pub contexts: Vec<String>,
    pub width: u16,
    pub height: u16,
    /// The sharer's clock when its recording's time 0 was taken (RFC 3339): the audit
    /// timeline's offsets into the recording count from it.
    pub started: Option<String>,
    /// Who may watch (identities, `group:NAME`); none: any authenticated identity. The owner
    /// and the server's auditors always may.
    #[serde(default)]
    pub watchers: Option<Vec<String>>,
}

/// `POST /v1/shares/{id}/frames`: a batch of what the sharer's terminal drew.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// asciicast v2 events: `[seconds, "o" | "r" | "m", data]`.
    pub events: Vec<(f64, String, String)>,
    /// The first event starts a full-screen redraw: live watchers start there.
    #[serde(default)]
    pub keyframe: bool,
}

/// The answer to an [`Upload`]: the share's next sequence number and who watches it now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Uploaded {
    pub next_seq: i64,
    pub watchers: Vec<String>,
}

/// `POST /v1/shares/{id}/link`: a short-lived link to watch a share in a browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchLink {
    /// Below the server's URL: `/watch/{id}?link=...`.
    pub path: String,
    pub expires_in_seconds: u64,
}

/// The first message of `GET /v1/shares/{id}/stream`: the screen size under the names
/// asciinema-player's eventsource driver reads (`cols`, `rows`), the share, its sharer (the
/// authenticated owner), whether it is live, and the time of the first event sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamHeader {
    pub cols: u16,
    pub rows: u16,
    pub time: f64,
    pub id: String,
    pub actor: String,
    pub live: bool,
}

/// Each next message of the stream: an asciicast v2 event `[seconds, code, data]` (`o`
/// output, `m` marker, `r` resize as `COLSxROWS`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamEvent(pub f64, pub String, pub String);

/// One live share, as `GET /v1/shares` lists it (under `"shares"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveShare {
    /// The share id: the sharer's audit session id.
    pub id: String,
    pub actor: String,
    /// The authenticated identity sharing.
    pub owner: String,
    pub contexts: Vec<String>,
    /// RFC 3339.
    pub since: String,
    pub width: u16,
    pub height: u16,
    pub watchers: Vec<String>,
}

/// One kept recording (live or ended, until retention), as `GET /v1/recordings` lists it
/// (under `"recordings"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recording {
    /// The share id: the sharer's audit session id.
    pub id: String,
    pub actor: String,
    /// RFC 3339 with milliseconds: the recording's time 0.
    pub started: String,
    pub ended: bool,
}

/// `GET /v1/shares`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveShares {
    pub shares: Vec<LiveShare>,
}

/// `GET /v1/recordings`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recordings {
    pub recordings: Vec<Recording>,
}

/// The empty body of the calls that need none (`POST /v1/shares/{id}/end`, `.../link`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_filter_sends_only_what_is_set() {
        let filter = AuditFilter {
            window: TimeWindow {
                since: Some(SystemTime::UNIX_EPOCH + Duration::from_micros(1_500_000)),
                until: None,
            },
            action: Some("pg.cancel".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            filter.query_pairs(),
            vec![
                ("since", "1970-01-01T00:00:01.500000Z".to_string()),
                ("action", "pg.cancel".to_string()),
            ]
        );
        assert!(AuditFilter::default().query_pairs().is_empty());
    }

    #[test]
    fn the_server_namespace_is_recognised_in_any_case_and_nothing_else_is() {
        for name in ["server:eu-1", "SERVER:eu-1", "Server:", "server:"] {
            assert!(is_server_name(name), "{name}");
        }
        for name in [
            "servers:x",
            "server",
            "alice@example.com",
            "",
            "serv\u{e9}r:x",
            " server:x",
        ] {
            assert!(!is_server_name(name), "{name}");
        }
    }

    #[test]
    fn chain_names_on_the_wire_are_snake_case() {
        let report = SessionReport {
            session_id: "s".into(),
            sender: Some("alice@example.com".into()),
            records: 2,
            chain: Chain::Broken(ChainBreak {
                id: "r2".into(),
                time: "t".into(),
                problem: ChainProblem::HashMismatch,
                detail: "d".into(),
            }),
            starts_after_unseen_record: false,
            last_hash: None,
            foreign: vec![ForeignRecords {
                sender: "mallory@example.com".into(),
                records: 1,
            }],
        };
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["status"], "broken");
        assert_eq!(json["first_break"]["problem"], "hash_mismatch");
        for p in [
            ChainProblem::HashMismatch,
            ChainProblem::Gap,
            ChainProblem::Fork,
        ] {
            assert_eq!(serde_json::to_value(p).expect("serializes"), p.as_str());
        }
        let back: SessionReport = serde_json::from_value(json.clone()).expect("reads back");
        assert_eq!(back, report);
        // Not broken: the key stays, null; a status and a break that disagree are refused.
        let intact = SessionReport {
            chain: Chain::Intact,
            ..report
        };
        let intact_json = serde_json::to_value(&intact).expect("serializes");
        assert_eq!(intact_json["status"], "intact");
        assert_eq!(intact_json["first_break"], serde_json::Value::Null);
        let mut broken_unnamed = json.clone();
        broken_unnamed["first_break"] = serde_json::Value::Null;
        let mut intact_with_break = json;
        intact_with_break["status"] = "intact".into();
        for (bad, why) in [
            (broken_unnamed, "without its first break"),
            (intact_with_break, "status is Intact"),
        ] {
            let err = serde_json::from_value::<SessionReport>(bad).expect_err("refused");
            assert!(err.to_string().contains(why), "{err}");
        }
    }
}
