//! A small HTTP load generator: `connections` keep-alive HTTP/1.1 connections, one thread
//! each, plain `std::net` (write the request, read the head and a Content-Length body),
//! so the generator costs little next to the server it shares two cores with. Every
//! request's latency is recorded.

use crate::stats::{Percentiles, percentiles};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one load run measured.
pub struct LoadResult {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Percentiles,
}

impl LoadResult {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// One keep-alive connection.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).expect("connects");
        stream.set_nodelay(true).expect("nodelay");
        Connection {
            reader: BufReader::new(stream.try_clone().expect("clones the socket")),
            writer: stream,
        }
    }

    /// Sends `request` and reads the answer; the status code.
    fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.writer.write_all(request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok(status)
    }
}

/// Runs `connections` connections against `addr` for `duration` (or until `request`
/// returns `None`), each sending `request(connection, sequence)`.
pub fn run<F>(addr: SocketAddr, connections: usize, duration: Duration, request: F) -> LoadResult
where
    F: Fn(usize, u64) -> Option<Vec<u8>> + Sync,
{
    let stop = AtomicBool::new(false);
    let start = Barrier::new(connections + 1);
    let request = &request;
    let (stop, start) = (&stop, &start);
    let (per_thread, elapsed) = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..connections)
            .map(|c| {
                scope.spawn(move || {
                    let mut connection = Connection::open(addr);
                    let mut latencies = Vec::with_capacity(100_000);
                    let mut errors = 0u64;
                    start.wait();
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let Some(bytes) = request(c, seq) else {
                            stop.store(true, Ordering::Relaxed);
                            break;
                        };
                        seq += 1;
                        let sent = Instant::now();
                        match connection.exchange(&bytes) {
                            Ok(200) => latencies.push(sent.elapsed()),
                            Ok(_) => errors += 1,
                            Err(_) => {
                                errors += 1;
                                connection = Connection::open(addr);
                            }
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        while !stop.load(Ordering::Relaxed) && began.elapsed() < duration {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("load thread"))
            .collect();
        (results, began.elapsed())
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for (latencies, e) in per_thread {
        all.extend(latencies);
        errors += e;
    }
    LoadResult {
        ok: all.len() as u64,
        errors,
        elapsed,
        latency: percentiles(&all),
    }
}

/// `GET path` with `Authorization` if given.
pub fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> Vec<u8> {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").into_bytes()
}

/// `POST path` with a JSON body and `Authorization`.
pub fn post_json(addr: SocketAddr, path: &str, authorization: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A shared, single-use pool of pre-built requests (each nonce may be used once).
pub struct Pool {
    requests: Vec<Vec<u8>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Pool {
    pub fn new(requests: Vec<Vec<u8>>) -> Pool {
        Pool {
            requests,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The next unused request, `None` once all are used.
    pub fn take(&self) -> Option<Vec<u8>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.requests.get(i).cloned()
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }
}
