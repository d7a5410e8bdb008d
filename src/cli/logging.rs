//! Tracing goes to a private file, never to the terminal the TUI draws on.

use std::path::Path;

/// Tracing goes to a file, never to the terminal the TUI draws on.
pub fn init_logging(path: Option<&Path>) -> Option<()> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => warroom_core::config::state_dir()?.join("warroom.log"),
    };
    // Private: the log can hold query text and names (0600, its directory 0700).
    let file = warroom_core::private_fs::open_private(&path, true).ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()
}
