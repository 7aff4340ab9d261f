//! Accepting and serving HTTP connections, with the limits that keep one client from
//! holding every socket (protocol.md section 5): a per-address connection cap, a
//! header-read timeout and an idle keep-alive timeout. hyper does the HTTP; this module
//! only decides which connections it gets and when an idle one is closed.

mod activity;
mod fd_limit;
mod slots;

pub use fd_limit::raise_fd_limit;

use super::app::App;
use super::log::log_sampled;
use activity::Activity;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use slots::{Slot, Slots};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tower_service::Service;

/// How long in-flight requests get to finish when the server stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The connection limits, taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request's header must arrive within this.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Connections one address (an IPv6 /64) may hold at once; 0 = no cap.
    pub per_address: usize,
}

/// Serves `router` on `listener` until the app's shutdown signal, then gives in-flight
/// requests [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    app: Arc<App>,
    limits: ConnectionLimits,
) {
    let slots = Slots::new(limits.per_address);
    let mut stop = app.watch_shutdown();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // A refused stream is dropped here, which closes it.
                    if let Some(connection) = admit(&slots, &router, &app, limits, peer) {
                        connections.spawn(connection.serve(stream));
                    }
                }
                Err(e) => accept_failed(e).await,
            },
            Some(_) = connections.join_next() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    drop(listener);
    // Every connection saw the same signal and is closing; long polls answer at once.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        connections.abort_all();
    }
}

/// The connection from `peer`, or `None` when its address already holds its share:
/// closing at once is the cheapest answer to a client that holds that many.
fn admit(
    slots: &Slots,
    router: &axum::Router,
    app: &Arc<App>,
    limits: ConnectionLimits,
    peer: SocketAddr,
) -> Option<Connection> {
    let Some(slot) = slots.take(peer.ip()) else {
        app.metrics.connection_refused();
        log_sampled!(
            ConnectionRefused,
            "connection refused: the address holds {} connections",
            limits.per_address
        );
        return None;
    };
    Some(Connection {
        router: router.clone(),
        app: app.clone(),
        limits,
        peer,
        _slot: slot,
    })
}

/// Out of descriptors (EMFILE/ENFILE) or a connection reset before it was accepted: the
/// listener stays usable. A short pause keeps a full descriptor table from spinning the
/// loop; the idle timeout frees descriptors meanwhile.
async fn accept_failed(e: io::Error) {
    log_sampled!(AcceptFailed, "accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: axum::Router,
    app: Arc<App>,
    limits: ConnectionLimits,
    peer: SocketAddr,
    /// Held for the life of the connection; frees the address's share when dropped.
    _slot: Slot,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let activity = Arc::new(Activity::new());
        let (router, peer, busy) = (self.router.clone(), self.peer, activity.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // What `into_make_service_with_connect_info` would insert: handlers read the
            // peer address from it.
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            let in_flight = busy.begin();
            async move {
                let response = router.call(request).await;
                drop(in_flight);
                response
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut stop = self.app.watch_shutdown();
        let mut closing = false;
        loop {
            tokio::select! {
                // Errors here are the client's (reset, malformed request, header
                // timeout): hyper already answered what could be answered.
                _ = connection.as_mut() => break,
                _ = stop.wait_for(|stopped| *stopped), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = activity.idle_for(self.limits.idle_timeout), if !closing => {
                    // Closes at once when between requests, which is what idle means.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}
