//! Integration tests: server. One binary, one module per area.

mod actions;
mod api;
mod approvals_tui;
mod execution;
mod faults;
mod forgery;
mod guard;
mod identity;
mod metrics;
mod oidc;
mod ops;
mod read_scope;
mod share_browser;
mod share_relay;
mod share_tmux;
mod slow_clients;
mod tui;
