//! What a `-1` to the verification message meant. GD answers `-1` to
//! `uploadGJMessage20.php` for every refusal alike; the player can fix some causes and
//! only the server's operator others, so before reporting, the library asks GD a few
//! questions as the player (protocol.md section 6, "Diagnosis endpoints") and names the
//! cause with what to do about it.
//!
//! The questions, at most three requests:
//! 1. The player's outbox, page 0 (`getGJMessages20.php`, `getSent=1`). A `-1` means GD
//!    refuses the player's gjp2 (a stale saved login): [`Error::GdBadCredentials`]. The
//!    spec names the inbox for this check; the outbox answers `-1` for the same reason
//!    and its footer also gives the count step 4 needs, so one request does both.
//! 2. The player's block list (`getGJUserList20.php`, `type=1`): the bot on it is
//!    [`Error::GdBotBlocked`].
//! 3. The bot's profile as the player sees it (`getGJUserInfo20.php`, key 18 and key
//!    31): "none", or "friends only" without being friends, is
//!    [`Error::GdMessagesRefused`]. This is positive evidence, so it wins over step 4.
//! 4. Otherwise a non-empty outbox is [`Error::GdOutboxFull`]: the causes GD can name
//!    are ruled out, and the sent-message limit is the one left that the player's side
//!    shows. GD does not publish the limit (and private servers set their own), so any
//!    sent message counts as evidence; an empty outbox cannot be full.
//! 5. Otherwise: when the profile said the bot accepts the player's messages, nothing
//!    explains the `-1` and it stays [`Error::GdRejected`]. When the profile could not
//!    be read as one (a `-1`, or text without key 18: a private server without the
//!    endpoint, or GD hiding the profile of an account that blocked the player), what
//!    remains is the bot's side, as the spec says: [`Error::GdMessagesRefused`]. A
//!    profile that says "all" is not read as proof in the other direction either:
//!    GMDprivateServer sends `18:0` for every account but the caller's own
//!    (github.com/Cvolton/GMDprivateServer, `incl/profiles/getGJUserInfo.php`), so the
//!    honest answer there is "unexplained".
//!
//! A question that gets no usable answer (network, CDN, 5xx, an HTML page, a garbled
//! block list), or that would start past the login's deadline or after a cancel, ends
//! the diagnosis with [`Error::GdRejected`]: the original `-1` must not be hidden behind
//! a failure of the diagnosis itself. Each request ends within the per-request timeout
//! and what is left of the deadline.

use crate::client::gd_error;
use crate::error::Error;
use crate::gd::{GdError, MessageSetting};
use crate::gd_client::GdClient;
use crate::protocol::AccountId;
use std::time::{Duration, Instant};

/// How long the diagnosis may take, and whether it should stop early.
pub struct Bounds<'a> {
    /// Longest time one request may take.
    pub timeout: Duration,
    /// No request starts after this, and none runs past it.
    pub until: Option<Instant>,
    /// Checked before each request: true ends the diagnosis (a cancelled login).
    pub stopped: &'a dyn Fn() -> bool,
}

fn never() -> bool {
    false
}

impl Bounds<'static> {
    /// Only the per-request timeout bounds each request; nothing stops it early.
    pub fn per_request(timeout: Duration) -> Self {
        Bounds {
            timeout,
            until: None,
            stopped: &never,
        }
    }
}

impl Bounds<'_> {
    /// The timeout for the next request, or `None` when none may start.
    fn next_timeout(&self) -> Option<Duration> {
        if (self.stopped)() {
            return None;
        }
        match self.until {
            None => Some(self.timeout),
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| self.timeout.min(left))
            }
        }
    }
}

/// The player and the bot the refused message was for.
pub struct Refusal<'a> {
    /// The player's account.
    pub player: AccountId,
    /// The player's gjp2, sent only to GD.
    pub gjp2: &'a str,
    /// The bot account the message went to.
    pub bot: AccountId,
}

/// What the answers showed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Finding {
    BadCredentials,
    BotBlocked,
    /// The bot's setting refuses the player; `None` when inferred, not read.
    MessagesRefused(Option<MessageSetting>),
    OutboxFull {
        sent: u32,
    },
    /// Nothing found, or a question went unanswered.
    Unexplained,
}

/// The error to report for GD's `-1` to the upload of `refusal`'s message, found out
/// by asking `gd` (as the player) within `bounds`; see the module docs.
pub fn explain_rejection(gd: &GdClient, refusal: &Refusal<'_>, bounds: &Bounds<'_>) -> Error {
    report(diagnose(gd, refusal, bounds), refusal.bot)
}

fn diagnose(gd: &GdClient, refusal: &Refusal<'_>, bounds: &Bounds<'_>) -> Finding {
    let (player, gjp2, bot) = (refusal.player.get(), refusal.gjp2, refusal.bot.get());
    // A client for the next request, bounded by what is left; none when out of time.
    let next = || bounds.next_timeout().map(|t| gd.clone().with_timeout(t));
    let Some(gd) = next() else {
        return Finding::Unexplained;
    };
    let sent = match gd.get_messages(player, gjp2, 0, true) {
        Ok(outbox) => outbox.page.total,
        Err(GdError::Rejected) => return Finding::BadCredentials,
        Err(_) => return Finding::Unexplained,
    };
    let Some(gd) = next() else {
        return Finding::Unexplained;
    };
    match gd.blocked_users(player, gjp2) {
        Ok(users) if users.iter().any(|u| u.account_id == bot) => return Finding::BotBlocked,
        Ok(_) => {}
        Err(_) => return Finding::Unexplained,
    }
    let Some(gd) = next() else {
        return Finding::Unexplained;
    };
    let profile = match gd.user_info(player, gjp2, bot) {
        Ok(info) => Some(info),
        // Not an answer about messages: see the module docs, step 5.
        Err(GdError::Rejected | GdError::Malformed(_)) => None,
        Err(_) => return Finding::Unexplained,
    };
    match profile {
        Some(info) if !info.accepts_messages_from_caller() => {
            Finding::MessagesRefused(Some(info.messages))
        }
        _ if sent > 0 => Finding::OutboxFull { sent },
        Some(_) => Finding::Unexplained,
        None => Finding::MessagesRefused(None),
    }
}

fn report(finding: Finding, bot: AccountId) -> Error {
    match finding {
        Finding::BadCredentials => Error::GdBadCredentials(
            "Geometry Dash no longer accepts this account's saved login: log out and back in \
             (Settings > Account), then try again"
                .into(),
        ),
        Finding::BotBlocked => Error::GdBotBlocked(format!(
            "you have blocked account {bot}, the account that receives the verification \
             message: unblock it in the game (Friends > Blocked users, or from its profile), \
             then try again"
        )),
        Finding::MessagesRefused(setting) => {
            let why = match setting {
                Some(MessageSetting::FriendsOnly) => "accepts messages from its friends only",
                Some(_) => "accepts no messages",
                None => "does not accept messages from you",
            };
            Error::GdMessagesRefused(format!(
                "account {bot}, which receives the verification message, {why}; only the \
                 server's operator can fix this (set that account's messages to \"All\" in \
                 the game), so please tell them"
            ))
        }
        Finding::OutboxFull { sent } => Error::GdOutboxFull(format!(
            "your {sent} sent messages are at Geometry Dash's limit: delete some in the game \
             (Messages > Sent), then try again"
        )),
        Finding::Unexplained => gd_error(GdError::Rejected, bot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> AccountId {
        AccountId::new(71).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn each_finding_tells_who_can_fix_it() {
        let message = |f| report(f, bot()).to_string();
        assert!(message(Finding::BadCredentials).contains("log out and back in"));
        let blocked = message(Finding::BotBlocked);
        assert!(
            blocked.contains("unblock") && blocked.contains("71"),
            "{blocked}"
        );
        let refused = message(Finding::MessagesRefused(Some(MessageSetting::FriendsOnly)));
        assert!(
            refused.contains("friends only") && refused.contains("operator"),
            "{refused}"
        );
        let full = message(Finding::OutboxFull { sent: 50 });
        assert!(
            full.contains("50") && full.contains("Messages > Sent"),
            "{full}"
        );
        assert!(matches!(
            report(Finding::Unexplained, bot()),
            Error::GdRejected(_)
        ));
    }

    #[test]
    fn a_passed_deadline_or_a_stop_allows_no_request() {
        let second = Duration::from_secs(1);
        assert_eq!(Bounds::per_request(second).next_timeout(), Some(second));
        let past = Bounds {
            until: Some(Instant::now()),
            ..Bounds::per_request(second)
        };
        assert_eq!(past.next_timeout(), None);
        let soon = Bounds {
            until: Some(Instant::now() + Duration::from_millis(200)),
            ..Bounds::per_request(second)
        };
        assert!(
            soon.next_timeout()
                .is_some_and(|t| t <= Duration::from_millis(200))
        );
        let stopped = Bounds {
            stopped: &|| true,
            ..Bounds::per_request(second)
        };
        assert_eq!(stopped.next_timeout(), None);
    }
}
