//! Short human formats for table cells (the shared leaf `crate::human`).

pub use crate::human::{ago, duration_short, opt_duration};
