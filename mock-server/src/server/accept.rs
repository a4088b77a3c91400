//! The accept loops: each connection served by hyper's HTTP/1 server over TCP or TLS, bounded
//! in number and in header-read time, and closed when the fake stops.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::Error;
use crate::http::Endpoint;

/// Accepts connections until `stopped` fires, each served by hyper's HTTP/1 server with a
/// header-read timeout (`limits.header_read_secs`): a connection that opens and sends half a
/// request line is closed, so idle sockets cannot use up the file descriptors. Accept errors
/// (out of file descriptors, say) are logged, not hidden, and accepting resumes after a short
/// pause rather than spinning.
///
/// At most `max_connections` are open: at the cap, the connection that has been quiet longest
/// (an idle keep-alive, a client stalled mid-request) is closed to make room, so stalled
/// clients cannot lock out the ones that talk. The registry belongs to this loop alone.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    accept: Accept,
    mut stopped: watch::Receiver<()>,
) {
    use hyper_util::service::TowerToHyperService;
    let Accept {
        app,
        limits,
        tls,
        endpoint,
    } = accept;
    let ConnectionLimits {
        header_read,
        body_idle,
        max_connections,
    } = limits;
    let started = std::time::Instant::now();
    let mut open: Vec<(tokio::task::JoinHandle<()>, Arc<AtomicU64>)> = Vec::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // The handle sends nothing: it is dropped, and that ends the loop.
            _ = stopped.changed() => return,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(err) => {
                tracing::warn!(%err, "cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        open.retain(|(task, _)| !task.is_finished());
        if open.len() >= max_connections {
            let quietest = open
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, last))| last.load(Ordering::Relaxed))
                .map(|(i, _)| i);
            if let Some(i) = quietest {
                let (task, _) = open.swap_remove(i);
                task.abort();
                tracing::debug!(
                    max_connections,
                    "closed the quietest connection to make room"
                );
            }
        }
        let last = Arc::new(AtomicU64::new(ms_since(started)));
        let socket = Tracked {
            inner: socket,
            last: last.clone(),
            started,
        };
        // A request body that stops sending is cut after `limits.body_idle_secs` of silence,
        // on every route, before the journal or a handler reads it.
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .map_request(move |mut request: http::Request<_>| {
                    // Only when S3 listens apart: a first extension allocates its map.
                    if endpoint != Endpoint::Both {
                        request.extensions_mut().insert(endpoint);
                    }
                    request
                })
                .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_idle))
                .service(app.clone()),
        );
        let tls = tls.clone();
        let stopped = stopped.clone();
        let task = tokio::spawn(async move {
            match tls {
                None => serve_connection(socket, service, header_read, stopped).await,
                // A handshake that does not finish in the header-read time is closed, as a
                // request whose headers do not come is.
                Some(tls) => match tokio::time::timeout(header_read, tls.accept(socket)).await {
                    Ok(Ok(socket)) => serve_connection(socket, service, header_read, stopped).await,
                    Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake not finished in time"),
                },
            }
        });
        open.push((task, last));
    }
}

/// How long a stopping fake lets a request already in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One HTTP/1 connection, over TCP or TLS, until it ends or the fake stops: then hyper's
/// graceful shutdown closes it at once if idle (a keep-alive connection a client still holds),
/// or after the request in flight is answered, within [`STOP_GRACE`].
async fn serve_connection<I, S>(
    io: I,
    service: S,
    header_read: Duration,
    mut stopped: watch::Receiver<()>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<axum::body::Body>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        // The handle sends nothing: it is dropped, and that is the stop.
        _ = stopped.changed() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(STOP_GRACE, connection.as_mut()).await {
                Ok(ended) => ended,
                Err(_) => return tracing::debug!("a request outlived the stop's grace; closed"),
            }
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%err, "connection ended");
    }
}

/// Binds `at`, returning the listener and the address it got.
pub(super) async fn bind(at: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), Error> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(Error::io(format!("cannot listen on {at}")))?;
    let address = listener
        .local_addr()
        .map_err(Error::io("cannot read the bound address"))?;
    Ok((listener, address))
}

/// What one accept loop serves, and how.
pub(super) struct Accept {
    pub app: crate::http::Observed,
    pub limits: ConnectionLimits,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub endpoint: Endpoint,
}

/// What bounds each connection (see [`serve`]).
#[derive(Clone, Copy)]
pub(super) struct ConnectionLimits {
    pub header_read: Duration,
    pub body_idle: Duration,
    pub max_connections: usize,
}

fn ms_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A socket that notes when it last moved a byte either way.
struct Tracked {
    inner: tokio::net::TcpStream,
    last: Arc<AtomicU64>,
    started: std::time::Instant,
}

impl Tracked {
    fn moved(&self, bytes: usize) {
        if bytes > 0 {
            self.last.store(ms_since(self.started), Ordering::Relaxed);
        }
    }
}

impl tokio::io::AsyncRead for Tracked {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.moved(buf.filled().len() - before);
        result
    }
}

impl tokio::io::AsyncWrite for Tracked {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(written)) = &result {
            self.moved(*written);
        }
        result
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
