//! Command-line interface: TUI flags and qontoctl-style subcommands (the clap definitions
//! here), and what each subcommand does (`pg`, `kafka`, `kube`, `audit`, `output`).

pub mod approvals;
pub mod audit;
pub mod audit_server;
pub mod dispatch;
pub mod guarded;
pub mod kafka;
pub mod kube;
pub mod logging;
pub mod output;
pub mod pg;
pub mod share;
pub mod statements;
pub mod tui;

pub use dispatch::dispatch;
pub use logging::init_logging;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "warroom",
    version,
    about = "Live production debugging: PostgreSQL sessions and locks, with guarded, audited actions"
)]
pub struct Cli {
    /// Configuration file (default: $WARROOM_CONFIG, else $XDG_CONFIG_HOME/warroom/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Open on this context.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Colour theme (default, light, high-contrast, or a file in $XDG_CONFIG_HOME/warroom/themes/).
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Shadow mode: watch only, every action is disabled.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// A guarded action that needs approval on the server: print the request id and return
    /// at once instead of waiting for the approver.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// Where tracing goes (default: $XDG_STATE_HOME/warroom/warroom.log). Never the terminal.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Record the session as an asciicast v2 file (asciinema play FILE), actions as markers.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Share this session live through `warroom server` (`[server]` in the config); colleagues
    /// watch with `warroom shadow ID` or a browser link. The status bar says who watches.
    #[arg(long, global = true)]
    pub share: bool,
    /// Share with these only (implies --share), besides you and the server's auditors:
    /// identities or group:NAME, comma-separated. Default: anyone the server authenticates.
    #[arg(long, global = true, value_name = "WHO", value_delimiter = ',')]
    pub share_with: Vec<String>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run on the embedded demo incident: no servers needed.
    Demo {
        /// Seed of the simulation, for a reproducible incident.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// A scenario file (see demo/incident.toml); default: the embedded incident.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// The approvals scene, as the junior: every action waits for the trainer, who runs
        /// `warroom demo --as-approver` in a second terminal.
        #[arg(long, conflicts_with = "as_approver")]
        join: bool,
        /// The approvals scene, as the trainer: the junior's requests in `:approvals`.
        #[arg(long)]
        as_approver: bool,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// PostgreSQL: one-shot snapshots and guarded actions.
    #[command(subcommand)]
    Pg(PgCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Kafka: consumer groups, their lag, and guarded deletes and offset resets.
    #[command(subcommand)]
    Kafka(KafkaCmd),
    /// Kubernetes: pods, logs, and guarded pod deletes and rollout restarts
    /// (`--context` names a `[[kubernetes]]` context).
    #[command(subcommand)]
    Kube(KubeCmd),
    /// Live shared sessions on the server (`[server]` in the config).
    Sessions {
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
    /// Watch a shared session read-only in this terminal (`q` leaves).
    Shadow {
        /// The session id (see `warroom sessions`).
        id: String,
        /// Replay the kept recording from its start instead of joining live.
        #[arg(long)]
        from_start: bool,
        /// Replay the recording up to this moment and stay there (seconds into it, e.g. 12.5
        /// or 1m5s; `warroom audit timeline` prints it for each action). Implies --from-start.
        #[arg(long, value_name = "OFFSET", value_parser = share::parse_offset)]
        at: Option<f64>,
    },
    /// Shared sessions: a browser link to watch one.
    #[command(subcommand)]
    Share(ShareCmd),
    /// Requests waiting for a second person's approval on the `[server]`.
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    /// Approve a pending request (you cannot approve your own); it runs at once.
    Approve {
        /// The request id (from `warroom approvals list`).
        id: String,
        /// Your own reason, recorded with the action.
        #[arg(long)]
        reason: String,
    },
    /// Deny a pending request: nothing runs, and the requester sees who denied it and why.
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// The audit server for a team: `warroom server --config FILE` (its own TOML `[server]`).
    Server {
        #[command(subcommand)]
        cmd: Option<ServerCmd>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShareCmd {
    /// Print a short-lived link (10 minutes to open it) to watch session ID in a browser.
    Link { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Validate the server's configuration file and print a summary, secrets left out.
    CheckConfig,
    /// Validate the `[[server.rule]]` policy (file:line:col errors) and print the rules in
    /// the order they are tried; a request no rule matches is refused.
    CheckPolicy,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// The pending requests, oldest first.
    List {
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration and print the contexts, secrets redacted.
    Check,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// `--sort` of `pg statements`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatementsSortArg {
    Time,
    Calls,
    Mean,
    Io,
}

impl From<StatementsSortArg> for warroom_core::backends::postgres::statements::StatementsSort {
    fn from(s: StatementsSortArg) -> Self {
        use warroom_core::backends::postgres::statements::StatementsSort as S;
        match s {
            StatementsSortArg::Time => S::Time,
            StatementsSortArg::Calls => S::Calls,
            StatementsSortArg::Mean => S::Mean,
            StatementsSortArg::Io => S::Io,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TimelineFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum PgCmd {
    /// Print one snapshot of pg_stat_activity and the blocking tree.
    Activity {
        #[arg(short, long, default_value = "table")]
        output: Output,
        /// Include idle sessions in the table output (JSON always has all).
        #[arg(long)]
        all: bool,
    },
    /// Cancel the query of a session (pg_cancel_backend), through the guard.
    CancelQuery(PgActArgs),
    /// The statements that take the time now: pg_stat_statements deltas over an interval.
    Statements {
        /// Time between the two samples, e.g. 5s, 1m.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        #[arg(long, default_value = "time")]
        sort: StatementsSortArg,
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
    /// EXPLAIN (never ANALYZE) of the query a session runs now.
    Explain {
        #[arg(long)]
        pid: i32,
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
    /// Terminate a backend (pg_terminate_backend), through the guard.
    Terminate(PgActArgs),
}

/// The session a guarded `pg` subcommand acts on, and why.
#[derive(Debug, clap::Args)]
pub struct PgActArgs {
    #[arg(long)]
    pub pid: i32,
    /// Why: recorded in the audit trail and the server log.
    #[arg(long)]
    pub reason: String,
    /// Protected contexts: the context name, typed again.
    #[arg(long, value_name = "NAME")]
    pub confirm_context: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names the first broken record; prints the count and head hash.
    Verify {
        #[arg(long, value_name = "FILE", conflicts_with = "server")]
        file: Option<PathBuf>,
        /// Fail unless the file ends at this hash (a head noted earlier, e.g. by the endpoint):
        /// records cut off the end are invisible otherwise.
        #[arg(long, value_name = "HASH", conflicts_with = "server")]
        expect_head: Option<String>,
        /// Check a session's chain at a `warroom server` instead (token from `[audit] token_env`).
        #[arg(long, value_name = "URL", requires = "session")]
        server: Option<String>,
        /// The session id (from a record's `session_id`), with --server.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
    },
    /// Print the last records.
    Tail {
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
        #[arg(long, value_name = "FILE", conflicts_with = "server")]
        file: Option<PathBuf>,
        /// Read from a `warroom server` instead of the file (token from `[audit] token_env`).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Deliver records that the endpoint has not accepted yet.
    Flush,
    /// Record an outcome `unknown` for each intent that has none (warroom stopped mid-action).
    Reconcile,
    /// A postmortem timeline: time, who, context, what, why, outcome.
    Timeline {
        /// Only actions in this window, e.g. 2h, 30m, 1d.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        #[arg(short, long, default_value = "markdown")]
        output: TimelineFormat,
        #[arg(long, value_name = "FILE", conflicts_with = "server")]
        file: Option<PathBuf>,
        /// Read from a `warroom server` instead of the file (token from `[audit] token_env`).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KafkaCmd {
    /// Consumer groups: list, describe, delete, reset offsets.
    #[command(subcommand, name = "consumer-groups")]
    ConsumerGroups(ConsumerGroupsCmd),
}

#[derive(Debug, Subcommand)]
pub enum ConsumerGroupsCmd {
    /// Every group with state, members, lag and status.
    List {
        /// The Kafka context (`[[kafka]] name`).
        #[arg(long, value_name = "NAME")]
        cluster: String,
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
    /// One group, per partition: committed, log end, lag, owner.
    Describe {
        #[arg(long, value_name = "NAME")]
        cluster: String,
        #[arg(long)]
        group: String,
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
    /// Delete a group (only when it is Empty), through the guard.
    Delete {
        #[arg(long, value_name = "NAME")]
        cluster: String,
        #[arg(long)]
        group: String,
        /// Why: recorded in the audit trail.
        #[arg(long)]
        reason: String,
        /// Protected contexts: the context name, typed again.
        #[arg(long, value_name = "NAME")]
        confirm_context: Option<String>,
    },
    /// Preview a reset of a group's offsets; with --execute, commit it through the guard.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_datetime", "to_offset", "shift_by"])))]
    ResetOffsets {
        #[arg(long, value_name = "NAME")]
        cluster: String,
        #[arg(long)]
        group: String,
        /// Only this topic (default: every topic the group committed on).
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        to_earliest: bool,
        #[arg(long)]
        to_latest: bool,
        /// RFC 3339, e.g. 2026-11-26T10:00:00Z.
        #[arg(long, value_name = "TS")]
        to_datetime: Option<String>,
        #[arg(long, value_name = "N")]
        to_offset: Option<i64>,
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        shift_by: Option<i64>,
        /// Commit the offsets (without it: the preview only).
        #[arg(long)]
        execute: bool,
        /// Why: recorded in the audit trail (required with --execute).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_name = "NAME")]
        confirm_context: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KubeCmd {
    /// Pods with ready x/y, status and reason, restarts, last termination and owner.
    Pods {
        /// Namespace (default: the context's namespaces, else all).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Label selector, e.g. app=api.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(short, long, default_value = "table")]
        output: Output,
    },
    /// Print (or follow) a container's log; a broken stream resumes without duplicates.
    Logs {
        #[arg(short, long)]
        namespace: Option<String>,
        pod: String,
        #[arg(short, long)]
        container: Option<String>,
        /// The previous (terminated) container's log.
        #[arg(long)]
        previous: bool,
        #[arg(short, long)]
        follow: bool,
        /// Only lines newer than this, e.g. 10m.
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// The last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<i64>,
    },
    /// Delete a pod, through the guard (only the pod that was looked up: uid precondition).
    DeletePod {
        #[arg(short, long)]
        namespace: Option<String>,
        pod: String,
        /// Why: recorded in the audit trail.
        #[arg(long)]
        reason: String,
        /// Seconds before SIGKILL (default: the pod's own terminationGracePeriodSeconds).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..=i64::from(u32::MAX)))]
        grace_period: Option<i64>,
        /// Protected contexts: the context name, typed again.
        #[arg(long, value_name = "NAME")]
        confirm_context: Option<String>,
    },
    /// Rollout restart of a Deployment, through the guard (restartedAt, reason and audit id
    /// annotations on the pod template).
    RolloutRestart {
        #[arg(short, long)]
        namespace: Option<String>,
        deployment: String,
        #[arg(long)]
        reason: String,
        #[arg(long, value_name = "NAME")]
        confirm_context: Option<String>,
    },
}
