//! Audit trail of guarded actions (ARCHITECTURE.md, "Flows": one destructive action).
//!
//! - [`AuditLog::record_intent`] appends the intent to the local JSONL file (fsync, hash chain)
//!   BEFORE the action, then makes the audit call (POST to the endpoint). Only `Ok` lets the
//!   action run; `Err(AuditRefusal)` says why nothing was done.
//! - [`AuditLog::record_outcome`] appends the outcome, then delivers it with retries, else spools
//!   it in `<file>.pending`; [`AuditLog::flush`] (`warroom audit flush`) delivers the spool.
//! - [`verify`], [`tail`] and [`render_tail_line`] back `warroom audit verify|tail`.

pub mod commands;
mod log;
mod read;
mod record;
mod remote;
mod settings;
mod store;
pub mod timeline;
mod verify;

pub use log::{
    AuditLog, AuditRefusal, FlushError, FlushReport, IntentDraft, IntentReceipt, OutcomeDelivery,
    RecordSink, RefusalKind, new_session_id,
};
pub use read::{
    RecordsReport, Unreadable, describe_intent, orphan_intents, orphan_report, pair_outcomes,
    read_records_checked,
};
#[cfg(any(test, feature = "test-support"))]
pub use record::sample as sample_record;
pub use record::{
    Actor, AuditRecord, ContextRef, Delivery, GENESIS_HASH, Phase, RECORD_VERSION, RecordedOutcome,
    canonical_json, chain_hash,
};
pub(crate) use remote::is_loopback;
pub use settings::{AuditSettings, DEFAULT_TIMEOUT, OnUnreachable};
pub use verify::{
    ChainProblem, TailReport, VerifyError, VerifyReport, render_tail_line, tail, tail_checked,
    verify,
};
