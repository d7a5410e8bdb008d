//! The terminal: enter and restore (on quit, on panic, on SIGTERM), and the event loop
//! that feeds the App and draws once per batch of events.

pub mod record;
mod runtime;
mod screen;

pub use runtime::{Backends, Driver, ServerFeed, perform_kube, run};
pub use screen::TerminalGuard;
pub mod shadow;
pub mod vt;
