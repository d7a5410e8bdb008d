//! `warroom audit tail|timeline|verify --server URL`: the same output as for a file, read from a
//! `warroom server`.

use std::process::ExitCode;
use std::time::SystemTime;

use crate::cli::TimelineFormat;
use warroom_client::ServerClient;
use warroom_core::audit::render_tail_line;
use warroom_core::audit::timeline::{render_markdown, timeline};
use warroom_core::protocol::Chain;

pub async fn tail(url: &str, token_env: Option<&str>, n: usize) -> anyhow::Result<ExitCode> {
    let client = ServerClient::new(url, token_env).map_err(anyhow::Error::msg)?;
    for record in client.tail(n).await.map_err(anyhow::Error::msg)? {
        println!("{}", render_tail_line(&record));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn timeline_cmd(
    url: &str,
    token_env: Option<&str>,
    since: Option<std::time::Duration>,
    output: TimelineFormat,
) -> anyhow::Result<ExitCode> {
    let client = ServerClient::new(url, token_env).map_err(anyhow::Error::msg)?;
    let since = since.map(|d| SystemTime::now() - d);
    let records = client
        .records_since(since)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut entries = timeline(&records, since);
    let recordings = client.recording_starts().await.unwrap_or_else(|e| {
        eprintln!(
            "warning: no links into recordings: {}",
            warroom_core::sanitize::cell(&e, 300)
        );
        Vec::new()
    });
    warroom_core::audit::timeline::link_recordings(&mut entries, &recordings);
    match output {
        TimelineFormat::Markdown => print!("{}", render_markdown(&entries)),
        TimelineFormat::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(url: &str, token_env: Option<&str>, session: &str) -> anyhow::Result<ExitCode> {
    let client = ServerClient::new(url, token_env).map_err(anyhow::Error::msg)?;
    let report = client
        .verify_session(session)
        .await
        .map_err(anyhow::Error::msg)?;
    let place = format!("{} session {}", client.display(), sanitize(session));
    match &report.chain {
        Chain::Intact => {
            let start = if report.starts_after_unseen_record {
                " (it starts after a record this server never received)"
            } else {
                ""
            };
            println!("{place}: chain intact, {} record(s){start}", report.records);
            Ok(ExitCode::SUCCESS)
        }
        Chain::Empty => {
            eprintln!("{place}: no records of this session on the server");
            Ok(ExitCode::FAILURE)
        }
        Chain::Broken(b) => {
            eprintln!(
                "{place}: record {} ({}): {}: {}",
                sanitize(&b.id),
                sanitize(&b.time),
                b.problem.as_str(),
                sanitize(&b.detail)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn sanitize(text: &str) -> String {
    warroom_core::sanitize::cell(text, 300)
}
