//! Workers: tokio tasks that poll backends and send owned snapshots to the App.

pub mod kafka;
pub mod kube;
pub mod pg;
pub mod pg_slow;
pub mod poller;
