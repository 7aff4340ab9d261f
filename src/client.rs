//! The safe, blocking DashAuth client: one DashAuth server plus the GD server the player's
//! verification message goes to. Speaks protocol.md sections 1–4 and nothing else, so it
//! works against any server that follows the public DashAuth spec.
//!
//! A [`Client`] is immutable and cheap to clone; settings are changed by building a new
//! one ([`Client::with_gd_url`], …), which is how the C layer gives each login a snapshot.

use crate::clock::ClockOffset;
use crate::device_store::DeviceStore;
use crate::error::{Error, Result};
use crate::gd::{self, GdError};
use crate::gd_client::GdClient;
use crate::gd_diagnosis::{self, Bounds, Refusal};
use crate::http::{Http, Method, Response};
use crate::protocol::{
    self, AccessTokenData, AccountId, ChallengeData, DeviceCertificate, EnrolledDevice,
    ExchangeRequest, HandshakeRequest, MeData, Payload, RotateRequest, SessionData, Uuid, WhoAmI,
    join_url, route, truncate,
};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// Per-request timeout unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of a whole login unless set otherwise.
pub const DEFAULT_LOGIN_DEADLINE: Duration = Duration::from_secs(60);
/// Longest per-request timeout accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest login deadline accepted.
pub const MAX_LOGIN_DEADLINE: Duration = Duration::from_secs(3600);
/// Longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest `wait_ms` a single [`Client::poll_completion`] asks for by default.
pub const DEFAULT_LONG_POLL: Duration = Duration::from_secs(5);
/// The body of the verification message: tells the player what it is.
pub const MESSAGE_BODY: &str =
    "DashAuth account verification sent by a mod. You can safely delete this message.";

/// A bearer token (login token or session token): 1–4096 visible ASCII characters, so
/// it can go into an `Authorization` header as is.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Longest token accepted.
    pub const MAX_BYTES: usize = 4096;

    /// Checks the form of a token.
    pub fn parse(s: &str) -> Result<Self> {
        if !is_visible_ascii(s, Self::MAX_BYTES) {
            return Err(Error::InvalidArgument(format!(
                "a token is 1–{} visible ASCII characters",
                Self::MAX_BYTES
            )));
        }
        Ok(Token(s.to_string()))
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Authorization` value: `Bearer <token>`.
    pub fn bearer(&self) -> String {
        format!("{} {}", protocol::BEARER_SCHEME, self.0)
    }
}

/// 1 to `max_bytes` visible ASCII characters: what fits an HTTP header or form field
/// as is, with nothing to escape.
fn is_visible_ascii(s: &str, max_bytes: usize) -> bool {
    !s.is_empty() && s.len() <= max_bytes && s.bytes().all(|b| b.is_ascii_graphic())
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<secret>)")
    }
}

/// The player's GD credential (`sha1(password + salt)` as hex), sent only to GD.
#[derive(Clone, PartialEq, Eq)]
pub struct Gjp2(String);

impl Gjp2 {
    /// Longest gjp2 accepted (GD's is 40 hex digits; private servers vary a little).
    pub const MAX_BYTES: usize = 256;

    /// Checks the form of a gjp2: 1–256 visible ASCII characters.
    pub fn parse(s: &str) -> Result<Self> {
        if !is_visible_ascii(s, Self::MAX_BYTES) {
            return Err(Error::InvalidArgument(format!(
                "gjp2 is 1–{} visible ASCII characters (GD's is 40 hex digits)",
                Self::MAX_BYTES
            )));
        }
        Ok(Gjp2(s.to_string()))
    }

    /// The credential text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Gjp2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Gjp2(<secret>)")
    }
}

/// A challenge from `request_challenge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The account the GD message goes to.
    pub bot_account_id: AccountId,
    /// The random text; the subject is `auth-{challenge}`.
    pub challenge: String,
    /// The id `challenge_complete` is polled with.
    pub id: Uuid,
}

impl Challenge {
    /// Longest challenge text accepted from a server (the spec says 16–32).
    pub const MAX_CHARS: usize = 64;

    fn from_data(data: ChallengeData) -> Result<Self> {
        let bot_account_id = AccountId::new(data.bot_account_id)
            .map_err(|e| Error::Protocol(format!("bot_account_id: {e}")))?;
        let text = &data.challenge;
        // Lenient on length (other servers may differ) but strict on the alphabet: the
        // text goes into a GD subject and a C string.
        if text.is_empty()
            || text.len() > Self::MAX_CHARS
            || !text.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::Protocol(format!(
                "challenge {:?} is not 1–{} letters and digits",
                truncate(text, 40),
                Self::MAX_CHARS
            )));
        }
        Ok(Challenge {
            bot_account_id,
            challenge: data.challenge,
            id: data.id,
        })
    }

    /// The GD message subject that proves this challenge.
    pub fn subject(&self) -> String {
        protocol::challenge_subject(&self.challenge)
    }
}

/// What a long poll on a challenge (`challenge_complete`, `client/auth/handshake`) said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled<T> {
    /// The bot has not seen the message yet.
    Pending {
        /// Milliseconds until the bot next reads its inbox, when the server said.
        next_check_ms: Option<u64>,
    },
    /// Done.
    Ready(T),
}

/// What `challenge_complete` said: pending, or the token (now consumed on the server).
pub type Completion = Polled<Token>;

/// The blocking client. See the module docs.
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    gd_url: String,
    timeout: Duration,
    login_deadline: Duration,
    http: Http,
    /// Shared by every snapshot: what one request learns, the next one uses.
    clock: ClockOffset,
    /// Where the one-call sign-in keeps the devices it enrols.
    devices: DeviceStore,
}

impl Client {
    /// A client for the DashAuth server at `base_url` (https, or http on loopback and private networks), with
    /// the public GD servers and default timeouts.
    pub fn new(base_url: &str) -> Result<Self> {
        let base_url = check_url(base_url, "base_url", true)?;
        Ok(Client {
            base_url,
            gd_url: gd::DEFAULT_GD_URL.to_string(),
            timeout: DEFAULT_TIMEOUT,
            login_deadline: DEFAULT_LOGIN_DEADLINE,
            http: Http::new(DEFAULT_TIMEOUT),
            clock: ClockOffset::default(),
            devices: DeviceStore::default(),
        })
    }

    /// The same client with another GD database URL (a private server, the emulator).
    pub fn with_gd_url(&self, gd_url: &str) -> Result<Self> {
        let gd_url = check_url(gd_url, "gd_url", false)?;
        Ok(Client {
            gd_url,
            ..self.clone()
        })
    }

    /// The same client with another per-request timeout (1 ms ..= 600 s).
    pub fn with_timeout(&self, timeout: Duration) -> Result<Self> {
        check_duration(timeout, MAX_TIMEOUT, "timeout")?;
        Ok(Client {
            timeout,
            http: Http::new(timeout),
            ..self.clone()
        })
    }

    /// The same client with another login deadline (1 ms ..= 1 h).
    pub fn with_login_deadline(&self, deadline: Duration) -> Result<Self> {
        check_duration(deadline, MAX_LOGIN_DEADLINE, "login deadline")?;
        Ok(Client {
            login_deadline: deadline,
            ..self.clone()
        })
    }

    /// The DashAuth server's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The GD database URL, without a trailing `/`.
    pub fn gd_url(&self) -> &str {
        &self.gd_url
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The deadline of a whole login.
    pub fn login_deadline(&self) -> Duration {
        self.login_deadline
    }

    /// The same client keeping its devices in the credential store file at `path`,
    /// shared with every process and mod that names it (see [`crate::credentials`]).
    /// Checks that the file's directory can hold it.
    pub fn with_credential_store(&self, path: &std::path::Path) -> Result<Self> {
        Ok(self.with_device_store(DeviceStore::file(path)?))
    }

    /// The same client keeping its devices in `devices`.
    pub fn with_device_store(&self, devices: DeviceStore) -> Self {
        Client {
            devices,
            ..self.clone()
        }
    }

    /// Where the one-call sign-in keeps devices.
    pub fn devices(&self) -> &DeviceStore {
        &self.devices
    }

    /// The offset between the DashAuth server's clock and this device's, learned from its
    /// answers (server − local, ms; 0 until learned).
    pub fn clock(&self) -> &ClockOffset {
        &self.clock
    }

    /// `GET request_challenge/{account_id}`.
    pub fn request_challenge(&self, account_id: AccountId) -> Result<Challenge> {
        let response = self.send(
            Method::Get,
            &route::request_challenge(account_id),
            None,
            None,
        )?;
        Challenge::from_data(interpret(&response)?)
    }

    /// Sends the verification message from `account_id` to the bot through GD (the only
    /// request that carries `gjp2`, and it goes to GD only). When GD answers `-1`, asks
    /// GD why (at most three more requests, [`crate::gd_diagnosis`]) and reports the
    /// cause: [`Error::GdBadCredentials`], [`Error::GdBotBlocked`],
    /// [`Error::GdMessagesRefused`], [`Error::GdOutboxFull`], or [`Error::GdRejected`]
    /// when it stays unexplained.
    pub fn send_gd_message(
        &self,
        challenge: &Challenge,
        account_id: AccountId,
        gjp2: &Gjp2,
    ) -> Result<()> {
        self.upload_gd_message(challenge, account_id, gjp2)
            .map_err(|e| {
                let bounds = Bounds::per_request(self.timeout);
                self.upload_error(e, challenge, account_id, gjp2, &bounds)
            })
    }

    /// The library error for a failed upload of the verification message: GD's `-1`
    /// diagnosed within `bounds` (see [`crate::gd_diagnosis`]), anything else as is.
    pub(crate) fn upload_error(
        &self,
        e: GdError,
        challenge: &Challenge,
        account_id: AccountId,
        gjp2: &Gjp2,
        bounds: &Bounds<'_>,
    ) -> Error {
        match e {
            GdError::Rejected => {
                let refusal = Refusal {
                    player: account_id,
                    gjp2: gjp2.as_str(),
                    bot: challenge.bot_account_id,
                };
                gd_diagnosis::explain_rejection(&self.gd(), &refusal, bounds)
            }
            other => gd_error(other, challenge.bot_account_id),
        }
    }

    /// [`Self::send_gd_message`] with GD's own error, for callers that decide whether a
    /// failure is worth a retry.
    pub(crate) fn upload_gd_message(
        &self,
        challenge: &Challenge,
        account_id: AccountId,
        gjp2: &Gjp2,
    ) -> std::result::Result<(), GdError> {
        self.gd().upload_message(
            account_id.get(),
            gjp2.as_str(),
            challenge.bot_account_id.get(),
            &challenge.subject(),
            MESSAGE_BODY,
        )
    }

    /// `GET challenge_complete/{id}?wait_ms=N`. `wait_ms` is how long the server may hold
    /// the request; `None` picks the longest that fits in the per-request timeout.
    pub fn poll_completion(&self, challenge_id: &Uuid, wait_ms: Option<u64>) -> Result<Completion> {
        let wait_ms = wait_ms.unwrap_or_else(|| self.default_long_poll_ms());
        let path = route::challenge_complete(challenge_id, Some(wait_ms));
        let response = self.send(Method::Get, &path, None, None)?;
        if response.status == 401 {
            return Ok(Polled::Pending {
                next_check_ms: next_check_ms(&response.body),
            });
        }
        let token: String = interpret(&response).map_err(|e| match e {
            Error::NotFound(m) => Error::NotFound(format!(
                "the challenge expired or was already used; start the login again ({m})"
            )),
            other => other,
        })?;
        let token = Token::parse(&token)
            .map_err(|_| Error::Protocol("the server sent a malformed token".into()))?;
        Ok(Polled::Ready(token))
    }

    /// The longest `wait_ms` that fits in the per-request timeout, at most
    /// [`DEFAULT_LONG_POLL`].
    pub fn default_long_poll_ms(&self) -> u64 {
        let half = u64::try_from(self.timeout.as_millis() / 2).unwrap_or(u64::MAX);
        half.min(duration_ms(DEFAULT_LONG_POLL))
    }

    /// Deletes the verification message from the player's outbox, so verification leaves
    /// no trace. Returns how many messages were deleted. Callers treat failure as harmless.
    pub fn delete_sent_message(
        &self,
        challenge: &Challenge,
        account_id: AccountId,
        gjp2: &Gjp2,
    ) -> Result<usize> {
        let gd = self.gd();
        let subject = challenge.subject();
        let page = gd
            .get_messages(account_id.get(), gjp2.as_str(), 0, true)
            .map_err(|e| gd_error(e, challenge.bot_account_id))?;
        let ids: Vec<u64> = page
            .messages
            .iter()
            .filter(|m| m.subject == subject && m.account_id == challenge.bot_account_id.get())
            .map(|m| m.id)
            .collect();
        gd.delete_messages(account_id.get(), gjp2.as_str(), &ids, true)
            .map_err(|e| gd_error(e, challenge.bot_account_id))?;
        Ok(ids.len())
    }

    /// `GET whoami`: the account and expiry of a token.
    pub fn whoami(&self, token: &Token) -> Result<WhoAmI> {
        let response = self.send(Method::Get, route::WHOAMI, Some(&token.bearer()), None)?;
        interpret(&response)
    }

    /// `POST token/revoke`.
    pub fn revoke_token(&self, token: &Token) -> Result<()> {
        let response = self.send(
            Method::Post,
            route::TOKEN_REVOKE,
            Some(&token.bearer()),
            None,
        )?;
        interpret_empty(&response)
    }

    /// `POST client/auth/handshake?wait_ms=N`: enrols a device by GD proof (the request
    /// names a challenge whose GD message was sent). Pending while the bot has not
    /// seen the message yet; `NotFound` when the challenge is gone.
    pub fn enroll(
        &self,
        request: &HandshakeRequest,
        wait_ms: Option<u64>,
    ) -> Result<Polled<EnrolledDevice>> {
        let wait_ms = wait_ms.unwrap_or_else(|| self.default_long_poll_ms());
        let body = to_json(request)?;
        let path = format!("{}?wait_ms={wait_ms}", route::HANDSHAKE);
        let response = self.send(Method::Post, &path, None, Some(&body))?;
        if response.status == 401 {
            return Ok(Polled::Pending {
                next_check_ms: next_check_ms(&response.body),
            });
        }
        interpret(&response).map(Polled::Ready)
    }

    /// `POST token/exchange`: an access token (JWT) for `audience`, authenticated by
    /// `authorization` (`Bearer <login or session token>`, or a nonce).
    pub fn exchange_token(&self, authorization: &str, audience: &str) -> Result<AccessTokenData> {
        check_audience(audience)?;
        let body = to_json(&ExchangeRequest {
            audience: audience.to_string(),
        })?;
        let response = self.send(
            Method::Post,
            route::TOKEN_EXCHANGE,
            Some(authorization),
            Some(&body),
        )?;
        let data: AccessTokenData = interpret(&response)?;
        if data.access_token.is_empty() || data.access_token.len() > 8192 {
            return Err(Error::Protocol(
                "the server sent a malformed access token".into(),
            ));
        }
        Ok(data)
    }

    /// `POST client/auth/rotate`, authenticated by `nonce` (an `Authorization` value)
    /// signed with the current key.
    pub fn rotate(&self, nonce: &str, request: &RotateRequest) -> Result<DeviceCertificate> {
        let body = to_json(request)?;
        let response = self.send(Method::Post, route::ROTATE, Some(nonce), Some(&body))?;
        interpret(&response)
    }

    /// `POST client/auth/session`, authenticated by `nonce`.
    pub fn session(&self, nonce: &str) -> Result<SessionData> {
        let response = self.send(Method::Post, route::SESSION, Some(nonce), None)?;
        interpret(&response)
    }

    /// `GET client/me`, authenticated by a nonce or `Bearer` session token.
    pub fn me(&self, authorization: &str) -> Result<MeData> {
        let response = self.send(Method::Get, route::ME, Some(authorization), None)?;
        interpret(&response)
    }

    /// `DELETE client/devices/{device_id}` with a token of the owning account.
    pub fn revoke_device(&self, token: &Token, device_id: &Uuid) -> Result<()> {
        let path = route::device(device_id);
        let response = self.send(Method::Delete, &path, Some(&token.bearer()), None)?;
        interpret_empty(&response)
    }

    /// GD as the player: protocol.md section 6 has client-side requests carry the
    /// game's version fields.
    fn gd(&self) -> GdClient {
        GdClient::for_player(self.http.clone(), &self.gd_url)
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        json_body: Option<&str>,
    ) -> Result<Response> {
        let url = join_url(&self.base_url, path);
        let body = json_body.map(|b| ("application/json", b));
        let response = self
            .http
            .send(method, &url, authorization, body)
            .map_err(|e| {
                Error::Network(format!(
                    "could not reach the DashAuth server at {}: {e}; check the internet \
                     connection, and that the server is running at that address",
                    self.base_url
                ))
            })?;
        if let Some(date_ms) = response.date_ms {
            self.clock.learn_from_date(date_ms, crate::clock::now_ms());
        }
        Ok(response)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::InvalidArgument(format!("JSON: {e}")))
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn check_duration(d: Duration, max: Duration, what: &str) -> Result<()> {
    if d.is_zero() || d > max {
        return Err(Error::InvalidArgument(format!(
            "{what} must be 1 ms ..= {} ms",
            max.as_millis()
        )));
    }
    Ok(())
}

/// Checks an absolute http(s) URL with a host and no query or fragment, and returns it
/// without a trailing `/`. `secure_only` refuses plain http to public hosts: tokens must
/// not cross the internet in clear text. Loopback and private-network addresses (a
/// development server on the LAN, `10.0.2.2` from the Android emulator) may use http.
fn check_url(url: &str, what: &str, secure_only: bool) -> Result<String> {
    let bad = |why: &str| Error::InvalidArgument(format!("{what} {:?}: {why}", truncate(url, 80)));
    if url.is_empty() || url.len() > MAX_URL_BYTES {
        return Err(bad(&format!("must be 1–{MAX_URL_BYTES} bytes")));
    }
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("is not a URL"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri.host().unwrap_or("");
    if host.is_empty() {
        return Err(bad("needs http:// or https:// and a host"));
    }
    if url.contains('?') || url.contains('#') {
        return Err(bad("must not have a query or fragment"));
    }
    check_port(uri.authority().map(|a| a.as_str()).unwrap_or("")).map_err(|why| bad(&why))?;
    match scheme {
        "https" => {}
        "http" if !secure_only || is_local(host) => {}
        "http" => {
            return Err(bad(
                "must use https (http is only for localhost and private-network addresses)",
            ));
        }
        _ => return Err(bad("must start with http:// or https://")),
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The http crate accepts any digits (or none) after the host's `:`; a port that cannot
/// be connected to is a bad argument now rather than a network error later.
fn check_port(authority: &str) -> std::result::Result<(), String> {
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let after_host = match host_port.rfind(']') {
        Some(i) => &host_port[i + 1..],
        None => host_port,
    };
    let Some((_, port)) = after_host.rsplit_once(':') else {
        return Ok(());
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("port {port:?} is not a number from 1 to 65535")),
    }
}

/// Loopback, private (RFC 1918, IPv6 unique local) or link-local: never routed over the
/// internet.
fn is_local(host: &str) -> bool {
    use std::net::IpAddr;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// An audience as protocol.md section 2 has it: 1–128 visible ASCII characters.
pub(crate) fn check_audience(audience: &str) -> Result<()> {
    let valid =
        (1..=128).contains(&audience.len()) && audience.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "audience must be 1-128 visible ASCII characters".into(),
        ))
    }
}

/// Reads the data of a 2xx answer, or says why there is none.
fn interpret<T: DeserializeOwned>(response: &Response) -> Result<T> {
    if !(200..300).contains(&response.status) {
        return Err(status_error(response));
    }
    match protocol::parse_payload::<T>(&response.body) {
        Ok(Payload::Data(data)) => Ok(data),
        Ok(Payload::Failure(message)) => Err(Error::Http {
            status: response.status,
            message: failure_message(&message, response.status),
        }),
        Err(e) => Err(Error::Protocol(e)),
    }
}

/// Like [`interpret`] for routes whose data does not matter; an empty body is fine.
fn interpret_empty(response: &Response) -> Result<()> {
    if (200..300).contains(&response.status) && response.body.trim().is_empty() {
        return Ok(());
    }
    interpret::<serde_json::Value>(response).map(drop)
}

/// The error for a non-2xx answer, with the server's reason.
fn status_error(response: &Response) -> Error {
    let message = failure_message(&error_message(&response.body), response.status);
    match response.status {
        401 => match protocol::parse_clock_skew(&message) {
            Some(server_time_ms) => Error::ClockSkew {
                server_time_ms,
                message: format!(
                    "the device clock is off, set it to the correct time and try again ({message})"
                ),
            },
            None => Error::Unauthorized(message),
        },
        403 => Error::Forbidden(message),
        404 => Error::NotFound(message),
        429 => Error::RateLimited {
            retry_after_s: response.retry_after_s,
            message,
        },
        status => Error::Http { status, message },
    }
}

/// The `next_check_ms` of a pending challenge's 401, when the server sent one.
fn next_check_ms(body: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Pending {
        data: Option<protocol::PendingData>,
    }
    let pending: Pending = serde_json::from_str(body).ok()?;
    pending.data.map(|d| d.next_check_ms)
}

/// The envelope's `message`, else the start of the body.
fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Reason {
        message: Option<String>,
    }
    match serde_json::from_str::<Reason>(body) {
        Ok(Reason { message: Some(m) }) => truncate(&m, 300),
        _ => truncate(body.trim(), 120),
    }
}

fn failure_message(message: &str, status: u16) -> String {
    if message.trim().is_empty() {
        format!("the server answered HTTP {status} without a reason")
    } else {
        message.to_string()
    }
}

/// A GD failure, worded for the player: what happened and what to do.
/// The library error, with what the player can do about it, for a GD failure.
pub(crate) fn gd_error(e: GdError, bot: AccountId) -> Error {
    match e {
        GdError::Rejected => Error::GdRejected(format!(
            "Geometry Dash refused the verification message. Refresh your login in the game \
             (Settings > Account > Refresh Login), allow messages from everyone, and make sure \
             you have not blocked account {bot}, then try again."
        )),
        GdError::CdnBlocked(_) | GdError::Blacklisted => Error::GdBlocked(format!(
            "the Geometry Dash servers refuse every request from this network ({}); waiting \
             does not help: try another network (mobile data, no VPN or proxy)",
            e.kind()
        )),
        GdError::RateLimited(detail) => Error::GdUnavailable(format!(
            "the Geometry Dash servers are rate-limiting this network ({detail}); wait a few \
             minutes and try again"
        )),
        GdError::Unavailable(detail) | GdError::HtmlPage(detail) => Error::GdUnavailable(format!(
            "the Geometry Dash servers are not accepting requests right now ({detail}); wait a \
             few minutes and try again"
        )),
        GdError::Malformed(detail) => Error::GdUnavailable(format!(
            "the Geometry Dash servers answered something unexpected ({detail}); wait a few \
             minutes and try again"
        )),
        GdError::Network(detail) => Error::Network(format!(
            "could not reach the Geometry Dash servers: {detail}; check the internet connection"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            retry_after_s: Some(7),
            date_ms: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn http_is_only_for_local_servers() {
        assert!(Client::new("http://127.0.0.1:8080/api/").is_ok());
        assert!(Client::new("http://localhost").is_ok());
        assert!(Client::new("http://[::1]:9").is_ok());
        assert!(Client::new("http://10.0.2.2:8787").is_ok());
        assert!(Client::new("http://192.168.1.20:8787").is_ok());
        assert!(Client::new("http://[fd00::1]:8787").is_ok());
        assert!(Client::new("https://auth.example.com/api/v1").is_ok());
        for bad in [
            "",
            "auth.example.com",
            "http://auth.example.com",
            "http://8.8.8.8",
            "http://[2001:db8::1]",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "http://127.0.0.1:",
            "http://127.0.0.1:1;",
            "http://[::1]:x",
            "ftp://127.0.0.1",
            "https://h/x?y=1",
            "https://",
        ] {
            assert!(
                matches!(Client::new(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        let client = Client::new("http://127.0.0.1:1/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
        assert!(
            client
                .with_gd_url("http://www.boomlings.com/database")
                .is_ok()
        );
    }

    #[test]
    fn settings_are_range_checked() {
        let c = Client::new("http://127.0.0.1:1").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.with_timeout(Duration::ZERO).is_err());
        assert!(
            c.with_timeout(MAX_TIMEOUT + Duration::from_millis(1))
                .is_err()
        );
        assert!(c.with_login_deadline(Duration::ZERO).is_err());
        let c = c
            .with_timeout(Duration::from_millis(3000))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.default_long_poll_ms(), 1500);
    }

    #[test]
    fn statuses_map_to_errors() {
        let env = |m: &str| format!(r#"{{"success":false,"message":"{m}","data":null}}"#);
        assert!(matches!(
            status_error(&response(404, &env("gone"))),
            Error::NotFound(m) if m == "gone"
        ));
        assert!(matches!(
            status_error(&response(429, "")),
            Error::RateLimited {
                retry_after_s: Some(7),
                ..
            }
        ));
        assert!(matches!(
            status_error(&response(401, &env("bad_signature: no"))),
            Error::Unauthorized(_)
        ));
        let skew = protocol::clock_skew_message(2_000_000, 1_000_000);
        assert!(matches!(
            status_error(&response(401, &env(&skew))),
            Error::ClockSkew {
                server_time_ms: Some(2_000_000),
                ..
            }
        ));
        assert!(matches!(
            status_error(&response(502, "<html>")),
            Error::Http { status: 502, .. }
        ));
    }

    #[test]
    fn success_false_fails_whatever_the_status() {
        let r = response(200, r#"{"success":false,"message":"nope","data":"tok"}"#);
        assert!(matches!(
            interpret::<String>(&r),
            Err(Error::Http { status: 200, .. })
        ));
        let bare = response(200, r#"{"account_id":3,"expires_at":9}"#);
        assert_eq!(
            interpret::<WhoAmI>(&bare),
            Ok(WhoAmI {
                account_id: 3,
                expires_at: 9,
                audience: None,
                gd_username: None,
                gd_user_id: None,
            })
        );
        assert!(matches!(
            interpret::<WhoAmI>(&response(200, "<html>")),
            Err(Error::Protocol(_))
        ));
        assert_eq!(interpret_empty(&response(200, "")), Ok(()));
    }

    #[test]
    fn challenges_from_servers_are_checked() {
        let data = |bot, text: &str| ChallengeData {
            bot_account_id: bot,
            challenge: text.to_string(),
            id: Uuid::new_v4([1; 16]),
        };
        assert!(Challenge::from_data(data(5, "abcDEF0123456789")).is_ok());
        assert!(Challenge::from_data(data(0, "abcDEF0123456789")).is_err());
        assert!(Challenge::from_data(data(5, "")).is_err());
        assert!(Challenge::from_data(data(5, "abc def")).is_err());
        assert!(Challenge::from_data(data(5, "a\0b")).is_err());
    }

    #[test]
    fn tokens_and_gjp2_are_checked() {
        assert!(Token::parse("abc-_DEF").is_ok());
        assert!(Token::parse("").is_err());
        assert!(Token::parse("a b").is_err());
        assert!(Token::parse("a\r\nX-Evil: 1").is_err());
        assert!(Token::parse(&"a".repeat(Token::MAX_BYTES + 1)).is_err());
        assert!(Gjp2::parse("0123456789abcdef0123456789abcdef01234567").is_ok());
        assert!(Gjp2::parse("").is_err());
        assert!(format!("{:?}", Gjp2::parse("secret")).contains("<secret>"));
    }

    #[test]
    fn gd_failures_tell_the_player_what_to_do() {
        let bot = AccountId::new(71).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(gd_error(GdError::Rejected, bot), Error::GdRejected(m) if m.contains("Refresh Login"))
        );
        assert!(matches!(
            gd_error(GdError::Unavailable("HTML".into()), bot),
            Error::GdUnavailable(m) if m.contains("try again")
        ));
        assert!(matches!(
            gd_error(GdError::Network("refused".into()), bot),
            Error::Network(_)
        ));
        for blocked in [GdError::CdnBlocked("1005".into()), GdError::Blacklisted] {
            assert!(matches!(
                gd_error(blocked, bot),
                Error::GdBlocked(m) if m.contains("waiting does not help")
            ));
        }
        assert!(matches!(
            gd_error(GdError::RateLimited("1015".into()), bot),
            Error::GdUnavailable(m) if m.contains("rate-limiting")
        ));
    }
}
