//! Integration tests: cli. One binary, one module per area.

mod audit_cli;
mod config_errors;
mod guard_cli;
mod kafka_cli;
mod kube_cli;
mod kube_logs_command;
mod pg_cli;
