//! Soak: logins, device sign-ins (handshake, session, me) and token checks against one
//! release `dashauth-server` for a bounded time, recording the server's resident memory,
//! open descriptors and request latency over time (issue 12). Not a test: run it with
//! `./bench/soak.sh` (`DASHAUTH_SOAK_SECONDS`, default 180); BENCHMARKS.md has a result.
//!
//! Players come from a pool of [`ACCOUNTS`] accounts and each cycle revokes the login
//! token it got, so a server without leaks holds the same data at every sample: growth
//! after warm-up is a leak, not data. Each player registers its device once (handshake
//! with its first login token) and signs in with it every cycle (session and `me`, each
//! with a fresh nonce). `DASHAUTH_SOAK_HANDSHAKES=1` makes every cycle register a new
//! device and revoke it instead; the in-memory store keeps revoked devices, so that
//! mode measures their cost rather than a flat line.

#[path = "../dashauth/server.rs"]
#[allow(dead_code)] // the soak uses part of the bench's server helper
mod server;

use dashauth::client::{Client, Gjp2};
use dashauth::device::Device;
use dashauth::keys::DeviceKey;
use dashauth::login::{Login, Progress};
use dashauth::protocol::AccountId;
use server::Server;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent players.
const WORKERS: usize = 8;
/// Accounts the players log in as, in turn.
const ACCOUNTS: u32 = 64;
/// Token checks per cycle.
const WHOAMI_PER_CYCLE: usize = 5;
/// Seconds between two samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples before this are warm-up: caches, pools and allocator arenas fill.
const WARM_UP: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Window {
    login: Vec<Duration>,
    device: Vec<Duration>,
    whoami: Vec<Duration>,
    errors: u64,
}

struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
    cycles: usize,
    login_p50: Duration,
    login_p99: Duration,
    device_p50: Duration,
    whoami_p50: Duration,
    whoami_p99: Duration,
    errors: u64,
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[i]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn login(client: &Client, account: u32) -> Result<dashauth::client::Token, String> {
    let id = AccountId::new(account).map_err(|e| e.to_string())?;
    let gjp2 = Gjp2::parse(&format!("{account:040x}")).map_err(|e| e.to_string())?;
    let login = Login::start(client.clone(), id, gjp2).map_err(|e| e.to_string())?;
    loop {
        match login.poll() {
            Progress::Running(_) => std::thread::sleep(Duration::from_millis(5)),
            Progress::Done(token) => return Ok(token),
            Progress::Failed(e) => return Err(e.to_string()),
        }
    }
}

/// Enrols `key` for `account` by GD proof, as a mod does: a challenge, the GD message,
/// then the handshake (which long-polls until the bot has seen the message).
fn enrol(client: &Client, account: u32, key: &DeviceKey) -> Result<Device, String> {
    let id = AccountId::new(account).map_err(|e| e.to_string())?;
    let gjp2 = Gjp2::parse(&format!("{account:040x}")).map_err(|e| e.to_string())?;
    let challenge = client.request_challenge(id).map_err(|e| e.to_string())?;
    client
        .send_gd_message(&challenge, id, &gjp2)
        .map_err(|e| e.to_string())?;
    for _ in 0..20 {
        let enrolled = Device::enroll(client, &challenge.id, key, "soak", "linux");
        if let Some(device) = enrolled.map_err(|e| e.to_string())? {
            return Ok(device);
        }
    }
    Err("the bot never saw the enrolment message".into())
}

/// One player's cycle: login, device sign-in, token checks, then revoke the token (and,
/// with `handshakes`, register a new device first and revoke it after).
fn cycle(
    client: &Client,
    key: &DeviceKey,
    account: u32,
    device: &mut Option<Device>,
    handshakes: bool,
    window: &Mutex<Window>,
) {
    let record = |f: fn(&mut Window) -> &mut Vec<Duration>, d: Duration| {
        f(&mut window.lock().unwrap_or_else(|e| e.into_inner())).push(d)
    };
    let error = |what: &str, e: String| {
        eprintln!("soak: {what}: {e}");
        window.lock().unwrap_or_else(|e| e.into_inner()).errors += 1;
    };
    let started = Instant::now();
    let token = match login(client, account) {
        Ok(token) => token,
        Err(e) => return error("login", e),
    };
    record(|w| &mut w.login, started.elapsed());
    let started = Instant::now();
    if device.is_none() || handshakes {
        match enrol(client, account, key) {
            Ok(enrolled) => *device = Some(enrolled),
            Err(e) => return error("device enrolment", e),
        }
    }
    if let Some(signed_in) = device.as_ref() {
        match signed_in.session(client).and_then(|_| signed_in.me(client)) {
            Ok(_) => record(|w| &mut w.device, started.elapsed()),
            Err(e) => error("device sign-in", e.to_string()),
        }
    }
    for _ in 0..WHOAMI_PER_CYCLE {
        let started = Instant::now();
        match client.whoami(&token) {
            Ok(_) => record(|w| &mut w.whoami, started.elapsed()),
            Err(e) => error("whoami", e.to_string()),
        }
    }
    if handshakes
        && let Some(old) = device.take()
        && let Err(e) = client.revoke_device(&token, &old.id())
    {
        error("device revoke", e.to_string());
    }
    if let Err(e) = client.revoke_token(&token) {
        error("token revoke", e.to_string());
    }
}

fn main() {
    let seconds: u64 = std::env::var("DASHAUTH_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let handshakes = std::env::var("DASHAUTH_SOAK_HANDSHAKES").is_ok_and(|v| v == "1");
    let server = Server::start("soak");
    let pid = server.pid();
    let client = Client::new(&server.base_url())
        .and_then(|c| c.with_gd_url(&server.gd_url()))
        .expect("client");
    eprintln!("soak: {WORKERS} players for {seconds} s against pid {pid} …");
    let keys: Vec<DeviceKey> = (0..WORKERS)
        .map(|_| DeviceKey::generate().expect("key"))
        .collect();
    let window = Arc::new(Mutex::new(Window::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next_account = Arc::new(AtomicU32::new(0));
    let cycles = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let samples = std::thread::scope(|scope| {
        for key in &keys {
            let (client, window, stop) = (&client, &window, &stop);
            let (next_account, cycles) = (&next_account, &cycles);
            scope.spawn(move || {
                // The device stays with the account of the first login; sign-ins by
                // nonce do not depend on which account logs in later.
                let mut device = None;
                while !stop.load(Ordering::Relaxed) {
                    let turn = next_account.fetch_add(1, Ordering::Relaxed);
                    let account = 500_000 + turn % ACCOUNTS;
                    cycle(client, key, account, &mut device, handshakes, window);
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut samples = Vec::new();
        let end = started + Duration::from_secs(seconds);
        while Instant::now() < end {
            std::thread::sleep(SAMPLE_EVERY.min(end.saturating_duration_since(Instant::now())));
            let mut w = std::mem::take(&mut *window.lock().unwrap_or_else(|e| e.into_inner()));
            let sample = Sample {
                at: started.elapsed(),
                rss_kib: rss_kib(pid),
                fds: fd_count(pid),
                cycles: cycles.swap(0, Ordering::Relaxed) as usize,
                login_p50: percentile(&mut w.login, 0.5),
                login_p99: percentile(&mut w.login, 0.99),
                device_p50: percentile(&mut w.device, 0.5),
                whoami_p50: percentile(&mut w.whoami, 0.5),
                whoami_p99: percentile(&mut w.whoami, 0.99),
                errors: w.errors,
            };
            eprintln!(
                "soak: {:>4} s  RSS {:>7} KiB  fds {:>4}  cycles {:>4}  errors {}",
                sample.at.as_secs(),
                sample.rss_kib,
                sample.fds,
                sample.cycles,
                sample.errors
            );
            samples.push(sample);
        }
        stop.store(true, Ordering::Relaxed);
        samples
    });
    report(&samples);
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn report(samples: &[Sample]) {
    println!(
        "| t (s) | server RSS (KiB) | open fds | cycles | login p50 / p99 (ms) | device sign-in p50 (ms) | whoami p50 / p99 (ms) | errors |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in samples {
        println!(
            "| {} | {} | {} | {} | {} / {} | {} | {} / {} | {} |",
            s.at.as_secs(),
            s.rss_kib,
            s.fds,
            s.cycles,
            ms(s.login_p50),
            ms(s.login_p99),
            ms(s.device_p50),
            ms(s.whoami_p50),
            ms(s.whoami_p99),
            s.errors
        );
    }
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.at >= WARM_UP).collect();
    let (Some(first), Some(last)) = (warm.first(), warm.last()) else {
        println!(
            "\n(too short for a verdict: run past the {} s warm-up)",
            WARM_UP.as_secs()
        );
        return;
    };
    let max_rss = warm.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let max_fds = warm.iter().map(|s| s.fds).max().unwrap_or(0);
    let cycles: usize = samples.iter().map(|s| s.cycles).sum();
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    println!(
        "\nafter warm-up ({} s → {} s): RSS {} → {} KiB (max {}), fds {} → {} (max {}); {cycles} cycles, {errors} errors",
        first.at.as_secs(),
        last.at.as_secs(),
        first.rss_kib,
        last.rss_kib,
        max_rss,
        first.fds,
        last.fds,
        max_fds
    );
}
