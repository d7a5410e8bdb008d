//! `warroom server`: the other end of the audit call, run by the platform team.
//!
//! All state is in PostgreSQL (several replicas serve the same data); the schema is migrated at
//! start under an advisory lock. API: see [`api`]. No ratatui here: the TUI reaches the server
//! only through `crate::server_client` (and the audit call).

pub mod api;
pub mod auth;
pub mod chain;
pub mod config;
pub mod ingest;
pub mod migrations;
pub mod oidc;
pub mod serve;
pub mod store;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use config::ServerConfig;
use store::Store;

/// How long the server keeps trying to reach the database at start before giving up.
const START_WAIT: Duration = Duration::from_secs(60);
/// How often retention runs (it deletes whole days, so hourly is plenty).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

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

/// Migrates, binds, serves until `shutdown`, then drains.
pub async fn run(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let store = Store::new(&config)?;
    let tls = config.tls.as_ref().map(serve::tls_acceptor).transpose()?;
    let auth = auth::Authenticator::new(&config)?;
    migrate_when_reachable(&store, &config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        tls = tls.is_some(),
        static_tokens = config.tokens.len(),
        oidc = config.oidc.is_some(),
        retention_days = config.retention_days,
        "warroom server ready"
    );
    let retention = config
        .retention_days
        .map(|days| tokio::spawn(retention_loop(store.clone(), days)));
    let state = Arc::new(api::AppState {
        store: store.clone(),
        auth,
    });
    serve::serve(listener, api::router(state), tls, shutdown).await;
    if let Some(task) = retention {
        task.abort();
    }
    tracing::info!("warroom server stopped");
    Ok(())
}

async fn migrate_when_reachable(store: &Store, config: &ServerConfig) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        match migrations::migrate(store).await {
            Ok(applied) => {
                tracing::info!(
                    database = %config.database.display(),
                    applied = ?applied,
                    "schema up to date"
                );
                return Ok(());
            }
            Err(store::StoreError::Unavailable(e)) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(database = %config.database.display(), error = %e, "database not reachable yet; retrying");
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
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}
