//! The `dashauth-server` binary: help, configuration errors, the "listening on" line,
//! environment fallback, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dashauth-server");

#[test]
fn help_explains_every_flag() {
    let output = Command::new(BIN)
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
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn gd_url_without_bot_credentials_is_a_usage_error() {
    let output = Command::new(BIN)
        .args(["--gd-url", "https://gd.example/database"])
        .env_remove("DASHAUTH_BOT_ACCOUNT_ID")
        .env_remove("DASHAUTH_BOT_GJP2")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bot-account-id"));
}

#[cfg(unix)]
#[test]
fn server_prints_its_address_serves_and_stops_cleanly_on_sigterm() {
    let mut child = Command::new(BIN)
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
    let mut child = Child(
        Command::new(BIN)
            .args(args)
            .env_remove("DASHAUTH_ALLOW_PUBLIC_EMULATOR")
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

/// One whole login against the binary and its emulator, over HTTP.
fn login(base: &str, account: u32) {
    let http = dashauth::http::Http::new(Duration::from_secs(10));
    let get = |route: &str| {
        let reply = http
            .send(
                dashauth::http::Method::Get,
                &format!("{base}/{route}"),
                None,
                None,
            )
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        assert_eq!(reply.status, 200, "{route}: {}", reply.body);
        serde_json::from_str::<serde_json::Value>(&reply.body)
            .unwrap_or_else(|e| panic!("{route}: {e}"))["data"]
            .clone()
    };
    let challenge = get(&format!("request_challenge/{account}"));
    let field = |key: &str| challenge[key].as_str().unwrap_or_default().to_string();
    let bot = challenge["bot_account_id"].as_u64().unwrap_or_default() as u32;
    let gd = dashauth::gd_client::GdClient::new(http.clone(), &format!("{base}/database"));
    gd.upload_message(
        account,
        &format!("{account:040x}"),
        bot,
        &format!("auth-{}", field("challenge")),
        "DashAuth test",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let token = get(&format!("challenge_complete/{}?wait_ms=8000", field("id")));
    assert!(token.is_string(), "{token}");
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
    let mut child = Child(
        Command::new(BIN)
            .args(["--listen", "0.0.0.0:0"])
            .env_remove("DASHAUTH_ALLOW_PUBLIC_EMULATOR")
            .env_remove("DASHAUTH_GD_URL")
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
    assert_eq!(status.code(), Some(2));
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        stderr.contains("any account") && stderr.contains("--allow-public-emulator"),
        "{stderr}"
    );
    let (_child, base) = spawn_server(&["--listen", "0.0.0.0:0", "--allow-public-emulator"]);
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
}
