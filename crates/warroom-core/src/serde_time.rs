//! How times are written as JSON. Wire times (`POST /v1/actions`) are RFC 3339 UTC text with
//! microseconds (`2026-11-26T10:00:00.123456Z`): the precision PostgreSQL reports, so a session's
//! `backend_start` survives a round trip exactly — `#[serde(with = "crate::serde_time::micros")]`
//! (and `micros_opt` for an `Option`). Output-only times (`-o json`, previews) use the coarser
//! serializers at the end.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serializer};

/// The text form: RFC 3339 UTC with microseconds.
pub fn text(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Parses RFC 3339 UTC text (any fraction of a second).
pub fn parse(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(s).map_err(|e| format!("{s:?} is not an RFC 3339 UTC time: {e}"))
}

pub mod micros {
    use super::*;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

pub mod micros_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&text(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// RFC 3339 in UTC with milliseconds (when a Kafka snapshot was taken).
pub fn rfc3339_millis<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// RFC 3339 in UTC to the second (a reset's target time, as the user typed it).
pub fn rfc3339_seconds<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_seconds(*t))
}

/// Whole milliseconds.
pub fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Times {
        #[serde(with = "micros")]
        at: SystemTime,
        #[serde(with = "micros_opt", default)]
        maybe: Option<SystemTime>,
    }

    #[test]
    fn times_keep_their_microseconds_and_bad_text_is_named() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        let t = Times {
            at,
            maybe: Some(at),
        };
        let json = serde_json::to_string(&t).expect("json");
        assert_eq!(
            json,
            r#"{"at":"2025-11-24T16:00:00.123456Z","maybe":"2025-11-24T16:00:00.123456Z"}"#
        );
        assert_eq!(serde_json::from_str::<Times>(&json).expect("parse"), t);
        let none: Times =
            serde_json::from_str(r#"{"at":"2025-11-24T16:00:00Z","maybe":null}"#).expect("null");
        assert_eq!(none.maybe, None);
        let missing: Times = serde_json::from_str(r#"{"at":"2025-11-24T16:00:00Z"}"#).expect("0");
        assert_eq!(missing.maybe, None);
        let bad = serde_json::from_str::<Times>(r#"{"at":"yesterday"}"#).expect_err("bad");
        assert!(
            bad.to_string()
                .starts_with("\"yesterday\" is not an RFC 3339 UTC time"),
            "{bad}"
        );
    }

    #[derive(serde::Serialize)]
    struct OutputTimes {
        #[serde(serialize_with = "rfc3339_millis")]
        taken_at: SystemTime,
        #[serde(serialize_with = "rfc3339_seconds")]
        to: SystemTime,
        #[serde(serialize_with = "millis")]
        wall: Duration,
    }

    #[test]
    fn times_are_rfc3339_text_and_durations_whole_millis() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let json = serde_json::to_value(OutputTimes {
            taken_at: t,
            to: t,
            wall: Duration::from_micros(12_999),
        })
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "taken_at": "2023-11-14T22:13:20.123Z",
                "to": "2023-11-14T22:13:20Z",
                "wall": 12,
            })
        );
    }
}
