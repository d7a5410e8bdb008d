//! `warroom approvals list`, `warroom approve ID --reason T`, `warroom deny ID --reason T`:
//! the second pair of eyes, from the command line, against the `[server]`.

use std::process::ExitCode;

use anyhow::bail;
use serde_json::Value;

use crate::cli::Output;
use crate::config::Config;
use crate::server_client::ServerClient;
use crate::server_client::actions;

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
        Output::Json => println!("{}", super::output::json(&Value::Array(rows))?),
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
            let status = row.get("status").and_then(Value::as_str).unwrap_or("?");
            let detail = row.get("detail").and_then(Value::as_str).unwrap_or("");
            println!(
                "request {id}: {} — {}",
                crate::sanitize::lines(status, 40),
                crate::sanitize::lines(detail, 500)
            );
            let ok = if approve {
                status == "done"
            } else {
                status == "denied"
            };
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
