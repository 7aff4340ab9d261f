//! `dashauth-server` as a separate process, so that tests can kill it with SIGKILL and
//! start another on the same state, as a crash and a restart would.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dashauth-server");

/// A running server process; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
    base: String,
}

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
