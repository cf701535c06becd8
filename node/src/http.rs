//! The node's two HTTP servers (metrics and the admin API) share one way of serving: hardened
//! against a client that is slow, stuck or hostile.
//!
//! - **Under the runtime.** [`serve`] spawns the server from the runtime context it is given,
//!   and each connection as a child of the server's task: when the runtime stops (SIGINT,
//!   SIGTERM, or the node ending), the server stops accepting and returns, which aborts every
//!   connection still open. Nothing is left on a bare `tokio::spawn`.
//! - **Timeouts.** A client has [`HEADER_READ_TIMEOUT`] from the moment the server starts
//!   reading a connection to deliver a whole request head (hyper's header read timeout), and
//!   [`REQUEST_TIMEOUT`] for the whole exchange: head, body, handling and response. Either
//!   expiring closes the connection. Connections are not kept alive (one request per
//!   connection), so the whole-request timeout is the connection's lifetime and an idle
//!   connection cannot be held open.
//! - **Bounds.** At most [`MAX_CONNECTIONS`] connections are served at once (one more is closed
//!   at once, unanswered); a request head is at most [`MAX_HEADER_BYTES`] (431 beyond); a
//!   request that declares a body (`Content-Length`) larger than the server's limit is answered
//!   413 before any of its body is read. A body without a declared length is cut off by the
//!   router's own body limit (`DefaultBodyLimit`), which answers 413 too.
//!
//! Connections are served with hyper directly, not with `axum::serve`, because `axum::serve`
//! sets no timer: hyper's header read timeout then never fires.

use axum::{
    Router,
    body::Body,
    http::{Request, Response, StatusCode, header},
    response::IntoResponse as _,
};
use commonware_macros::select;
use commonware_runtime::{Handle, Spawner as _, Supervisor as _, tokio::Context};
use hyper::{body::Incoming, server::conn::http1, service::Service as _};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};
use tracing::{debug, error, info, warn};

/// Time a client has to send a whole request head, counted from when the server starts reading
/// the connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time one connection (one request: head, body, handling, response) may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once by one server.
pub const MAX_CONNECTIONS: usize = 64;
/// Largest request head, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Pause after a failed `accept` (for example out of file descriptors), so the loop does not
/// spin while the condition lasts.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Largest declared request body, in bytes; a larger `Content-Length` is answered 413.
    pub max_body_bytes: usize,
}

impl Limits {
    /// The default timeouts and connection bound, with bodies of at most `max_body_bytes`.
    pub const fn new(max_body_bytes: usize) -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_body_bytes,
        }
    }
}

/// The `Content-Length` a request declares, if any. A malformed one is left to hyper, which
/// refuses such a request (400) before it reaches the service.
fn declared_length(request: &Request<Incoming>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Serves `router` on `listener` (already bound) from a task of `context` until the runtime
/// stops (see module docs); `what` names the server in logs.
pub fn serve(
    context: Context,
    listener: std::net::TcpListener,
    what: &'static str,
    router: Router,
    limits: Limits,
) -> Handle<()> {
    context.spawn(move |context| async move {
        let addr = listener.local_addr().ok();
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| ::tokio::net::TcpListener::from_std(listener))
        {
            Ok(listener) => listener,
            Err(e) => {
                error!(?addr, error = %e, "{what} listener unusable");
                return;
            }
        };
        let permits = Arc::new(::tokio::sync::Semaphore::new(limits.max_connections));
        let mut stopped = context.stopped();
        loop {
            let accepted = select! {
                _ = &mut stopped => {
                    info!(?addr, "{what} server stopped");
                    return;
                },
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(?addr, error = %e, "{what}: accept failed");
                    ::tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                debug!(%peer, "{what}: {} connections open, closing a new one", limits.max_connections);
                continue;
            };
            let router = router.clone();
            context.child("connection").spawn(move |_| async move {
                let _permit = permit;
                serve_connection(stream, peer, what, router, limits).await;
            });
        }
    })
}

/// Serves one request on `stream` within the limits.
async fn serve_connection(
    stream: ::tokio::net::TcpStream,
    peer: SocketAddr,
    what: &'static str,
    router: Router,
    limits: Limits,
) {
    let inner = TowerToHyperService::new(router);
    let max_body = limits.max_body_bytes;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let inner = inner.clone();
        async move {
            if let Some(declared) = declared_length(&request)
                && declared > max_body as u64
            {
                let response: Response<Body> = (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body of {declared} bytes declared; at most {max_body} accepted"),
                )
                    .into_response();
                return Ok::<_, Infallible>(response);
            }
            inner.call(request).await
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(false);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    match ::tokio::time::timeout(limits.request_timeout, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(%peer, error = %e, "{what}: connection failed"),
        Err(_) => {
            debug!(%peer, "{what}: request not done within {:?}, closed", limits.request_timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use commonware_runtime::{Runner as _, tokio};
    use std::net::{Ipv4Addr, TcpListener};

    /// A generous bound for anything the tests wait for.
    const DEADLINE: Duration = Duration::from_secs(20);

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(2),
            max_connections: 4,
            max_body_bytes: 100,
        }
    }

    fn router() -> Router {
        Router::new()
            .route(
                "/echo",
                axum::routing::post(|body: axum::body::Bytes| async move { body }),
            )
            .layer(axum::extract::DefaultBodyLimit::max(100))
    }

    /// Runs `test` against a server with [`limits`], on a fresh runtime.
    fn with_server<F, Fut>(test: F)
    where
        F: FnOnce(SocketAddr) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::Runner::default().start(|context| async move {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let addr = listener.local_addr().unwrap();
            let _server = serve(context.child("test"), listener, "test", router(), limits());
            ::tokio::time::timeout(DEADLINE, test(addr))
                .await
                .expect("the test finished within its deadline");
        });
    }

    /// Writes `request` (a server that closed early may refuse some of it) and reads until the
    /// server closes the connection.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = ::tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).to_string()
    }

    #[test]
    fn a_request_is_answered_and_the_connection_closed() {
        with_server(|addr| async move {
            let answer = exchange(
                addr,
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            )
            .await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(answer.ends_with("hello"), "{answer}");
        });
    }

    #[test]
    fn half_a_header_is_cut_off() {
        with_server(|addr| async move {
            let mut stream = ::tokio::net::TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Half: ")
                .await
                .unwrap();
            let mut answer = Vec::new();
            // Returns once the server closes the connection; the runner's deadline bounds it.
            let _ = stream.read_to_end(&mut answer).await;
            let answer = String::from_utf8_lossy(&answer);
            assert!(!answer.contains("200"), "{answer}");
        });
    }

    #[test]
    fn an_idle_connection_is_cut_off() {
        with_server(|addr| async move {
            let mut stream = ::tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
        });
    }

    #[test]
    fn a_slow_body_is_cut_off_by_the_request_timeout() {
        with_server(|addr| async move {
            let mut stream = ::tokio::net::TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab")
                .await
                .unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            let answer = String::from_utf8_lossy(&answer);
            assert!(!answer.contains("200"), "{answer}");
        });
    }

    #[test]
    fn a_declared_oversized_body_is_refused_before_it_is_read() {
        with_server(|addr| async move {
            // Only the head is sent: the answer must come without any of the body.
            let answer = exchange(
                addr,
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
            )
            .await;
            assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
            assert!(answer.contains("at most 100 accepted"), "{answer}");
        });
    }

    #[test]
    fn an_undeclared_oversized_body_is_refused() {
        with_server(|addr| async move {
            let chunk = "x".repeat(150);
            let request = format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
                chunk.len()
            );
            let answer = exchange(addr, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        });
    }

    #[test]
    fn connections_beyond_the_bound_are_closed_and_the_server_recovers() {
        with_server(|addr| async move {
            // Fill every slot with a silent connection, then one more is closed unanswered.
            let mut held = Vec::new();
            for _ in 0..limits().max_connections {
                held.push(::tokio::net::TcpStream::connect(addr).await.unwrap());
            }
            // Let the server accept them all before the extra one.
            ::tokio::time::sleep(Duration::from_millis(50)).await;
            let answer = exchange(
                addr,
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
            )
            .await;
            assert!(!answer.contains("200"), "{answer}");
            drop(held);
            // Slots free again as the held connections end: a request is answered.
            loop {
                let answer = exchange(
                    addr,
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
                )
                .await;
                if answer.starts_with("HTTP/1.1 200") {
                    break;
                }
                ::tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    #[test]
    fn the_server_stops_with_the_runtime() {
        tokio::Runner::default().start(|context| async move {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let addr = listener.local_addr().unwrap();
            // Timeouts far beyond the test's deadline: only the stop can close the connection.
            let patient = Limits {
                header_read_timeout: DEADLINE * 10,
                request_timeout: DEADLINE * 10,
                ..limits()
            };
            let server = serve(context.child("test"), listener, "test", router(), patient);
            // A connection open when the runtime stops is closed with the server.
            let mut open = ::tokio::net::TcpStream::connect(addr).await.unwrap();
            ::tokio::time::sleep(Duration::from_millis(50)).await;
            context
                .stop(0, Some(DEADLINE))
                .await
                .expect("the server let go within the deadline");
            ::tokio::time::timeout(DEADLINE, server)
                .await
                .expect("the server task ended")
                .expect("the server task ended cleanly");
            let mut rest = Vec::new();
            // Closed: end of stream or reset, either way not pending.
            let _ = ::tokio::time::timeout(DEADLINE, open.read_to_end(&mut rest))
                .await
                .expect("the open connection was closed");
            // Nothing listens any more.
            assert!(::tokio::net::TcpStream::connect(addr).await.is_err());
        });
    }
}
