//! warroom's core: what the terminal side and the server side share, with no user interface
//! and no HTTP server in it.
//!
//! `backends` are the clients of the watched systems (traits and real clients); `guard` turns a
//! destructive action into reason, confirmation, audit and execution (its executor is the only
//! caller of destructive backend methods); `audit` is the record chain; `protocol` the wire
//! types of warroom server's API; `config` the contexts file; `pod_directory` maps addresses to
//! pods (sessions and group members to their pod); `service` is a `[[service]]` with its link
//! templates. The leaf helpers (`sanitize`, `redact`, `human`, `serde_time`, `private_fs`,
//! `percent`) depend on nothing else here.

pub mod audit;
pub mod backends;
pub mod config;
pub mod guard;
pub mod human;
pub mod percent;
pub mod pod_directory;
pub mod private_fs;
pub mod protocol;
pub mod redact;
pub mod sanitize;
pub mod serde_time;
pub mod service;
