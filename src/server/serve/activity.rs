//! When a connection last did something, and whether a request is in flight: what the
//! idle keep-alive timeout needs. A long poll in flight is not idle, however quiet.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// When the last request started or ended (or the connection was accepted).
    last: Instant,
}

/// Per-connection activity, shared by the service (which marks requests) and the
/// connection task (which waits for idleness).
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
}

impl Activity {
    /// A connection accepted now, with nothing in flight.
    pub fn new() -> Self {
        Activity {
            state: Mutex::new(State {
                in_flight: 0,
                last: Instant::now(),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // Every update is a counter step and an assignment: a poisoned lock is usable.
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Marks a request as started; it ends when the returned guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.with(|s| {
            s.in_flight += 1;
            s.last = Instant::now();
        });
        InFlight {
            activity: self.clone(),
        }
    }

    /// Resolves once the connection has had no request in flight for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let (in_flight, last) = self.with(|s| (s.in_flight, s.last));
            let deadline = last + timeout;
            if in_flight == 0 && Instant::now() >= deadline {
                return;
            }
            // While a request runs, look again after one more timeout: its end resets
            // `last`, so the connection then gets a whole timeout of its own.
            let wake = if in_flight == 0 {
                deadline
            } else {
                Instant::now() + timeout
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// Marks a request in flight until dropped.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last = Instant::now();
        });
    }
}
