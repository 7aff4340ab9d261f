//! Helpers shared by the server integration tests: start a real server on loopback,
//! call its routes over HTTP, and play a GD player against its emulator.
#![allow(dead_code)] // each test binary uses its own subset

pub mod fake_gd;
pub mod process;

use dashauth::gd_client::GdClient;
use dashauth::http::{Http, Method};
use dashauth::keys::DeviceKey;
use dashauth::protocol::{self, NonceHeader, Uuid};
use dashauth::server::{Config, ServerHandle};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Generous bound for "eventually" in functional assertions.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A server with the test defaults (emulator, fast polling) adjusted by `tweak`.
pub fn start_server(tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut config = Config {
        poll_interval: Duration::from_millis(50),
        ..Config::default()
    };
    tweak(&mut config);
    ServerHandle::start(config).unwrap_or_else(|e| panic!("server did not start: {e}"))
}

/// One decoded DashAuth answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub success: bool,
    pub message: String,
    pub data: Value,
}

impl Reply {
    /// `data` as a string (tokens).
    pub fn text(&self) -> String {
        self.data
            .as_str()
            .unwrap_or_else(|| panic!("data is not a string: {self:?}"))
            .to_string()
    }

    /// A string field of `data`.
    pub fn field(&self, key: &str) -> String {
        self.data[key]
            .as_str()
            .unwrap_or_else(|| panic!("data.{key} is not a string: {self:?}"))
            .to_string()
    }

    /// Asserts the status, and that the envelope agrees with it.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "unexpected reply {self:?}");
        assert_eq!(self.success, status == 200, "envelope disagrees: {self:?}");
        self
    }
}

/// The DashAuth routes of one server, over real HTTP.
pub struct Api {
    http: Http,
    base: String,
}

impl Api {
    pub fn new(server: &ServerHandle) -> Self {
        Api {
            http: Http::new(Duration::from_secs(15)),
            base: server.base_url(),
        }
    }

    pub fn call(
        &self,
        method: Method,
        route: &str,
        auth: Option<&str>,
        json: Option<&Value>,
    ) -> Reply {
        let url = protocol::join_url(&self.base, route);
        let body = json.map(Value::to_string);
        let body = body.as_deref().map(|b| ("application/json", b));
        let response = self
            .http
            .send(method, &url, auth, body)
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        parse_reply(route, response)
    }

    /// POSTs a raw (possibly invalid) JSON body.
    pub fn http_raw_post(&self, route: &str, auth: &str, body: &str) -> Reply {
        let url = protocol::join_url(&self.base, route);
        let response = self
            .http
            .send(
                Method::Post,
                &url,
                Some(auth),
                Some(("application/json", body)),
            )
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        parse_reply(route, response)
    }

    pub fn get(&self, route: &str, auth: Option<&str>) -> Reply {
        self.call(Method::Get, route, auth, None)
    }

    pub fn post(&self, route: &str, auth: Option<&str>, json: Option<&Value>) -> Reply {
        self.call(Method::Post, route, auth, json)
    }

    pub fn delete(&self, route: &str, auth: Option<&str>) -> Reply {
        self.call(Method::Delete, route, auth, None)
    }

    /// `request_challenge` → `(id, challenge)`.
    pub fn challenge(&self, account_id: u32) -> (String, String) {
        let reply = self
            .get(&format!("request_challenge/{account_id}"), None)
            .expect(200);
        (reply.field("id"), reply.field("challenge"))
    }

    /// `challenge_complete` with an explicit wait.
    pub fn complete(&self, id: &str, wait_ms: u64) -> Reply {
        self.get(&format!("challenge_complete/{id}?wait_ms={wait_ms}"), None)
    }
}

/// Decodes an envelope; panics if the body is not one.
fn parse_reply(route: &str, response: dashauth::http::Response) -> Reply {
    let envelope: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{route}: not JSON ({e}): {:?}", response.body));
    Reply {
        status: response.status,
        retry_after: response.retry_after_s,
        success: envelope["success"]
            .as_bool()
            .unwrap_or_else(|| panic!("{route}: no envelope: {envelope}")),
        message: envelope["message"].as_str().unwrap_or_default().to_string(),
        data: envelope["data"].clone(),
    }
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A GD player with credentials the emulator will accept (it creates the account).
#[derive(Debug, Clone)]
pub struct Player {
    pub account_id: u32,
    pub gjp2: String,
    gd: GdClient,
}

impl Player {
    pub fn new(server: &ServerHandle, account_id: u32) -> Self {
        Player {
            account_id,
            gjp2: format!("{account_id:040x}"),
            gd: GdClient::new(Http::new(Duration::from_secs(10)), &server.gd_url()),
        }
    }

    /// A player with the given gjp2 (the bot account of another server, say).
    pub fn with_gjp2(server: &ServerHandle, account_id: u32, gjp2: &str) -> Self {
        Player {
            gjp2: gjp2.to_string(),
            ..Player::new(server, account_id)
        }
    }

    /// The GD client the player uses, for inbox and outbox checks.
    pub fn gd(&self) -> &GdClient {
        &self.gd
    }

    /// Makes the emulator create the account (on its first authenticated request), so
    /// that others can message it.
    pub fn create_gd_account(&self) -> &Self {
        self.gd
            .get_messages(self.account_id, &self.gjp2, 0, false)
            .unwrap_or_else(|e| panic!("account {}: {e}", self.account_id));
        self
    }

    /// Sends a GD message, once.
    pub fn send(&self, to: u32, subject: &str) -> Result<(), dashauth::gd::GdError> {
        self.gd
            .upload_message(self.account_id, &self.gjp2, to, subject, "DashAuth test")
    }

    /// Sends a GD message, retrying through injected faults, as a careful client does.
    pub fn send_until_accepted(&self, to: u32, subject: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.send(to, subject) {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => eprintln!("retrying upload: {e}"),
                Err(e) => panic!("upload never accepted: {e}"),
            }
        }
    }
}

/// The whole challenge flow for `player`; returns the token.
pub fn login(api: &Api, server: &ServerHandle, player: &Player) -> String {
    let (id, challenge) = api.challenge(player.account_id);
    player.send_until_accepted(
        server.bot_account_id(),
        &protocol::challenge_subject(&challenge),
    );
    wait_for_token(api, &id)
}

/// Polls `challenge_complete` until it gives a token (it long-polls, so few calls).
pub fn wait_for_token(api: &Api, id: &str) -> String {
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        let reply = api.complete(id, 2000);
        if reply.status == 200 {
            return reply.text();
        }
        assert_eq!(reply.status, 401, "unexpected reply {reply:?}");
        assert!(Instant::now() < deadline, "challenge {id} never validated");
    }
}

/// Waits until `condition` holds, or fails after [`PATIENCE`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `Authorization: Nonce …` for `device`, signed by `key` at `timestamp_ms`.
pub fn nonce(device: &str, key: &DeviceKey, timestamp_ms: i64) -> String {
    let device_id: Uuid = device.parse().unwrap_or_else(|e| panic!("{e}"));
    NonceHeader {
        device_id,
        timestamp_ms,
        signature: key.sign_nonce(timestamp_ms).expect("signs"),
    }
    .to_string()
}

/// A fresh 2048-bit device key.
pub fn device_key() -> DeviceKey {
    DeviceKey::generate().unwrap_or_else(|e| panic!("{e}"))
}

/// The handshake body for `key`.
pub fn handshake_body(key: &DeviceKey) -> Value {
    serde_json::json!({
        "public_key": key.public_pem().unwrap_or_else(|e| panic!("{e}")),
        "name": "Test PC",
        "platform": "linux",
    })
}

/// A logged-in account with one registered device.
pub struct Registered {
    /// The login token the device was registered with.
    pub token: String,
    /// The device id.
    pub device: String,
    /// Its private key.
    pub key: DeviceKey,
    /// The handshake's reply (certificate, CA, expiry).
    pub certificate: Reply,
}

impl Registered {
    /// A nonce timestamped now by the key's monotonic clock: two calls in the same
    /// millisecond would otherwise repeat a timestamp, which the server refuses as a
    /// replay.
    pub fn nonce_now(&self) -> String {
        nonce(&self.device, &self.key, self.key.next_nonce_timestamp())
    }
}

/// Registers a fresh key with `token`'s account (the handshake, expected to succeed).
pub fn handshake(api: &Api, token: &str) -> Registered {
    let key = device_key();
    let certificate = api
        .post(
            "client/auth/handshake",
            Some(&bearer(token)),
            Some(&handshake_body(&key)),
        )
        .expect(200);
    Registered {
        token: token.to_string(),
        device: certificate.field("device_id"),
        key,
        certificate,
    }
}

/// Logs `account_id` in and registers a device for it.
pub fn register(api: &Api, server: &ServerHandle, account_id: u32) -> Registered {
    let token = login(api, server, &Player::new(server, account_id));
    handshake(api, &token)
}
