//! DashAuth benchmarks: `./bench/run.sh` (which builds the mod library for the size
//! figures, then runs `cargo bench --bench dashauth`). Everything runs on loopback
//! against a `dashauth-server` process with its GD emulator, and ends with a table of
//! measurement, target and verdict. Not part of `cargo test`: no timing is asserted
//! there. `DASHAUTH_BENCH_RUNS` (default 3) sets the repeats whose medians are reported;
//! `DASHAUTH_BENCH_ONLY=client|crypto|keys|login|throughput|bots|tokens` runs one phase, for
//! profiling.

mod bots;
mod capi;
mod crypto;
mod footprint;
mod instances;
mod keys;
mod load;
mod login;
mod report;
mod server;
mod signin;
mod stats;
mod throughput;
mod tokens;

use report::Report;
use server::{Backend, POLL_INTERVAL, Server};
use stats::{Percentiles, fmt_duration, fmt_percentiles, median, median_percentiles};
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;

fn runs() -> usize {
    std::env::var("DASHAUTH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Whether `phase` runs: all of them unless `DASHAUTH_BENCH_ONLY` names one.
fn wanted(phase: &str) -> bool {
    std::env::var("DASHAUTH_BENCH_ONLY").map_or(true, |only| only == phase)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let runs = runs();
    let mut report = Report::default();
    println!("## Machine\n\n{}\n", report::machine());

    if wanted("client") || wanted("login") {
        let server = Server::start("login");
        if wanted("client") {
            let client_footprint = footprint::measure(&server.base_url(), &server.gd_url());
            footprint_rows(&mut report, &client_footprint);
        }
        if wanted("login") {
            login_rows(&mut report, &server, runs);
        }
    }
    if wanted("crypto") {
        crypto_rows(&mut report);
    }
    if wanted("keys") {
        key_rows(&mut report, runs);
    }
    if wanted("throughput") {
        throughput_rows(&mut report, runs);
    }
    if wanted("bots") {
        bot_rows(&mut report);
    }
    if wanted("tokens") {
        token_rows(&mut report, runs);
    }

    println!("## Results (medians of {runs} runs where repeated)\n");
    println!("{}", report.markdown());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-report.md");
    let _ = std::fs::write(&path, report.markdown());
    println!(
        "{} target(s) missed; table also in {}",
        report.failures(),
        path.display()
    );
}

fn footprint_rows(report: &mut Report, f: &footprint::Footprint) {
    eprintln!("footprint …");
    match footprint::sizes() {
        Some(s) => {
            report.check(
                "cdylib `libdashauth.so`, stripped (mod build)",
                format!(
                    "{:.2} MiB ({:.2} MiB unstripped)",
                    s.cdylib_stripped as f64 / MIB,
                    s.cdylib as f64 / MIB
                ),
                "≤ 4 MiB",
                s.cdylib_stripped as f64 <= 4.0 * MIB,
            );
            report.note(
                "staticlib `libdashauth.a`, debug info stripped",
                format!(
                    "{:.1} MiB ({:.1} MiB as built)",
                    s.staticlib_stripped as f64 / MIB,
                    s.staticlib as f64 / MIB
                ),
            );
        }
        None => report.check(
            "library sizes",
            "not measured: run bench/run.sh".into(),
            "≤ 4 MiB",
            false,
        ),
    }
    let extra = |t: u64| t.saturating_sub(f.baseline.threads);
    report.check(
        "library threads while idle (client built / after a login freed)",
        format!(
            "{} / {} (no login thread left {} after the free)",
            extra(f.idle.threads),
            extra(f.after.threads),
            fmt_duration(f.worker_exit)
        ),
        "0",
        extra(f.idle.threads) == 0 && extra(f.after.threads) == 0,
    );
    report.note(
        "library threads during a login",
        extra(f.during_login.threads).to_string(),
    );
    report.note(
        "process RSS: before the library / idle client / during a login / after",
        format!(
            "{} / {} / {} / {} KiB",
            f.baseline.rss_kib, f.idle.rss_kib, f.during_login.rss_kib, f.after.rss_kib
        ),
    );
}

/// Messages per inbox page.
fn gd_page_size() -> usize {
    dashauth::gd::PAGE_SIZE
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn crypto_rows(report: &mut Report) {
    eprintln!("signing and verification …");
    let sign = crypto::sign_nonce(1000);
    let rsa_crate = crypto::sign_rsa_crate(100);
    let verify = crypto::verify_nonce(5000);
    eprintln!("openssl speed rsa2048 …");
    match crypto::openssl() {
        Some(o) => {
            report.check(
                "`dashauth_sign_nonce` (ring) vs `openssl speed rsa2048` sign",
                format!(
                    "{} vs {} = {:.2}×",
                    fmt_duration(sign),
                    fmt_duration(o.sign),
                    ratio(sign, o.sign)
                ),
                "≤ 5×",
                ratio(sign, o.sign) <= 5.0,
            );
            report.note(
                "before: rsa crate PKCS#1 v1.5 sign (the old signer) vs OpenSSL",
                format!(
                    "{} = {:.2}×",
                    fmt_duration(rsa_crate),
                    ratio(rsa_crate, o.sign)
                ),
            );
            report.note(
                "server `verify_nonce` (ring) vs `openssl speed rsa2048` verify",
                format!(
                    "{} vs {} = {:.2}×",
                    fmt_duration(verify),
                    fmt_duration(o.verify),
                    ratio(verify, o.verify)
                ),
            );
            report.note("OpenSSL", o.version);
        }
        None => {
            report.check(
                "`dashauth_sign_nonce`",
                fmt_duration(sign),
                "≤ 5× OpenSSL (not installed)",
                false,
            );
            report.note("server `verify_nonce`", fmt_duration(verify));
        }
    }
}

fn signin_rows(report: &mut Report, server: &Server, runs: usize) {
    let mut first = Vec::new();
    let mut stored = Vec::new();
    let mut failures = Vec::new();
    for run in 0..runs {
        eprintln!(
            "one-call sign-ins: 20 through GD, 200 with the stored device, run {} …",
            run + 1
        );
        let s = signin::run(server, 20, 10);
        first.push(stats::percentiles(&s.first));
        stored.push(stats::percentiles(&s.stored));
        failures.extend(s.failures);
    }
    let (first, stored) = (median_percentiles(&first), median_percentiles(&stored));
    report.check(
        "`dashauth_auth_start` with the stored device, start → access token: p50 / p90 / p99",
        format!("{} ({} failed)", fmt_percentiles(&stored), failures.len()),
        "p50 ≤ 10 ms, all succeed",
        stored.p50 <= Duration::from_millis(10) && failures.is_empty(),
    );
    report.note(
        "`dashauth_auth_start` without a device (GD message, bot, enrolment): p50 / p90 / p99",
        format!(
            "{} ({:.0}× the stored-device sign-in at p50)",
            fmt_percentiles(&first),
            ratio(first.p50, stored.p50)
        ),
    );
    if let Some(f) = failures.first() {
        eprintln!("first failure: {f}");
    }
}

/// P-256 and Ed25519 against OpenSSL (issue 10: ≤ 1.5× for key generation and signing).
/// Each run measures ours, then OpenSSL's, so that both see the same machine load.
fn key_rows(report: &mut Report, runs: usize) {
    let mut ours: Vec<[keys::Ours; 2]> = Vec::new();
    let mut theirs: Vec<[keys::Theirs; 2]> = Vec::new();
    let mut version = String::new();
    for run in 0..runs {
        eprintln!(
            "P-256 and Ed25519 keys, ours then OpenSSL's, run {} …",
            run + 1
        );
        ours.push(keys::TYPES.map(keys::ours));
        match keys::theirs() {
            Ok((v, figures)) => {
                version = v;
                theirs.push(figures);
            }
            Err(e) => {
                report.check(
                    "P-256 and Ed25519 key generation and signing",
                    format!("OpenSSL not measured: {e}"),
                    "≤ 1.5× OpenSSL",
                    false,
                );
                return;
            }
        }
    }
    let versus = |a: Duration, b: Duration| {
        format!(
            "{} vs {} = {:.2}×",
            keys::fmt_us(a),
            keys::fmt_us(b),
            ratio(a, b)
        )
    };
    for (i, name) in ["P-256", "Ed25519"].into_iter().enumerate() {
        let o = |f: fn(&keys::Ours) -> Duration| {
            median(&ours.iter().map(|r| f(&r[i])).collect::<Vec<_>>())
        };
        let t = |f: fn(&keys::Theirs) -> Duration| {
            median(&theirs.iter().map(|r| f(&r[i])).collect::<Vec<_>>())
        };
        let (keygen, their_keygen) = (o(|f| f.keygen), t(|f| f.keygen));
        report.check(
            &format!(
                "{name} key generation (`DeviceKey::generate_type`) vs OpenSSL `EVP_PKEY_keygen`"
            ),
            versus(keygen, their_keygen),
            "≤ 1.5×",
            ratio(keygen, their_keygen) <= 1.5,
        );
        let parts = [
            versus(o(|f| f.ring_generate), their_keygen),
            keys::fmt_us(o(|f| f.ring_parse)),
            keys::fmt_us(t(|f| f.keygen_pkcs8)),
        ];
        report.note(
            &format!(
                "{name} key generation in parts: ring's `generate_pkcs8` vs OpenSSL keygen; \
                 ring's key pair from that PKCS#8; OpenSSL keygen + PKCS#8 DER"
            ),
            parts.join("; "),
        );
        let (sign, their_sign) = (o(|f| f.sign), t(|f| f.speed_sign));
        report.check(
            &format!("{name} nonce signing (`sign_nonce`) vs `openssl speed` sign"),
            versus(sign, their_sign),
            "≤ 1.5×",
            ratio(sign, their_sign) <= 1.5,
        );
        report.note(
            &format!("{name}: OpenSSL `EVP_DigestSign` of a nonce timestamp (context set up per signature)"),
            keys::fmt_us(t(|f| f.evp_sign)),
        );
    }
    report.note("OpenSSL (keys)", version);
}

fn login_rows(report: &mut Report, server: &Server, runs: usize) {
    let client = capi::Client::new(&server.base_url(), &server.gd_url());
    for (total, concurrency, target) in [(100, 1, 0.3), (200, 20, 1.0)] {
        let mut per_run = Vec::new();
        let mut failures = Vec::new();
        for run in 0..runs {
            eprintln!(
                "logins: {total} at concurrency {concurrency}, run {} …",
                run + 1
            );
            let batch = login::run(&client, total, concurrency);
            per_run.push(stats::percentiles(&batch.latencies));
            failures.extend(batch.failures);
        }
        let p: Percentiles = median_percentiles(&per_run);
        report.check(
            &format!(
                "login start → token, {total} logins at concurrency {concurrency}: p50 / p90 / p99"
            ),
            format!("{} ({} failed)", fmt_percentiles(&p), failures.len()),
            &format!("p50 ≤ {} ms, all succeed", (target * 1000.0) as u32),
            p.p50.as_secs_f64() <= target && failures.is_empty(),
        );
        if let Some(f) = failures.first() {
            eprintln!("first failure: {f}");
        }
    }
    signin_rows(report, server, runs);
    for (total, concurrency) in [(20, 1), (100, 10), (300, 100)] {
        eprintln!("bot cost: {total} logins at concurrency {concurrency} …");
        let cost = login::bot_cost(server, &client, total, concurrency);
        // One pass per interval; a pass reads one more page per 50 messages waiting
        // (protocol.md section 3, backlog), and at most `concurrency` messages wait.
        let pages_per_pass = concurrency.div_ceil(gd_page_size()).max(1) as f64;
        let allowed = cost.allowed(POLL_INTERVAL) * pages_per_pass;
        report.check(
            &format!(
                "bot inbox listings, {total} logins at concurrency {concurrency}: per login; per {} ms poll interval",
                POLL_INTERVAL.as_millis()
            ),
            format!(
                "{:.3}; {:.2} ({} listings in {}, at most {allowed} allowed)",
                cost.per_login(),
                cost.per_interval(POLL_INTERVAL),
                cost.inbox_fetches,
                fmt_duration(cost.elapsed)
            ),
            &format!("≤ 1 pass per interval, ≤ {pages_per_pass} page(s) a pass"),
            cost.inbox_fetches <= allowed,
        );
    }
    eprintln!("bot while idle …");
    let idle = login::idle_gd_requests(server, Duration::from_secs(5));
    report.check(
        "bot GD requests in 5 s with no login pending",
        format!("{idle}"),
        "0",
        idle == 0.0,
    );
}

fn token_rows(report: &mut Report, runs: usize) {
    eprintln!("tokens: logging in …");
    let target = tokens::ExchangeTarget::new(&Backend::Sqlite);
    let mut results = Vec::new();
    for run in 0..runs {
        eprintln!("tokens: token/exchange load, run {} …", run + 1);
        results.push(target.exchange());
    }
    let rate = median(&results.iter().map(|r| r.load.rate()).collect::<Vec<_>>());
    let errors: u64 = results.iter().map(|r| r.load.errors).sum();
    let p = median_percentiles(&results.iter().map(|r| r.load.latency).collect::<Vec<_>>());
    let cpu = median(&results.iter().map(|r| r.server_cpu).collect::<Vec<_>>());
    report.check(
        &format!(
            "sqlite: `POST token/exchange` (login token → EdDSA JWT), {} connections: requests/s",
            throughput::CONNECTIONS
        ),
        format!("{rate:.0}/s ({errors} errors)"),
        "≥ 5000/s",
        rate >= 5000.0 && errors == 0,
    );
    report.note(
        "sqlite: `POST token/exchange`: latency p50 / p90 / p99",
        fmt_percentiles(&p),
    );
    report.note(
        "sqlite: `POST token/exchange`: server CPU time per request",
        fmt_duration(cpu),
    );
    eprintln!("tokens: offline verification …");
    let verify = median(
        &(0..runs)
            .map(|_| target.offline_verification())
            .collect::<Vec<_>>(),
    );
    report.note(
        "offline verification of one access token with `jsonwebtoken` (EdDSA, iss/aud/exp checked)",
        fmt_duration(verify),
    );
}

fn throughput_rows(report: &mut Report, runs: usize) {
    for backend in Backend::available() {
        backend_rows(report, runs, &backend);
    }
    if !Backend::available()
        .iter()
        .any(|b| matches!(b, Backend::Postgres(_)))
    {
        report.check(
            "PostgreSQL figures",
            "not measured: DASHAUTH_TEST_DATABASE_URL is not set (bench/run.sh sets it)".into(),
            "measured",
            false,
        );
    }
}

fn backend_rows(report: &mut Report, runs: usize, backend: &Backend) {
    let store = backend.name();
    let (challenge_floor, nonce_floor) = match backend {
        Backend::Sqlite => (10_000.0, 8_000.0),
        Backend::Postgres(_) => (4_000.0, 3_000.0),
    };
    let mut challenge = Vec::new();
    for run in 0..runs {
        eprintln!("{store}: request_challenge load, run {} …", run + 1);
        challenge.push(throughput::request_challenge(backend));
    }
    eprintln!("{store}: client/me: registering devices …");
    let target = throughput::NonceTarget::new(backend);
    let mut me = Vec::new();
    for run in 0..runs {
        eprintln!(
            "{store}: client/me load, run {} (signing nonces first) …",
            run + 1
        );
        me.push(target.client_me());
    }
    drop(target);
    for (name, results, floor) in [
        ("`GET request_challenge`", &challenge, challenge_floor),
        ("nonce-authenticated `GET client/me`", &me, nonce_floor),
    ] {
        let rate = median(&results.iter().map(|r| r.load.rate()).collect::<Vec<_>>());
        let p = median_percentiles(&results.iter().map(|r| r.load.latency).collect::<Vec<_>>());
        let errors: u64 = results.iter().map(|r| r.load.errors).sum();
        let cpu = median(&results.iter().map(|r| r.server_cpu).collect::<Vec<_>>());
        let nonces = results.iter().map(|r| r.nonces).max().unwrap_or(0);
        let pool = if nonces > 0 {
            format!(", {nonces} nonces per run")
        } else {
            String::new()
        };
        report.check(
            &format!(
                "{store}: {name}, {} connections: requests/s",
                throughput::CONNECTIONS
            ),
            format!("{rate:.0}/s ({errors} errors{pool})"),
            &format!("≥ {floor:.0}/s"),
            rate >= floor && errors == 0,
        );
        report.note(
            &format!("{store}: {name}: latency p50 / p90 / p99"),
            fmt_percentiles(&p),
        );
        report.note(
            &format!("{store}: {name}: server CPU time per request"),
            fmt_duration(cpu),
        );
    }
    let server = Server::start_on("store-login", backend);
    let client = capi::Client::new(&server.base_url(), &server.gd_url());
    let mut per_run = Vec::new();
    let mut failures = 0;
    for run in 0..runs {
        eprintln!("{store}: 50 logins one at a time, run {} …", run + 1);
        let batch = login::run(&client, 50, 1);
        per_run.push(stats::percentiles(&batch.latencies));
        failures += batch.failures.len();
    }
    let p = median_percentiles(&per_run);
    report.check(
        &format!("{store}: login start → token, one at a time: p50 / p90 / p99"),
        format!("{} ({failures} failed)", fmt_percentiles(&p)),
        "p50 ≤ 150 ms",
        p.p50.as_secs_f64() <= 0.150 && failures == 0,
    );
    if let Some(url) = server.database_url() {
        eprintln!("{store}: cross-instance completion …");
        let shared = server::SharedGd {
            gd_url: server.gd_url(),
            database_url: url.to_string(),
        };
        let other = Server::start_instance("store-second", &shared);
        let delays = instances::completion_delays(&server, &other, 20);
        let p = stats::percentiles(&delays.delays);
        report.check(
            "PostgreSQL: long poll on instance B after the validation seen on instance A: p50 / p90 / max",
            format!(
                "{} / {} / {} ({} of {} completed)",
                fmt_duration(p.p50),
                fmt_duration(p.p90),
                fmt_duration(delays.delays.iter().copied().max().unwrap_or_default()),
                delays.delays.len(),
                delays.attempts
            ),
            "≤ 100 ms",
            p.p90.as_secs_f64() <= 0.100 && delays.delays.len() == delays.attempts,
        );
    }
}

/// The bot at real GD's settings (2 s interval, 1 GD request/s per bot): its cost per
/// login with one and two bot accounts, what one bot carries, and logins under a flood.
fn bot_rows(report: &mut Report) {
    for bots in [1, 2] {
        eprintln!("bots: 100 concurrent logins with {bots} bot account(s) …");
        let cost = bots::cost(bots, 100);
        let p = stats::percentiles(&cost.batch.latencies);
        report.note(
            &format!(
                "bot GD requests per login, 100 concurrent logins, {bots} bot(s), real-GD settings"
            ),
            format!(
                "{:.3} ({} requests, {} inbox listings; {} logins, {} failed; p50 / p90 / p99 {})",
                cost.per_login(),
                cost.gd_requests,
                cost.inbox_fetches,
                cost.batch.latencies.len(),
                cost.batch.failures.len(),
                fmt_percentiles(&p)
            ),
        );
    }
    for (total, concurrency) in [(2000, 100), (3000, 300)] {
        eprintln!("bots: one bot under {total} logins, {concurrency} at a time …");
        let sustained = bots::sustained(total, concurrency);
        let done = sustained.batch.latencies.len();
        let rate = done as f64 / sustained.batch.elapsed.as_secs_f64();
        let p = stats::percentiles(&sustained.batch.latencies);
        let first_failure = sustained
            .batch
            .failures
            .first()
            .map_or(String::new(), |f| format!("; first failure: {f}"));
        report.note(
            &format!(
                "logins/s one bot account carries, {total} logins {concurrency} at a time (2 s interval, 1 GD request/s, 50-message pages)"
            ),
            format!(
                "{rate:.1}/s ({done} of {total} in {}, {} failed; {:.3} GD requests per login; p50 / p90 / p99 {}{first_failure})",
                fmt_duration(sustained.batch.elapsed),
                sustained.batch.failures.len(),
                sustained.per_login(),
                fmt_percentiles(&p)
            ),
        );
    }
    eprintln!("bots: 20 logins, 4 at a time, under a 40 messages/s flood …");
    let flood = bots::flood(40.0, 20, 4, Duration::from_secs(4));
    let p = stats::percentiles(&flood.batch.latencies);
    report.check(
        "logins completed, 20 of them 4 at a time, under a 40 messages/s flood of the bot's inbox (real-GD settings)",
        format!(
            "{} of 20 (flood ran at {:.0}/s; p50 / p90 / p99 {})",
            flood.batch.latencies.len(),
            flood.rate,
            fmt_percentiles(&p)
        ),
        "20 of 20",
        flood.batch.latencies.len() == 20,
    );
}
