//! One subcommand, one module: the configuration is read once here and each command handed to
//! its module (`pg`, `kafka`, `kube`, `audit`, `share`, `approvals`, the TUI and the demo).

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::{Cli, Cmd, ConfigCmd};
use warroom_core::config::Config;
use warroom_demo::DemoClock;
use warroom_tui::setup::{self, Options};

use super::tui::run_tui;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    // `theme` and `[keys]` are the TUI's part of the file: checked with the rest, for every command.
    let ui = setup::ui_settings(&config)?;
    let opts = Options {
        context: cli.context.clone(),
        theme: cli.theme.clone(),
        read_only: cli.read_only,
        no_wait: cli.no_wait,
        demo_approvals: setup::DemoApprovals::Off,
    };
    match cli.command {
        None => {
            let (app, backends) = setup::real(&config, &opts)?;
            let sharing =
                super::share::start_sharing(&config, &backends, cli.share, &cli.share_with)?;
            run_tui(app, backends, cli.record.as_deref(), sharing).await
        }
        Some(Cmd::Demo {
            seed,
            speed,
            scenario,
            join,
            as_approver,
        }) => {
            let opts = Options {
                demo_approvals: if join {
                    setup::DemoApprovals::Join
                } else if as_approver {
                    setup::DemoApprovals::Approver
                } else {
                    setup::DemoApprovals::Off
                },
                ..opts
            };
            let scenario = match scenario {
                Some(path) => warroom_demo::Scenario::load(&path)?,
                None => warroom_demo::Scenario::embedded(),
            };
            if !(speed.is_finite() && speed > 0.0) {
                bail!("--speed must be a positive number");
            }
            let (app, backends, _world) =
                setup::demo(&config, &opts, &scenario, seed, DemoClock::wall(speed))?;
            let sharing =
                super::share::start_sharing(&config, &backends, cli.share, &cli.share_with)?;
            run_tui(app, backends, cli.record.as_deref(), sharing).await
        }
        Some(Cmd::Completions { .. }) => Ok(ExitCode::SUCCESS),
        Some(Cmd::Config(ConfigCmd::Check)) => {
            setup::check_context(&config, opts.context.as_deref())?;
            setup::theme(&config, &opts)?;
            setup::real_pg(&config)?;
            setup::real_kafka(&config)?;
            print!("{}", config.summary(&ui.theme));
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Pg(cmd)) => super::pg::pg(&config, &opts, cmd).await,
        Some(Cmd::Audit(cmd)) => super::audit::audit(&config, cmd).await,
        Some(Cmd::Kafka(cmd)) => super::kafka::run(&config, &opts, cmd).await,
        Some(Cmd::Kube(cmd)) => super::kube::run(&config, &opts, cmd).await,
        Some(Cmd::Sessions { output }) => super::share::sessions(&config, output).await,
        Some(Cmd::Shadow { id, from_start, at }) => {
            super::share::shadow(&config, &id, from_start, at).await
        }
        Some(Cmd::Share(crate::cli::ShareCmd::Link { id })) => {
            super::share::link(&config, &id).await
        }
        Some(Cmd::Approvals(crate::cli::ApprovalsCmd::List { output })) => {
            super::approvals::list(&config, output).await
        }
        Some(Cmd::Approve { id, reason }) => {
            super::approvals::decide(&config, &id, true, &reason).await
        }
        Some(Cmd::Deny { id, reason }) => {
            super::approvals::decide(&config, &id, false, &reason).await
        }
        Some(Cmd::Server { .. }) => {
            bail!("`warroom server` runs before the client configuration is read")
        }
    }
}
