//! Several server processes on one PostgreSQL database (protocol.md section 8): any
//! instance answers any route, a validation on one completes a long poll on another, a
//! nonce accepted by one is refused by all, revocations hold everywhere, and when the
//! instance polling the bot dies another takes the bot over.
//!
//! Each test creates and drops its own database on the server named by
//! `DASHAUTH_TEST_DATABASE_URL`; without it the tests say they were skipped (and fail
//! when `DASHAUTH_REQUIRE_POSTGRES=1`, as in CI).

mod server_support;

use dashauth::http::Method;
use dashauth::server::ServerHandle;
use dashauth::server::store::testing::TestDatabase;
use server_support::process::{Options, Remote, ServerProcess};
use server_support::*;
use std::time::Duration;

const BOT: (u32, &str) = (2_000_000_002, "b07b07b07b07b07b07b07b07b07b07b07b07b07c");
const POLL_MS: u64 = 200;

fn gd() -> ServerHandle {
    let gd = start_server(|_| {});
    Player::with_gjp2(&gd, BOT.0, BOT.1).create_gd_account();
    gd
}

fn instance(gd: &ServerHandle, db: &TestDatabase) -> ServerProcess {
    ServerProcess::start(&Options {
        data_dir: None,
        database_url: Some(db.url()),
        gd_url: &gd.gd_url(),
        bot: BOT,
        poll_interval_ms: POLL_MS,
    })
}

/// Makes `server`'s bot take the lease: a pending challenge there makes it poll.
fn take_the_bot(server: &Remote, gd: &ServerHandle, account: u32) {
    let (id, code) = server.challenge(account);
    Player::new(gd, account).send_until_accepted(BOT.0, &format!("auth-{code}"));
    server
        .complete_once(&id, 8000)
        .unwrap_or_else(|e| panic!("{e:?}"));
}

#[test]
fn a_validation_seen_by_one_instance_completes_a_long_poll_on_another() {
    let Some(db) = TestDatabase::create_blocking("cross_instance_long_poll") else {
        return;
    };
    let gd = gd();
    let a = instance(&gd, &db);
    let api_a = Remote::of(&a, BOT.0);
    take_the_bot(&api_a, &gd, 5001);
    let b = instance(&gd, &db);
    let api_b = Remote::of(&b, BOT.0);
    // B's bot cannot poll while A holds the lease: A's bot validates, and only the
    // notification can end B's long poll before its wait runs out.
    let (id, code) = api_b.challenge(5002);
    let poll = std::thread::spawn(move || api_b.complete_once(&id, 8000));
    std::thread::sleep(Duration::from_millis(300));
    Player::new(&gd, 5002).send_until_accepted(BOT.0, &format!("auth-{code}"));
    let token = poll.join().unwrap_or_else(|_| panic!("poll thread"));
    let token = token.unwrap_or_else(|e| panic!("the long poll on B did not complete: {e:?}"));
    let (status, _) = api_a.message("whoami", &bearer(&token));
    assert_eq!(status, 200, "a token issued by B works on A");
    drop((a, b));
    db.drop_blocking();
}

#[test]
fn nonces_and_revocations_hold_across_instances() {
    let Some(db) = TestDatabase::create_blocking("nonces_and_revocations") else {
        return;
    };
    let gd = gd();
    let (a, b) = (instance(&gd, &db), instance(&gd, &db));
    let (api_a, api_b) = (Remote::of(&a, BOT.0), Remote::of(&b, BOT.0));
    let (id, code) = api_a.challenge(5101);
    Player::new(&gd, 5101).send_until_accepted(BOT.0, &format!("auth-{code}"));
    let token = api_b
        .complete_once(&id, 8000)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let key = device_key();
    let (status, json) = api_a.enroll(&gd, 5101, &key);
    assert_eq!(status, 200, "{json}");
    let device = json["data"]["device_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let header = nonce(&device, &key, key.next_nonce_timestamp());
    assert_eq!(api_a.message("client/me", &header).0, 200);
    let (status, message) = api_b.message("client/me", &header);
    assert_eq!(status, 401);
    assert!(message.starts_with("replayed_nonce"), "{message}");

    let (status, _) = api_b.call(
        Method::Delete,
        &format!("client/devices/{device}"),
        Some(&bearer(&token)),
        None,
    );
    assert_eq!(status, 200);
    let (status, message) = api_a.message(
        "client/me",
        &nonce(&device, &key, key.next_nonce_timestamp()),
    );
    assert_eq!(status, 401);
    assert!(message.starts_with("revoked_device"), "{message}");

    assert_eq!(
        api_a
            .call(Method::Post, "token/revoke", Some(&bearer(&token)), None)
            .0,
        200
    );
    assert_eq!(api_b.message("whoami", &bearer(&token)).0, 401);
    drop((a, b));
    db.drop_blocking();
}

#[test]
fn another_instance_takes_the_bot_over_when_its_poller_is_killed() {
    let Some(db) = TestDatabase::create_blocking("lease_failover") else {
        return;
    };
    let gd = gd();
    let a = instance(&gd, &db);
    take_the_bot(&Remote::of(&a, BOT.0), &gd, 5201);
    let b = instance(&gd, &db);
    let api_b = Remote::of(&b, BOT.0);
    a.kill();
    let (id, code) = api_b.challenge(5202);
    Player::new(&gd, 5202).send_until_accepted(BOT.0, &format!("auth-{code}"));
    // A's lease runs out three intervals after its last renewal; B's bot then polls.
    let token = api_b.complete_once(&id, 8000);
    assert!(token.is_ok(), "B never took the bot over: {token:?}");
    drop(b);
    db.drop_blocking();
}

/// A TCP relay between the server and PostgreSQL that the test can cut and restore,
/// as a network partition or a database restart would.
struct Relay {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(target: std::net::SocketAddr) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let relay = Relay {
            port,
            open: Default::default(),
            streams: Default::default(),
        };
        relay.open.store(true, std::sync::atomic::Ordering::SeqCst);
        let (open, streams) = (relay.open.clone(), relay.streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !open.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // cut: the connection is dropped at once
                }
                let Ok(upstream) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                for (from, to) in [(&client, &upstream), (&upstream, &client)] {
                    if let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
                if let Ok(mut held) = streams.lock() {
                    held.extend([client, upstream]);
                }
            }
        });
        relay
    }

    /// Refuses new connections and breaks the open ones.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut held) = self.streams.lock() {
            for stream in held.drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the relay's.
    fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (format!("{auth}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
        format!("{scheme}://{auth}127.0.0.1:{}{path}", self.port)
    }
}

/// The host and port of a PostgreSQL URL (TCP only).
fn socket_of(url: &str) -> Option<std::net::SocketAddr> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host_port = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()?
        .next()
}

#[test]
fn a_database_that_goes_away_means_503_and_the_server_recovers_by_itself() {
    let Some(db) = TestDatabase::create_blocking("database_goes_away") else {
        return;
    };
    let target =
        socket_of(db.url()).unwrap_or_else(|| panic!("this test needs a TCP URL: {}", db.url()));
    let relay = Relay::start(target);
    let gd = gd();
    let a = ServerProcess::start(&Options {
        data_dir: None,
        database_url: Some(&relay.url(db.url())),
        gd_url: &gd.gd_url(),
        bot: BOT,
        poll_interval_ms: POLL_MS,
    });
    let api = Remote::of(&a, BOT.0);
    let ready = || api.call(Method::Get, "readyz", None, None).0;
    assert_eq!(ready(), 200);
    api.challenge(5301);

    relay.cut();
    assert_eq!(ready(), 503, "readyz follows the database");
    let (status, json) = api.call(Method::Get, "request_challenge/5302", None, None);
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["success"], false, "{json}");
    let (status, _) = api.call(Method::Get, "healthz", None, None);
    assert_eq!(status, 200, "the process still runs");

    relay.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while ready() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never recovered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    api.challenge(5303);
    drop(a);
    db.drop_blocking();
}

#[test]
fn access_tokens_are_signed_with_one_key_and_revoked_everywhere() {
    let Some(db) = TestDatabase::create_blocking("access_tokens_across_instances") else {
        return;
    };
    let gd = gd();
    let (a, b) = (instance(&gd, &db), instance(&gd, &db));
    let (api_a, api_b) = (Remote::of(&a, BOT.0), Remote::of(&b, BOT.0));
    let key = device_key();
    let (status, json) = api_a.enroll(&gd, 5201, &key);
    assert_eq!(status, 200, "{json}");
    let device = json["data"]["device_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let body = r#"{"audience":"me.mymod"}"#;
    let exchange = |api: &Remote| {
        let header = nonce(&device, &key, key.next_nonce_timestamp());
        let (status, json) = api.call(Method::Post, "token/exchange", Some(&header), Some(body));
        assert_eq!(status, 200, "{json}");
        json["data"]["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (on_a, on_b) = (exchange(&api_a), exchange(&api_b));
    let kid = |t: &str| {
        use base64::Engine;
        let header = t.split('.').next().unwrap_or_default();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap_or_default();
        serde_json::from_slice::<serde_json::Value>(&header).unwrap_or_default()["kid"].clone()
    };
    assert_eq!(
        kid(&on_a),
        kid(&on_b),
        "both instances sign with the shared key"
    );
    let active = |api: &Remote, token: &str| {
        let body = serde_json::json!({ "token": token }).to_string();
        let (status, json) = api.call(Method::Post, "introspect", None, Some(&body));
        assert_eq!(status, 200, "{json}");
        json["active"] == true
    };
    assert!(active(&api_b, &on_a) && active(&api_a, &on_b));
    let header = nonce(&device, &key, key.next_nonce_timestamp());
    let (status, _) = api_b.call(Method::Post, "account/revoke-all", Some(&header), None);
    assert_eq!(status, 200);
    assert!(!active(&api_a, &on_a), "revoke-all on B holds on A at once");
    assert!(!active(&api_a, &on_b));
    drop((a, b));
    db.drop_blocking();
}
