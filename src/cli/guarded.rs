//! Every guarded CLI action goes through here: one executor (configured audit, policy, reason
//! rules, delegates), the exact effect shown, one line per target, the exit status.

use std::process::ExitCode;

use warroom_core::audit::{AuditLog, new_session_id};
use warroom_core::config::Config;
use warroom_core::guard::{Executor, GuardRequest, GuardedAction};
use warroom_tui::setup::{self, Options};

/// The executor every CLI action uses: the configured audit, policy and reason rules.
pub fn cli_executor(config: &Config, opts: &Options) -> anyhow::Result<Executor> {
    let executor = Executor::new(
        AuditLog::new(config.audit.clone(), new_session_id()),
        setup::policy(config, opts.read_only),
        setup::reason_rules(config),
        config.terminate_wait,
    )
    .with_action_timeout(config.action_timeout);
    // The request id goes to stderr as soon as the server says the action waits for approval.
    let on_pending: warroom_client::actions::OnPending = std::sync::Arc::new(|n| {
        eprintln!(
            "waiting for approval: request {} (approvers: {}; expires {}); `warroom approve {}` \
             on another account approves it",
            n.id,
            n.approvers.join(", "),
            n.expires_at.as_deref().unwrap_or("-"),
            n.id
        );
    });
    setup::with_delegates(executor, config, !opts.no_wait, Some(on_pending))
}

/// Show the exact effect, run the action through the guard, print one line per target;
/// non-zero when anything was refused or failed.
pub async fn run_guarded(
    executor: &Executor,
    action: GuardedAction,
    reason: String,
    confirm_context: Option<String>,
) -> ExitCode {
    use warroom_core::sanitize::lines;
    // Intents left without an outcome by an earlier run: say so before acting.
    if let Some(notice) = warroom_core::audit::commands::orphan_notice(executor.audit()).await {
        eprintln!("warning: {notice}");
    }
    for line in action.describe() {
        eprintln!("{}", lines(&line, 4000));
    }
    let reports = executor
        .run(GuardRequest {
            actions: vec![action],
            reason,
            typed_context: confirm_context,
        })
        .await;
    for r in &reports {
        if r.outcome.ok() {
            println!("{}", lines(&r.summary(), 4000));
        } else {
            eprintln!("{}", lines(&r.summary(), 4000));
        }
    }
    // Exit 1: refused, failed or unknown; 3: it ran, but the record stays on this machine
    // (no endpoint, break-glass) or an outcome was not delivered (README, "Command line").
    let (code, warnings) =
        warroom_core::guard::status::cli_status(&reports, executor.audit().settings());
    for w in warnings {
        eprintln!("{}", lines(&w, 4000));
    }
    ExitCode::from(code)
}
