//! The GD emulator alone (protocol.md section 7) on its own listener, without DashAuth
//! routes or a bot: several DashAuth servers can then share one emulated GD, each reading
//! it through `--gd-url http://ADDR/database` as it would read real GD.

use super::emulator::{Emulator, EmulatorSettings};
use super::limits::Limits;
use super::log::log_event;
use super::metrics::Metrics;
use super::{
    Config, EMULATOR_BOT_ACCOUNT_ID, EMULATOR_BOT_GJP2, SHUTDOWN_GRACE, StopSignals, reply,
};
use crate::protocol::MAX_BODY_BYTES;
use axum::extract::DefaultBodyLimit;
use axum::{Router, middleware};
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// What a standalone emulator can be told. [`EmulatorConfig::default`] is a faultless
/// emulator on a free loopback port.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Share of requests that fail (0.0 ..= 1.0).
    pub gd_fault_rate: f64,
    /// Delay added to every request.
    pub gd_latency: Duration,
    /// Caps on emulated accounts and messages (the other caps are not used).
    pub limits: Limits,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let server = Config::default();
        EmulatorConfig {
            listen: server.listen,
            gd_fault_rate: server.gd_fault_rate,
            gd_latency: server.gd_latency,
            limits: server.limits,
        }
    }
}

impl EmulatorConfig {
    /// Refuses settings the emulator cannot run with, by the same rules as [`Config`].
    pub fn validate(&self) -> io::Result<()> {
        Config {
            gd_fault_rate: self.gd_fault_rate,
            gd_latency: self.gd_latency,
            limits: self.limits,
            ..Config::default()
        }
        .validate()
    }
}

/// A running standalone emulator, on its own thread and tokio runtime. It creates a GD
/// account on first sight of each `(accountID, gjp2)` pair, so any bot credentials
/// work; the built-in pair ([`EMULATOR_BOT_ACCOUNT_ID`], [`EMULATOR_BOT_GJP2`]) exists
/// from the start. Stops on [`EmulatorHandle::shutdown`] or when dropped.
pub struct EmulatorHandle {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// Starts an emulator and returns once it accepts connections.
    pub fn start(config: EmulatorConfig) -> io::Result<EmulatorHandle> {
        config.validate()?;
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let metrics = Arc::new(Metrics::default());
        let settings = EmulatorSettings {
            bots: vec![(EMULATOR_BOT_ACCOUNT_ID, EMULATOR_BOT_GJP2.to_string())],
            fault_rate: config.gd_fault_rate,
            fault_kinds: Vec::new(),
            latency: config.gd_latency,
            limits: config.limits,
            outbox_limit: None,
        };
        let emulator = Arc::new(Emulator::new(&settings, metrics.clone()));
        let (shutdown, stop) = watch::channel(false);
        let thread = spawn_http(listener, router(emulator), stop)?;
        log_event!("GD emulator listening on http://{addr}/database");
        Ok(EmulatorHandle {
            addr,
            metrics,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/database`: the GD database URL to give a server's `--gd-url`.
    pub fn gd_url(&self) -> String {
        format!("http://{}/database", self.addr)
    }

    /// Requests received so far, faulted or not.
    pub fn request_count(&self) -> u64 {
        self.metrics.snapshot().emulator_total()
    }

    /// Stops the listener and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shutdown.send_replace(true);
        if thread.join().is_err() {
            log_event!("the GD emulator thread panicked");
        }
        log_event!("GD emulator on {} stopped", self.addr);
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The emulator's routes with the server's envelope for unknown routes and its body
/// limits, so a standalone emulator answers exactly as an embedded one.
fn router(emulator: Arc<Emulator>) -> Router {
    emulator
        .router()
        .method_not_allowed_fallback(reply::method_not_allowed)
        .fallback(reply::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(reply::limit_body_size))
}

/// Serves `router` on a new thread with its own runtime until `stop` turns true.
fn spawn_http(
    listener: std::net::TcpListener,
    router: Router,
    stop: watch::Receiver<bool>,
) -> io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dashauth-gd-emulator")
        .enable_all()
        .build()?;
    // Converted inside the runtime: tokio needs one to register the socket.
    let listener = runtime.block_on(async { tokio::net::TcpListener::from_std(listener) })?;
    std::thread::Builder::new()
        .name("dashauth-gd-emulator".into())
        .spawn(move || {
            runtime.block_on(serve(listener, router, stop));
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })
}

async fn serve(listener: tokio::net::TcpListener, router: Router, stop: watch::Receiver<bool>) {
    let mut graceful = stop.clone();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stopped| *stopped).await;
    });
    let server = tokio::spawn(server.into_future());
    let mut stopped = stop;
    let _ = stopped.wait_for(|stopped| *stopped).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
}

/// Runs a standalone emulator until SIGINT or SIGTERM: prints `listening on
/// http://ADDR` on stdout once it accepts connections, then stops cleanly.
pub fn run_emulator(config: EmulatorConfig) -> io::Result<()> {
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered first, so a signal right after the "listening" line still stops it.
    let mut stop = signals.block_on(async { StopSignals::register() })?;
    let emulator = EmulatorHandle::start(config)?;
    println!("listening on http://{}", emulator.addr());
    let name = signals.block_on(stop.recv());
    log_event!("{name} received, shutting down");
    emulator.shutdown();
    Ok(())
}
