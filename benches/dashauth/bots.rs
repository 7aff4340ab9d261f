//! What the bot costs GD and how much it carries, at real GD's settings (a 2 s poll
//! interval, 1 GD request per second per bot, 50-message pages) with the emulator as
//! the GD server: GD requests per login with one and two bot accounts, the logins per
//! second one bot account sustains, and logins while strangers flood the bot's inbox.

use crate::capi::Client;
use crate::login::{self, Batch};
use crate::server::Server;
use dashauth::gd_client::GdClient;
use dashauth::http::Http;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Real GD's defaults, as `Config::for_gd` sets them.
const REAL_GD: [&str; 4] = [
    "--poll-interval-ms",
    "2000",
    "--gd-requests-per-second",
    "1",
];
/// The second bot account of the two-bot runs, and its gjp2.
const SECOND_BOT: &str = "2100000001";
const SECOND_BOT_GJP2: (&str, &str) = (
    "DASHAUTH_BOT_GJP2_2100000001",
    "1111111111111111111111111111111111111111",
);

/// A server at real GD's settings with `bots` bot accounts (1 or 2).
fn real_gd_server(name: &str, bots: usize) -> Server {
    let mut args = REAL_GD.to_vec();
    let mut envs = Vec::new();
    if bots > 1 {
        args.extend(["--bot", SECOND_BOT]);
        envs.push(SECOND_BOT_GJP2);
    }
    Server::start_with(name, &args, &envs)
}

/// One batch and what the bots spent on it.
pub struct Cost {
    pub batch: Batch,
    pub gd_requests: f64,
    pub inbox_fetches: f64,
}

impl Cost {
    /// Bot GD requests (listings and deletes) per completed login.
    pub fn per_login(&self) -> f64 {
        self.gd_requests / self.batch.latencies.len().max(1) as f64
    }
}

/// `total` logins, all started at once, against a real-GD-like server with `bots` bots.
pub fn cost(bots: usize, total: usize) -> Cost {
    let server = real_gd_server(&format!("bots-{bots}"), bots);
    let client = Client::new(&server.base_url(), &server.gd_url());
    let before = server.metrics();
    let batch = login::run(&client, total, total);
    // The last pass deletes after it validates: let it finish before counting.
    std::thread::sleep(Duration::from_secs(3));
    let after = server.metrics();
    Cost {
        batch,
        gd_requests: after.gd_requests() - before.gd_requests(),
        inbox_fetches: after.inbox_fetches() - before.inbox_fetches(),
    }
}

/// Logins per second one bot account completes when `total` logins are offered,
/// `concurrency` at a time (far more than it can serve in one pass).
pub fn sustained(total: usize, concurrency: usize) -> Cost {
    let server = real_gd_server("bots-sustained", 1);
    let client = Client::new(&server.base_url(), &server.gd_url());
    let before = server.metrics();
    let batch = login::run(&client, total, concurrency);
    let after = server.metrics();
    Cost {
        batch,
        gd_requests: after.gd_requests() - before.gd_requests(),
        inbox_fetches: after.inbox_fetches() - before.inbox_fetches(),
    }
}

/// What a flood did to logins.
pub struct Flood {
    pub batch: Batch,
    pub rate: f64,
}

/// `logins` logins, `concurrency` at a time, while strangers send the bot `per_second`
/// messages a second, from `head_start` before the first login to after the last.
pub fn flood(per_second: f64, logins: usize, concurrency: usize, head_start: Duration) -> Flood {
    let server = real_gd_server("bots-flood", 1);
    let client = Client::new(&server.base_url(), &server.gd_url());
    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let started = Instant::now();
    let senders = 4;
    let gap = Duration::from_secs_f64(f64::from(senders) / per_second);
    let batch = std::thread::scope(|scope| {
        for n in 0..senders {
            let (server, stop, sent) = (&server, &stop, &sent);
            scope.spawn(move || {
                let account = 9_000_000 + n;
                let gjp2 = crate::capi::gjp2_of(account);
                let gd = GdClient::for_player(Http::new(Duration::from_secs(5)), &server.gd_url());
                let bot = dashauth::server::EMULATOR_BOT_ACCOUNT_ID;
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if gd.upload_message(account, &gjp2, bot, "flood", "x").is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    next += gap;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            });
        }
        std::thread::sleep(head_start);
        let batch = login::run(&client, logins, concurrency);
        stop.store(true, Ordering::Relaxed);
        batch
    });
    Flood {
        batch,
        rate: sent.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(),
    }
}
