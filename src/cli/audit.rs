//! `warroom audit`: verify the chain, tail, timeline, flush pending deliveries.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::audit::{AuditLog, new_session_id, render_tail_line, tail, verify};
use crate::cli::{AuditCmd, TimelineFormat};
use crate::config::Config;

pub async fn audit(config: &Config, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Verify { file } => {
            let path = file.unwrap_or_else(|| config.audit.file.clone());
            match verify(&path) {
                Ok(report) => {
                    println!(
                        "{}: chain intact, {} record(s)",
                        path.display(),
                        report.records
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCmd::Tail { n, file } => {
            let path = file.unwrap_or_else(|| config.audit.file.clone());
            for r in tail(&path, n).with_context(|| format!("reading {}", path.display()))? {
                println!("{}", render_tail_line(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Timeline {
            since,
            output,
            file,
        } => {
            let path = file.unwrap_or_else(|| config.audit.file.clone());
            let records = crate::audit::timeline::read_records(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let since = since.map(|d| std::time::SystemTime::now() - d);
            let entries = crate::audit::timeline::timeline(&records, since);
            match output {
                TimelineFormat::Markdown => {
                    print!("{}", crate::audit::timeline::render_markdown(&entries))
                }
                TimelineFormat::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Flush => {
            let log = AuditLog::new(config.audit.clone(), new_session_id());
            let report = log.flush().await?;
            println!(
                "delivered {}, remaining {}",
                report.delivered, report.remaining
            );
            if let Some(why) = &report.stopped {
                eprintln!("stopped: {why}");
            }
            Ok(if report.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
