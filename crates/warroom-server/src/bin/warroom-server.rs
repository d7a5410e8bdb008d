//! `warroom-server`: the platform side alone, for the server image. The same as
//! `warroom server` of the full binary, without the terminal UI linked in.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "warroom-server",
    version,
    about = "warroom server: audit store, policy, approvals, delegated execution, session relay"
)]
struct Args {
    /// The server's TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Validate the configuration file and print a summary, secrets left out.
    CheckConfig,
    /// Validate the `[[server.rule]]` policy and print the rules in the order they are tried.
    CheckPolicy,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.cmd {
        Some(Cmd::CheckPolicy) => warroom_server::check_policy(args.config.as_deref()),
        Some(Cmd::CheckConfig) => warroom_server::main(args.config.as_deref(), true),
        None => warroom_server::main(args.config.as_deref(), false),
    }
}
