//! The HTTP server: one hyper connection task per client, and a graceful stop that lets
//! requests in flight finish.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::App;

/// How long a stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's head, or to finish a TLS handshake.
const HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// The most a request's head (request line and headers) may take. S3's own limit on user
/// metadata is 2 KiB; 64 KiB leaves room for long keys, presigned queries and cookies.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serve `app` on `listener` until `shutdown` resolves, then drain.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, app, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with(
    listener: TcpListener,
    app: App,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match &tls {
                    None => {
                        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), app.clone()));
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        });
                    }
                    Some(acceptor) => {
                        // The handshake runs in the connection's task: a slow client holds
                        // only its own, and for HEAD_TIMEOUT at most.
                        let (acceptor, http, app) = (acceptor.clone(), http.clone(), app.clone());
                        let watcher = graceful.watcher();
                        tokio::spawn(async move {
                            let stream = match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                            let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), app));
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        });
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
        }
    }
    Ok(())
}
