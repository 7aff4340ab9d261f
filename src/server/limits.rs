//! Caps on what callers can make the server keep in memory (docs/PROTOCOL.md section 6).
//! Every record a request creates counts against one of them, so no caller, anonymous or
//! authenticated, can grow the server's memory without bound.

/// Caps on stored records. The defaults suit a public server; tests lower them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Pending challenges per account. A new one evicts the account's oldest pending
    /// challenge, so a stranger flooding an account cannot lock its owner out.
    pub pending_challenges_per_account: usize,
    /// Challenges held in all; beyond it `request_challenge` answers 503 + Retry-After.
    pub challenges: usize,
    /// Active (unrevoked, unexpired) devices per account; beyond it the handshake
    /// answers 429 until the owner revokes one.
    pub devices_per_account: usize,
    /// Live session tokens per device; a new one evicts the device's oldest.
    pub sessions_per_device: usize,
    /// Emulator: messages kept per account in each box; a new one drops the oldest.
    pub emulator_messages_per_account: usize,
    /// Emulator: accounts in all; a request that would create one more answers `-1`.
    pub emulator_accounts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pending_challenges_per_account: 8,
            challenges: 100_000,
            devices_per_account: 32,
            sessions_per_device: 16,
            emulator_messages_per_account: 1000,
            emulator_accounts: 100_000,
        }
    }
}

impl Limits {
    /// The first cap that is zero, by name: a zero cap would refuse everything.
    pub fn zero_cap(&self) -> Option<&'static str> {
        [
            (
                "pending challenges per account",
                self.pending_challenges_per_account,
            ),
            ("challenges", self.challenges),
            ("devices per account", self.devices_per_account),
            ("sessions per device", self.sessions_per_device),
            (
                "emulator messages per account",
                self.emulator_messages_per_account,
            ),
            ("emulator accounts", self.emulator_accounts),
        ]
        .into_iter()
        .find(|(_, n)| *n == 0)
        .map(|(name, _)| name)
    }
}
