//! DashAuth wire types (protocol.md sections 1–4), shared by the client and the server so
//! the two ends cannot drift. Identifiers are parsed into types at the edge.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Prefix of the GD message subject that proves a challenge.
pub const SUBJECT_PREFIX: &str = "auth-";
/// Largest allowed distance between a nonce's timestamp and the server's clock.
pub const NONCE_WINDOW_MS: i64 = 30_000;
/// Longest `wait_ms` the server honours on `challenge_complete`.
pub const MAX_COMPLETE_WAIT_MS: u64 = 10_000;
/// Largest request body the server accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest device name in a handshake, in characters.
pub const MAX_DEVICE_NAME_CHARS: usize = 64;
/// Longest platform string in a handshake, in characters.
pub const MAX_PLATFORM_CHARS: usize = 32;
/// A client rotates its device certificate when this little validity remains.
pub const ROTATE_BEFORE_MS: i64 = 90 * 24 * 3600 * 1000;
/// Scheme word of a nonce `Authorization` header.
pub const NONCE_SCHEME: &str = "Nonce";
/// Scheme word of a token `Authorization` header.
pub const BEARER_SCHEME: &str = "Bearer";

/// The subject that proves `challenge`: `auth-{challenge}`.
pub fn challenge_subject(challenge: &str) -> String {
    format!("{SUBJECT_PREFIX}{challenge}")
}

/// Route paths, relative to the server's base URL.
pub mod route {
    /// `GET request_challenge/{account_id}`.
    pub fn request_challenge(account_id: super::AccountId) -> String {
        format!("request_challenge/{account_id}")
    }
    /// `GET challenge_complete/{id}?wait_ms=N`.
    pub fn challenge_complete(id: &super::Uuid, wait_ms: Option<u64>) -> String {
        match wait_ms {
            Some(ms) => format!("challenge_complete/{id}?wait_ms={ms}"),
            None => format!("challenge_complete/{id}"),
        }
    }
    /// `GET whoami`.
    pub const WHOAMI: &str = "whoami";
    /// `POST token/revoke`.
    pub const TOKEN_REVOKE: &str = "token/revoke";
    /// `POST token/exchange`.
    pub const TOKEN_EXCHANGE: &str = "token/exchange";
    /// `POST client/auth/handshake`.
    pub const HANDSHAKE: &str = "client/auth/handshake";
    /// `POST client/auth/rotate`.
    pub const ROTATE: &str = "client/auth/rotate";
    /// `POST client/auth/session`.
    pub const SESSION: &str = "client/auth/session";
    /// `GET client/me`.
    pub const ME: &str = "client/me";
    /// `DELETE client/devices/{device_id}`.
    pub fn device(id: &super::Uuid) -> String {
        format!("client/devices/{id}")
    }
}

/// Joins a base URL (possibly with a path prefix and a trailing `/`) and a route.
pub fn join_url(base: &str, route: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        route.trim_start_matches('/')
    )
}

/// The `{success, message, data}` envelope of every server response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Whether the request succeeded.
    pub success: bool,
    /// Human-readable reason on failure; empty on success.
    #[serde(default)]
    pub message: String,
    /// The payload; `null` on failure.
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    /// A successful envelope around `data`.
    pub fn ok(data: T) -> Self {
        Envelope {
            success: true,
            message: String::new(),
            data: Some(data),
        }
    }

    /// A failed envelope with a reason.
    pub fn error(message: impl Into<String>) -> Self {
        Envelope {
            success: false,
            message: message.into(),
            data: None,
        }
    }
}

/// The `data` of a 401 for a pending challenge (protocol.md section 2): when the bot next
/// reads its inbox, so a client can show an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingData {
    /// Milliseconds until the bot's next inbox read.
    pub next_check_ms: u64,
}

/// What a response body says, once the envelope (or its absence) is accounted for.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload<T> {
    /// `success: true` with data, or a bare data object.
    Data(T),
    /// `success: false`, with the server's reason.
    Failure(String),
}

/// Reads a response body that is either an envelope or a bare `data` value (some servers
/// omit the envelope). `success: false` is a failure whatever the data says.
pub fn parse_payload<T: DeserializeOwned>(body: &str) -> Result<Payload<T>, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("response is not JSON: {e}"))?;
    let is_envelope = value
        .as_object()
        .is_some_and(|o| o.get("success").is_some_and(serde_json::Value::is_boolean));
    if !is_envelope {
        return serde_json::from_value(value)
            .map(Payload::Data)
            .map_err(|e| format!("unexpected response: {e}"));
    }
    let envelope: Envelope<serde_json::Value> =
        serde_json::from_value(value).map_err(|e| format!("malformed envelope: {e}"))?;
    if !envelope.success {
        return Ok(Payload::Failure(envelope.message));
    }
    let data = envelope.data.unwrap_or(serde_json::Value::Null);
    serde_json::from_value(data)
        .map(Payload::Data)
        .map_err(|e| format!("unexpected data: {e}"))
}

/// A GD account id: 1 ..= 2147483647.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct AccountId(u32);

impl AccountId {
    /// The largest GD account id (GD stores them as a positive i32).
    pub const MAX: u32 = i32::MAX as u32;

    /// Checks the range.
    pub fn new(id: u32) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&id) {
            Ok(AccountId(id))
        } else {
            Err(format!("account id {id} is out of range 1..={}", Self::MAX))
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for AccountId {
    type Error = String;
    fn try_from(id: u32) -> Result<Self, String> {
        AccountId::new(id)
    }
}

impl From<AccountId> for u32 {
    fn from(id: AccountId) -> u32 {
        id.0
    }
}

impl FromStr for AccountId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account id {s:?} is not a decimal number"));
        }
        let n: u32 = s
            .parse()
            .map_err(|_| format!("account id {s:?} is out of range"))?;
        AccountId::new(n)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A UUID, printed lowercase and hyphenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uuid([u8; 16]);

impl Uuid {
    /// A version 4 UUID from 16 random bytes (the caller supplies CSPRNG output).
    pub fn new_v4(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl FromStr for Uuid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{:?} is not a hyphenated UUID", truncate(s, 64));
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(bad());
        }
        let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
        if hex.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let h = (pair[0] as char).to_digit(16).ok_or_else(bad)?;
            let l = (pair[1] as char).to_digit(16).ok_or_else(bad)?;
            out[i] = (h * 16 + l) as u8;
        }
        Ok(Uuid(out))
    }
}

impl TryFrom<String> for Uuid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Uuid> for String {
    fn from(u: Uuid) -> String {
        u.to_string()
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Shortens untrusted text before it goes into an error message.
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Whether `s` is a valid challenge: 16–32 characters of `[A-Za-z0-9]`.
pub fn is_valid_challenge(s: &str) -> bool {
    (16..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `data` of `request_challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeData {
    /// The server's bot: the GD message goes to this account.
    pub bot_account_id: u32,
    /// The random challenge; the subject is `auth-{challenge}`.
    pub challenge: String,
    /// Id to poll `challenge_complete` with.
    pub id: Uuid,
}

/// `data` of `whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The verified GD account.
    pub account_id: u32,
    /// When the token expires, UNIX ms.
    pub expires_at: i64,
    /// The audience a login token is bound to (since 0.2; absent from older servers).
    #[serde(default)]
    pub audience: Option<String>,
    /// The GD username the bot saw in the verifying message, if known.
    #[serde(default)]
    pub gd_username: Option<String>,
    /// The GD user id the bot saw in the verifying message, if known.
    #[serde(default)]
    pub gd_user_id: Option<u32>,
}

/// Body of `client/auth/handshake`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeRequest {
    /// A challenge of this server whose GD message the bot has seen; the handshake
    /// consumes it. Absent only in the 0.1 form, which servers refuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<Uuid>,
    /// The device's public key (RSA, P-256 or Ed25519), SPKI PEM.
    pub public_key: String,
    /// The new key's signature (standard base64) over `dashauth-enroll:{challenge_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// A name the player recognises, at most 64 characters.
    pub name: String,
    /// e.g. `windows`, at most 32 characters.
    pub platform: String,
}

/// Body of `client/auth/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateRequest {
    /// The device's new public key (any supported type), SPKI PEM.
    pub public_key: String,
    /// The new key's signature (standard base64) over `dashauth-rotate:{device_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

/// `data` of `client/auth/handshake`: the new device and a first session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledDevice {
    /// The device id, certificate, CA certificate and expiry.
    #[serde(flatten)]
    pub certificate: DeviceCertificate,
    /// The account the GD message proved.
    pub account_id: u32,
    /// A session token of the new device.
    pub session_token: String,
    /// When the session token expires, UNIX ms.
    pub session_expires_at: i64,
}

/// `data` of `client/auth/handshake` and `client/auth/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// The registered device.
    pub device_id: Uuid,
    /// The device certificate, X.509 PEM, CN = device id.
    pub certificate: String,
    /// The server's CA certificate, X.509 PEM.
    pub ca_certificate: String,
    /// When the certificate expires, UNIX ms.
    pub expires_at: i64,
}

/// `data` of `client/auth/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// A bearer token for `whoami` and device routes.
    pub session_token: String,
    /// When it expires, UNIX ms.
    pub expires_at: i64,
}

/// Body of `token/exchange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRequest {
    /// The third-party service the access token is for.
    pub audience: String,
}

/// `data` of `token/exchange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenData {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime, seconds.
    pub expires_in: i64,
    /// Expiry, UNIX ms.
    pub expires_at: i64,
}

/// One device in `client/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: Uuid,
    /// What the player called it.
    pub name: String,
    /// e.g. `windows`.
    pub platform: String,
    /// `rsa`, `p256` or `ed25519`.
    pub key_type: String,
    /// When it enrolled, UNIX ms.
    pub created_at: i64,
    /// When it last authenticated with a nonce, UNIX ms.
    pub last_used_at: Option<i64>,
    /// When its certificate expires, UNIX ms.
    pub expires_at: i64,
    /// Whether it is the device making the request.
    pub current: bool,
}

/// `data` of `GET client/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// Every active device of the account.
    pub devices: Vec<DeviceInfo>,
}

/// `data` of `client/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeData {
    /// The device's account.
    pub account_id: u32,
    /// The device.
    pub device_id: Uuid,
}

/// The value of `Authorization: Nonce <device_id> <timestamp_ms> <signature>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceHeader {
    /// The registered device.
    pub device_id: Uuid,
    /// UNIX ms; the signed message is its ASCII decimal form.
    pub timestamp_ms: i64,
    /// Standard base64 (padded) PKCS#1 v1.5 SHA-256 signature.
    pub signature: String,
}

impl NonceHeader {
    /// The bytes a nonce signature covers.
    pub fn signed_message(timestamp_ms: i64) -> String {
        timestamp_ms.to_string()
    }
}

impl fmt::Display for NonceHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{NONCE_SCHEME} {} {} {}",
            self.device_id, self.timestamp_ms, self.signature
        )
    }
}

impl FromStr for NonceHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split_ascii_whitespace();
        let (Some(scheme), Some(id), Some(ts), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err("expected `Nonce <device_id> <timestamp_ms> <signature>`".into());
        };
        if !scheme.eq_ignore_ascii_case(NONCE_SCHEME) {
            return Err(format!("expected the {NONCE_SCHEME} scheme"));
        }
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err("timestamp_ms is not a decimal number".into());
        }
        Ok(NonceHeader {
            device_id: id.parse()?,
            timestamp_ms: ts.parse().map_err(|_| "timestamp_ms is out of range")?,
            signature: sig.to_string(),
        })
    }
}

/// Why the server refused a nonce. The 401 message starts with [`NonceRejection::code`]
/// so that clients can tell the cases apart without parsing prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRejection {
    /// The header does not parse.
    Malformed,
    /// No such device.
    UnknownDevice,
    /// The owning account revoked the device.
    RevokedDevice,
    /// The device certificate has expired.
    ExpiredCertificate,
    /// The signature does not verify with the device's current key.
    BadSignature,
    /// The timestamp is outside the window around the server's clock.
    ClockSkew,
    /// This nonce was accepted before.
    Replay,
}

impl NonceRejection {
    /// Stable machine-readable code, the first word of the 401 message.
    pub fn code(self) -> &'static str {
        match self {
            NonceRejection::Malformed => "malformed_nonce",
            NonceRejection::UnknownDevice => "unknown_device",
            NonceRejection::RevokedDevice => "revoked_device",
            NonceRejection::ExpiredCertificate => "expired_certificate",
            NonceRejection::BadSignature => "bad_signature",
            NonceRejection::ClockSkew => "clock_skew",
            NonceRejection::Replay => "replayed_nonce",
        }
    }

    /// Every variant, for metrics labels.
    pub const ALL: [NonceRejection; 7] = [
        NonceRejection::Malformed,
        NonceRejection::UnknownDevice,
        NonceRejection::RevokedDevice,
        NonceRejection::ExpiredCertificate,
        NonceRejection::BadSignature,
        NonceRejection::ClockSkew,
        NonceRejection::Replay,
    ];
}

/// The 401 message for a nonce outside the window: says it is clock skew and gives the
/// server's time, which [`parse_clock_skew`] reads back.
pub fn clock_skew_message(server_now_ms: i64, timestamp_ms: i64) -> String {
    format!(
        "{}: the request timestamp {timestamp_ms} is {} ms away from the server time; \
         server_time_ms={server_now_ms}; allowed ±{NONCE_WINDOW_MS} ms. Check the device clock.",
        NonceRejection::ClockSkew.code(),
        (server_now_ms - timestamp_ms).abs()
    )
}

/// If `message` is a clock-skew rejection, the server time it reports (if any).
pub fn parse_clock_skew(message: &str) -> Option<Option<i64>> {
    if !message.starts_with(NonceRejection::ClockSkew.code()) {
        return None;
    }
    // Ours writes `server_time_ms=<ms>`; protocol.md's wording is `server time is <ms>`.
    let after = message
        .split_once("server_time_ms=")
        .or_else(|| message.split_once("server time is "));
    let time = after.and_then(|(_, rest)| {
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    });
    Some(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_range_is_positive_i32() {
        assert!("0".parse::<AccountId>().is_err());
        assert!("2147483648".parse::<AccountId>().is_err());
        assert!("-5".parse::<AccountId>().is_err());
        assert!("+5".parse::<AccountId>().is_err());
        assert_eq!(
            "2147483647".parse::<AccountId>().map(AccountId::get),
            Ok(2147483647)
        );
    }

    #[test]
    fn uuid_round_trips_lowercase() {
        let id: Uuid = "0B5F4C5E-7A55-4A8E-9D7B-3C2A1F0E9D8C"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.to_string(), "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c");
        assert!("0b5f4c5e7a554a8e9d7b3c2a1f0e9d8c".parse::<Uuid>().is_err());
        assert!(
            "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8g"
                .parse::<Uuid>()
                .is_err()
        );
        let v4 = Uuid::new_v4([0xff; 16]).to_string();
        assert_eq!(&v4[14..15], "4");
        assert_eq!(&v4[19..20], "b");
    }

    #[test]
    fn bare_data_and_envelopes_are_both_accepted() {
        let bare: Payload<WhoAmI> =
            parse_payload(r#"{"account_id":5,"expires_at":1}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bare,
            Payload::Data(WhoAmI {
                account_id: 5,
                expires_at: 1,
                audience: None,
                gd_username: None,
                gd_user_id: None,
            })
        );
        let failed: Payload<WhoAmI> = parse_payload(
            r#"{"success":false,"message":"nope","data":{"account_id":5,"expires_at":1}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failed, Payload::Failure("nope".into()));
        let token: Payload<String> = parse_payload(r#"{"success":true,"message":"","data":"tok"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(token, Payload::Data("tok".into()));
        assert!(parse_payload::<String>("<html>").is_err());
    }

    #[test]
    fn nonce_header_round_trips() {
        let h: NonceHeader = "Nonce 0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c 1700000000000 abc=="
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.timestamp_ms, 1_700_000_000_000);
        assert_eq!(
            h.to_string(),
            "Nonce 0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c 1700000000000 abc=="
        );
        assert!("Nonce x 1 s".parse::<NonceHeader>().is_err());
        assert!("Bearer abc".parse::<NonceHeader>().is_err());
    }

    #[test]
    fn clock_skew_message_carries_server_time() {
        let m = clock_skew_message(1_700_000_060_000, 1_700_000_000_000);
        assert_eq!(parse_clock_skew(&m), Some(Some(1_700_000_060_000)));
        assert_eq!(parse_clock_skew("bad_signature: x"), None);
        assert_eq!(
            parse_clock_skew("clock_skew: server time is 1700000060000"),
            Some(Some(1_700_000_060_000))
        );
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(
            join_url("http://h/api/v1/", "whoami"),
            "http://h/api/v1/whoami"
        );
        assert_eq!(join_url("http://h", "/whoami"), "http://h/whoami");
    }
}
