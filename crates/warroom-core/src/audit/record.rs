//! The audit record (versioned JSON) and the hash that chains records together.
//!
//! `hash = hex(sha256(prev_hash + "\n" + canonical_json(record without its "hash" key)))`.
//! Canonical JSON is compact JSON with object keys sorted by their bytes. We sort explicitly rather
//! than rely on serde_json's default `BTreeMap`: another crate in the tree enabling serde_json's
//! `preserve_order` feature would otherwise silently change every hash.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Schema version written into every record.
pub const RECORD_VERSION: u32 = 1;

/// `prev_hash` of the first record of a file.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the audit JSONL file, and the body POSTed to the audit endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub version: u32,
    /// UUID v4; the "audit id" shown to the user and carried in the SQL comment.
    pub id: String,
    /// RFC 3339 UTC with milliseconds.
    pub time: String,
    pub phase: Phase,
    /// On outcome records: the id of the intent they close. On a break-glass intent: the id of
    /// the intent it replaces (the one the endpoint did not accept).
    #[serde(default)]
    pub intent_id: Option<String>,
    pub actor: Actor,
    pub context: ContextRef,
    /// e.g. "pg.cancel", "pg.terminate".
    pub action: String,
    /// Free-form details of the target (pid, backend_start, query, ...). Non-integer numbers are
    /// stored as strings when the record is sealed (see [`AuditRecord::seal`]).
    pub target: Value,
    pub reason: String,
    #[serde(default)]
    pub outcome: Option<RecordedOutcome>,
    pub delivery: Delivery,
    pub tool_version: String,
    /// One per process run.
    pub session_id: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Intent,
    Outcome,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Intent => "intent",
            Phase::Outcome => "outcome",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// OS user name.
    pub user: String,
    pub host: String,
    /// Configured identity (e.g. an e-mail address), if any.
    #[serde(default)]
    pub identity: Option<String>,
}

impl Actor {
    /// The OS user and host of this process, plus the configured identity.
    pub fn current(identity: Option<String>) -> Actor {
        Actor {
            user: whoami::username(),
            host: whoami::fallible::hostname().unwrap_or_else(|_| "unknown-host".to_string()),
            identity,
        }
    }
}

/// Which configured context the action targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextRef {
    /// e.g. "postgres", "kafka", "kube".
    pub kind: String,
    pub name: String,
}

/// What happened, on outcome records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedOutcome {
    pub ok: bool,
    pub detail: String,
    /// Whether the action took effect is not known: it timed out, or warroom stopped before its
    /// outcome was recorded (`warroom audit reconcile`). Always with `ok: false`. Absent (false)
    /// on records where the result is known.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unknown: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl RecordedOutcome {
    /// "ok", "FAILED" or "UNKNOWN", for one-line renderings.
    pub fn verdict(&self) -> &'static str {
        if self.unknown {
            "UNKNOWN"
        } else if self.ok {
            "ok"
        } else {
            "FAILED"
        }
    }
}

/// The route the record was written for.
///
/// On an intent this is decided before the POST (the record is fsynced locally first), so it says
/// where the record was required to go: "remote" when an endpoint is configured. If the endpoint then
/// does not accept it under `on_unreachable = "local-only"`, that intent is closed as "not executed"
/// and the action runs under a second intent with delivery "break-glass" (its `intent_id` names the
/// first); the outcome says "break-glass" too. All of them are spooled and delivered later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Sent (or spooled to be sent) to the configured endpoint.
    Remote,
    /// No endpoint configured: the local file is the only trail.
    LocalOnly,
    /// The endpoint was unreachable and the action ran anyway (`on_unreachable = "local-only"`).
    BreakGlass,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Remote => "remote",
            Delivery::LocalOnly => "local-only",
            Delivery::BreakGlass => "break-glass",
        }
    }
}

/// Compact JSON with object keys sorted, recursively.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars: serde_json's Display is compact JSON (strings quoted and escaped).
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The chain hash of a record given as a JSON value. Any `"hash"` key in `value` is ignored, so the
/// same function serves writing (before the hash exists) and verification (of a parsed line).
pub fn chain_hash(prev_hash: &str, value: &Value) -> String {
    let body = match value {
        Value::Object(map) if map.contains_key("hash") => {
            let mut without = map.clone();
            without.remove("hash");
            canonical_json(&Value::Object(without))
        }
        other => canonical_json(other),
    };
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}

impl AuditRecord {
    /// Chains this record after `prev_hash` and returns the JSONL line (without the newline) to
    /// write. The line is the canonical JSON of the record, hash included, so that parsing it back
    /// and recomputing gives the same hash.
    ///
    /// Floating-point numbers in `target` become strings first: serde_json (without its
    /// `float_roundtrip` feature) parses about a third of all f64 values back one ulp off, which
    /// would make an untouched record fail verification.
    pub fn seal(&mut self, prev_hash: &str) -> Result<String, serde_json::Error> {
        floats_to_strings(&mut self.target);
        self.prev_hash = prev_hash.to_string();
        self.hash = String::new();
        let mut value = serde_json::to_value(&*self)?;
        let hash = chain_hash(prev_hash, &value);
        if let Value::Object(map) = &mut value {
            map.insert("hash".to_string(), Value::String(hash.clone()));
        }
        self.hash = hash;
        Ok(canonical_json(&value))
    }
}

fn floats_to_strings(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => *value = Value::String(n.to_string()),
        Value::Array(items) => items.iter_mut().for_each(floats_to_strings),
        Value::Object(map) => map.values_mut().for_each(floats_to_strings),
        _ => {}
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2025-03-01T09:30:12.345Z`.
pub fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A complete intent record for tests (this crate's and the server's).
#[cfg(any(test, feature = "test-support"))]
pub fn sample(id: &str) -> AuditRecord {
    AuditRecord {
        version: RECORD_VERSION,
        id: id.to_string(),
        time: "2025-03-01T09:30:12.345Z".to_string(),
        phase: Phase::Intent,
        intent_id: None,
        actor: Actor {
            user: "alice".into(),
            host: "laptop".into(),
            identity: Some("alice@example.com".into()),
        },
        context: ContextRef {
            kind: "postgres".into(),
            name: "prod-main".into(),
        },
        action: "pg.cancel".into(),
        target: serde_json::json!({"pid": 14024, "query": "select 1"}),
        reason: "INC-42 runaway report query".into(),
        outcome: None,
        delivery: Delivery::Remote,
        tool_version: "0.1.0".into(),
        session_id: "s1".into(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively_and_is_compact() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": "x\n", "c": null}], "m": true}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"m":true,"z":[3,{"c":null,"y":"x\n"}]},"b":1}"#
        );
    }

    #[test]
    fn hash_ignores_the_hash_key_and_depends_on_prev_hash_and_every_field() {
        let v = json!({"a": 1, "prev_hash": GENESIS_HASH});
        let mut with_hash = v.clone();
        with_hash["hash"] = json!("whatever");
        assert_eq!(
            chain_hash(GENESIS_HASH, &v),
            chain_hash(GENESIS_HASH, &with_hash)
        );
        assert_ne!(
            chain_hash(GENESIS_HASH, &v),
            chain_hash(&"1".repeat(64), &v)
        );
        let mut edited = v.clone();
        edited["a"] = json!(2);
        assert_ne!(
            chain_hash(GENESIS_HASH, &v),
            chain_hash(GENESIS_HASH, &edited)
        );
    }

    #[test]
    fn hash_is_sha256_of_prev_newline_canonical_body() {
        let v = json!({"b": "x", "a": 1});
        let mut hasher = Sha256::new();
        hasher.update(format!("{GENESIS_HASH}\n{{\"a\":1,\"b\":\"x\"}}"));
        assert_eq!(chain_hash(GENESIS_HASH, &v), hex::encode(hasher.finalize()));
    }

    #[test]
    fn sealed_line_round_trips_and_rehashes_to_the_same_hash() {
        let mut record = sample("r1");
        let line = record.seal(GENESIS_HASH).expect("seal");
        assert_eq!(record.hash.len(), 64);
        let parsed: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(parsed["hash"], json!(record.hash));
        assert_eq!(parsed["version"], json!(1));
        assert_eq!(parsed["phase"], json!("intent"));
        assert_eq!(parsed["delivery"], json!("remote"));
        assert_eq!(chain_hash(GENESIS_HASH, &parsed), record.hash);
        let back: AuditRecord = serde_json::from_str(&line).expect("record");
        assert_eq!(back, record);
    }

    #[test]
    fn floats_in_target_are_sealed_as_strings_so_the_line_rehashes() {
        let mut record = sample("r1");
        record.target =
            json!({"lag_s": 1.0715660391465826e-75, "n": [0.1, -7, 18446744073709551615u64]});
        let line = record.seal(GENESIS_HASH).expect("seal");
        let parsed: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(chain_hash(GENESIS_HASH, &parsed), record.hash);
        assert_eq!(
            parsed["target"],
            json!({"lag_s": "1.0715660391465826e-75", "n": ["0.1", -7, 18446744073709551615u64]})
        );
        assert_eq!(parsed["target"], record.target);
    }

    #[test]
    fn time_is_rfc3339_utc_with_millis() {
        let t = now_rfc3339_millis();
        assert_eq!(t.len(), "2025-03-01T09:30:12.345Z".len(), "{t}");
        assert!(t.ends_with('Z'));
        assert!(humantime::parse_rfc3339(&t).is_ok());
    }
}
