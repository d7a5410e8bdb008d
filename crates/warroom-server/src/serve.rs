//! Accepting connections, plain or TLS (rustls), each tracked against the connection limits
//! ([`super::connections`]), and shutting down gracefully: on SIGTERM or Ctrl-C stop
//! accepting, let in-flight requests finish (bounded), then return.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::TlsFiles;
use super::connections::{
    self, Conn, ConnectionLimits, Registry, Streams, Tracked, TrackedService,
};

/// How long in-flight requests get after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(20);
/// A TLS handshake slower than this is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Loads the certificate chain and key (PEM) into a rustls server config on ring.
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: no PEM certificate chain ({e})", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in the file",
            files.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("{}: no PEM private key ({e})", files.key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains. Each connection is
/// tracked ([`connections`]): at most `limits.max_connections`, closed when idle or slow.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    let builder = Arc::new(builder);
    let registry = Arc::new(Registry::new(limits.max_connections));
    let streams = Arc::new(Streams::new(limits.max_streams_per_identity));
    connections::warn_if_above_open_file_limit(limits.max_connections);
    let reports = tokio::spawn(Arc::clone(&registry).report_every_period());
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Every open connection has a request in service: this one is closed at once.
        let Some(admitted) = registry.admit() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::clone(admitted.conn());
        let service = TrackedService::new(
            TowerToHyperService::new(app.clone()),
            Arc::clone(&registry),
            Arc::clone(&conn),
            Arc::clone(&streams),
            limits.body_timeout,
        );
        let accepted = Accepted {
            builder: Arc::clone(&builder),
            watcher: graceful.watcher(),
            conn,
            service,
        };
        let (tls, limits) = (tls.clone(), Arc::clone(&limits));
        tokio::spawn(async move {
            tokio::select! {
                () = accepted.serve(stream, tls, peer) => {},
                why = admitted.conn().until_closed(&limits) => {
                    tracing::debug!(%peer, reason = why.as_str(), "connection closed by the server");
                }
            }
            // Counted out only now, when the socket is closed.
            drop(admitted);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN:?}; stopping anyway");
    }
    reports.abort();
}

/// What one accepted connection is served with.
struct Accepted {
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    conn: Arc<Conn>,
    service: TrackedService<TowerToHyperService<Router>>,
}

impl Accepted {
    /// Serves HTTP/1 on `stream` (after the TLS handshake, if any) until it ends.
    async fn serve(self, stream: TcpStream, tls: Option<TlsAcceptor>, peer: SocketAddr) {
        let Accepted {
            builder,
            watcher,
            conn,
            service,
        } = self;
        let ended = match tls {
            None => {
                let io = TokioIo::new(Tracked::new(stream, conn));
                let connection = builder.serve_connection(io, service).into_owned();
                watcher.watch(connection).await
            }
            Some(acceptor) => {
                let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let io = TokioIo::new(Tracked::new(stream, conn));
                let connection = builder.serve_connection(io, service).into_owned();
                watcher.watch(connection).await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
