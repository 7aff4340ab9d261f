//! The reference DashAuth server (protocol.md sections 1–5) and its embedded GD emulator
//! (section 7), behind the `server` feature.
//!
//! [`ServerHandle::start`] runs a whole server (HTTP routes, the bot, the emulator) on its
//! own threads, so it can be used from plain synchronous tests; [`run`] is what the
//! `dashauth-server` binary calls. Without a GD URL the server answers GD requests itself
//! at `/database/*.php` and its bot reads them over HTTP, exactly as it would read GD.

mod app;
mod auth;
pub mod bots;
mod certs;
mod challenges;
mod devices;
mod emulator;
mod events;
mod latency;
mod limits;
mod log;
mod metrics;
mod nonce;
mod prometheus;
mod rate_limit;
mod reply;
mod routes;
mod serve;
mod standalone_emulator;
mod status;
pub mod store;
mod tokens;

pub use bots::{BotAccount, BotStatus};
pub use emulator::Fault as GdFault;
pub use limits::Limits;
pub use metrics::MetricsSnapshot;
pub use standalone_emulator::{EmulatorConfig, EmulatorHandle, run_emulator};

use app::App;
use bots::Poller;
use certs::CertAuthority;
use emulator::{Emulator, EmulatorSettings};
use log::log_event;
use serve::{ConnectionLimits, SHUTDOWN_GRACE};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use store::{Location, Store};
use tokio::sync::watch;

/// Account id of the bot the emulator creates when no GD URL is given.
pub const EMULATOR_BOT_ACCOUNT_ID: u32 = 2_100_000_000;
/// gjp2 of the emulator's bot. Not a secret: it only works against the emulator.
pub const EMULATOR_BOT_GJP2: &str = "0d1f7c6e5b4a39281706f5e4d3c2b1a098f7e6d5";
/// Poll interval against real GD, whose operators rate-limit aggressive clients.
pub const DEFAULT_GD_POLL_INTERVAL: Duration = Duration::from_millis(2000);
/// Poll interval against the emulator.
pub const DEFAULT_EMULATOR_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Requests per minute per IP with real GD (0 = off, the emulator default).
pub const DEFAULT_GD_RATE_LIMIT: u32 = 30;
/// Each bot's budget of GD requests per second against real GD (protocol.md section 3).
pub const DEFAULT_GD_REQUESTS_PER_SECOND: f64 = 1.0;
/// Each bot's budget against the emulator, which has no rate limit to respect.
pub const DEFAULT_EMULATOR_REQUESTS_PER_SECOND: f64 = 50.0;
/// Highest request budget a bot may be given.
pub const MAX_GD_REQUESTS_PER_SECOND: f64 = 1000.0;
/// Default long-poll hold against real GD: the public DashAuth client makes one 12 s
/// `challenge_complete` call, and a 2 s poll interval plus a slow GD answer must fit in it.
pub const DEFAULT_GD_COMPLETE_WAIT: Duration = Duration::from_millis(10_000);
/// Default long-poll hold with the emulator, which answers at once.
pub const DEFAULT_EMULATOR_COMPLETE_WAIT: Duration = Duration::from_millis(5000);
/// How often expired records are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Everything the server can be told. [`Config::default`] is a complete offline server
/// on a free loopback port with the emulator; [`Config::for_gd`] targets a GD server.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// GD database URL; `None` runs the embedded emulator.
    pub gd_url: Option<String>,
    /// The (first) bot's GD account.
    pub bot_account_id: u32,
    /// The (first) bot's gjp2. Never logged.
    pub bot_gjp2: String,
    /// Further bot accounts (protocol.md section 3, "Several bot accounts"); each new
    /// challenge goes to the healthy bot with the fewest pending challenges.
    pub extra_bots: Vec<BotAccount>,
    /// Ids per `deleteGJMessages20.php` request; `None` deletes a page's ids in one
    /// request, as real GD allows. GMDprivateServer needs 10.
    pub gd_delete_batch: Option<usize>,
    /// Each bot's budget of GD requests per second, within which a pass reads further
    /// pages of a backlog.
    pub gd_requests_per_second: f64,
    /// Which failures the emulator injects (the default four when empty).
    pub gd_fault_kinds: Vec<GdFault>,
    /// GD's sent-message limit in the emulator: over it an upload answers `-1`.
    pub emulator_outbox_limit: Option<usize>,
    /// At most one inbox fetch per this interval.
    pub poll_interval: Duration,
    /// How long a challenge can be validated (and, once validated, collected).
    pub challenge_ttl: Duration,
    /// Lifetime of login tokens.
    pub token_ttl: Duration,
    /// Default long-poll wait of `challenge_complete` (capped at 10 s).
    pub complete_wait: Duration,
    /// Share of emulator requests that fail (0.0 ..= 1.0).
    pub gd_fault_rate: f64,
    /// Delay the emulator adds to every request.
    pub gd_latency: Duration,
    /// Requests per minute per IP or IPv6 /64 (a third of it per account and address);
    /// 0 = off.
    pub rate_limit_per_minute: u32,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Pretend the server clock is off by this much (tests of clock-skew handling).
    pub clock_offset_ms: i64,
    /// The SQLite data directory (created 0700); `None` with no `database_url` = a
    /// private temporary directory removed at shutdown (tests, throwaway servers).
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://…`): state shared by every instance using it; wins
    /// over `data_dir`. Holds a password: never logged.
    pub database_url: Option<String>,
    /// Lifetime of device session tokens.
    pub session_ttl: Duration,
    /// Validity of device certificates.
    pub certificate_validity: Duration,
    /// Timeout of each GD request of the bot.
    pub gd_timeout: Duration,
    /// Caps on stored challenges, devices, sessions and emulator data.
    pub limits: Limits,
    /// The server's public base URL: the `iss` of access tokens. `None`: the address it
    /// listens on, `http://{listen}` (right for tests and local development only).
    pub public_url: Option<String>,
    /// Lifetime of access tokens (protocol.md section 9), at most [`MAX_ACCESS_TOKEN_TTL`].
    pub access_token_ttl: Duration,
    /// Age at which the access-token signing key is replaced.
    pub signing_key_rotate: Duration,
    /// A request's header must arrive within this, or the connection is closed.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Connections one address (an IPv6 /64) may hold at once; 0 = no cap. Behind a
    /// proxy every connection comes from the proxy: raise it or turn it off there.
    pub max_connections_per_address: usize,
}

/// Default [`Config::header_read_timeout`]: a slow mobile link sends a header in well
/// under a second; a client that takes longer is holding a socket.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Config::idle_timeout`]: longer than the client library keeps an idle
/// connection for reuse (ureq: 15 s), so it never sends a request on a connection the
/// server is closing; short enough to free idle sockets.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Config::max_connections_per_address`]: above what one busy NAT or the
/// loopback benchmarks (some 200 at once) use, far below the descriptor limit a
/// server gets once it raised its soft limit.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Longest header-read and idle timeout.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            gd_url: None,
            bot_account_id: EMULATOR_BOT_ACCOUNT_ID,
            bot_gjp2: EMULATOR_BOT_GJP2.to_string(),
            extra_bots: Vec::new(),
            gd_delete_batch: None,
            gd_requests_per_second: DEFAULT_EMULATOR_REQUESTS_PER_SECOND,
            gd_fault_kinds: Vec::new(),
            emulator_outbox_limit: None,
            poll_interval: DEFAULT_EMULATOR_POLL_INTERVAL,
            challenge_ttl: Duration::from_secs(300),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            complete_wait: DEFAULT_EMULATOR_COMPLETE_WAIT,
            gd_fault_rate: 0.0,
            gd_latency: Duration::ZERO,
            rate_limit_per_minute: 0,
            trust_forwarded_for: false,
            clock_offset_ms: 0,
            data_dir: None,
            database_url: None,
            session_ttl: Duration::from_secs(24 * 3600),
            certificate_validity: Duration::from_secs(365 * 24 * 3600),
            gd_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            public_url: None,
            access_token_ttl: Duration::from_secs(3600),
            signing_key_rotate: Duration::from_secs(30 * 24 * 3600),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("gd_url", &self.gd_url)
            .field("bot_account_id", &self.bot_account_id)
            .field("bot_gjp2", &"<redacted>")
            .field("extra_bots", &self.extra_bots)
            .field("gd_delete_batch", &self.gd_delete_batch)
            .field("gd_requests_per_second", &self.gd_requests_per_second)
            .field("poll_interval", &self.poll_interval)
            .field("challenge_ttl", &self.challenge_ttl)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .finish_non_exhaustive()
    }
}

fn invalid_config(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl Config {
    /// A server whose bot reads `gd_url` as `bot_account_id`, with the real-GD defaults:
    /// a 2000 ms poll interval, a 10 s long-poll hold, 1 GD request per second per bot,
    /// and rate limits on.
    pub fn for_gd(gd_url: &str, bot_account_id: u32, bot_gjp2: &str) -> Self {
        Config {
            gd_url: Some(gd_url.to_string()),
            bot_account_id,
            bot_gjp2: bot_gjp2.to_string(),
            poll_interval: DEFAULT_GD_POLL_INTERVAL,
            complete_wait: DEFAULT_GD_COMPLETE_WAIT,
            gd_requests_per_second: DEFAULT_GD_REQUESTS_PER_SECOND,
            rate_limit_per_minute: DEFAULT_GD_RATE_LIMIT,
            ..Config::default()
        }
    }

    /// Like [`Config::for_gd`] with every bot of `bots` (at least one; the first becomes
    /// `bot_account_id`).
    pub fn for_gd_bots(gd_url: &str, bots: &[BotAccount]) -> io::Result<Self> {
        let (first, rest) = bots
            .split_first()
            .ok_or_else(|| invalid_config("at least one bot account is needed".into()))?;
        Ok(Config {
            extra_bots: rest.to_vec(),
            ..Config::for_gd(gd_url, first.account_id, &first.gjp2)
        })
    }

    /// Every bot account: `bot_account_id` first, then [`Config::extra_bots`].
    pub fn bot_accounts(&self) -> Vec<BotAccount> {
        let first = BotAccount {
            account_id: self.bot_account_id,
            gjp2: self.bot_gjp2.clone(),
        };
        std::iter::once(first)
            .chain(self.extra_bots.iter().cloned())
            .collect()
    }

    /// Refuses settings the server cannot run with.
    pub fn validate(&self) -> io::Result<()> {
        crate::protocol::AccountId::new(self.bot_account_id)
            .map_err(|e| invalid_config(format!("bot account id: {e}")))?;
        check_bots(self)?;
        if let Some(name) = self.limits.zero_cap() {
            return Err(invalid_config(format!(
                "the cap on {name} must not be zero"
            )));
        }
        if self.bot_gjp2.trim().is_empty() {
            return Err(invalid_config("the bot gjp2 is empty".into()));
        }
        if let Some(url) = &self.gd_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid_config(format!("GD URL {url:?} is not http(s)")));
        }
        if let Some(url) = &self.database_url {
            // The URL is not quoted back: it usually carries a password.
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(invalid_config(
                    "the database URL must start with postgres:// or postgresql://".into(),
                ));
            }
        }
        if let Some(url) = &self.public_url {
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            if !scheme_ok || url.len() > 2048 || url.chars().any(char::is_whitespace) {
                return Err(invalid_config(format!(
                    "the public URL {url:?} is not an http(s) URL"
                )));
            }
        }
        if self.access_token_ttl > MAX_ACCESS_TOKEN_TTL {
            return Err(invalid_config(format!(
                "the access token TTL must be at most {} s",
                MAX_ACCESS_TOKEN_TTL.as_secs()
            )));
        }
        if self.access_token_ttl.as_secs() == 0 {
            return Err(invalid_config(
                "the access token TTL must be at least 1 s".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.gd_fault_rate) {
            return Err(invalid_config(
                "the GD fault rate must be within 0..=1".into(),
            ));
        }
        if self.clock_offset_ms.unsigned_abs() > millis_u64(MAX_TTL) {
            return Err(invalid_config(format!(
                "the clock offset must be within ±{} ms",
                MAX_TTL.as_millis()
            )));
        }
        check_durations(self)
    }
}

/// Longest challenge, token, session and certificate lifetime (10 years): far beyond
/// any sensible setting, far below where `now + ttl` in UNIX ms overflows.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Longest access-token lifetime (a day): offline verifiers learn of a revocation only at
/// `exp`.
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Longest poll interval; the bot's backoff multiplies it.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest latency the emulator can be told to add.
pub const MAX_GD_LATENCY: Duration = Duration::from_secs(60);
/// Longest timeout of one GD request.
pub const MAX_GD_TIMEOUT: Duration = Duration::from_secs(600);

fn millis_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Refuses repeated or invalid bot accounts and budgets that cannot work.
fn check_bots(config: &Config) -> io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for bot in config.bot_accounts() {
        BotAccount::new(bot.account_id, &bot.gjp2).map_err(invalid_config)?;
        if !seen.insert(bot.account_id) {
            return Err(invalid_config(format!(
                "bot account {} is configured twice",
                bot.account_id
            )));
        }
    }
    let rate = config.gd_requests_per_second;
    if !(rate > 0.0 && rate <= MAX_GD_REQUESTS_PER_SECOND) {
        return Err(invalid_config(format!(
            "the GD requests per second must be above 0 and at most {MAX_GD_REQUESTS_PER_SECOND}"
        )));
    }
    if config.gd_delete_batch == Some(0) {
        return Err(invalid_config(
            "the GD delete batch must not be zero".into(),
        ));
    }
    if config.emulator_outbox_limit == Some(0) {
        return Err(invalid_config(
            "the emulator outbox limit must not be zero".into(),
        ));
    }
    Ok(())
}

/// Refuses zero durations (they would spin or expire at once) and ones over their cap
/// (they would overflow the arithmetic that adds them to a clock).
fn check_durations(config: &Config) -> io::Result<()> {
    let durations = [
        ("poll interval", config.poll_interval, MAX_POLL_INTERVAL),
        ("challenge TTL", config.challenge_ttl, MAX_TTL),
        ("token TTL", config.token_ttl, MAX_TTL),
        ("session TTL", config.session_ttl, MAX_TTL),
        ("certificate validity", config.certificate_validity, MAX_TTL),
        ("signing key rotation", config.signing_key_rotate, MAX_TTL),
        ("GD timeout", config.gd_timeout, MAX_GD_TIMEOUT),
        (
            "header-read timeout",
            config.header_read_timeout,
            MAX_CONNECTION_TIMEOUT,
        ),
        ("idle timeout", config.idle_timeout, MAX_CONNECTION_TIMEOUT),
    ];
    for (name, value, max) in durations {
        if value.is_zero() {
            return Err(invalid_config(format!("the {name} must not be zero")));
        }
        if value > max {
            return Err(invalid_config(format!(
                "the {name} must be at most {} s",
                max.as_secs()
            )));
        }
    }
    if config.gd_latency > MAX_GD_LATENCY {
        return Err(invalid_config(format!(
            "the GD latency must be at most {} s",
            MAX_GD_LATENCY.as_secs()
        )));
    }
    Ok(())
}

struct Running {
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

/// A running server: HTTP on its own thread and tokio runtime, the bot on another.
/// Stops on [`ServerHandle::shutdown`] or when dropped.
pub struct ServerHandle {
    addr: SocketAddr,
    gd_url: String,
    app: Arc<App>,
    emulator: Option<Arc<Emulator>>,
    running: Option<Running>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("gd_url", &self.gd_url)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Starts a server and returns once it accepts connections. Opens (and migrates)
    /// the store first: a database that cannot be used stops the start with its reason.
    pub fn start(config: Config) -> io::Result<ServerHandle> {
        config.validate()?;
        serve::raise_fd_limit();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dashauth-http")
            .enable_all()
            .build()?;
        let location = Location::of(config.database_url.as_deref(), config.data_dir.as_deref());
        let store = runtime
            .block_on(Store::open(&location))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let ca = runtime.block_on(CertAuthority::load_or_create(
            &store,
            config.data_dir.as_deref(),
        ))?;
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let gd_url = match &config.gd_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{addr}/database"),
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        // The issuer of access tokens: the operator's public URL, else where we listen.
        let public_url = config.public_url.as_deref().map_or_else(
            || format!("http://{addr}"),
            |u| u.trim_end_matches('/').to_string(),
        );
        let config = Config {
            public_url: Some(public_url),
            ..config
        };
        let app = Arc::new(App::new(
            config,
            store,
            ca,
            shutdown_rx,
            runtime.handle().clone(),
        ));
        let emulator = embedded_emulator(&app);
        let router = routes::router(app.clone(), emulator.clone().map(Emulator::router));
        let http = spawn_http(runtime, listener, router, app.clone())?;
        let mut handle = ServerHandle {
            addr,
            gd_url,
            app,
            emulator,
            running: Some(Running {
                shutdown,
                threads: vec![http],
            }),
        };
        handle.spawn_bots()?;
        log_event!(
            "listening on http://{addr}; bot account(s) {:?} read {}; state in {}",
            handle.app.bots.account_ids(),
            handle.gd_description(),
            handle.app.store.backend_name()
        );
        Ok(handle)
    }

    fn gd_description(&self) -> &str {
        match self.emulator {
            Some(_) => "the embedded GD emulator",
            None => &self.gd_url,
        }
    }

    /// One poller thread per bot account.
    fn spawn_bots(&mut self) -> io::Result<()> {
        let http = crate::http::Http::new(self.app.config.gd_timeout);
        for bot in self.app.config.bot_accounts() {
            let gd = crate::gd_client::GdClient::new(http.clone(), &self.gd_url);
            let poller = Poller::new(self.app.clone(), gd, bot.account_id, bot.gjp2);
            let thread = poller.spawn()?;
            if let Some(running) = &mut self.running {
                running.threads.push(thread);
            }
        }
        Ok(())
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL of the DashAuth routes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The GD database URL the bot uses; `http://ADDR/database` with the emulator.
    pub fn gd_url(&self) -> String {
        self.gd_url.clone()
    }

    /// The (first) bot's GD account: verification messages go to it.
    pub fn bot_account_id(&self) -> u32 {
        self.app.config.bot_account_id
    }

    /// Every bot account, in configuration order.
    pub fn bot_account_ids(&self) -> Vec<u32> {
        self.app.bots.account_ids()
    }

    /// What `GET /status` shows of each bot.
    /// Empty when the store cannot be read.
    pub fn bot_status(&self) -> Vec<BotStatus> {
        let status = self.app.bots.status(&self.app.store, self.app.now_ms());
        self.app.runtime.block_on(status).unwrap_or_default()
    }

    /// The CA certificate (PEM) that signs device certificates.
    pub fn ca_certificate_pem(&self) -> String {
        self.app.ca.certificate_pem().to_string()
    }

    /// Requests the embedded emulator has received, faulted or not; 0 with real GD.
    pub fn emulator_request_count(&self) -> u64 {
        self.metrics().emulator_total()
    }

    /// The server's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.app.metrics.snapshot()
    }

    /// Changes the share of emulator requests that fail; no effect with real GD.
    pub fn set_gd_fault_rate(&self, rate: f64) {
        if let Some(emulator) = &self.emulator {
            emulator.set_fault_rate(rate);
        }
    }

    /// Changes which failures the emulator injects (the defaults when empty); no effect
    /// with real GD.
    pub fn set_gd_fault_kinds(&self, kinds: &[GdFault]) {
        if let Some(emulator) = &self.emulator {
            emulator.set_fault_kinds(kinds);
        }
    }

    /// Changes the delay the emulator adds to every request; no effect with real GD.
    pub fn set_gd_latency(&self, latency: Duration) {
        if let Some(emulator) = &self.emulator {
            emulator.set_latency(latency);
        }
    }

    /// Stops the listener and the bot and waits for their threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        // The bot runs its store calls on the HTTP side's runtime: it stops first, and
        // the runtime after it.
        self.app.bots.shutdown();
        let mut threads = running.threads;
        let http = (!threads.is_empty()).then(|| threads.remove(0));
        let join = |thread: JoinHandle<()>| {
            if thread.join().is_err() {
                log_event!("a server thread panicked");
            }
        };
        threads.into_iter().for_each(join);
        running.shutdown.send_replace(true);
        http.into_iter().for_each(join);
        log_event!("server on {} stopped", self.addr);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The emulator, when no GD URL is configured; it starts with the bots' accounts.
fn embedded_emulator(app: &App) -> Option<Arc<Emulator>> {
    let config = &app.config;
    config.gd_url.is_none().then(|| {
        let settings = EmulatorSettings {
            bots: config
                .bot_accounts()
                .into_iter()
                .map(|b| (b.account_id, b.gjp2))
                .collect(),
            fault_rate: config.gd_fault_rate,
            fault_kinds: config.gd_fault_kinds.clone(),
            latency: config.gd_latency,
            limits: config.limits,
            outbox_limit: config.emulator_outbox_limit,
        };
        Arc::new(Emulator::new(&settings, app.metrics.clone()))
    })
}

// Tests keep handles in statics and move them across threads.
const _: () = {
    fn assert_send_sync<T: Send + Sync>() {}
    let _ = assert_send_sync::<ServerHandle>;
};

/// Runs the HTTP side on a new thread with the server's runtime; returns once it
/// listens.
fn spawn_http(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    router: axum::Router,
    app: Arc<App>,
) -> io::Result<JoinHandle<()>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("dashauth-server".into())
        .spawn(move || {
            runtime.block_on(serve(listener, router, app, ready_tx));
            // Whatever still runs (a request past the grace period) is cancelled.
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the server thread ended before listening")),
    }
}

async fn serve(
    listener: std::net::TcpListener,
    router: axum::Router,
    app: Arc<App>,
    ready: std::sync::mpsc::Sender<io::Result<()>>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let limits = ConnectionLimits {
        header_read_timeout: app.config.header_read_timeout,
        idle_timeout: app.config.idle_timeout,
        per_address: app.config.max_connections_per_address,
    };
    let sweeper = tokio::spawn(sweep_periodically(app.clone()));
    let events = tokio::spawn(events::listen(app.clone()));
    let _ = ready.send(Ok(()));
    serve::serve(listener, router, app, limits).await;
    sweeper.abort();
    events.abort();
}

async fn sweep_periodically(app: Arc<App>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticks.tick().await;
        match app.store.sweep(app.now_ms()).await {
            Ok(swept) if swept.unvalidated_challenges > 0 => {
                app.metrics.challenges_expired(swept.unvalidated_challenges);
                log_event!(
                    "{} challenge(s) expired unvalidated",
                    swept.unvalidated_challenges
                );
            }
            Ok(_) => {}
            Err(e) => log_event!("sweep: {e}"),
        }
        app.limiter.sweep();
    }
}

/// Runs a server until SIGINT or SIGTERM: prints `listening on http://ADDR` on stdout
/// once it accepts connections, then stops cleanly.
pub fn run(config: Config) -> io::Result<()> {
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered before the server starts, so a signal right after the "listening"
    // line still stops it cleanly.
    let mut stop = signals.block_on(async { StopSignals::register() })?;
    let server = ServerHandle::start(config)?;
    println!("listening on http://{}", server.addr());
    let name = signals.block_on(stop.recv());
    log_event!("{name} received, shutting down");
    server.shutdown();
    Ok(())
}

#[cfg(unix)]
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    fn register() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn register() -> io::Result<Self> {
        Ok(StopSignals)
    }

    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
