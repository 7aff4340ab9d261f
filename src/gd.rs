//! The Geometry Dash codec: message encodings, form bodies and response parsing for the
//! four message endpoints (protocol.md section 6), and the user objects (block list,
//! profile) the client's diagnosis of a `-1` reads.
//!
//! Shared by the client (which sends the verification message), the server's bot (which
//! reads its inbox) and the emulator (which answers both), so all three speak exactly the
//! same format.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use std::fmt;

mod users;
pub use users::{
    GdUser, MessageSetting, UserInfo, UserList, format_user, parse_user_info, parse_user_list,
    user_info_form, user_list_form,
};

/// The public GD servers' database URL.
pub const DEFAULT_GD_URL: &str = "https://www.boomlings.com/database";
/// The `secret` every GD request carries.
pub const SECRET: &str = "Wmfd2893gb7";
/// `gameVersion` sent by client-side requests (GD 2.2).
pub const GAME_VERSION: &str = "22";
/// `binaryVersion` sent by client-side requests.
pub const BINARY_VERSION: &str = "45";
/// Key for the XOR cipher of message bodies.
pub const BODY_XOR_KEY: &[u8] = b"14251";
/// GD's own UI limit on subject length, in characters.
pub const MAX_SUBJECT_CHARS: usize = 35;
/// GD's own UI limit on body length, in characters.
pub const MAX_BODY_CHARS: usize = 200;
/// Messages per page of `getGJMessages20.php`.
pub const PAGE_SIZE: usize = 50;
/// Ids per `deleteGJMessages20.php` request that GMDprivateServer honours: it deletes the
/// first 10 of a longer list and still answers `1`
/// (github.com/Cvolton/GMDprivateServer, `incl/messages/deleteGJMessages.php`). Real GD
/// takes a whole page and more in one request (protocol.md section 6).
pub const GDPS_DELETE_BATCH: usize = 10;

/// The endpoints, relative to the database URL.
pub mod endpoint {
    /// Send a private message.
    pub const UPLOAD_MESSAGE: &str = "uploadGJMessage20.php";
    /// List inbox or outbox.
    pub const GET_MESSAGES: &str = "getGJMessages20.php";
    /// Delete one or more messages.
    pub const DELETE_MESSAGES: &str = "deleteGJMessages20.php";
    /// Read one message with its body.
    pub const DOWNLOAD_MESSAGE: &str = "downloadGJMessage20.php";
    /// Change the account's settings, among them who may message it (`mS`).
    pub const UPDATE_ACCOUNT_SETTINGS: &str = "updateGJAccSettings20.php";
    /// Put an account on the caller's block list.
    pub const BLOCK_USER: &str = "blockGJUser20.php";
    /// Take an account off the caller's block list.
    pub const UNBLOCK_USER: &str = "unblockGJUser20.php";
    /// The caller's friend list (`type=0`) or block list (`type=1`).
    pub const GET_USER_LIST: &str = "getGJUserList20.php";
    /// One account's profile, among it who may message the account (key 18).
    pub const GET_USER_INFO: &str = "getGJUserInfo20.php";
}

/// Why a GD answer is not usable. The kinds call for different reactions: a CDN block
/// or RobTop's blacklist does not go away by waiting, a rate limit does, `-1` depends on
/// the request (protocol.md section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GdError {
    /// `-1`: wrong credentials, messages disabled, recipient blocked us.
    Rejected,
    /// The GD CDN bans the caller's network or IP or a firewall rule matches it
    /// (`error code: 1005`, `1006`, `1020`): waiting does not help, another host does.
    CdnBlocked(String),
    /// The GD CDN rate-limits the caller (`error code: 1015`, HTTP 429): waiting helps.
    RateLimited(String),
    /// RobTop's servers answered `no`: the caller's IP is on their blacklist, which
    /// waiting does not lift.
    Blacklisted,
    /// An HTML page instead of GD's text: the CDN refused the request for a reason it did
    /// not name in a known code.
    HtmlPage(String),
    /// GD failed: HTTP 5xx.
    Unavailable(String),
    /// Text that is not in GD's format.
    Malformed(String),
    /// The request did not get an answer: connect, DNS, TLS, timeout.
    Network(String),
}

impl GdError {
    /// Every kind, as [`GdError::kind`] names them: metric labels and log fields.
    pub const KINDS: [&'static str; 8] = [
        "rejected",
        "cdn_blocked",
        "rate_limited",
        "blacklisted",
        "html_page",
        "unavailable",
        "malformed",
        "network",
    ];

    /// A short name of the kind, for logs, metrics and `/status`.
    pub fn kind(&self) -> &'static str {
        match self {
            GdError::Rejected => "rejected",
            GdError::CdnBlocked(_) => "cdn_blocked",
            GdError::RateLimited(_) => "rate_limited",
            GdError::Blacklisted => "blacklisted",
            GdError::HtmlPage(_) => "html_page",
            GdError::Unavailable(_) => "unavailable",
            GdError::Malformed(_) => "malformed",
            GdError::Network(_) => "network",
        }
    }

    /// Whether the host running the request is shut out, so that retrying from it is
    /// pointless until an operator acts (another network, a support ticket).
    pub fn is_host_blocked(&self) -> bool {
        matches!(self, GdError::CdnBlocked(_) | GdError::Blacklisted)
    }
}

impl fmt::Display for GdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GdError::Rejected => f.write_str("GD answered -1"),
            GdError::CdnBlocked(m) => write!(f, "the GD CDN blocks this host: {m}"),
            GdError::RateLimited(m) => write!(f, "the GD CDN rate-limits this host: {m}"),
            GdError::Blacklisted => f.write_str("GD answered \"no\": this IP is blacklisted"),
            GdError::HtmlPage(m) => write!(f, "the GD CDN answered an HTML page: {m}"),
            GdError::Unavailable(m) => write!(f, "GD unavailable: {m}"),
            GdError::Malformed(m) => write!(f, "malformed GD response: {m}"),
            GdError::Network(m) => write!(f, "could not reach GD: {m}"),
        }
    }
}

impl std::error::Error for GdError {}

/// Encodes a subject: UTF-8, URL-safe base64 with padding.
pub fn encode_subject(plain: &str) -> String {
    URL_SAFE.encode(plain.as_bytes())
}

/// Decodes a subject; accepts both base64 alphabets, with or without padding. Clients
/// built on cocos2d's `ZipUtils` can leave NUL bytes after the base64 text (the buffer
/// is longer than the text): the subject ends at the first NUL, as other GD
/// implementations read it (protocol.md section 6).
pub fn decode_subject(encoded: &str) -> Result<String, GdError> {
    let text = encoded.split('\0').next().unwrap_or_default();
    let bytes = decode_base64_lenient(text)?;
    String::from_utf8(bytes).map_err(|_| GdError::Malformed("subject is not UTF-8".into()))
}

/// Encodes a body: UTF-8 XORed with [`BODY_XOR_KEY`], then URL-safe base64 with padding.
pub fn encode_body(plain: &str) -> String {
    URL_SAFE.encode(xor_cycle(plain.as_bytes()))
}

/// Decodes a body; accepts both base64 alphabets, with or without padding.
pub fn decode_body(encoded: &str) -> Result<String, GdError> {
    let bytes = xor_cycle(&decode_base64_lenient(encoded)?);
    String::from_utf8(bytes).map_err(|_| GdError::Malformed("body is not UTF-8".into()))
}

fn xor_cycle(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .zip(BODY_XOR_KEY.iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect()
}

fn decode_base64_lenient(encoded: &str) -> Result<Vec<u8>, GdError> {
    let normalised: String = encoded
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD
        .decode(normalised)
        .map_err(|e| GdError::Malformed(format!("bad base64: {e}")))
}

/// Builds an `application/x-www-form-urlencoded` body.
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k);
        out.push('=');
        percent_encode_into(&mut out, v);
    }
    out
}

fn percent_encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body. Malformed escapes are kept
/// literally, as browsers do; invalid UTF-8 is replaced.
pub fn form_decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex_pair(bytes[i + 1], bytes[i + 2]).is_some() => {
                out.extend(hex_pair(bytes[i + 1], bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let h = (hi as char).to_digit(16)?;
    let l = (lo as char).to_digit(16)?;
    Some((h * 16 + l) as u8)
}

/// Form fields of `uploadGJMessage20.php`, as the game sends them.
pub fn upload_message_form(
    account_id: u32,
    gjp2: &str,
    to_account_id: u32,
    subject: &str,
    body: &str,
) -> String {
    form_encode(&[
        ("accountID", &account_id.to_string()),
        ("gjp2", gjp2),
        ("toAccountID", &to_account_id.to_string()),
        ("subject", &encode_subject(subject)),
        ("body", &encode_body(body)),
        ("secret", SECRET),
        ("gameVersion", GAME_VERSION),
        ("binaryVersion", BINARY_VERSION),
    ])
}

/// Who sends a GD request: protocol.md section 6 has the game's own requests (the
/// player's, sent by the client library) carry `gameVersion` and `binaryVersion`, as the
/// game does, while the server's bot sends only what the endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The client library, on the player's behalf: looks like the game.
    Player,
    /// The server's bot account.
    Bot,
}

impl Caller {
    /// The version fields this caller adds to every form.
    fn version_fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Caller::Player => &[
                ("gameVersion", GAME_VERSION),
                ("binaryVersion", BINARY_VERSION),
            ],
            Caller::Bot => &[],
        }
    }
}

/// Encodes `fields` followed by `caller`'s version fields.
fn caller_form(caller: Caller, fields: &[(&str, String)]) -> String {
    let mut borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    borrowed.extend_from_slice(caller.version_fields());
    form_encode(&borrowed)
}

/// Form fields of `getGJMessages20.php`; `sent` lists the outbox.
pub fn get_messages_form(
    caller: Caller,
    account_id: u32,
    gjp2: &str,
    page: u32,
    sent: bool,
) -> String {
    let mut fields = vec![
        ("accountID", account_id.to_string()),
        ("gjp2", gjp2.to_string()),
        ("secret", SECRET.to_string()),
        ("page", page.to_string()),
    ];
    if sent {
        fields.push(("getSent", "1".to_string()));
    }
    caller_form(caller, &fields)
}

/// Form fields of `deleteGJMessages20.php` for `message_ids` in one request (real GD takes
/// hundreds; see [`GDPS_DELETE_BATCH`] for servers that do not); `sender` deletes from
/// the outbox.
pub fn delete_messages_form(
    caller: Caller,
    account_id: u32,
    gjp2: &str,
    message_ids: &[u64],
    sender: bool,
) -> String {
    let ids = message_ids
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut fields = vec![
        ("accountID", account_id.to_string()),
        ("gjp2", gjp2.to_string()),
        ("secret", SECRET.to_string()),
        ("messages", ids),
    ];
    if sender {
        fields.push(("isSender", "1".to_string()));
    }
    caller_form(caller, &fields)
}

/// Classifies a raw GD answer: the trimmed text when it is usable, otherwise why not.
/// `-2` ("nothing") is returned as text: its meaning depends on the endpoint.
///
/// The CDN (Cloudflare) answers `error code: N` in plain text to clients that send no
/// browser headers, as the GD client does: 1005 (the network's provider is banned), 1006
/// (the IP is banned), 1020 (a firewall rule) and 1015 (rate limited); RobTop's own
/// servers answer `no` to a blacklisted IP (both recorded by RealistikGDPS,
/// github.com/RealistikGDPS/Ognisko pull 82, `rgdps/services/boomlings.py`).
pub fn check_response(http_status: u16, body: &str) -> Result<&str, GdError> {
    let text = body.trim();
    if let Some(code) = cloudflare_code(text) {
        return Err(classify_cdn_code(code, http_status));
    }
    if text.starts_with('<') {
        return Err(GdError::HtmlPage(format!("HTTP {http_status}")));
    }
    if text == "no" {
        return Err(GdError::Blacklisted);
    }
    if http_status == 429 {
        return Err(GdError::RateLimited(format!("HTTP {http_status}")));
    }
    if http_status >= 500 {
        return Err(GdError::Unavailable(format!(
            "GD answered HTTP {http_status}"
        )));
    }
    if http_status != 200 {
        return Err(GdError::Malformed(format!("unexpected HTTP {http_status}")));
    }
    if text == "-1" {
        return Err(GdError::Rejected);
    }
    Ok(text)
}

/// Cloudflare error codes that shut a host out: waiting does not lift them.
const CDN_BLOCK_CODES: [u16; 3] = [1005, 1006, 1020];
/// Cloudflare's rate-limit code.
const CDN_RATE_LIMIT_CODE: u16 = 1015;

fn classify_cdn_code(code: u16, http_status: u16) -> GdError {
    let detail = format!("error code {code} (HTTP {http_status})");
    if CDN_BLOCK_CODES.contains(&code) {
        GdError::CdnBlocked(detail)
    } else if code == CDN_RATE_LIMIT_CODE {
        GdError::RateLimited(detail)
    } else {
        GdError::HtmlPage(detail)
    }
}

/// The Cloudflare error code of a CDN answer: the plain `error code: 1005`, or the
/// `Error 1015` / `error code: 1015` an HTML error page carries.
fn cloudflare_code(text: &str) -> Option<u16> {
    let lower = text.get(..text.len().min(4096))?.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("error code:") {
        return leading_number(rest);
    }
    if !lower.starts_with('<') {
        return None;
    }
    ["error code: ", "error code ", "error "]
        .iter()
        .flat_map(|marker| lower.match_indices(marker).map(|(i, m)| i + m.len()))
        .filter_map(|at| leading_number(&lower[at..]))
        .find(|code| (1000..1100).contains(code))
}

fn leading_number(text: &str) -> Option<u16> {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One message of a `getGJMessages20.php` listing (or `downloadGJMessage20.php`), with
/// its subject and body as `T`: decoded text in a [`Message`], the text as uploaded in a
/// [`RawMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GdMessage<T> {
    /// Key 1.
    pub id: u64,
    /// Key 2: the other account (the sender, in an inbox).
    pub account_id: u32,
    /// Key 3: the other player's user id.
    pub user_id: u32,
    /// Key 4.
    pub subject: T,
    /// Key 5; only present in `downloadGJMessage20.php` answers.
    pub body: Option<T>,
    /// Key 6.
    pub username: String,
    /// Key 7, e.g. `19 seconds`.
    pub age: String,
    /// Key 8.
    pub read: bool,
    /// Key 9: this account sent it.
    pub sent: bool,
}

/// A message as a client reads it: subject and body decoded.
pub type Message = GdMessage<String>;

/// Subject or body text as GD stores and serves it: what the sender uploaded (base64 when
/// the sender followed the format), never decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Raw(pub String);

/// A message as GD serves it (the emulator's side).
pub type RawMessage = GdMessage<Raw>;

/// The `#total:offset:page_size` footer of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageInfo {
    /// Messages in the whole box.
    pub total: u32,
    /// Index of this page's first message.
    pub offset: u32,
    /// Messages per page.
    pub page_size: u32,
}

impl PageInfo {
    /// Whether a page follows this one.
    pub fn has_more(&self) -> bool {
        self.page_size > 0 && self.offset.saturating_add(self.page_size) < self.total
    }
}

/// A parsed `getGJMessages20.php` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessagePage {
    /// The messages, newest first.
    pub messages: Vec<Message>,
    /// Ids of listed messages that could not be parsed (a subject that is not base64 or
    /// not UTF-8, a bad number): anyone can send such a message, so one of them must not
    /// make the rest of the page unreadable. Entries without a readable id are skipped.
    pub unparsed_ids: Vec<u64>,
    /// The footer; all zero for an empty box.
    pub page: PageInfo,
}

/// Parses a `getGJMessages20.php` answer (already through [`check_response`]); `-2` is an
/// empty box. Messages are parsed one by one (see [`MessagePage::unparsed_ids`]); only a
/// listing without a valid footer is malformed as a whole.
pub fn parse_message_page(text: &str) -> Result<MessagePage, GdError> {
    let text = text.trim();
    if text == "-2" {
        return Ok(MessagePage::default());
    }
    let (list, footer) = text
        .rsplit_once('#')
        .ok_or_else(|| GdError::Malformed("listing without a #total:offset:size footer".into()))?;
    let mut page = MessagePage {
        page: parse_footer(footer)?,
        ..MessagePage::default()
    };
    for entry in list.split('|').filter(|m| !m.is_empty()) {
        match parse_message(entry) {
            Ok(message) => page.messages.push(message),
            Err(_) => page.unparsed_ids.extend(message_id(entry)),
        }
    }
    Ok(page)
}

/// The id (key 1) of a message object that may be malformed otherwise.
fn message_id(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    parts
        .chunks_exact(2)
        .find(|kv| kv[0] == "1")
        .and_then(|kv| kv[1].parse().ok())
}

fn parse_footer(footer: &str) -> Result<PageInfo, GdError> {
    let bad = || GdError::Malformed(format!("bad page footer {footer:?}"));
    let mut parts = footer.split(':').map(|p| p.trim().parse::<u32>());
    let mut next = || parts.next().and_then(|r| r.ok()).ok_or_else(bad);
    Ok(PageInfo {
        total: next()?,
        offset: next()?,
        page_size: next()?,
    })
}

/// Parses one `key:value:key:value…` message object.
pub fn parse_message(text: &str) -> Result<Message, GdError> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if !parts.len().is_multiple_of(2) {
        return Err(GdError::Malformed("odd number of key/value parts".into()));
    }
    let mut m = Message::default();
    let mut has_id = false;
    let mut seen = std::collections::HashSet::new();
    for kv in parts.chunks_exact(2) {
        let (key, value) = (kv[0], kv[1]);
        // GD never repeats a key; a repeat means some text smuggled one in, and the
        // later value (a sender id, say) must not override the real one.
        if !seen.insert(key) {
            return Err(GdError::Malformed(format!("key {key} appears twice")));
        }
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| GdError::Malformed(format!("key {key}: {v:?} is not a number")))
        };
        match key {
            "1" => {
                m.id = num(value)?;
                has_id = true;
            }
            "2" => m.account_id = to_u32(num(value)?)?,
            "3" => m.user_id = to_u32(num(value)?)?,
            "4" => m.subject = decode_subject(value)?,
            "5" => m.body = Some(decode_body(value)?),
            "6" => m.username = value.to_string(),
            "7" => m.age = value.to_string(),
            "8" => m.read = value == "1",
            "9" => m.sent = value == "1",
            _ => {} // GD adds keys over time; unknown ones are not an error.
        }
    }
    if !has_id {
        return Err(GdError::Malformed("message without an id (key 1)".into()));
    }
    Ok(m)
}

fn to_u32(v: u64) -> Result<u32, GdError> {
    u32::try_from(v).map_err(|_| GdError::Malformed(format!("{v} is out of range")))
}

impl Message {
    /// The message as it goes over the wire, subject and body encoded.
    pub fn to_raw(&self) -> RawMessage {
        RawMessage {
            id: self.id,
            account_id: self.account_id,
            user_id: self.user_id,
            subject: Raw(encode_subject(&self.subject)),
            body: self.body.as_deref().map(|b| Raw(encode_body(b))),
            username: self.username.clone(),
            age: self.age.clone(),
            read: self.read,
            sent: self.sent,
        }
    }
}

/// Removes the characters that separate keys, messages and the footer, as GD does with
/// what it is sent, so that stored text can never add keys to a listing.
pub fn strip_separators(text: &str) -> String {
    text.chars().filter(|c| !":|#~".contains(*c)).collect()
}

/// Formats one message object as GD does (the emulator's side of [`parse_message`]).
pub fn format_message(m: &RawMessage) -> String {
    let mut out = format!(
        "6:{}:3:{}:2:{}:1:{}:4:{}:8:{}:9:{}:7:{}",
        m.username,
        m.user_id,
        m.account_id,
        m.id,
        m.subject.0,
        u8::from(m.read),
        u8::from(m.sent),
        m.age
    );
    if let Some(Raw(body)) = &m.body {
        out.push_str(":5:");
        out.push_str(body);
    }
    out
}

/// Formats a listing page as GD does (the emulator's side of [`parse_message_page`]);
/// an empty page is `-2`.
pub fn format_message_page(messages: &[RawMessage], page: PageInfo) -> String {
    if messages.is_empty() {
        return "-2".to_string();
    }
    let list: Vec<String> = messages.iter().map(format_message).collect();
    format!(
        "{}#{}:{}:{}",
        list.join("|"),
        page.total,
        page.offset,
        page.page_size
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_round_trips_reserved_characters() {
        let body = form_encode(&[("subject", "a b&c=d/é"), ("x", "")]);
        assert_eq!(body, "subject=a+b%26c%3Dd%2F%C3%A9&x=");
        assert_eq!(
            form_decode(&body),
            vec![
                ("subject".to_string(), "a b&c=d/é".to_string()),
                ("x".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn player_message_forms_carry_the_game_version_and_bot_ones_do_not() {
        assert_eq!(
            get_messages_form(Caller::Player, 42, "g", 0, true),
            "accountID=42&gjp2=g&secret=Wmfd2893gb7&page=0&getSent=1&gameVersion=22&binaryVersion=45"
        );
        assert_eq!(
            get_messages_form(Caller::Bot, 7, "b", 2, false),
            "accountID=7&gjp2=b&secret=Wmfd2893gb7&page=2"
        );
        assert_eq!(
            delete_messages_form(Caller::Player, 42, "g", &[5, 6], true),
            "accountID=42&gjp2=g&secret=Wmfd2893gb7&messages=5%2C6&isSender=1&gameVersion=22&binaryVersion=45"
        );
        assert_eq!(
            delete_messages_form(Caller::Bot, 7, "b", &[9], false),
            "accountID=7&gjp2=b&secret=Wmfd2893gb7&messages=9"
        );
        let upload = form_decode(&upload_message_form(42, "g", 7, "s", "b"));
        assert!(upload.contains(&("gameVersion".into(), GAME_VERSION.into())));
        assert!(upload.contains(&("binaryVersion".into(), BINARY_VERSION.into())));
    }

    #[test]
    fn malformed_percent_escape_is_kept_literally() {
        assert_eq!(form_decode("a=%zz%4"), vec![("a".into(), "%zz%4".into())]);
    }

    #[test]
    fn cdn_answers_are_told_apart() {
        let kind = |status, body| check_response(status, body).map_err(|e| e.kind());
        assert_eq!(kind(403, "error code: 1005"), Err("cdn_blocked"));
        assert_eq!(kind(403, "error code: 1006\n"), Err("cdn_blocked"));
        assert_eq!(kind(403, "error code: 1020"), Err("cdn_blocked"));
        assert_eq!(kind(429, "error code: 1015"), Err("rate_limited"));
        assert_eq!(kind(429, ""), Err("rate_limited"));
        assert_eq!(kind(200, "no"), Err("blacklisted"));
        assert_eq!(
            kind(403, "<!DOCTYPE html><title>Error 1015</title>"),
            Err("rate_limited"),
            "an HTML page naming its code"
        );
        assert_eq!(
            kind(403, "<html><span>Error 1006</span> Access denied</html>"),
            Err("cdn_blocked")
        );
        assert_eq!(
            kind(200, "<!DOCTYPE html><title>rate limited</title>"),
            Err("html_page")
        );
        assert_eq!(kind(503, "1"), Err("unavailable"));
        assert_eq!(check_response(200, " -1\n"), Err(GdError::Rejected));
        assert_eq!(check_response(200, "1"), Ok("1"));
        assert!(GdError::CdnBlocked(String::new()).is_host_blocked());
        assert!(GdError::Blacklisted.is_host_blocked());
        assert!(!GdError::RateLimited(String::new()).is_host_blocked());
        assert!(GdError::KINDS.contains(&GdError::Blacklisted.kind()));
    }

    #[test]
    fn subjects_end_at_the_first_nul() {
        assert_eq!(decode_subject("YXV0aC1hYmM=\0\0\0"), Ok("auth-abc".into()));
        assert_eq!(
            decode_subject("YXV0aC1hYmM \0garbage"),
            Ok("auth-abc".into())
        );
        let page = parse_message_page("1:5:2:42:4:YXV0aC1hYmM=\0\0:7:1 second#1:0:50");
        assert_eq!(
            page.map(|p| p.messages[0].subject.clone()),
            Ok("auth-abc".into())
        );
    }

    #[test]
    fn garbage_listing_is_malformed() {
        assert!(parse_message_page("hello world").is_err());
        assert!(parse_message_page("1:5:4:YQ#1:0").is_err());
        assert!(parse_message_page("1:5:4:YQ#x:y").is_err());
        assert_eq!(parse_message_page("-2"), Ok(MessagePage::default()));
    }

    #[test]
    fn one_bad_message_leaves_the_rest_of_the_page_readable() {
        let good = "6:P:3:9:2:42:1:8:4:YXV0aC1hYmM=:8:0:9:0:7:1 second";
        let text = format!("1:5:2:42:4:!!!|{good}|1:6:4:_w|1:x:4:YQ|2:3#4:0:50");
        let page = parse_message_page(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.messages[0].subject, "auth-abc");
        assert_eq!(
            page.unparsed_ids,
            vec![5, 6],
            "entries without an id are skipped"
        );
    }

    #[test]
    fn repeated_keys_are_malformed() {
        assert!(parse_message("1:5:2:42:4:YQ:2:7").is_err());
        assert_eq!(strip_separators("a:2:7|b#c~d"), "a27bcd");
    }

    #[test]
    fn formatted_page_parses_back() {
        let message = Message {
            id: 7,
            account_id: 42,
            user_id: 9,
            subject: "auth-abc".into(),
            body: None,
            username: "Player".into(),
            age: "1 second".into(),
            read: false,
            sent: false,
        };
        let info = PageInfo {
            total: 1,
            offset: 0,
            page_size: 50,
        };
        let text = format_message_page(&[message.to_raw()], info);
        let page = MessagePage {
            messages: vec![message],
            unparsed_ids: Vec::new(),
            page: info,
        };
        assert_eq!(parse_message_page(&text), Ok(page));
    }
}
