//! The terminal: enter and restore (on quit, on panic, on SIGTERM), and the event loop
//! that feeds the App and draws once per batch of events.

pub mod record;
mod runtime;
mod terminal;

pub use runtime::{Backends, Driver, ServerFeed, perform_kube, run};
pub use terminal::TerminalGuard;
pub mod shadow;
pub mod vt;
