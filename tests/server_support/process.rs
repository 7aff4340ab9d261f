//! `dashauth-server` as a separate process, so that tests can kill it with SIGKILL and
//! start another on the same state, as a crash and a restart would.

use super::{Player, handshake_body};
use dashauth::http::{Http, Method};
use dashauth::keys::DeviceKey;
use dashauth::server::ServerHandle;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dashauth-server");

/// A running server process; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
    base: String,
}

/// The `--public-url` (access-token issuer) of every server process a test starts.
pub const TEST_PUBLIC_URL: &str = "http://dashauth.test";

/// What a server process is started with, besides `--listen 127.0.0.1:0`.
pub struct Options<'a> {
    /// `--data-dir`.
    pub data_dir: Option<&'a Path>,
    /// `--database-url`.
    pub database_url: Option<&'a str>,
    /// `--gd-url`, with `bot`'s credentials.
    pub gd_url: &'a str,
    /// The bot account and gjp2.
    pub bot: (u32, &'a str),
    /// `--poll-interval-ms`.
    pub poll_interval_ms: u64,
}

impl ServerProcess {
    /// Starts the binary against `options.gd_url` (an emulator run by the test) and
    /// returns once it listens.
    pub fn start(options: &Options<'_>) -> ServerProcess {
        let mut command = Command::new(BIN);
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(["--gd-url", options.gd_url])
            .args(["--bot-account-id", &options.bot.0.to_string()])
            .args(["--poll-interval-ms", &options.poll_interval_ms.to_string()])
            .args(["--rate-limit-per-minute", "0"])
            .args(["--complete-wait-ms", "2000"])
            // The processes of one test are one deployment: one issuer for access tokens,
            // whichever instance (or restart) minted them.
            .args(["--public-url", TEST_PUBLIC_URL])
            .env("DASHAUTH_BOT_GJP2", options.bot.1)
            .env_remove("DASHAUTH_DATABASE_URL")
            .env_remove("DASHAUTH_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = options.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        if let Some(url) = options.database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{BIN}: {e}"));
        let base = read_base_url(&mut child);
        ServerProcess { child, base }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// SIGKILL, as a crash: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The base URL from the first stdout line, `listening on http://ADDR`; on anything
/// else, fails with what the process wrote on stderr.
fn read_base_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    match line.trim().strip_prefix("listening on ") {
        Some(base) => base.to_string(),
        None => {
            let _ = child.kill();
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the server did not start ({line:?}): {stderr}")
        }
    }
}

/// Runs the binary with `args` and the given environment until it exits; returns its
/// exit code and stderr (for start-up failures).
pub fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("DASHAUTH_DATABASE_URL")
        .env_remove("DASHAUTH_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{BIN}: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The DashAuth routes of a server process, over real HTTP.
/// The DashAuth routes of a server process, over real HTTP.
pub struct Remote {
    http: Http,
    base: String,
    /// The bot account GD messages go to.
    bot: u32,
}

impl Remote {
    pub fn of(server: &ServerProcess, bot: u32) -> Remote {
        Remote {
            http: Http::new(Duration::from_secs(20)),
            base: server.base_url().to_string(),
            bot,
        }
    }

    pub fn call(
        &self,
        method: Method,
        route: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}/{route}", self.base);
        let body = body.map(|b| ("application/json", b));
        let reply = self
            .http
            .send(method, &url, auth, body)
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        let json = serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null);
        (reply.status, json)
    }

    pub fn challenge(&self, account: u32) -> (String, String) {
        let (status, json) = self.call(
            Method::Get,
            &format!("request_challenge/{account}"),
            None,
            None,
        );
        assert_eq!(status, 200, "{json}");
        let field = |k: &str| json["data"][k].as_str().unwrap_or_default().to_string();
        (field("id"), field("challenge"))
    }

    pub fn wait_for_token(&self, id: &str) -> String {
        for _ in 0..10 {
            let (status, json) = self.call(
                Method::Get,
                &format!("challenge_complete/{id}?wait_ms=2000"),
                None,
                None,
            );
            if status == 200 {
                return json["data"].as_str().unwrap_or_default().to_string();
            }
            assert_eq!(status, 401, "{json}");
        }
        panic!("challenge never validated")
    }

    /// Enrols `key` for `account` by GD proof: a fresh challenge, its message, then the
    /// handshake (long-polled). Returns the handshake's answer.
    pub fn enroll(
        &self,
        gd: &ServerHandle,
        account: u32,
        key: &DeviceKey,
    ) -> (u16, serde_json::Value) {
        let (id, challenge) = self.challenge(account);
        Player::new(gd, account).send_until_accepted(self.bot, &format!("auth-{challenge}"));
        let body = handshake_body(key, &id).to_string();
        for _ in 0..10 {
            let reply = self.call(
                Method::Post,
                "client/auth/handshake?wait_ms=2000",
                None,
                Some(&body),
            );
            if reply.0 != 401 {
                return reply;
            }
        }
        panic!("challenge never validated")
    }

    pub fn login(&self, gd: &ServerHandle, account: u32) -> String {
        let (id, challenge) = self.challenge(account);
        Player::new(gd, account).send_until_accepted(self.bot, &format!("auth-{challenge}"));
        self.wait_for_token(&id)
    }

    pub fn status(&self, method: Method, route: &str, auth: &str) -> u16 {
        self.call(method, route, Some(auth), None).0
    }

    /// One long poll: the token, or the status it answered instead.
    pub fn complete_once(
        &self,
        id: &str,
        wait_ms: u64,
    ) -> Result<String, (u16, serde_json::Value)> {
        let (status, json) = self.call(
            Method::Get,
            &format!("challenge_complete/{id}?wait_ms={wait_ms}"),
            None,
            None,
        );
        match status {
            200 => Ok(json["data"].as_str().unwrap_or_default().to_string()),
            _ => Err((status, json)),
        }
    }

    pub fn message(&self, route: &str, auth: &str) -> (u16, String) {
        let (status, json) = self.call(Method::Get, route, Some(auth), None);
        (
            status,
            json["message"].as_str().unwrap_or_default().to_string(),
        )
    }
}
