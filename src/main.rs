//! warroom: parse the CLI, load the configuration, then run the TUI, the demo or a
//! one-shot subcommand.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

mod cli;

use cli::{Cli, Cmd, ServerCmd, dispatch, init_logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Completions { shell }) = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "warroom",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if let Some(Cmd::Server { cmd }) = &cli.command {
        // Its own config file, runtime and JSON logs on stderr.
        if matches!(cmd, Some(ServerCmd::CheckPolicy)) {
            return warroom_server::check_policy(cli.config.as_deref());
        }
        let check_only = matches!(cmd, Some(ServerCmd::CheckConfig));
        return warroom_server::main(cli.config.as_deref(), check_only);
    }
    let _log = init_logging(cli.log_file.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warroom: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Error text can quote servers (names, messages): the one sanitizer.
            eprintln!(
                "warroom: {}",
                warroom_core::sanitize::lines(&format!("{e:#}"), 4000)
            );
            ExitCode::FAILURE
        }
    }
}
