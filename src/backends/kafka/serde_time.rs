//! How Kafka values with a time in them are written as JSON (`-o json`, previews).

use std::time::{Duration, SystemTime};

use serde::Serializer;

/// RFC 3339 in UTC with milliseconds (when a snapshot was taken).
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
    use super::*;

    #[derive(serde::Serialize)]
    struct Times {
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
        let json = serde_json::to_value(Times {
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
