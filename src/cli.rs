//! Command-line interface: TUI flags and qontoctl-style subcommands.

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
    /// Where tracing goes (default: $XDG_STATE_HOME/warroom/warroom.log). Never the terminal.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Record the session as an asciicast v2 file (asciinema play FILE), actions as markers.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,
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
    CancelQuery {
        #[arg(long)]
        pid: i32,
        /// Why: recorded in the audit trail and the server log.
        #[arg(long)]
        reason: String,
        /// Protected contexts: the context name, typed again.
        #[arg(long, value_name = "NAME")]
        confirm_context: Option<String>,
    },
    /// Terminate a backend (pg_terminate_backend), through the guard.
    Terminate {
        #[arg(long)]
        pid: i32,
        #[arg(long)]
        reason: String,
        #[arg(long, value_name = "NAME")]
        confirm_context: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names the first broken record.
    Verify {
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Print the last records.
    Tail {
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Deliver records that the endpoint has not accepted yet.
    Flush,
    /// A postmortem timeline: time, who, context, what, why, outcome.
    Timeline {
        /// Only actions in this window, e.g. 2h, 30m, 1d.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        #[arg(short, long, default_value = "markdown")]
        output: TimelineFormat,
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}
