//! `warroom sessions`, `warroom shadow ID`, `warroom share link ID`, and starting `--share`:
//! live shared sessions through `warroom server` (`[server]` in the configuration).

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::Output;
use warroom_client::ServerClient;
use warroom_client::share::{self, ShareStart, Sharing};
use warroom_core::config::{Config, ServerLink};

fn server(config: &Config) -> anyhow::Result<(&ServerLink, ServerClient)> {
    let Some(link) = config.server.as_ref() else {
        bail!(
            "no server is configured: add [server] url = \"https://...\" (and token_env) to the \
             configuration"
        );
    };
    // The client's message names [audit] (its first user): here the variable is [server]'s.
    let client = ServerClient::new(&link.url, link.token_env.as_deref())
        .map_err(|e| anyhow::Error::msg(e.replace("[audit] token_env", "[server] token_env")))?;
    Ok((link, client))
}

/// With `--share`, `--share-with WHO` or `[server] share = true`: starts streaming this
/// session (in the background; the TUI starts at once whatever the server does). `watchers`
/// (from `--share-with`) restricts who may watch.
pub fn start_sharing(
    config: &Config,
    backends: &warroom_tui::terminal::Backends,
    flag: bool,
    watchers: &[String],
) -> anyhow::Result<Option<Sharing>> {
    let wanted = flag || !watchers.is_empty() || config.server.as_ref().is_some_and(|s| s.share);
    if !wanted {
        return Ok(None);
    }
    let (_, client) = server(config).context("--share")?;
    let audit = backends.executor.audit();
    let actor = audit.actor();
    let (width, height) = crossterm::terminal::size().unwrap_or((80, 24));
    let info = ShareStart {
        id: audit.session_id().to_string(),
        actor: actor.identity.clone().unwrap_or_else(|| actor.user.clone()),
        contexts: config.context_names(),
        width,
        height,
        watchers: (!watchers.is_empty()).then(|| watchers.to_vec()),
    };
    Ok(Some(share::start(client, info)))
}

pub async fn sessions(config: &Config, output: Output) -> anyhow::Result<ExitCode> {
    let (_, client) = server(config)?;
    let shares = client.shares().await.map_err(anyhow::Error::msg)?;
    match output {
        Output::Json => println!("{}", super::output::json(&shares)?),
        Output::Table => {
            let mut rows = vec![vec![
                "ID".to_string(),
                "ACTOR".into(),
                "CONTEXTS".into(),
                "SINCE".into(),
                "WATCHERS".into(),
            ]];
            for s in &shares {
                rows.push(vec![
                    s.id.clone(),
                    s.actor.clone(),
                    s.contexts.join(","),
                    s.since.clone(),
                    s.watchers.join(","),
                ]);
            }
            print!("{}", super::output::human(&table(&rows)));
            if shares.is_empty() {
                eprintln!("no shared sessions right now");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| warroom_core::sanitize::cell(c, 80))
                .collect()
        })
        .collect();
    let cols = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &cells {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub async fn shadow(
    config: &Config,
    id: &str,
    from_start: bool,
    at: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let (_, client) = server(config)?;
    if let Some(why) = warroom_tui::terminal::shadow::run(&client, id, from_start, at).await? {
        eprintln!(
            "warroom shadow: {}",
            warroom_core::sanitize::cell(&why, 300)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The kept recordings' start times for `audit timeline`, when a `[server]` is configured;
/// none (with a warning) when it cannot be asked.
pub async fn recording_starts(
    config: &Config,
) -> Vec<warroom_core::audit::timeline::RecordingStart> {
    if config.server.is_none() {
        return Vec::new();
    }
    let asked = match server(config) {
        Ok((_, client)) => client.recording_starts().await,
        Err(e) => Err(e.to_string()),
    };
    asked.unwrap_or_else(|e| {
        eprintln!(
            "warning: no links into recordings: {}",
            warroom_core::sanitize::cell(&e, 300)
        );
        Vec::new()
    })
}

/// `--at OFFSET`: seconds (12.5) or a duration (1m5s) into the recording.
pub fn parse_offset(text: &str) -> Result<f64, String> {
    let seconds = match text.parse::<f64>() {
        Ok(s) => s,
        Err(_) => humantime::parse_duration(text)
            .map(|d| d.as_secs_f64())
            .map_err(|_| format!("{text:?} is not an offset: use seconds like 12.5 or 1m5s"))?,
    };
    if seconds.is_finite() && seconds >= 0.0 {
        Ok(seconds)
    } else {
        Err(format!(
            "{text:?} is not an offset: use seconds like 12.5 or 1m5s"
        ))
    }
}

pub async fn link(config: &Config, id: &str) -> anyhow::Result<ExitCode> {
    let (_, client) = server(config)?;
    let url = client.watch_link(id).await.map_err(anyhow::Error::msg)?;
    println!("{url}");
    eprintln!("the link opens the session for 10 minutes; whoever has it watches as you");
    Ok(ExitCode::SUCCESS)
}
