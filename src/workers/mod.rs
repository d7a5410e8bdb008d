//! Workers: tokio tasks that poll backends and send owned snapshots to the App.

pub mod pg;
