//! Shared drawing: sanitizing, formatting, layout helpers and the chrome around panes.

pub mod chrome;
pub mod format;
pub mod input;
pub mod layout;
pub mod link_menu;
pub mod pg_slow;
pub mod sanitize;

pub use sanitize::{cell, sanitize};
