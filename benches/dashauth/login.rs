//! End-to-end logins through the C API, driven like a game's frame loop: start up to
//! `concurrency` logins, poll every one of them each millisecond, time start → OK.

use crate::capi::{Client, Login, Poll};
use crate::server::Server;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How often the "frame loop" polls.
const FRAME: Duration = Duration::from_millis(1);

/// Account ids handed out so far: every login in a run uses a new GD account.
static NEXT_ACCOUNT: AtomicU32 = AtomicU32::new(100_000);

/// A fresh account id.
pub fn new_account() -> u32 {
    NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed)
}

/// The outcome of one batch of logins.
pub struct Batch {
    /// start → OK of each successful login.
    pub latencies: Vec<Duration>,
    /// Failure messages.
    pub failures: Vec<String>,
    /// First start to last completion.
    pub elapsed: Duration,
    /// A token, for the benchmarks that need one.
    pub token: Option<String>,
}

/// Runs `total` logins, at most `concurrency` at a time.
pub fn run(client: &Client, total: usize, concurrency: usize) -> Batch {
    let mut active: Vec<(Login, Instant)> = Vec::with_capacity(concurrency);
    let mut started = 0;
    let mut batch = Batch {
        latencies: Vec::with_capacity(total),
        failures: Vec::new(),
        elapsed: Duration::ZERO,
        token: None,
    };
    let first = Instant::now();
    loop {
        while active.len() < concurrency && started < total {
            active.push((Login::start(client, new_account()), Instant::now()));
            started += 1;
        }
        if active.is_empty() {
            break;
        }
        active.retain_mut(|(login, at)| match login.poll() {
            Poll::Pending => true,
            Poll::Done(token) => {
                batch.latencies.push(at.elapsed());
                batch.token = Some(token);
                false
            }
            Poll::Failed(message) => {
                batch.failures.push(message);
                false
            }
        });
        std::thread::sleep(FRAME);
    }
    batch.elapsed = first.elapsed();
    batch
}

/// What the bot spent on one batch of logins, read from `/metrics`.
pub struct BotCost {
    pub logins: usize,
    pub inbox_fetches: f64,
    pub elapsed: Duration,
}

impl BotCost {
    /// Inbox fetches per completed login.
    pub fn per_login(&self) -> f64 {
        self.inbox_fetches / self.logins.max(1) as f64
    }

    /// Inbox fetches per poll interval while the batch ran.
    pub fn per_interval(&self, interval: Duration) -> f64 {
        self.inbox_fetches / (self.elapsed.as_secs_f64() / interval.as_secs_f64())
    }

    /// The most fetches "one per interval" allows in the batch's time: fetches at least
    /// an interval apart fit `floor(elapsed / interval) + 1` times, so a short batch can
    /// show more than 1.0 per interval without breaking the rule.
    pub fn allowed(&self, interval: Duration) -> f64 {
        (self.elapsed.as_secs_f64() / interval.as_secs_f64()).floor() + 1.0
    }
}

/// `total` logins, `concurrency` at a time, counting the bot's inbox fetches.
pub fn bot_cost(server: &Server, client: &Client, total: usize, concurrency: usize) -> BotCost {
    let before = server.metrics();
    let batch = run(client, total, concurrency);
    let after = server.metrics();
    assert!(
        batch.failures.is_empty(),
        "logins failed: {:?}",
        batch.failures
    );
    BotCost {
        logins: batch.latencies.len(),
        inbox_fetches: after.inbox_fetches() - before.inbox_fetches(),
        elapsed: batch.elapsed,
    }
}

/// GD requests of any kind the bot makes in `period` with no login running.
pub fn idle_gd_requests(server: &Server, period: Duration) -> f64 {
    // Let the last batch's clean-up (message deletion) finish first.
    std::thread::sleep(Duration::from_secs(1));
    let before = server.metrics();
    std::thread::sleep(period);
    server.metrics().gd_requests() - before.gd_requests()
}
