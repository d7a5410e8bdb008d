//! `warroom demo`: simulated backends with the same traits as the real ones (no servers), the
//! embedded incident they play, and the approvals desk of the demo's four-eyes scene.

pub mod clock;
pub mod desk;
pub mod kafka;
pub mod kube;
pub mod pg;
pub mod rng;
pub mod scenario;
pub mod statements;

pub use clock::DemoClock;
pub use pg::{DemoPg, DemoPgWorld};
pub use scenario::{PgScenario, Scenario};
