//! `warroom pg`: activity, statements, explain, and the guarded cancel and terminate.
//! Output for people on stdout, problems on stderr, non-zero when refused or failed.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::output::{activity_json, activity_table};
use crate::cli::{Output, PgActArgs, PgCmd};
use warroom_core::backends::postgres::{ActivitySnapshot, PgSignaller, PgSource, RealPg};
use warroom_core::config::Config;
use warroom_core::guard::{ContextKind, GuardedAction, PgTarget};
use warroom_tui::setup::{self, Options};

pub(super) fn pick_context<'a>(config: &'a Config, opts: &'a Options) -> anyhow::Result<&'a str> {
    setup::check_context(config, opts.context.as_deref())?;
    match (&opts.context, config.contexts.postgres.as_slice()) {
        (Some(c), _) => Ok(c),
        (None, [only]) => Ok(&only.name),
        (None, []) => bail!("no PostgreSQL context is configured (see `warroom config check`)"),
        (None, _) => bail!(
            "several contexts are configured: choose one with --context ({})",
            config.contexts.listed(ContextKind::Postgres)
        ),
    }
}

pub(super) async fn pg(config: &Config, opts: &Options, cmd: PgCmd) -> anyhow::Result<ExitCode> {
    let ctx = pick_context(config, opts)?.to_string();
    let pgs = setup::real_pg(config)?;
    let pg: Arc<RealPg> = pgs
        .get(&ctx)
        .cloned()
        .context("context has no connection")?;
    match cmd {
        PgCmd::Statements {
            interval,
            sort,
            output,
        } => return super::statements::statements(&pg, interval, sort.into(), output).await,
        PgCmd::Explain { pid, output } => {
            return super::statements::explain(&pg, pid, output).await;
        }
        _ => {}
    }
    let snapshot = pg
        .activity()
        .await
        .with_context(|| format!("context {ctx}"))?;
    match cmd {
        PgCmd::Activity { output, all } => {
            match output {
                Output::Json => {
                    let pods = pods_by_address(config).await;
                    println!("{}", activity_json(&snapshot, &pods)?)
                }
                Output::Table => {
                    print!("{}", super::output::human(&activity_table(&snapshot, all)))
                }
            }
            if let Some(note) = snapshot.privilege_note() {
                eprintln!("note: {}", super::output::human(&note));
            }
            Ok(ExitCode::SUCCESS)
        }
        PgCmd::CancelQuery(args) => {
            act(
                config,
                opts,
                &ctx,
                pg,
                &snapshot,
                args,
                GuardedAction::pg_cancel,
            )
            .await
        }
        PgCmd::Terminate(args) => {
            act(
                config,
                opts,
                &ctx,
                pg,
                &snapshot,
                args,
                GuardedAction::pg_terminate,
            )
            .await
        }
        // Handled before the snapshot.
        PgCmd::Statements { .. } | PgCmd::Explain { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// The pods of every configured Kubernetes context, by address (one listing per scope,
/// 5 s at most each); a context that cannot be listed is skipped with a note on stderr.
async fn pods_by_address(config: &Config) -> warroom_core::pod_directory::PodDirectory {
    use warroom_core::backends::kube::{KubeSource, RealKube};
    let mut pods = warroom_core::pod_directory::PodDirectory::default();
    for ctx in &config.contexts.kubernetes {
        let kube = RealKube::new(ctx.kube_context.clone());
        for scope in setup::kube_scopes(ctx) {
            let listed =
                tokio::time::timeout(std::time::Duration::from_secs(5), kube.list_pods(&scope))
                    .await;
            match listed {
                Ok(Ok(list)) => {
                    pods.listed(&ctx.name, scope.namespace.as_deref(), &list.pods);
                }
                Ok(Err(e)) => eprintln!(
                    "note: pods of context {} not listed, sessions not linked to them: {}",
                    ctx.name,
                    super::output::human(&e.to_string())
                ),
                Err(_) => eprintln!(
                    "note: pods of context {} not listed within 5 s, sessions not linked to them",
                    ctx.name
                ),
            }
        }
    }
    pods
}

async fn act(
    config: &Config,
    opts: &Options,
    ctx: &str,
    pg: Arc<RealPg>,
    snapshot: &ActivitySnapshot,
    args: PgActArgs,
    make: fn(PgTarget) -> GuardedAction,
) -> anyhow::Result<ExitCode> {
    let PgActArgs {
        pid,
        reason,
        confirm_context,
    } = args;
    let Some(session) = snapshot.sessions.iter().find(|s| s.pid == pid) else {
        eprintln!("refused: pid {pid} is not a client session on context {ctx} (nothing was done)");
        return Ok(ExitCode::FAILURE);
    };
    let action = make(PgTarget::from_session(ctx, session));
    let executor =
        super::guarded::cli_executor(config, opts)?.with_pg(ctx, pg as Arc<dyn PgSignaller>);
    Ok(super::guarded::run_guarded(&executor, action, reason, confirm_context).await)
}
