//! The per-address connection cap: how many connections each client address holds, an
//! IPv6 /64 counting as one address as in the rate limits.

use super::super::rate_limit::client_of;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connection counts by address.
#[derive(Debug, Clone)]
pub struct Slots {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    per_address: usize,
}

/// One connection's share; dropping it frees the share.
#[derive(Debug)]
pub struct Slot {
    slots: Slots,
    client: IpAddr,
}

impl Slots {
    /// At most `per_address` connections per address; 0 = no cap.
    pub fn new(per_address: usize) -> Self {
        Slots {
            counts: Arc::default(),
            per_address,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<IpAddr, usize>) -> T) -> T {
        // Each update is one counter step: a poisoned lock is still consistent.
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A share for a connection from `ip`, or `None` when its address holds its cap.
    pub fn take(&self, ip: IpAddr) -> Option<Slot> {
        let client = client_of(ip);
        let per_address = self.per_address;
        let taken = self.with(|counts| {
            let count = counts.entry(client).or_insert(0);
            if per_address != 0 && *count >= per_address {
                return false;
            }
            *count += 1;
            true
        });
        taken.then(|| Slot {
            slots: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.with(|counts| {
            if let Some(count) = counts.get_mut(&self.client) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    // Without this the map would keep one entry per address ever seen.
                    counts.remove(&self.client);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_gets_shares_back_when_they_drop() {
        let slots = Slots::new(2);
        let a = [slots.take(ip("10.0.0.1")), slots.take(ip("10.0.0.1"))];
        assert!(a.iter().all(Option::is_some));
        assert!(slots.take(ip("10.0.0.1")).is_none());
        assert!(
            slots.take(ip("10.0.0.2")).is_some(),
            "other addresses are not affected"
        );
        drop(a);
        assert!(slots.take(ip("10.0.0.1")).is_some());
        assert_eq!(slots.with(|c| c.len()), 0, "freed addresses leave no entry");
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address() {
        let slots = Slots::new(1);
        let _held = slots.take(ip("2001:db8::1"));
        assert!(slots.take(ip("2001:db8::2")).is_none());
        assert!(slots.take(ip("2001:db8:0:1::1")).is_some());
    }

    #[test]
    fn zero_means_no_cap() {
        let slots = Slots::new(0);
        let held: Vec<_> = (0..1000).map(|_| slots.take(ip("10.0.0.1"))).collect();
        assert!(held.iter().all(Option::is_some));
    }
}
