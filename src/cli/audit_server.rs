//! `warroom audit tail|timeline|verify --server URL`: the same output as for a file, read from a
//! `warroom server`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::cli::TimelineFormat;
use warroom_client::ServerClient;
use warroom_core::audit::timeline::{render_markdown, timeline};
use warroom_core::audit::{AuditRecord, render_tail_line};
use warroom_core::protocol::Chain;

pub async fn tail(url: &str, token_env: Option<&str>, n: usize) -> anyhow::Result<ExitCode> {
    let client = ServerClient::new(url, token_env).map_err(anyhow::Error::msg)?;
    for r in client.tail(n).await.map_err(anyhow::Error::msg)? {
        println!(
            "{} from={}",
            render_tail_line(&r.record),
            sanitize(&r.sender_text())
        );
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
    let plain: Vec<AuditRecord> = records.iter().map(|r| r.record.clone()).collect();
    let mut entries = timeline(&plain, since);
    // "who" is the authenticated sender, never only what a record declares.
    let senders: HashMap<&str, String> = records
        .iter()
        .map(|r| (r.record.id.as_str(), r.sender_text()))
        .collect();
    for e in &mut entries {
        if let Some(who) = senders.get(e.audit_id.as_str()) {
            e.who = sanitize(who);
        }
    }
    let mut recordings = client.recording_starts().await.unwrap_or_else(|e| {
        eprintln!(
            "warning: no links into recordings: {}",
            warroom_core::sanitize::cell(&e, 300)
        );
        Vec::new()
    });
    // A recording links only to the sessions of its own sharer: a share started by someone
    // else under a session's id never passes for that session's recording.
    let session_senders: HashMap<&str, &str> = records
        .iter()
        .map(|r| (r.record.session_id.as_str(), r.received_from.as_str()))
        .collect();
    recordings.retain(|r| session_senders.get(r.share_id.as_str()) == Some(&r.owner.as_str()));
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
    let owner = report.sender.as_deref().map(sanitize).unwrap_or_default();
    let place = format!(
        "{} session {} of {owner}",
        client.display(),
        sanitize(session)
    );
    match &report.chain {
        Chain::Intact if !report.foreign.is_empty() => {
            let others: Vec<String> = report
                .foreign
                .iter()
                .map(|f| format!("{} ({} record(s))", sanitize(&f.sender), f.records))
                .collect();
            eprintln!(
                "{place}: the owner's chain is intact ({} record(s)), but others posted under \
                 this session id: {}",
                report.records,
                others.join(", ")
            );
            Ok(ExitCode::FAILURE)
        }
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
