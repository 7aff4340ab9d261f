//! Accounts and messages (protocol.md section 7): the four message endpoints over an
//! in-memory world, answering as GD does.

use super::Form;
use crate::gd::{self, MessageSetting, PAGE_SIZE, PageInfo, Raw, RawMessage, SECRET};
use crate::protocol::AccountId;
use crate::server::limits::Limits;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Username the emulator gives the bot account.
pub const BOT_USERNAME: &str = "DashAuthBot";
pub(super) const FIRST_USER_ID: u32 = 100_000;

#[derive(Debug)]
pub(super) struct Account {
    gjp2: String,
    pub(super) user_id: u32,
    pub(super) username: String,
    /// Ids of the messages in each box, oldest first: listings walk them backwards and
    /// the cap drops from the front.
    inbox: VecDeque<u64>,
    outbox: VecDeque<u64>,
    /// Who may message it (`mS` of `updateGJAccSettings20.php`).
    pub(super) messages_from: MessageSetting,
    /// Accounts it blocked (`blockGJUser20.php`).
    pub(super) blocked: HashSet<u32>,
}

impl Account {
    pub(super) fn new(gjp2: &str, user_id: u32, username: String) -> Self {
        Account {
            gjp2: gjp2.to_string(),
            user_id,
            username,
            inbox: VecDeque::new(),
            outbox: VecDeque::new(),
            messages_from: MessageSetting::All,
            blocked: HashSet::new(),
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
pub(super) struct World {
    pub(super) accounts: HashMap<u32, Account>,
    messages: HashMap<u64, StoredMessage>,
    next_message_id: u64,
    limits: Limits,
    /// Most messages an account's outbox may hold before uploads answer `-1` (GD's
    /// sent-message limit); `None` = no limit.
    outbox_limit: Option<usize>,
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn field<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.get(key).map(String::as_str)
}

pub(super) fn number<T: std::str::FromStr>(form: &Form, key: &str) -> Option<T> {
    field(form, key)?.trim().parse().ok()
}

pub(super) fn is_set(form: &Form, key: &str) -> bool {
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
    /// A world whose only accounts so far are the bots'.
    pub(super) fn new(bots: &[(u32, &str)], limits: Limits, outbox_limit: Option<usize>) -> Self {
        let mut world = World {
            accounts: HashMap::new(),
            messages: HashMap::new(),
            next_message_id: 1,
            limits,
            outbox_limit,
        };
        for (n, (id, gjp2)) in bots.iter().enumerate() {
            let username = match n {
                0 => BOT_USERNAME.to_string(),
                n => format!("{BOT_USERNAME}{}", n + 1),
            };
            let user_id = FIRST_USER_ID.saturating_add(n as u32);
            world
                .accounts
                .insert(*id, Account::new(gjp2, user_id, username));
        }
        world
    }

    /// The account a request acts as: created on first sight of its `(accountID, gjp2)`
    /// while there is room, refused afterwards with another gjp2. Any
    /// gameVersion/binaryVersion is accepted.
    pub(super) fn authenticate(&mut self, form: &Form) -> Option<u32> {
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

    pub(super) fn upload(&mut self, from: u32, form: &Form) -> Option<String> {
        let to: u32 = number(form, "toAccountID")?;
        if !self.may_message(from, to) {
            return None;
        }
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

    /// Whether GD lets `from` send `to` a message: `to` exists and accepts messages from
    /// everyone (the emulator has no friends, so "friends only" refuses all), neither
    /// blocked the other, and `from` is under the sent-message limit. GD answers `-1` to
    /// each of these without saying which.
    fn may_message(&self, from: u32, to: u32) -> bool {
        let (Some(sender), Some(recipient)) = (self.accounts.get(&from), self.accounts.get(&to))
        else {
            return false;
        };
        let open = recipient.messages_from == MessageSetting::All;
        let blocked = recipient.blocked.contains(&from) || sender.blocked.contains(&to);
        let under_limit = self
            .outbox_limit
            .is_none_or(|limit| sender.outbox.len() < limit);
        open && !blocked && under_limit
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

    pub(super) fn list(&self, account: u32, form: &Form) -> Option<String> {
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

    pub(super) fn delete(&mut self, account: u32, form: &Form) -> Option<String> {
        let ids = field(form, "messages").or_else(|| field(form, "messageID"))?;
        // Real GD takes any number of ids and always answers `1`, deleted or not
        // (docs.gdprogra.me, deleteGJMessages20; github.com/Wyliemaster/gddocs
        // `docs/endpoints/socials/deleteGJMessages20.md`). Ids that are not numbers are
        // skipped the same way.
        let ids: Vec<u64> = ids
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect();
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

    pub(super) fn download(&mut self, account: u32, form: &Form) -> Option<String> {
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
}
