//! `warroom server`: the other end of the audit call, run by the platform team.
//!
//! All state is in PostgreSQL (several replicas serve the same data); the schema is migrated at
//! start under an advisory lock. API: see [`api`]. No ratatui here: the TUI reaches the server
//! only through `warroom_client` (and the audit call).

pub mod access;
pub mod actions;
pub mod api;
pub mod auth;
pub mod batch;
pub mod chain;
pub mod config;
pub mod connections;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod migrations;
pub mod oidc;
pub mod policy;
pub mod relay;
pub mod requests;
pub mod scope;
pub mod serve;
pub mod store;
pub mod watch_page;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use config::ServerConfig;
use store::Store;

/// How often retention runs (it deletes whole days, so hourly is plenty).
/// Group-commit writer tasks (each holds one pooled connection while it writes a batch).
const WRITERS: usize = 4;

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long shutdown waits for actions still running (an action's calls are bounded by the
/// executor's timeout; its result is then stored, retried while the database is away).
const ACTIONS_DRAIN: Duration = Duration::from_secs(90);

/// `warroom server [check-config] --config FILE`. Logs are JSON lines on stderr.
pub fn main(config: Option<&Path>, check_only: bool) -> ExitCode {
    let Some(path) = config else {
        eprintln!("warroom server: --config FILE is required (the server's own TOML file)");
        return ExitCode::from(2);
    };
    let config = match ServerConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if check_only {
        if let Some(tls) = &config.tls
            && let Err(e) = serve::tls_acceptor(tls)
        {
            eprintln!("{}: server.tls: {e}", path.display());
            return ExitCode::FAILURE;
        }
        print!("{}", config.summary());
        println!("ok");
        return ExitCode::SUCCESS;
    }
    init_json_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, serve::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "warroom server stopped");
            ExitCode::FAILURE
        }
    }
}

/// `warroom server check-policy --config FILE`: the rules, in the order they are tried.
pub fn check_policy(config: Option<&Path>) -> ExitCode {
    let Some(path) = config else {
        eprintln!("warroom server check-policy: --config FILE is required");
        return ExitCode::from(2);
    };
    match ServerConfig::load(path) {
        Ok(c) => {
            print!("{}", c.policy.summary());
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_json_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Binds, migrates (in the background: `/healthz` answers meanwhile, `/readyz` says 503),
/// serves until `shutdown`, then drains.
pub async fn run(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let store = Store::new(&config)?;
    let tls = config.tls.as_ref().map(serve::tls_acceptor).transpose()?;
    let auth = auth::Authenticator::new(&config.auth)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let state = Arc::new(api::AppState {
        store: store.clone(),
        // Writers beyond the pool would only wait for a connection.
        ingest: batch::start(store.clone(), config.pool_size.clamp(1, WRITERS)),
        auth,
        ready: AtomicBool::new(false),
        stopping: tokio_util::sync::CancellationToken::new(),
        relay: relay::Relay::start(&config)?,
        delegation: actions::Delegation::new(&config)?,
        readers: config.readers.clone(),
    });
    let listener_task = tokio::spawn(requests::listen(
        config.database.clone(),
        state.delegation.bell.clone(),
    ));
    // A migration that fails for good (not "database unreachable") stops the server.
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<String>();
    let startup = {
        let (state, database) = (Arc::clone(&state), config.database.display().to_string());
        let retention_days = config.retention_days;
        tokio::spawn(async move {
            if let Err(e) = migrate_when_reachable(&state.store, &database).await {
                let _ = fatal_tx.send(e);
                return;
            }
            state.ready.store(true, Ordering::Release);
            tracing::info!("ready: schema up to date");
            // Both run until shutdown aborts this task.
            let retention = async {
                if let Some(days) = retention_days {
                    retention_loop(state.store.clone(), days).await;
                }
            };
            tokio::join!(actions::sweep_loop(Arc::clone(&state)), retention);
        })
    };
    tracing::info!(
        listen = %config.listen,
        tls = tls.is_some(),
        static_tokens = config.auth.tokens.len(),
        oidc = config.auth.oidc.is_some(),
        retention_days = config.retention_days,
        max_connections = config.connections.max_connections,
        "warroom server listening"
    );
    let fatal = Arc::new(tokio::sync::Mutex::new(None::<String>));
    let stop = {
        let (fatal, state) = (Arc::clone(&fatal), Arc::clone(&state));
        async move {
            tokio::select! {
                () = shutdown => {},
                Ok(e) = fatal_rx => *fatal.lock().await = Some(e),
            }
            // Long-polls and watch streams never end by themselves: they answer now, so the
            // drain is not held up and their clients go on with another replica.
            state.stopping.cancel();
        }
    };
    serve::serve(
        listener,
        api::router(Arc::clone(&state)),
        tls,
        config.connections.clone(),
        stop,
    )
    .await;
    // Actions run detached from their requests: a running one finishes and stores its result
    // before the process goes (its executor bounds each call by the action timeout).
    let running = &state.delegation.running;
    running.close();
    if !running.is_empty() {
        tracing::info!(
            actions = running.len(),
            "waiting for the actions still running"
        );
    }
    if tokio::time::timeout(ACTIONS_DRAIN, running.wait())
        .await
        .is_err()
    {
        tracing::warn!("actions still running after {ACTIONS_DRAIN:?}; their leases resolve them");
    }
    startup.abort();
    listener_task.abort();
    if let Some(e) = fatal.lock().await.take() {
        return Err(e);
    }
    tracing::info!("warroom server stopped");
    Ok(())
}

/// Retries while the database is unreachable (readiness stays false meanwhile; an orchestrator
/// decides how long to wait); any other failure is fatal.
async fn migrate_when_reachable(store: &Store, database: &str) -> Result<(), String> {
    loop {
        match migrations::migrate(store).await {
            Ok(applied) => {
                tracing::info!(database, applied = ?applied, "schema up to date");
                return Ok(());
            }
            Err(store::StoreError::Unavailable(e)) => {
                tracing::warn!(database, error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(format!("schema migration failed: {e}")),
        }
    }
}

async fn retention_loop(store: Store, days: u32) {
    loop {
        match store.apply_retention(days).await {
            Ok(Some((deleted, cutoff))) => tracing::info!(
                deleted,
                before = %humantime::format_rfc3339(cutoff),
                retention_days = days,
                "retention: deleted the whole days older than the retention period"
            ),
            Ok(None) => tracing::debug!("retention: another replica is doing it"),
            Err(e) => tracing::warn!(error = %e, "retention did not run"),
        }
        match relay::apply_retention(&store, days).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                retention_days = days,
                "retention: deleted old share recordings"
            ),
            Err(e) => tracing::warn!(error = %e, "share retention did not run"),
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}
