//! Checking one POSTed record before it is stored: JSON, schema version, fields, own hash.
//!
//! The hash is checked with the client's own code ([`chain_hash`]), over the record exactly as
//! sent (unknown keys included), so the server and `warroom audit verify` agree by construction.

use std::time::SystemTime;

use serde_json::Value;

use warroom_core::audit::{AuditRecord, RECORD_VERSION, canonical_json, chain_hash};
use warroom_core::protocol::is_server_name;

/// Largest body the audit endpoint takes.
pub const MAX_BODY: usize = 1024 * 1024;

/// Longest id accepted (client ids are UUIDs).
const MAX_ID_LEN: usize = 200;

/// A record that passed the checks, ready to store.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub record: AuditRecord,
    /// Canonical JSON of the record as sent: what is stored and compared for idempotency.
    pub canonical: String,
    pub time: SystemTime,
    /// The record's `hash` is the hash of its content after its `prev_hash`.
    pub hash_ok: bool,
    /// Written by this server's own executor (its sender is `server:<replica>`).
    pub by_server: bool,
}

/// Who hands the record in: a client through `POST /v1/audit`, or the server's own executor
/// writing into its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    Client,
    Server { session_id: &'a str },
}

/// Why a body is not an audit record (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord(pub String);

/// Parses and checks one body handed in by `origin`.
///
/// What only the server writes cannot come from a client: a session in the server's namespace
/// and a `delegation` note in the target (the request, requester and approver of a delegated
/// action) are refused from `POST /v1/audit`; the server writes only into its own session.
pub fn check(body: &[u8], origin: Origin<'_>) -> Result<Incoming, BadRecord> {
    let bad = |m: String| BadRecord(m);
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let Value::Object(map) = &value else {
        return Err(bad("the body is not a JSON object".into()));
    };
    match map.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(RECORD_VERSION) => {}
        Some(v) => {
            return Err(bad(format!(
                "unsupported record version {v}; this server takes version {RECORD_VERSION}"
            )));
        }
        None => return Err(bad("\"version\" is missing or not a number".into())),
    }
    let record: AuditRecord = serde_json::from_value(value.clone())
        .map_err(|e| bad(format!("not an audit record: {e}")))?;
    if record.id.is_empty() || record.id.len() > MAX_ID_LEN || has_control(&record.id) {
        return Err(bad(format!(
            "\"id\" must be 1 to {MAX_ID_LEN} characters without control characters"
        )));
    }
    if record.session_id.is_empty() || has_control(&record.session_id) {
        return Err(bad(
            "\"session_id\" must be non-empty without control characters".into(),
        ));
    }
    match origin {
        Origin::Client if is_server_name(&record.session_id) => {
            return Err(bad(format!(
                "session ids starting with {:?} are the server's own: a client cannot post into \
                 them",
                warroom_core::protocol::SERVER_PREFIX
            )));
        }
        Origin::Client if record.target.get("delegation").is_some() => {
            return Err(bad(
                "\"target.delegation\" is written by the server for the actions it runs: a \
                 client record cannot carry it"
                    .into(),
            ));
        }
        Origin::Server { session_id } if record.session_id != session_id => {
            return Err(bad(format!(
                "the server writes only into its own session {session_id}"
            )));
        }
        Origin::Client | Origin::Server { .. } => {}
    }
    let time = humantime::parse_rfc3339_weak(&record.time)
        .map_err(|e| bad(format!("\"time\" is not an RFC 3339 time: {e}")))?;
    let hash_ok = chain_hash(&record.prev_hash, &value) == record.hash;
    Ok(Incoming {
        canonical: canonical_json(&value),
        record,
        time,
        hash_ok,
        by_server: matches!(origin, Origin::Server { .. }),
    })
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use warroom_core::audit::{ContextRef, GENESIS_HASH};

    pub(crate) fn sealed(id: &str, prev: &str) -> (AuditRecord, String) {
        // The shared sample, as a server-side test record: its own time, context, target, reason.
        let mut r = AuditRecord {
            time: "2026-03-01T09:30:12.345Z".into(),
            context: ContextRef {
                kind: "postgres".into(),
                name: "prod".into(),
            },
            target: json!({"pid": 1}),
            reason: "INC-1 test".into(),
            ..warroom_core::audit::sample_record(id)
        };
        let line = r.seal(prev).expect("seal");
        (r, line)
    }

    #[test]
    fn a_sealed_client_record_passes_with_its_hash() {
        let (r, line) = sealed("r1", GENESIS_HASH);
        let got = check(line.as_bytes(), Origin::Client).expect("valid");
        assert!(got.hash_ok);
        assert_eq!(got.record, r);
        assert_eq!(got.canonical, line);
    }

    #[test]
    fn an_edited_record_is_taken_but_its_hash_is_flagged() {
        let (_, line) = sealed("r1", GENESIS_HASH);
        let edited = line.replace("INC-1 test", "INC-1 edited");
        let got = check(edited.as_bytes(), Origin::Client).expect("still a record");
        assert!(!got.hash_ok);
    }

    #[test]
    fn garbage_wrong_version_and_bad_fields_are_refused_with_a_reason() {
        assert!(
            check(b"not json", Origin::Client)
                .expect_err("garbage")
                .0
                .contains("not JSON")
        );
        assert!(
            check(b"[1]", Origin::Client)
                .expect_err("array")
                .0
                .contains("not a JSON object")
        );
        let (_, line) = sealed("r1", GENESIS_HASH);
        let v2 = line.replace("\"version\":1", "\"version\":2");
        assert!(
            check(v2.as_bytes(), Origin::Client)
                .expect_err("v2")
                .0
                .contains("unsupported record version 2")
        );
        let mut no_reason: Value = serde_json::from_str(&line).expect("json");
        no_reason.as_object_mut().expect("object").remove("reason");
        assert!(
            check(no_reason.to_string().as_bytes(), Origin::Client)
                .expect_err("field")
                .0
                .contains("missing field `reason`")
        );
        // Records have one shape: a field the client does not write is refused too.
        let renamed = line.replace("\"reason\":", "\"why\":");
        assert!(
            check(renamed.as_bytes(), Origin::Client)
                .expect_err("unknown field")
                .0
                .contains("unknown field `why`")
        );
        let bad_time = line.replace("2026-03-01T09:30:12.345Z", "yesterday");
        assert!(
            check(bad_time.as_bytes(), Origin::Client)
                .expect_err("time")
                .0
                .contains("time")
        );
    }

    #[test]
    fn a_client_cannot_post_into_the_server_session_namespace_or_carry_a_delegation() {
        let mut into_server = sealed("r1", GENESIS_HASH).0;
        into_server.session_id = "SERVER:eu-1:5f1c".into();
        let line = into_server.seal(GENESIS_HASH).expect("seal");
        let err = check(line.as_bytes(), Origin::Client).expect_err("server namespace");
        assert!(err.0.contains("the server's own"), "{}", err.0);
        let own = check(
            line.as_bytes(),
            Origin::Server {
                session_id: "SERVER:eu-1:5f1c",
            },
        )
        .expect("the server's own session");
        assert!(own.by_server);

        let mut delegated = sealed("r2", GENESIS_HASH).0;
        delegated.target = json!({"pid": 1, "delegation": {"approved_by": "bob@example.com"}});
        let line = delegated.seal(GENESIS_HASH).expect("seal");
        let err = check(line.as_bytes(), Origin::Client).expect_err("delegation");
        assert!(err.0.contains("target.delegation"), "{}", err.0);
        let elsewhere = Origin::Server {
            session_id: "server:eu-1:other",
        };
        assert!(check(line.as_bytes(), elsewhere).is_err());
        let client = check(sealed("r3", GENESIS_HASH).1.as_bytes(), Origin::Client)
            .expect("a plain client record");
        assert!(!client.by_server);
    }
}
