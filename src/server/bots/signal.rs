//! How the HTTP side wakes a bot's poller thread: challenges added, clients waiting,
//! shutdown. Setting a flag takes a short lock, fine from async code; only the poller
//! thread ever waits on it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Flags {
    pub(super) challenge_added: bool,
    pub(super) hint: bool,
    pub(super) shutdown: bool,
    /// The bot sleeps with no fetch planned: only then does a new challenge need to
    /// wake it. A planned fetch serves every challenge issued before it, so waking the
    /// bot for each of thousands of challenges a second would only burn CPU.
    idle: bool,
}

/// How the HTTP side wakes the bot thread. Setting a flag takes a short lock, fine from
/// async code; only the bot thread ever waits on it.
#[derive(Debug, Default)]
pub struct BotSignal {
    flags: Mutex<Flags>,
    wake: Condvar,
    /// When the bot next reads its inbox (server clock, UNIX ms); 0 when nothing is
    /// planned. Published by the poller for clients waiting on a challenge.
    next_fetch_at_ms: AtomicI64,
}

impl BotSignal {
    fn flags(&self) -> MutexGuard<'_, Flags> {
        self.flags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raise(&self, set: impl FnOnce(&mut Flags)) {
        set(&mut self.flags());
        self.wake.notify_all();
    }

    /// A challenge was issued: the bot may have to leave its idle state. The flag is
    /// always set (the bot reads it before it sleeps, so no wake-up is lost) but the
    /// bot is woken only from its idle sleep.
    pub fn challenge_added(&self) {
        let mut flags = self.flags();
        flags.challenge_added = true;
        if std::mem::take(&mut flags.idle) {
            drop(flags);
            self.wake.notify_all();
        }
    }

    /// A client asked for a pending challenge: its message is probably there now.
    /// Waking the bot once is enough however many clients ask.
    pub fn hint(&self) {
        let mut flags = self.flags();
        if !std::mem::replace(&mut flags.hint, true) {
            drop(flags);
            self.wake.notify_all();
        }
    }

    /// The poller's plan: its next inbox fetch at `at_ms` (server clock), or none.
    pub(super) fn plan_fetch(&self, at_ms: Option<i64>) {
        self.next_fetch_at_ms
            .store(at_ms.unwrap_or(0), Ordering::Release);
    }

    /// When the bot next reads its inbox (server clock, UNIX ms), if it plans to.
    pub fn next_fetch_at_ms(&self) -> Option<i64> {
        Some(self.next_fetch_at_ms.load(Ordering::Acquire)).filter(|t| *t > 0)
    }

    /// Stops the bot after its current request.
    pub fn shutdown(&self) {
        self.raise(|f| f.shutdown = true);
    }

    /// Sleeps until a flag is raised or `until` passes (forever with `None`), then takes
    /// the flags. `idle`: no fetch is planned, so a new challenge must wake the poller.
    pub(super) fn wait(&self, until: Option<Instant>, idle: bool) -> Flags {
        let mut flags = self.flags();
        flags.idle = idle;
        loop {
            if flags.challenge_added || flags.hint || flags.shutdown {
                break;
            }
            let now = Instant::now();
            match until {
                Some(t) if t <= now => break,
                Some(t) => {
                    flags = self
                        .wake
                        .wait_timeout(flags, t - now)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
                None => {
                    flags = self
                        .wake
                        .wait(flags)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
        let shutdown = flags.shutdown;
        let taken = std::mem::take(&mut *flags);
        flags.shutdown = shutdown;
        taken
    }
}
