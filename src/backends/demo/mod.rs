//! Simulated backends for `warroom demo`: the same traits as the real ones, no servers.

pub mod clock;
pub mod kafka;
pub mod kube;
pub mod pg;
pub mod pg_slow;
pub mod rng;
pub mod scenario;

pub use clock::DemoClock;
pub use pg::{DemoPg, DemoPgWorld};
pub use scenario::{PgScenario, Scenario};
