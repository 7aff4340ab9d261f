//! The embedded GD emulator (protocol.md section 7): the four message endpoints of
//! section 6 at `/database/*.php`, with accounts and messages in memory, and injected
//! faults and latency for tests of the unhappy paths. The bot reaches it over real HTTP,
//! exactly as it reaches GD, and GD clients (the library, a test player) can use it too.

use super::limits::Limits;
use super::metrics::{GD_ENDPOINTS, Metrics, endpoint_index};
use super::reply::ApiError;
use crate::gd::{self, DELETE_BATCH, PAGE_SIZE, PageInfo, Raw, RawMessage, SECRET, endpoint};
use crate::protocol::AccountId;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Username the emulator gives the bot account.
pub const BOT_USERNAME: &str = "DashAuthBot";
const FIRST_USER_ID: u32 = 100_000;

/// A failure the emulator can answer with instead of doing the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `-1`, as GD answers for bad credentials or a blocked bot.
    Rejected,
    /// HTTP 500.
    ServerError,
    /// The HTML page the GD CDN serves when it refuses a client.
    HtmlPage,
    /// Text in no GD format.
    Garbage,
}

impl Fault {
    const ALL: [Fault; 4] = [
        Fault::Rejected,
        Fault::ServerError,
        Fault::HtmlPage,
        Fault::Garbage,
    ];

    fn response(self) -> Response {
        match self {
            Fault::Rejected => text(StatusCode::OK, "-1"),
            Fault::ServerError => text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            Fault::HtmlPage => text(
                StatusCode::FORBIDDEN,
                "<!DOCTYPE html><html><head><title>Access denied | boomlings.com used Cloudflare \
                 to restrict access</title></head><body>Error 1015: you are being rate limited\
                 </body></html>",
            ),
            Fault::Garbage => text(StatusCode::OK, "1:::~garbage~:|#x:y"),
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Decides which requests fail: a share `rate` of them, kind chosen uniformly. A cheap
/// xorshift generator: the faults need to be varied, not unpredictable.
#[derive(Debug)]
struct Faults {
    rate_bits: AtomicU64,
    state: AtomicU64,
    /// Whether `-1` is among the kinds drawn.
    rejections: std::sync::atomic::AtomicBool,
}

impl Faults {
    fn new(rate: f64) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Faults {
            rate_bits: AtomicU64::new(rate.to_bits()),
            state: AtomicU64::new(seed | 1),
            rejections: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn set_rate(&self, rate: f64) {
        self.rate_bits
            .store(rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    fn next_random(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let previous = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or(1);
        step(previous)
    }

    fn draw(&self) -> Option<Fault> {
        let rate = f64::from_bits(self.rate_bits.load(Ordering::Relaxed));
        if rate <= 0.0 {
            return None;
        }
        let r = self.next_random();
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        // Fault::ALL starts with Rejected: without rejections, draw from the rest.
        let kinds = if self.rejections.load(Ordering::Relaxed) {
            &Fault::ALL[..]
        } else {
            &Fault::ALL[1..]
        };
        (unit < rate).then(|| kinds[(r % kinds.len() as u64) as usize])
    }
}

#[derive(Debug)]
struct Account {
    gjp2: String,
    user_id: u32,
    username: String,
    /// Ids of the messages in each box, oldest first: listings walk them backwards and
    /// the cap drops from the front.
    inbox: VecDeque<u64>,
    outbox: VecDeque<u64>,
}

impl Account {
    fn new(gjp2: &str, user_id: u32, username: String) -> Self {
        Account {
            gjp2: gjp2.to_string(),
            user_id,
            username,
            inbox: VecDeque::new(),
            outbox: VecDeque::new(),
        }
    }

    fn mailbox(&mut self, outbox: bool) -> &mut VecDeque<u64> {
        if outbox {
            &mut self.outbox
        } else {
            &mut self.inbox
        }
    }
}

/// A message as it was uploaded: subject and body are kept in the sender's encoding and
/// served back verbatim, as GD does, so a message that does not decode reaches its
/// reader exactly as it would from GD.
#[derive(Debug)]
struct StoredMessage {
    from: u32,
    to: u32,
    subject: String,
    body: String,
    sent_at: Instant,
    read: bool,
    /// How many boxes (inbox, outbox) still hold it; at zero it is dropped.
    boxes: u8,
}

#[derive(Debug)]
struct World {
    accounts: HashMap<u32, Account>,
    messages: HashMap<u64, StoredMessage>,
    next_message_id: u64,
    limits: Limits,
}

/// The emulator's state and fault settings.
#[derive(Debug)]
pub struct Emulator {
    world: Mutex<World>,
    faults: Faults,
    latency_ms: AtomicU64,
    metrics: Arc<Metrics>,
}

type Form = HashMap<String, String>;

impl Emulator {
    /// An emulator whose only account so far is the bot's.
    pub fn new(
        bot_account_id: u32,
        bot_gjp2: &str,
        fault_rate: f64,
        latency: Duration,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut world = World {
            accounts: HashMap::new(),
            messages: HashMap::new(),
            next_message_id: 1,
            limits,
        };
        world.accounts.insert(
            bot_account_id,
            Account::new(bot_gjp2, FIRST_USER_ID, BOT_USERNAME.to_string()),
        );
        Emulator {
            world: Mutex::new(world),
            faults: Faults::new(fault_rate),
            latency_ms: AtomicU64::new(millis(latency)),
            metrics,
        }
    }

    /// Changes the share of requests that fail, 0.0 ..= 1.0.
    pub fn set_fault_rate(&self, rate: f64) {
        self.faults.set_rate(rate);
    }

    /// Whether injected faults include `-1`, which a client must not retry (GD answers
    /// it to wrong credentials); on by default.
    pub fn set_fault_rejections(&self, on: bool) {
        self.faults.rejections.store(on, Ordering::Relaxed);
    }

    /// Changes the delay added to every request.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(millis(latency), Ordering::Relaxed);
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// The routes, at `/database/{endpoint}.php`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/database/{file}", post(handle))
            .with_state(self)
    }

    fn answer(&self, endpoint: &str, form: &Form) -> String {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(account) = world.authenticate(form) else {
            return "-1".into();
        };
        let result = match endpoint {
            endpoint::UPLOAD_MESSAGE => world.upload(account, form),
            endpoint::GET_MESSAGES => world.list(account, form),
            endpoint::DELETE_MESSAGES => world.delete(account, form),
            endpoint::DOWNLOAD_MESSAGE => world.download(account, form),
            _ => None,
        };
        result.unwrap_or_else(|| "-1".into())
    }
}

async fn handle(
    State(emulator): State<Arc<Emulator>>,
    Path(file): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(index) = endpoint_index(&file) else {
        return ApiError::NotFound("no such route".into()).into_response();
    };
    emulator.metrics.emulator_request(index);
    let latency = emulator.latency();
    if !latency.is_zero() {
        // An async sleep: a slow emulator must not hold a runtime thread.
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = emulator.faults.draw() {
        emulator.metrics.emulator_fault();
        return fault.response();
    }
    let Ok(body) = body else {
        return ApiError::PayloadTooLarge.into_response();
    };
    let form: Form = gd::form_decode(&String::from_utf8_lossy(&body))
        .into_iter()
        .rev() // so that the first occurrence of a repeated field wins
        .collect();
    let answer = emulator.answer(GD_ENDPOINTS[index], &form);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        answer,
    )
        .into_response()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn field<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.get(key).map(String::as_str)
}

fn number<T: std::str::FromStr>(form: &Form, key: &str) -> Option<T> {
    field(form, key)?.trim().parse().ok()
}

fn is_set(form: &Form, key: &str) -> bool {
    field(form, key) == Some("1")
}

/// GD's relative age of a message: `19 seconds`, `1 minute`, `3 hours`, `2 days`.
fn age(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3600 => (s / 60, "minute"),
        3600..86_400 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl World {
    /// The account a request acts as: created on first sight of its `(accountID, gjp2)`
    /// while there is room, refused afterwards with another gjp2. Any
    /// gameVersion/binaryVersion is accepted.
    fn authenticate(&mut self, form: &Form) -> Option<u32> {
        if field(form, "secret") != Some(SECRET) {
            return None;
        }
        let id = field(form, "accountID")?.parse::<AccountId>().ok()?.get();
        let gjp2 = field(form, "gjp2").filter(|g| !g.is_empty())?;
        if !self.accounts.contains_key(&id) {
            // Every new pair makes an account, so their number is what bounds memory.
            if self.accounts.len() >= self.limits.emulator_accounts {
                return None;
            }
            let user_id = FIRST_USER_ID.saturating_add(self.accounts.len() as u32);
            let account = Account::new(gjp2, user_id, format!("Player{id}"));
            self.accounts.insert(id, account);
        }
        let account = self.accounts.get(&id)?;
        (account.gjp2 == gjp2).then_some(id)
    }

    fn upload(&mut self, from: u32, form: &Form) -> Option<String> {
        let to: u32 = number(form, "toAccountID")?;
        self.accounts.get(&to)?;
        // Kept as sent, like GD: never decoded here, only cleared of separators.
        let subject = gd::strip_separators(field(form, "subject")?);
        let body = gd::strip_separators(field(form, "body")?);
        let id = self.next_message_id;
        self.next_message_id += 1;
        self.messages.insert(
            id,
            StoredMessage {
                from,
                to,
                subject,
                body,
                sent_at: Instant::now(),
                read: false,
                boxes: 2,
            },
        );
        self.file(to, false, id);
        self.file(from, true, id);
        Some("1".into())
    }

    /// Puts a message in a box, dropping the box's oldest beyond the cap.
    fn file(&mut self, account: u32, outbox: bool, id: u64) {
        let cap = self.limits.emulator_messages_per_account;
        let Some(mailbox) = self.accounts.get_mut(&account).map(|a| a.mailbox(outbox)) else {
            return;
        };
        mailbox.push_back(id);
        let excess = mailbox.len().saturating_sub(cap);
        let dropped: Vec<u64> = mailbox.drain(..excess).collect();
        for id in dropped {
            self.release(id);
        }
    }

    /// One box let go of a message; the last one drops it.
    fn release(&mut self, id: u64) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        m.boxes = m.boxes.saturating_sub(1);
        if m.boxes == 0 {
            self.messages.remove(&id);
        }
    }

    /// The ids in one box, newest first.
    fn mailbox(&self, account: u32, outbox: bool) -> impl Iterator<Item = u64> + '_ {
        self.accounts
            .get(&account)
            .map(|a| if outbox { &a.outbox } else { &a.inbox })
            .into_iter()
            .flat_map(|ids| ids.iter().rev().copied())
    }

    fn list(&self, account: u32, form: &Form) -> Option<String> {
        let page: usize = number(form, "page").unwrap_or(0);
        let outbox = is_set(form, "getSent");
        let total = self.mailbox(account, outbox).count();
        let offset = page.checked_mul(PAGE_SIZE)?;
        let messages: Vec<RawMessage> = self
            .mailbox(account, outbox)
            .skip(offset)
            .take(PAGE_SIZE)
            .filter_map(|id| self.describe(id, outbox, false))
            .collect();
        let info = PageInfo {
            total: u32::try_from(total).unwrap_or(u32::MAX),
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            page_size: PAGE_SIZE as u32,
        };
        Some(gd::format_message_page(&messages, info))
    }

    fn describe(&self, id: u64, outbox: bool, with_body: bool) -> Option<RawMessage> {
        let m = self.messages.get(&id)?;
        let other = if outbox { m.to } else { m.from };
        let (user_id, username) = self
            .accounts
            .get(&other)
            .map_or((0, String::new()), |a| (a.user_id, a.username.clone()));
        Some(RawMessage {
            id,
            account_id: other,
            user_id,
            subject: Raw(m.subject.clone()),
            body: with_body.then(|| Raw(m.body.clone())),
            username,
            age: age(m.sent_at.elapsed()),
            read: m.read,
            sent: outbox,
        })
    }

    fn delete(&mut self, account: u32, form: &Form) -> Option<String> {
        let ids = field(form, "messages").or_else(|| field(form, "messageID"))?;
        let ids: Vec<u64> = ids
            .split(',')
            .map(|id| id.trim().parse().ok())
            .collect::<Option<_>>()?;
        // Some GD servers refuse more; refusing here keeps clients honest.
        if ids.is_empty() || ids.len() > DELETE_BATCH {
            return None;
        }
        let outbox = is_set(form, "isSender");
        for id in ids {
            let mailbox = self.accounts.get_mut(&account)?.mailbox(outbox);
            // Only ids in the caller's own box: another account's messages are not its to delete.
            if let Some(at) = mailbox.iter().position(|m| *m == id) {
                mailbox.remove(at);
                self.release(id);
            }
        }
        Some("1".into())
    }

    fn download(&mut self, account: u32, form: &Form) -> Option<String> {
        let id: u64 = number(form, "messageID")?;
        let outbox = is_set(form, "isSender");
        if !self.mailbox(account, outbox).any(|m| m == id) {
            return None;
        }
        if !outbox {
            self.messages.get_mut(&id)?.read = true;
        }
        Some(gd::format_message(&self.describe(id, outbox, true)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_gd() {
        assert_eq!(age(Duration::from_secs(1)), "1 second");
        assert_eq!(age(Duration::from_secs(19)), "19 seconds");
        assert_eq!(age(Duration::from_secs(120)), "2 minutes");
        assert_eq!(age(Duration::from_secs(3 * 86_400)), "3 days");
    }

    #[test]
    fn fault_rate_is_roughly_honoured() {
        let faults = Faults::new(0.3);
        let n = (0..10_000).filter(|_| faults.draw().is_some()).count();
        assert!((2_500..3_500).contains(&n), "{n}");
        faults.set_rate(0.0);
        assert!((0..1000).all(|_| faults.draw().is_none()));
    }
}
