//! Per-client-IP and per-account rate limits (protocol.md section 5): token buckets that
//! refill continuously, so a client that keeps to the rate is never refused.
//!
//! A client is an IPv4 address or an IPv6 /64: one subscriber usually holds a whole /64,
//! so buckets per IPv6 address would be free to multiply.

use crate::protocol::AccountId;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `request_challenge` from one IP.
    ChallengeByIp(IpAddr),
    /// `request_challenge` for one account from one IP. Per account and address, not
    /// per account alone: otherwise anyone could use up a victim's bucket and lock the
    /// victim out of logging in.
    ChallengeByAccount(AccountId, IpAddr),
    /// `challenge_complete` from one IP.
    CompleteByIp(IpAddr),
    /// Failed nonce checks from one IP.
    NonceFailureByIp(IpAddr),
    /// Device handshakes, rotations and sessions from one IP: each signs a certificate
    /// or creates a record.
    DeviceByIp(IpAddr),
    /// `token/exchange` and `introspect` from one IP: cheap, and a mod's backend may
    /// introspect for many players, so ten times the base budget.
    TokensByIp(IpAddr),
}

impl Limit {
    /// The same limit with its address reduced to the client it stands for.
    fn by_client(self) -> Limit {
        match self {
            Limit::ChallengeByIp(ip) => Limit::ChallengeByIp(client_of(ip)),
            Limit::ChallengeByAccount(account, ip) => {
                Limit::ChallengeByAccount(account, client_of(ip))
            }
            Limit::CompleteByIp(ip) => Limit::CompleteByIp(client_of(ip)),
            Limit::NonceFailureByIp(ip) => Limit::NonceFailureByIp(client_of(ip)),
            Limit::DeviceByIp(ip) => Limit::DeviceByIp(client_of(ip)),
            Limit::TokensByIp(ip) => Limit::TokensByIp(client_of(ip)),
        }
    }
}

/// The client an address stands for: an IPv4 address (also when written as an
/// IPv4-mapped IPv6 address, as dual-stack sockets report it), or an IPv6 /64.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The limiter; `per_minute == 0` turns every limit off.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<Limit, Bucket>>,
}

impl RateLimiter {
    /// Limits based on `per_minute` requests per IP per minute.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any limit is on.
    pub fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// Requests per minute allowed for a limit. Accounts get a third of the IP rate
    /// (30/10 by default, as protocol.md suggests); `challenge_complete` twice, since
    /// clients poll it.
    fn capacity(&self, limit: &Limit) -> f64 {
        let n = self.per_minute;
        f64::from(match limit {
            Limit::ChallengeByIp(_) | Limit::NonceFailureByIp(_) | Limit::DeviceByIp(_) => n,
            Limit::ChallengeByAccount(..) => (n / 3).max(1),
            Limit::CompleteByIp(_) => n.saturating_mul(2),
            Limit::TokensByIp(_) => n.saturating_mul(10),
        })
    }

    /// Takes one request from the bucket; `Err(retry_after_s)` when it is empty.
    pub fn take(&self, limit: Limit) -> Result<(), u64> {
        self.apply(limit, 1.0)
    }

    /// Like [`Self::take`] without using anything: is the limit already reached?
    pub fn check(&self, limit: Limit) -> Result<(), u64> {
        self.apply(limit, 0.0)
    }

    fn apply(&self, limit: Limit, cost: f64) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let limit = limit.by_client();
        let capacity = self.capacity(&limit);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(limit).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= cost;
            return Ok(());
        }
        let wait_s = (1.0 - bucket.tokens) / per_second;
        Err((wait_s.ceil() as u64).max(1))
    }

    /// Forgets buckets that have refilled completely: they behave like absent ones.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.retain(|_, b| now.duration_since(b.updated) < Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn bucket_empties_then_asks_to_wait() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert_eq!(limiter.take(Limit::ChallengeByIp(IP)), Ok(()));
        }
        let wait = limiter.take(Limit::ChallengeByIp(IP));
        assert!(matches!(wait, Err(1..=20)), "{wait:?}");
        assert_eq!(limiter.take(Limit::CompleteByIp(IP)), Ok(()));
    }

    #[test]
    fn check_does_not_consume() {
        let limiter = RateLimiter::new(1);
        for _ in 0..5 {
            assert_eq!(limiter.check(Limit::NonceFailureByIp(IP)), Ok(()));
        }
    }

    #[test]
    fn ipv6_clients_are_their_64_and_mapped_ipv4_is_ipv4() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("192.0.2.7")), ip("192.0.2.7"));
        let limiter = RateLimiter::new(1);
        assert_eq!(limiter.take(Limit::CompleteByIp(ip("2001:db8::1"))), Ok(()));
        assert_eq!(limiter.take(Limit::CompleteByIp(ip("2001:db8::2"))), Ok(()));
        assert!(
            limiter
                .take(Limit::CompleteByIp(ip("2001:db8::3")))
                .is_err()
        );
        assert_eq!(
            limiter.take(Limit::CompleteByIp(ip("2001:db8:0:1::1"))),
            Ok(())
        );
    }

    #[test]
    fn zero_turns_limits_off() {
        let limiter = RateLimiter::new(0);
        for _ in 0..1000 {
            assert_eq!(limiter.take(Limit::ChallengeByIp(IP)), Ok(()));
        }
    }
}
