//! Integration tests: backends. One binary, one module per area.

mod audit_log;
mod audit_timeline;
mod executor_routing;
mod guard_failures;
mod guard_pg;
mod kafka_cost;
mod kafka_groups;
mod kube_backend;
mod kube_kubectl;
mod links;
mod pg_activity;
mod pg_harness;
mod pg_tls;
mod statements;
