//! Attacks that kept players out before (issue 12, protocol.md section 5), replayed over
//! loopback against a real server: idle connections taking every socket, headers sent
//! slowly, keep-alive connections held idle, and a log reader collecting a player's token.

mod server_support;

use server_support::{Api, Player, start_server, wait_for_token};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Far above every timeout the tests configure: reads that outlast it mean the server
/// kept the connection open.
const WATCH: Duration = Duration::from_secs(5);

/// Whether the server closed `stream` within [`WATCH`] (EOF or reset), without the
/// client sending anything more. Bytes the server sends first (a response) are skipped.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    closed_within(stream, WATCH)
}

fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream
        .set_read_timeout(Some(timeout))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) off a kept-alive
/// connection and returns its status line.
fn read_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(WATCH))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 0, "closed before a response: {data:?}");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length = text[..head_end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if data.len() >= head_end + 4 + length {
            return text.lines().next().unwrap_or_default().to_string();
        }
    }
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: dashauth\r\n\r\n")
}

/// A connection from another loopback address (Linux routes all of 127/8 to `lo`), so
/// the server sees a second client.
fn connect_from(local: [u8; 4], server: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((local, 0)))?;
            socket.connect(server).await
        })
        .and_then(|s| s.into_std())
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .set_nonblocking(false)
        .unwrap_or_else(|e| panic!("{e}"));
    stream
}

#[test]
fn idle_connections_over_the_per_address_cap_are_closed_and_other_clients_are_served() {
    let server = start_server(|c| {
        c.max_connections_per_address = 8;
        c.idle_timeout = Duration::from_secs(60);
        c.header_read_timeout = Duration::from_secs(60);
    });
    // The attacker opens connections and sends nothing, as in the red-team run.
    let mut attacker: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.addr()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    server_support::eventually("the server to refuse connections", || {
        server.metrics().connections_refused >= 12
    });
    // The refusals happened: their EOF is already there, so a short look suffices.
    let closed = attacker
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(200)))
        .filter(|closed| *closed)
        .count();
    assert_eq!(
        closed, 12,
        "the server keeps exactly 8 connections of one address"
    );
    assert_eq!(server.metrics().connections_refused, 12);

    let mut other = connect_from([127, 0, 0, 2], server.addr());
    other
        .write_all(get_request("/request_challenge/9001").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_response(&mut other), "HTTP/1.1 200 OK");

    // Freed shares are given back: once the attacker lets go, it may connect again.
    drop(attacker);
    // The server notices the closes asynchronously: until then a connection is still
    // refused (reset), which is not yet an answer.
    let http = dashauth::http::Http::new(Duration::from_secs(5));
    let url = format!("{}/request_challenge/9002", server.base_url());
    server_support::eventually("the attacker's shares to be freed", || {
        http.send(dashauth::http::Method::Get, &url, None, None)
            .is_ok_and(|r| r.status == 200)
    });
}

#[test]
fn keep_alive_connections_are_closed_once_idle() {
    let server = start_server(|c| {
        c.idle_timeout = Duration::from_millis(300);
        c.header_read_timeout = Duration::from_secs(60);
    });
    let mut stream = TcpStream::connect(server.addr()).unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(get_request("/request_challenge/9003").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_response(&mut stream), "HTTP/1.1 200 OK");
    assert!(
        closed_by_server(&mut stream),
        "an idle keep-alive connection stayed open"
    );
}

#[test]
fn a_long_poll_in_flight_is_not_idle() {
    let server = start_server(|c| {
        c.idle_timeout = Duration::from_millis(200);
        c.header_read_timeout = Duration::from_secs(60);
    });
    let api = Api::new(&server);
    let (id, _) = api.challenge(9004);
    let mut stream = TcpStream::connect(server.addr()).unwrap_or_else(|e| panic!("{e}"));
    let path = format!("/challenge_complete/{id}?wait_ms=1500");
    stream
        .write_all(get_request(&path).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    // The poll outlasts the idle timeout several times and still gets its answer.
    assert_eq!(read_response(&mut stream), "HTTP/1.1 401 Unauthorized");
}

#[test]
fn a_header_sent_too_slowly_is_cut_off() {
    let server = start_server(|c| {
        c.header_read_timeout = Duration::from_millis(300);
        c.idle_timeout = Duration::from_secs(60);
    });
    let mut stream = TcpStream::connect(server.addr()).unwrap_or_else(|e| panic!("{e}"));
    // Half a request line, then nothing: a slowloris client.
    stream
        .write_all(b"GET /request_challenge/9005 HTTP/1.1\r\nHost: da")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        closed_by_server(&mut stream),
        "a half-sent header held the connection"
    );
}

#[cfg(unix)]
fn nofile_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

#[cfg(unix)]
#[test]
fn the_descriptor_soft_limit_is_raised_to_the_hard_limit_at_start() {
    // Lowered first, so that the test shows the raise wherever soft and hard start
    // equal (half the hard limit still leaves the other tests here plenty).
    let before = nofile_limit();
    let lowered = libc::rlimit {
        rlim_cur: before.rlim_max / 2,
        rlim_max: before.rlim_max,
    };
    // SAFETY: setrlimit reads one rlimit through a valid pointer to a local.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    assert!(nofile_limit().rlim_cur < before.rlim_max);
    let _server = start_server(|_| {});
    let after = nofile_limit();
    assert_eq!(after.rlim_cur, after.rlim_max, "soft limit below hard");
}

/// A `dashauth-server` process whose log (stderr) is collected line by line, as a log
/// shipper would; killed when dropped.
struct LoggedServer {
    child: std::process::Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LoggedServer {
    fn start() -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        // A data directory of its own: the default is ./dashauth-data.
        let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("log-reader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let mut child = Command::new(env!("CARGO_BIN_EXE_dashauth-server"))
            .args(["--listen", "127.0.0.1:0", "--poll-interval-ms", "50"])
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{e}"));
        let base = line.trim().replace("listening on ", "");
        LoggedServer { child, base, log }
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every UUID-shaped word of `text`: what a log reader would try.
fn uuids_in(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| w.len() == 36 && w.matches('-').count() == 4)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_log_reader_cannot_collect_a_players_token() {
    use dashauth::gd_client::GdClient;
    use dashauth::http::{Http, Method};
    let server = LoggedServer::start();
    let http = Http::new(Duration::from_secs(10));
    let get = |path: &str| {
        http.send(Method::Get, &format!("{}{path}", server.base), None, None)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let challenge: serde_json::Value =
        serde_json::from_str(&get("/request_challenge/9010").body).unwrap_or_default();
    let id = challenge["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let code = challenge["data"]["challenge"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bot = challenge["data"]["bot_account_id"]
        .as_u64()
        .unwrap_or_default();
    assert!(!id.is_empty() && !code.is_empty(), "{challenge}");

    let player = GdClient::new(
        Http::new(Duration::from_secs(10)),
        &format!("{}/database", server.base),
    );
    let gjp2 = format!("{:040x}", 9010);
    let subject = dashauth::protocol::challenge_subject(&code);
    player
        .upload_message(
            9010,
            &gjp2,
            u32::try_from(bot).unwrap_or_default(),
            &subject,
            "hi",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    server_support::eventually("the bot to validate the challenge", || {
        get("/metrics")
            .body
            .contains("dashauth_challenges_validated_total 1")
    });

    // The challenge is now collectable. The reader tries everything the log offers.
    let log = server.log();
    assert!(!log.contains(&id), "the challenge id is in the log:\n{log}");
    assert!(
        !log.contains(&code),
        "the challenge code is in the log:\n{log}"
    );
    for candidate in uuids_in(&log) {
        let reply = get(&format!("/challenge_complete/{candidate}?wait_ms=0"));
        assert_ne!(reply.status, 200, "{candidate} from the log gave a token");
    }

    let reply = get(&format!("/challenge_complete/{id}?wait_ms=0"));
    assert_eq!(
        reply.status, 200,
        "the player collects the token: {}",
        reply.body
    );
    let log = server.log();
    assert!(!log.contains(&id) && !log.contains(&code), "{log}");
}

/// One request from the loopback address `local` on a fresh connection: the status code
/// and the body.
fn request_from(local: [u8; 4], server: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let mut stream = connect_from(local, server);
    let request = format!("GET {path} HTTP/1.1\r\nHost: dashauth\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{e}"));
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// Issue 12: 7 requests from one address and 1 from another evicted a player's pending
/// challenge, and 400 addresses round-robin kept a player to 1 login in 8. Requests for
/// the account from other addresses must never evict the challenge of the address that
/// is logging in.
#[test]
fn strangers_cannot_evict_the_challenge_of_a_player_logging_in() {
    let server = start_server(|_| {});
    let addr = server.addr();
    let (status, player_challenge) = request_from([127, 0, 0, 2], addr, "/request_challenge/9400");
    assert_eq!(status, 200, "{player_challenge}");
    for n in 0..400u32 {
        let stranger = [127, 1, (n / 200) as u8, (n % 200 + 1) as u8];
        let (status, _) = request_from(stranger, addr, "/request_challenge/9400");
        assert_eq!(status, 200);
    }
    for _ in 0..7 {
        request_from([127, 0, 0, 3], addr, "/request_challenge/9400");
    }
    let field = |k: &str| {
        player_challenge["data"][k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    Player::new(&server, 9400).send_until_accepted(
        server.bot_account_id(),
        &format!("auth-{}", field("challenge")),
    );
    let token = wait_for_token(&Api::new(&server), &field("id"));
    assert!(!token.is_empty(), "the player's login completed");
}

/// Issue 12: 330 requests from 11 addresses filled a 300-challenge cap and everyone got
/// 503 for the challenge lifetime. An address that holds no challenge must still get one.
#[test]
fn a_full_server_still_serves_an_address_that_holds_no_challenge() {
    let server = start_server(|c| c.limits.challenges = 300);
    let addr = server.addr();
    for holder in 0..11u32 {
        for k in 0..30u32 {
            let path = format!("/request_challenge/{}", 9500 + holder * 100 + k);
            let (status, _) = request_from([127, 2, 0, holder as u8 + 1], addr, &path);
            // Past the cap a holder with fewer than the heaviest takes a place from it;
            // the heaviest holder itself is refused.
            assert!(status == 200 || status == 503, "{status}");
        }
    }
    assert!(
        server.metrics().challenges_evicted > 0,
        "the cap was reached"
    );
    let (status, challenge) = request_from([127, 3, 0, 1], addr, "/request_challenge/9999");
    assert_eq!(status, 200, "a newcomer is served: {challenge}");
    let field = |k: &str| {
        challenge["data"][k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    Player::new(&server, 9999).send_until_accepted(
        server.bot_account_id(),
        &format!("auth-{}", field("challenge")),
    );
    assert!(!wait_for_token(&Api::new(&server), &field("id")).is_empty());
    assert!(
        server.metrics().challenges_evicted > 0,
        "room was made by eviction"
    );
}
