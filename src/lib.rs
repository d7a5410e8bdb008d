//! warroom: a terminal UI for live production debugging.
//!
//! Layering (see DESIGN.md): `backends` know nothing of ratatui, `panes` know nothing of
//! tokio-postgres, and only `guard::executor` calls destructive backend methods.

pub mod app;
pub mod audit;
pub mod backends;
pub mod cli;
pub mod config;
pub mod guard;
pub mod human;
pub mod links;
pub mod panes;
pub mod percent;
pub mod private_fs;
pub mod protocol;
pub mod redact;
pub mod sanitize;
pub mod serde_time;
pub mod server;
pub mod server_client;
pub mod setup;
pub mod tui;
pub mod widgets;
pub mod workers;
