//! Workers: tokio tasks that poll backends and send owned snapshots (`Event`s) to the App.

mod event;
pub mod kafka;
pub mod kube;
pub mod pg;
pub mod pg_slow;
pub mod poller;

pub use event::{Event, Update};
