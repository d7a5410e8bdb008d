//! `warroom audit`: verify the chain, tail, timeline, flush pending deliveries, reconcile
//! intents without an outcome. The work and the (sanitized) output are in
//! [`warroom_core::audit::commands`]; this prints it.

use std::process::ExitCode;

use crate::cli::{AuditCmd, TimelineFormat};
use warroom_core::audit::commands::{self, CommandOutput};
use warroom_core::audit::{AuditLog, new_session_id};
use warroom_core::config::Config;

/// Prints a command's output (already sanitized) and turns its status into the exit code.
fn print_output(o: CommandOutput) -> ExitCode {
    print!("{}", o.stdout);
    eprint!("{}", o.stderr);
    ExitCode::from(o.code)
}

pub async fn audit(config: &Config, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    use crate::cli::audit_server as from_server;
    let token_env = config.audit.token_env.as_deref();
    match cmd {
        AuditCmd::Verify {
            server: Some(url),
            session: Some(session),
            ..
        } => from_server::verify(&url, token_env, &session).await,
        AuditCmd::Tail {
            n,
            server: Some(url),
            ..
        } => from_server::tail(&url, token_env, n).await,
        AuditCmd::Timeline {
            since,
            output,
            server: Some(url),
            ..
        } => from_server::timeline_cmd(&url, token_env, since, output).await,
        AuditCmd::Verify {
            file, expect_head, ..
        } => {
            let path = file.unwrap_or_else(|| config.audit.file.clone());
            Ok(print_output(commands::verify(
                &path,
                expect_head.as_deref(),
            )))
        }
        AuditCmd::Tail { n, file, .. } => {
            let path = file.unwrap_or_else(|| config.audit.file.clone());
            Ok(print_output(commands::tail(&path, n)))
        }
        AuditCmd::Timeline {
            since,
            output,
            file,
            ..
        } => {
            let path = file.unwrap_or_else(|| config.audit.file.clone());
            let json = matches!(output, TimelineFormat::Json);
            let recordings = super::share::recording_starts(config).await;
            Ok(print_output(commands::timeline(
                &path,
                since,
                json,
                &recordings,
            )))
        }
        AuditCmd::Reconcile => {
            let log = AuditLog::new(config.audit.clone(), new_session_id());
            Ok(print_output(commands::reconcile(&log).await))
        }
        AuditCmd::Flush => {
            let log = AuditLog::new(config.audit.clone(), new_session_id());
            let report = log.flush().await?;
            println!(
                "delivered {}, remaining {}",
                report.delivered, report.remaining
            );
            if let Some(why) = &report.stopped {
                eprintln!("stopped: {}", warroom_core::sanitize::cell(why, 2000));
            }
            Ok(if report.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
