//! `warroom approvals list`, `warroom approve ID --reason T`, `warroom deny ID --reason T`:
//! the second pair of eyes, from the command line, against the `[server]`.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::Output;
use warroom_client::ServerClient;
use warroom_client::actions;
use warroom_core::config::Config;
use warroom_core::protocol::requests::RequestStatus;

fn client(config: &Config) -> anyhow::Result<ServerClient> {
    let Some(link) = &config.server else {
        bail!(
            "approvals live on the warroom server: add [server] url = \"https://...\" to the configuration"
        );
    };
    ServerClient::new(&link.url, link.token_env.as_deref()).map_err(anyhow::Error::msg)
}

pub async fn list(config: &Config, output: Output) -> anyhow::Result<ExitCode> {
    let client = client(config)?;
    let rows = actions::pending(&client)
        .await
        .map_err(anyhow::Error::msg)?;
    match output {
        Output::Json => println!("{}", super::output::json(&rows)?),
        Output::Table if rows.is_empty() => println!("no approval waiting"),
        Output::Table => {
            for row in &rows {
                println!("{}", actions::render_line(row));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn decide(
    config: &Config,
    id: &str,
    approve: bool,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let client = client(config)?;
    match actions::decide(
        &client,
        actions::Verdict {
            id,
            approve,
            reason,
            binding: None,
        },
    )
    .await
    {
        Ok(row) => {
            println!(
                "request {id}: {} — {}",
                row.status.as_str(),
                warroom_core::sanitize::lines(&row.detail, 500)
            );
            let wanted = if approve {
                RequestStatus::Done
            } else {
                RequestStatus::Denied
            };
            let ok = row.status == wanted;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            eprintln!("refused: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
