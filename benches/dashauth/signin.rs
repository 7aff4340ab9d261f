//! The one-call sign-in (`dashauth_auth_start`) through the C API: the first one of a
//! device verifies by GD message and enrols a key; every later one is a single request
//! signed with the stored device. Timed start → OK, polled like a frame loop.

use crate::capi::{Client, Login, Poll};
use crate::login::new_account;
use crate::server::Server;
use std::time::{Duration, Instant};

/// How often the "frame loop" polls: finer than a frame, so polling adds little to a
/// sign-in that takes about a millisecond.
const POLL: Duration = Duration::from_micros(100);

/// Timings of both kinds of sign-in, and failures.
pub struct SignIns {
    /// Through GD: challenge, message, the bot, enrolment.
    pub first: Vec<Duration>,
    /// With the stored device.
    pub stored: Vec<Duration>,
    pub failures: Vec<String>,
}

fn sign_in(client: &Client, account: u32) -> Result<Duration, String> {
    let started = Instant::now();
    let mut login = Login::authenticate(client, account, "bench.signin");
    loop {
        match login.poll() {
            Poll::Pending => std::thread::sleep(POLL),
            Poll::Done(_) => return Ok(started.elapsed()),
            Poll::Failed(message) => return Err(message),
        }
    }
}

/// `accounts` first sign-ins, then `repeats` stored-device sign-ins of each, one at a
/// time, with a credential store file in a fresh directory.
pub fn run(server: &Server, accounts: usize, repeats: usize) -> SignIns {
    let dir = std::env::temp_dir().join(format!("dashauth-bench-signin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let client = Client::new(&server.base_url(), &server.gd_url());
    client.set_credential_store(&dir.join("credentials.json"));
    let mut out = SignIns {
        first: Vec::new(),
        stored: Vec::new(),
        failures: Vec::new(),
    };
    let ids: Vec<u32> = (0..accounts).map(|_| new_account()).collect();
    for &account in &ids {
        match sign_in(&client, account) {
            Ok(d) => out.first.push(d),
            Err(e) => out.failures.push(e),
        }
    }
    for _ in 0..repeats {
        for &account in &ids {
            match sign_in(&client, account) {
                Ok(d) => out.stored.push(d),
                Err(e) => out.failures.push(e),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}
