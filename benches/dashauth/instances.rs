//! Two server instances on one PostgreSQL database: how long after a validation seen by
//! one instance a long poll waiting on the other completes.
//!
//! Each trial requests one challenge on each instance, sends both GD messages before
//! the bot's next pass (so one pass validates both), then long-polls both at once. The
//! instance whose bot holds the lease wakes its own poll directly; the other learns of
//! it through `LISTEN/NOTIFY`. The difference between the two completions is the
//! cross-instance delay.

use crate::server::Server;
use dashauth::gd_client::GdClient;
use dashauth::http::{Http, Method};
use std::time::{Duration, Instant};

/// The measured delays, and how many trials were attempted.
pub struct Delays {
    pub delays: Vec<Duration>,
    pub attempts: usize,
}

fn challenge(http: &Http, server: &Server, account: u32) -> (String, String) {
    let url = format!("{}/request_challenge/{account}", server.base_url());
    let reply = http
        .send(Method::Get, &url, None, None)
        .expect("request_challenge");
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    let field = |k: &str| json["data"][k].as_str().unwrap_or_default().to_string();
    (field("id"), field("challenge"))
}

/// When a long poll on `base` for `id` returned a token, if it did.
fn completed_at(base: &str, id: &str) -> Option<Instant> {
    let http = Http::new(Duration::from_secs(15));
    let url = format!("{base}/challenge_complete/{id}?wait_ms=8000");
    let reply = http.send(Method::Get, &url, None, None).ok()?;
    (reply.status == 200).then(Instant::now)
}

/// Runs `trials` trials between `a` (which hosts the emulator) and `b`.
pub fn completion_delays(a: &Server, b: &Server, trials: usize) -> Delays {
    let http = Http::new(Duration::from_secs(15));
    let gd = GdClient::new(http.clone(), &a.gd_url());
    let bot = dashauth::server::EMULATOR_BOT_ACCOUNT_ID;
    let mut delays = Vec::new();
    for trial in 0..trials {
        let accounts = [crate::login::new_account(), crate::login::new_account()];
        let on_a = challenge(&http, a, accounts[0]);
        let on_b = challenge(&http, b, accounts[1]);
        for (account, (_, code)) in accounts.iter().zip([&on_a, &on_b]) {
            gd.upload_message(
                *account,
                &format!("{account:040x}"),
                bot,
                &format!("auth-{code}"),
                "bench",
            )
            .expect("upload");
        }
        let (base_a, base_b) = (a.base_url(), b.base_url());
        let (id_a, id_b) = (on_a.0.clone(), on_b.0.clone());
        let poll_a = std::thread::spawn(move || completed_at(&base_a, &id_a));
        let poll_b = std::thread::spawn(move || completed_at(&base_b, &id_b));
        let (done_a, done_b) = (poll_a.join().ok().flatten(), poll_b.join().ok().flatten());
        match (done_a, done_b) {
            (Some(x), Some(y)) => delays.push(if x > y { x - y } else { y - x }),
            _ => eprintln!("trial {trial}: a long poll did not complete"),
        }
    }
    Delays {
        delays,
        attempts: trials,
    }
}
