//! The server under test: the release `dashauth-server` binary in its own process, with
//! the embedded emulator on a free loopback port, so that neither the library nor the
//! load generator shares a process with it. Its log goes to a file, as in production.

use dashauth::server::store::testing::{self, TestDatabase};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Poll interval the server runs with: the emulator default.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Where a benchmark server keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a fresh data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server at this admin URL.
    Postgres(String),
}

impl Backend {
    /// SQLite always; PostgreSQL when `DASHAUTH_TEST_DATABASE_URL` names a server
    /// (bench/run.sh starts the machine's).
    pub fn available() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if let Ok(url) = std::env::var(testing::URL_VARIABLE)
            && !url.trim().is_empty()
        {
            backends.push(Backend::Postgres(url));
        }
        backends
    }

    /// `SQLite` or `PostgreSQL`, for the report.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// `--data-dir` for a fresh SQLite state of the server `name`.
fn sqlite_args(name: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-data-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    vec!["--data-dir".into(), dir.display().to_string()]
}

/// A running server process; killed on drop (and its PostgreSQL database dropped).
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    database: Option<TestDatabase>,
}

/// Extra arguments for a server that reads another server's emulator with the built-in
/// bot's credentials (a second instance on a shared store).
pub struct SharedGd {
    /// The other server's GD database URL.
    pub gd_url: String,
    /// The PostgreSQL database the instances share.
    pub database_url: String,
}

impl Server {
    /// A server with its own emulator, its state in SQLite.
    pub fn start(name: &str) -> Server {
        Server::start_on(name, &Backend::Sqlite)
    }

    /// Like [`Server::start`] with more flags (later ones win) and environment variables.
    pub fn start_with(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut all = sqlite_args(name);
        all.extend(args.iter().map(|a| a.to_string()));
        Server::spawn(name, &all, envs, None)
    }

    /// A server with its own emulator, its state on `backend`.
    pub fn start_on(name: &str, backend: &Backend) -> Server {
        let name = &format!("{name}-{}", backend.name().to_lowercase());
        let mut args: Vec<String> = Vec::new();
        let database = match backend {
            Backend::Sqlite => {
                args.extend(sqlite_args(name));
                None
            }
            Backend::Postgres(_) => {
                let db = TestDatabase::create_blocking(name).expect("a PostgreSQL database");
                args.extend(["--database-url".into(), db.url().to_string()]);
                Some(db)
            }
        };
        Server::spawn(name, &args, &[], database)
    }

    /// A second instance on `shared`'s PostgreSQL database, reading its GD.
    pub fn start_instance(name: &str, shared: &SharedGd) -> Server {
        let args: Vec<String> = [
            "--database-url",
            &shared.database_url,
            "--gd-url",
            &shared.gd_url,
            "--bot-account-id",
            &dashauth::server::EMULATOR_BOT_ACCOUNT_ID.to_string(),
            "--rate-limit-per-minute",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Server::spawn(name, &args, &[], None)
    }

    /// The PostgreSQL URL this server's state is in, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|d| d.url())
    }

    fn spawn(
        name: &str,
        args: &[String],
        envs: &[(&str, &str)],
        database: Option<TestDatabase>,
    ) -> Server {
        let log_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("bench-server-{name}.log"));
        let log = std::fs::File::create(&log_path).expect("server log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_dashauth-server"))
            .args(["--listen", "127.0.0.1:0"])
            .arg("--poll-interval-ms")
            .arg(POLL_INTERVAL.as_millis().to_string())
            // The throughput phase issues some 100 000 challenges in 5 s, all pending
            // for their 300 s: above the default cap, which would answer 503.
            .args(["--max-pending-challenges", "1000000"])
            .args(args)
            .env("DASHAUTH_BOT_GJP2", dashauth::server::EMULATOR_BOT_GJP2)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("dashauth-server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the server's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; see {}", log_path.display()))
            .parse()
            .expect("a socket address");
        Server {
            child,
            addr,
            database,
        }
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulator's GD database URL.
    pub fn gd_url(&self) -> String {
        format!("http://{}/database", self.addr)
    }

    /// The server's process id (the soak reads its memory and descriptors).
    #[allow(dead_code)] // used by benches/soak, not by every bench including this file
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/PID/stat");
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')').expect("stat format").1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // The kernel's USER_HZ is 100 on every Linux this runs on.
        Duration::from_millis(ticks * 10)
    }

    /// `GET /metrics`, parsed to `series -> value`.
    pub fn metrics(&self) -> Metrics {
        let mut stream = TcpStream::connect(self.addr).expect("connects for /metrics");
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("sends");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("reads /metrics");
        let body = text.split_once("\r\n\r\n").expect("an HTTP answer").1;
        let series = body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect();
        Metrics(series)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(db) = self.database.take() {
            db.drop_blocking();
        }
    }
}

/// One scrape of `/metrics`.
#[derive(Debug, Clone)]
pub struct Metrics(HashMap<String, f64>);

impl Metrics {
    /// The sum of every series of `name` whose labels contain `label` (e.g.
    /// `endpoint="getGJMessages20.php"`; `""` for all).
    pub fn sum(&self, name: &str, label: &str) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                k.split_once('{').map_or(k.as_str(), |(n, _)| n) == name && k.contains(label)
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Inbox fetches the bot made (all outcomes).
    pub fn inbox_fetches(&self) -> f64 {
        self.sum(
            "dashauth_gd_requests_total",
            "endpoint=\"getGJMessages20.php\"",
        )
    }

    /// GD requests the bot made, all endpoints.
    pub fn gd_requests(&self) -> f64 {
        self.sum("dashauth_gd_requests_total", "")
    }
}
