//! The state every handler and the bot share: configuration, store, CA, limits, metrics
//! and the signals between the HTTP side and the bot thread.

use super::Config;
use super::bots::BotPool;
use super::certs::CertAuthority;
use super::events::{self, Event};
use super::latency::RouteLatency;
use super::log::log_sampled;
use super::metrics::Metrics;
use super::rate_limit::{Limit, RateLimiter};
use super::reply::ApiError;
use super::store::Store;
use super::tokens::keyring::Keyring;
use crate::clock;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;

/// Shared server state.
pub struct App {
    /// The configuration the server started with.
    pub config: Config,
    /// Challenges, tokens, devices, nonces, the CA: everything that must survive a
    /// restart.
    pub store: Store,
    /// This process among the instances sharing the store (bot leases name it).
    pub instance_id: String,
    /// Runs store calls from the bot's thread.
    pub runtime: tokio::runtime::Handle,
    /// Signs device certificates.
    pub ca: CertAuthority,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Request latency by route.
    pub latency: Arc<RouteLatency>,
    /// Per-IP and per-account limits.
    pub limiter: RateLimiter,
    /// The bot accounts: assignment, health, and how to wake their pollers.
    pub bots: BotPool,
    /// The access-token signing keys, as last read from the store.
    pub keyring: Keyring,
    /// Bumped by the bot whenever it validates challenges; long polls wait on it.
    validated: watch::Sender<u64>,
    /// Becomes true when the server stops; long polls give up on it.
    shutdown: watch::Receiver<bool>,
}

impl App {
    /// Assembles the state; `shutdown` turns true when the server stops.
    pub fn new(
        config: Config,
        store: Store,
        ca: CertAuthority,
        shutdown: watch::Receiver<bool>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let bot_ids: Vec<u32> = config.bot_accounts().iter().map(|b| b.account_id).collect();
        let metrics = Arc::new(Metrics::default());
        for id in &bot_ids {
            metrics.register_bot(*id);
        }
        App {
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            bots: BotPool::new(&bot_ids),
            config,
            store,
            instance_id: super::tokens::new_uuid().to_string(),
            runtime,
            ca,
            metrics,
            latency: Arc::new(RouteLatency::default()),
            keyring: Keyring::default(),
            validated: watch::Sender::new(0),
            shutdown,
        }
    }

    /// The server's clock, UNIX ms, including the configured test offset.
    pub fn now_ms(&self) -> i64 {
        clock::now_ms().saturating_add(self.config.clock_offset_ms)
    }

    /// The `iss` of access tokens: the configured public URL (set at start).
    pub fn issuer(&self) -> &str {
        self.config.public_url.as_deref().unwrap_or_default()
    }

    /// Wakes every long poll to look at its challenge again.
    pub fn announce_validated(&self) {
        self.validated.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Asks the bot (of whichever instance polls it) to read its inbox soon.
    pub async fn hint_bot(&self) {
        events::publish(self, Event::Hint).await;
    }

    /// A receiver that sees the next [`Self::announce_validated`].
    pub fn watch_validated(&self) -> watch::Receiver<u64> {
        self.validated.subscribe()
    }

    /// A receiver that turns true when the server stops.
    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// The client's IP: the peer, or behind a trusted proxy the last `X-Forwarded-For`
    /// entry (the one the proxy added; earlier entries are whatever the client sent).
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if !self.config.trust_forwarded_for {
            return peer.ip();
        }
        // Only the last entry: if it does not parse, an earlier one is no more trustworthy.
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(parse_forwarded_ip)
            .unwrap_or(peer.ip())
    }

    /// Counts one request against `limit`; 429 when it is used up.
    pub fn rate_limit(&self, limit: Limit) -> Result<(), ApiError> {
        self.limiter.take(limit).map_err(|s| self.refuse(limit, s))
    }

    /// Like [`Self::rate_limit`] without counting the request.
    pub fn rate_limit_reached(&self, limit: Limit) -> Result<(), ApiError> {
        self.limiter.check(limit).map_err(|s| self.refuse(limit, s))
    }

    fn refuse(&self, limit: Limit, retry_after_s: u64) -> ApiError {
        self.metrics.rate_limited();
        log_sampled!(
            RateLimited,
            "rate limited: {limit:?}, retry after {retry_after_s} s"
        );
        ApiError::RateLimited(retry_after_s)
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .or_else(|_| {
            let bracketed = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']'));
            bracketed.unwrap_or(entry).parse::<IpAddr>()
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_forwarded_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn forwarded_entries_may_carry_a_port() {
        assert_eq!(parse_forwarded_ip(" 1.2.3.4 "), ip("1.2.3.4"));
        assert_eq!(parse_forwarded_ip("1.2.3.4:5678"), ip("1.2.3.4"));
        assert_eq!(parse_forwarded_ip("2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(parse_forwarded_ip("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(parse_forwarded_ip("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(parse_forwarded_ip("unknown"), None);
        assert_eq!(parse_forwarded_ip("1.2.3.4:port"), None);
    }
}
