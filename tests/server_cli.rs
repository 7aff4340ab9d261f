//! The `dashauth-server` binary: help, configuration errors, the "listening on" line,
//! environment fallback, log formats, a clean stop on SIGTERM, and the GD emulator run
//! alone (`dashauth-server emulator`) serving a server in another process.

use dashauth::gd_client::GdClient;
use dashauth::http::{Http, Method};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dashauth-server");

/// The binary without any of the caller's `DASHAUTH_…` variables or `RUST_LOG`, and
/// with a data directory of its own: concurrent tests must not share the default
/// `./dashauth-data`, and a developer's environment must not change what they check.
fn dashauth_server() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DASHAUTH_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env("DASHAUTH_DATA_DIR", scratch_dir());
    command
}

/// A directory under the system's temporary directory that no other server uses.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dashauth-cli-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn help_explains_every_flag() {
    let output = dashauth_server()
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--gd-url",
        "--bot-account-id",
        "--bot-gjp2",
        "--poll-interval-ms",
        "--challenge-ttl-s",
        "--token-ttl-s",
        "--gd-fault-rate",
        "--gd-latency-ms",
        "--rate-limit-per-minute",
        "--max-pending-challenges",
        "DASHAUTH_LISTEN",
        "DASHAUTH_GD_URL",
        "per account and address",
        "--allow-public-emulator",
        "DASHAUTH_ALLOW_PUBLIC_EMULATOR",
        "--data-dir",
        "./dashauth-data",
        "--database-url",
        "DASHAUTH_DATABASE_URL",
        "--log-format",
        "DASHAUTH_LOG_FORMAT",
        "--log-level",
        "RUST_LOG",
        "emulator",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    let output = dashauth_server()
        .args(["emulator", "--help"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--gd-fault-rate",
        "--gd-latency-ms",
        "--allow-public-emulator",
        "--log-format",
        "--gd-url http://ADDR/database",
    ] {
        assert!(
            help.contains(flag),
            "emulator --help does not mention {flag}"
        );
    }
    assert!(!help.contains("--bot-gjp2 <HEX>"), "server flags in {help}");
}

#[test]
fn gd_url_without_bot_credentials_is_a_usage_error() {
    let output = dashauth_server()
        .args(["--gd-url", "https://gd.example/database"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bot-account-id"));
}

#[cfg(unix)]
#[test]
fn server_prints_its_address_serves_and_stops_cleanly_on_sigterm() {
    let mut child = dashauth_server()
        .env("DASHAUTH_LISTEN", "127.0.0.1:0")
        .env("DASHAUTH_BOT_GJP2", "not-to-be-logged-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let base = read_base_url(&mut child);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let http = dashauth::http::Http::new(Duration::from_secs(5));
    let reply = http
        .send(
            dashauth::http::Method::Get,
            &format!("{base}/request_challenge/9001"),
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 200, "{}", reply.body);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "exit status {:?}", output.status);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(
        !log.contains("not-to-be-logged"),
        "the gjp2 leaked into the log"
    );
    // Human lines: an RFC 3339 UTC time, the level, the message.
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let time = words.next().unwrap_or_default();
        assert!(
            time.len() > 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
            "{line}"
        );
        assert_eq!(words.next(), Some("INFO"), "{line}");
    }
}

/// A server process, killed when dropped so a failing test leaves nothing behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args` and returns it with its base URL.
fn spawn_server(args: &[&str]) -> (Child, String) {
    spawn(dashauth_server().args(args))
}

/// Starts `command` and returns it with the base URL of its "listening on" line.
fn spawn(command: &mut Command) -> (Child, String) {
    let mut child = Child(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let base = read_base_url(&mut child.0);
    (child, base)
}

/// The base URL from the server's first stdout line, `listening on http://ADDR`.
fn read_base_url(child: &mut std::process::Child) -> String {
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}

/// One whole login against the binary and its emulator, over HTTP; returns the token.
fn login(base: &str, account: u32) -> String {
    login_through(base, &format!("{base}/database"), account)
}

/// One whole login against the binary, sending the GD message through `gd_url`.
fn login_through(base: &str, gd_url: &str, account: u32) -> String {
    let http = Http::new(Duration::from_secs(10));
    let get = |route: &str| {
        let reply = http
            .send(Method::Get, &format!("{base}/{route}"), None, None)
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        assert_eq!(reply.status, 200, "{route}: {}", reply.body);
        serde_json::from_str::<serde_json::Value>(&reply.body)
            .unwrap_or_else(|e| panic!("{route}: {e}"))["data"]
            .clone()
    };
    let challenge = get(&format!("request_challenge/{account}"));
    let field = |key: &str| challenge[key].as_str().unwrap_or_default().to_string();
    let bot = challenge["bot_account_id"].as_u64().unwrap_or_default() as u32;
    let gd = GdClient::new(http.clone(), gd_url);
    gd.upload_message(
        account,
        &format!("{account:040x}"),
        bot,
        &format!("auth-{}", field("challenge")),
        "DashAuth test",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let token = get(&format!("challenge_complete/{}?wait_ms=8000", field("id")));
    token
        .as_str()
        .unwrap_or_else(|| panic!("no token: {token}"))
        .to_string()
}

/// Seconds from now until the token expires, as `whoami` tells.
fn token_lifetime_s(base: &str, token: &str) -> i64 {
    let reply = Http::new(Duration::from_secs(10))
        .send(
            Method::Get,
            &format!("{base}/whoami"),
            Some(&format!("Bearer {token}")),
            None,
        )
        .unwrap_or_else(|e| panic!("whoami: {e}"));
    assert_eq!(reply.status, 200, "whoami: {}", reply.body);
    let whoami: serde_json::Value =
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("whoami: {e}"));
    let expires_at = whoami["data"]["expires_at"].as_i64().unwrap_or_default();
    (expires_at - dashauth::clock::now_ms()) / 1000
}

/// Sends SIGTERM and returns what the process wrote to stderr once it exited cleanly.
#[cfg(unix)]
fn terminate(child: Child) -> String {
    let mut child = child;
    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap_or_else(|e| panic!("{e}"));
    }
    let status = child.0.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "exit status {status:?}: {stderr}");
    stderr
}

#[test]
fn server_keeps_working_after_its_stderr_is_closed() {
    let (mut child, base) = spawn_server(&["--listen", "127.0.0.1:0"]);
    // Writing a log line now fails with EPIPE, which `eprintln!` turns into a panic.
    drop(child.0.stderr.take());
    login(&base, 9101);
    login(&base, 9102); // the bot thread logged the first pass and is still alive
}

#[test]
fn emulator_on_a_public_address_is_a_usage_error_unless_allowed() {
    let stderr = refused_with_usage_error(dashauth_server().args(["--listen", "0.0.0.0:0"]));
    assert!(
        stderr.contains("any account") && stderr.contains("--allow-public-emulator"),
        "{stderr}"
    );
    let (_child, base) = spawn_server(&["--listen", "0.0.0.0:0", "--allow-public-emulator"]);
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
}

#[test]
fn environment_variables_set_options_and_flags_win() {
    let env = |command: &mut Command| {
        command
            .env("DASHAUTH_LISTEN", "127.0.0.1:0")
            .env("DASHAUTH_TOKEN_TTL_S", "1000")
            // Empty counts as unset, so this one does not refuse to start.
            .env("DASHAUTH_CHALLENGE_TTL_S", "")
            .env("DASHAUTH_TRUST_FORWARDED_FOR", "yes");
    };
    let mut from_env = dashauth_server();
    env(&mut from_env);
    let (_child, base) = spawn(&mut from_env);
    let lifetime = token_lifetime_s(&base, &login(&base, 9301));
    assert!((990..=1000).contains(&lifetime), "{lifetime} s");

    let mut overridden = dashauth_server();
    env(&mut overridden);
    let (_child, base) = spawn(overridden.args(["--token-ttl-s", "2000"]));
    let lifetime = token_lifetime_s(&base, &login(&base, 9302));
    assert!((1990..=2000).contains(&lifetime), "{lifetime} s");

    let stderr = refused_with_usage_error(
        dashauth_server()
            .env("DASHAUTH_LISTEN", "127.0.0.1:0")
            .env("DASHAUTH_TRUST_FORWARDED_FOR", "maybe"),
    );
    assert!(stderr.contains("yes/no"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn json_log_format_writes_one_object_per_line() {
    let (child, base) = spawn(
        dashauth_server()
            .args(["--listen", "127.0.0.1:0"])
            .env("DASHAUTH_LOG_FORMAT", "json")
            .env("DASHAUTH_BOT_GJP2", "not-to-be-logged-0123456789"),
    );
    let token = login(&base, 9401);
    let log = terminate(child);
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for event in &events {
        assert!(event["timestamp"].is_string(), "{event}");
        assert_eq!(event["level"], "INFO", "{event}");
    }
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|event| event["message"].as_str())
        .collect();
    assert_eq!(messages.len(), events.len(), "{log}");
    for expected in ["listening on http://127.0.0.1:", "validated", "SIGTERM"] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "no event mentions {expected:?}: {log}"
        );
    }
    assert!(!log.contains("not-to-be-logged"), "the gjp2 leaked: {log}");
    assert!(!log.contains(&token), "the token leaked: {log}");
}

#[cfg(unix)]
#[test]
fn standalone_emulator_serves_gd_to_a_server_in_another_process() {
    let (emulator, emulator_base) =
        spawn(dashauth_server().args(["emulator", "--listen", "127.0.0.1:0"]));
    let gd_url = format!("{emulator_base}/database");
    let gd = GdClient::new(Http::new(Duration::from_secs(5)), &gd_url);
    // getGJMessages20.php makes the bot's account on first sight, with an empty inbox.
    let (bot, bot_gjp2) = (9500, "shared-emulator-bot");
    let inbox = gd
        .get_messages(bot, bot_gjp2, 0, false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(inbox.messages.is_empty(), "{inbox:?}");

    let (server, base) = spawn(
        dashauth_server()
            .args(["--listen", "127.0.0.1:0", "--poll-interval-ms", "100"])
            .env("DASHAUTH_GD_URL", &gd_url)
            .env("DASHAUTH_BOT_ACCOUNT_ID", bot.to_string())
            .env("DASHAUTH_BOT_GJP2", bot_gjp2),
    );
    // A server with a GD URL has no GD of its own: the login below went through the
    // emulator process.
    let own_gd = Http::new(Duration::from_secs(5))
        .send(
            Method::Post,
            &format!("{base}/database/getGJMessages20.php"),
            None,
            Some(("application/x-www-form-urlencoded", "secret=x")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(own_gd.status, 404, "{}", own_gd.body);
    let token = login_through(&base, &gd_url, 9501);
    assert!((2_591_990..=2_592_000).contains(&token_lifetime_s(&base, &token)));

    terminate(server);
    let log = terminate(emulator);
    assert!(log.contains("GD emulator listening on"), "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
}

#[test]
fn standalone_emulator_on_a_public_address_is_a_usage_error() {
    let stderr =
        refused_with_usage_error(dashauth_server().args(["emulator", "--listen", "0.0.0.0:0"]));
    assert!(
        stderr.contains("any account") && stderr.contains("--allow-public-emulator"),
        "{stderr}"
    );
    let (_child, base) = spawn(dashauth_server().args([
        "emulator",
        "--listen",
        "0.0.0.0:0",
        "--allow-public-emulator",
    ]));
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
}

/// Asserts that `command` exits with status 2 (usage error); returns its stderr.
fn refused_with_usage_error(command: &mut Command) -> String {
    let mut child = Child(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    // A server that starts anyway would never exit: give it a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => panic!("the server did not refuse to start: {other:?}"),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn a_failure_at_run_time_exits_with_status_1_and_says_why() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = taken
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    let output = dashauth_server()
        .args(["--listen", &addr])
        .env("RUST_LOG", "not a filter [")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ERROR dashauth-server:") && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(stderr.contains("RUST_LOG"), "{stderr}");
}
