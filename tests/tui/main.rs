//! Integration tests: tui. One binary, one module per area.

mod demo_approvals;
mod demo_driver;
mod demo_headless;
mod demo_links;
mod kafka_app;
mod kube_app;
mod terminal_sizes;
mod tui_tmux;
mod ui_snapshots;
