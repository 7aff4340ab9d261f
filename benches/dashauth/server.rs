//! The server under test: the release `dashauth-server` binary in its own process, with
//! the embedded emulator on a free loopback port, so that neither the library nor the
//! load generator shares a process with it. Its log goes to a file, as in production.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Poll interval the server runs with: the emulator default.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A running server process; killed on drop.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts a server and waits for its `listening on http://ADDR` line.
    pub fn start(name: &str) -> Server {
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
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a socket address");
        Server { child, addr }
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
