//! What each subcommand does. Output for people on stdout, problems on stderr,
//! exit status non-zero when something was refused or failed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::output::{activity_json, activity_table};
use crate::audit::{AuditLog, new_session_id};
use crate::backends::demo::DemoClock;
use crate::backends::postgres::{ActivitySnapshot, PgSignaller, PgSource, RealPg};
use crate::cli::{Cli, Cmd, ConfigCmd, Output, PgActArgs, PgCmd};
use crate::config::Config;
use crate::guard::{ContextKind, Executor, GuardRequest, GuardedAction, PgTarget};
use crate::setup::{self, Options};
use crate::tui::record::Recorder;

/// Tracing goes to a file, never to the terminal the TUI draws on.
pub fn init_logging(path: Option<&Path>) -> Option<()> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => crate::config::state_dir()?.join("warroom.log"),
    };
    // Private: the log can hold query text and names (0600, its directory 0700).
    let file = crate::private_fs::open_private(&path, true).ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
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
            let sharing = super::share::start_sharing(&config, &backends, cli.share)?;
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
                Some(path) => crate::backends::demo::Scenario::load(&path)?,
                None => crate::backends::demo::Scenario::embedded(),
            };
            if !(speed.is_finite() && speed > 0.0) {
                bail!("--speed must be a positive number");
            }
            let (app, backends, _world) =
                setup::demo(&config, &opts, &scenario, seed, DemoClock::wall(speed))?;
            let sharing = super::share::start_sharing(&config, &backends, cli.share)?;
            run_tui(app, backends, cli.record.as_deref(), sharing).await
        }
        Some(Cmd::Completions { .. }) => Ok(ExitCode::SUCCESS),
        Some(Cmd::Config(ConfigCmd::Check)) => {
            setup::check_context(&config, opts.context.as_deref())?;
            setup::theme(&config, &opts)?;
            setup::real_pg(&config)?;
            setup::real_kafka(&config)?;
            print!("{}", config.summary());
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Pg(cmd)) => pg(&config, &opts, cmd).await,
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

/// The TUI, recorded when asked; the recording is complete when this returns.
async fn run_tui(
    app: crate::app::App,
    backends: crate::tui::Backends,
    record: Option<&Path>,
    mut sharing: Option<crate::server_client::share::Sharing>,
) -> anyhow::Result<ExitCode> {
    let recording = match record {
        Some(path) => {
            let (w, h) = crossterm::terminal::size().unwrap_or((80, 24));
            let (rec, done) = Recorder::create(path, w, h)
                .with_context(|| format!("cannot record to {}", path.display()))?;
            Some((rec, done))
        }
        None => None,
    };
    let recorder = recording.as_ref().map(|(r, _)| r.clone());
    let result = crate::tui::run(app, backends, recorder, sharing.as_mut()).await;
    if let Some(s) = sharing {
        s.finish().await;
    }
    if let Some((rec, done)) = recording {
        drop(rec);
        done.wait().context("finishing the recording")?;
    }
    result.map(|()| ExitCode::SUCCESS)
}

fn pick_context<'a>(config: &'a Config, opts: &'a Options) -> anyhow::Result<&'a str> {
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

async fn pg(config: &Config, opts: &Options, cmd: PgCmd) -> anyhow::Result<ExitCode> {
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
        } => return super::pg_slow::statements(&pg, interval, sort.into(), output).await,
        PgCmd::Explain { pid, output } => {
            return super::pg_slow::explain(&pg, pid, output).await;
        }
        _ => {}
    }
    let snapshot = pg
        .activity()
        .await
        .with_context(|| format!("context {ctx}"))?;
    let make_action: fn(PgTarget) -> GuardedAction = match cmd {
        PgCmd::Terminate(_) => GuardedAction::PgTerminate,
        _ => GuardedAction::PgCancel,
    };
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
        PgCmd::CancelQuery(PgActArgs {
            pid,
            reason,
            confirm_context,
        })
        | PgCmd::Terminate(PgActArgs {
            pid,
            reason,
            confirm_context,
        }) => {
            act(
                config,
                opts,
                &ctx,
                pg,
                &snapshot,
                pid,
                reason,
                confirm_context,
                make_action,
            )
            .await
        }
        // Handled before the snapshot.
        PgCmd::Statements { .. } | PgCmd::Explain { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// The pods of every configured Kubernetes context, by address (one listing per scope,
/// 5 s at most each); a context that cannot be listed is skipped with a note on stderr.
async fn pods_by_address(config: &Config) -> crate::links::PodDirectory {
    use crate::backends::kube::{KubeSource, RealKube};
    let mut pods = crate::links::PodDirectory::default();
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

#[allow(clippy::too_many_arguments)]
async fn act(
    config: &Config,
    opts: &Options,
    ctx: &str,
    pg: Arc<RealPg>,
    snapshot: &ActivitySnapshot,
    pid: i32,
    reason: String,
    confirm_context: Option<String>,
    make: fn(PgTarget) -> GuardedAction,
) -> anyhow::Result<ExitCode> {
    let Some(session) = snapshot.sessions.iter().find(|s| s.pid == pid) else {
        eprintln!("refused: pid {pid} is not a client session on context {ctx} (nothing was done)");
        return Ok(ExitCode::FAILURE);
    };
    let action = make(PgTarget::from_session(ctx, session));
    let executor = cli_executor(config, opts)?.with_pg(ctx, pg as Arc<dyn PgSignaller>);
    Ok(run_guarded(&executor, action, reason, confirm_context).await)
}

/// The executor every CLI action uses: the configured audit, policy and reason rules.
pub(super) fn cli_executor(config: &Config, opts: &Options) -> anyhow::Result<Executor> {
    let executor = Executor::new(
        AuditLog::new(config.audit.clone(), new_session_id()),
        setup::policy(config, opts.read_only),
        setup::reason_rules(config),
        config.terminate_wait,
    )
    .with_action_timeout(config.action_timeout);
    // The request id goes to stderr as soon as the server says the action waits for approval.
    let on_pending: crate::server_client::actions::OnPending = std::sync::Arc::new(|n| {
        eprintln!(
            "waiting for approval: request {} (approvers: {}; expires {}); `warroom approve {}` \
             on another account approves it",
            n.request_id,
            n.approvers.join(", "),
            n.expires_at.as_deref().unwrap_or("-"),
            n.request_id
        );
    });
    setup::with_delegates(executor, config, !opts.no_wait, Some(on_pending))
}

/// Show the exact effect, run the action through the guard, print one line per target;
/// non-zero when anything was refused or failed.
pub(super) async fn run_guarded(
    executor: &Executor,
    action: GuardedAction,
    reason: String,
    confirm_context: Option<String>,
) -> ExitCode {
    use crate::sanitize::lines;
    // Intents left without an outcome by an earlier run: say so before acting.
    if let Some(notice) = crate::audit::commands::orphan_notice(executor.audit()).await {
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
    let (code, warnings) = crate::guard::status::cli_status(&reports, executor.audit().settings());
    for w in warnings {
        eprintln!("{}", lines(&w, 4000));
    }
    ExitCode::from(code)
}
